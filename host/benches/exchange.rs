//! End-to-end exchange throughput next to its two baselines, measured in the
//! same run on the same machine: raw sled inserts and raw Ed25519 signing.
//!
//!     cargo bench --bench exchange
//!     ENTREX_BENCH_TRIPS=400000 cargo bench --bench exchange
//!
//! The exchange figure counts every source record from the first POST until
//! both hubs have delivered, received (verified, stored, acknowledged) and
//! matched everything: normalise, eligibility, projection, durable store,
//! sealing, signing, delivery through the transport plugin, verification,
//! matching.

use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use entrex::demo::{DEMO_DAY_START, post_all, prepare_pair, settle};
use entrex::generator::{self, Noise};
use entrex::hub::Hub;
use entrex::record::{PartialDate, Sex, SharedRecord};

fn sample_record(i: u64) -> SharedRecord {
    SharedRecord {
        given_names: "ANNA".into(),
        family_name: format!("ERIKSSON{i}"),
        middle_names: "MARIA".into(),
        date_of_birth: PartialDate {
            year: 1974,
            month: Some(8),
            day: Some(12),
        },
        nationality: "SWE".into(),
        sex: Sex::F,
        document_type: "P".into(),
        document_number: format!("L{i:08}"),
        document_country: "SWE".into(),
        entered_at: DEMO_DAY_START + i as i64,
        port_code: "0427".into(),
    }
}

/// Single inserts of CBOR records about the size of a stored crossing, one flush at the end.
fn raw_sled(n: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_cbor::to_vec(&sample_record(i)).unwrap())
        .collect();
    let start = Instant::now();
    for (i, v) in values.iter().enumerate() {
        db.insert((i as u64).to_be_bytes(), v.as_slice()).unwrap();
    }
    db.flush().unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

/// The same inserts made durable the way the hub acknowledges a source batch:
/// after every `batch` inserts, sled's flush and an `fsync` of its log file.
fn raw_sled_durable(n: u64, batch: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let log = std::fs::File::open(dir.path().join("db")).unwrap();
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_cbor::to_vec(&sample_record(i)).unwrap())
        .collect();
    let start = Instant::now();
    for (i, v) in values.iter().enumerate() {
        db.insert((i as u64).to_be_bytes(), v.as_slice()).unwrap();
        if (i as u64 + 1).is_multiple_of(batch) {
            db.flush().unwrap();
            log.sync_all().unwrap();
        }
    }
    db.flush().unwrap();
    log.sync_all().unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

/// How long one empty durable commit takes (flush + fsync): the floor under
/// every acknowledgement.
fn fsync_latency_ms(rounds: u32) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let log = std::fs::File::open(dir.path().join("db")).unwrap();
    let start = Instant::now();
    for i in 0..rounds {
        db.insert(i.to_be_bytes(), &[1u8; 16]).unwrap();
        db.flush().unwrap();
        log.sync_all().unwrap();
    }
    start.elapsed().as_secs_f64() * 1000.0 / rounds as f64
}

/// Ed25519 signatures over messages the size of one shared record.
fn raw_signing(n: u64) -> f64 {
    let key = SigningKey::from_bytes(&[5; 32]);
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_cbor::to_vec(&sample_record(i)).unwrap())
        .collect();
    let start = Instant::now();
    let mut last = None;
    for m in &messages {
        last = Some(key.sign(m));
    }
    std::hint::black_box(last);
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let trips: usize = std::env::var("ENTREX_BENCH_TRIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let sled_per_s = raw_sled(200_000);
    let sled_durable_per_s = raw_sled_durable(200_000, 5_000);
    let commit_ms = fsync_latency_ms(200);
    let sign_per_s = raw_signing(50_000);

    let data = generator::generate(&generator::Config {
        seed: 7,
        trips,
        day_start: DEMO_DAY_START,
        noise: Noise::Moderate,
        malformed_per_mille: 5,
        batch_records: 5_000,
    });
    let (records, exchanged, seconds, bundles) = runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut hubs = Vec::new();
        for (settings, listener, _) in prepare_pair(dir.path()).await.unwrap() {
            hubs.push(Hub::start(settings, listener).await.unwrap());
        }
        let ca = hubs[0].client();
        let us = hubs[1].client();
        let start = Instant::now();
        let mut records = 0;
        for (ca_batches, us_batches) in [
            (&data.history.ca, &data.history.us),
            (&data.day.ca, &data.day.us),
        ] {
            let (a, b) = tokio::join!(
                post_all(&ca, "text/csv", ca_batches),
                post_all(&us, "application/json", us_batches)
            );
            records += a.unwrap().received + b.unwrap().received;
        }
        settle(&[&ca, &us]).await.unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let (mut exchanged, mut bundles) = (0, 0);
        for hub in &hubs {
            let status = entrex::report::status(&hub.core).unwrap();
            exchanged += status.partners[0].sent_upto;
            bundles += status.partners[0].bundles_sent;
        }
        for hub in hubs {
            hub.shutdown().await;
        }
        (records, exchanged, seconds, bundles)
    });

    println!(
        "entrex exchange benchmark ({trips} trips, 2 hubs in one process, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("{:<58}{:>14}", "measure", "per second");
    println!(
        "{:<58}{:>14.0}",
        "baseline: raw sled inserts (one flush at the end)", sled_per_s
    );
    println!(
        "{:<58}{:>14.0}",
        "baseline: raw sled inserts, flush + fsync every 5,000", sled_durable_per_s
    );
    println!(
        "{:<58}{:>14.0}",
        "baseline: raw Ed25519 signatures", sign_per_s
    );
    println!(
        "{:<58}{:>14.0}",
        "end to end: source records ingested, exchanged, matched",
        records as f64 / seconds
    );
    println!(
        "{:<58}{:>14.0}",
        "end to end: shared records delivered (both directions)",
        exchanged as f64 / seconds
    );
    println!(
        "({records} source records, {exchanged} records exchanged in {bundles} signed bundles, {seconds:.2} s;"
    );
    println!(
        " every batch, bundle and receipt acknowledged only after flush + fsync; one empty durable commit takes {commit_ms:.2} ms here)"
    );
}
