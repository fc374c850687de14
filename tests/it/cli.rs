//! The `entrex` binary as people use it: the demo, keygen, verify.

use crate::support::{entrex, text};
use std::path::{Path, PathBuf};
use std::process::Command;

fn first_file(dir: &Path, prefix: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    files
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
}

#[test]
fn the_demo_exchanges_and_verify_rejects_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = entrex(&[
        "demo",
        "--trips",
        "3000",
        "--dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let hubs = summary["hubs"].as_array().unwrap();
    assert_eq!(hubs.len(), 2);
    for (hub, other) in [(&hubs[0], &hubs[1]), (&hubs[1], &hubs[0])] {
        assert_eq!(hub["citizen_records_received"], 0, "{hub:#}");
        assert_eq!(hub["received"], other["sent"], "{hub:#}");
        assert_eq!(
            hub["bundles_verified_offline"], hub["bundles_received"],
            "{hub:#}"
        );
        assert!(hub["sent"].as_u64().unwrap() > 300, "{hub:#}");
        assert!(
            hub["rejected"].as_u64().unwrap() > 0,
            "the generator makes malformed records: {hub:#}"
        );
        assert!(
            hub["day_reconciliation_rate"].as_f64().unwrap() > 0.8,
            "{hub:#}"
        );
    }

    let bundle = first_file(&out.join("ca/evidence/to-US"), "bundle-");
    let receipt = first_file(&out.join("ca/evidence/to-US"), "receipt-");
    let ca_key = format!("CA={}", out.join("keys/ca.pub.pem").display());
    let us_key = format!("US={}", out.join("keys/us.pub.pem").display());
    let ok = entrex(&[
        "verify",
        bundle.to_str().unwrap(),
        receipt.to_str().unwrap(),
        "--key",
        &ca_key,
        "--key",
        &us_key,
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("bundle CA → US, sequence 1..="), "{stdout}");
    assert!(
        stdout.contains("receipt from US for CA's bundle 1..="),
        "{stdout}"
    );

    // The whole evidence directory: every file, and each direction as a chain.
    let all = entrex(&[
        "verify",
        out.join("ca/evidence").to_str().unwrap(),
        out.join("us/evidence").to_str().unwrap(),
        "--key",
        &ca_key,
        "--key",
        &us_key,
    ]);
    assert!(all.status.success(), "{}", text(&all));
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert!(
        stdout.contains("OK   chain CA → US:") && stdout.contains("gap-free"),
        "{stdout}"
    );
    assert!(stdout.contains("OK   chain US → CA:"), "{stdout}");

    // The receiver proves one record's inclusion to a third party, showing no
    // other record; a changed byte in the proof is caught.
    let proof = dir.path().join("proof.cbor");
    let prove = entrex(&[
        "prove",
        "--bundle",
        out.join("us/evidence/from-CA").to_str().unwrap(),
        "--seq",
        "7",
        "--key",
        &ca_key,
        "--out",
        proof.to_str().unwrap(),
    ]);
    assert!(prove.status.success(), "{}", text(&prove));
    let checked = entrex(&["verify", proof.to_str().unwrap(), "--key", &ca_key]);
    assert!(checked.status.success(), "{}", text(&checked));
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("inclusion proof: entry 7 is in CA's bundle 1..="),
        "{stdout}"
    );
    let mut bytes = std::fs::read(&proof).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x01;
    std::fs::write(&proof, bytes).unwrap();
    let bad = entrex(&["verify", proof.to_str().unwrap(), "--key", &ca_key]);
    assert!(!bad.status.success(), "{}", text(&bad));

    // The receipt must not pass as the sender's: keys are bound to hubs.
    let swapped = entrex(&[
        "verify",
        receipt.to_str().unwrap(),
        "--key",
        &format!("CA={}", out.join("keys/us.pub.pem").display()),
    ]);
    assert!(!swapped.status.success(), "{}", text(&swapped));

    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    let tampered = dir.path().join("tampered.cose");
    std::fs::write(&tampered, bytes).unwrap();
    let bad = entrex(&["verify", tampered.to_str().unwrap(), "--key", &ca_key]);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("FAIL"),
        "{}",
        text(&bad)
    );
}

#[test]
fn keygen_writes_keys_that_openssl_reads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = entrex(&["keygen", "--out", out, "--name", "ca"]);
    assert!(run.status.success(), "{}", text(&run));
    let public = dir.path().join("ca.pub.pem");
    let pem = std::fs::read_to_string(&public).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    if let Ok(openssl) = Command::new("openssl")
        .args([
            "pkey",
            "-pubin",
            "-in",
            public.to_str().unwrap(),
            "-noout",
            "-text",
        ])
        .output()
    {
        assert!(openssl.status.success(), "{}", text(&openssl));
        assert!(
            String::from_utf8_lossy(&openssl.stdout).contains("ED25519"),
            "{}",
            text(&openssl)
        );
    }
    // And a self-signed TLS certificate for the hub, with its key.
    let cert = dir.path().join("ca.cert.pem");
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(dir.path().join("ca.tls.key.pem").exists());
    if let Ok(openssl) = Command::new("openssl")
        .args(["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"])
        .output()
    {
        assert!(openssl.status.success(), "{}", text(&openssl));
        let out = String::from_utf8_lossy(&openssl.stdout);
        assert!(
            out.contains("IP Address:127.0.0.1") && out.contains("DNS:localhost"),
            "{out}"
        );
    }
    let again = entrex(&["keygen", "--out", out, "--name", "ca"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"),
        "{}",
        text(&again)
    );
}

#[test]
fn a_bad_config_is_refused_with_the_file_and_the_key() {
    // The example config, placed as in the repository: config/ beside keys/.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    for name in ["ca", "us"] {
        let run = entrex(&["keygen", "--out", keys.to_str().unwrap(), "--name", name]);
        assert!(run.status.success(), "{}", text(&run));
    }
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let path = dir.path().join("config/hub.toml");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/ca.toml")).unwrap();
    std::fs::write(&path, &example).unwrap();
    let ok = entrex(&["check-config", path.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));

    let refused = |config: String, expected: &[&str]| {
        std::fs::write(&path, config).unwrap();
        let bad = entrex(&["check-config", path.to_str().unwrap()]);
        assert!(!bad.status.success(), "{}", text(&bad));
        let err = String::from_utf8_lossy(&bad.stderr);
        for e in expected {
            assert!(err.contains(e), "{e:?} not in {err}");
        }
    };
    // An unknown key: the file, the line, the key.
    refused(
        example.replace("listen = ", "lisen = "),
        &["hub.toml:7:1", "lisen", "did you mean `listen`"],
    );
    // A plugin that is not embedded: which ones are.
    refused(
        example.replace("builtin:ca-normaliser", "builtin:cbsa"),
        &["plugins.normaliser", "builtin:ca-normaliser"],
    );
    // A plugin that refuses its configuration: the plugin's own words.
    refused(
        example.replace("modes = [\"vehicle\"", "modes = [\"boat\""),
        &["phase2-eligibility", "boat"],
    );
    // Plain HTTP to the partner without allow_plain_http: what to write instead.
    refused(
        example.replace("https://", "http://"),
        &[
            "partner[0].url",
            "https://127.0.0.1:7402",
            "allow_plain_http = true",
        ],
    );
    // A missing key file: which file, and how to make one.
    refused(
        example.replace("keys/us.pub.pem", "keys/mx.pub.pem"),
        &["mx.pub.pem", "entrex keygen"],
    );
}

#[test]
fn plugin_test_runs_fixtures_and_shows_what_differs() {
    let template = concat!(env!("ENTREX_TEST_PLUGIN_DIR"), "/template.wasm");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/template/fixtures");
    let ok = entrex(&["plugin", "test", template, "--fixtures", fixtures]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("3 passed, 0 failed"),
        "{}",
        text(&ok)
    );

    // The same case with a wrong expectation: exit 1, the case, the index, both values.
    let dir = tempfile::tempdir().unwrap();
    let case = std::fs::read_to_string(format!("{fixtures}/default-config.json")).unwrap();
    let wrong = case.replacen("\"share\": null", "\"withhold\": \"not a real rule\"", 1);
    assert_ne!(case, wrong, "the fixture has a share to change");
    std::fs::write(dir.path().join("wrong.json"), wrong).unwrap();
    let bad = entrex(&[
        "plugin",
        "test",
        template,
        "--fixtures",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("FAIL wrong") && out.contains("not a real rule"),
        "{out}"
    );

    let none = entrex(&["plugin", "test", template, "--fixtures", "/nonexistent"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
}

/// #18: one bundle from the middle of a stream, given on its own, is checked
/// (signature, signed head, Merkle root) and passes; the chain, which needs
/// the bundles before it, is reported as not checked rather than as broken.
/// Given the evidence directory, the whole chain is checked as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_one_bundle_from_the_middle_of_a_stream_checks_it_and_not_the_chain() {
    let pair = crate::support::start_pair().await;
    // Three batches, each delivered before the next is posted: three bundles.
    for batch in ["A", "B", "C"] {
        let csv = format!(
            "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until\n\
             V{batch}-1,Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T4{batch},D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20\n\
             V{batch}-2,Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z123456{batch},IND,2026-11-21T11:00:00Z,0453,BUS,\n"
        );
        let report = pair
            .ca_client
            .post_crossings("text/csv", csv.into_bytes())
            .await
            .unwrap();
        assert_eq!(report.shared, 2, "{report:#?}");
        pair.settle().await;
    }
    let to_us = pair.ca.core.evidence_dir().join("to-US");
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key.path(),
        entrex::keys::public_key_pem(&pair.ca.core.signer.verifying_key()),
    )
    .unwrap();
    let ca_key = format!("CA={}", key.path().display());
    // The directory also holds the US hub's receipts.
    let us = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        us.path(),
        entrex::keys::public_key_pem(&pair.us.core.signer.verifying_key()),
    )
    .unwrap();
    let us_key = format!("US={}", us.path().display());
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(&to_us)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("bundle-")
        })
        .collect();
    bundles.sort();
    assert_eq!(bundles.len(), 3, "{bundles:?}");
    let middle = &bundles[1];

    let one = entrex(&["verify", middle.to_str().unwrap(), "--key", &ca_key]);
    let stdout = String::from_utf8_lossy(&one.stdout);
    assert!(
        one.status.success() && !stdout.contains("FAIL"),
        "{}",
        text(&one)
    );
    assert!(
        stdout.contains(&format!(
            "OK   {}: bundle CA → US, sequence 3..=4 (2 records)",
            middle.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("(matches the records; head signed)"),
        "{stdout}"
    );
    assert!(stdout.contains("chain not checked"), "{stdout}");
    assert!(
        stdout.contains("give the evidence directory to check the whole chain"),
        "{stdout}"
    );

    // The directory: the whole chain is checked.
    let dir_args = [to_us.to_str().unwrap(), "--key", &ca_key, "--key", &us_key];
    let all = entrex(&[&["verify"][..], &dir_args].concat());
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert!(all.status.success(), "{}", text(&all));
    assert!(
        stdout.contains("OK   chain CA → US: 3 bundles, sequence 1..=6 gap-free"),
        "{stdout}"
    );
    assert!(!stdout.contains("not checked"), "{stdout}");

    // A directory with that bundle taken out: the gap is found and named.
    std::fs::remove_file(middle).unwrap();
    let gap = entrex(&[&["verify"][..], &dir_args].concat());
    assert!(!gap.status.success(), "{}", text(&gap));
    assert!(
        String::from_utf8_lossy(&gap.stdout).contains("records 3..=4 are missing"),
        "{}",
        text(&gap)
    );
    pair.shutdown().await;
}

/// `entrex … | head -1`: a reader that stops reading ends the command the
/// way it ends `cat` (SIGPIPE), not with a panic and its backtrace.
#[test]
fn output_into_a_closed_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrex"))
        .args(["keygen", "--name", "x", "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && output.status.code() != Some(101),
        "{:?}\n{stderr}",
        output.status
    );
    assert_eq!(output.status.signal(), Some(13), "ended by SIGPIPE");
    // The keys were written before the output was.
    assert!(dir.path().join("x.key.pem").exists());
}
