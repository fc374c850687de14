//! A fault-injecting HTTP/1.1 proxy on loopback, placed between a hub and its
//! partner (the sender's partner URL points at the proxy). It works on bytes,
//! not through an HTTP library, so that it can cut a message anywhere.
//!
//! Each request it receives is either passed on untouched or given one fault:
//! dropped, answered-then-lost, delayed, duplicated (both copies at once),
//! held back and delivered after a later request (reordered), or truncated in
//! one of three ways. Faults come in a shuffled cycle, so every kind occurs
//! once enough requests have gone through.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection is closed without the request going anywhere.
    Drop,
    /// The request is delivered, the answer is thrown away and the
    /// connection closed: the receiver holds the bundle, the sender does not know.
    AnswerLost,
    /// The request waits before it is passed on (well under the transport's
    /// timeouts, so it is only slow).
    Delay,
    /// The request is delivered twice at once; the sender gets the first answer.
    Duplicate,
    /// The request is held back (the sender is told 503) and delivered after
    /// the next request that carries a different body: an older bundle arriving
    /// after a newer one.
    Reorder,
    /// The body is cut in the middle of the stream: the receiver sees the
    /// connection close before the announced length.
    TruncateRequest,
    /// The answer is cut in the middle of the stream, after the receiver
    /// stored the bundle.
    TruncateResponse,
    /// The body is cut short and its length header rewritten to match: a
    /// well-formed request carrying half a bundle, which must be refused.
    ShortBody,
}

pub const FAULTS: [Fault; 8] = [
    Fault::Drop,
    Fault::AnswerLost,
    Fault::Delay,
    Fault::Duplicate,
    Fault::Reorder,
    Fault::TruncateRequest,
    Fault::TruncateResponse,
    Fault::ShortBody,
];

/// What the proxy did, for the test to print and check.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub passed: u64,
    /// Per fault kind, in the order of [`FAULTS`].
    pub faults: [u64; FAULTS.len()],
    /// Duplicated requests whose two answers were both 200 and byte-identical
    /// (the receiver answered the copy with the receipt it gave the original).
    pub duplicate_same_receipt: u64,
    /// Held requests delivered after a later one, and answered 200.
    pub reordered_delivered: u64,
    /// Short bodies the receiver refused with 400.
    pub short_body_refused: u64,
    /// Anything the receiver did that it should not have; the test asserts
    /// this stays empty.
    pub violations: Vec<String>,
}

impl Stats {
    pub fn count(&self, fault: Fault) -> u64 {
        self.faults[FAULTS.iter().position(|f| *f == fault).unwrap()]
    }
    pub fn total_faults(&self) -> u64 {
        self.faults.iter().sum()
    }
}

struct State {
    upstream: SocketAddr,
    fault_rate: f64,
    rng: ChaCha8Rng,
    cycle: Vec<Fault>,
    stats: Stats,
    /// A request held back by [`Fault::Reorder`].
    held: Option<Message>,
}

impl State {
    fn choose(&mut self) -> Option<Fault> {
        self.stats.requests += 1;
        if !self.rng.gen_bool(self.fault_rate) {
            self.stats.passed += 1;
            return None;
        }
        if self.cycle.is_empty() {
            self.cycle = FAULTS.to_vec();
            self.cycle.shuffle(&mut self.rng);
        }
        let mut fault = self.cycle.pop().unwrap();
        if fault == Fault::Reorder && self.held.is_some() {
            // One held request at a time.
            fault = Fault::Duplicate;
        }
        let i = FAULTS.iter().position(|f| *f == fault).unwrap();
        self.stats.faults[i] += 1;
        Some(fault)
    }
}

pub struct Proxy {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

/// One HTTP/1.1 message as bytes: the head (through the blank line) and a body
/// of the length the head announces.
#[derive(Clone)]
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn bytes(&self) -> Vec<u8> {
        let mut out = self.head.clone();
        out.extend_from_slice(&self.body);
        out
    }

    fn status(&self) -> u16 {
        // "HTTP/1.1 200 OK"
        std::str::from_utf8(&self.head)
            .ok()
            .and_then(|h| h.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The same message with its body cut to `len` and the head saying so.
    fn shortened(&self, len: usize) -> Message {
        let head = String::from_utf8_lossy(&self.head);
        let mut out = String::new();
        for line in head.split_inclusive("\r\n") {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                out.push_str(&format!("content-length: {len}\r\n"));
            } else {
                out.push_str(line);
            }
        }
        Message {
            head: out.into_bytes(),
            body: self.body[..len].to_vec(),
        }
    }
}

/// Reads one message from `stream` (bytes left over from the previous one in
/// `buf`). `Ok(None)` when the peer closed; `Err` for a message this proxy
/// cannot handle, which the test reports.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<Message>, String> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 {
            return Err("a message head over 64 KiB".into());
        }
        let mut chunk = [0; 16 << 10];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = buf[..head_end].to_vec();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if text.contains("transfer-encoding") {
        return Err(format!(
            "the proxy handles only messages with a content-length:\n{text}"
        ));
    }
    let length = match text.lines().find_map(|l| l.strip_prefix("content-length:")) {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("content-length: {e}"))?,
        None => 0,
    };
    while buf.len() < head_end + length {
        let mut chunk = [0; 64 << 10];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Ok(Some(Message { head, body }))
}

/// Sends `request` to `upstream` on a fresh connection and reads the answer.
async fn forward(state: &Mutex<State>, request: &Message) -> Option<Message> {
    let upstream = state.lock().unwrap().upstream;
    let mut stream = TcpStream::connect(upstream).await.ok()?;
    stream.write_all(&request.bytes()).await.ok()?;
    let mut buf = Vec::new();
    match read_message(&mut stream, &mut buf).await {
        Ok(answer) => answer,
        Err(e) => {
            state
                .lock()
                .unwrap()
                .stats
                .violations
                .push(format!("answer: {e}"));
            None
        }
    }
}

const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

impl Proxy {
    /// Listens on `listener` and forwards to `upstream`, faulting about
    /// `fault_rate` of the requests; `seed` makes the choices repeatable.
    pub fn start(listener: TcpListener, upstream: SocketAddr, fault_rate: f64, seed: u64) -> Proxy {
        let state = Arc::new(Mutex::new(State {
            upstream,
            fault_rate,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cycle: Vec::new(),
            stats: Stats::default(),
            held: None,
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(connection(stream, shared.clone()));
            }
        });
        Proxy { state, task }
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    /// Delivers a request still held back (the exchange may have ended
    /// before a later request came), then stops listening.
    pub async fn finish(self) -> Stats {
        let held = self.state.lock().unwrap().held.take();
        if let Some(held) = held {
            deliver_held(&self.state, held).await;
        }
        self.task.abort();
        self.stats()
    }
}

async fn deliver_held(state: &Mutex<State>, held: Message) {
    let answer = forward(state, &held).await;
    let mut s = state.lock().unwrap();
    match answer.as_ref().map(Message::status) {
        Some(200) => s.stats.reordered_delivered += 1,
        other => s.stats.violations.push(format!(
            "a bundle delivered after a later one was answered {other:?}, not 200 with its original receipt"
        )),
    }
}

async fn connection(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        let request = match read_message(&mut client, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                state
                    .lock()
                    .unwrap()
                    .stats
                    .violations
                    .push(format!("request: {e}"));
                return;
            }
        };
        let (fault, upstream, delay) = {
            let mut s = state.lock().unwrap();
            let fault = s.choose();
            if fault == Some(Fault::Reorder) {
                s.held = Some(request.clone());
            }
            let delay = Duration::from_millis(s.rng.gen_range(100..1500));
            (fault, s.upstream, delay)
        };
        match fault {
            None | Some(Fault::Delay) => {
                if fault.is_some() {
                    tokio::time::sleep(delay).await;
                }
                let Some(answer) = forward(&state, &request).await else {
                    return;
                };
                if client.write_all(&answer.bytes()).await.is_err() {
                    return;
                }
                // A later request went through: deliver the one held back, if
                // its body differs (it is then an older bundle).
                let held = {
                    let mut s = state.lock().unwrap();
                    match &s.held {
                        Some(h) if h.body != request.body => s.held.take(),
                        _ => None,
                    }
                };
                if let Some(held) = held {
                    deliver_held(&state, held).await;
                }
            }
            Some(Fault::Drop) => return,
            Some(Fault::AnswerLost) => {
                let _ = forward(&state, &request).await;
                return;
            }
            Some(Fault::Duplicate) => {
                let (a, b) = tokio::join!(forward(&state, &request), forward(&state, &request));
                if let (Some(a), Some(b)) = (&a, &b)
                    && a.status() == 200
                    && b.status() == 200
                {
                    let mut s = state.lock().unwrap();
                    if a.body == b.body {
                        s.stats.duplicate_same_receipt += 1;
                    } else {
                        s.stats.violations.push(
                            "two copies of one bundle were answered with different receipts".into(),
                        );
                    }
                }
                let Some(answer) = a.or(b) else { return };
                if client.write_all(&answer.bytes()).await.is_err() {
                    return;
                }
            }
            Some(Fault::Reorder) => {
                let _ = client.write_all(UNAVAILABLE).await;
                return;
            }
            Some(Fault::TruncateRequest) => {
                if let Ok(mut up) = TcpStream::connect(upstream).await {
                    let mut cut = request.head.clone();
                    cut.extend_from_slice(&request.body[..request.body.len() / 2]);
                    let _ = up.write_all(&cut).await;
                    let _ = up.shutdown().await;
                    // Let the receiver see the short body before the close.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return;
            }
            Some(Fault::TruncateResponse) => {
                let Some(answer) = forward(&state, &request).await else {
                    return;
                };
                let mut cut = answer.head.clone();
                cut.extend_from_slice(&answer.body[..answer.body.len() / 2]);
                let _ = client.write_all(&cut).await;
                let _ = client.shutdown().await;
                return;
            }
            Some(Fault::ShortBody) => {
                let short = request.shortened(request.body.len() / 2);
                let Some(answer) = forward(&state, &short).await else {
                    return;
                };
                {
                    let mut s = state.lock().unwrap();
                    if answer.status() == 400 {
                        s.stats.short_body_refused += 1;
                    } else {
                        s.stats.violations.push(format!(
                            "half a bundle was answered HTTP {}, not 400",
                            answer.status()
                        ));
                    }
                }
                if client.write_all(&answer.bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}
