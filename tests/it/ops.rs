//! Operating a hub: what monitoring sees (`/metrics`, `/readyz`), JSON logs,
//! and a SIGTERM that lets the request in flight finish.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use entrex::client::Client;
use entrex::health::Readiness;
use entrex::hub::Hub;
use hyper::{Method, StatusCode};

use crate::support::{free_port, healthy, plain_config, start_pair};

const CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// Entries into Canada under ids `{prefix}-1`...: two shared, one citizen
/// withheld, two malformed (a missing field, a date that does not exist).
fn cbsa_batch(prefix: &str) -> Vec<u8> {
    let rows = [
        "Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20",
        "Tremblay,Marie,,1975-01-02,F,CAN,,,P,HK123456,CAN,2026-11-21T10:05:00Z,0427,VEHICLE,",
        "Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z1234567,IND,2026-11-21T11:00:00-05:00,0453,BUS,",
        "Nguyen,Van,,1985-01-01,M,VNM,,,P,B1234567,VNM,2026-11-21T12:00:00Z,0427",
        "Kim,Min,,1990-02-30,F,KOR,,,P,M12345678,KOR,2026-11-21T12:00:00Z,0427,VEHICLE,",
    ];
    let rows: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| format!("{prefix}-{},{row}", i + 1))
        .collect();
    format!("{CSV_HEADER}\n{}\n", rows.join("\n")).into_bytes()
}

/// The value of one sample of an OpenMetrics exposition, e.g.
/// `sample(text, "entrex_bundles_sent_total{partner=\"US\"}")`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(client: &Client) -> String {
    let (status, headers, body) = client
        .request_with_headers(Method::GET, "/metrics", "text/plain", Vec::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    String::from_utf8(body.to_vec()).unwrap()
}

async fn readiness(client: &Client) -> (StatusCode, Readiness) {
    let (status, body) = client
        .request(Method::GET, "/readyz", "application/json", Vec::new())
        .await
        .unwrap();
    let readiness = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (status, readiness)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_agree_with_the_status_and_count_deliveries_and_plugins() {
    let pair = start_pair().await;
    let report = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batch("M"))
        .await
        .unwrap();
    assert_eq!((report.accepted, report.rejected), (3, 2));
    pair.settle().await;

    let ca = metrics(&pair.ca_client).await;
    assert!(ca.ends_with("# EOF\n"), "{ca}");
    let status = pair.ca_client.status().await.unwrap();
    let us_status = pair.us_client.status().await.unwrap();
    for (series, expected) in [
        ("entrex_records_accepted_total", status.accepted),
        ("entrex_records_rejected_total", status.rejected),
        ("entrex_records_shared_total", status.shared),
        ("entrex_quarantined_records", status.quarantined),
        ("entrex_index_rebuild_remaining_entries", 0),
        (
            "entrex_bundles_sent_total{partner=\"US\"}",
            status.partners[0].bundles_sent,
        ),
        ("entrex_queue_depth_records{partner=\"US\"}", 0),
    ] {
        assert_eq!(
            sample(&ca, series),
            Some(expected as f64),
            "{series} in\n{ca}"
        );
    }
    assert!(status.partners[0].bundles_sent >= 1);
    let withheld: f64 = status.withheld_by_reason.values().sum::<u64>() as f64;
    let reasons: f64 = ca
        .lines()
        .filter(|l| l.starts_with("entrex_records_withheld_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(reasons, withheld);
    assert!(withheld >= 1.0);
    // Rejections by the field at fault: two records, each counted once.
    let rejections: f64 = ca
        .lines()
        .filter(|l| l.starts_with("entrex_ingest_rejections_total{field="))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(rejections, 2.0, "{ca}");
    // Each delivery's latency was observed.
    let delivered = sample(&ca, "entrex_bundle_delivery_seconds_count{partner=\"US\"}");
    assert_eq!(delivered, Some(status.partners[0].bundles_sent as f64));
    // Plugins: the normaliser was called and spent time.
    let calls = sample(
        &ca,
        "entrex_plugin_calls_total{plugin=\"ca-normaliser\",kind=\"normaliser\"}",
    );
    assert!(calls.unwrap_or(0.0) >= 1.0, "{ca}");
    assert!(ca.contains("entrex_plugin_busy_seconds_total{plugin=\"ca-normaliser\""));
    assert!(ca.contains("entrex_http_requests_total{route=\"/v1/crossings\",status=\"200\"} 1"));

    // The receiving side: bundles received and the reconciliation ratio.
    let us = metrics(&pair.us_client).await;
    assert_eq!(
        sample(&us, "entrex_bundles_received_total{partner=\"CA\"}"),
        Some(us_status.partners[0].bundles_received as f64)
    );
    let examined = us_status.partners[0].match_cursor as f64;
    let ratio = sample(&us, "entrex_reconciliation_ratio{partner=\"CA\"}").unwrap();
    assert_eq!(ratio, us_status.partners[0].matched as f64 / examined);
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_with_the_check_at_fault_when_the_partner_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (mut ca_settings, ca_listener, _) = prepared.pop().unwrap();
    // Retry often, so readiness's grace (two of the longest retry waits)
    // passes in a test's time.
    ca_settings.exchange.retry_min_ms = 50;
    ca_settings.exchange.retry_max_ms = 100;
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let client = ca.client();

    let (status, ready) = readiness(&client).await;
    assert_eq!(status, StatusCode::OK, "{ready:?}");
    assert!(ready.ready && ready.failed.is_empty());
    let names: Vec<&str> = ready.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["store", "signing_key", "plugins", "partner:US", "queue:US"]
    );
    client
        .post_crossings("text/csv", cbsa_batch("R"))
        .await
        .unwrap();
    entrex::demo::settle(&[&client]).await.unwrap();
    let (_, ready) = readiness(&client).await;
    let partner = ready
        .checks
        .iter()
        .find(|c| c.name == "partner:US")
        .unwrap();
    assert!(
        partner.ok && partner.detail.contains("succeeded"),
        "{partner:?}"
    );

    us.shutdown().await;
    client
        .post_crossings("text/csv", cbsa_batch("S"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let (status, ready) = readiness(&client).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break ready;
        }
        assert!(Instant::now() < deadline, "still ready: {ready:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!ready.ready);
    assert_eq!(ready.failed, ["partner:US"], "{ready:?}");
    let partner = ready
        .checks
        .iter()
        .find(|c| c.name == "partner:US")
        .unwrap();
    assert!(
        partner.detail.contains("deliveries have failed"),
        "{partner:?}"
    );
    // The store, the key and the plugins are still fine, and say so.
    assert!(ready.checks.iter().filter(|c| c.ok).count() == 4);
    let text = metrics(&client).await;
    assert!(
        sample(&text, "entrex_delivery_failures_total{partner=\"US\"}").unwrap() >= 1.0,
        "{text}"
    );
    assert!(sample(&text, "entrex_queue_depth_records{partner=\"US\"}").unwrap() >= 1.0);
    ca.shutdown().await;
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = plain_config(dir.path(), port);
    let mut hub = std::process::Command::new(env!("CARGO_BIN_EXE_entrex"))
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    // The port is bound before the plugins are compiled: wait for an answer.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !healthy(&addr) {
        if let Some(status) = hub.try_wait().unwrap() {
            let mut logs = String::new();
            hub.stderr
                .take()
                .unwrap()
                .read_to_string(&mut logs)
                .unwrap();
            panic!("the hub exited ({status}) before serving:\n{logs}");
        }
        assert!(Instant::now() < deadline, "the hub did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    // Headers and half the body: the request is in flight.
    let body = cbsa_batch("T");
    let (first, rest) = body.split_at(body.len() / 2);
    write!(
        conn,
        "POST /v1/crossings HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(first).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let term = std::process::Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // The listener closes at once: new clients are refused, not left waiting.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight is finished and answered.
    conn.write_all(rest).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(report["accepted"], 3, "{report}");

    let status = hub.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut logs = String::new();
    hub.stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let events: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let said = |text: &str| {
        events
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains(text)))
    };
    assert!(said("hub started"), "{logs}");
    assert!(said("shutting down"), "{logs}");
    assert!(
        events
            .iter()
            .all(|e| e["level"].is_string() && e["timestamp"].is_string())
    );
    assert!(events.iter().any(|e| e["hub"] == "CA"), "{logs}");
}
