use serde_json::{Value, json};

use super::*;

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];
const TD1: [&str; 3] = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
];
/// 2026-11-21T14:03:00Z.
const INSPECTED: i64 = 1_795_219_200 + 14 * 3600 + 3 * 60;

fn record() -> Value {
    json!({
        "event_id": "CBP-3004-20261121-000123",
        "mrz": TD3,
        "inspected_at": "2026-11-21T14:03:00Z",
        "port": "3004",
        "mode": "vehicle",
        "citizenships": ["UTO"],
        "residency": ["US-LPR"],
        "admit_until": "2027-05-20"
    })
}

fn with(key: &str, value: Value) -> Vec<u8> {
    let mut r = record();
    r[key] = value;
    r.to_string().into_bytes()
}

fn without(key: &str) -> Vec<u8> {
    let mut r = record();
    r.as_object_mut().unwrap().remove(key);
    r.to_string().into_bytes()
}

fn rejection(data: &[u8]) -> (Option<String>, String) {
    let r = normalise_record(data).expect_err("should be rejected");
    (r.field, r.reason)
}

/// Replaces the character at 0-based `pos` of `line`.
fn edit(line: &str, pos: usize, c: char) -> String {
    let mut s: Vec<char> = line.chars().collect();
    s[pos] = c;
    s.into_iter().collect()
}

#[test]
fn normalises_the_specimen_passport() {
    let c = normalise_record(&record().to_string().into_bytes()).unwrap();
    assert_eq!(c.source_ref, "CBP-3004-20261121-000123");
    assert_eq!(c.family_name, "ERIKSSON");
    assert_eq!(c.given_names, "ANNA");
    assert_eq!(c.middle_names, "MARIA");
    assert_eq!(
        (
            c.date_of_birth.year,
            c.date_of_birth.month,
            c.date_of_birth.day
        ),
        (1974, Some(8), Some(12))
    );
    assert_eq!(c.sex, Sex::Female);
    assert_eq!(c.nationality, "UTO");
    assert_eq!(c.document_type, "P");
    assert_eq!(c.document_number, "L898902C3");
    assert_eq!(c.document_country, "UTO");
    assert_eq!(c.crossed_at, INSPECTED);
    assert_eq!(c.port_code, "3004");
    assert_eq!(c.mode, Mode::Vehicle);
    assert_eq!(c.citizenships, ["UTO"]);
    assert_eq!(c.residency, [Residency::UsLawfulPermanentResident]);
    assert_eq!(
        c.authorised_stay_until,
        Some(dates::end_of_day_unix(2027, 5, 20))
    );
}

#[test]
fn normalises_the_specimen_card_and_optional_keys() {
    let mut r = record();
    r["mrz"] = json!(TD1);
    let obj = r.as_object_mut().unwrap();
    obj.remove("citizenships");
    obj.remove("residency");
    obj.insert("admit_until".into(), Value::Null);
    obj.insert("mode".into(), json!("FERRY"));
    let c = normalise_record(r.to_string().as_bytes()).unwrap();
    assert_eq!(c.document_type, "I");
    assert_eq!(c.document_number, "D23145890");
    assert_eq!(c.given_names, "ANNA");
    assert_eq!(c.middle_names, "MARIA");
    assert_eq!(c.citizenships, ["UTO"]);
    assert!(c.residency.is_empty());
    assert_eq!(c.authorised_stay_until, None);
    assert_eq!(c.mode, Mode::Ferry);
}

#[test]
fn citizenships_include_nationality_once() {
    let c = normalise_record(&with("citizenships", json!(["fra", "UTO", "FRA", "D"]))).unwrap();
    assert_eq!(c.citizenships, ["UTO", "FRA", "D"]);
    let c = normalise_record(&with("residency", json!(["ca-pr", "US-LPR", "CA-PR"]))).unwrap();
    assert_eq!(
        c.residency,
        [
            Residency::CanadaPermanentResident,
            Residency::UsLawfulPermanentResident
        ]
    );
}

#[test]
fn mrz_check_digits_and_fields_are_named() {
    let cases = [
        (
            edit(TD3[1], 19, '3'),
            "mrz line 2: date of birth check digit",
            "mrz line 2: date of birth check digit is '3' but 740812 gives '2'; re-read the document",
        ),
        (
            edit(TD3[1], 9, '0'),
            "mrz line 2: document number check digit",
            "mrz line 2: document number check digit is '0' but L898902C3 gives '6'; re-read the document",
        ),
        (
            edit(TD3[1], 43, '9'),
            "mrz line 2: composite check digit",
            "mrz line 2: composite check digit is '9' but the document number, dates and optional data give '0'; re-read the document",
        ),
        (
            edit(TD3[1], 5, 'o'),
            "mrz line 2",
            "mrz line 2 has 'o' at position 6; an MRZ holds only A-Z, 0-9 and '<'; re-read the document",
        ),
    ];
    for (line2, field, reason) in cases {
        let (f, r) = rejection(&with("mrz", json!([TD3[0], line2])));
        assert_eq!(f.as_deref(), Some(field));
        assert_eq!(r, reason);
    }
    let (f, r) = rejection(&with("mrz", json!([edit(TD3[0], 2, 'Q'), TD3[1]])));
    assert_eq!(f.as_deref(), Some("mrz line 1: issuing state"));
    assert!(r.contains("'QTO' is not an ICAO 9303 code"), "{r}");
    let (f, r) = rejection(&with("mrz", json!([TD3[0]])));
    assert_eq!(f.as_deref(), Some("mrz"));
    assert!(
        r.starts_with("mrz has 1 line; a passport (TD3) MRZ has 2 lines of 44"),
        "{r}"
    );
    let (f, r) = rejection(&with("mrz", json!([TD3[0], &TD3[1][..40]])));
    assert_eq!(f.as_deref(), Some("mrz line 2"));
    assert!(r.starts_with("mrz line 2 is 40 characters long"), "{r}");
    let (f, r) = rejection(&with("mrz", json!("P<UTOERIKSSON")));
    assert_eq!(f.as_deref(), Some("mrz"));
    assert!(r.starts_with("must be a list of strings"), "{r}");
}

/// The specimen passport with another birth date, check digits recomputed.
fn passport_born(birth: icao::MrzDate) -> Vec<String> {
    let m = icao::parse_mrz(&TD3).unwrap();
    let given = ["ANNA"];
    let parts = icao::MrzParts {
        birth_date: birth,
        ..m.to_parts(&given)
    };
    icao::build_td3(&parts).unwrap().to_vec()
}

#[test]
fn birth_century_comes_from_the_inspection() {
    let date = |yy, month, day| icao::MrzDate { yy, month, day };
    let born = |mrz: Vec<String>| {
        let c = normalise_record(&with("mrz", json!(mrz))).unwrap();
        (
            c.date_of_birth.year,
            c.date_of_birth.month,
            c.date_of_birth.day,
        )
    };
    assert_eq!(
        born(passport_born(date(26, Some(11), Some(21)))),
        (2026, Some(11), Some(21))
    );
    assert_eq!(
        born(passport_born(date(26, Some(11), Some(22)))),
        (1926, Some(11), Some(22))
    );
    assert_eq!(
        born(passport_born(date(5, Some(6), None))),
        (2005, Some(6), None)
    );
    assert_eq!(
        born(passport_born(date(50, None, None))),
        (1950, None, None)
    );
    let (f, r) = rejection(&with(
        "mrz",
        json!(passport_born(date(27, Some(2), Some(29)))),
    ));
    assert_eq!(f.as_deref(), Some("mrz line 2: date of birth"));
    assert!(r.contains("29 February 1927, which did not exist"), "{r}");
}

#[test]
fn keys_are_checked_and_named() {
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            without("event_id"),
            "event_id",
            "is missing; every record needs it",
        ),
        (without("mrz"), "mrz", "is missing"),
        (without("inspected_at"), "inspected_at", "is missing"),
        (without("port"), "port", "is missing"),
        (without("mode"), "mode", "is missing"),
        (
            with("event_id", json!(42)),
            "event_id",
            "must be a JSON string",
        ),
        (
            with("event_id", json!("")),
            "event_id",
            "must be 1-64 printable characters (it has 0)",
        ),
        (
            with("inspected_at", json!("2026-11-21 14:03")),
            "inspected_at",
            "not an RFC 3339 timestamp",
        ),
        (
            with("inspected_at", json!("2026-02-30T14:03:00Z")),
            "inspected_at",
            "February 2026 has 28 days",
        ),
        (
            with("port", json!("30-04")),
            "port",
            "\"30-04\" must be 1-8 letters or digits",
        ),
        (
            with("port", json!("123456789")),
            "port",
            "must be 1-8 letters or digits",
        ),
        (
            with("mode", json!("plane")),
            "mode",
            "\"plane\" is not a mode; write vehicle, pedestrian, ferry, rail, bus or sea",
        ),
        (
            with("citizenships", json!(["FRA", "ZZZ"])),
            "citizenships",
            "item 1 (\"ZZZ\") is not an ICAO 9303 country code",
        ),
        (
            with("citizenships", json!("FRA")),
            "citizenships",
            "must be a list of strings",
        ),
        (
            with("residency", json!(["citizen"])),
            "residency",
            "\"citizen\" is not a status; list CA-PR and/or US-LPR",
        ),
        (
            with("admit_until", json!("2027-02-29")),
            "admit_until",
            "'2027-02-29' is not a date: February 2027 has 28 days",
        ),
        (
            with("admit_until", json!(20270520)),
            "admit_until",
            "must be a JSON string",
        ),
        (
            with("passport_photo", json!("...")),
            "passport_photo",
            "is not part of a cbp-entry/1 record, which carries only event_id, mrz, inspected_at, port, mode, citizenships, residency, admit_until (data minimisation)",
        ),
        (
            br#"{"event_id": "a", "event_id": "b"}"#.to_vec(),
            "event_id",
            "appears twice",
        ),
    ];
    for (data, field, reason) in cases {
        let (f, r) = rejection(&data);
        assert_eq!(f.as_deref(), Some(field), "{r}");
        assert!(r.contains(reason), "{field}: {r}");
    }
    for data in [&b"[1, 2]"[..], b"\"text\"", b"{", b"\xff{}"] {
        let (f, r) = rejection(data);
        assert_eq!(f, None);
        assert!(r.starts_with("the record is not"), "{r}");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let base = record().to_string().into_bytes();
    for _ in 0..3000 {
        let mut data = base.clone();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % data.len();
            data[i] = b" <\"0A9z{}[]:,\\"[((seed >> 40) % 14) as usize];
        }
        let _ = normalise_record(&data);
        let _ = split_batch(&data);
    }
}

#[test]
fn split_cuts_records_out_verbatim() {
    let batch = format!(
        "{{\"feed\": \"cbp-entry/1\",\n \"records\": [ {},\n  {{\"event_id\" : \"x\"}}, 7 ]}}",
        record()
    );
    let records = split_batch(batch.as_bytes()).unwrap();
    let locations: Vec<&str> = records.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(locations, ["records[0]", "records[1]", "records[2]"]);
    assert_eq!(records[0].data, record().to_string().into_bytes());
    assert_eq!(records[1].data, b"{\"event_id\" : \"x\"}");
    assert!(normalise_record(&records[0].data).is_ok());
    assert_eq!(rejection(&records[1].data).0.as_deref(), Some("mrz"));
    assert_eq!(rejection(&records[2].data).0, None);

    assert!(
        split_batch(br#"{"feed": "cbp-entry/1", "records": []}"#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn split_refuses_other_batches() {
    let e = split_batch(br#"{"feed": "cbp-entry/2", "records": []}"#).unwrap_err();
    assert!(
        e.starts_with("feed is \"cbp-entry/2\"; this normaliser reads \"cbp-entry/1\" only"),
        "{e}"
    );
    let e = split_batch(br#"{"records": []}"#).unwrap_err();
    assert!(e.starts_with("the batch has no \"feed\""), "{e}");
    let e = split_batch(br#"{"feed": "cbp-entry/1"}"#).unwrap_err();
    assert!(e.starts_with("the batch has no \"records\" list"), "{e}");
    let e = split_batch(b"record_id,surname\n1,X").unwrap_err();
    assert!(
        e.starts_with("the batch is not a cbp-entry/1 feed ("),
        "{e}"
    );
    assert!(
        e.ends_with(r#"expected one JSON object {"feed": "cbp-entry/1", "records": [{...}, ...]}"#),
        "{e}"
    );
    let e = split_batch(b"\xff").unwrap_err();
    assert!(e.starts_with("the batch is not UTF-8"), "{e}");
    let e = split_batch(br#"{"feed": "cbp-entry/1", "records": {}}"#).unwrap_err();
    assert!(e.starts_with("the batch is not a cbp-entry/1 feed"), "{e}");
}

#[test]
fn configure_accepts_only_an_empty_table() {
    assert_eq!(configure("{}"), Ok(()));
    assert_eq!(
        configure(r#"{"feed": "x"}"#).unwrap_err(),
        "unknown configuration key `feed`: us-normaliser takes no configuration; remove it from its config table"
    );
    assert!(
        configure(r#"{"a": 1, "b": 2}"#)
            .unwrap_err()
            .starts_with("unknown configuration keys `a`, `b`:")
    );
    assert!(configure("null").unwrap_err().contains("must be a table"));
    assert!(configure("").unwrap_err().contains("is not JSON"));
}

/// Found by fuzzing (fuzz/ us_normaliser target): serde's message quotes the
/// value it met, so a batch or record of the wrong shape came back, whole, in
/// the error: personal data, of any length.
#[test]
fn a_batch_or_record_of_the_wrong_shape_is_refused_without_its_values() {
    let value = format!("ERIKSSON ANNA 1974-08-12 L898902C3 {}", "x".repeat(3000));
    let batch = format!(r#"{{"feed": "cbp-entry/1", "records": "{value}"}}"#);
    let e = split_batch(batch.as_bytes()).unwrap_err();
    assert!(
        !e.contains("ERIKSSON") && e.len() < 600,
        "{} bytes: {e}",
        e.len()
    );
    assert!(e.contains("at line 1 column"), "{e}");
    let record = format!(r#""{value}""#);
    let r = normalise_record(record.as_bytes()).unwrap_err();
    assert!(
        !r.reason.contains("ERIKSSON") && r.reason.len() < 600,
        "{} bytes: {}",
        r.reason.len(),
        r.reason
    );
    // An unknown key is named, but not at any length.
    let key = "k".repeat(5000);
    let r = normalise_record(with(&key, json!(1)).as_slice()).unwrap_err();
    assert!(
        r.field.as_deref().is_none_or(|f| f.len() <= 64),
        "{:?}",
        r.field
    );
    assert!(r.reason.len() < 600, "{}", r.reason);
}

/// Found by fuzzing (fuzz/ us_normaliser target, in CI's 30 s): a mode,
/// port, citizenship or residency that is not one was quoted whole.
#[test]
fn a_bad_value_is_quoted_short_and_printable() {
    let long = format!("vehic{}\r\u{1b}[2J{}", "(".repeat(3000), "a".repeat(3000));
    for key in ["mode", "port"] {
        let r = normalise_record(&with(key, json!(long))).unwrap_err();
        assert!(r.reason.len() < 400, "{key}: {} bytes", r.reason.len());
        assert!(
            !r.reason.contains(['\r', '\u{1b}']),
            "{key}: {:?}",
            r.reason
        );
    }
    for key in ["citizenships", "residency"] {
        let r = normalise_record(&with(key, json!([long]))).unwrap_err();
        assert!(r.reason.len() < 400, "{key}: {} bytes", r.reason.len());
    }
}
