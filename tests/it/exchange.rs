//! Two hubs exchange records over HTTP: the partner stores exactly the eligible
//! records, each holding only the eleven shared elements; bad records are
//! rejected by field while the rest of their batch goes on; forged bundles are
//! refused.

use entrex::record::{PartialDate, Sex, SharedRecord};
use entrex_plugin_common::icao::{MrzDate, MrzParts, build_td3};
use hyper::{Method, StatusCode};

use crate::support::start_pair;

const CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// Entries into Canada, one per kind of case.
fn cbsa_batch() -> Vec<u8> {
    let rows = [
        // A third-country national by car: shared.
        "CA-1,Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20",
        // A Canadian citizen: never shared.
        "CA-2,Tremblay,Marie,,1975-01-02,F,CAN,,,P,HK123456,CAN,2026-11-21T10:05:00Z,0427,VEHICLE,",
        // A British passport holder who is also a US citizen: never shared.
        "CA-3,Smith,John,,1970-03-04,M,GBR,USA,,P,123456789,GBR,2026-11-21T10:10:00Z,0427,PEDESTRIAN,",
        // A US permanent resident of Indian nationality: shared.
        "CA-4,Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z1234567,IND,2026-11-21T11:00:00-05:00,0453,BUS,",
        // A cruise passenger: out of scope.
        "CA-5,Rossi,Giulia,,1990-05-06,F,ITA,,,P,YA1234567,ITA,2026-11-21T12:00:00Z,0427,SEA,",
        // Malformed: a field missing.
        "CA-6,Nguyen,Van,,1985-01-01,M,VNM,,,P,B1234567,VNM,2026-11-21T12:00:00Z,0427",
        // Malformed: no such country.
        "CA-7,Doe,Jane,,1985-01-01,F,ZZZ,,,P,X1234567,ZZZ,2026-11-21T12:00:00Z,0427,VEHICLE,",
        // Malformed: no such day.
        "CA-8,Kim,Min,,1990-02-30,F,KOR,,,P,M12345678,KOR,2026-11-21T12:00:00Z,0427,VEHICLE,",
        // A Canadian permanent resident of Mexican nationality by ferry: shared.
        "CA-9,García López,José,,1979-12-31,M,MEX,,CA-PR,P,G12345678,MEX,2026-11-21T13:30:00Z,0708,ferry,",
    ];
    format!("{CSV_HEADER}\n{}\n", rows.join("\n")).into_bytes()
}

fn passport(
    family: &str,
    given: &[&str],
    number: &str,
    state: &str,
    birth: (u8, u8, u8),
    sex: char,
) -> Vec<String> {
    let parts = MrzParts {
        document_code: "P",
        issuing_state: state,
        document_number: number,
        nationality: state,
        birth_date: MrzDate {
            yy: birth.0,
            month: Some(birth.1),
            day: Some(birth.2),
        },
        sex,
        expiry_date: MrzDate {
            yy: 31,
            month: Some(1),
            day: Some(15),
        },
        family_name: family,
        given_names: given,
        optional_data: "",
        optional_data_2: "",
    };
    build_td3(&parts).unwrap().to_vec()
}

/// Entries into the US.
fn cbp_batch() -> Vec<u8> {
    let mut bad = passport("ERIKSSON", &["ANNA"], "L898902C3", "SWE", (74, 8, 12), 'F');
    // Change the birth date's check digit only.
    let line = &mut bad[1];
    let digit = line.as_bytes()[19];
    let wrong = if digit == b'0' { '1' } else { '0' };
    line.replace_range(19..20, &wrong.to_string());
    let feed = serde_json::json!({
        "feed": "cbp-entry/1",
        "records": [
            {
                "event_id": "CBP-1",
                "mrz": passport("ERIKSSON", &["ANNA", "MARIA"], "L898902C3", "SWE", (74, 8, 12), 'F'),
                "inspected_at": "2026-11-21T09:00:00Z",
                "port": "3004",
                "mode": "vehicle",
                "admit_until": "2027-05-20"
            },
            {
                "event_id": "CBP-2",
                "mrz": passport("JOHNSON", &["MARK"], "A12345678", "USA", (82, 3, 14), 'M'),
                "inspected_at": "2026-11-21T09:05:00Z",
                "port": "3004",
                "mode": "vehicle"
            },
            {
                "event_id": "CBP-3",
                "mrz": bad,
                "inspected_at": "2026-11-21T09:10:00Z",
                "port": "3004",
                "mode": "vehicle"
            }
        ]
    });
    serde_json::to_vec(&feed).unwrap()
}

fn date(year: u16, month: u8, day: u8) -> PartialDate {
    PartialDate {
        year,
        month: Some(month),
        day: Some(day),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_stores_exactly_the_eligible_records_with_only_the_shared_elements() {
    let pair = start_pair().await;

    let report = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    assert_eq!(
        (
            report.received,
            report.accepted,
            report.rejected,
            report.shared,
            report.withheld
        ),
        (9, 6, 3, 3, 3),
        "{report:#?}"
    );
    let report = pair
        .us_client
        .post_crossings("application/json", cbp_batch())
        .await
        .unwrap();
    assert_eq!(
        (
            report.received,
            report.accepted,
            report.rejected,
            report.shared,
            report.withheld
        ),
        (3, 2, 1, 1, 1),
        "{report:#?}"
    );
    pair.settle().await;

    let received_by_us: Vec<SharedRecord> = pair
        .us
        .core
        .store
        .inbox_from("CA", 1, 100)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let expected = vec![
        SharedRecord {
            given_names: "HANS".into(),
            family_name: "MÜLLER".into(),
            middle_names: "PETER".into(),
            date_of_birth: date(1980, 4, 12),
            nationality: "DEU".into(),
            sex: Sex::M,
            document_type: "P".into(),
            document_number: "C01X00T47".into(),
            document_country: "D".into(),
            entered_at: 1_795_255_200,
            port_code: "0427".into(),
        },
        SharedRecord {
            given_names: "RAVI".into(),
            family_name: "PATEL".into(),
            middle_names: "KUMAR".into(),
            date_of_birth: date(1988, 7, 9),
            nationality: "IND".into(),
            sex: Sex::M,
            document_type: "P".into(),
            document_number: "Z1234567".into(),
            document_country: "IND".into(),
            entered_at: 1_795_276_800,
            port_code: "0453".into(),
        },
        SharedRecord {
            given_names: "JOSÉ".into(),
            family_name: "GARCÍA LÓPEZ".into(),
            middle_names: "".into(),
            date_of_birth: date(1979, 12, 31),
            nationality: "MEX".into(),
            sex: Sex::M,
            document_type: "P".into(),
            document_number: "G12345678".into(),
            document_country: "MEX".into(),
            entered_at: 1_795_267_800,
            port_code: "0708".into(),
        },
    ];
    assert_eq!(received_by_us, expected);

    let received_by_ca: Vec<SharedRecord> = pair
        .ca
        .core
        .store
        .inbox_from("US", 1, 100)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(received_by_ca.len(), 1, "{received_by_ca:#?}");
    assert_eq!(received_by_ca[0].family_name, "ERIKSSON");
    assert_eq!(received_by_ca[0].given_names, "ANNA");
    assert_eq!(received_by_ca[0].middle_names, "MARIA");
    assert_eq!(received_by_ca[0].date_of_birth, date(1974, 8, 12));

    // On the wire: every record is a map of exactly the eleven elements, and
    // nothing local (citizenships, residency, source ids, withheld people) is there.
    let evidence = pair.ca.core.evidence_dir().join("to-US");
    let mut bundles = 0;
    for entry in std::fs::read_dir(&evidence).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("bundle-") {
            continue;
        }
        bundles += 1;
        let bytes = std::fs::read(&path).unwrap();
        for forbidden in [
            "citizenships",
            "residency",
            "CA-1",
            "TREMBLAY",
            "SMITH",
            "ROSSI",
            "authorised",
        ] {
            assert!(
                !bytes
                    .windows(forbidden.len())
                    .any(|w| w == forbidden.as_bytes()),
                "{forbidden} found in {name}"
            );
        }
        let keyring = {
            let mut k = entrex::bundle::Keyring::default();
            k.add("CA", pair.ca.core.signer.verifying_key());
            k
        };
        let verified = entrex::bundle::verify(&bytes, &keyring).unwrap();
        let payload: serde_cbor::Value = serde_cbor::from_slice(&verified.payload).unwrap();
        let serde_cbor::Value::Map(payload) = payload else {
            panic!("payload is not a map")
        };
        let records = payload
            .get(&serde_cbor::Value::Text("records".into()))
            .expect("bundle has records");
        let serde_cbor::Value::Array(records) = records else {
            panic!("records is not an array")
        };
        for record in records {
            let serde_cbor::Value::Map(fields) = record else {
                panic!("record is not a map")
            };
            let mut keys: Vec<String> = fields
                .keys()
                .map(|k| match k {
                    serde_cbor::Value::Text(t) => t.clone(),
                    other => panic!("non-text key {other:?}"),
                })
                .collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "date_of_birth",
                    "document_country",
                    "document_number",
                    "document_type",
                    "entered_at",
                    "family_name",
                    "given_names",
                    "middle_names",
                    "nationality",
                    "port_code",
                    "sex"
                ]
            );
        }
    }
    assert!(bundles >= 1);
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_rejected_by_field_and_the_rest_of_the_batch_is_kept() {
    let pair = start_pair().await;
    let report = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    let problem = |location: &str| {
        report
            .problems
            .iter()
            .find(|p| p.location == location)
            .unwrap_or_else(|| panic!("no problem reported at {location}: {report:#?}"))
    };
    let text = |p: &entrex::ingest::Problem| serde_json::to_string(&p.result).unwrap();
    // Header is line 1, so CA-6 is on line 7.
    assert!(
        text(problem("line 7")).contains("field"),
        "{}",
        text(problem("line 7"))
    );
    assert!(
        text(problem("line 8")).contains("nationality"),
        "{}",
        text(problem("line 8"))
    );
    assert!(
        text(problem("line 8")).contains("ZZZ"),
        "{}",
        text(problem("line 8"))
    );
    assert!(
        text(problem("line 9")).contains("birth_date"),
        "{}",
        text(problem("line 9"))
    );
    assert_eq!(report.accepted, 6);

    let report = pair
        .us_client
        .post_crossings("application/json", cbp_batch())
        .await
        .unwrap();
    let bad = report
        .problems
        .iter()
        .find(|p| p.location == "records[2]")
        .unwrap();
    let bad = serde_json::to_string(&bad.result).unwrap();
    assert!(bad.contains("check digit"), "{bad}");
    assert!(bad.contains("birth"), "{bad}");
    assert_eq!(report.accepted, 2);

    // The same batch again: nothing new is stored, each record is a duplicate.
    let again = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 6), "{again:#?}");

    // A batch that is not the agency's format at all is refused as a whole.
    let (status, body) = pair
        .ca_client
        .request(
            Method::POST,
            "/v1/crossings",
            "text/csv",
            b"name,age\nbob,3\n".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        String::from_utf8_lossy(&body).contains("record_id"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_bundles_store_nothing_new() {
    let pair = start_pair().await;
    pair.ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    pair.settle().await;
    let stored = || pair.us.core.store.inbox_last("CA").unwrap();
    assert_eq!(stored(), 3);

    let evidence = pair.ca.core.evidence_dir().join("to-US");
    let bundle = std::fs::read(evidence.join("bundle-000000000001.cose")).unwrap();
    let receipt = std::fs::read(evidence.join("receipt-000000000001.cose")).unwrap();

    // Over the connection CA's hub would use: its client certificate.
    let as_ca = pair.us.client_as(&pair.ca);
    let post = |message: Vec<u8>| {
        let client = as_ca.clone();
        async move {
            let (status, body) = client
                .request(
                    Method::POST,
                    "/v1/partner/bundles",
                    entrex::bundle::MEDIA_TYPE,
                    message,
                )
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned(), body)
        }
    };
    // A bundle of CA's claiming to continue at 4, sealed by `signer`, naming `prev`.
    let next_bundle = |signer: &entrex::bundle::Signer, prev: Vec<u8>| {
        let record = pair.us.core.store.inbox_from("CA", 1, 1).unwrap()[0]
            .1
            .clone();
        entrex::bundle::seal_bundle(
            signer,
            &entrex::bundle::BundlePayload::new("CA", "US", 4, 0, prev, vec![record]),
        )
    };

    // A replay is answered with the very receipt given the first time.
    let (status, _, body) = post(bundle.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_ref(), receipt.as_slice());

    // One changed byte anywhere in the payload: refused, nothing stored.
    let mut tampered = bundle.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x20;
    let (status, text, _) = post(tampered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");

    // A bundle signed by a key the US hub does not trust: refused, nothing stored.
    let stranger = entrex::bundle::Signer::new(ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    let (status, text, _) = post(next_bundle(&stranger, entrex::bundle::sha256(&bundle))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("unknown signing key"), "{text}");

    // Signed with CA's own key but not naming the previous bundle: the chain is
    // checked, not only the sequence number.
    let (status, text, _) = post(next_bundle(&pair.ca.core.signer, vec![0; 32])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("chain is broken"), "{text}");
    assert_eq!(stored(), 3);
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_lost_its_data_is_sent_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, us_path) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    let ca = entrex::hub::Hub::start(ca_settings, ca_listener)
        .await
        .unwrap();
    let us_addr = us_listener.local_addr().unwrap();
    let us = entrex::hub::Hub::start(us_settings, us_listener)
        .await
        .unwrap();
    let ca_client = ca.client();
    let us_client = us.client();
    ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 3);

    // The US hub loses everything (a disk replaced, a restore from an empty backup).
    let data_dir = us.core.settings.data_dir.clone();
    us.shutdown().await;
    std::fs::remove_dir_all(&data_dir).unwrap();
    let listener = tokio::net::TcpListener::bind(us_addr).await.unwrap();
    let settings = entrex::config::Settings::load(&us_path).unwrap();
    let us = entrex::hub::Hub::start(settings, listener).await.unwrap();

    // The next bundle from CA starts at 4; the US hub answers that it expects 1,
    // and CA sends everything again from there.
    let more = CSV_HEADER.to_owned()
        + "\nCA-10,Okafor,Chinedu,,1984-06-01,M,NGA,,,P,A07654321,NGA,2026-11-21T15:00:00Z,0427,VEHICLE,\n";
    ca_client
        .post_crossings("text/csv", more.into_bytes())
        .await
        .unwrap();
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    let families: Vec<String> = us
        .core
        .store
        .inbox_from("CA", 1, 100)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.family_name)
        .collect();
    assert_eq!(families, ["MÜLLER", "PATEL", "GARCÍA LÓPEZ", "OKAFOR"]);
    ca.shutdown().await;
    us.shutdown().await;
}
