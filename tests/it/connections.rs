//! Connections without a credential must not starve a hub (issue 10, #6):
//! idle connections (raw TCP that never starts TLS, TLS that never sends a
//! request or stops halfway through its request line), clients that never
//! read their answers, and bodies that never arrive. All clients share
//! 127.0.0.1, as an attacker behind one address would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entrex::hub::Hub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::start_pair;

const CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// One shared entry into Canada, under `id`.
fn one_shared_record(id: &str) -> Vec<u8> {
    format!(
        "{CSV_HEADER}\n{id},Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20\n"
    )
    .into_bytes()
}

/// A TLS client configuration for `hub`: its certificate pinned, and
/// `identity` presented if given.
fn tls_config(hub: &Hub, identity: Option<&entrex::tls::Identity>) -> Arc<rustls::ClientConfig> {
    let tls = hub.core.tls.as_ref().expect("the pair serves TLS");
    entrex::tls::client_config(tls.identity.certificate().clone(), identity, "hub").unwrap()
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(hub: &Hub, config: Arc<rustls::ClientConfig>) -> Option<TlsStream> {
    entrex::tls::connect("127.0.0.1", hub.addr.port(), config, Duration::from_secs(5))
        .await
        .ok()
}

/// Idle connections held against one hub; dropped with it.
#[derive(Default)]
struct Idle {
    tls: Vec<TlsStream>,
    raw: Vec<TcpStream>,
}

/// `silent` TLS connections that send nothing after the handshake, `half`
/// that send half a request line, then `raw` TCP connections that never
/// start TLS. Handshakes run 50 at a time; one the hub does not complete
/// within 5 s is held as it is (raw).
async fn hold_idle(hub: &Hub, silent: usize, half: usize, raw: usize) -> Idle {
    let config = tls_config(hub, None);
    let mut idle = Idle::default();
    let mut index = 0;
    while index < silent + half {
        let chunk = (silent + half - index).min(50);
        let handshakes = (0..chunk).map(|_| tls_connect(hub, config.clone()));
        for stream in futures_util::future::join_all(handshakes).await {
            match stream {
                Some(mut stream) => {
                    if index >= silent {
                        let _ = stream.write_all(b"POST /v1/cross").await;
                        let _ = stream.flush().await;
                    }
                    idle.tls.push(stream);
                }
                None => {
                    if let Ok(tcp) = TcpStream::connect(hub.addr).await {
                        idle.raw.push(tcp);
                    }
                }
            }
            index += 1;
        }
    }
    for _ in 0..raw {
        idle.raw.push(TcpStream::connect(hub.addr).await.unwrap());
    }
    idle
}

/// 300 idle connections against each hub of a pair (100 raw TCP, 100 TLS
/// silent, 100 TLS with half a request line): a source batch is still
/// answered, and a bundle still delivered to the partner, in 10 s each.
/// Before the fix the hub had 256 slots, held each idle connection for 30 s,
/// and its accept loop waited for a slot: the batch got no answer in 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starvation_300_idle_connections_do_not_stop_a_source_batch_or_a_partner_delivery() {
    let pair = start_pair().await;
    // The stream works before the attack.
    pair.ca_client
        .post_crossings("text/csv", one_shared_record("BEFORE-1"))
        .await
        .unwrap();
    pair.settle().await;

    let started = Instant::now();
    let ca_idle = hold_idle(&pair.ca, 100, 100, 100).await;
    let us_idle = hold_idle(&pair.us, 100, 100, 100).await;
    println!(
        "held in {:?}: CA {} TLS + {} raw, US {} TLS + {} raw",
        started.elapsed(),
        ca_idle.tls.len(),
        ca_idle.raw.len(),
        us_idle.tls.len(),
        us_idle.raw.len()
    );
    // Let the hubs accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let limit = Duration::from_secs(10);
    let started = Instant::now();
    let report = tokio::time::timeout(
        limit,
        pair.ca_client
            .post_crossings("text/csv", one_shared_record("DURING-1")),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("a source batch got no answer within {limit:?} while 300 idle connections were held")
    })
    .unwrap();
    let answered = started.elapsed();
    assert_eq!(report.shared, 1, "{report:?}");
    println!("source batch answered in {answered:?}");

    // CA delivers it to US, which holds 300 idle connections too; CA's
    // status shows US's receipt.
    let delivered = loop {
        let status = tokio::time::timeout(limit, pair.ca_client.status())
            .await
            .expect("CA's status answered")
            .unwrap();
        let us = &status.partners[0];
        if us.sent_upto >= 2 && us.backlog == 0 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "the bundle was not acknowledged within {limit:?} while 300 idle connections were held: {us:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("bundle acknowledged by the partner {delivered:?} after the batch was posted");
    assert_eq!(pair.us.core.store.inbox_last("CA").unwrap(), 2);

    drop((ca_idle, us_idle));
    pair.shutdown().await;
}

/// A client that pipelines requests and never reads the answers: once the
/// hub cannot write to it, the connection is closed within the write
/// timeout instead of holding its slot. Before the fix it was held until the
/// client read (no write timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starvation_a_client_that_never_reads_its_answers_is_disconnected() {
    let pair = start_pair().await;
    let mut stream = tls_connect(&pair.us, tls_config(&pair.us, None))
        .await
        .expect("TLS handshake");
    // Anonymous requests: each answered with a 401 the client never reads.
    let request = b"GET /healthz HTTP/1.1\r\nhost: hub\r\n\r\n".repeat(256);
    let mut sent = 0usize;
    let stalled = loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&request)).await {
            Ok(Ok(())) => sent += 256,
            Ok(Err(e)) => panic!("the hub closed the connection before it stalled: {e}"),
            Err(_) => break Instant::now(),
        }
        assert!(sent < 10_000_000, "the hub never stopped reading");
    };
    println!("{sent} requests pipelined before the hub stopped reading");
    // Longer than the hub may wait for a write, shorter than a connection
    // may otherwise stay open.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut sink = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the hub still held the connection {:?} after it stopped being able to write to it",
        stalled.elapsed()
    );
    pair.shutdown().await;
}

/// A credentialed client that sends its headers and part of its body, then
/// nothing: answered (408) or disconnected by the body deadline. Before the
/// fix the request waited for its body for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starvation_a_body_that_never_arrives_is_not_waited_for() {
    let pair = start_pair().await;
    let identity = pair.ca.core.tls.as_ref().unwrap().identity.clone();
    let mut stream = tls_connect(&pair.ca, tls_config(&pair.ca, Some(&identity)))
        .await
        .expect("TLS handshake");
    let body = one_shared_record("SLOW-1");
    stream
        .write_all(
            format!(
                "POST /v1/crossings HTTP/1.1\r\nhost: hub\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    stream.flush().await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the hub still waited for the body after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    println!("after {:?}: {answer}", started.elapsed());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // Nothing of the partial body was stored.
    assert_eq!(pair.ca.core.store.inbox_last("US").unwrap(), 0);
    let status = pair.ca_client.status().await.unwrap();
    assert_eq!(status.accepted, 0, "{status:?}");
    pair.shutdown().await;
}
