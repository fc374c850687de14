//! What running a plugin as WebAssembly costs: for each stage, records per
//! second through the sandboxed plugin, called through `entrex::plugins`
//! exactly as the hub calls it (host-side conversions included), next to the
//! same plugin crate's logic compiled natively and called directly on
//! equivalent inputs in its own types, both measured in the same run; and the
//! time from nothing to all five built-in plugins loaded and configured.
//!
//!     cargo bench --bench plugins
//!     ENTREX_BENCH_PLUGIN_TRIPS=16000 cargo bench --bench plugins
//!
//! Stages: `normalise` (ca-normaliser: a CSV batch cut by `split`, then
//! `normalise` on its records), `decide` (phase2-eligibility), `block-keys`
//! and `score` (biographic-matcher). Inputs come from the seeded generator;
//! every measurement cycles through distinct batches of the pool and runs for
//! at least `MIN_MEASURE`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use entrex::config::{PluginSettings, PluginSource, PluginTrust};
use entrex::demo::DEMO_DAY_START;
use entrex::generator::{self, Noise};
use entrex::plugins::{Eligibility, Matcher, Normaliser, SourceRecord, Transport, Trust};
use entrex::record::{self, Crossing, SharedRecord};

use biographic_matcher as bm;
use ca_normaliser as ca;
use phase2_eligibility as p2;

const BATCH_SIZES: [usize; 5] = [1, 16, 256, 1024, 4096];
const MIN_MEASURE: Duration = Duration::from_millis(300);

/// The five built-in plugins, loaded and configured as a hub (plus the
/// second normaliser, which a hub of the other country would load).
struct Loaded {
    ca: Normaliser,
    us: Normaliser,
    eligibility: Eligibility,
    matcher: Matcher,
    transport: Transport,
}

fn builtin(name: &str, deadline_ms: u64) -> PluginSettings {
    PluginSettings {
        source: PluginSource::Builtin(name.into()),
        config_json: "{}".into(),
        config_files: Vec::new(),
        deadline_ms,
        memory_mib: 256,
        max_output_kib: 16 * 1024,
    }
}

/// Loads all five built-in plugins the way `hub::load` does, with the
/// configuration defaults; returns them and each one's load time.
fn load_all() -> (Loaded, Vec<(&'static str, Duration)>) {
    let mut times = Vec::new();
    let mut timed = |name: &'static str, start: Instant| times.push((name, start.elapsed()));
    let start = Instant::now();
    let trust = Trust::load(&PluginTrust::default()).unwrap();
    let ca = Normaliser::load(&builtin("ca-normaliser", 5_000), &trust, Vec::new()).unwrap();
    timed("ca-normaliser", start);
    let start = Instant::now();
    let us = Normaliser::load(&builtin("us-normaliser", 5_000), &trust, Vec::new()).unwrap();
    timed("us-normaliser", start);
    let start = Instant::now();
    let eligibility =
        Eligibility::load(&builtin("phase2-eligibility", 5_000), &trust, Vec::new()).unwrap();
    timed("phase2-eligibility", start);
    let start = Instant::now();
    let matcher = Matcher::load(&builtin("biographic-matcher", 5_000), &trust, Vec::new()).unwrap();
    timed("biographic-matcher", start);
    let start = Instant::now();
    let transport = Transport::load(
        &builtin("https-transport", 120_000),
        &trust,
        vec!["https://partner.example:7402/v1/partner/bundles".into()],
    )
    .unwrap();
    timed("https-transport", start);
    let loaded = Loaded {
        ca,
        us,
        eligibility,
        matcher,
        transport,
    };
    (loaded, times)
}

/// `n` records per batch, cycling through `pool`; as many batches as the pool
/// fills (at least one).
fn batches<T: Clone>(pool: &[T], n: usize) -> Vec<Vec<T>> {
    let count = (pool.len() / n).max(1);
    (0..count)
        .map(|k| {
            (0..n)
                .map(|i| pool[(k * n + i) % pool.len()].clone())
                .collect()
        })
        .collect()
}

/// Calls `f` on the inputs in turn (after one untimed call) until at least
/// `MIN_MEASURE` has passed; returns records per second.
fn measure<T, R>(batch: usize, inputs: &[T], mut f: impl FnMut(&T) -> R) -> f64 {
    black_box(f(&inputs[0]));
    let check_every = (256 / batch).max(1);
    let start = Instant::now();
    let mut calls = 0usize;
    loop {
        for _ in 0..check_every {
            black_box(f(&inputs[calls % inputs.len()]));
            calls += 1;
        }
        let elapsed = start.elapsed();
        if elapsed >= MIN_MEASURE {
            return (calls * batch) as f64 / elapsed.as_secs_f64();
        }
    }
}

struct Row {
    stage: &'static str,
    batch: usize,
    wasm: f64,
    native: f64,
}

// ------------------------------------------------ inputs in the plugins' types

fn date_p2(d: record::PartialDate) -> p2::entrex::plugin::types::PartialDate {
    p2::entrex::plugin::types::PartialDate {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn crossing_p2(c: &Crossing) -> p2::entrex::plugin::types::Crossing {
    use p2::entrex::plugin::types as t;
    t::Crossing {
        source_ref: c.source_ref.clone(),
        given_names: c.given_names.clone(),
        middle_names: c.middle_names.clone(),
        family_name: c.family_name.clone(),
        date_of_birth: date_p2(c.date_of_birth),
        sex: match c.sex {
            record::Sex::F => t::Sex::Female,
            record::Sex::M => t::Sex::Male,
            record::Sex::X => t::Sex::Unspecified,
        },
        nationality: c.nationality.clone(),
        document_type: c.document_type.clone(),
        document_number: c.document_number.clone(),
        document_country: c.document_country.clone(),
        crossed_at: c.crossed_at,
        port_code: c.port_code.clone(),
        mode: match c.mode {
            record::Mode::Vehicle => t::Mode::Vehicle,
            record::Mode::Pedestrian => t::Mode::Pedestrian,
            record::Mode::Ferry => t::Mode::Ferry,
            record::Mode::Rail => t::Mode::Rail,
            record::Mode::Bus => t::Mode::Bus,
            record::Mode::Sea => t::Mode::Sea,
        },
        citizenships: c.citizenships.clone(),
        residency: c
            .residency
            .iter()
            .map(|r| match r {
                record::Residency::CanadaPermanentResident => t::Residency::CanadaPermanentResident,
                record::Residency::UsLawfulPermanentResident => {
                    t::Residency::UsLawfulPermanentResident
                }
            })
            .collect(),
        authorised_stay_until: c.authorised_stay_until,
    }
}

fn shared_bm(r: &SharedRecord) -> bm::entrex::plugin::types::SharedRecord {
    use bm::entrex::plugin::types as t;
    t::SharedRecord {
        given_names: r.given_names.clone(),
        family_name: r.family_name.clone(),
        middle_names: r.middle_names.clone(),
        date_of_birth: t::PartialDate {
            year: r.date_of_birth.year,
            month: r.date_of_birth.month,
            day: r.date_of_birth.day,
        },
        nationality: r.nationality.clone(),
        sex: match r.sex {
            record::Sex::F => t::Sex::Female,
            record::Sex::M => t::Sex::Male,
            record::Sex::X => t::Sex::Unspecified,
        },
        document_type: r.document_type.clone(),
        document_number: r.document_number.clone(),
        document_country: r.document_country.clone(),
        entered_at: r.entered_at,
        port_code: r.port_code.clone(),
    }
}

fn is_share(d: &p2::exports::entrex::plugin::filter::Decision) -> bool {
    matches!(d, p2::exports::entrex::plugin::filter::Decision::Share)
}

fn main() {
    // ------------------------------------------------ cold start (must come first)
    let cold_start = Instant::now();
    let (plugins, cold_each) = load_all();
    let cold = cold_start.elapsed();
    let warm_start = Instant::now();
    let (second, warm_each) = load_all();
    let warm = warm_start.elapsed();
    drop(second);

    // ------------------------------------------------ inputs
    let trips: usize = std::env::var("ENTREX_BENCH_PLUGIN_TRIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000);
    let data = generator::generate(&generator::Config {
        seed: 11,
        trips,
        day_start: DEMO_DAY_START,
        noise: Noise::Moderate,
        malformed_per_mille: 5,
        batch_records: 1_000,
    });

    // CSV rows (without the header) of every CA document, to build batches of any size.
    let mut header: Vec<u8> = Vec::new();
    let mut csv_rows: Vec<Vec<u8>> = Vec::new();
    for doc in data.history.ca.iter().chain(&data.day.ca) {
        for r in ca::split_batch(doc).unwrap().records {
            let cut = r.data.iter().position(|&b| b == b'\n').unwrap();
            header = r.data[..cut].to_vec();
            csv_rows.push(r.data[cut + 1..].to_vec());
        }
    }
    let csv_batch = |rows: &[Vec<u8>]| -> Vec<u8> {
        let mut out = header.clone();
        for row in rows {
            out.push(b'\n');
            out.extend_from_slice(row);
        }
        out.push(b'\n');
        out
    };

    // Crossings of both hubs, normalised by the plugins (setup only).
    let normalise_all = |normaliser: &Normaliser, docs: &[&Vec<u8>]| -> Vec<Crossing> {
        let mut out = Vec::new();
        for doc in docs {
            let records: Vec<SourceRecord> = normaliser.split(doc).unwrap().unwrap();
            out.extend(
                normaliser
                    .normalise(&records)
                    .unwrap()
                    .into_iter()
                    .flatten(),
            );
        }
        out
    };
    let ca_docs: Vec<&Vec<u8>> = data.history.ca.iter().chain(&data.day.ca).collect();
    let us_docs: Vec<&Vec<u8>> = data.history.us.iter().chain(&data.day.us).collect();
    let ca_crossings = normalise_all(&plugins.ca, &ca_docs);
    let us_crossings = normalise_all(&plugins.us, &us_docs);
    let shared: Vec<SharedRecord> = ca_crossings
        .iter()
        .chain(&us_crossings)
        .map(Crossing::project)
        .collect();

    // Candidate pairs: each true pair (entry, exit) of the ground truth,
    // followed by the same exit with the next pair's entry (a non-match).
    let by_ref: HashMap<&str, &Crossing> = ca_crossings
        .iter()
        .chain(&us_crossings)
        .map(|c| (c.source_ref.as_str(), c))
        .collect();
    let true_pairs: Vec<(SharedRecord, SharedRecord)> = data
        .truth
        .trips
        .iter()
        .filter_map(|t| {
            let entry = by_ref.get(t.entry.as_deref()?)?;
            let exit = by_ref.get(t.exit.as_str())?;
            Some((entry.project(), exit.project()))
        })
        .collect();
    let mut pairs: Vec<(SharedRecord, SharedRecord)> = Vec::with_capacity(2 * true_pairs.len());
    for (i, (entry, exit)) in true_pairs.iter().enumerate() {
        pairs.push((entry.clone(), exit.clone()));
        let other = &true_pairs[(i + 1) % true_pairs.len()].0;
        pairs.push((other.clone(), exit.clone()));
    }

    // The same inputs in the plugin crates' own types.
    let rules = p2::parse_config("{}").unwrap();
    let p2_crossings: Vec<_> = ca_crossings.iter().map(crossing_p2).collect();
    let bm_shared: Vec<_> = shared.iter().map(shared_bm).collect();
    let bm_pairs: Vec<bm::exports::entrex::plugin::matching::Candidate> = pairs
        .iter()
        .map(
            |(entry, exit)| bm::exports::entrex::plugin::matching::Candidate {
                entry: shared_bm(entry),
                exit: shared_bm(exit),
            },
        )
        .collect();

    // ------------------------------------------------ equivalence, once
    {
        let batch = csv_batch(&csv_rows[..csv_rows.len().min(1024)]);
        let records = plugins.ca.split(&batch).unwrap().unwrap();
        let wasm = plugins.ca.normalise(&records).unwrap();
        let native: Vec<_> = ca::split_batch(&batch)
            .unwrap()
            .records
            .iter()
            .map(|r| ca::normalise_record(&r.data))
            .collect();
        assert_eq!(wasm.len(), native.len());
        for (w, n) in wasm.iter().zip(&native) {
            assert_eq!(w.is_ok(), n.is_ok());
            if let (Ok(w), Ok(n)) = (w, n) {
                assert_eq!(w.source_ref, n.source_ref);
            }
        }
        let n = ca_crossings.len().min(1024);
        let wasm = plugins.eligibility.decide(&ca_crossings[..n]).unwrap();
        let native = p2::decide(&rules, &p2_crossings[..n]);
        for (w, n) in wasm.iter().zip(&native) {
            assert_eq!(matches!(w, record::Decision::Share), is_share(n));
        }
        let n = shared.len().min(1024);
        let wasm = plugins.matcher.block_keys(&shared[..n]).unwrap();
        let native: Vec<Vec<String>> = bm_shared[..n]
            .iter()
            .map(|r| bm::block_keys(&bm::Prepared::new(r)))
            .collect();
        assert_eq!(wasm, native);
        let n = pairs.len().min(1024);
        let refs: Vec<(&SharedRecord, &SharedRecord)> =
            pairs[..n].iter().map(|(a, b)| (a, b)).collect();
        let wasm = plugins.matcher.score(&refs).unwrap();
        let native: Vec<f64> = bm_pairs[..n]
            .iter()
            .map(|p| bm::score(&p.entry, &p.exit))
            .collect();
        for (w, n) in wasm.iter().zip(&native) {
            assert!((w - n).abs() < 1e-9, "score {w} (wasm) vs {n} (native)");
        }
    }

    // ------------------------------------------------ throughput
    let mut rows = Vec::new();
    for &n in &BATCH_SIZES {
        let docs: Vec<Vec<u8>> = batches(&csv_rows, n).iter().map(|b| csv_batch(b)).collect();
        let ca_plugin = &plugins.ca;
        let wasm = measure(n, &docs, |doc| {
            let records = ca_plugin.split(doc).unwrap().unwrap();
            ca_plugin.normalise(&records).unwrap()
        });
        let native = measure(n, &docs, |doc| {
            ca::split_batch(doc)
                .unwrap()
                .records
                .iter()
                .map(|r| ca::normalise_record(&r.data))
                .collect::<Vec<_>>()
        });
        rows.push(Row {
            stage: "normalise (split + normalise)",
            batch: n,
            wasm,
            native,
        });
    }
    for &n in &BATCH_SIZES {
        let wasm_in = batches(&ca_crossings, n);
        let native_in = batches(&p2_crossings, n);
        let wasm = measure(n, &wasm_in, |b| plugins.eligibility.decide(b).unwrap());
        let native = measure(n, &native_in, |b| p2::decide(&rules, b));
        rows.push(Row {
            stage: "eligibility decide",
            batch: n,
            wasm,
            native,
        });
    }
    for &n in &BATCH_SIZES {
        let wasm_in = batches(&shared, n);
        let native_in = batches(&bm_shared, n);
        let wasm = measure(n, &wasm_in, |b| plugins.matcher.block_keys(b).unwrap());
        let native = measure(n, &native_in, |b| {
            b.iter()
                .map(|r| bm::block_keys(&bm::Prepared::new(r)))
                .collect::<Vec<_>>()
        });
        rows.push(Row {
            stage: "matcher block-keys",
            batch: n,
            wasm,
            native,
        });
    }
    for &n in &BATCH_SIZES {
        let indices: Vec<usize> = (0..pairs.len()).collect();
        let index_batches = batches(&indices, n);
        let wasm_in: Vec<Vec<(&SharedRecord, &SharedRecord)>> = index_batches
            .iter()
            .map(|b| b.iter().map(|&i| (&pairs[i].0, &pairs[i].1)).collect())
            .collect();
        let native_in = batches(&bm_pairs, n);
        let wasm = measure(n, &wasm_in, |b| plugins.matcher.score(b).unwrap());
        let native = measure(n, &native_in, |b| {
            b.iter()
                .map(|p| bm::score(&p.entry, &p.exit))
                .collect::<Vec<f64>>()
        });
        rows.push(Row {
            stage: "matcher score (pairs)",
            batch: n,
            wasm,
            native,
        });
    }

    // ------------------------------------------------ report
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "entrex plugin benchmark: WASM plugin vs the same logic compiled natively ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<32}{:>7}{:>16}{:>16}{:>13}",
        "stage", "batch", "wasm rec/s", "native rec/s", "wasm/native"
    );
    for r in &rows {
        println!(
            "{:<32}{:>7}{:>16.0}{:>16.0}{:>13.3}",
            r.stage,
            r.batch,
            r.wasm,
            r.native,
            r.wasm / r.native
        );
    }
    println!();
    println!(
        "{:<46}{:>16}{:>16}",
        "cold start (5 built-in plugins, configured)", "first load ms", "second load ms"
    );
    for ((name, first), (_, second)) in cold_each.iter().zip(&warm_each) {
        println!("  {:<44}{:>16.1}{:>16.1}", name, ms(*first), ms(*second));
    }
    println!("{:<46}{:>16.1}{:>16.1}", "  all five", ms(cold), ms(warm));
    println!(
        "(first load: from nothing in this process: engine, compiling every component, instantiate, configure; second: compiled components cached)"
    );
    println!(
        "({trips} trips: {} CA CSV rows, {} crossings of both hubs, {} shared records, {} candidate pairs ({} true); each figure ≥ {} ms)",
        csv_rows.len(),
        ca_crossings.len() + us_crossings.len(),
        shared.len(),
        pairs.len(),
        true_pairs.len(),
        MIN_MEASURE.as_millis()
    );
    // Loaded for the cold start only; nothing here delivers bundles.
    drop(plugins.transport);
}
