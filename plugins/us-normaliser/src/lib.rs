//! The CBP-style JSON normaliser: entries into the United States, with the
//! ICAO 9303 machine-readable zone as the document reader read it, into
//! canonical crossings.
//!
//! The format is specified in `docs/source-formats.md` and summarised in
//! README.md. The logic is plain functions over the generated WIT types, so
//! `cargo test` runs it natively.

wit_bindgen::generate!({ world: "normaliser", path: "../../wit" });

use entrex_plugin_common::dates;
use entrex_plugin_common::icao;
#[cfg(target_arch = "wasm32")]
use exports::entrex::plugin::{configurable, normalise};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::entrex::plugin::types::{
    Crossing, Mode, PartialDate, Rejection, Residency, Sex, SourceRecord,
};

/// The only feed this normaliser reads.
pub const FEED: &str = "cbp-entry/1";

/// The keys a record may carry, in the order of the format's description.
pub const RECORD_KEYS: [&str; 8] = [
    "event_id",
    "mrz",
    "inspected_at",
    "port",
    "mode",
    "citizenships",
    "residency",
    "admit_until",
];

// The exports' symbol names (`entrex:plugin/...#configure`) are not valid in
// a native linker script, so the component glue exists for wasm32 only.
#[cfg(target_arch = "wasm32")]
struct Plugin;

#[cfg(target_arch = "wasm32")]
impl configurable::Guest for Plugin {
    fn configure(config_json: String) -> Result<(), String> {
        configure(&config_json)
    }
}

#[cfg(target_arch = "wasm32")]
impl normalise::Guest for Plugin {
    fn split(batch: Vec<u8>) -> Result<Vec<SourceRecord>, String> {
        split_batch(&batch)
    }

    fn normalise(records: Vec<SourceRecord>) -> Vec<Result<Crossing, Rejection>> {
        records.iter().map(|r| normalise_record(&r.data)).collect()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

/// The plugin takes no configuration: `{}` is accepted, any key refused.
pub fn configure(config_json: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(config_json).map_err(|e| {
        format!("the configuration is not JSON ({e}); us-normaliser takes none: leave its config table empty")
    })?;
    let Some(map) = value.as_object() else {
        return Err("the configuration must be a table (a JSON object); us-normaliser takes none: leave it empty".to_string());
    };
    if map.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
    Err(format!(
        "unknown configuration key{} {}: us-normaliser takes no configuration; remove {} from its config table",
        if keys.len() == 1 { "" } else { "s" },
        keys.join(", "),
        if keys.len() == 1 { "it" } else { "them" }
    ))
}

const EXPECTED_BATCH: &str = r#"one JSON object {"feed": "cbp-entry/1", "records": [{...}, ...]}"#;

/// The batch envelope. Records are kept as raw JSON so each is stored as
/// exactly the bytes the source sent.
#[derive(Deserialize)]
struct Batch<'a> {
    feed: Option<String>,
    #[serde(borrow)]
    records: Option<Vec<&'a RawValue>>,
}

/// Cuts a `cbp-entry/1` batch into its records, each located as
/// `records[i]` and holding the record's JSON text as sent.
pub fn split_batch(batch: &[u8]) -> Result<Vec<SourceRecord>, String> {
    let text = std::str::from_utf8(batch)
        .map_err(|e| format!("the batch is not UTF-8 ({e}); expected {EXPECTED_BATCH}"))?;
    let batch: Batch<'_> = serde_json::from_str(text).map_err(|e| {
        format!(
            "the batch is not a cbp-entry/1 feed ({}); expected {EXPECTED_BATCH}",
            without_values(&e)
        )
    })?;
    match batch.feed.as_deref() {
        Some(FEED) => {}
        Some(other) => {
            return Err(format!(
                "feed is \"{}\"; this normaliser reads \"{FEED}\" only: send {EXPECTED_BATCH}",
                other.chars().take(40).collect::<String>()
            ));
        }
        None => {
            return Err(format!(
                "the batch has no \"feed\"; expected {EXPECTED_BATCH}"
            ));
        }
    }
    let Some(records) = batch.records else {
        return Err(format!(
            "the batch has no \"records\" list; expected {EXPECTED_BATCH}"
        ));
    };
    // The hub's own limit, said before each record is copied out.
    const MAX_RECORDS: usize = 100_000;
    if records.len() > MAX_RECORDS {
        return Err(format!(
            "the batch holds {} records; send at most {MAX_RECORDS} per request",
            records.len()
        ));
    }
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, raw)| SourceRecord {
            location: format!("records[{i}]"),
            data: raw.get().as_bytes().to_vec(),
        })
        .collect())
}

/// One record with every value still raw, so that a value of the wrong type
/// is reported against its own key. Unknown keys are refused: the feed must
/// carry no more than the hub needs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    #[serde(borrow)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow)]
    mrz: Option<&'a RawValue>,
    #[serde(borrow)]
    inspected_at: Option<&'a RawValue>,
    #[serde(borrow)]
    port: Option<&'a RawValue>,
    #[serde(borrow)]
    mode: Option<&'a RawValue>,
    #[serde(borrow)]
    citizenships: Option<&'a RawValue>,
    #[serde(borrow)]
    residency: Option<&'a RawValue>,
    #[serde(borrow)]
    admit_until: Option<&'a RawValue>,
}

fn reject(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        field: Some(field.to_string()),
        reason: reason.into(),
    }
}

/// The key named between the first pair of backticks of a serde message
/// (`unknown field `x`, expected ...`), if it is short enough to be a key
/// anyone meant (a source controls it).
fn quoted_key(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message.get(start..)?.find('`')?;
    message
        .get(start..start + len)
        .filter(|k| k.len() <= MAX_KEY && !k.contains(char::is_control))
}

/// Longest key a rejection names.
const MAX_KEY: usize = 64;

/// A serde_json error without the values it quotes (`invalid type: string
/// "ERIKSSON ..."`): what a source sent may be personal data, of any length,
/// and a refusal is stored, returned and logged. The kind of value, what was
/// expected and where stay.
fn without_values(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let mut out = String::with_capacity(message.len().min(256));
    let mut rest = message.as_str();
    // serde_json appends " at line L column C" itself; it is kept.
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // The closing quote: the last one before ", expected" or the end.
        let close = after
            .find(", expected")
            .and_then(|end| after[..end].rfind(quote))
            .or_else(|| after.find(quote));
        match close {
            Some(close) if quote == '`' && close <= MAX_KEY => {
                out.push('`');
                out.push_str(&after[..close]);
                out.push('`');
                rest = &after[close + 1..];
            }
            Some(close) => {
                out.push_str("(value not shown)");
                rest = &after[close + 1..];
            }
            None => {
                out.push_str("(value not shown)");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Turns a failure to read the record's envelope into a rejection naming
/// the key where serde names one.
fn envelope_rejection(e: &serde_json::Error) -> Rejection {
    let message = e.to_string();
    if message.starts_with("unknown field")
        && let Some(key) = quoted_key(&message)
    {
        return reject(
            key,
            format!(
                "is not part of a {FEED} record, which carries only {} (data minimisation); stop sending it",
                RECORD_KEYS.join(", ")
            ),
        );
    }
    if message.starts_with("duplicate field")
        && let Some(key) = quoted_key(&message)
    {
        return reject(key, "appears twice in the record; send each key once");
    }
    Rejection {
        field: None,
        reason: format!(
            "the record is not a JSON object with {FEED} keys ({}); send one object per record",
            without_values(e)
        ),
    }
}

fn required<'a>(field: &str, value: Option<&'a RawValue>) -> Result<&'a RawValue, Rejection> {
    value.ok_or_else(|| reject(field, "is missing; every record needs it"))
}

fn string(field: &str, raw: &RawValue, example: &str) -> Result<String, Rejection> {
    serde_json::from_str::<String>(raw.get())
        .map_err(|_| reject(field, format!("must be a JSON string, e.g. \"{example}\"")))
}

fn string_list(field: &str, raw: &RawValue, example: &str) -> Result<Vec<String>, Rejection> {
    serde_json::from_str::<Vec<String>>(raw.get())
        .map_err(|_| reject(field, format!("must be a list of strings, e.g. {example}")))
}

/// Letters and digits only, upper-cased, of a bounded length.
fn alphanumeric(field: &str, value: &str, max: usize, example: &str) -> Result<String, Rejection> {
    let len = value.chars().count();
    if len == 0 || len > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(reject(
            field,
            format!(
                "{} must be 1-{max} letters or digits (A-Z, 0-9), e.g. \"{example}\"",
                entrex_plugin_common::quoted(value)
            ),
        ));
    }
    Ok(value.to_ascii_uppercase())
}

/// Parses a `mode` value, in any case.
pub fn parse_mode(value: &str) -> Option<Mode> {
    Some(match value.to_ascii_uppercase().as_str() {
        "VEHICLE" => Mode::Vehicle,
        "PEDESTRIAN" => Mode::Pedestrian,
        "FERRY" => Mode::Ferry,
        "RAIL" => Mode::Rail,
        "BUS" => Mode::Bus,
        "SEA" => Mode::Sea,
        _ => return None,
    })
}

fn mrz_rejection(e: &icao::MrzError) -> Rejection {
    reject(&e.location(), e.to_string())
}

fn sex_of(c: char) -> Sex {
    match c {
        'F' => Sex::Female,
        'M' => Sex::Male,
        _ => Sex::Unspecified,
    }
}

/// Normalises one record (a JSON object) into a crossing, or says which key
/// or MRZ field is wrong. Never panics, whatever the bytes.
pub fn normalise_record(data: &[u8]) -> Result<Crossing, Rejection> {
    let text = std::str::from_utf8(data).map_err(|_| Rejection {
        field: None,
        reason: "the record is not UTF-8 JSON; send the feed as UTF-8".to_string(),
    })?;
    let raw: RawRecord<'_> = serde_json::from_str(text).map_err(|e| envelope_rejection(&e))?;

    let event_id = string(
        "event_id",
        required("event_id", raw.event_id)?,
        "CBP-3004-20261121-000123",
    )?;
    let id_len = event_id.chars().count();
    if id_len == 0 || id_len > 64 || event_id.chars().any(char::is_control) {
        return Err(reject(
            "event_id",
            format!("must be 1-64 printable characters (it has {id_len})"),
        ));
    }

    let lines = string_list(
        "mrz",
        required("mrz", raw.mrz)?,
        r#"["P<UTO...", "L898902C3..."]"#,
    )?;
    let mrz = icao::parse_mrz(&lines).map_err(|e| mrz_rejection(&e))?;

    let inspected_text = string(
        "inspected_at",
        required("inspected_at", raw.inspected_at)?,
        "2026-11-21T14:03:00Z",
    )?;
    let crossed_at =
        dates::parse_rfc3339(&inspected_text).map_err(|e| reject("inspected_at", e.to_string()))?;
    let birth = mrz
        .birth_date_at(crossed_at)
        .map_err(|e| mrz_rejection(&e))?;

    let port = string("port", required("port", raw.port)?, "3004")?;
    let port_code = alphanumeric("port", &port, 8, "3004")?;
    let mode_text = string("mode", required("mode", raw.mode)?, "vehicle")?;
    let mode = parse_mode(&mode_text).ok_or_else(|| {
        reject(
            "mode",
            format!(
                "{} is not a mode; write vehicle, pedestrian, ferry, rail, bus or sea (any case)",
                entrex_plugin_common::quoted(&mode_text)
            ),
        )
    })?;

    let mut citizenships = vec![mrz.nationality.clone()];
    if let Some(raw_list) = raw.citizenships {
        for (i, code) in string_list("citizenships", raw_list, r#"["FRA", "DEU"]"#)?
            .iter()
            .enumerate()
        {
            let code = code.trim().to_ascii_uppercase();
            if !icao::is_country_code(&code) {
                return Err(reject(
                    "citizenships",
                    format!(
                        "item {i} ({}) is not an ICAO 9303 country code; write ISO 3166-1 alpha-3 (CAN, USA, FRA...) or an ICAO special (D, XXA, UNO...)",
                        entrex_plugin_common::quoted(&code)
                    ),
                ));
            }
            if !citizenships.contains(&code) {
                citizenships.push(code);
            }
        }
    }

    let mut residency = Vec::new();
    if let Some(raw_list) = raw.residency {
        for item in string_list("residency", raw_list, r#"["US-LPR"]"#)? {
            let status = match item.trim().to_ascii_uppercase().as_str() {
                "CA-PR" => Residency::CanadaPermanentResident,
                "US-LPR" => Residency::UsLawfulPermanentResident,
                _ => {
                    return Err(reject(
                        "residency",
                        format!(
                            "{} is not a status; list CA-PR and/or US-LPR, or leave the key out",
                            entrex_plugin_common::quoted(&item)
                        ),
                    ));
                }
            };
            if !residency.contains(&status) {
                residency.push(status);
            }
        }
    }

    let authorised_stay_until = match raw.admit_until {
        None => None,
        Some(raw_until) => {
            let text = string("admit_until", raw_until, "2027-05-20")?;
            let (y, m, d) =
                dates::parse_date(&text).map_err(|e| reject("admit_until", e.to_string()))?;
            Some(dates::end_of_day_unix(y, m, d))
        }
    };

    let mut given = mrz.given_names.iter();
    let given_names = given.next().cloned().unwrap_or_default();
    let middle_names = given.map(String::as_str).collect::<Vec<_>>().join(" ");

    Ok(Crossing {
        source_ref: event_id,
        given_names,
        middle_names,
        family_name: mrz.family_name,
        date_of_birth: PartialDate {
            year: birth.year,
            month: birth.month,
            day: birth.day,
        },
        sex: sex_of(mrz.sex),
        nationality: mrz.nationality,
        document_type: mrz.document_code,
        document_number: mrz.document_number,
        document_country: mrz.issuing_state,
        crossed_at,
        port_code,
        mode,
        citizenships,
        residency,
        authorised_stay_until,
    })
}

#[cfg(test)]
mod tests;
