//! How many connections the server holds, whose, and for how long.
//!
//! A connection costs a task, a socket and up to hyper's read buffer, so
//! their number is capped; but a cap alone lets anyone who can open
//! sockets, credential or not, fill it with connections that do nothing.
//! So a connection with no request in progress (in its TLS handshake,
//! waiting for its request's head, idle between keep-alive requests) holds
//! its slot only until someone needs it: a new connection over the cap
//! takes the slot of the connection that has gone longest without a
//! request, first among its own address's connections. Only requests in
//! progress are never cut short, and each of their phases has a deadline:
//! the head ([`REQUEST_HEAD_TIMEOUT`]), the body ([`body_deadline`]), each
//! write of the answer ([`WRITE_TIMEOUT`]). The accept loop never waits:
//! when every slot is busy with a request in progress, the new connection
//! is closed at once (the client retries) instead of being held unserved.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Connections held at once. What bounds memory: each may hold hyper's read
/// buffer (up to ~400 KiB while a head arrives) besides its task and TLS
/// state, so 256 stay under ~100 MiB on a modest appliance, and 256
/// requests in progress are far more than two cores serve at a time.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections one client address may hold. Past it, a new connection from
/// that address takes the slot of that address's own longest-idle
/// connection, so a single address flooding the hub evicts itself rather
/// than other clients' keep-alive connections. Partners, source systems and
/// operators each need a handful; a NAT in front of a port's systems may
/// need more, hence a quarter of the whole.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = MAX_CONNECTIONS / 4;

/// From accepting a connection to the end of its TLS handshake. A handshake
/// is two round trips and one signature; 5 s leaves room for a slow link
/// and bounds how long a connection that never starts one is kept (when
/// nobody needs its slot sooner).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// From being ready for a request (after the handshake, or after the
/// previous answer: hyper starts this timer for keep-alive connections too)
/// to that request's complete head. Clients send their head at once; this
/// bounds a head sent a byte at a time and an idle keep-alive connection.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write of an answer may make no progress. A client that does
/// not read its answers (pipelining requests and never reading, or gone
/// without a FIN) otherwise holds its connection, busy, for ever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A body may take this long whatever its size...
const BODY_GRACE: Duration = Duration::from_secs(10);
/// ...plus one second per this many bytes: 1 Mbit/s, slower than any link a
/// port of entry or a partner hub should use, so a 32 MiB batch may take
/// about 4.5 minutes but a body that trickles or stops is not waited for.
const BODY_MIN_BYTES_PER_SECOND: u64 = 128 * 1024;

/// How long a request's body of `bytes` may take to arrive. Bodies are read
/// only after the caller is authenticated (`api::admit`), so this bounds
/// what a credential holder's slow or stalled upload can hold.
pub fn body_deadline(bytes: u64) -> Duration {
    BODY_GRACE + Duration::from_secs(bytes.div_ceil(BODY_MIN_BYTES_PER_SECOND))
}

/// Why the server closed a connection before its client did, for
/// `entrex_http_connections_closed_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Its slot was given to a new connection.
    Evicted,
    /// Every slot was busy with a request in progress.
    Refused,
    /// The TLS handshake did not finish in [`HANDSHAKE_TIMEOUT`].
    HandshakeTimeout,
}

impl Closed {
    pub fn label(self) -> &'static str {
        match self {
            Closed::Evicted => "evicted",
            Closed::Refused => "refused",
            Closed::HandshakeTimeout => "handshake_timeout",
        }
    }
}

/// The connections being served.
pub struct Connections {
    started: Instant,
    slots: Mutex<Vec<Arc<Slot>>>,
}

/// One connection's state, shared by its task and [`Connections`].
pub struct Slot {
    client: IpAddr,
    /// Requests dispatched whose answers hyper has not finished taking.
    busy: AtomicUsize,
    /// Since when (ms after `Connections::started`) no request has been in
    /// progress; the longest idle is evicted first.
    idle_since_ms: AtomicU64,
    evicted: Notify,
}

impl Slot {
    /// Whether a request is in progress: the connection must not be cut.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Resolves when the slot has been given to another connection.
    pub async fn evicted(&self) {
        self.evicted.notified().await
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            started: Instant::now(),
            slots: Mutex::new(Vec::with_capacity(MAX_CONNECTIONS)),
        }
    }
}

impl Connections {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A slot for a new connection from `client`, taken from the longest
    /// idle connection (its own address's first) when the caps are reached;
    /// `None` when every candidate has a request in progress. Never waits.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> (Option<Admitted>, Option<Closed>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let own = slots.iter().filter(|s| s.client == client).count();
        let victim = if own >= MAX_CONNECTIONS_PER_CLIENT {
            Some(longest_idle(&slots, |s| s.client == client))
        } else if slots.len() >= MAX_CONNECTIONS {
            Some(longest_idle(&slots, |_| true))
        } else {
            None
        };
        let evicted = match victim {
            None => None,
            Some(None) => return (None, Some(Closed::Refused)),
            Some(Some(i)) => {
                let slot = slots.swap_remove(i);
                // Stored as a permit: the connection sees it even if it is
                // not waiting yet.
                slot.evicted.notify_one();
                Some(Closed::Evicted)
            }
        };
        let slot = Arc::new(Slot {
            client,
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evicted: Notify::new(),
        });
        slots.push(slot.clone());
        (
            Some(Admitted {
                table: self.clone(),
                slot,
            }),
            evicted,
        )
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The index of the connection idle the longest among those `eligible`.
fn longest_idle(slots: &[Arc<Slot>], eligible: impl Fn(&Slot) -> bool) -> Option<usize> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| eligible(s) && !s.busy())
        .min_by_key(|(_, s)| s.idle_since_ms.load(Ordering::Acquire))
        .map(|(i, _)| i)
}

/// A connection's hold on its slot, released when the connection ends.
pub struct Admitted {
    table: Arc<Connections>,
    slot: Arc<Slot>,
}

impl Admitted {
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Marks a request in progress until the guard (carried by its answer's
    /// body) is dropped.
    pub fn busy(&self) -> Busy {
        Busy::new(self.table.clone(), self.slot.clone())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut slots = self.table.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = slots.iter().position(|s| Arc::ptr_eq(s, &self.slot)) {
            slots.swap_remove(i);
        }
    }
}

/// A request in progress on a connection.
pub struct Busy {
    table: Arc<Connections>,
    slot: Arc<Slot>,
}

impl Busy {
    fn new(table: Arc<Connections>, slot: Arc<Slot>) -> Busy {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Busy { table, slot }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.slot.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.slot
                .idle_since_ms
                .store(self.table.now_ms(), Ordering::Release);
        }
    }
}

/// An answer's body that keeps its request marked in progress until hyper
/// has taken all of it (and drops it).
pub struct Tracked<B> {
    pub body: B,
    pub _busy: Busy,
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A stream whose writes fail with `TimedOut` once one has made no progress
/// for [`WRITE_TIMEOUT`]. Reads are left to hyper's head timeout and the
/// body deadline, which know whether a request is in progress. (The crate
/// `tokio-io-timeout` does the same; this is the part of it needed.)
pub struct WriteTimeout<S> {
    inner: S,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl<S> WriteTimeout<S> {
    pub fn new(inner: S) -> WriteTimeout<S> {
        WriteTimeout {
            inner,
            timer: Box::pin(tokio::time::sleep(WRITE_TIMEOUT)),
            armed: false,
        }
    }

    fn poll_write_op<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Ready(result) => {
                self.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.armed {
                    self.timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + WRITE_TIMEOUT);
                    self.armed = true;
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client read nothing for {WRITE_TIMEOUT:?}"),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_op(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_op(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_op(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_op(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn over_the_cap_the_longest_idle_connection_gives_up_its_slot_and_a_busy_one_never_does() {
        let table = Arc::new(Connections::default());
        let mut held = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let client = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, (i / 250) as u8, i as u8));
            let (admitted, closed) = table.admit(client);
            assert_eq!(closed, None);
            held.push(admitted.unwrap());
        }
        // The oldest has a request in progress; the second oldest is evicted.
        let busy = held[0].busy();
        let (admitted, closed) = table.admit(A);
        assert_eq!(closed, Some(Closed::Evicted));
        assert_eq!(table.len(), MAX_CONNECTIONS);
        let evicted = held[1].slot().clone();
        assert!(
            futures_util::FutureExt::now_or_never(evicted.evicted()).is_some(),
            "the evicted connection is told"
        );
        assert!(futures_util::FutureExt::now_or_never(held[0].slot().evicted()).is_none());
        drop(admitted);
        // Everyone busy: the newcomer is refused, nobody waits.
        let mut all_busy: Vec<Busy> = held.iter().map(Admitted::busy).collect();
        while table.len() < MAX_CONNECTIONS {
            let (admitted, _) = table.admit(B);
            let admitted = admitted.unwrap();
            all_busy.push(admitted.busy());
            held.push(admitted);
        }
        let (admitted, closed) = table.admit(B);
        assert!(admitted.is_none());
        assert_eq!(closed, Some(Closed::Refused));
        drop((busy, all_busy));
    }

    #[test]
    fn one_address_over_its_own_cap_evicts_its_own_connections_only() {
        let table = Arc::new(Connections::default());
        let other = table.admit(B).0.unwrap();
        let mut own = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_CLIENT {
            own.push(table.admit(A).0.unwrap());
        }
        let (admitted, closed) = table.admit(A);
        assert!(admitted.is_some());
        assert_eq!(closed, Some(Closed::Evicted));
        assert!(futures_util::FutureExt::now_or_never(own[0].slot().evicted()).is_some());
        assert!(futures_util::FutureExt::now_or_never(other.slot().evicted()).is_none());
    }

    #[test]
    fn a_body_may_take_longer_the_larger_it_is() {
        assert_eq!(body_deadline(0), BODY_GRACE);
        assert_eq!(
            body_deadline(32 * 1024 * 1024),
            BODY_GRACE + Duration::from_secs(256)
        );
    }
}
