//! Persons under a removal or departure order who have left.
//!
//! The hub loads its own list (`[removal_orders] file`, a CSV described in
//! `docs/removal-orders.md`) at start and at every plugin reload. The list
//! stays on the hub: it is never sent to a partner and never in a bundle.
//!
//! A screening worker per partner reads the records the partner sends (our
//! exits) in sequence order, as the matcher does, and compares each with the
//! list through the same matcher plugin: the plugin's blocking keys bring a
//! record and a listed person together, its score compares them, and a pair
//! at or above `[matching] link_threshold` is **flagged** for a person to
//! confirm or reject (`GET /v1/removal-orders/flags`,
//! `POST /v1/removal-orders/flags/decision`). Nothing is actioned
//! automatically. A partner's correction is screened again; a deletion takes
//! the record's flags away; a new list screens every record again (see
//! `store/removal.rs` for what is kept).
//!
//! The joint report's `removal_orders_departed` counts **persons** (orders),
//! each once, at its earliest flagged departure that no person rejected.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::hub::Core;
use crate::ingest::contained;
use crate::plugins::{Matcher, PluginError};
use crate::record::{PartialDate, Sex, SharedRecord, Timestamp, format_time};
use crate::store::{FlagStatus, RemovalFlag, Screened, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error(
        "cannot read the removal-order list {path} ([removal_orders] file): {source}; check the path (relative to the configuration file)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found in the file, so that one pass fixes them all.
    #[error("the removal-order list {path} has {} problem(s); nothing of it was loaded:\n{}", .problems.len(), render_problems(.problems))]
    Rows {
        path: PathBuf,
        problems: Vec<RowProblem>,
    },
    #[error("the matcher plugin failed on the removal-order list {path}, line {line}: {message}")]
    Plugin {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    PluginCall(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One problem in the list file, where it is and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    pub line: usize,
    /// 1-based column, and the column's name from the header, when the
    /// problem is one field's.
    pub column: Option<(usize, String)>,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some((n, name)) if name.is_empty() => {
                write!(f, "line {}, column {n}: {}", self.line, self.message)
            }
            Some((n, name)) => write!(
                f,
                "line {}, column {n} ({name}): {}",
                self.line, self.message
            ),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// At most this many problems are listed; the rest are counted.
const MAX_PROBLEMS_SHOWN: usize = 50;

fn render_problems(problems: &[RowProblem]) -> String {
    let mut out: Vec<String> = problems
        .iter()
        .take(MAX_PROBLEMS_SHOWN)
        .map(|p| format!("  {p}"))
        .collect();
    if problems.len() > MAX_PROBLEMS_SHOWN {
        out.push(format!(
            "  … and {} more",
            problems.len() - MAX_PROBLEMS_SHOWN
        ));
    }
    out.join("\n")
}

/// The columns of the list, in the order `docs/removal-orders.md` gives them.
pub const COLUMNS: &[&str] = &[
    "order_id",
    "family_name",
    "given_names",
    "middle_names",
    "date_of_birth",
    "sex",
    "nationality",
    "document_type",
    "document_number",
    "document_country",
    "issued_on",
];
/// Columns the header must have.
const REQUIRED_COLUMNS: &[&str] = &["order_id", "family_name", "date_of_birth"];

/// One row of the list: a person under an order, as recorded (one order may
/// have several rows: aliases, other documents).
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub order_id: String,
    pub line: usize,
    /// The person in the shape the matcher compares. `entered_at` is the
    /// order's issue date (0 when unknown) and `port_code` is empty: a
    /// listed person has crossed nowhere.
    pub record: SharedRecord,
    /// Departures before this (the order's issue date) are not departures
    /// under the order and are not flagged.
    pub issued_on: Option<Timestamp>,
}

/// The list in use, with the matcher's blocking keys for each row.
pub struct RemovalList {
    pub file: PathBuf,
    /// SHA-256 of the file: a different list screens every record again.
    pub sha256: Vec<u8>,
    pub persons: Vec<Listed>,
    by_key: HashMap<String, Vec<usize>>,
}

impl RemovalList {
    /// Distinct orders on the list.
    pub fn orders(&self) -> usize {
        let mut ids: Vec<&str> = self.persons.iter().map(|p| p.order_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The rows of one order.
    pub fn rows_of<'a>(&'a self, order_id: &'a str) -> impl Iterator<Item = &'a Listed> + 'a {
        self.persons.iter().filter(move |p| p.order_id == order_id)
    }
}

/// Reads the list named in the settings, if any, and keys it with `matcher`.
pub fn load_configured(
    file: Option<&Path>,
    matcher: &Matcher,
) -> Result<Option<RemovalList>, RemovalError> {
    file.map(|f| load(f, matcher)).transpose()
}

/// Reads and checks the list at `path` (every bad row named by line and
/// column), then asks `matcher` for each row's blocking keys.
pub fn load(path: &Path, matcher: &Matcher) -> Result<RemovalList, RemovalError> {
    let bytes = std::fs::read(path).map_err(|source| RemovalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let persons = parse(&bytes).map_err(|problems| RemovalError::Rows {
        path: path.to_owned(),
        problems,
    })?;
    let records: Vec<SharedRecord> = persons.iter().map(|p| p.record.clone()).collect();
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (chunk_index, chunk) in records.chunks(1024).enumerate() {
        let keys = contained(chunk, &|r| matcher.block_keys(r))?;
        for (i, keys) in keys.into_iter().enumerate() {
            let index = chunk_index * 1024 + i;
            let keys = keys.map_err(|message| RemovalError::Plugin {
                path: path.to_owned(),
                line: persons[index].line,
                message,
            })?;
            for key in keys {
                let slot = by_key.entry(key).or_default();
                if slot.last() != Some(&index) {
                    slot.push(index);
                }
            }
        }
    }
    use sha2::Digest;
    Ok(RemovalList {
        file: path.to_owned(),
        sha256: sha2::Sha256::digest(&bytes).to_vec(),
        persons,
        by_key,
    })
}

/// Parses the list's CSV: a header naming the columns (any order, those of
/// [`COLUMNS`] only), then one person per row. Every problem is collected.
pub fn parse(bytes: &[u8]) -> Result<Vec<Listed>, Vec<RowProblem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            return Err(vec![RowProblem {
                line,
                column: None,
                message: "is not UTF-8; save the file as UTF-8".into(),
            }]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = split_csv(text)?;
    let mut rows = rows.into_iter().filter(|r| !r.is_blank());
    let Some(header) = rows.next() else {
        return Err(vec![RowProblem {
            line: 1,
            column: None,
            message: format!(
                "the file is empty; write a header line naming the columns ({}), then one row per person",
                COLUMNS.join(",")
            ),
        }]);
    };
    let mut problems = Vec::new();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.fields.iter().enumerate() {
        let name = name.trim();
        let Some(&known) = COLUMNS.iter().find(|c| **c == name) else {
            problems.push(RowProblem {
                line: header.line,
                column: Some((i + 1, name.to_owned())),
                message: format!(
                    "{name:?} is not a column of the removal-order list; the columns are {}",
                    COLUMNS.join(", ")
                ),
            });
            continue;
        };
        if index.insert(known, i).is_some() {
            problems.push(RowProblem {
                line: header.line,
                column: Some((i + 1, name.to_owned())),
                message: format!("the column {name} appears twice; keep one"),
            });
        }
    }
    for required in REQUIRED_COLUMNS {
        if !index.contains_key(required) {
            problems.push(RowProblem {
                line: header.line,
                column: None,
                message: format!(
                    "the header has no {required} column; it is required (required columns: {})",
                    REQUIRED_COLUMNS.join(", ")
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let width = header.fields.len();
    let mut persons = Vec::new();
    for row in rows {
        if row.fields.len() != width {
            problems.push(RowProblem {
                line: row.line,
                column: None,
                message: format!(
                    "has {} field(s) but the header has {width}; quote a value that contains a comma",
                    row.fields.len()
                ),
            });
            continue;
        }
        let mut field = RowFields {
            row: &row,
            index: &index,
            problems: &mut problems,
        };
        if let Some(listed) = field.person() {
            persons.push(listed);
        }
    }
    if problems.is_empty() {
        Ok(persons)
    } else {
        Err(problems)
    }
}

/// Reads one row's fields by column name, collecting problems.
struct RowFields<'a> {
    row: &'a CsvRow,
    index: &'a HashMap<&'static str, usize>,
    problems: &'a mut Vec<RowProblem>,
}

impl RowFields<'_> {
    fn raw(&self, column: &'static str) -> &str {
        self.index
            .get(column)
            .and_then(|i| self.row.fields.get(*i))
            .map(|s| s.trim())
            .unwrap_or("")
    }

    fn problem(&mut self, column: &'static str, message: String) {
        let n = self.index.get(column).map_or(0, |i| i + 1);
        self.problems.push(RowProblem {
            line: self.row.line,
            column: Some((n, column.to_owned())),
            message,
        });
    }

    fn name(&mut self, column: &'static str, required: bool) -> String {
        let value = collapse(self.raw(column)).to_uppercase();
        if required && value.is_empty() {
            self.problem(column, "is empty; it is required".into());
        } else if value.len() > 256 {
            self.problem(column, "is longer than 256 bytes".into());
        } else if let Some(c) = value
            .chars()
            .find(|c| !(c.is_alphabetic() || matches!(c, ' ' | '-' | '\'')))
        {
            self.problem(
                column,
                format!(
                    "contains {}; write letters (any script), spaces, hyphens or apostrophes only",
                    describe_char(c)
                ),
            );
        }
        value
    }

    fn code(&mut self, column: &'static str, max: usize, digits: bool, example: &str) -> String {
        let value = self.raw(column).to_ascii_uppercase();
        let ok = |c: char| c.is_ascii_uppercase() || (digits && c.is_ascii_digit());
        if !value.is_empty() && (value.len() > max || !value.chars().all(ok)) {
            let kind = if digits {
                "letters or digits"
            } else {
                "letters"
            };
            self.problem(
                column,
                format!("is not 1-{max} {kind} (it has {} characters); write e.g. {example}, or leave it empty if unknown", value.chars().count()),
            );
        }
        value
    }

    fn person(&mut self) -> Option<Listed> {
        let before = self.problems.len();
        let order_id = self.raw("order_id").to_owned();
        if order_id.is_empty() {
            self.problem(
                "order_id",
                "is empty; give the order's reference (it names the person in flags and reports)"
                    .into(),
            );
        } else if order_id.len() > 64 || order_id.chars().any(char::is_control) {
            self.problem("order_id", "must be 1-64 printable characters".into());
        }
        let family_name = self.name("family_name", true);
        let given_names = self.name("given_names", false);
        let middle_names = self.name("middle_names", false);
        let dob_text = self.raw("date_of_birth").to_owned();
        let date_of_birth = match entrex_plugin_common::dates::parse_partial_date(&dob_text) {
            Ok(d) => {
                let d = PartialDate {
                    year: d.year,
                    month: d.month,
                    day: d.day,
                };
                if let Err(invalid) = d.check() {
                    self.problem("date_of_birth", invalid.what);
                }
                d
            }
            // Not the parser's words: they repeat the date, and the list's
            // problems are logged when the hub starts or reloads it.
            Err(_) => {
                self.problem(
                    "date_of_birth",
                    "is not a date: write YYYY-MM-DD, with 00 for an unknown month or day (1980-06-00)"
                        .into(),
                );
                PartialDate {
                    year: 1900,
                    month: None,
                    day: None,
                }
            }
        };
        let sex = match self.raw("sex").to_ascii_uppercase().as_str() {
            "F" => Sex::F,
            "M" => Sex::M,
            "X" | "" => Sex::X,
            other => {
                let other = other.to_owned();
                self.problem(
                    "sex",
                    format!(
                        "{other:?} is not a sex; write F, M or X, or leave it empty if unknown"
                    ),
                );
                Sex::X
            }
        };
        let nationality = self.code("nationality", 3, false, "MEX");
        let document_type = self.code("document_type", 2, true, "P");
        let document_number = self.code("document_number", 32, true, "G12345678");
        let document_country = self.code("document_country", 3, false, "MEX");
        if !document_number.is_empty() && document_country.is_empty() {
            self.problem(
                "document_country",
                "is empty but document_number is given; write the issuing state's ICAO code, e.g. MEX".into(),
            );
        }
        let issued_text = self.raw("issued_on").to_owned();
        let issued_on = if issued_text.is_empty() {
            None
        } else {
            match entrex_plugin_common::dates::parse_date(&issued_text) {
                Ok((y, m, d)) => Some(entrex_plugin_common::dates::start_of_day_unix(y, m, d)),
                Err(e) => {
                    self.problem("issued_on", e.to_string());
                    None
                }
            }
        };
        (self.problems.len() == before).then(|| Listed {
            order_id,
            line: self.row.line,
            record: SharedRecord {
                given_names,
                family_name,
                middle_names,
                date_of_birth,
                nationality,
                sex,
                document_type,
                document_number,
                document_country,
                entered_at: issued_on.unwrap_or(0),
                port_code: String::new(),
            },
            issued_on,
        })
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One CSV record and the line it starts on.
struct CsvRow {
    line: usize,
    fields: Vec<String>,
}

impl CsvRow {
    fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// RFC 4180: fields separated by commas, records by LF or CRLF, a field in
/// double quotes may hold commas, line breaks and `""` for a quote.
fn split_csv(text: &str) -> Result<Vec<CsvRow>, Vec<RowProblem>> {
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut row_line = 1;
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.trim().is_empty() && !quoted_field => {
                field.clear();
                in_quotes = true;
                quoted_field = true;
            }
            (false, '"') => {
                return Err(vec![RowProblem {
                    line,
                    column: Some((fields.len() + 1, String::new())),
                    message: "has a double quote inside an unquoted value; put the whole value in double quotes and write a quote as \"\"".into(),
                }]);
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                rows.push(CsvRow {
                    line: row_line,
                    fields: std::mem::take(&mut fields),
                });
                quoted_field = false;
                line += 1;
                row_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err(vec![RowProblem {
            line: row_line,
            column: Some((fields.len() + 1, String::new())),
            message: "a quoted value is never closed; end it with a double quote".into(),
        }]);
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        rows.push(CsvRow {
            line: row_line,
            fields,
        });
    }
    Ok(rows)
}

/// Records screened per step.
const SCREEN_BATCH: usize = 1024;

/// Screens `partner`'s records as they arrive until `stop` turns true. Idle
/// (but awake to new records) while the hub has no list.
pub async fn run_screen(core: Arc<Core>, partner: String, stop: watch::Receiver<bool>) {
    crate::matching::run_inbox_worker(core, partner, stop, "removal-order screening", screen_next)
        .await
}

/// Screens the next batch of `partner`'s records against the list; false
/// when there was nothing to screen (or no list).
pub fn screen_next(core: &Core, partner: &str) -> Result<bool, RemovalError> {
    let Some(list) = core.removal_list() else {
        return Ok(false);
    };
    let store = &core.store;
    let cursor = store.removal_cursor(partner)?;
    let logged = store.inbox_from(partner, cursor + 1, SCREEN_BATCH)?;
    let Some(&(upto, _)) = logged.last() else {
        return Ok(false);
    };
    // By the sequence number the record lives under: an amendment screens
    // the record it replaces again (`None`: deleted).
    let mut current: BTreeMap<u64, Option<SharedRecord>> = BTreeMap::new();
    for (seq, entry) in logged {
        match entry {
            crate::record::Entry::Record(r) => current.insert(seq, Some(r)),
            crate::record::Entry::Correction { amends, record } => {
                current.insert(amends, Some(record))
            }
            crate::record::Entry::Deletion { amends, .. } => current.insert(amends, None),
            crate::record::Entry::SetAside => None,
        };
    }
    let exits: Vec<(u64, SharedRecord)> = current
        .iter()
        .filter_map(|(seq, r)| r.clone().map(|r| (*seq, r)))
        .collect();
    let records: Vec<SharedRecord> = exits.iter().map(|(_, r)| r.clone()).collect();
    let matcher = core.plugins().matcher.clone();
    let keys = contained(&records, &|r| matcher.block_keys(r))?;
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (x, keys) in keys.into_iter().enumerate() {
        let keys = keys.unwrap_or_else(|why| {
            tracing::error!(%partner, exit_seq = exits[x].0, "matcher failed on this record; not screened against the removal-order list: {why}");
            Vec::new()
        });
        let mut persons: Vec<usize> = keys
            .iter()
            .filter_map(|k| list.by_key.get(k))
            .flatten()
            .copied()
            .filter(|p| {
                list.persons[*p]
                    .issued_on
                    .is_none_or(|issued| records[x].entered_at >= issued)
            })
            .collect();
        persons.sort_unstable();
        persons.dedup();
        pairs.extend(persons.into_iter().map(|p| (x, p)));
    }
    let refs: Vec<(&SharedRecord, &SharedRecord)> = pairs
        .iter()
        .map(|&(x, p)| (&list.persons[p].record, &records[x]))
        .collect();
    let scores = contained(&refs, &|p| matcher.score(p))?;
    let threshold = core.settings.matching.link_threshold;
    let mut hits: Vec<Vec<(String, f64)>> = vec![Vec::new(); exits.len()];
    for (&(x, p), score) in pairs.iter().zip(scores) {
        let score = score.unwrap_or_else(|why| {
            tracing::error!(%partner, exit_seq = exits[x].0, "matcher failed to score a record against the removal-order list, scored 0: {why}");
            0.0
        });
        if score < threshold {
            continue;
        }
        let order = &list.persons[p].order_id;
        match hits[x].iter_mut().find(|(o, _)| o == order) {
            Some((_, best)) => *best = best.max(score),
            None => hits[x].push((order.clone(), score)),
        }
    }
    let mut hits = hits.into_iter();
    let results: Vec<(u64, Screened)> = current
        .into_iter()
        .map(|(seq, record)| match record {
            None => (seq, Screened::Deleted),
            Some(r) => (
                seq,
                Screened::Record {
                    at: r.entered_at,
                    port: r.port_code,
                    hits: hits.next().unwrap_or_default(),
                },
            ),
        })
        .collect();
    let stored = store.store_screening(
        partner,
        upto,
        &list.sha256,
        &results,
        crate::exchange::now(),
    )?;
    if !stored {
        tracing::info!(%partner, "the removal-order list changed while screening; screening again with the new list");
    }
    Ok(true)
}

/// A listed person as an analyst sees them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ListedView {
    pub order_id: String,
    pub line: usize,
    pub family_name: String,
    pub given_names: String,
    pub middle_names: String,
    pub date_of_birth: String,
    pub sex: Sex,
    pub nationality: String,
    pub document_type: String,
    pub document_number: String,
    pub document_country: String,
    pub issued_on: Option<String>,
}

impl From<&Listed> for ListedView {
    fn from(p: &Listed) -> ListedView {
        let r = &p.record;
        ListedView {
            order_id: p.order_id.clone(),
            line: p.line,
            family_name: r.family_name.clone(),
            given_names: r.given_names.clone(),
            middle_names: r.middle_names.clone(),
            date_of_birth: r.date_of_birth.to_string(),
            sex: r.sex,
            nationality: r.nationality.clone(),
            document_type: r.document_type.clone(),
            document_number: r.document_number.clone(),
            document_country: r.document_country.clone(),
            issued_on: p.issued_on.map(|t| format_time(t)[..10].to_owned()),
        }
    }
}

/// One flag with what a person needs to decide it: the list's rows for the
/// order and the partner's record as it is now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub flag: RemovalFlag,
    /// The order's rows on the current list (empty: no longer on it).
    pub listed: Vec<ListedView>,
    /// The partner's record (their entry, our exit) as it is now.
    pub exit: Option<SharedRecord>,
}

/// `GET /v1/removal-orders/flags`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlagList {
    pub hub: String,
    /// The list in use: file, rows and distinct orders (absent: no list).
    pub list: Option<ListSummary>,
    pub pending: u64,
    pub confirmed: u64,
    pub rejected: u64,
    pub flags: Vec<FlagView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ListSummary {
    pub file: PathBuf,
    pub rows: usize,
    pub orders: usize,
}

/// The flags with status `only` (all when `None`), oldest first.
pub fn flags(core: &Core, only: Option<FlagStatus>) -> Result<FlagList, StoreError> {
    let list = core.removal_list();
    let all = core.store.removal_flags()?;
    let count = |s: FlagStatus| all.iter().filter(|f| f.status == s).count() as u64;
    let (pending, confirmed, rejected) = (
        count(FlagStatus::Pending),
        count(FlagStatus::Confirmed),
        count(FlagStatus::Rejected),
    );
    let mut flags = Vec::new();
    for flag in all {
        if only.is_some_and(|s| s != flag.status) {
            continue;
        }
        let exit = core
            .store
            .inbox_record(&flag.partner, flag.exit_seq)?
            .and_then(|e| e.record().cloned());
        let listed = list
            .as_ref()
            .map(|l| l.rows_of(&flag.order_id).map(ListedView::from).collect())
            .unwrap_or_default();
        flags.push(FlagView { flag, listed, exit });
    }
    Ok(FlagList {
        hub: core.settings.hub_id.clone(),
        list: list.as_ref().map(|l| ListSummary {
            file: l.file.clone(),
            rows: l.persons.len(),
            orders: l.orders(),
        }),
        pending,
        confirmed,
        rejected,
        flags,
    })
}

/// A person's decision on a flag (`POST /v1/removal-orders/flags/decision`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub flag: u64,
    /// `confirmed`, `rejected`, or `pending` to undo a decision.
    pub decision: FlagStatus,
    #[serde(default)]
    pub note: Option<String>,
}

/// A person identified as departed: an order's earliest flagged departure
/// that no person rejected.
#[derive(Clone, Debug, PartialEq)]
pub struct Departure {
    pub order_id: String,
    pub partner: String,
    pub at: Timestamp,
    pub port: String,
}

/// One departure per order: its earliest flag not rejected.
pub fn departures(core: &Core) -> Result<Vec<Departure>, StoreError> {
    let mut earliest: BTreeMap<String, Departure> = BTreeMap::new();
    for flag in core.store.removal_flags()? {
        if flag.status == FlagStatus::Rejected {
            continue;
        }
        let d = Departure {
            order_id: flag.order_id.clone(),
            partner: flag.partner,
            at: flag.exit_at,
            port: flag.exit_port,
        };
        match earliest.get(&flag.order_id) {
            Some(e) if e.at <= d.at => {}
            _ => {
                earliest.insert(flag.order_id, d);
            }
        }
    }
    Ok(earliest.into_values().collect())
}

impl FlagList {
    /// For people: the list in use and one line per flag.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = match &self.list {
            Some(l) => format!(
                "{}: removal-order list {} ({} rows, {} orders)\n",
                self.hub,
                l.file.display(),
                l.rows,
                l.orders
            ),
            None => format!("{}: no removal-order list configured\n", self.hub),
        };
        let _ = writeln!(
            out,
            "flags: {} pending, {} confirmed, {} rejected",
            self.pending, self.confirmed, self.rejected
        );
        for f in &self.flags {
            let who = f
                .listed
                .first()
                .map(|p| {
                    format!(
                        "{}, {} (born {}, list line {})",
                        p.family_name, p.given_names, p.date_of_birth, p.line
                    )
                })
                .unwrap_or_else(|| "no longer on the list".into());
            let _ = writeln!(
                out,
                "  flag {} [{:?}] order {}: {who}; left {} into {} at {} ({} record {}, score {:.3})",
                f.flag.id,
                f.flag.status,
                f.flag.order_id,
                format_time(f.flag.exit_at),
                f.flag.partner,
                f.flag.exit_port,
                f.flag.partner,
                f.flag.exit_seq,
                f.flag.score
            );
        }
        out
    }
}

/// A character named by its kind: the list is personal data, and its
/// problems are logged when the hub starts or reloads it.
fn describe_char(c: char) -> &'static str {
    match c {
        c if c.is_ascii_digit() => "a digit",
        c if c.is_control() => "a control character",
        c if c.is_ascii_punctuation() => "punctuation",
        c if c.is_whitespace() => "a space other than ' '",
        _ => "a character that is not a letter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "order_id,family_name,given_names,middle_names,date_of_birth,sex,nationality,document_type,document_number,document_country,issued_on";

    fn check(text: &str) -> Result<Vec<Listed>, Vec<String>> {
        parse(text.as_bytes()).map_err(|ps| ps.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_good_list_parses_with_names_upper_cased() {
        let text = format!(
            "{HEADER}\r\nRO-1,García López,josé,,1979-12-31,M,MEX,P,G12345678,MEX,2026-01-15\r\n\r\nRO-1,Garcia,Jose,,1979-12-31,,,,,,\r\n\"RO-2\",\"O'Neil, Jr\",Ann,,1980-00-00,F,IRL,,,,\n"
        );
        // Line 3 is blank. A comma is not a name character: the only problem.
        let problems = check(&text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("line 5, column 2 (family_name)"),
            "{problems:?}"
        );

        let text = text.replace("O'Neil, Jr", "O'Neil");
        let persons = check(&text).unwrap();
        assert_eq!(persons.len(), 3);
        assert_eq!(persons[0].record.family_name, "GARCÍA LÓPEZ");
        assert_eq!(persons[0].record.given_names, "JOSÉ");
        // 2026-01-15 = day 20468 (56 years from 1970 with 14 leap days:
        // 56 * 365 + 14 = 20454, + 14 days of January).
        assert_eq!(persons[0].issued_on, Some(20_468 * 86_400));
        assert_eq!((persons[1].line, persons[1].record.sex), (4, Sex::X));
        assert_eq!(persons[2].line, 5);
        assert_eq!(persons[2].record.date_of_birth.month, None);
    }

    #[test]
    fn every_bad_field_is_named_by_line_and_column() {
        let text = format!(
            "{HEADER}\nRO-1,Smith,John,,1980-02-30,Q,mexico,P,,,2026-13-01\nRO-2,,Ann,,1980-01-01,F,,,X1,,\n,Lee,,,,,,,,,\nRO-4,Lee\n"
        );
        let problems = check(&text).unwrap_err();
        let at: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            at,
            [
                "line 2, column 5 (date_of_birth)",
                "line 2, column 6 (sex)",
                "line 2, column 7 (nationality)",
                "line 2, column 11 (issued_on)",
                "line 3, column 2 (family_name)",
                "line 3, column 10 (document_country)",
                "line 4, column 1 (order_id)",
                "line 4, column 5 (date_of_birth)",
                "line 5",
            ],
            "{problems:#?}"
        );
        assert!(problems[1].contains("write F, M or X"), "{}", problems[1]);
        assert!(
            problems[8].contains("has 2 field(s) but the header has 11"),
            "{}",
            problems[8]
        );
    }

    #[test]
    fn the_header_must_name_known_columns_and_the_required_ones() {
        let problems = check("order_id,surname,dob\n").unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("line 1, column 2 (surname): \"surname\" is not a column"));
        assert!(
            problems[2].contains("no family_name column"),
            "{problems:#?}"
        );
        assert!(
            problems[3].contains("no date_of_birth column"),
            "{problems:#?}"
        );
        assert!(check("").unwrap_err()[0].contains("the file is empty"));
    }

    #[test]
    fn quotes_span_lines_and_unclosed_quotes_are_named() {
        let text = format!(
            "{HEADER}\n\"RO-1\",\"Smith\nJones\",A,,1980-01-01,,,,,,\nRO-2,Lee,,,1980-13-01,,,,,,\n"
        );
        // The line break in the quoted name is white space; the next row
        // starts on line 4.
        let problems = check(&text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("line 4, column 5 (date_of_birth)"),
            "{problems:?}"
        );
        let persons = check(&text.replace("1980-13-01", "1980-12-01")).unwrap();
        assert_eq!(persons[0].record.family_name, "SMITH JONES");
        let problems = check(&format!("{HEADER}\nRO-1,\"Smith,A\n")).unwrap_err();
        assert!(problems[0].starts_with("line 2, column 2"), "{problems:?}");
        assert!(problems[0].contains("never closed"), "{problems:?}");
        let problems = check(&format!("{HEADER}\nRO-1,Sm\"ith,A,,1980-01-01,,,,,,\n")).unwrap_err();
        assert!(
            problems[0].contains("double quote inside an unquoted value"),
            "{problems:?}"
        );
    }
}
