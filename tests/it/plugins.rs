//! Hostile plugins are contained: the hub keeps serving, the rest of the batch
//! flows, and the record that caused the failure is quarantined with its reason.

use std::path::PathBuf;

use crate::support::entrex;
use entrex::client::Client;
use entrex::config::Settings;
use entrex::hub::Hub;
use entrex::ingest::IngestReport;
use entrex::store::ItemResult;

fn test_plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("ENTREX_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

/// A CA hub (and its US partner) whose normaliser is `plugin`, unsigned, with tight limits.
async fn hub_with_normaliser(
    plugin: &str,
) -> Result<(tempfile::TempDir, Hub, Hub, Client), String> {
    let trust = "[plugins]\nallow_unsigned = true\n";
    hub_with_component(&test_plugin(plugin), trust).await
}

const TIGHT_LIMITS: &str = "deadline_ms = 300\nmemory_mib = 64";

async fn hub_with_component(
    path: &std::path::Path,
    trust: &str,
) -> Result<(tempfile::TempDir, Hub, Hub, Client), String> {
    hub_with_limits(path, trust, TIGHT_LIMITS).await
}

/// A CA hub whose normaliser is the component at `path`, with `trust` as the
/// `[plugins]` table and `limits` in the normaliser's table.
async fn hub_with_limits(
    path: &std::path::Path,
    trust: &str,
    limits: &str,
) -> Result<(tempfile::TempDir, Hub, Hub, Client), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (_, ca_listener, ca_path) = prepared.pop().unwrap();
    let text = std::fs::read_to_string(&ca_path)
        .unwrap()
        .replace(
            "component = \"builtin:ca-normaliser\"",
            &format!("component = \"{}\"\n{limits}", path.display()),
        )
        .replace(
            "[plugins.normaliser]",
            &format!("{trust}\n[plugins.normaliser]"),
        );
    std::fs::write(&ca_path, text).unwrap();
    let settings = Settings::load(&ca_path).unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    match Hub::start(settings, ca_listener).await {
        Ok(ca) => {
            let client = ca.client();
            Ok((dir, ca, us, client))
        }
        Err(e) => {
            us.shutdown().await;
            Err(e.to_string())
        }
    }
}

/// Posts `lines` (`ID,BEHAVIOUR`) and checks that every `ok` record was
/// accepted and the one hostile record quarantined with a reason containing
/// `reason`; then checks the hub still serves and nothing was lost.
async fn contained(behaviour: &str, reason: &[&str]) {
    let (_dir, ca, us, client) = hub_with_normaliser("hostile_normaliser").await.unwrap();
    let batch = format!("a,ok\nb,{behaviour}\nc,ok\nd,ok\n");
    let report: IngestReport = client
        .post_crossings("text/plain", batch.into_bytes())
        .await
        .unwrap();
    assert_eq!(
        (report.received, report.accepted, report.quarantined),
        (4, 3, 1),
        "{report:#?}"
    );
    let problem = &report.problems[0];
    assert_eq!(problem.location, "line 2");
    let ItemResult::Quarantined {
        stage, reason: why, ..
    } = &problem.result
    else {
        panic!("not quarantined: {problem:?}");
    };
    assert_eq!(stage, "normalise");
    assert!(
        reason.iter().any(|r| why.contains(r)),
        "{why:?} mentions none of {reason:?}"
    );

    // The hub keeps serving, on fresh instances.
    let after = client
        .post_crossings("text/plain", b"e,ok\n".to_vec())
        .await
        .unwrap();
    assert_eq!(after.accepted, 1, "{after:#?}");

    // The quarantined record is kept whole and can be retried; a retry with the
    // same plugin quarantines it again, and nothing is lost or doubled.
    let held = client.quarantine("plugin failure triage").await.unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0].location, "line 2");
    assert!(held[0].plugin.contains("hostile_normaliser"), "{held:#?}");
    let retried = client.retry_quarantine().await.unwrap();
    assert_eq!(
        (retried.received, retried.quarantined),
        (1, 1),
        "{retried:#?}"
    );
    assert_eq!(
        client
            .quarantine("plugin failure triage")
            .await
            .unwrap()
            .len(),
        1
    );
    let status = client.status().await.unwrap();
    assert_eq!((status.accepted, status.quarantined), (4, 1), "{status:#?}");

    ca.shutdown().await;
    us.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_cut_off_by_the_deadline() {
    contained("loop", &["deadline"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_cap() {
    contained("memory", &["memory", "grow", "alloc", "unreachable"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_is_a_trap() {
    contained("stack", &["stack"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_on_one_record_spares_the_others() {
    contained("trap", &["unreachable", "trap", "panic"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_output_is_refused() {
    // Memory enough to build a 64 MiB name; the output cap is what stops it.
    let (_dir, ca, us, client) = hub_with_limits(
        &test_plugin("hostile_normaliser"),
        "[plugins]\nallow_unsigned = true\n",
        "deadline_ms = 5000\nmemory_mib = 512\nmax_output_kib = 1024",
    )
    .await
    .unwrap();
    let report = client
        .post_crossings("text/plain", b"a,ok\nb,huge\nc,ok\n".to_vec())
        .await
        .unwrap();
    assert_eq!((report.accepted, report.quarantined), (2, 1), "{report:#?}");
    let problem = &report.problems[0];
    assert_eq!(problem.location, "line 2");
    let ItemResult::Quarantined { reason, .. } = &problem.result else {
        panic!("huge output was not quarantined: {problem:?}");
    };
    assert!(reason.contains("max_output_kib"), "{reason}");
    ca.shutdown().await;
    us.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_importing_more_than_its_kind_allows_is_refused_at_load() {
    let err = match hub_with_normaliser("forbidden_import").await {
        Ok(_) => panic!("a normaliser importing wasi:http was loaded"),
        Err(e) => e,
    };
    assert!(err.contains("wasi:http"), "{err}");
    assert!(err.contains("normaliser"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_plugins_signed_by_a_trusted_key_load() {
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("agency-normaliser.wasm");
    std::fs::copy(test_plugin("hostile_normaliser"), &component).unwrap();
    for name in ["agency", "stranger"] {
        assert!(
            entrex(&[
                "keygen",
                "--out",
                dir.path().to_str().unwrap(),
                "--name",
                name
            ])
            .status
            .success()
        );
    }
    let sign = |key: &str, kind: &str| {
        let out = entrex(&[
            "plugin",
            "sign",
            component.to_str().unwrap(),
            "--key",
            dir.path().join(format!("{key}.key.pem")).to_str().unwrap(),
            "--kind",
            kind,
            "--version",
            "1.2.0",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let trust = format!(
        "[plugins]\ntrusted_keys = [\"{}\"]\n",
        dir.path().join("agency.pub.pem").display()
    );
    let refused = |err: Result<(tempfile::TempDir, Hub, Hub, Client), String>, why: &str| match err
    {
        Ok(_) => panic!("loaded, but should be refused because {why}"),
        Err(e) => assert!(e.contains(why), "{why:?} not in {e}"),
    };

    // Unsigned, and unsigned plugins not allowed.
    refused(
        hub_with_component(&component, &trust).await,
        "cannot read its signature",
    );

    // Signed by the agency's trusted key: loads, and logs under its signed name.
    sign("agency", "normaliser");
    let (_d, ca, us, client) = hub_with_component(&component, &trust).await.unwrap();
    let report = client
        .post_crossings("text/plain", b"a,ok\nb,trap\n".to_vec())
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        client.quarantine("plugin failure triage").await.unwrap()[0].plugin,
        "agency-normaliser@1.2.0"
    );
    ca.shutdown().await;
    us.shutdown().await;

    // Signed as another kind of plugin.
    sign("agency", "matcher");
    refused(
        hub_with_component(&component, &trust).await,
        "signed as a matcher plugin",
    );

    // Signed by a key the hub does not trust.
    sign("stranger", "normaliser");
    refused(
        hub_with_component(&component, &trust).await,
        "does not verify",
    );

    // Tampered after signing: one byte changed.
    sign("agency", "normaliser");
    let mut bytes = std::fs::read(&component).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x01;
    std::fs::write(&component, bytes).unwrap();
    refused(
        hub_with_component(&component, &trust).await,
        "changed after it was signed",
    );
}

/// Source batches of `n` CSV records each, with unique record ids.
fn cbsa_batches(batches: usize, n: usize) -> Vec<Vec<u8>> {
    let header = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";
    (0..batches)
        .map(|b| {
            let mut text = header.to_owned();
            for i in 0..n {
                text.push_str(&format!(
                    "\nCA-R{b}-{i},Novak,Jana,,1985-03-{:02},F,CZE,,,P,C{b:03}{i:05},CZE,2026-11-21T10:00:00Z,0427,VEHICLE,",
                    1 + i % 28
                ));
            }
            text.push('\n');
            text.into_bytes()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_reload_under_load_loses_and_repeats_nothing() {
    let pair = crate::support::start_pair().await;
    let batches = cbsa_batches(24, 250);
    let total = 24 * 250;

    // Post from two clients while the plugins are reloaded again and again.
    let poster = |client: Client, batches: Vec<Vec<u8>>| {
        tokio::spawn(async move {
            let mut accepted = 0;
            for batch in batches {
                let report = client.post_crossings("text/csv", batch).await.unwrap();
                assert_eq!(
                    (report.rejected, report.duplicates, report.quarantined),
                    (0, 0, 0),
                    "{report:#?}"
                );
                accepted += report.accepted;
            }
            accepted
        })
    };
    let (first, second) = batches.split_at(12);
    let a = poster(pair.ca_client.clone(), first.to_vec());
    let b = poster(pair.ca_client.clone(), second.to_vec());
    let mut reloads = 0;
    while !(a.is_finished() && b.is_finished()) {
        let report = pair.ca_client.reload_plugins().await.unwrap();
        assert_eq!(report.plugins.len(), 4);
        reloads += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let accepted = a.await.unwrap() + b.await.unwrap();
    assert!(
        reloads >= 2,
        "only {reloads} reloads happened during the load"
    );
    assert_eq!(accepted, total);

    pair.settle().await;
    let status = pair.ca_client.status().await.unwrap();
    assert_eq!(
        (status.accepted, status.duplicates, status.shared),
        (total as u64, 0, total as u64),
        "{status:#?}"
    );
    let us = pair.us_client.status().await.unwrap();
    assert_eq!(us.partners[0].received_upto, total as u64, "{us:#?}");
    let received = pair.us.core.store.inbox_from("CA", 1, total + 10).unwrap();
    let mut numbers: Vec<String> = received
        .into_iter()
        .map(|(_, e)| e.record().expect("a record").document_number.clone())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), total, "a record was delivered twice or lost");
    println!(
        "hot reload under load: {reloads} reloads, {total} records posted, {accepted} accepted, {} delivered to the partner, {} distinct",
        us.partners[0].received_upto,
        numbers.len()
    );
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_a_plugin_that_cannot_load_keeps_the_old_one() {
    let pair = crate::support::start_pair().await;
    let config = pair.ca.core.settings.source.clone().unwrap();
    let original = std::fs::read_to_string(&config).unwrap();

    // A normaliser that imports wasi:http: refused, the old one keeps working.
    let broken = original
        .replace(
            "component = \"builtin:ca-normaliser\"",
            &format!(
                "component = \"{}\"",
                test_plugin("forbidden_import").display()
            ),
        )
        .replace(
            "[plugins.normaliser]",
            "[plugins]\nallow_unsigned = true\n\n[plugins.normaliser]",
        );
    std::fs::write(&config, broken).unwrap();
    let err = pair
        .ca_client
        .reload_plugins()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("wasi:http"), "{err}");
    let report = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batches(1, 3).remove(0))
        .await
        .unwrap();
    assert_eq!(report.accepted, 3, "{report:#?}");

    // Another working normaliser is swapped in after its canary on recent records.
    let other = original
        .replace(
            "component = \"builtin:ca-normaliser\"",
            &format!(
                "component = \"{}\"",
                test_plugin("hostile_normaliser").display()
            ),
        )
        .replace(
            "[plugins.normaliser]",
            "[plugins]\nallow_unsigned = true\n\n[plugins.normaliser]",
        );
    std::fs::write(&config, other).unwrap();
    let reloaded = pair.ca_client.reload_plugins().await.unwrap();
    assert!(reloaded.canary_records >= 3, "{reloaded:#?}");
    let report = pair
        .ca_client
        .post_crossings("text/plain", b"z1,ok\n".to_vec())
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{report:#?}");
    pair.shutdown().await;
}

/// A normaliser written in Python (componentize-py), run by a real hub. Built by
/// `plugins/python-normaliser/build.sh`, which `tests/run.sh` runs first; the
/// path comes in `ENTREX_PYTHON_PLUGIN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_written_in_python_normalises_like_any_other() {
    let Some(path) = std::env::var_os("ENTREX_PYTHON_PLUGIN") else {
        eprintln!(
            "skipped: set ENTREX_PYTHON_PLUGIN to a component built by plugins/python-normaliser/build.sh (tests/run.sh does)"
        );
        return;
    };
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "ENTREX_PYTHON_PLUGIN={} does not exist",
        path.display()
    );
    let (_dir, ca, us, client) = hub_with_component(&path, "[plugins]\nallow_unsigned = true\n")
        .await
        .unwrap();
    let batch = "\
CA-P1|Müller|Hans|Peter Karl|1984-03-07|M|DEU|P|C01X00T47|DEU|2026-11-21T09:03:00-05:00|0427|vehicle
CA-P2|Tremblay|Marie||1975-01-02|F|CAN|P|HK123456|CAN|2026-11-21T10:00:00Z|0427|vehicle
CA-P3|Doe|Jane||1990-02-30|F|GBR|P|X1234567|GBR|2026-11-21T10:00:00Z|0427|vehicle
CA-P4|too|few|fields
";
    let report = client
        .post_crossings("text/plain", batch.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(
        (
            report.received,
            report.accepted,
            report.shared,
            report.withheld,
            report.rejected
        ),
        (4, 2, 1, 1, 2),
        "{report:#?}"
    );
    let fields: Vec<Option<String>> = report
        .problems
        .iter()
        .map(|p| match &p.result {
            ItemResult::Rejected { field, .. } => field.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fields, [Some("birth_date".to_owned()), None]);
    let stored = ca.core.store.recent_crossings(10).unwrap();
    let hans = stored
        .iter()
        .find(|s| s.crossing.source_ref == "CA-P1")
        .unwrap();
    assert_eq!(hans.crossing.family_name, "MÜLLER");
    assert_eq!(hans.crossing.middle_names, "PETER KARL");
    assert_eq!(hans.crossing.crossed_at, 1_795_269_780);
    ca.shutdown().await;
    us.shutdown().await;
}

/// The compiled-code cache file of the built-in plugin `name` in `compiled`.
fn cache_file(compiled: &std::path::Path, name: &str) -> PathBuf {
    let (_, bytes) = entrex::plugins::BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap();
    let prefix = hex::encode(entrex::bundle::sha256(bytes));
    let found: Vec<PathBuf> = std::fs::read_dir(compiled)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.starts_with(&prefix) && file.ends_with(".cwasm")
        })
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.into_iter().next().unwrap()
}

/// Runs `entrex serve` on `config` until it answers, posts three new records
/// (ids tagged `run`: the normaliser, eligibility and store all work), stops
/// it with SIGTERM and returns its log (written to `DIR/run.log`).
fn serve_once(config: &std::path::Path, port: u16, run: &str) -> String {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let log = config.with_file_name(format!("{run}.log"));
    let log = log.as_path();
    let mut hub = std::process::Command::new(env!("CARGO_BIN_EXE_entrex"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let logs = || std::fs::read_to_string(log).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !crate::support::healthy(&addr) {
        if let Some(status) = hub.try_wait().unwrap() {
            panic!("the hub exited ({status}) before serving:\n{}", logs());
        }
        assert!(
            Instant::now() < deadline,
            "the hub did not start:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = String::from_utf8(cbsa_batches(1, 3).remove(0))
        .unwrap()
        .replace("CA-R0-", &format!("CA-{run}-"));
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST /v1/crossings HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/csv\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    let term = std::process::Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = hub.wait().unwrap();
    let report: Option<serde_json::Value> = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok());
    assert!(
        answer.starts_with("HTTP/1.1 200") && report.is_some_and(|r| r["accepted"] == 3),
        "{answer}\n{}",
        logs()
    );
    assert!(status.success(), "{status:?}\n{}", logs());
    logs()
}

/// #17: compiled plugins kept in `<data_dir>/compiled` are native code the
/// hub runs. A file changed after the hub wrote it (a flipped byte, another
/// component's compiled file put in its place) is refused with a warning
/// naming it, never deserialised, and the plugin is compiled again, works,
/// and its file is replaced.
#[test]
fn a_changed_compiled_plugin_file_is_refused_and_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let config = crate::support::plain_config(dir.path(), port);
    let compiled = dir.path().join("data/compiled");
    serve_once(&config, port, "first");
    let normaliser = cache_file(&compiled, "ca-normaliser");
    let eligibility = cache_file(&compiled, "phase2-eligibility");
    let name = normaliser
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let refused = |logs: &str| {
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains(&name) && l.contains("refused"))
    };

    // One bit flipped in the middle of the compiled code.
    let mut flipped = std::fs::read(&normaliser).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(&normaliser, &flipped).unwrap();
    let logs = serve_once(&config, port, "flipped");
    assert!(refused(&logs), "no warning refusing {name}:\n{logs}");
    let replaced = std::fs::read(&normaliser).unwrap();
    assert_ne!(replaced, flipped, "the changed file was not replaced");

    // Another component's cache file, intact, under this component's name.
    let other = std::fs::read(&eligibility).unwrap();
    std::fs::write(&normaliser, &other).unwrap();
    let logs = serve_once(&config, port, "swapped");
    assert!(refused(&logs), "no warning refusing {name}:\n{logs}");
    assert_ne!(
        std::fs::read(&normaliser).unwrap(),
        other,
        "the swapped file was not replaced"
    );

    // The file written again is the hub's own: used as it is, no warning.
    let logs = serve_once(&config, port, "again");
    assert!(!refused(&logs), "{logs}");
}
