//! Size and speed of the Parquet export of the sealed ledger
//! (`entrex ledger export`) on a million realistic records:
//!
//!     cargo bench --bench ledger                            # 1,000,000 records
//!     ENTREX_BENCH_RECORDS=200000 cargo bench --bench ledger
//!
//! The records are the generator's travellers through the real normalisers
//! (names in many scripts, transliterations, typos, real document and
//! country codes), sealed as a hub seals them: bundles of 2,000 with the
//! partner's receipts, written as a hub's evidence directory, about 350,000
//! a day. Printed: Parquet bytes per record and rows per second for a first
//! export, for an incremental run adding 10% and for a run with nothing new;
//! side by side, measured in the same run on the same files, the evidence's
//! own size (COSE bytes per record) and the cost of verifying it alone
//! (what `entrex verify` does per file), which the export must also pay.

use std::path::Path;
use std::time::Instant;

use entrex::bundle::{self, BundlePayload, Keyring, ReceiptPayload, Signer};
use entrex::ledger::{ExportOptions, export};
use entrex::record::{Entry, SharedRecord};

const BUNDLE: usize = 2_000;
const PER_DAY: usize = 350_000;
const DAY0: i64 = 1_795_219_200;

fn records(n: usize) -> Vec<SharedRecord> {
    let trips = (n / 2).max(1_000);
    let started = Instant::now();
    let generated = entrex::reconcile::generate(
        &entrex::generator::Config {
            batch_records: 5_000,
            ..entrex::generator::Config::new(2013, trips)
        },
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
    .expect("the generator's data normalises");
    let pool: Vec<SharedRecord> = generated
        .entries
        .into_iter()
        .chain(generated.exits)
        .map(|r| r.record)
        .collect();
    eprintln!(
        "generated {} records through the normalisers in {:.1} s",
        pool.len(),
        started.elapsed().as_secs_f64()
    );
    pool.into_iter().cycle().take(n).collect()
}

struct Stream {
    ca: Signer,
    us: Signer,
    prev: Vec<u8>,
    next: u64,
    cose_bytes: u64,
}

impl Stream {
    /// Seals `records` into `dir/to-US` as bundles with receipts.
    fn seal(&mut self, dir: &Path, records: &[SharedRecord]) {
        let to = dir.join("to-US");
        std::fs::create_dir_all(&to).unwrap();
        for chunk in records.chunks(BUNDLE) {
            let first = self.next;
            let at = DAY0 + ((first as usize - 1) / PER_DAY) as i64 * 86_400 + 3_600;
            let entries = chunk.iter().cloned().map(Entry::Record).collect();
            let payload = BundlePayload::new("CA", "US", first, at, self.prev.clone(), entries);
            let bytes = bundle::seal_bundle(&self.ca, &payload);
            let sha = bundle::sha256(&bytes);
            let receipt = bundle::seal_receipt(
                &self.us,
                &ReceiptPayload {
                    version: bundle::PAYLOAD_VERSION,
                    receiver: "US".into(),
                    sender: "CA".into(),
                    first_seq: first,
                    last_seq: payload.last_seq,
                    bundle_sha256: sha.clone(),
                    received_at: at + 2,
                },
            );
            self.cose_bytes += bytes.len() as u64;
            std::fs::write(to.join(format!("bundle-{first:012}.cose")), &bytes).unwrap();
            std::fs::write(to.join(format!("receipt-{first:012}.cose")), receipt).unwrap();
            self.prev = sha;
            self.next = payload.last_seq + 1;
        }
    }
}

fn main() {
    let n: usize = std::env::var("ENTREX_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let all = records(n + n / 10);
    let (first, more) = all.split_at(n);
    let evidence = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut stream = Stream {
        ca: Signer::new(ed25519_dalek::SigningKey::from_bytes(&[1; 32])),
        us: Signer::new(ed25519_dalek::SigningKey::from_bytes(&[2; 32])),
        prev: Vec::new(),
        next: 1,
        cose_bytes: 0,
    };
    let started = Instant::now();
    stream.seal(evidence.path(), first);
    eprintln!(
        "sealed {n} records in {} bundles in {:.1} s",
        n.div_ceil(BUNDLE),
        started.elapsed().as_secs_f64()
    );
    let mut keyring = Keyring::default();
    keyring.add("CA", stream.ca.verifying_key());
    keyring.add("US", stream.us.verifying_key());

    // Baseline: verifying every file of the evidence and nothing else.
    let files = entrex::verify::expand(&[evidence.path().to_owned()]).unwrap();
    let started = Instant::now();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        bundle::open_any(&bytes, &keyring).expect("the evidence verifies");
    }
    let verify_s = started.elapsed().as_secs_f64();

    let options = ExportOptions {
        evidence: vec![evidence.path().to_owned()],
        keyring: keyring.clone(),
        out: out.path().join("ledger"),
        since: None,
    };
    let full = export(&options).expect("the export succeeds");
    stream.seal(evidence.path(), more);
    let incremental = export(&options).expect("the incremental export succeeds");
    let nothing = export(&options).expect("a run with nothing new succeeds");

    let per_s = |rows: u64, s: f64| rows as f64 / s;
    println!(
        "ledger export, {n} realistic records (CA → US, bundles of {BUNDLE}, {PER_DAY} a day)"
    );
    println!(
        "  first export:       {:>8} rows in {:>6.2} s = {:>9.0} rows/s; records/ {} bytes = {:.1} Parquet bytes/record ({:.1} with bundles/; {} files)",
        full.rows,
        full.seconds,
        per_s(full.rows, full.seconds),
        full.records_bytes,
        full.records_bytes as f64 / full.rows as f64,
        full.bytes as f64 / full.rows as f64,
        full.files
    );
    println!(
        "  incremental (+10%): {:>8} rows in {:>6.2} s = {:>9.0} rows/s; {:.1} bytes/record; {} evidence files read",
        incremental.rows,
        incremental.seconds,
        per_s(incremental.rows, incremental.seconds),
        incremental.records_bytes as f64 / incremental.rows.max(1) as f64,
        incremental.evidence_read
    );
    println!(
        "  nothing new:        {:>8} rows in {:>6.2} s; {} evidence files read",
        nothing.rows, nothing.seconds, nothing.evidence_read
    );
    println!("baselines, same run, same files:");
    println!(
        "  the evidence itself (COSE_Sign1 CBOR): {:.1} bytes/record, {:.1}x the Parquet",
        stream.cose_bytes as f64 / (n + n / 10) as f64,
        (stream.cose_bytes as f64 / (n + n / 10) as f64)
            / (full.records_bytes as f64 / full.rows as f64)
    );
    println!(
        "  verifying the first {n} records' evidence alone (signatures, heads, Merkle roots): {:.2} s = {:.0} records/s",
        verify_s,
        per_s(n as u64, verify_s)
    );
}
