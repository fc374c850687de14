//! Mutual TLS between hubs: bundles flow over it; the partner endpoint takes
//! bundles only over a connection that presented the sending partner's pinned
//! certificate; a hub that pins the wrong certificate does not deliver; plain
//! HTTP needs `allow_plain_http`.

use std::path::Path;
use std::time::{Duration, Instant};

use entrex::client::Client;
use entrex::config::Settings;
use entrex::hub::Hub;
use hyper::{Method, StatusCode};

use crate::support::start_pair;

const CSV: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until
CA-1,Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20
CA-2,Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z1234567,IND,2026-11-21T11:00:00-05:00,0453,BUS,
";

fn batch() -> Vec<u8> {
    CSV.as_bytes().to_vec()
}

/// The last bundle a hub sent to `partner`, from its evidence files.
fn last_bundle(hub: &Hub, partner: &str) -> Vec<u8> {
    let dir = hub.core.evidence_dir().join(format!("to-{partner}"));
    let mut bundles: Vec<_> = std::fs::read_dir(&dir)
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
    std::fs::read(bundles.last().expect("a bundle was sent")).unwrap()
}

/// A valid next bundle from CA to US: signed by CA, continuing US's inbox
/// and the chain. Stored if it gets through.
fn next_bundle_from_ca(ca: &Hub, us: &Hub) -> Vec<u8> {
    let next = us.core.store.inbox_last("CA").unwrap() + 1;
    let record = us.core.store.inbox_from("CA", 1, 1).unwrap()[0].1.clone();
    let prev = entrex::bundle::sha256(&last_bundle(ca, "US"));
    entrex::bundle::seal_bundle(
        &ca.core.signer,
        &entrex::bundle::BundlePayload::new("CA", "US", next, 0, prev, vec![record]),
    )
}

async fn post_bundle(client: &Client, bundle: Vec<u8>) -> (StatusCode, String) {
    let (status, body) = client
        .request(
            Method::POST,
            "/v1/partner/bundles",
            entrex::bundle::MEDIA_TYPE,
            bundle,
        )
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Edits a config file written by `prepare_pair`.
fn edit(path: &Path, replacements: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{from:?} not in {}", path.display());
        text = text.replace(from, to);
    }
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_flow_between_hubs_over_mutual_tls() {
    let pair = start_pair().await;
    assert!(pair.ca.core.tls.is_some() && pair.us.core.tls.is_some());
    for hub in [&pair.ca, &pair.us] {
        let url = &hub.core.settings.partners[0].url;
        assert!(url.starts_with("https://"), "{url}");
    }
    pair.ca_client
        .post_crossings("text/csv", batch())
        .await
        .unwrap();
    pair.settle().await;
    assert_eq!(pair.us.core.store.inbox_last("CA").unwrap(), 2);
    let status = pair.ca_client.status().await.unwrap();
    assert_eq!(status.partners[0].delivery_error, None, "{status:#?}");

    // The hub speaks only TLS: a plain HTTP client gets nowhere.
    let plain = Client::new(format!("http://{}", pair.ca.addr));
    assert!(plain.status().await.is_err());
    // A client that pins another certificate refuses the hub.
    let us_cert = pair.us.core.tls.as_ref().unwrap().identity.certificate();
    let wrong_pin =
        Client::pinned(format!("https://{}", pair.ca.addr), us_cert.clone(), None).unwrap();
    let err = wrong_pin.status().await.unwrap_err().to_string();
    assert!(err.contains("is not the one pinned for"), "{err}");
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_bundles_need_the_senders_pinned_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (_, us_listener, us_path) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    // The US hub has a second partner, MX: a configured partner, but not CA.
    let keys = dir.path().join("keys");
    entrex::keys::generate(&keys, "mx").unwrap();
    entrex::tls::generate(&keys, "mx", &[]).unwrap();
    entrex::tls::generate(&keys, "stranger", &[]).unwrap();
    let mut text = std::fs::read_to_string(&us_path).unwrap();
    text.push_str(
        r#"
[[partner]]
id = "MX"
url = "https://127.0.0.1:9/v1/partner/bundles"
public_key = "keys/mx.pub.pem"
tls_cert = "keys/mx.cert.pem"
"#,
    );
    std::fs::write(&us_path, text).unwrap();
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(Settings::load(&us_path).unwrap(), us_listener)
        .await
        .unwrap();
    ca.client()
        .post_crossings("text/csv", batch())
        .await
        .unwrap();
    entrex::demo::settle(&[&ca.client()]).await.unwrap();
    let stored = || us.core.store.inbox_last("CA").unwrap();
    assert_eq!(stored(), 2);
    let bundle = next_bundle_from_ca(&ca, &us);
    let us_url = format!("https://{}", us.addr);
    let us_cert = keys.join("us.cert.pem");

    // No credential at all: 401.
    let (status, text) = post_bundle(&us.anonymous_client(), bundle.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("no credential"), "{text}");

    // The hub's local administrators (source, analyst, operator) are not a partner: 403.
    let (status, text) = post_bundle(&us.client(), bundle.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("needs the partner role"), "{text}");

    // A certificate no partner is pinned to: 403, though it verifies in TLS.
    let stranger = Client::pinned_files(
        &us_url,
        &us_cert,
        Some((
            &keys.join("stranger.cert.pem"),
            &keys.join("stranger.tls.key.pem"),
        )),
    )
    .unwrap();
    let (status, text) = post_bundle(&stranger, bundle.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(
        text.contains("not the one pinned for any partner"),
        "{text}"
    );

    // MX is a partner, but the bundle is CA's: a hub delivers only its own.
    let mx = Client::pinned_files(
        &us_url,
        &us_cert,
        Some((&keys.join("mx.cert.pem"), &keys.join("mx.tls.key.pem"))),
    )
    .unwrap();
    let (status, text) = post_bundle(&mx, bundle.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        text.contains("authenticated as MX") && text.contains("signed by CA"),
        "{text}"
    );
    assert_eq!(stored(), 2, "nothing stored from a refused connection");

    // The same bundle over CA's own certificate is taken.
    let (status, text) = post_bundle(&us.client_as(&ca), bundle).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(stored(), 3);
    ca.shutdown().await;
    us.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_pinning_the_wrong_partner_certificate_does_not_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (_, ca_listener, ca_path) = prepared.pop().unwrap();
    // CA pins a certificate that is not the US hub's.
    entrex::tls::generate(&dir.path().join("keys"), "impostor", &[]).unwrap();
    edit(
        &ca_path,
        &[(
            r#"tls_cert = "keys/us.cert.pem""#,
            r#"tls_cert = "keys/impostor.cert.pem""#,
        )],
    );
    let ca = Hub::start(Settings::load(&ca_path).unwrap(), ca_listener)
        .await
        .unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    ca.client()
        .post_crossings("text/csv", batch())
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let error = loop {
        let status = ca.client().status().await.unwrap();
        if let Some(error) = &status.partners[0].delivery_error {
            break error.clone();
        }
        assert!(Instant::now() < deadline, "no delivery error: {status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        error.contains("TLS") && error.contains("not the one pinned for US"),
        "{error}"
    );
    let status = ca.client().status().await.unwrap();
    assert_eq!(status.partners[0].sent_upto, 0, "{status:#?}");
    assert_eq!(status.partners[0].backlog, 2, "{status:#?}");
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 0);
    ca.shutdown().await;
    us.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_unless_allowed_for_development() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (_, us_listener, us_path) = prepared.pop().unwrap();
    let (_, ca_listener, ca_path) = prepared.pop().unwrap();
    let original = std::fs::read_to_string(&ca_path).unwrap();
    let parse = |text: &str| {
        Settings::parse(text, &ca_path)
            .map(drop)
            .map_err(|e| e.to_string())
    };

    // An http:// partner URL: refused, saying what to write.
    let err = parse(&original.replace("https://", "http://")).unwrap_err();
    for expected in [
        "partner[0].url",
        "plain HTTP",
        "https://127.0.0.1:",
        "allow_plain_http = true",
    ] {
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    // No certificate for the hub: refused, saying what to write.
    let no_cert = original
        .replace("tls_cert = \"keys/ca.cert.pem\"\n", "")
        .replace("tls_key = \"keys/ca.tls.key.pem\"\n", "");
    let err = parse(&no_cert).unwrap_err();
    for expected in [
        "hub.tls_cert",
        "tls_cert = ",
        "entrex keygen",
        "allow_plain_http = true",
    ] {
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    // A partner without its pinned certificate: refused.
    let err = parse(&original.replace("tls_cert = \"keys/us.cert.pem\"\n", "")).unwrap_err();
    assert!(
        err.contains("partner[0].tls_cert") && err.contains("pinned"),
        "{err}"
    );
    // An unknown key is still refused.
    let err = parse(&original.replace("tls_key", "tls_keyy")).unwrap_err();
    assert!(err.contains("tls_keyy"), "{err}");

    // Allowed for development: both hubs on plain HTTP, and bundles flow.
    for (path, me) in [(&ca_path, "ca"), (&us_path, "us")] {
        let cert = format!("tls_cert = \"keys/{me}.cert.pem\"\n");
        let key = format!("tls_key = \"keys/{me}.tls.key.pem\"\n");
        edit(
            path,
            &[
                (cert.as_str(), "allow_plain_http = true\n"),
                (key.as_str(), ""),
                ("https://", "http://"),
                // Without TLS no client certificate can be presented; the
                // test's clients go without credentials, as in development.
                (
                    "[[access.client_cert]]",
                    "[access]\nallow_anonymous = true\n\n[[access.client_cert]]",
                ),
            ],
        );
    }
    let settings = Settings::load(&ca_path).unwrap();
    let warning = entrex::tls::plain_http_warning(&settings).unwrap();
    assert!(warning.starts_with("PLAIN HTTP"), "{warning}");
    let ca = Hub::start(settings, ca_listener).await.unwrap();
    let us = Hub::start(Settings::load(&us_path).unwrap(), us_listener)
        .await
        .unwrap();
    assert!(ca.core.tls.is_none());
    let (ca_client, us_client) = (ca.client(), us.client());
    ca_client.post_crossings("text/csv", batch()).await.unwrap();
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 2);
    ca.shutdown().await;
    us.shutdown().await;
}
