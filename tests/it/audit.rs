//! The audit log under attack and misfortune (issue 10): refusals without a
//! credential cannot fill the disk (#7).

use std::path::Path;

use entrex::hub::Hub;

use crate::support::Tmpfs;
use hyper::{Method, StatusCode};

async fn start_pair(dir: &Path) -> (Hub, Hub) {
    let mut prepared = entrex::demo::prepare_pair(dir).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    (ca, us)
}

fn entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(path: &Path) -> (bool, String) {
    let out = crate::support::entrex(&["audit", "verify", path.to_str().unwrap()]);
    (out.status.success(), crate::support::text(&out))
}

/// 200 requests without a credential, each with a 60 KB query, to an
/// audited route: the audit log grows by a small bounded amount (the
/// refusals are counted and summarised), and a refused caller with a
/// credential is still audited one by one, its target cut short. Before
/// the fix each refusal appended its whole query: about 60 KB a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fill_anonymous_refusals_with_60_kb_queries_grow_the_audit_log_by_a_bounded_amount() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, us) = start_pair(&dir.path().join("hubs")).await;
    let log = us.core.settings.data_dir.join("audit.log");
    let before = std::fs::metadata(&log).unwrap().len();

    let note = "A".repeat(60 * 1024);
    let path = format!("/v1/persons/export?purpose=x&note={note}");
    let anonymous = us.anonymous_client();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let requests =
            (0..10).map(|_| anonymous.request(Method::GET, &path, "text/plain", Vec::new()));
        for answer in futures_util::future::join_all(requests).await {
            let (status, body) = answer.unwrap();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    println!("200 anonymous requests in {:?}", started.elapsed());
    // A partner's certificate has no analyst role: 403, audited by name.
    let (status, _) = us
        .client_as(&ca)
        .request(Method::GET, &path, "text/plain", Vec::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    ca.shutdown().await;
    us.shutdown().await;
    let grown = std::fs::metadata(&log).unwrap().len() - before;
    println!("the audit log grew by {grown} bytes");
    assert!(
        grown <= 8 * 1024,
        "the audit log grew by {grown} bytes for 200 anonymous requests and one refused partner"
    );
    let entries = entries(&log);
    let forbidden: Vec<_> = entries
        .iter()
        .filter(|e| e["who"] == "CA" && e["outcome"].as_str().unwrap().starts_with("denied (403)"))
        .collect();
    assert_eq!(forbidden.len(), 1, "{entries:#?}");
    let target = forbidden[0]["target"].as_str().unwrap();
    assert!(target.len() < 1024, "{target}");
    assert!(
        target.contains(&format!("{} bytes", "note=".len() + note.len())),
        "{target}"
    );
    // The anonymous refusals are in the log, counted: one by one, or as
    // summaries whose outcome says how many (`denied (401) xN: ...`).
    let refused: u64 = entries
        .iter()
        .filter(|e| e["who"] == "unauthenticated")
        .map(|e| {
            let outcome = e["outcome"].as_str().unwrap();
            outcome
                .strip_prefix("denied (401) x")
                .and_then(|rest| rest.split(':').next())
                .map_or(1, |n| n.parse::<u64>().unwrap())
        })
        .sum();
    assert_eq!(refused, 200, "{entries:#?}");
    let (ok, text) = verify(&log);
    assert!(ok, "{text}");
}

/// The audit log on a full disk (issue 10, #8): CA's audit log lives on a
/// 2 MiB tmpfs, filled. Audited requests (a withdrawal, a personal-data
/// read) get 503 saying nothing was read or done, and nothing is done; the
/// log stays a valid chain throughout (no torn line); once space is freed
/// the same requests work, and `entrex audit verify` passes. Then a torn
/// tail (a crash mid-write) is repaired, and recorded, when the hub starts.
/// Before the fix, the write cut short by the full disk left part of a line
/// that the next entry was appended to, and a torn tail stopped the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_audited_requests_get_503_nothing_is_done_and_the_log_recovers() {
    let tmpfs = match Tmpfs::mount("2m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!(
                "SKIPPED disk_full_audited_requests_get_503_nothing_is_done_and_the_log_recovers: cannot mount a tmpfs ({why}); run as root"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(&dir.path().join("hubs"))
        .await
        .unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    // Only CA's audit log is on the small file system: the store and the
    // compiled plugins are someone else's disk-full story.
    std::fs::create_dir_all(&ca_settings.data_dir).unwrap();
    let log = ca_settings.data_dir.join("audit.log");
    std::os::unix::fs::symlink(tmpfs.path().join("audit.log"), &log).unwrap();
    let ca = Hub::start(ca_settings.clone(), ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let client = ca.client();

    const CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";
    let batch = format!(
        "{CSV_HEADER}\nFULL-1,Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20\n"
    );
    let report = client
        .post_crossings("text/csv", batch.into_bytes())
        .await
        .unwrap();
    assert_eq!(report.shared, 1, "{report:?}");
    entrex::demo::settle(&[&client, &us.client()])
        .await
        .unwrap();
    let export = "/v1/persons/export?document_country=D&document_number=C01X00T47&purpose=disk%20full%20test";
    let (status, body) = client
        .request(Method::GET, export, "text/plain", Vec::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    let filler = tmpfs.fill();
    // The log's own last page may still hold an entry or two: audited
    // requests with the shortest entry (no side effect) until one cannot be
    // recorded. From then on no entry fits (the others are longer).
    let shortest = "/v1/audit?purpose=abc";
    let mut tries = 0;
    loop {
        let (status, answer) = client
            .request(Method::GET, shortest, "text/plain", Vec::new())
            .await
            .unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        tries += 1;
        assert!(tries < 100, "the disk never filled up");
    }
    println!("{tries} entries fitted after the file system was full");
    let withdrawal = br#"{"source_refs": ["FULL-1"], "reason": "entered in error"}"#.to_vec();
    let queued = client.status().await.unwrap().partners[0].queued_upto;
    for attempt in 0..3 {
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/crossings/withdrawals",
                withdrawal.clone(),
            ),
            (Method::GET, export, Vec::new()),
        ] {
            let (status, answer) = client
                .request(method, path, "application/json", body)
                .await
                .unwrap();
            let answer = String::from_utf8_lossy(&answer);
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{path} (attempt {attempt}): {answer}"
            );
            assert!(
                answer.contains("cannot be recorded in the audit log"),
                "{answer}"
            );
            assert!(answer.contains("nothing was read or done"), "{answer}");
        }
        // Nothing was done: no deletion queued for the partner.
        assert_eq!(
            client.status().await.unwrap().partners[0].queued_upto,
            queued
        );
        // The log on the full disk is still a valid chain.
        let (ok, text) = verify(&log);
        assert!(
            ok,
            "audit verify while the disk is full (attempt {attempt}): {text}"
        );
    }

    std::fs::remove_file(&filler).unwrap();
    let report = client
        .withdraw(&entrex::ingest::WithdrawRequest {
            source_refs: vec!["FULL-1".into()],
            reason: "entered in error".into(),
        })
        .await
        .unwrap();
    println!("{report:?}");
    assert_eq!(
        client.status().await.unwrap().partners[0].queued_upto,
        queued + 1
    );
    let (status, body) = client
        .request(Method::GET, export, "text/plain", Vec::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let head = client.status().await.unwrap().audit.unwrap();
    entrex::demo::settle(&[&client, &us.client()])
        .await
        .unwrap();
    ca.shutdown().await;
    us.shutdown().await;

    let out = crate::support::entrex(&[
        "audit",
        "verify",
        log.to_str().unwrap(),
        "--head",
        &head.hash,
    ]);
    assert!(out.status.success(), "{}", crate::support::text(&out));
    // What was refused is not in the log as done: one withdrawal allowed.
    let withdrawals = entries(&log)
        .into_iter()
        .filter(|e| e["action"] == "POST /v1/crossings/withdrawals" && e["outcome"] == "allowed")
        .count();
    assert_eq!(withdrawals, 1);

    // A crash in the middle of a write leaves a torn tail: the hub starts,
    // cuts it off and records the repair, and the log verifies.
    let mut torn = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut torn, br#"{"seq":99,"at":17900"#).unwrap();
    drop(torn);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ca = Hub::start(ca_settings, listener)
        .await
        .expect("a hub whose audit log has a torn tail starts");
    let (status, body) = ca
        .client()
        .request(
            Method::GET,
            "/v1/audit?purpose=repair%20check",
            "text/plain",
            Vec::new(),
        )
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("audit log repair") && body.contains("20 bytes after entry"),
        "{body}"
    );
    ca.shutdown().await;
    let (ok, text) = verify(&log);
    assert!(ok, "{text}");
}
