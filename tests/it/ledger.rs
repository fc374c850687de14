//! The sealed ledger in an analytics engine: `entrex ledger export` and
//! `entrex ledger export-matches` (the real binary) after two real hubs
//! exchanged a generated month with corrections and a withdrawal, read back
//! by DuckDB (its Python package from PyPI, installed by tests/run.sh),
//! reproduce `entrex report`'s figures line for line; and an export killed
//! at any point is completed by the next run, with every row once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entrex::bundle::{self, BundlePayload, ReceiptPayload, Signer, seal_bundle, seal_receipt};
use entrex::record::{Entry, PartialDate, Sex, SharedRecord};
use parquet::file::reader::{FileReader, SerializedFileReader};
use rand::{Rng, SeedableRng};

use crate::support::{entrex, start_pair, text};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The Python that has the `duckdb` package: `ENTREX_DUCKDB_PYTHON`
/// (tests/run.sh sets it, after installing duckdb from PyPI into a venv),
/// else the venv tests/run.sh makes, else `python3` if it has duckdb.
fn duckdb_python() -> PathBuf {
    let candidates = std::env::var_os("ENTREX_DUCKDB_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            Path::new(ROOT).join("target/duckdb-venv/bin/python"),
            PathBuf::from("python3"),
        ]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import duckdb"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python;
        }
    }
    panic!(
        "no Python with the duckdb package: run tests/run.sh (it installs duckdb from PyPI into target/duckdb-venv), or pip install duckdb"
    );
}

/// Runs `sql` in DuckDB with `dir` as the working directory; returns the
/// first column of the last statement's rows.
fn duckdb(dir: &Path, sql: &str) -> Vec<String> {
    let script = "import duckdb, sys\nfor row in duckdb.connect().execute(sys.stdin.read()).fetchall():\n    print(row[0])\n";
    let mut child = Command::new(duckdb_python())
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "DuckDB: {}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Entries into Canada, then the same again with a corrected port (a
/// correction, sent to the US as an amendment) and one withdrawn.
const FIRST: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until
LEDGER-1,Lindqvist,Anna,,1983-02-11,F,SWE,,,P,L0000001,SWE,2026-11-20T09:00:00Z,0427,VEHICLE,2027-05-20
LEDGER-2,Okafor,Chidi,,1975-08-30,M,NGA,,,P,L0000002,NGA,2026-11-20T10:00:00Z,0427,VEHICLE,2027-05-20
";
const CORRECTED: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until
LEDGER-1,Lindqvist,Anna,,1983-02-11,F,SWE,,,P,L0000001,SWE,2026-11-21T09:00:00Z,0453,VEHICLE,2027-05-20
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_read_by_duckdb_reproduces_the_joint_report() {
    let pair = start_pair().await;
    let data = entrex::generator::generate(&entrex::generator::Config {
        batch_records: 500,
        ..entrex::generator::Config::new(14, 1_500)
    });
    for (ca, us) in [
        (&data.history.ca, &data.history.us),
        (&data.day.ca, &data.day.us),
    ] {
        let (a, b) = tokio::join!(
            entrex::demo::post_all(&pair.ca_client, "text/csv", ca),
            entrex::demo::post_all(&pair.us_client, "application/json", us)
        );
        a.unwrap();
        b.unwrap();
    }
    pair.settle().await;
    // Amendments after the records were delivered: a correction moves a
    // record to another day and port, a withdrawal takes one away.
    for batch in [FIRST, CORRECTED] {
        pair.ca_client
            .post_crossings("text/csv", batch.as_bytes().to_vec())
            .await
            .unwrap();
        pair.settle().await;
    }
    let withdrawn = pair
        .ca_client
        .withdraw(&entrex::ingest::WithdrawRequest {
            source_refs: vec!["LEDGER-2".into()],
            reason: String::new(),
        })
        .await
        .unwrap();
    assert!(
        matches!(
            withdrawn.results[0].result,
            entrex::store::Withdrawal::Withdrawn { .. }
        ),
        "{withdrawn:?}"
    );
    pair.settle().await;

    let file = |name: &str| pair.path(name).to_str().unwrap().to_owned();
    let hub = |h: &entrex::hub::Hub| format!("https://{}", h.addr);
    let tls = |me: &str| {
        vec![
            "--hub-cert".to_owned(),
            file(&format!("keys/{me}.cert.pem")),
            "--client-cert".to_owned(),
            file(&format!("keys/{me}.cert.pem")),
            "--client-key".to_owned(),
            file(&format!("keys/{me}.tls.key.pem")),
        ]
    };
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            entrex(&args)
        })
        .await
        .unwrap()
    };

    // The report, as the two hubs print it.
    let mut args: Vec<String> = ["report", "--by", "day", "--format", "csv"]
        .map(String::from)
        .to_vec();
    for (h, me) in [(&pair.ca, "ca"), (&pair.us, "us")] {
        args.extend(["--hub".to_owned(), hub(h)]);
        args.extend(tls(me));
    }
    let report = run(args).await;
    assert!(report.status.success(), "{}", text(&report));
    let report = String::from_utf8(report.stdout).unwrap();
    let expected: Vec<&str> = report.lines().skip(1).collect();

    // The ledger from both hubs' evidence, and each hub's matches.
    let out = tempfile::tempdir().unwrap();
    let outdir = out.path().to_str().unwrap().to_owned();
    let export = run(vec![
        "ledger".into(),
        "export".into(),
        "--evidence".into(),
        file("ca/evidence"),
        "--evidence".into(),
        file("us/evidence"),
        "--key".into(),
        format!("CA={}", file("keys/ca.pub.pem")),
        "--key".into(),
        format!("US={}", file("keys/us.pub.pem")),
        "--out".into(),
        outdir.clone(),
    ])
    .await;
    assert!(export.status.success(), "{}", text(&export));
    println!("{}", String::from_utf8_lossy(&export.stdout));
    for (h, me) in [(&pair.ca, "ca"), (&pair.us, "us")] {
        let mut args: Vec<String> = vec![
            "ledger".into(),
            "export-matches".into(),
            "--hub".into(),
            hub(h),
            "--purpose".into(),
            "joint report reproduction".into(),
            "--out".into(),
            outdir.clone(),
        ];
        args.extend(tls(me));
        let matches = run(args).await;
        assert!(matches.status.success(), "{}", text(&matches));
        println!("{}", String::from_utf8_lossy(&matches.stdout));
        // Every page read is in the hub's audit log, with the purpose.
        let log = std::fs::read_to_string(pair.path(&format!("{me}/audit.log"))).unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains("GET /v1/ledger/matches")
                    && l.contains("joint report reproduction")),
            "{log}"
        );
    }

    let sql =
        std::fs::read_to_string(Path::new(ROOT).join("docs/ledger-joint-report.sql")).unwrap();
    let reproduced = duckdb(out.path(), &sql);
    assert_eq!(
        reproduced, expected,
        "DuckDB's figures from the export differ from entrex report's:\nreport:\n{report}"
    );
    // Both directions, per day, with amendments: a real report, not an empty one.
    assert!(expected.iter().any(|l| l.contains("CA→US")));
    assert!(expected.iter().any(|l| l.contains("US→CA")));
    assert!(expected.len() > 20, "{report}");
    println!(
        "DuckDB reproduced all {} lines of entrex report from the Parquet export",
        expected.len()
    );

    // Records per direction and day, and the ledger's own shape: the
    // correction and the withdrawal are there as amendments.
    let kinds = duckdb(
        out.path(),
        "SELECT kind || ' ' || count(*) FROM read_parquet('records/*/*/*.parquet', hive_partitioning = true) WHERE direction = 'CA-US' GROUP BY kind ORDER BY kind",
    );
    assert!(kinds.iter().any(|k| k == "correction 1"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "deletion 1"), "{kinds:?}");
    // Every exported bundle has its receipt, and the chain holds in SQL too.
    let broken = duckdb(
        out.path(),
        "SELECT count(*) FROM read_parquet('bundles/*/*/*.parquet', hive_partitioning = true) b \
         LEFT JOIN read_parquet('bundles/*/*/*.parquet', hive_partitioning = true) p \
           ON p.sender = b.sender AND p.receiver = b.receiver AND p.last_seq + 1 = b.first_seq \
         WHERE b.first_seq > 1 AND p.bundle_sha256 IS DISTINCT FROM b.prev_bundle_sha256",
    );
    assert_eq!(broken, ["0"]);
    // The README's queries run as written (the last one, the chain check,
    // finds nothing).
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = &readme[readme.find("## The ledger in analytics engines").unwrap()..];
    let start = section.find("```sql\n").unwrap() + "```sql\n".len();
    let queries = &section[start..start + section[start..].find("```").unwrap()];
    assert_eq!(duckdb(out.path(), queries), Vec::<String>::new());
    pair.shutdown().await;
}

// ---------------------------------------------------------------------------
// Kill -9

fn record(n: u64) -> SharedRecord {
    SharedRecord {
        given_names: "ANNA MARIA".into(),
        family_name: format!("PERSON{}", n % 9973),
        middle_names: String::new(),
        date_of_birth: PartialDate {
            year: 1950 + (n % 50) as u16,
            month: Some(1 + (n % 12) as u8),
            day: Some(1 + (n % 28) as u8),
        },
        nationality: "SWE".into(),
        sex: if n.is_multiple_of(2) { Sex::F } else { Sex::M },
        document_type: "P".into(),
        document_number: format!("X{n:08}"),
        document_country: "SWE".into(),
        entered_at: 1_795_219_200 + n as i64 * 7,
        port_code: format!("{:04}", 400 + n % 30),
    }
}

/// A CA → US stream of sealed bundles with US's receipts, as CA's
/// evidence directory keeps them.
struct Stream {
    ca: Signer,
    us: Signer,
    dir: PathBuf,
    prev: Vec<u8>,
    next: u64,
}

impl Stream {
    fn new(dir: &Path) -> Stream {
        let dir = dir.join("to-US");
        std::fs::create_dir_all(&dir).unwrap();
        Stream {
            ca: Signer::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32])),
            us: Signer::new(ed25519_dalek::SigningKey::from_bytes(&[8; 32])),
            dir,
            prev: Vec::new(),
            next: 1,
        }
    }

    fn keys(&self, dir: &Path) -> Vec<String> {
        let mut args = Vec::new();
        for (hub, key) in [("CA", &self.ca), ("US", &self.us)] {
            let path = dir.join(format!("{hub}.pub.pem"));
            std::fs::write(&path, entrex::keys::public_key_pem(&key.verifying_key())).unwrap();
            args.push(format!("{hub}={}", path.display()));
        }
        args
    }

    /// `bundles` bundles of `size` records, sealed a day apart every `per_day`.
    fn seal(&mut self, bundles: u64, size: u64, per_day: u64) {
        for _ in 0..bundles {
            let first = self.next;
            let entries = (first..first + size)
                .map(|n| Entry::Record(record(n)))
                .collect();
            let at = 1_795_219_200 + (first / (size * per_day)) as i64 * 86_400;
            let payload = BundlePayload::new("CA", "US", first, at, self.prev.clone(), entries);
            let bytes = seal_bundle(&self.ca, &payload);
            let receipt = ReceiptPayload {
                version: bundle::PAYLOAD_VERSION,
                receiver: "US".into(),
                sender: "CA".into(),
                first_seq: first,
                last_seq: payload.last_seq,
                bundle_sha256: bundle::sha256(&bytes),
                received_at: at + 1,
            };
            std::fs::write(self.dir.join(format!("bundle-{first:012}.cose")), &bytes).unwrap();
            std::fs::write(
                self.dir.join(format!("receipt-{first:012}.cose")),
                seal_receipt(&self.us, &receipt),
            )
            .unwrap();
            self.prev = bundle::sha256(&bytes);
            self.next = payload.last_seq + 1;
        }
    }
}

/// Every row of the export's `records` table, read from the files the
/// manifest lists (the export as readers should take it): (seq, bundle
/// hash); with every file on disk and the files the manifest lists.
fn exported(out: &Path) -> (Vec<(i64, String)>, Vec<String>, Vec<String>) {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("_ledger/manifest.json")).unwrap_or("{}".into()),
    )
    .unwrap();
    let listed: Vec<String> = manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let mut on_disk = Vec::new();
    let mut rows = Vec::new();
    let mut stack = vec![out.join("records"), out.join("bundles")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            on_disk.push(p.strip_prefix(out).unwrap().to_string_lossy().into_owned());
            let relative = p.strip_prefix(out).unwrap().to_string_lossy().into_owned();
            if p.starts_with(out.join("records")) && listed.contains(&relative) {
                let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
                for row in reader.get_row_iter(None).unwrap() {
                    let row = row.unwrap();
                    let mut seq = 0;
                    let mut sha = String::new();
                    for (name, field) in row.get_column_iter() {
                        match name.as_str() {
                            "seq" => seq = field.to_string().parse().unwrap(),
                            "bundle_sha256" => sha = field.to_string(),
                            _ => {}
                        }
                    }
                    rows.push((seq, sha));
                }
            }
        }
    }
    rows.sort();
    on_disk.sort();
    let mut listed = listed;
    listed.sort();
    (rows, on_disk, listed)
}

fn export_args(evidence: &Path, keys: &[String], out: &Path) -> Vec<String> {
    let mut args = vec![
        "ledger".to_owned(),
        "export".into(),
        "--evidence".into(),
        evidence.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for k in keys {
        args.extend(["--key".to_owned(), k.clone()]);
    }
    args
}

fn run_export(args: &[String], crash_at: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entrex"));
    command.args(args);
    if let Some(point) = crash_at {
        command.env("ENTREX_CRASH_AT", point);
    }
    command.output().unwrap()
}

#[test]
fn an_export_killed_at_any_point_is_completed_by_the_next_run() {
    let evidence = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut stream = Stream::new(evidence.path());
    let keys = stream.keys(work.path());
    // 60,000 records in 60 bundles over 6 sealing days.
    stream.seal(60, 1_000, 10);
    let out = work.path().join("out");
    let args = export_args(evidence.path(), &keys, &out);

    // Killed at the worst moments: after a data file is in place, and with
    // every data file in place but the manifest not yet written.
    for point in ["ledger:file:3", "ledger:manifest"] {
        let run = run_export(&args, Some(point));
        assert!(!run.status.success(), "{point}: {}", text(&run));
        let (rows, on_disk, listed) = exported(&out);
        assert!(
            listed.is_empty() && rows.is_empty() && !on_disk.is_empty(),
            "{point}: files written, none listed"
        );
    }
    let done = run_export(&args, None);
    assert!(done.status.success(), "{}", text(&done));
    let (rows, on_disk, listed) = exported(&out);
    assert_eq!(rows.len(), 60_000);
    assert_eq!(on_disk, listed, "the files on disk are the ones listed");

    // Then more evidence, and SIGKILLs at random instants of the runs that
    // export it; the last run completes.
    stream.seal(60, 1_000, 10);
    let seed: u64 = rand::thread_rng().r#gen();
    println!("kill seed {seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut killed = 0;
    for _ in 0..8 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entrex"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..400)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Whatever the instant, the export reads as a whole earlier one:
        // every listed file there, each row once, a prefix of the stream.
        let (rows, _, listed) = exported(&out);
        for f in &listed {
            assert!(out.join(f).exists(), "{f} listed but missing");
        }
        let mut seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), rows.len(), "a row exported twice");
    }
    println!("{killed} runs killed");
    let started = Instant::now();
    let done = run_export(&args, None);
    assert!(done.status.success(), "{}", text(&done));
    println!(
        "last run {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&done.stdout)
    );
    let (rows, on_disk, listed) = exported(&out);
    assert_eq!(on_disk, listed);

    // The same as one export of everything in one go.
    let reference = work.path().join("reference");
    let clean = run_export(&export_args(evidence.path(), &keys, &reference), None);
    assert!(clean.status.success(), "{}", text(&clean));
    let (expected, _, _) = exported(&reference);
    assert_eq!(rows.len(), 120_000);
    assert_eq!(rows, expected);
    let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=120_000).collect::<Vec<_>>());

    // What is refused leaves the export as it was: a bundle altered after
    // it was sealed is named, and nothing of the run is written.
    stream.seal(1, 10, 10);
    let last = evidence
        .path()
        .join(format!("to-US/bundle-{:012}.cose", 120_001));
    let mut bytes = std::fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x20;
    std::fs::write(&last, bytes).unwrap();
    let refused = run_export(&args, None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("bundle-000000120001.cose") && stderr.contains("nothing was exported"),
        "{stderr}"
    );
    let (after, _, _) = exported(&out);
    assert_eq!(after.len(), 120_000);
}
