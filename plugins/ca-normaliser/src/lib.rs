//! The CBSA-style CSV normaliser: entries into Canada, as exported by a
//! CBSA-style source system, into canonical crossings.
//!
//! The format is specified in `docs/source-formats.md` and summarised in
//! README.md. The logic is plain functions over the generated WIT types, so
//! `cargo test` runs it natively; only the log import is wasm32-specific.

wit_bindgen::generate!({ world: "normaliser", path: "../../wit" });

use std::collections::HashMap;

use entrex_plugin_common::dates::{self, PartialDate as CommonDate};
use entrex_plugin_common::icao;
#[cfg(target_arch = "wasm32")]
use exports::entrex::plugin::{configurable, normalise};

use crate::entrex::plugin::types::{
    Crossing, Mode, PartialDate, Rejection, Residency, Sex, SourceRecord,
};

/// Every column of the export. All must be in the header; the ones in
/// [`VALUE_REQUIRED`] must also have a value in every row.
pub const COLUMNS: [&str; 16] = [
    "record_id",
    "surname",
    "given_name",
    "middle_names",
    "birth_date",
    "sex",
    "nationality",
    "other_citizenships",
    "residency",
    "doc_type",
    "doc_number",
    "doc_issuer",
    "entry_time",
    "port_code",
    "mode",
    "authorised_until",
];

/// Columns whose value may not be empty. `given_name` may be: some documents
/// carry no given name.
const VALUE_REQUIRED: [&str; 11] = [
    "record_id",
    "surname",
    "birth_date",
    "sex",
    "nationality",
    "doc_type",
    "doc_number",
    "doc_issuer",
    "entry_time",
    "port_code",
    "mode",
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
        let split = split_batch(&batch)?;
        if !split.unknown_columns.is_empty() {
            log_unknown_columns(&split.unknown_columns);
        }
        Ok(split.records)
    }

    fn normalise(records: Vec<SourceRecord>) -> Vec<Result<Crossing, Rejection>> {
        records.iter().map(|r| normalise_record(&r.data)).collect()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(target_arch = "wasm32")]
fn log_unknown_columns(columns: &[String]) {
    use crate::entrex::plugin::log::{Level, log};
    // Column names are the export's schema, not personal data; cap their
    // number and length so a malformed header cannot flood the hub's log.
    let mut shown: Vec<String> = columns
        .iter()
        .take(10)
        .map(|c| c.chars().take(40).collect())
        .collect();
    if columns.len() > shown.len() {
        shown.push(format!("and {} more", columns.len() - shown.len()));
    }
    log(
        Level::Info,
        &format!(
            "ignoring columns this normaliser does not know: {}",
            shown.join(", ")
        ),
    );
}

/// The plugin takes no configuration: `{}` is accepted, any key refused.
pub fn configure(config_json: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(config_json)
        .map_err(|e| format!("the configuration is not JSON ({e}); ca-normaliser takes none: leave its config table empty"))?;
    let Some(map) = value.as_object() else {
        return Err("the configuration must be a table (a JSON object); ca-normaliser takes none: leave it empty".to_string());
    };
    if map.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
    Err(format!(
        "unknown configuration key{} {}: ca-normaliser takes no configuration; remove {} from its config table",
        if keys.len() == 1 { "" } else { "s" },
        keys.join(", "),
        if keys.len() == 1 { "it" } else { "them" }
    ))
}

/// A batch cut into records, with the header columns it ignored.
#[derive(Debug)]
pub struct Split {
    pub records: Vec<SourceRecord>,
    pub unknown_columns: Vec<String>,
}

fn expected_header() -> String {
    format!(
        "a header line naming the columns {} (in any order)",
        COLUMNS.join(", ")
    )
}

/// A line holding only white space. (The CSV reader already skips empty
/// lines; a row of empty fields such as `,,,` is not blank but a record.)
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1
        && record
            .iter()
            .all(|f| f.iter().all(|b| b.is_ascii_whitespace()))
}

fn trim_line_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Reads a header row into trimmed column names, refusing one that is not
/// UTF-8, lacks a column, or names one twice.
fn header_columns(header: &csv::ByteRecord) -> Result<(Vec<String>, Vec<String>), String> {
    let mut names = Vec::with_capacity(header.len());
    for field in header.iter() {
        let name = std::str::from_utf8(field).map_err(|_| {
            format!(
                "the header line is not UTF-8; expected {}",
                expected_header()
            )
        })?;
        names.push(name.trim().to_ascii_lowercase());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names
        .iter()
        .find(|n| !n.is_empty() && !seen.insert(n.as_str()))
    {
        return Err(format!(
            "the header names column `{dup}` twice; name each column once"
        ));
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| !names.iter().any(|n| n == c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header has no column {}; expected {} (a column may be left empty where the format allows, but it must be there)",
            missing.join(", "),
            expected_header()
        ));
    }
    let unknown = names
        .iter()
        .filter(|n| !n.is_empty() && !COLUMNS.contains(&n.as_str()))
        .cloned()
        .collect();
    Ok((names, unknown))
}

/// The most records the hub takes in one batch (its own limit, checked here
/// before each row is given a copy of the header).
pub const MAX_RECORDS: usize = 100_000;
/// A header of the known columns is about 200 bytes; one far longer is not
/// this export, and would be copied into every row.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Cuts a CSV batch into one standalone CSV document per row: the header
/// line, `\n`, and the row's own bytes, located as `line N` of the batch.
/// Blank lines are skipped. A batch without a complete header is refused,
/// and so is one with more than [`MAX_RECORDS`] rows or a header over
/// [`MAX_HEADER_BYTES`], before anything is copied.
pub fn split_batch(batch: &[u8]) -> Result<Split, String> {
    // Spreadsheet exports often start with a UTF-8 byte-order mark.
    let batch = batch.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(batch);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(batch);
    let mut record = csv::ByteRecord::new();
    // Start byte, line and blankness of every row, so each row's bytes can be
    // cut out exactly (quoted fields may span lines).
    let mut rows: Vec<(usize, u64, bool)> = Vec::new();
    let mut header: Option<csv::ByteRecord> = None;
    let mut non_blank_rows = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(format!(
                    "the batch is not readable CSV ({e}); expected RFC 4180 CSV with {}",
                    expected_header()
                ));
            }
        }
        let Some(position) = record.position() else {
            return Err("the CSV reader lost its position; resend the batch".to_string());
        };
        let blank = is_blank(&record);
        if header.is_none() && !blank {
            if record.as_slice().len() > MAX_HEADER_BYTES {
                return Err(format!(
                    "the header line is over {MAX_HEADER_BYTES} bytes, which the export's is not; expected {}",
                    expected_header()
                ));
            }
            header = Some(record.clone());
        } else if !blank {
            non_blank_rows += 1;
            if non_blank_rows > MAX_RECORDS {
                return Err(format!(
                    "the batch holds more than {MAX_RECORDS} records; send at most {MAX_RECORDS} per request"
                ));
            }
        }
        let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
        rows.push((start, 0, blank));
    }
    let Some(header) = header else {
        return Err(format!(
            "the batch is empty; expected {} and then one row per crossing",
            expected_header()
        ));
    };
    let (_, unknown_columns) = header_columns(&header)?;

    // The reader may report a row as starting on the line end that closes
    // the previous one (after a CR of a CRLF), so skip any such bytes; no
    // row can begin with a line end. Lines are counted here for the same
    // reason.
    let mut line = 1u64;
    let mut counted = 0usize;
    for row in rows.iter_mut() {
        let mut start = row.0.min(batch.len());
        while matches!(batch.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        line += batch[counted.min(start)..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted = counted.max(start);
        *row = (start, line, row.2);
    }
    let slice = |i: usize| -> &[u8] {
        let start = rows[i].0;
        let end = rows
            .get(i + 1)
            .map_or(batch.len(), |r| r.0)
            .clamp(start, batch.len());
        trim_line_end(&batch[start..end])
    };
    let mut non_blank = (0..rows.len()).filter(|&i| !rows[i].2);
    let Some(header_index) = non_blank.next() else {
        return Err(format!(
            "the batch is empty; expected {}",
            expected_header()
        ));
    };
    let header_bytes = slice(header_index);
    let records = non_blank
        .map(|i| {
            let row = slice(i);
            let mut data = Vec::with_capacity(header_bytes.len() + 1 + row.len());
            data.extend_from_slice(header_bytes);
            data.push(b'\n');
            data.extend_from_slice(row);
            SourceRecord {
                location: format!("line {}", rows[i].1),
                data,
            }
        })
        .collect();
    Ok(Split {
        records,
        unknown_columns,
    })
}

fn reject(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        field: Some(field.to_string()),
        reason: reason.into(),
    }
}

fn reject_record(reason: impl Into<String>) -> Rejection {
    Rejection {
        field: None,
        reason: reason.into(),
    }
}

/// One row with its header, giving access to fields by column name.
struct Row {
    columns: HashMap<String, usize>,
    values: csv::ByteRecord,
}

impl Row {
    /// The trimmed value of a column, refusing text that is not UTF-8 and,
    /// for [`VALUE_REQUIRED`] columns, an empty value.
    fn get(&self, column: &'static str) -> Result<&str, Rejection> {
        let raw = self
            .columns
            .get(column)
            .and_then(|&i| self.values.get(i))
            .unwrap_or(b"");
        let value = std::str::from_utf8(raw)
            .map_err(|_| reject(column, "is not valid UTF-8; export the file as UTF-8"))?
            .trim();
        if value.is_empty() && VALUE_REQUIRED.contains(&column) {
            return Err(reject(
                column,
                "is empty; this column needs a value in every row",
            ));
        }
        Ok(value)
    }
}

/// Reads a standalone record (header line, newline, row) into a [`Row`].
fn read_row(data: &[u8]) -> Result<Row, Rejection> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut lines = Vec::new();
    for result in reader.byte_records() {
        let record =
            result.map_err(|e| reject_record(format!("the record is not readable CSV ({e})")))?;
        if !is_blank(&record) {
            lines.push(record);
        }
    }
    let mut lines = lines.into_iter();
    let (Some(header), Some(values), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(reject_record(
            "a record must be the CSV header line followed by exactly one row; resend the batch rather than single rows",
        ));
    };
    let (names, _) = header_columns(&header).map_err(reject_record)?;
    if values.len() != names.len() {
        return Err(reject_record(format!(
            "the row has {} field{} but the header names {} columns; quote (\"...\") any value that contains a comma, a quote or a line break, and give every column a value or leave it empty",
            values.len(),
            if values.len() == 1 { "" } else { "s" },
            names.len()
        )));
    }
    let columns = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    Ok(Row { columns, values })
}

/// Whether `c` may appear in a name: letters of any script (with combining
/// accents for text that is not precomposed), spaces, hyphens, apostrophes
/// (typed or typographic).
fn is_name_char(c: char) -> bool {
    c.is_alphabetic()
        || c == ' '
        || c == '-'
        || c == '\''
        || c == '\u{2019}'
        || ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Trims, collapses inner white space and upper-cases a name, refusing
/// characters a name cannot hold. The message gives the character and its
/// position rather than echoing the name.
fn normalise_name(column: &'static str, value: &str) -> Result<String, Rejection> {
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((i, c)) = collapsed
        .chars()
        .enumerate()
        .find(|&(_, c)| !is_name_char(c))
    {
        return Err(reject(
            column,
            format!(
                "has {c:?} at character {}; a name holds letters (any script), spaces, '-' and apostrophes",
                i + 1
            ),
        ));
    }
    Ok(collapsed.to_uppercase())
}

fn country(column: &'static str, value: &str) -> Result<String, Rejection> {
    let code = value.to_ascii_uppercase();
    if icao::is_country_code(&code) {
        Ok(code)
    } else {
        Err(reject(
            column,
            format!(
                "'{value}' is not an ICAO 9303 country code; write ISO 3166-1 alpha-3 (CAN, USA, FRA...) or an ICAO special (D for Germany, XXA stateless, XXB/XXC refugee, UNO...)"
            ),
        ))
    }
}

/// Letters and digits only, upper-cased, of a bounded length.
fn alphanumeric(
    column: &'static str,
    value: &str,
    max: usize,
    example: &str,
) -> Result<String, Rejection> {
    let len = value.chars().count();
    if len == 0 || len > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(reject(
            column,
            format!("'{value}' must be 1-{max} letters or digits (A-Z, 0-9), e.g. {example}"),
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

fn parse_residency(value: &str) -> Result<Vec<Residency>, Rejection> {
    let mut out = Vec::new();
    for item in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let status = match item.to_ascii_uppercase().as_str() {
            "CA-PR" => Residency::CanadaPermanentResident,
            "US-LPR" => Residency::UsLawfulPermanentResident,
            _ => {
                return Err(reject(
                    "residency",
                    format!(
                        "'{item}' is not a status; write CA-PR and/or US-LPR, separated by ';', or leave it empty"
                    ),
                ));
            }
        };
        if !out.contains(&status) {
            out.push(status);
        }
    }
    Ok(out)
}

fn sex(value: &str) -> Result<Sex, Rejection> {
    match value {
        "F" | "f" => Ok(Sex::Female),
        "M" | "m" => Ok(Sex::Male),
        "X" | "x" => Ok(Sex::Unspecified),
        _ => Err(reject(
            "sex",
            format!("'{value}' is not a sex; write F, M or X"),
        )),
    }
}

/// Normalises one standalone CSV record into a crossing, or says which field
/// is wrong. Never panics, whatever the bytes.
pub fn normalise_record(data: &[u8]) -> Result<Crossing, Rejection> {
    let row = read_row(data)?;

    let record_id = row.get("record_id")?;
    let id_len = record_id.chars().count();
    if id_len > 64 || record_id.chars().any(char::is_control) {
        return Err(reject(
            "record_id",
            format!(
                "must be 1-64 printable characters (it has {id_len}{})",
                if record_id.chars().any(char::is_control) {
                    ", with control characters"
                } else {
                    ""
                }
            ),
        ));
    }

    let family_name = normalise_name("surname", row.get("surname")?)?;
    if family_name.is_empty() {
        return Err(reject(
            "surname",
            "has no letters; write the family name as on the document",
        ));
    }
    let given_names = normalise_name("given_name", row.get("given_name")?)?;
    let middle_names = normalise_name("middle_names", row.get("middle_names")?)?;

    let birth_text = row.get("birth_date")?;
    let birth: CommonDate =
        dates::parse_partial_date(birth_text).map_err(|e| reject("birth_date", e.to_string()))?;
    let sex = sex(row.get("sex")?)?;
    let nationality = country("nationality", row.get("nationality")?)?;

    let mut citizenships = vec![nationality.clone()];
    for code in row
        .get("other_citizenships")?
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let code = country("other_citizenships", code)?;
        if !citizenships.contains(&code) {
            citizenships.push(code);
        }
    }
    let residency = parse_residency(row.get("residency")?)?;

    let doc_type = row.get("doc_type")?;
    if !(1..=2).contains(&doc_type.len()) || !doc_type.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(reject(
            "doc_type",
            format!(
                "'{doc_type}' is not an ICAO document code; write 1-2 letters: P (passport), I or ID (identity card), AC or C (residence card)..."
            ),
        ));
    }
    let document_number = alphanumeric("doc_number", row.get("doc_number")?, 20, "L898902C3")?;
    let document_country = country("doc_issuer", row.get("doc_issuer")?)?;

    let crossed_at = dates::parse_rfc3339(row.get("entry_time")?)
        .map_err(|e| reject("entry_time", e.to_string()))?;
    if birth.earliest_unix() > crossed_at {
        return Err(reject(
            "birth_date",
            format!(
                "'{birth_text}' is after the entry time {}; a traveller is born before crossing: check birth_date and entry_time",
                dates::format_rfc3339(crossed_at)
            ),
        ));
    }
    let port_code = alphanumeric("port_code", row.get("port_code")?, 8, "0427")?;
    let mode_text = row.get("mode")?;
    let mode = parse_mode(mode_text).ok_or_else(|| {
        reject(
            "mode",
            format!("'{mode_text}' is not a mode; write VEHICLE, PEDESTRIAN, FERRY, RAIL, BUS or SEA (any case)"),
        )
    })?;

    let until_text = row.get("authorised_until")?;
    let authorised_stay_until = if until_text.is_empty() {
        None
    } else {
        let (y, m, d) =
            dates::parse_date(until_text).map_err(|e| reject("authorised_until", e.to_string()))?;
        Some(dates::end_of_day_unix(y, m, d))
    };

    Ok(Crossing {
        source_ref: record_id.to_string(),
        given_names,
        middle_names,
        family_name,
        date_of_birth: PartialDate {
            year: birth.year,
            month: birth.month,
            day: birth.day,
        },
        sex,
        nationality,
        document_type: doc_type.to_ascii_uppercase(),
        document_number,
        document_country,
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
