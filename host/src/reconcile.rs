//! Batch reconciliation for analysts and benchmarks: `entrex reconcile`.
//!
//! Links every exit in one canonical CSV file to at most one entry in another,
//! with the same matcher plugin and the same assignment a hub uses
//! ([`crate::matching::assign`]), so the figures an analyst gets here are the
//! ones a hub would reach on the same records. What differs is only where the
//! blocking index lives: a hub keeps it in sled because records arrive over
//! years; here every entry is known up front, so the index is an in-memory
//! table built once ([`Index`]), and the exits are worked through on every
//! core, each thread with its own plugin instance from the plugin's pool.
//!
//! The canonical CSV format is in README.md ("Reconciling files"):
//! [`COLUMNS`], a header line naming them (any order), one record a line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{MatchingSettings, PluginSettings, PluginSource};
use crate::ingest::contained;
use crate::matching::{Assigned, Scored, assign};
use crate::plugins::{Matcher, PluginError, Trust};
use crate::record::{PartialDate, Sex, SharedRecord, Timestamp};
use crate::store::Band;
use entrex_plugin_common::quoted;

pub mod evaluate;

/// The columns of the canonical CSV, in the order `entrex` writes them.
pub const COLUMNS: [&str; 12] = [
    "id",
    "given_names",
    "middle_names",
    "family_name",
    "date_of_birth",
    "sex",
    "nationality",
    "document_type",
    "document_number",
    "document_country",
    "entered_at",
    "port_code",
];

/// The header of the output file.
pub const OUTPUT_HEADER: &str = "entry_id,exit_id,score,band";

/// The built-in matcher a hub uses unless its configuration names another.
pub const BUILTIN_MATCHER: &str = "biographic-matcher";

/// The hub's defaults (`[matching]` in the hub's TOML), so that a batch run
/// without options decides exactly as a hub with the default configuration.
pub const DEFAULT_LINK_THRESHOLD: f64 = 0.8;
pub const DEFAULT_REVIEW_THRESHOLD: f64 = 0.6;
pub const DEFAULT_MAX_CANDIDATES: usize = 64;

/// Records per `block-keys` call and exits per work item. Large enough that
/// the per-call overhead (taking an instance, entering WASM) is amortised,
/// small enough that both threads get even shares and a failing record is
/// isolated in a few bisection steps.
const CHUNK_RECORDS: usize = 2048;

/// A plugin call in a batch handles thousands of records; the deadline guards
/// against a plugin that loops, not against a slow machine.
const BATCH_DEADLINE_MS: u64 = 120_000;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Bad input: where (file, line, column) and what to write instead.
    #[error("{path} line {line}{}: {message}", column.as_deref().map(|c| format!(", column {c}")).unwrap_or_default())]
    Input {
        path: String,
        line: usize,
        /// The column's position (1-based) and name, e.g. `5 (date_of_birth)`.
        column: Option<String>,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

// ------------------------------------------------------------------ records

/// One record of a canonical CSV file: its id (for people) and the shared
/// elements (for the matcher).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub record: SharedRecord,
}

/// Reads a canonical CSV file.
pub fn read_records(path: &Path) -> Result<Vec<Record>, ReconcileError> {
    read_records_with(path, false).map(|(records, _)| records)
}

/// Reads a canonical CSV file; `strict` as in [`parse_records_with`].
pub fn read_records_with(
    path: &Path,
    strict: bool,
) -> Result<(Vec<Record>, Nulls), ReconcileError> {
    let bytes = std::fs::read(path).map_err(|source| ReconcileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_records_with(&path.display().to_string(), &bytes, strict)
}

/// Values taken as unknown (nulls) while reading a file: a null is no
/// evidence either way for the matcher, where a refused file is no answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nulls {
    /// Lines whose date of birth was empty.
    pub empty_dates: usize,
    /// Lines whose date of birth is not a date (1980-02-30): taken as
    /// unknown, and named so the source can be fixed.
    pub impossible_dates: Vec<usize>,
    /// Lines whose sex was empty (taken as X, unspecified).
    pub empty_sexes: usize,
}

impl Nulls {
    pub fn is_empty(&self) -> bool {
        self.empty_dates == 0 && self.impossible_dates.is_empty() && self.empty_sexes == 0
    }

    /// One line for people, naming the file.
    pub fn describe(&self, file: &str) -> String {
        let mut parts = Vec::new();
        if self.empty_dates > 0 {
            parts.push(format!("{} empty dates of birth", self.empty_dates));
        }
        if self.empty_sexes > 0 {
            parts.push(format!("{} empty sexes (taken as X)", self.empty_sexes));
        }
        if !self.impossible_dates.is_empty() {
            let lines: Vec<String> = self
                .impossible_dates
                .iter()
                .take(5)
                .map(|l| l.to_string())
                .collect();
            parts.push(format!(
                "{} dates of birth that are not dates (line {}{}): fix them at the source, or run with --strict to refuse such a file",
                self.impossible_dates.len(),
                lines.join(", "),
                if self.impossible_dates.len() > 5 { ", ..." } else { "" }
            ));
        }
        format!("{file}: taken as unknown: {}", parts.join("; "))
    }
}

/// Parses canonical CSV; `name` is what errors call the file. Empty and
/// impossible dates of birth and empty sexes are taken as unknown (see
/// [`parse_records_with`]).
pub fn parse_records(name: &str, bytes: &[u8]) -> Result<Vec<Record>, ReconcileError> {
    parse_records_with(name, bytes, false).map(|(records, _)| records)
}

/// Parses canonical CSV. `strict`: a date of birth that is not a date
/// refuses the file (as an empty date of birth or sex never does: those say
/// "unknown" plainly); otherwise it is taken as unknown and counted.
pub fn parse_records_with(
    name: &str,
    bytes: &[u8],
    strict: bool,
) -> Result<(Vec<Record>, Nulls), ReconcileError> {
    let input = |line: usize, column: Option<String>, message: String| ReconcileError::Input {
        path: name.to_owned(),
        line,
        column,
        message,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(input(
                line,
                None,
                "the file is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in a spreadsheet)".into(),
            ));
        }
    };
    // Spreadsheets put a byte-order mark in front of UTF-8 CSV files.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());

    let Some((header_line, header)) = lines.next() else {
        return Err(input(
            1,
            None,
            format!(
                "the file is empty; it needs a header line naming the columns ({}) and one record a line",
                COLUMNS.join(",")
            ),
        ));
    };
    let names = split_csv_line(header).map_err(|(field, why)| {
        input(header_line, Some(format!("{}", field + 1)), why.to_string())
    })?;
    // Where each canonical column is in this file.
    let mut position = [usize::MAX; COLUMNS.len()];
    for (i, name) in names.iter().enumerate() {
        let wanted = name.trim().to_ascii_lowercase();
        let Some(c) = COLUMNS.iter().position(|&c| c == wanted) else {
            return Err(input(
                header_line,
                Some(format!("{}", i + 1)),
                format!(
                    "unknown column {}; the columns are {} (remove it, or rename it to one of them)",
                    quoted(name.trim()),
                    COLUMNS.join(",")
                ),
            ));
        };
        if position[c] != usize::MAX {
            return Err(input(
                header_line,
                Some(format!("{}", i + 1)),
                format!(
                    "column {wanted} appears twice (also column {}); keep one",
                    position[c] + 1
                ),
            ));
        }
        position[c] = i;
    }
    if let Some(missing) = (0..COLUMNS.len()).find(|&c| position[c] == usize::MAX) {
        return Err(input(
            header_line,
            None,
            format!(
                "no column {}; the header must name all of {} (in any order; a value may be empty where README.md says so)",
                COLUMNS[missing],
                COLUMNS.join(",")
            ),
        ));
    }

    let mut out = Vec::new();
    let mut line_of = Vec::new();
    let mut nulls = Nulls::default();
    for (line, text) in lines {
        let fields = split_csv_line(text).map_err(|(field, why)| {
            input(line, Some(column_label(&names, field)), why.to_string())
        })?;
        if fields.len() != names.len() {
            return Err(input(
                line,
                None,
                format!(
                    "{} fields, but the header has {}; put a value (or nothing) between every pair of commas, and quote a value that contains a comma (\"GARCIA, LOPEZ\")",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let field = |c: usize| fields[position[c]].trim();
        let bad = |c: usize, message: String| {
            input(line, Some(column_label(&names, position[c])), message)
        };
        let id = field(0);
        if id.is_empty() {
            return Err(bad(
                0,
                "the id is empty; give every record an id of its own (it names the record in the output)".into(),
            ));
        }
        let date_of_birth = if field(4).is_empty() {
            nulls.empty_dates += 1;
            PartialDate::UNKNOWN
        } else {
            match entrex_plugin_common::dates::parse_partial_date(field(4)) {
                Ok(d) => PartialDate {
                    year: d.year,
                    month: d.month,
                    day: d.day,
                },
                Err(e) if strict || !is_date_shaped(field(4)) => {
                    return Err(bad(4, e.to_string()));
                }
                // A date's shape with values no calendar has: a typo the
                // matcher can do without, better than no answer at all.
                Err(_) => {
                    nulls.impossible_dates.push(line);
                    PartialDate::UNKNOWN
                }
            }
        };
        let sex = match field(5).to_ascii_uppercase().as_str() {
            "F" => Sex::F,
            "M" => Sex::M,
            "X" => Sex::X,
            "" => {
                nulls.empty_sexes += 1;
                Sex::X
            }
            other => {
                return Err(bad(
                    5,
                    format!(
                        "{} is not a sex; write F, M or X (X when unspecified)",
                        quoted(other)
                    ),
                ));
            }
        };
        let code = |c: usize, what: &str| -> Result<String, ReconcileError> {
            let v = field(c).to_ascii_uppercase();
            if v.len() <= 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(v)
            } else {
                Err(bad(
                    c,
                    format!(
                        "{} is not an ICAO 9303 {what} code; write three letters such as DEU (D is accepted for Germany), or leave it empty when unknown",
                        quoted(field(c))
                    ),
                ))
            }
        };
        let nationality = code(6, "nationality")?;
        let document_country = code(9, "country")?;
        // ICAO 9303 leaves a document code's second character to the
        // issuing state (`C1` is a code), as the hub's own bounds do.
        let document_type = field(7).to_ascii_uppercase();
        if document_type.len() > 2
            || !document_type
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(bad(
                7,
                format!(
                    "{} is not an ICAO 9303 document code; write one or two letters or digits (P passport, I or ID identity card, C or AC residence card), or leave it empty",
                    quoted(field(7))
                ),
            ));
        }
        let document_number = field(8).to_ascii_uppercase();
        if !document_number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad(
                8,
                format!(
                    "{} is not a document number; write its letters and digits only (no spaces, dashes or MRZ filler <), or leave it empty",
                    quoted(field(8))
                ),
            ));
        }
        let entered_at: Timestamp = entrex_plugin_common::dates::parse_rfc3339(field(10))
            .map_err(|e| bad(10, e.to_string()))?;
        line_of.push(line);
        out.push(Record {
            id: id.to_owned(),
            record: SharedRecord {
                given_names: field(1).to_owned(),
                family_name: field(3).to_owned(),
                middle_names: field(2).to_owned(),
                date_of_birth,
                nationality,
                sex,
                document_type,
                document_number,
                document_country,
                entered_at,
                port_code: field(11).to_owned(),
            },
        });
    }
    // Ids must be unique; the error names the first line that repeats one.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(out.len());
    for (i, r) in out.iter().enumerate() {
        if let Some(first) = seen.insert(&r.id, i) {
            return Err(input(
                line_of[i],
                Some(column_label(&names, position[0])),
                format!(
                    "id {} is already used on line {}; every record needs an id of its own",
                    quoted(&r.id),
                    line_of[first]
                ),
            ));
        }
    }
    Ok((out, nulls))
}

/// `YYYY-MM-DD` in digits: a date, if perhaps one no calendar has. Anything
/// else in the column is not a date at all, and is refused.
fn is_date_shaped(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn column_label(names: &[Cow<'_, str>], field: usize) -> String {
    match names.get(field) {
        Some(name) => format!("{} ({})", field + 1, name.trim()),
        None => format!("{}", field + 1),
    }
}

/// Splits one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote inside
/// quotes). On error, the 0-based field at fault and why.
fn split_csv_line(line: &str) -> Result<Vec<Cow<'_, str>>, (usize, &'static str)> {
    let mut fields = Vec::with_capacity(COLUMNS.len());
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        let field = fields.len();
        // Spaces before an opening quote are allowed (`a, "b"`).
        let start = i + bytes[i..].iter().take_while(|&&b| b == b' ').count();
        if bytes.get(start) == Some(&b'"') {
            let mut value = String::new();
            let mut j = start + 1;
            loop {
                match bytes[j..].iter().position(|&b| b == b'"') {
                    None => {
                        return Err((
                            field,
                            "a quoted value does not end on this line; close it with \" (a value cannot hold a line break)",
                        ));
                    }
                    Some(k) => {
                        value.push_str(&line[j..j + k]);
                        j += k + 1;
                        if bytes.get(j) == Some(&b'"') {
                            value.push('"');
                            j += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            let rest = j + bytes[j..].iter().take_while(|&&b| b == b' ').count();
            fields.push(Cow::Owned(value));
            match bytes.get(rest) {
                None => return Ok(fields),
                Some(b',') => i = rest + 1,
                Some(_) => {
                    return Err((
                        field,
                        "text after a closing quote; quote the whole value, and write \"\" for a quote inside it",
                    ));
                }
            }
        } else {
            let end = bytes[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(bytes.len(), |k| i + k);
            let value = &line[i..end];
            if value.contains('"') {
                return Err((
                    field,
                    "a quote inside an unquoted value; quote the value and double the quote (\"O\"\"Brien\")",
                ));
            }
            fields.push(Cow::Borrowed(value));
            if end == bytes.len() {
                return Ok(fields);
            }
            i = end + 1;
        }
    }
}

/// Writes `records` as canonical CSV (for tests, benchmarks and analysts
/// preparing files).
pub fn write_records(out: &mut impl std::io::Write, records: &[Record]) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    for r in records {
        let s = &r.record;
        let dob = format!(
            "{:04}-{:02}-{:02}",
            s.date_of_birth.year,
            s.date_of_birth.month.unwrap_or(0),
            s.date_of_birth.day.unwrap_or(0)
        );
        let sex = match s.sex {
            Sex::F => "F",
            Sex::M => "M",
            Sex::X => "X",
        };
        let at = entrex_plugin_common::dates::format_rfc3339(s.entered_at);
        let fields: [&str; 12] = [
            &r.id,
            &s.given_names,
            &s.middle_names,
            &s.family_name,
            &dob,
            sex,
            &s.nationality,
            &s.document_type,
            &s.document_number,
            &s.document_country,
            &at,
            &s.port_code,
        ];
        write_csv_line(out, &fields)?;
    }
    Ok(())
}

fn write_csv_line(out: &mut impl std::io::Write, fields: &[&str]) -> std::io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
            write!(out, "\"{}\"", f.replace('"', "\"\""))?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

// ------------------------------------------------------------------ the index

/// Blocking keys are opaque strings from the plugin; the index keeps a 64-bit
/// hash of each. Two different keys with one hash only bring more candidates
/// together (each is still scored by the plugin), never fewer.
fn key_hash(key: &str) -> u64 {
    // FNV-1a, then a final mix so the top bits (the bucket) depend on every byte.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// An immutable hash index from blocking key to entries, built once: one
/// array of (key hash, entry) bucketed by the hash's top bits, with bucket
/// starts beside it. A lookup reads two cache lines instead of chasing a
/// `HashMap<_, Vec<_>>` node per key, and building it is two linear passes.
pub struct Index {
    shift: u32,
    starts: Vec<u32>,
    hashes: Vec<u64>,
    entries: Vec<u32>,
}

impl Index {
    /// `keyed` is (key hash, entry); lookups return each key's entries in
    /// ascending order.
    fn build(keyed: &[(u64, u32)]) -> Index {
        let bits = (keyed.len().max(16).next_power_of_two().trailing_zeros()).min(31);
        let shift = 64 - bits;
        let mut starts = vec![0u32; (1usize << bits) + 1];
        for &(h, _) in keyed {
            starts[(h >> shift) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut hashes = vec![0u64; keyed.len()];
        let mut entries = vec![0u32; keyed.len()];
        for &(h, e) in keyed {
            let slot = &mut next[(h >> shift) as usize];
            hashes[*slot as usize] = h;
            entries[*slot as usize] = e;
            *slot += 1;
        }
        // Entries came in the order the plugin saw them; each bucket (a
        // handful of entries) is put in rank order for the look-ups, in
        // place: most buckets hold one or two.
        for b in 0..starts.len() - 1 {
            let (lo, hi) = (starts[b] as usize, starts[b + 1] as usize);
            for i in lo + 1..hi {
                let mut j = i;
                while j > lo && entries[j - 1] > entries[j] {
                    entries.swap(j - 1, j);
                    hashes.swap(j - 1, j);
                    j -= 1;
                }
            }
        }
        Index {
            shift,
            starts,
            hashes,
            entries,
        }
    }

    fn lookup(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        let b = (h >> self.shift) as usize;
        let range = self.starts[b] as usize..self.starts[b + 1] as usize;
        self.hashes[range.clone()]
            .iter()
            .zip(&self.entries[range])
            .filter(move |(k, _)| **k == h)
            .map(|(_, e)| *e)
    }
}

// ------------------------------------------------------------------ matching

/// How to reconcile.
#[derive(Clone, Debug)]
pub struct Settings {
    pub matching: MatchingSettings,
    /// Worker threads (each with its own plugin instance).
    pub threads: usize,
    /// Keep every candidate pair in [`Outcome::candidates`] (to measure
    /// blocking against a truth file).
    pub keep_candidates: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            matching: MatchingSettings {
                link_threshold: DEFAULT_LINK_THRESHOLD,
                review_threshold: DEFAULT_REVIEW_THRESHOLD,
                max_candidates: DEFAULT_MAX_CANDIDATES,
            },
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_candidates: false,
        }
    }
}

/// A matched pair: indices into the entries and exits given to [`reconcile`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub entry: usize,
    pub exit: usize,
    pub score: f64,
    pub band: Band,
}

/// What a run did and where its time went.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub entries: usize,
    pub exits: usize,
    /// Blocking keys the plugin gave for the entries.
    pub entry_keys: usize,
    /// Pairs the plugin scored (candidates entered no later than the exit).
    pub pairs_scored: usize,
    /// Records the plugin failed on (no keys: they can match nothing) and
    /// pairs it failed to score (left out).
    pub key_failures: usize,
    pub score_failures: usize,
    pub entry_keys_time: Duration,
    pub index_time: Duration,
    /// Exits: keys, candidate look-ups and scoring, on every thread.
    pub exits_time: Duration,
    pub assign_time: Duration,
}

pub struct Outcome {
    /// By exit, in the order the exits were given.
    pub pairs: Vec<Pair>,
    pub stats: Stats,
    /// (exit, entry) of every candidate pair blocking gave, sorted; only
    /// with [`Settings::keep_candidates`].
    pub candidates: Vec<(u32, u32)>,
}

/// Loads the matcher a batch run uses: the built-in one, or a component file
/// the analyst names (as `entrex plugin test` does, its signature is not
/// checked: the person running this chose the file; hubs check it).
/// `config_json` is what its `configure` gets (a trained model, for one).
pub fn load_matcher(file: Option<&Path>, config_json: &str) -> Result<Matcher, ReconcileError> {
    let settings = PluginSettings {
        source: match file {
            Some(path) => PluginSource::File(path.to_owned()),
            None => PluginSource::Builtin(BUILTIN_MATCHER.into()),
        },
        config_json: config_json.into(),
        config_files: Vec::new(),
        deadline_ms: BATCH_DEADLINE_MS,
        memory_mib: 512,
        max_output_kib: 64 * 1024,
    };
    Ok(Matcher::load(&settings, &Trust::unchecked(), Vec::new())?)
}

/// Where keys and scores come from: the matcher plugin, or (in the
/// benchmark's baseline) the same rules compiled natively.
pub trait Rules: Sync {
    fn block_keys(&self, records: &[SharedRecord]) -> Result<Vec<Vec<String>>, PluginError>;
    fn score(&self, pairs: &[(&SharedRecord, &SharedRecord)]) -> Result<Vec<f64>, PluginError>;
}

impl Rules for Matcher {
    fn block_keys(&self, records: &[SharedRecord]) -> Result<Vec<Vec<String>>, PluginError> {
        Matcher::block_keys(self, records)
    }
    fn score(&self, pairs: &[(&SharedRecord, &SharedRecord)]) -> Result<Vec<f64>, PluginError> {
        Matcher::score(self, pairs)
    }
}

/// Links each exit to at most one entry (entered no later than the exit),
/// with `matcher`'s keys and scores and the hub's assignment.
pub fn reconcile(
    matcher: &impl Rules,
    settings: &Settings,
    entries: &[SharedRecord],
    exits: &[SharedRecord],
) -> Result<Outcome, ReconcileError> {
    let m = &settings.matching;
    if !(0.0..=1.0).contains(&m.review_threshold)
        || !(0.0..=1.0).contains(&m.link_threshold)
        || m.review_threshold > m.link_threshold
    {
        return Err(ReconcileError::Settings(
            "thresholds must satisfy 0 <= review threshold <= link threshold <= 1".into(),
        ));
    }
    if m.max_candidates == 0 {
        return Err(ReconcileError::Settings(
            "max candidates must be at least 1".into(),
        ));
    }
    let threads = settings.threads.max(1);
    let mut stats = Stats {
        entries: entries.len(),
        exits: exits.len(),
        ..Stats::default()
    };

    // Entries by time rank, so each key's entries come out of the index
    // oldest first and "the newest max_candidates before the exit" is a
    // suffix. The plugin sees them in the order given (no copy).
    let mut by_time: Vec<u32> = (0..entries.len() as u32).collect();
    by_time.sort_by_key(|&i| (entries[i as usize].entered_at, i));
    let mut rank = vec![0u32; entries.len()];
    for (r, &i) in by_time.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    let timed: Vec<&SharedRecord> = by_time.iter().map(|&i| &entries[i as usize]).collect();
    // Entry times by rank, dense: every candidate is checked against its
    // exit's time, and at a million entries a look into the record itself
    // is a cache miss.
    let times: Vec<Timestamp> = timed.iter().map(|r| r.entered_at).collect();

    let started = Instant::now();
    let chunks: Vec<&[SharedRecord]> = entries.chunks(CHUNK_RECORDS).collect();
    let keyed_chunks = parallel(threads, chunks.len(), |c| {
        let chunk = chunks[c];
        let keys = contained(chunk, &|r| matcher.block_keys(r))?;
        let base = c * CHUNK_RECORDS;
        let mut keyed = Vec::with_capacity(chunk.len() * 8);
        let mut failures = 0;
        for (i, k) in keys.into_iter().enumerate() {
            match k {
                Ok(k) => keyed.extend(k.iter().map(|k| (key_hash(k), rank[base + i]))),
                Err(why) => {
                    failures += 1;
                    tracing::error!("matcher failed on an entry, it cannot be matched: {why}");
                }
            }
        }
        Ok::<_, PluginError>((keyed, failures))
    })?;
    let mut keyed = Vec::with_capacity(keyed_chunks.iter().map(|(k, _)| k.len()).sum());
    for (k, failures) in keyed_chunks {
        keyed.extend(k);
        stats.key_failures += failures;
    }
    stats.entry_keys = keyed.len();
    stats.entry_keys_time = started.elapsed();

    let started = Instant::now();
    let index = Index::build(&keyed);
    drop(keyed);
    stats.index_time = started.elapsed();

    let started = Instant::now();
    let exit_chunks: Vec<std::ops::Range<usize>> = (0..exits.len())
        .step_by(CHUNK_RECORDS)
        .map(|s| s..(s + CHUNK_RECORDS).min(exits.len()))
        .collect();
    let scored_chunks = parallel(threads, exit_chunks.len(), |c| {
        score_exits(
            matcher,
            m,
            &index,
            (&timed, &times),
            exits,
            exit_chunks[c].clone(),
            settings.keep_candidates,
        )
    })?;
    let mut scored = Vec::new();
    let mut candidates = Vec::new();
    for chunk in scored_chunks {
        candidates.extend(
            chunk
                .candidates
                .iter()
                .map(|&(x, rank)| (x, by_time[rank as usize])),
        );
        stats.pairs_scored += chunk.pairs_scored;
        stats.key_failures += chunk.key_failures;
        stats.score_failures += chunk.score_failures;
        scored.extend(chunk.scored);
    }
    stats.exits_time = started.elapsed();

    let started = Instant::now();
    let assigned = assign(
        scored,
        |e| times[e],
        m,
        exits.len(),
        timed.len(),
        |_| Ok::<_, std::convert::Infallible>(false),
    )
    .unwrap_or_else(|never| match never {});
    let mut pairs: Vec<Pair> = assigned
        .into_iter()
        .map(
            |Assigned {
                 exit,
                 entry,
                 score,
                 band,
             }| Pair {
                entry: by_time[entry] as usize,
                exit,
                score,
                band,
            },
        )
        .collect();
    pairs.sort_by_key(|p| p.exit);
    stats.assign_time = started.elapsed();
    candidates.sort_unstable();
    Ok(Outcome {
        pairs,
        stats,
        candidates,
    })
}

struct ChunkResult {
    scored: Vec<Scored>,
    /// (exit, entry rank), when candidates are kept.
    candidates: Vec<(u32, u32)>,
    pairs_scored: usize,
    key_failures: usize,
    score_failures: usize,
}

/// Keys, candidates and scores for one range of exits. Candidates are
/// indices into `timed` (entries in time order).
fn score_exits(
    matcher: &impl Rules,
    m: &MatchingSettings,
    index: &Index,
    (timed, times): (&[&SharedRecord], &[Timestamp]),
    exits: &[SharedRecord],
    range: std::ops::Range<usize>,
    keep_candidates: bool,
) -> Result<ChunkResult, PluginError> {
    let chunk = &exits[range.clone()];
    let mut out = ChunkResult {
        scored: Vec::new(),
        candidates: Vec::new(),
        pairs_scored: 0,
        key_failures: 0,
        score_failures: 0,
    };
    let keys = contained(chunk, &|r| matcher.block_keys(r))?;
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(chunk.len() * 4);
    let mut candidates: Vec<u32> = Vec::new();
    let mut block: Vec<u32> = Vec::new();
    for (i, keys) in keys.into_iter().enumerate() {
        let keys = match keys {
            Ok(k) => k,
            Err(why) => {
                out.key_failures += 1;
                tracing::error!("matcher failed on an exit, it cannot be matched: {why}");
                continue;
            }
        };
        let exit_at = chunk[i].entered_at;
        candidates.clear();
        for key in &keys {
            // An exit closes an entry made before it: among a key's entries
            // entered no later than the exit, the newest max_candidates (the
            // hub keeps the newest per key too: with years of history, a
            // traveller's latest entry is the one an exit closes).
            block.clear();
            block.extend(
                index
                    .lookup(key_hash(key))
                    .filter(|&e| times[e as usize] <= exit_at),
            );
            let newest = block.len().saturating_sub(m.max_candidates);
            candidates.extend_from_slice(&block[newest..]);
        }
        candidates.sort_unstable();
        candidates.dedup();
        pairs.extend(candidates.iter().map(|&e| (range.start + i, e as usize)));
    }
    out.pairs_scored = pairs.len();
    if keep_candidates {
        out.candidates = pairs.iter().map(|&(x, e)| (x as u32, e as u32)).collect();
    }
    let refs: Vec<(&SharedRecord, &SharedRecord)> =
        pairs.iter().map(|&(x, e)| (timed[e], &exits[x])).collect();
    let scores = contained(&refs, &|p| matcher.score(p))?;
    for (&(exit, entry), score) in pairs.iter().zip(scores) {
        match score {
            Ok(score) if score >= m.review_threshold => {
                out.scored.push(Scored { exit, entry, score })
            }
            Ok(_) => {}
            Err(why) => {
                out.score_failures += 1;
                tracing::error!("matcher failed to score a pair, left out: {why}");
            }
        }
    }
    Ok(out)
}

/// Runs `work(0..n)` on `threads` threads, items taken in turn; results in
/// item order. The first error wins.
fn parallel<R: Send, E: Send>(
    threads: usize,
    n: usize,
    work: impl Fn(usize) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<R, E>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(n).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        let r = work(i);
                        let failed = r.is_err();
                        mine.push((i, r));
                        if failed {
                            // Let the others run out of work early.
                            next.store(n, Ordering::Relaxed);
                            return mine;
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a reconcile worker panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

// ------------------------------------------------------------------ the command

/// `entrex reconcile`'s options.
#[derive(Clone, Debug)]
pub struct Options {
    pub entries: PathBuf,
    pub exits: PathBuf,
    pub out: PathBuf,
    /// A matcher component; the built-in one when `None`.
    pub matcher: Option<PathBuf>,
    /// What the matcher is configured with (`{}`, or a trained model:
    /// `training::model_config`).
    pub matcher_config: String,
    pub settings: Settings,
    /// A labelled sample (`entry_id,exit_id[,kinds]`): measure the links
    /// against it, and write the pairs it got wrong to `OUT.wrong.csv`.
    pub truth: Option<PathBuf>,
    /// Refuse a file with a date of birth that is not a date, rather than
    /// take it as unknown.
    pub strict: bool,
}

/// What `entrex reconcile` prints.
#[derive(Clone, Debug)]
pub struct Summary {
    pub matcher: String,
    pub links: usize,
    pub reviews: usize,
    pub stats: Stats,
    pub read_time: Duration,
    pub total_time: Duration,
    /// With `--truth`: the figures, and the summary for people.
    pub evaluation: Option<(evaluate::Evaluation, String)>,
    /// Values taken as unknown in the entries and the exits.
    pub nulls: [(String, Nulls); 2],
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "{} entries, {} exits, matcher {}: {} linked, {} for clerical review, {} unmatched",
            s.entries,
            s.exits,
            self.matcher,
            self.links,
            self.reviews,
            s.exits - self.links - self.reviews
        )?;
        if s.key_failures + s.score_failures > 0 {
            writeln!(
                f,
                "the matcher failed on {} record(s) and {} pair(s); they were left unmatched (see the log)",
                s.key_failures, s.score_failures
            )?;
        }
        write!(
            f,
            "{} pairs scored; {:.1} s in all ({:.0} exits/s), of which reading the files {:.1} s",
            s.pairs_scored,
            self.total_time.as_secs_f64(),
            s.exits as f64 / self.total_time.as_secs_f64().max(1e-9),
            self.read_time.as_secs_f64()
        )?;
        for (file, nulls) in &self.nulls {
            if !nulls.is_empty() {
                write!(f, "\n{}", nulls.describe(file))?;
            }
        }
        if let Some((_, text)) = &self.evaluation {
            write!(f, "\n{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// Reads both files, reconciles, writes `out`.
pub fn run(options: &Options) -> Result<Summary, ReconcileError> {
    let started = Instant::now();
    let matcher = load_matcher(options.matcher.as_deref(), &options.matcher_config)?;
    let reading = Instant::now();
    let (entries, exits) = std::thread::scope(|s| {
        let entries = s.spawn(|| read_records_with(&options.entries, options.strict));
        let exits = read_records_with(&options.exits, options.strict);
        (entries.join().expect("reading panicked"), exits)
    });
    let ((entries, entry_nulls), (exits, exit_nulls)) = (entries?, exits?);
    let read_time = reading.elapsed();
    // Ids apart from records, moved rather than copied: two million records
    // cloned cost a second.
    let (entry_ids, entry_records): (Vec<String>, Vec<SharedRecord>) =
        entries.into_iter().map(|r| (r.id, r.record)).unzip();
    let (exit_ids, exit_records): (Vec<String>, Vec<SharedRecord>) =
        exits.into_iter().map(|r| (r.id, r.record)).unzip();
    // Read before the work, so a bad truth file is said at once.
    let truth = options
        .truth
        .as_deref()
        .map(|path| evaluate::read_truth(path, &entry_ids, &exit_ids))
        .transpose()?;
    let settings = Settings {
        keep_candidates: truth.is_some(),
        ..options.settings.clone()
    };
    let outcome = reconcile(&matcher, &settings, &entry_records, &exit_records)?;
    write_matches(&options.out, &entry_ids, &exit_ids, &outcome.pairs)?;
    let evaluation = match truth {
        Some(truth) => {
            let mut e = evaluate::evaluate(&truth, &outcome.pairs);
            e.measure_blocking(&truth, &outcome.candidates, exit_records.len());
            let mut wrong = options.out.clone().into_os_string();
            wrong.push(".wrong.csv");
            evaluate::write_wrong(Path::new(&wrong), &e, &entry_ids, &exit_ids)?;
            let text = e.describe(&entry_ids, &exit_ids)
                + &format!("every wrong pair: {}\n", Path::new(&wrong).display());
            Some((e, text))
        }
        None => None,
    };
    let links = outcome
        .pairs
        .iter()
        .filter(|p| p.band == Band::Link)
        .count();
    Ok(Summary {
        matcher: matcher.name().to_owned(),
        links,
        reviews: outcome.pairs.len() - links,
        stats: outcome.stats,
        read_time,
        total_time: started.elapsed(),
        evaluation,
        nulls: [
            (options.entries.display().to_string(), entry_nulls),
            (options.exits.display().to_string(), exit_nulls),
        ],
    })
}

/// Writes the pairs as CSV ([`OUTPUT_HEADER`]); the score with six decimals.
pub fn write_matches(
    path: &Path,
    entry_ids: &[String],
    exit_ids: &[String],
    pairs: &[Pair],
) -> Result<(), ReconcileError> {
    let failed = |source| ReconcileError::Write {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::create(path).map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    let write = |out: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
        use std::io::Write;
        writeln!(out, "{OUTPUT_HEADER}")?;
        for p in pairs {
            let score = format!("{:.6}", p.score);
            let band = match p.band {
                Band::Link => "link",
                Band::Review => "review",
            };
            write_csv_line(out, &[&entry_ids[p.entry], &exit_ids[p.exit], &score, band])?;
        }
        out.flush()
    };
    write(&mut out).map_err(failed)
}

// ------------------------------------------------------------------ generated data

/// The generator's data in canonical form, for benchmarks and tests: the
/// entries (records A of the history, both hubs) and exits (records B of the
/// day), normalised by the built-in normalisers exactly as hubs would, and
/// the ground truth.
pub struct Generated {
    pub entries: Vec<Record>,
    pub exits: Vec<Record>,
    /// Records the normalisers rejected (the generator's malformed ones).
    pub rejected: usize,
    pub truth: crate::generator::Truth,
}

/// Generates `cfg`'s trips and normalises them on `threads` threads.
pub fn generate(
    cfg: &crate::generator::Config,
    threads: usize,
) -> Result<Generated, ReconcileError> {
    use crate::plugins::Normaliser;
    let data = crate::generator::generate(cfg);
    let load = |name: &str| {
        Normaliser::load(
            &PluginSettings {
                source: PluginSource::Builtin(name.into()),
                config_json: "{}".into(),
                config_files: Vec::new(),
                deadline_ms: BATCH_DEADLINE_MS,
                memory_mib: 512,
                max_output_kib: 64 * 1024,
            },
            &Trust::unchecked(),
            Vec::new(),
        )
    };
    let ca = load("ca-normaliser")?;
    let us = load("us-normaliser")?;
    let normalise =
        |docs: Vec<(&Normaliser, &Vec<u8>)>| -> Result<(Vec<Record>, usize), ReconcileError> {
            let done = parallel(threads, docs.len(), |i| {
                let (normaliser, doc) = docs[i];
                let records = normaliser.split(doc)?.map_err(|why| {
                    ReconcileError::Settings(format!("a generated batch was refused: {why}"))
                })?;
                let mut out = Vec::with_capacity(records.len());
                let mut rejected = 0;
                for r in normaliser.normalise(&records)? {
                    match r {
                        Ok(c) => out.push(Record {
                            id: c.source_ref.clone(),
                            record: c.project(),
                        }),
                        Err(_) => rejected += 1,
                    }
                }
                Ok::<_, ReconcileError>((out, rejected))
            })?;
            let mut records = Vec::new();
            let mut rejected = 0;
            for (r, n) in done {
                records.extend(r);
                rejected += n;
            }
            Ok((records, rejected))
        };
    fn docs<'a>(
        b: &'a crate::generator::HubBatches,
        ca: &'a Normaliser,
        us: &'a Normaliser,
    ) -> Vec<(&'a Normaliser, &'a Vec<u8>)> {
        b.ca.iter()
            .map(|d| (ca, d))
            .chain(b.us.iter().map(|d| (us, d)))
            .collect()
    }
    let (entries, rejected_entries) = normalise(docs(&data.history, &ca, &us))?;
    let (exits, rejected_exits) = normalise(docs(&data.day, &ca, &us))?;
    Ok(Generated {
        entries,
        exits,
        rejected: rejected_entries + rejected_exits,
        truth: data.truth,
    })
}

/// Links and clerical-review pairs judged against the ground truth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// True pairs present in the input (both records well formed).
    pub true_pairs: usize,
    pub links: usize,
    pub correct_links: usize,
    pub reviews: usize,
    pub correct_reviews: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.correct_links, self.links)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct_links, self.true_pairs)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    /// Recall if a clerk confirmed every correct review pair.
    pub fn recall_with_review(&self) -> f64 {
        ratio(self.correct_links + self.correct_reviews, self.true_pairs)
    }
    fn add(&mut self, o: &Counts) {
        self.true_pairs += o.true_pairs;
        self.links += o.links;
        self.correct_links += o.correct_links;
        self.reviews += o.reviews;
        self.correct_reviews += o.correct_reviews;
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Accuracy overall, for trips without noise, and per kind of noise (a trip
/// with two kinds counts under both).
#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    pub overall: Counts,
    pub clean: Counts,
    /// In [`crate::generator::NoiseKind::ALL`] order.
    pub by_noise: [Counts; 6],
}

/// Judges `pairs` (from [`reconcile`] on `g.entries` and `g.exits`).
pub fn evaluate(g: &Generated, pairs: &[Pair]) -> Accuracy {
    use crate::generator::Truth;
    let truth: &Truth = &g.truth;
    let entry_at: HashMap<&str, usize> = g
        .entries
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    // The true entry (index) of each exit, and the trip it belongs to.
    let exit_truth: Vec<(Option<usize>, Option<usize>)> = g
        .exits
        .iter()
        .map(|x| {
            let Some(trip) = truth.record(&x.id).map(|r| r.trip) else {
                return (None, None);
            };
            let entry = truth.trips[trip]
                .entry
                .as_deref()
                .and_then(|a| entry_at.get(a).copied());
            (entry, Some(trip))
        })
        .collect();
    let mut per_exit = vec![Counts::default(); g.exits.len()];
    for (x, (entry, _)) in exit_truth.iter().enumerate() {
        per_exit[x].true_pairs = usize::from(entry.is_some());
    }
    for p in pairs {
        let c = &mut per_exit[p.exit];
        let correct = usize::from(exit_truth[p.exit].0 == Some(p.entry));
        match p.band {
            Band::Link => {
                c.links += 1;
                c.correct_links += correct;
            }
            Band::Review => {
                c.reviews += 1;
                c.correct_reviews += correct;
            }
        }
    }
    let mut acc = Accuracy::default();
    for (x, c) in per_exit.iter().enumerate() {
        acc.overall.add(c);
        let kinds = exit_truth[x]
            .1
            .map_or(&[][..], |t| truth.trips[t].noise.as_slice());
        if kinds.is_empty() {
            acc.clean.add(c);
        }
        for k in kinds {
            acc.by_noise[*k as usize].add(c);
        }
    }
    acc
}
