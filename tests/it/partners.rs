//! A hub with two partners: Canada exchanges with the US and with Mexico,
//! three real hubs over mutual TLS on loopback. Each partner has its own
//! sequence and chain, its own signing key and pinned certificate, its own
//! queue (Mexico's smaller) and its own eligibility rules (the agreement
//! with Mexico never shares Mexican citizens but may share a US citizen's
//! entry, which the US must never get). Mexico goes down: the US stream
//! goes on, Mexico's queue waits and drains when it is back. The joint
//! report over the three hubs and the data the dashboard draws show both
//! partners.

use std::time::{Duration, Instant};

use entrex::bundle::{self, Keyring, Opened};
use entrex::demo::{HubPlan, PartnerPlan, prepare_hubs};
use entrex::hub::Hub;
use entrex::record::Entry;
use entrex::report::Status;
use hyper::{Method, StatusCode};

use crate::support::{entrex, text};

const HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// Entries into Canada: a German (for both partners), a US citizen (for
/// Mexico only), a Mexican (for the US only), a Canadian (for nobody).
const CA_ENTRIES: &str = "
CA-1,Müller,Hans,,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-20T10:00:00Z,0427,VEHICLE,2027-05-20
CA-2,Smith,John,,1971-03-02,M,USA,,,P,US1234567,USA,2026-11-20T11:00:00Z,0427,VEHICLE,2027-05-20
CA-3,García López,José,,1979-12-31,M,MEX,,,P,G12345678,MEX,2026-11-20T12:00:00Z,0708,FERRY,2027-05-20
CA-4,Tremblay,Marie,,1990-01-05,F,CAN,,,P,AB123456,CAN,2026-11-20T13:00:00Z,0427,VEHICLE,
";

/// Posted while Mexico is down: a Swede (both partners), a US citizen (Mexico).
const CA_LATE: &str = "
CA-5,Lindqvist,Anna,,1983-02-11,F,SWE,,,P,L0000001,SWE,2026-11-21T09:00:00Z,0427,VEHICLE,2027-05-20
CA-6,Brown,Emily,,1985-06-07,F,USA,,,P,US7654321,USA,2026-11-21T10:00:00Z,0453,BUS,2027-05-20
";

/// Entries into the US: the German leaving Canada, and a French traveller.
const US_ENTRIES: &str = "
US-1,Müller,Hans,,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-22T10:00:00Z,3004,VEHICLE,2027-05-20
US-2,Dubois,Claire,,1988-09-09,F,FRA,,,P,FR998877,FRA,2026-11-22T11:00:00Z,3004,VEHICLE,2027-05-20
";

/// Entries into Mexico: the US citizen leaving Canada (shared with Canada
/// under the Mexico–Canada rules) and a Mexican coming home (never shared).
const MX_ENTRIES: &str = "
MX-1,Smith,John,,1971-03-02,M,USA,,,P,US1234567,USA,2026-11-22T15:00:00Z,2001,VEHICLE,2027-05-20
MX-2,García López,José,,1979-12-31,M,MEX,,,P,G12345678,MEX,2026-11-22T16:00:00Z,2001,VEHICLE,
";

fn csv(rows: &str) -> Vec<u8> {
    format!("{HEADER}{rows}").into_bytes()
}

/// Each partner's own rules: never its own citizens nor Canada's.
fn rules(citizens_of: &str) -> String {
    format!(
        "[partner.eligibility]\ncomponent = \"builtin:phase2-eligibility\"\nconfig = {{ ports = \"*\", citizens_of = {citizens_of} }}"
    )
}

async fn status(client: &entrex::client::Client) -> Status {
    client.status().await.unwrap()
}

fn partner<'s>(status: &'s Status, id: &str) -> &'s entrex::report::PartnerStatus {
    status
        .partners
        .iter()
        .find(|p| p.partner == id)
        .unwrap_or_else(|| panic!("{} has no partner {id}", status.hub))
}

/// The document numbers of the records in `dir`'s bundles (verified).
fn shared_documents(dir: &std::path::Path, keyring: &Keyring) -> Vec<String> {
    let mut out = Vec::new();
    for path in entrex::verify::expand(&[dir.to_owned()]).unwrap() {
        let bytes = std::fs::read(&path).unwrap();
        if let (_, Opened::Bundle(b)) = bundle::open_any(&bytes, keyring).unwrap() {
            for e in b.records {
                if let Entry::Record(r) = e {
                    out.push(r.document_number);
                }
            }
        }
    }
    out.sort();
    out
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < deadline, "waited 120 s for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canada_with_two_partners_keeps_their_streams_apart_and_reports_both() {
    let dir = tempfile::tempdir().unwrap();
    let plans = [
        HubPlan::new(
            "CA",
            "ca-normaliser",
            &[
                PartnerPlan::new("US"),
                PartnerPlan::new("MX")
                    .with("max_queue_records = 5000")
                    .with(&rules(r#"["CAN", "MEX"]"#)),
            ],
        ),
        HubPlan::new("US", "ca-normaliser", &[PartnerPlan::new("CA")]),
        HubPlan::new(
            "MX",
            "ca-normaliser",
            &[PartnerPlan::new("CA").with(&rules(r#"["CAN", "MEX"]"#))],
        ),
    ];
    let mut prepared = prepare_hubs(dir.path(), &plans).await.unwrap();
    let (mx_settings, mx_listener, _) = prepared.pop().unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    let mx_addr = mx_listener.local_addr().unwrap();
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let mx = Hub::start(mx_settings.clone(), mx_listener).await.unwrap();
    let (ca_client, us_client) = (ca.client(), us.client());
    let mut mx_client = mx.client();

    let ingest = ca_client
        .post_crossings("text/csv", csv(CA_ENTRIES))
        .await
        .unwrap();
    assert_eq!(
        (ingest.accepted, ingest.shared, ingest.withheld),
        (4, 3, 1),
        "{ingest:?}"
    );
    us_client
        .post_crossings("text/csv", csv(US_ENTRIES))
        .await
        .unwrap();
    let mx_ingest = mx_client
        .post_crossings("text/csv", csv(MX_ENTRIES))
        .await
        .unwrap();
    assert_eq!(
        (mx_ingest.shared, mx_ingest.withheld),
        (1, 1),
        "{mx_ingest:?}"
    );
    entrex::demo::settle(&[&ca_client, &us_client, &mx_client])
        .await
        .unwrap();

    // Each partner its own sequence, from 1, with what its rules allow.
    let s = status(&ca_client).await;
    assert_eq!(
        s.partners
            .iter()
            .map(|p| p.partner.as_str())
            .collect::<Vec<_>>(),
        ["US", "MX"]
    );
    assert_eq!(
        (partner(&s, "US").queued_upto, partner(&s, "US").sent_upto),
        (2, 2)
    );
    assert_eq!(
        (partner(&s, "MX").queued_upto, partner(&s, "MX").sent_upto),
        (2, 2)
    );
    assert_eq!(partner(&s, "US").received_upto, 2);
    assert_eq!(partner(&s, "MX").received_upto, 1);
    // Mexico's exit of the US citizen is linked to his entry into Canada.
    assert_eq!(partner(&s, "MX").matched, 1, "{s:?}");
    assert!(
        s.plugins
            .iter()
            .any(|p| p.plugin == "phase2-eligibility (for MX)"),
        "{:?}",
        s.plugins
    );

    // What each received, checked from the evidence with each hub's own key.
    let keys = dir.path().join("keys");
    let mut keyring = Keyring::default();
    for hub in ["CA", "US", "MX"] {
        let pem = keys.join(format!("{}.pub.pem", hub.to_ascii_lowercase()));
        keyring.add(hub, entrex::keys::load_public_key(&pem).unwrap());
    }
    let evidence = dir.path().join("ca/evidence");
    assert_eq!(
        shared_documents(&evidence.join("to-US"), &keyring),
        ["C01X00T47", "G12345678"],
        "the US gets the German and the Mexican, never the US citizen"
    );
    assert_eq!(
        shared_documents(&evidence.join("to-MX"), &keyring),
        ["C01X00T47", "US1234567"],
        "Mexico gets the German and the US citizen, never the Mexican"
    );
    assert_eq!(
        shared_documents(&dir.path().join("mx/evidence/to-CA"), &keyring),
        ["US1234567"]
    );

    // A partner's bundle comes only over its own pinned certificate: the
    // US's bundle, delivered with Mexico's certificate, is refused.
    let us_bundle = std::fs::read(evidence.join("from-US/bundle-000000000001.cose")).unwrap();
    let (code, body) = ca
        .client_as(&mx)
        .request(
            Method::POST,
            "/v1/partner/bundles",
            bundle::MEDIA_TYPE,
            us_bundle,
        )
        .await
        .unwrap();
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Mexico goes down. The US stream goes on; Mexico's queue waits.
    mx.shutdown().await;
    let late = ca_client
        .post_crossings("text/csv", csv(CA_LATE))
        .await
        .unwrap();
    assert_eq!(late.shared, 2, "{late:?}");
    wait_for(
        "the US to take its records while Mexico is down",
        async || {
            let s = status(&ca_client).await;
            partner(&s, "US").sent_upto == 3 && partner(&s, "MX").delivery_error.is_some()
        },
    )
    .await;
    let s = status(&ca_client).await;
    assert_eq!(partner(&s, "MX").backlog, 2, "{s:?}");
    assert_eq!(partner(&s, "US").backlog, 0, "{s:?}");
    let (code, body) = ca_client
        .request(Method::GET, "/readyz", "application/json", Vec::new())
        .await
        .unwrap();
    let readiness: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(code.is_success() || code == StatusCode::SERVICE_UNAVAILABLE);
    let check = |name: &str| {
        readiness["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {readiness}"))
            .clone()
    };
    // Readiness names each partner apart: the US delivers, Mexico does not
    // (it fails readiness once the failures outlast its grace period).
    assert_eq!(check("partner:US")["ok"], true, "{readiness}");
    assert!(
        check("partner:MX")["detail"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{readiness}"
    );
    assert!(
        check("queue:MX")["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 of 5000"),
        "{readiness}"
    );
    // Each queue against its own capacity.
    let (_, metrics) = ca_client
        .request(Method::GET, "/metrics", "text/plain", Vec::new())
        .await
        .unwrap();
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    for line in [
        "entrex_queue_capacity_records{partner=\"MX\"} 5000",
        "entrex_queue_capacity_records{partner=\"US\"} 10000000",
        "entrex_queue_depth_records{partner=\"MX\"} 2",
        "entrex_queue_depth_records{partner=\"US\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }

    // Mexico is back on the same address: its queue drains, in sequence.
    let listener = tokio::net::TcpListener::bind(mx_addr).await.unwrap();
    let mx = Hub::start(mx_settings, listener).await.unwrap();
    mx_client = mx.client();
    entrex::demo::settle(&[&ca_client, &us_client, &mx_client])
        .await
        .unwrap();
    let s = status(&ca_client).await;
    assert_eq!(
        (partner(&s, "MX").queued_upto, partner(&s, "MX").sent_upto),
        (4, 4)
    );
    assert_eq!(partner(&s, "US").sent_upto, 3);
    assert_eq!(partner(&status(&mx_client).await, "CA").received_upto, 4);

    // Offline, every stream of the three hubs verifies as a chain from 1.
    let mut args = vec!["verify".to_owned()];
    for hub in ["ca", "us", "mx"] {
        args.push(dir.path().join(hub).join("evidence").display().to_string());
    }
    for hub in ["CA", "US", "MX"] {
        args.push("--key".into());
        args.push(format!(
            "{hub}={}",
            keys.join(format!("{}.pub.pem", hub.to_ascii_lowercase()))
                .display()
        ));
    }
    let verify = entrex(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(verify.status.success(), "{}", text(&verify));
    let out = String::from_utf8_lossy(&verify.stdout);
    for (stream, range) in [
        ("CA → US: ", "sequence 1..=3 gap-free"),
        ("CA → MX: ", "sequence 1..=4 gap-free"),
        ("US → CA: ", "sequence 1..=2 gap-free"),
        ("MX → CA: ", "sequence 1..=1 gap-free"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("OK   chain {stream}")) && l.contains(range)),
            "{stream}{range} not in\n{out}"
        );
    }

    // The joint report over the three hubs: every direction, both sides.
    let file = |p: &str| dir.path().join(p).display().to_string();
    let mut args: Vec<String> = ["report", "--format", "csv"].map(String::from).to_vec();
    for (hub, addr) in [("ca", ca.addr), ("us", us.addr), ("mx", mx.addr)] {
        args.extend([
            "--hub".into(),
            format!("https://{addr}"),
            "--hub-cert".into(),
            file(&format!("keys/{hub}.cert.pem")),
            "--client-cert".into(),
            file(&format!("keys/{hub}.cert.pem")),
            "--client-key".into(),
            file(&format!("keys/{hub}.tls.key.pem")),
        ]);
    }
    let report = tokio::task::spawn_blocking(move || {
        entrex(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(report.status.success(), "{}", text(&report));
    let csv_out = String::from_utf8(report.stdout).unwrap();
    println!("{csv_out}");
    for total in [
        "total,,*,CA→MX,4,4,",
        "total,,*,CA→US,3,3,",
        "total,,*,MX→CA,1,1,1,0,1.0000,",
        "total,,*,US→CA,2,2,",
    ] {
        assert!(
            csv_out.lines().any(|l| l.starts_with(total)),
            "{total:?} not in\n{csv_out}"
        );
    }

    // The dashboard's data: both partners in the status and in the
    // reconciliation breakdown it charts.
    let s = status(&ca_client).await;
    for p in ["US", "MX"] {
        let p = partner(&s, p);
        assert!(
            p.last_bundle_sent.is_some() && p.last_bundle_received.is_some(),
            "{p:?}"
        );
    }
    let (code, body) = ca_client
        .request(
            Method::GET,
            "/v1/report/breakdown",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::OK);
    let breakdown: entrex::report::Breakdown = serde_json::from_slice(&body).unwrap();
    let partners: Vec<(&str, u64)> = breakdown
        .partners
        .iter()
        .map(|p| (p.partner.as_str(), p.total.exit_records_received))
        .collect();
    assert_eq!(partners, [("US", 2), ("MX", 1)]);

    ca.shutdown().await;
    us.shutdown().await;
    mx.shutdown().await;
}
