//! Rebuilding the matching index after the matcher changed, next to its two
//! baselines measured in the same run: the matcher plugin keying the same
//! records (its cost alone), and raw sled inserts of as many keys.
//!
//!     cargo bench --bench reindex
//!     ENTREX_BENCH_TRIPS=400000 cargo bench --bench reindex
//!
//! One hub's store is filled through the real ingest pipeline (the
//! generator's Canadian entries, every plugin, durable batches); then the
//! index is told the matcher changed twice (generations 2 and 3, as after
//! an upgrade and a second one before the first was done), and
//! `reindex::step` runs to the end as the hub's background worker does:
//! keys computed by the WASM matcher, written per batch with the progress,
//! then the two old generations removed.

use std::time::Instant;

use entrex::demo::{DEMO_DAY_START, prepare_pair};
use entrex::generator::{self, Noise};
use entrex::hub::Core;

fn main() {
    let trips: usize = std::env::var("ENTREX_BENCH_TRIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = runtime.block_on(async {
        let mut prepared = prepare_pair(dir.path()).await.unwrap();
        prepared.swap_remove(0).0
    });
    let core = Core::open(settings).unwrap();
    let data = generator::generate(&generator::Config {
        seed: 7,
        trips,
        day_start: DEMO_DAY_START,
        noise: Noise::Moderate,
        malformed_per_mille: 5,
        batch_records: 5_000,
    });
    let started = Instant::now();
    for batch in &data.history.ca {
        entrex::ingest::ingest(&core, batch).unwrap();
    }
    let ingest_s = started.elapsed().as_secs_f64();
    let store = &core.store;
    let entries = store.entries_after(0, usize::MAX).unwrap();
    let n = entries.len();

    // Baseline: the matcher alone, on the same records, in the same batches.
    let records: Vec<_> = entries.iter().map(|(_, c)| c.project()).collect();
    let matcher = core.plugins().matcher.clone();
    let started = Instant::now();
    let mut keys = 0usize;
    for chunk in records.chunks(2_000) {
        keys += matcher
            .block_keys(chunk)
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum::<usize>();
    }
    let keying_s = started.elapsed().as_secs_f64();

    // Baseline: raw sled inserts of as many keys of the same shape.
    let raw_dir = tempfile::tempdir().unwrap();
    let db = sled::open(raw_dir.path()).unwrap();
    let started = Instant::now();
    for i in 0..keys as u64 {
        let mut k = format!("B19740812ERI/A{}", i % 10_000).into_bytes();
        k.push(0);
        k.extend_from_slice(&i.to_be_bytes());
        db.insert(k, &[]).unwrap();
    }
    db.flush().unwrap();
    let sled_s = started.elapsed().as_secs_f64();

    // The rebuild, as the hub's worker runs it.
    let identity = matcher.identity().to_owned();
    store.adopt_matcher("an earlier matcher").unwrap();
    store.adopt_matcher(&identity).unwrap();
    let started = Instant::now();
    let mut steps = 0;
    while store
        .index_state()
        .unwrap()
        .is_some_and(|s| s.rebuilt_upto.is_some())
    {
        entrex::reindex::step(&core).unwrap();
        steps += 1;
    }
    let rebuild_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    while entrex::reindex::step(&core).unwrap() {}
    let clear_s = started.elapsed().as_secs_f64();
    store.flush().unwrap();
    let state = store.index_state().unwrap().unwrap();
    assert_eq!((state.serving, state.retired), (vec![3], vec![]));

    println!(
        "entrex reindex benchmark ({n} stored entries from {trips} trips, {keys} keys, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("{:<62}{:>12}{:>10}", "measure", "per second", "seconds");
    let row = |what: &str, count: usize, s: f64| {
        println!("{what:<62}{:>12.0}{s:>10.2}", count as f64 / s);
    };
    row("ingest (for scale): source records stored", n, ingest_s);
    row("baseline: matcher plugin keying the entries", n, keying_s);
    row("baseline: raw sled inserts of as many keys", keys, sled_s);
    row(
        "rebuild: entries keyed and indexed (generation 3)",
        n,
        rebuild_s,
    );
    row(
        "removal of the old generations: keys removed",
        keys,
        clear_s,
    );
    println!("({steps} steps; matching waits while the rebuild runs)");
}
