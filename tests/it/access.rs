//! Access control and audit on real hubs over mutual TLS: every endpoint by
//! every kind of caller (the role matrix), purposes on personal data, and an
//! audit log whose edits `entrex audit verify` finds.

use entrex::auth::{Role, TokenEntry};
use entrex::client::Client;
use entrex::hub::Hub;
use hyper::{Method, StatusCode};

struct Caller {
    name: &'static str,
    roles: Vec<Role>,
    client: Client,
}

fn token(name: &str, roles: &[Role]) -> (String, TokenEntry) {
    let (token, hash) = entrex::auth::new_token();
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(&hex::decode(hash).unwrap());
    (
        token,
        TokenEntry {
            name: name.into(),
            roles: roles.to_vec(),
            sha256,
        },
    )
}

/// (method, path, the role it needs; None = any caller with a credential).
const ENDPOINTS: &[(&str, &str, Option<Role>)] = &[
    ("POST", "/v1/crossings", Some(Role::Source)),
    ("POST", "/v1/crossings/withdrawals", Some(Role::Source)),
    ("POST", "/v1/partner/bundles", Some(Role::Partner)),
    ("GET", "/v1/status", Some(Role::Operator)),
    ("GET", "/v1/report", Some(Role::Analyst)),
    (
        "GET",
        "/v1/quarantine?purpose=access%20matrix",
        Some(Role::Operator),
    ),
    ("POST", "/v1/quarantine/retry", Some(Role::Operator)),
    ("POST", "/v1/plugins/reload", Some(Role::Operator)),
    (
        "GET",
        "/v1/persons/export?document_country=DEU&document_number=C01X00T47&purpose=access%20matrix",
        Some(Role::Analyst),
    ),
    (
        "GET",
        "/v1/audit?purpose=access%20matrix",
        Some(Role::Operator),
    ),
    ("GET", "/healthz", None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_admits_exactly_its_roles_and_the_audit_log_shows_who_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (mut us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    let (source, source_entry) = token("port-systems-1", &[Role::Source]);
    let (analyst, analyst_entry) = token("analyst-1", &[Role::Analyst]);
    let (operator, operator_entry) = token("operator-1", &[Role::Operator]);
    us_settings.access.tokens = vec![source_entry, analyst_entry, operator_entry];
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();

    let callers = vec![
        Caller {
            name: "no credential",
            roles: vec![],
            client: us.anonymous_client(),
        },
        Caller {
            name: "wrong token",
            roles: vec![],
            client: us.anonymous_client().with_token("0".repeat(64)),
        },
        Caller {
            name: "source token",
            roles: vec![Role::Source],
            client: us.anonymous_client().with_token(source),
        },
        Caller {
            name: "analyst token",
            roles: vec![Role::Analyst],
            client: us.anonymous_client().with_token(analyst.clone()),
        },
        Caller {
            name: "operator token",
            roles: vec![Role::Operator],
            client: us.anonymous_client().with_token(operator.clone()),
        },
        Caller {
            name: "partner certificate",
            roles: vec![Role::Partner],
            client: us.client_as(&ca),
        },
    ];
    let body = |path: &str| -> Vec<u8> {
        match path {
            "/v1/crossings/withdrawals" => br#"{"source_refs": [], "reason": "matrix"}"#.to_vec(),
            "/v1/partner/bundles" => b"not a bundle".to_vec(),
            _ => Vec::new(),
        }
    };
    println!(
        "{:<48} no-cred  bad-tok  source  analyst  operator  partner",
        "endpoint"
    );
    let mut checked = 0;
    for (method, path, needs) in ENDPOINTS {
        let mut row = format!(
            "{:<48}",
            format!("{method} {}", path.split('?').next().unwrap())
        );
        for caller in &callers {
            let method: Method = method.parse().unwrap();
            let (status, text) = caller
                .client
                .request(method, path, "application/json", body(path))
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&text);
            let expected = if caller.roles.is_empty() {
                Some(StatusCode::UNAUTHORIZED)
            } else if needs.is_none_or(|r| caller.roles.contains(&r)) {
                None
            } else {
                Some(StatusCode::FORBIDDEN)
            };
            match expected {
                Some(code) => {
                    assert_eq!(status, code, "{} → {path}: {text}", caller.name);
                    assert!(text.contains("\"error\""), "a body that says why: {text}");
                }
                None => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{} → {path} should be admitted: {status} {text}",
                    caller.name
                ),
            }
            row.push_str(&format!(" {:>7}", status.as_u16()));
            checked += 1;
        }
        println!("{row}");
    }
    assert_eq!(checked, ENDPOINTS.len() * callers.len());

    // Personal data without a stated purpose: refused, saying how to state it.
    let (status, text) = callers[3]
        .client
        .request(
            Method::GET,
            "/v1/persons/export?document_country=DEU&document_number=C01X00T47",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&text).contains("purpose="));

    // The audit log names who read personal data and why, and the refusals.
    let (status, log) = callers[4]
        .client
        .request(
            Method::GET,
            "/v1/audit?purpose=review",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let log: serde_json::Value = serde_json::from_slice(&log).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let export_by_analyst = entries.iter().find(|e| {
        e["who"] == "analyst-1"
            && e["action"] == "GET /v1/persons/export"
            && e["outcome"] == "allowed"
    });
    let export = export_by_analyst.expect("the analyst's export is logged");
    assert_eq!(export["purpose"], "access matrix");
    assert_eq!(
        export["target"],
        "document_country=DEU&document_number=C01X00T47"
    );
    assert!(entries.iter().any(|e| e["who"] == "port-systems-1"
        && e["action"] == "GET /v1/persons/export"
        && e["outcome"].as_str().unwrap().starts_with("denied (403)")));
    assert!(entries.iter().any(|e| e["who"] == "unauthenticated"
        && e["outcome"].as_str().unwrap().starts_with("denied (401)")));
    let head = us.client().status().await.unwrap().audit.unwrap();

    let data_dir = us.core.settings.data_dir.clone();
    ca.shutdown().await;
    us.shutdown().await;

    // Offline: intact, then edited, then cut short.
    let path = data_dir.join("audit.log");
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_entrex"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = verify(&["--head", &head.hash]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{} entries", head.entries)),
        "{text}"
    );

    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replacen(
        "\"purpose\":\"access matrix\"",
        "\"purpose\":\"routine\"",
        1,
    );
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();
    let (ok, text) = verify(&[]);
    assert!(!ok && text.contains("edited"), "{text}");

    let mut lines: Vec<&str> = original.lines().collect();
    lines.remove(2);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (ok, text) = verify(&[]);
    assert!(!ok && text.contains("line 3"), "{text}");

    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(&path, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let (ok, _) = verify(&[]);
    assert!(ok, "a shorter chain is a valid chain by itself");
    let (ok, text) = verify(&["--head", &head.hash]);
    assert!(!ok && text.contains("cut off the end"), "{text}");
}

const CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// Retention: records past their period are purged on both hubs, keeping only
/// what the evidence chain needs, and the chain still verifies end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_deletes_expired_records_and_the_evidence_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (mut us_settings, us_listener, _) = prepared.pop().unwrap();
    let (mut ca_settings, ca_listener, _) = prepared.pop().unwrap();
    ca_settings.retention.crossings_days = 365;
    ca_settings.retention.raw_days = 30;
    us_settings.retention.received_days = 365;
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let (ca_client, us_client) = (ca.client(), us.client());
    let post = |rows: &[&str]| {
        let batch = format!("{CSV_HEADER}\n{}\n", rows.join("\n")).into_bytes();
        let client = ca_client.clone();
        async move { client.post_crossings("text/csv", batch).await.unwrap() }
    };
    // Two crossings from January 2025 (past a 365-day retention), then one from
    // November 2026: two bundles.
    post(&[
        "OLD-1,Lindqvist,Sara,,1981-03-03,F,SWE,,,P,SE1234567,SWE,2025-01-05T10:00:00Z,0427,VEHICLE,",
        "OLD-2,Novak,Petr,,1977-07-07,M,CZE,,,P,CZ7654321,CZE,2025-01-06T11:00:00Z,0427,VEHICLE,",
    ])
    .await;
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    post(&[
        "NEW-1,Haddad,Rania,,1992-02-02,F,LBN,,,P,RL1234567,LBN,2026-11-21T15:10:00Z,0427,VEHICLE,",
    ])
    .await;
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 3);

    for client in [&ca_client, &us_client] {
        let (status, body) = client
            .request(
                Method::POST,
                "/v1/retention/purge",
                "application/json",
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    // CA: the old crossings and their raw input are gone, the new one stays.
    let purpose = "retention check";
    assert!(
        ca_client
            .person_export("SWE", "SE1234567", purpose)
            .await
            .unwrap()
            .crossings
            .is_empty()
    );
    let kept = ca_client
        .person_export("LBN", "RL1234567", purpose)
        .await
        .unwrap();
    assert_eq!(kept.crossings.len(), 1);
    // US: the partner's old records are gone, the new one stays.
    assert!(
        us_client
            .person_export("CZE", "CZ7654321", purpose)
            .await
            .unwrap()
            .received
            .is_empty()
    );
    assert_eq!(
        us_client
            .person_export("LBN", "RL1234567", purpose)
            .await
            .unwrap()
            .received
            .len(),
        1
    );

    // Evidence: the first bundle is kept as its signed head on both sides, and
    // the chain verifies across the purged bundle.
    for side in [
        ca.core.evidence_dir().join("to-US"),
        us.core.evidence_dir().join("from-CA"),
    ] {
        assert!(
            side.join("head-000000000001.cose").exists(),
            "{}",
            side.display()
        );
        assert!(
            !side.join("bundle-000000000001.cose").exists(),
            "{}",
            side.display()
        );
        assert!(
            side.join("bundle-000000000003.cose").exists(),
            "{}",
            side.display()
        );
    }
    let mut keyring = entrex::bundle::Keyring::default();
    keyring.add("CA", ca.core.signer.verifying_key());
    keyring.add("US", us.core.signer.verifying_key());
    let dirs = [ca.core.evidence_dir(), us.core.evidence_dir()];
    let files = entrex::verify::expand(&dirs).unwrap();
    let (outcomes, chains) = entrex::verify::verify_files(&files, &keyring);
    for o in &outcomes {
        assert!(o.result.is_ok(), "{}: {:?}", o.path.display(), o.result);
    }
    assert!(
        chains.iter().any(|c| c
            .as_ref()
            .is_ok_and(|l| l.starts_with("CA → US: 2 bundles, sequence 1..=3 gap-free"))),
        "{chains:?}"
    );
    assert!(chains.iter().all(|c| c.is_ok()), "{chains:?}");

    // The exchange goes on, chained to what is left.
    post(&["NEW-2,Ito,Ken,,1980-01-01,M,JPN,,,P,TK1234567,JPN,2026-11-21T15:20:00Z,0427,VEHICLE,"])
        .await;
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 4);
    ca.shutdown().await;
    us.shutdown().await;
}
