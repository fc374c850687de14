use super::*;

const HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";
const ROW: &str = "CBSA-1,Eriksson,Anna,Maria,1974-08-12,F,UTO,FRA;UTO,US-LPR,P,L898902C3,UTO,2026-11-21T14:03:00Z,0427,vehicle,2027-05-20";

/// The 2026-11-21T14:03:00Z of [`ROW`].
const ENTRY: i64 = 1_795_219_200 + 14 * 3600 + 3 * 60;

/// A record with one column of [`ROW`] replaced (quoted as needed).
fn record_with(column: &str, value: &str) -> Vec<u8> {
    let i = COLUMNS
        .iter()
        .position(|c| *c == column)
        .expect("known column");
    let mut fields: Vec<String> = ROW.split(',').map(str::to_string).collect();
    fields[i] = if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    };
    format!("{HEADER}\n{}", fields.join(",")).into_bytes()
}

fn rejection(data: &[u8]) -> (Option<String>, String) {
    let r = normalise_record(data).expect_err("should be rejected");
    (r.field, r.reason)
}

fn field_of(column: &str, value: &str) -> Option<String> {
    rejection(&record_with(column, value)).0
}

#[test]
fn normalises_a_full_row() {
    let c = normalise_record(format!("{HEADER}\n{ROW}").as_bytes()).unwrap();
    assert_eq!(c.source_ref, "CBSA-1");
    assert_eq!(c.family_name, "ERIKSSON");
    assert_eq!(c.given_names, "ANNA");
    assert_eq!(c.middle_names, "MARIA");
    assert_eq!(c.date_of_birth.year, 1974);
    assert_eq!(c.date_of_birth.month, Some(8));
    assert_eq!(c.date_of_birth.day, Some(12));
    assert_eq!(c.sex, Sex::Female);
    assert_eq!(c.nationality, "UTO");
    assert_eq!(c.citizenships, ["UTO", "FRA"]);
    assert_eq!(c.residency, [Residency::UsLawfulPermanentResident]);
    assert_eq!(c.document_type, "P");
    assert_eq!(c.document_number, "L898902C3");
    assert_eq!(c.document_country, "UTO");
    assert_eq!(c.crossed_at, ENTRY);
    assert_eq!(c.port_code, "0427");
    assert_eq!(c.mode, Mode::Vehicle);
    assert_eq!(
        c.authorised_stay_until,
        Some(dates::start_of_day_unix(2027, 5, 21) - 1)
    );
}

#[test]
fn optional_values_may_be_empty() {
    let row =
        "R2,Müller,Hans,,1980-00-00,x,D,,,id,ab12,D,2026-11-21T09:03:00-05:00,0427,Pedestrian,";
    let c = normalise_record(format!("{HEADER}\n{row}").as_bytes()).unwrap();
    assert_eq!(c.family_name, "MÜLLER");
    assert_eq!(c.middle_names, "");
    assert_eq!(c.date_of_birth.month, None);
    assert_eq!(c.date_of_birth.day, None);
    assert_eq!(c.sex, Sex::Unspecified);
    assert_eq!(c.nationality, "D");
    assert_eq!(c.citizenships, ["D"]);
    assert!(c.residency.is_empty());
    assert_eq!(c.document_type, "ID");
    assert_eq!(c.document_number, "AB12");
    assert_eq!(c.crossed_at, ENTRY);
    assert_eq!(c.mode, Mode::Pedestrian);
    assert_eq!(c.authorised_stay_until, None);
    // A document with no given name.
    let c = normalise_record(&record_with("given_name", "")).unwrap();
    assert_eq!(c.given_names, "");
}

#[test]
fn names_are_collapsed_and_upper_cased() {
    let c = normalise_record(&record_with("surname", "  van   der\tBerg ")).unwrap();
    assert_eq!(c.family_name, "VAN DER BERG");
    let c = normalise_record(&record_with("middle_names", "marie-claire  o’neil")).unwrap();
    assert_eq!(c.middle_names, "MARIE-CLAIRE O’NEIL");
    let c = normalise_record(&record_with("surname", "Ĳzerman")).unwrap();
    assert_eq!(c.family_name, "ĲZERMAN");
    let c = normalise_record(&record_with("surname", "Straße")).unwrap();
    assert_eq!(c.family_name, "STRASSE");
    let c = normalise_record(&record_with("surname", "Иванов")).unwrap();
    assert_eq!(c.family_name, "ИВАНОВ");
    let c = normalise_record(&record_with("surname", "Jose\u{301}")).unwrap();
    assert_eq!(c.family_name, "JOSE\u{301}");
}

#[test]
fn citizenships_and_residency_are_deduplicated() {
    let c = normalise_record(&record_with("other_citizenships", " fra ; FRA;;deu; UTO ")).unwrap();
    assert_eq!(c.citizenships, ["UTO", "FRA", "DEU"]);
    let c = normalise_record(&record_with("residency", "ca-pr;US-LPR;CA-PR;")).unwrap();
    assert_eq!(
        c.residency,
        [
            Residency::CanadaPermanentResident,
            Residency::UsLawfulPermanentResident
        ]
    );
}

#[test]
fn every_field_is_checked_and_named() {
    let cases: [(&str, &str, &str); 24] = [
        (
            "record_id",
            "",
            "is empty; this column needs a value in every row",
        ),
        (
            "record_id",
            &"x".repeat(65),
            "must be 1-64 printable characters (it has 65)",
        ),
        ("surname", "", "is empty"),
        (
            "surname",
            "Smith2",
            "has '2' at character 6; a name holds letters (any script), spaces, '-' and apostrophes",
        ),
        ("given_name", "Anna.", "has '.' at character 5"),
        ("middle_names", "A/B", "has '/' at character 2"),
        (
            "birth_date",
            "1990-02-30",
            "'1990-02-30' is not a date: February 1990 has 28 days",
        ),
        ("birth_date", "12/08/1974", "is not in the form YYYY-MM-DD"),
        (
            "birth_date",
            "2027-01-01",
            "'2027-01-01' is after the entry time 2026-11-21T14:03:00Z",
        ),
        ("birth_date", "2026-12-00", "is after the entry time"),
        ("sex", "female", "'female' is not a sex; write F, M or X"),
        (
            "nationality",
            "ZZZ",
            "'ZZZ' is not an ICAO 9303 country code",
        ),
        ("nationality", "DE", "'DE' is not an ICAO 9303 country code"),
        (
            "other_citizenships",
            "FRA;XYZ",
            "'XYZ' is not an ICAO 9303 country code",
        ),
        (
            "residency",
            "CA-PR;citizen",
            "'citizen' is not a status; write CA-PR and/or US-LPR",
        ),
        ("doc_type", "PPP", "'PPP' is not an ICAO document code"),
        ("doc_type", "1", "'1' is not an ICAO document code"),
        (
            "doc_number",
            "L898 902",
            "'L898 902' must be 1-20 letters or digits",
        ),
        (
            "doc_number",
            &"9".repeat(21),
            "must be 1-20 letters or digits",
        ),
        (
            "doc_issuer",
            "XXQ",
            "'XXQ' is not an ICAO 9303 country code",
        ),
        ("entry_time", "2026-11-21T14:03:00", "offset is missing"),
        (
            "port_code",
            "04-27",
            "'04-27' must be 1-8 letters or digits",
        ),
        (
            "mode",
            "plane",
            "'plane' is not a mode; write VEHICLE, PEDESTRIAN, FERRY, RAIL, BUS or SEA (any case)",
        ),
        ("authorised_until", "2027-05-00", "must be complete"),
    ];
    for (column, value, message) in cases {
        let (field, reason) = rejection(&record_with(column, value));
        assert_eq!(
            field.as_deref(),
            Some(column),
            "{column}={value:?}: {reason}"
        );
        assert!(reason.contains(message), "{column}={value:?}: {reason}");
    }
    assert_eq!(field_of("surname", "O'Brien, Jr"), Some("surname".into()));
}

#[test]
fn born_on_the_day_of_crossing_is_fine() {
    let c = normalise_record(&record_with("birth_date", "2026-11-21")).unwrap();
    assert_eq!(c.date_of_birth.year, 2026);
    let c = normalise_record(&record_with("birth_date", "2026-00-00")).unwrap();
    assert_eq!(c.date_of_birth.month, None);
}

#[test]
fn wrong_field_count_is_a_record_rejection() {
    let (field, reason) = rejection(format!("{HEADER}\n{ROW},extra").as_bytes());
    assert_eq!(field, None);
    assert!(
        reason.starts_with("the row has 17 fields but the header names 16 columns; quote"),
        "{reason}"
    );
    let (field, reason) = rejection(format!("{HEADER}\nonly-one").as_bytes());
    assert_eq!(field, None);
    assert!(reason.starts_with("the row has 1 field but"), "{reason}");
}

#[test]
fn a_record_must_be_header_and_one_row() {
    for data in [
        String::new(),
        HEADER.to_string(),
        format!("{HEADER}\n{ROW}\n{ROW}"),
    ] {
        let (field, reason) = rejection(data.as_bytes());
        assert_eq!(field, None);
        assert!(reason.contains("exactly one row"), "{reason}");
    }
    let (field, reason) = rejection(format!("{}\n{ROW}", HEADER.replace("sex,", "")).as_bytes());
    assert_eq!(field, None);
    assert!(
        reason.starts_with("the header has no column sex;"),
        "{reason}"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let row = format!("{HEADER}\n{ROW}").into_bytes();
    for _ in 0..2000 {
        let mut data = row.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % data.len();
            data[i] = (seed >> 32) as u8;
        }
        let _ = normalise_record(&data);
        let _ = split_batch(&data);
    }
    let _ = normalise_record(b"\xff\xfe\"\"\"");
    let _ = split_batch(b"\"unterminated");
}

#[test]
fn non_utf8_values_are_named() {
    let mut data = record_with("surname", "X");
    let i = data.windows(3).position(|w| w == b",X,").unwrap() + 1;
    data[i] = 0xff;
    let (field, reason) = rejection(&data);
    assert_eq!(field.as_deref(), Some("surname"));
    assert!(reason.contains("UTF-8"), "{reason}");
}

#[test]
fn split_cuts_rows_into_standalone_documents() {
    let row2 = "CBSA-2,\"Smith, Jr\",John,,1980-06-00,M,GBR,,,P,123456789,GBR,2026-11-21T14:05:00Z,0427,BUS,";
    let row3 = "CBSA-3,\"Multi\nLine\",John,,1980-06-00,M,GBR,,,P,123456789,GBR,2026-11-21T14:05:00Z,0427,BUS,";
    let batch = format!("\u{feff}{HEADER}\r\n{ROW}\r\n\r\n   \r\n{row2}\n{row3}\n\n");
    let split = split_batch(batch.as_bytes()).unwrap();
    assert!(split.unknown_columns.is_empty());
    let locations: Vec<&str> = split.records.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(locations, ["line 2", "line 5", "line 6"]);
    assert_eq!(
        split.records[0].data,
        format!("{HEADER}\n{ROW}").into_bytes()
    );
    assert_eq!(
        split.records[1].data,
        format!("{HEADER}\n{row2}").into_bytes()
    );
    assert_eq!(
        split.records[2].data,
        format!("{HEADER}\n{row3}").into_bytes()
    );

    // The quoted comma survives the cut, and then is no name character.
    let (field, reason) = rejection(&split.records[1].data);
    assert_eq!(field.as_deref(), Some("surname"));
    assert!(reason.starts_with("has ',' at character 6"), "{reason}");
    // A quoted line break is white space inside the name.
    let c = normalise_record(&split.records[2].data).unwrap();
    assert_eq!(c.family_name, "MULTI LINE");
}

#[test]
fn split_handles_header_only_and_unknown_columns() {
    let split = split_batch(format!("{HEADER}\n").as_bytes()).unwrap();
    assert!(split.records.is_empty());

    let header = format!("Notes,{}", HEADER.to_uppercase());
    let batch = format!("{header}\nhello,{ROW}\n");
    let split = split_batch(batch.as_bytes()).unwrap();
    assert_eq!(split.unknown_columns, ["notes"]);
    assert_eq!(split.records.len(), 1);
    let c = normalise_record(&split.records[0].data).unwrap();
    assert_eq!(c.source_ref, "CBSA-1");
}

#[test]
fn split_refuses_bad_batches() {
    let e = split_batch(b"").unwrap_err();
    assert!(
        e.starts_with(
            "the batch is empty; expected a header line naming the columns record_id, surname"
        ),
        "{e}"
    );
    let e = split_batch(b"\n  \n").unwrap_err();
    assert!(e.starts_with("the batch is empty"), "{e}");
    let e = split_batch(format!("{}\n{ROW}", HEADER.replace(",mode", "")).as_bytes()).unwrap_err();
    assert!(
        e.starts_with("the header has no column mode; expected a header line naming"),
        "{e}"
    );
    let e = split_batch(format!("{HEADER},sex\n{ROW}").as_bytes()).unwrap_err();
    assert_eq!(
        e,
        "the header names column `sex` twice; name each column once"
    );
    let e = split_batch(b"{\"feed\": \"cbp-entry/1\"}").unwrap_err();
    assert!(e.contains("the header has no column"), "{e}");
}

#[test]
fn configure_accepts_only_an_empty_table() {
    assert_eq!(configure("{}"), Ok(()));
    assert_eq!(configure(" { } "), Ok(()));
    assert_eq!(
        configure(r#"{"strict": true}"#).unwrap_err(),
        "unknown configuration key `strict`: ca-normaliser takes no configuration; remove it from its config table"
    );
    let e = configure(r#"{"a": 1, "b": 2}"#).unwrap_err();
    assert!(e.starts_with("unknown configuration keys `a`, `b`:"), "{e}");
    assert!(configure("[]").unwrap_err().contains("must be a table"));
    assert!(configure("nope").unwrap_err().contains("is not JSON"));
}
