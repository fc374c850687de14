//! Two hubs exchange records over HTTP: the partner stores exactly the eligible
//! records, each holding only the eleven shared elements; bad records are
//! rejected by field while the rest of their batch goes on; forged bundles are
//! refused.

use entrex::record::{Entry, PartialDate, Sex, SharedRecord};
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
        .map(|(_, e)| record_of(e))
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
        .map(|(_, e)| record_of(e))
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
    let last_sha = entrex::bundle::sha256(&bundle);
    let sealed = |first: u64, entries: Vec<Entry>| {
        entrex::bundle::seal_bundle(
            &pair.ca.core.signer,
            &entrex::bundle::BundlePayload::new("CA", "US", first, 0, last_sha.clone(), entries),
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

    // Truncated in transit: refused as not a COSE message.
    let (status, text, _) = post(bundle[..bundle.len() - 10].to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("not a COSE_Sign1 message"), "{text}");

    // Reordered (5 arrives before 4): refused with the sequence number expected.
    let record = Entry::Record(record_of(
        pair.us.core.store.inbox_from("CA", 1, 1).unwrap()[0]
            .1
            .clone(),
    ));
    let (status, text, _) = post(sealed(5, vec![record.clone()])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("\"expected_seq\": 4"), "{text}");

    // Correctly signed and chained, but amending a record never received.
    let bogus = Entry::Deletion { amends: 99 };
    let (status, text, _) = post(sealed(4, vec![record.clone(), bogus])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("amends record 99"), "{text}");
    assert_eq!(stored(), 3);

    // Addressed to another country.
    let elsewhere = entrex::bundle::seal_bundle(
        &pair.ca.core.signer,
        &entrex::bundle::BundlePayload::new(
            "CA",
            "MX",
            4,
            0,
            last_sha.clone(),
            vec![record.clone()],
        ),
    );
    let (status, text, _) = post(elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("addressed to MX"), "{text}");

    // Larger than any bundle may be: refused before it is read whole.
    let (status, text, _) = post(vec![0xd2; entrex::bundle::MAX_MESSAGE_BYTES + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");

    assert_eq!(stored(), 3);
    let status = pair.us_client.status().await.unwrap();
    assert_eq!(status.partners[0].bundles_received, 1);

    // The refusals left nothing behind (the bad amendment's bundle kept
    // neither the record before it nor the chain head): the genuine bundle 4
    // still continues the chain.
    let (status, text, _) = post(sealed(4, vec![record])).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(stored(), 4);
    pair.shutdown().await;
}

fn record_of(entry: Entry) -> SharedRecord {
    match entry {
        Entry::Record(r) => r,
        other => panic!("expected a record, found {other:?}"),
    }
}

/// The accuracy principle: a source corrects or withdraws a record it sent,
/// and the partner ends up holding the corrected record, or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_and_withdrawals_reach_the_partner_and_are_applied() {
    let pair = start_pair().await;
    pair.ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    pair.settle().await;
    // Sent again unchanged: nothing new.
    let again = pair
        .ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    assert_eq!((again.corrected, again.duplicates), (0, 6), "{again:#?}");

    // CA-1's family name corrected; CA-4 was in fact a sea crossing (out of
    // scope, so the partner must no longer hold it).
    let corrected = CSV_HEADER.to_owned()
        + "\nCA-1,Mueller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20"
        + "\nCA-4,Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z1234567,IND,2026-11-21T11:00:00-05:00,0453,SEA,\n";
    let report = pair
        .ca_client
        .post_crossings("text/csv", corrected.into_bytes())
        .await
        .unwrap();
    assert_eq!(
        (report.corrected, report.shared, report.withheld),
        (2, 1, 1),
        "{report:#?}"
    );

    // CA-9 entered in error; CA-404 was never sent.
    let withdrawn = pair
        .ca_client
        .withdraw(&entrex::ingest::WithdrawRequest {
            source_refs: vec!["CA-9".into(), "CA-404".into()],
            reason: "entered in error".into(),
        })
        .await
        .unwrap();
    let entry_id = match &withdrawn.results[0].result {
        entrex::store::Withdrawal::Withdrawn { entry_id, partners } => {
            assert_eq!(partners, &["US".to_owned()]);
            *entry_id
        }
        other => panic!("CA-9 not withdrawn: {other:?}"),
    };
    assert_eq!(
        withdrawn.results[1].result,
        entrex::store::Withdrawal::Unknown
    );
    assert!(pair.ca.core.store.crossing(entry_id).unwrap().is_none());
    pair.settle().await;

    let inbox = pair.us.core.store.inbox_from("CA", 1, 100).unwrap();
    let seqs: Vec<u64> = inbox.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    // Current state under the original numbers...
    assert!(
        matches!(&inbox[0].1, Entry::Record(r) if r.family_name == "MUELLER"),
        "{inbox:#?}"
    );
    assert!(
        matches!(&inbox[1].1, Entry::Deletion { amends: 2 }),
        "{inbox:#?}"
    );
    assert!(
        matches!(&inbox[2].1, Entry::Deletion { amends: 3 }),
        "{inbox:#?}"
    );
    // ...and the amendments logged under their own.
    assert!(
        matches!(&inbox[3].1, Entry::Correction { amends: 1, .. }),
        "{inbox:#?}"
    );
    assert!(
        matches!(&inbox[4].1, Entry::Deletion { amends: 2, .. }),
        "{inbox:#?}"
    );
    assert!(
        matches!(&inbox[5].1, Entry::Deletion { amends: 3, .. }),
        "{inbox:#?}"
    );

    let ca = pair.ca_client.status().await.unwrap();
    assert_eq!(
        (ca.corrected, ca.withdrawn, ca.amendments_queued),
        (2, 1, 3)
    );
    let us = pair.us_client.status().await.unwrap();
    assert_eq!(us.amendments_applied, 3);
    let report = pair.us_client.report(None, None).await.unwrap();
    assert_eq!(report.directions[0].exit_records_received, 1);

    // Individual access: what each hub holds about Hans Müller's passport.
    let at_us = pair
        .us_client
        .person_export("D", "C01X00T47", "subject access request 17")
        .await
        .unwrap();
    assert_eq!(at_us.received.len(), 1);
    assert_eq!(
        (
            at_us.received[0].seq,
            at_us.received[0].record.family_name.as_str()
        ),
        (1, "MUELLER")
    );
    let at_ca = pair
        .ca_client
        .person_export("D", "C01X00T47", "subject access request 17")
        .await
        .unwrap();
    assert_eq!(at_ca.crossings.len(), 1);
    assert_eq!(at_ca.crossings[0].crossing.source_ref, "CA-1");
    assert_eq!(at_ca.crossings[0].crossing.family_name, "MUELLER");

    // The receiver's evidence verifies as a chain, and proves the original
    // record 1 without showing any other.
    let mut keyring = entrex::bundle::Keyring::default();
    keyring.add("CA", pair.ca.core.signer.verifying_key());
    keyring.add("US", pair.us.core.signer.verifying_key());
    let from_ca = pair.us.core.evidence_dir().join("from-CA");
    let files = entrex::verify::expand(std::slice::from_ref(&from_ca)).unwrap();
    let (outcomes, chains) = entrex::verify::verify_files(&files, &keyring);
    for o in &outcomes {
        assert!(o.result.is_ok(), "{}: {:?}", o.path.display(), o.result);
    }
    assert!(chains.iter().all(|c| c.is_ok()), "{chains:?}");
    let proof = entrex::verify::prove(&from_ca, 1, &keyring).unwrap();
    let (_, head) = entrex::bundle::check_proof(&proof, &keyring).unwrap();
    assert_eq!((head.first_seq, head.receiver.as_str()), (1, "US"));
    assert!(matches!(&proof.entry, Entry::Record(r) if r.family_name == "MÜLLER"));
    pair.shutdown().await;
}

/// A partner rotates its signing key: during the overlap both keys verify;
/// after it, the old key is refused by name and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_with_overlap_and_an_expired_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (mut us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    // The US hub pins CA's next key as current and CA's key in use as the
    // previous one, trusted for another hour.
    let new_key = entrex::keys::generate(&dir.path().join("next"), "ca-next").unwrap();
    let old_public = us_settings.partners[0].public_key.clone();
    us_settings.partners[0].public_key = new_key.public_key.clone();
    let hour_from_now = entrex::exchange::now() + 3600;
    us_settings.partners[0].previous_keys = vec![(old_public.clone(), hour_from_now)];
    let us_addr = us_listener.local_addr().unwrap();
    let ca = entrex::hub::Hub::start(ca_settings.clone(), ca_listener)
        .await
        .unwrap();
    let us = entrex::hub::Hub::start(us_settings.clone(), us_listener)
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
    assert_eq!(
        us.core.store.inbox_last("CA").unwrap(),
        3,
        "old key accepted during the overlap"
    );

    // The overlap ends: the old key is refused, naming it as expired.
    us.shutdown().await;
    us_settings.partners[0].previous_keys = vec![(old_public, entrex::exchange::now() - 1)];
    let listener = tokio::net::TcpListener::bind(us_addr).await.unwrap();
    let us = entrex::hub::Hub::start(us_settings, listener)
        .await
        .unwrap();
    let old_signer = entrex::bundle::Signer::new(
        entrex::keys::load_signing_key(&ca_settings.signing_key).unwrap(),
    );
    let prev = entrex::bundle::sha256(
        &std::fs::read(
            ca.core
                .evidence_dir()
                .join("to-US/bundle-000000000001.cose"),
        )
        .unwrap(),
    );
    let record = us.core.store.inbox_from("CA", 1, 1).unwrap()[0].1.clone();
    let late = entrex::bundle::seal_bundle(
        &old_signer,
        &entrex::bundle::BundlePayload::new("CA", "US", 4, 0, prev, vec![record]),
    );
    let (status, body) = us
        .client_as(&ca)
        .request(
            Method::POST,
            "/v1/partner/bundles",
            entrex::bundle::MEDIA_TYPE,
            late,
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("expired"), "{text}");
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 3);

    // CA switches to its new key; what it queued meanwhile is delivered.
    ca_client
        .post_crossings(
            "text/csv",
            (CSV_HEADER.to_owned()
                + "\nCA-10,Okafor,Chinedu,,1984-06-01,M,NGA,,,P,A07654321,NGA,2026-11-21T15:00:00Z,0427,VEHICLE,\n")
                .into_bytes(),
        )
        .await
        .unwrap();
    ca.shutdown().await;
    let mut ca_settings = ca_settings;
    ca_settings.signing_key = new_key.private_key.clone();
    let ca_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ca = entrex::hub::Hub::start(ca_settings, ca_listener)
        .await
        .unwrap();
    let ca_client = ca.client();
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    assert_eq!(us.core.store.inbox_last("CA").unwrap(), 4);
    ca.shutdown().await;
    us.shutdown().await;
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
        .map(|(_, e)| record_of(e).family_name)
        .collect();
    assert_eq!(families, ["MÜLLER", "PATEL", "GARCÍA LÓPEZ", "OKAFOR"]);
    ca.shutdown().await;
    us.shutdown().await;
}

/// The partner is unreachable: the queue grows on disk up to its bound, the
/// status raises an alarm as it fills, new batches are refused (503) when it
/// is full, and everything drains in order once the partner is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fills_the_queue_to_its_bound_then_it_drains_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (mut ca_settings, ca_listener, _) = prepared.pop().unwrap();
    ca_settings.exchange.max_queue_records = 4;
    ca_settings.exchange.queue_alarm_percent = 50;
    ca_settings.exchange.bundle_max_records = 2;
    ca_settings.exchange.retry_max_ms = 300;
    let us_addr = us_listener.local_addr().unwrap();
    drop(us_listener);
    let ca = entrex::hub::Hub::start(ca_settings, ca_listener)
        .await
        .unwrap();
    let ca_client = ca.client();

    ca_client
        .post_crossings("text/csv", cbsa_batch())
        .await
        .unwrap();
    let status = ca_client.status().await.unwrap();
    let alarm = status.partners[0]
        .queue_alarm
        .clone()
        .expect("an alarm at 75%");
    assert!(alarm.contains("75% full (3 of 4 records)"), "{alarm}");

    let more = CSV_HEADER.to_owned()
        + "\nCA-10,Okafor,Chinedu,,1984-06-01,M,NGA,,,P,A07654321,NGA,2026-11-21T15:00:00Z,0427,VEHICLE,"
        + "\nCA-11,Haddad,Rania,,1992-02-02,F,LBN,,,P,RL1234567,LBN,2026-11-21T15:10:00Z,0427,VEHICLE,\n";
    let report = ca_client
        .post_crossings("text/csv", more.clone().into_bytes())
        .await
        .unwrap();
    assert_eq!(report.shared, 2);
    let refused = ca_client
        .post_crossings(
            "text/csv",
            (CSV_HEADER.to_owned()
                + "\nCA-12,Ito,Ken,,1980-01-01,M,JPN,,,P,TK1234567,JPN,2026-11-21T15:20:00Z,0427,VEHICLE,\n")
                .into_bytes(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("503") && refused.contains("queue for US is full (5 of 4 records)"),
        "{refused}"
    );

    // The partner comes back: the queue drains, in order, exactly once.
    let listener = tokio::net::TcpListener::bind(us_addr).await.unwrap();
    let us = entrex::hub::Hub::start(us_settings, listener)
        .await
        .unwrap();
    let us_client = us.client();
    entrex::demo::settle(&[&ca_client, &us_client])
        .await
        .unwrap();
    let families: Vec<String> = us
        .core
        .store
        .inbox_from("CA", 1, 100)
        .unwrap()
        .into_iter()
        .map(|(_, e)| record_of(e).family_name)
        .collect();
    assert_eq!(
        families,
        ["MÜLLER", "PATEL", "GARCÍA LÓPEZ", "OKAFOR", "HADDAD"]
    );
    let status = ca_client.status().await.unwrap();
    assert_eq!(status.partners[0].queue_alarm, None);
    assert_eq!(status.partners[0].bundles_sent, 3);
    ca.shutdown().await;
    us.shutdown().await;
}
