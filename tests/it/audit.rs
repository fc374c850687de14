//! The audit log under attack and misfortune (issue 10): refusals without a
//! credential cannot fill the disk (#7).

use std::path::Path;

use entrex::hub::Hub;
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
