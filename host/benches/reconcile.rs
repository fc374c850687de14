//! Accuracy and speed of batch reconciliation (`entrex reconcile`) on the
//! generator's data under heavy noise, with the ground truth:
//!
//!     cargo bench --bench reconcile                     # 100k trips
//!     ENTREX_BENCH_1M=1 cargo bench --bench reconcile   # 1M entries x 1M exits
//!     ENTREX_BENCH_TRIPS=250000 cargo bench --bench reconcile
//!     ENTREX_BENCH_CSV_DIR=/tmp/r cargo bench --bench reconcile   # keeps the CSV files
//!
//! Prints precision, recall and F1 of the auto-links overall, for trips
//! without noise and per kind of noise, and where the time goes. The
//! baseline, measured in the same run on the same records, is the same
//! matcher's rules compiled natively and driven through the same index and
//! assignment: the difference is what running the rules as a WebAssembly
//! plugin costs.

use std::time::Instant;

use biographic_matcher as bm;
use entrex::generator::{self, Noise, NoiseKind};
use entrex::plugins::PluginError;
use entrex::reconcile::{self, Accuracy, Counts, Generated, Rules, Settings};
use entrex::record::SharedRecord;
use entrex::training::native_record;

/// The matcher's rules called natively (no WebAssembly, no copying).
struct Native;

impl Rules for Native {
    fn block_keys(&self, records: &[SharedRecord]) -> Result<Vec<Vec<String>>, PluginError> {
        Ok(records
            .iter()
            .map(|r| bm::block_keys(&bm::Prepared::new(&native_record(r))))
            .collect())
    }
    fn score(&self, pairs: &[(&SharedRecord, &SharedRecord)]) -> Result<Vec<f64>, PluginError> {
        let pairs: Vec<_> = pairs
            .iter()
            .map(|(e, x)| (native_record(e), native_record(x)))
            .collect();
        Ok(bm::score_all(pairs.iter().map(|(e, x)| (e, x))))
    }
}

fn row(name: &str, c: &Counts) {
    println!(
        "  {name:<18} {:>9} {:>9.5} {:>9.5} {:>9.5} {:>8} {:>11.5}",
        c.true_pairs,
        c.precision(),
        c.recall(),
        c.f1(),
        c.reviews,
        c.recall_with_review(),
    );
}

fn print_accuracy(acc: &Accuracy) {
    println!(
        "  {:<18} {:>9} {:>9} {:>9} {:>9} {:>8} {:>11}",
        "pairs", "true", "precision", "recall", "F1", "review", "recall+rev"
    );
    row("all", &acc.overall);
    row("no noise", &acc.clean);
    for k in NoiseKind::ALL {
        row(k.as_str(), &acc.by_noise[k as usize]);
    }
}

/// CPU seconds this process has used (user + system), from /proc: the
/// machine is shared, so wall time alone does not say whether both cores
/// were ours.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second here).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

fn run(name: &str, rules: &impl Rules, g: &Generated, settings: &Settings) -> Accuracy {
    let entries: Vec<SharedRecord> = g.entries.iter().map(|r| r.record.clone()).collect();
    let exits: Vec<SharedRecord> = g.exits.iter().map(|r| r.record.clone()).collect();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let outcome = reconcile::reconcile(rules, settings, &entries, &exits).unwrap();
    let total = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let s = &outcome.stats;
    println!(
        "{name}: {total:.2} s for {} entries x {} exits = {:.0} records/s ({} threads, {cpu:.1} CPU s)",
        s.entries,
        s.exits,
        (s.entries + s.exits) as f64 / total,
        settings.threads
    );
    println!(
        "  entry keys {:.2} s ({} keys), index {:.2} s, exits (keys, look-ups, {} pairs scored) {:.2} s, assignment {:.2} s",
        s.entry_keys_time.as_secs_f64(),
        s.entry_keys,
        s.index_time.as_secs_f64(),
        s.pairs_scored,
        s.exits_time.as_secs_f64(),
        s.assign_time.as_secs_f64(),
    );
    reconcile::evaluate(g, &outcome.pairs)
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average before the run: {} (2 cores: above 2, other processes share them)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let trips: usize = if std::env::var_os("ENTREX_BENCH_1M").is_some() {
        // 3% of trips have no recorded entry, and a few records per thousand
        // are malformed: this many trips give about a million of each.
        1_035_000
    } else {
        std::env::var("ENTREX_BENCH_TRIPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    };
    let settings = Settings::default();
    let started = Instant::now();
    let cfg = generator::Config {
        noise: Noise::Heavy,
        ..generator::Config::new(2026, trips)
    };
    let g = reconcile::generate(&cfg, settings.threads).unwrap();
    let summary = g.truth.summary();
    println!(
        "generated and normalised {trips} trips (heavy noise) in {:.1} s: {} entries, {} exits, {} malformed records rejected",
        started.elapsed().as_secs_f64(),
        g.entries.len(),
        g.exits.len(),
        g.rejected
    );
    print!("  noisy trips {}:", summary.noisy_trips);
    for k in NoiseKind::ALL {
        print!(" {} {}", k.as_str(), summary.noise[k as usize]);
    }
    println!();

    // Reading and writing the canonical CSV, for the command as a whole.
    // ENTREX_BENCH_CSV_DIR=DIR keeps the files there, to time `entrex
    // reconcile` itself on them.
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("ENTREX_BENCH_CSV_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let entries_csv = dir.join("entries.csv");
    let exits_csv = dir.join("exits.csv");
    for (path, records) in [(&entries_csv, &g.entries), (&exits_csv, &g.exits)] {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        reconcile::write_records(&mut out, records).unwrap();
    }
    // The true pairs, for `entrex reconcile --truth` (and `matcher train`
    // checked against it) on this generator's data too.
    {
        use std::io::Write;
        let ids = |records: &[reconcile::Record]| -> std::collections::HashSet<String> {
            records.iter().map(|r| r.id.clone()).collect()
        };
        let (entry_ids, exit_ids) = (ids(&g.entries), ids(&g.exits));
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join("truth.csv")).unwrap());
        writeln!(out, "entry_id,exit_id,kinds").unwrap();
        for trip in &g.truth.trips {
            if let Some(entry) = &trip.entry
                && entry_ids.contains(entry)
                && exit_ids.contains(&trip.exit)
            {
                let kinds: Vec<&str> = trip.noise.iter().map(|k| k.as_str()).collect();
                writeln!(out, "{entry},{},{}", trip.exit, kinds.join(";")).unwrap();
            }
        }
    }
    let started = Instant::now();
    let read = reconcile::read_records(&entries_csv).unwrap().len()
        + reconcile::read_records(&exits_csv).unwrap().len();
    println!(
        "reading canonical CSV: {:.2} s for {read} records (one thread)",
        started.elapsed().as_secs_f64()
    );

    let matcher = reconcile::load_matcher(None, "{}").unwrap();
    let wasm = run("biographic-matcher (WASM plugin)", &matcher, &g, &settings);
    print_accuracy(&wasm);
    let native = run("baseline: the same rules native", &Native, &g, &settings);
    assert_eq!(
        wasm.overall, native.overall,
        "the plugin and its native build must decide alike"
    );
}
