//! `entrex plugin test PLUGIN.wasm --fixtures DIR`: runs the fixture cases of a
//! directory against a plugin component, as plugins/README.md ("Fixture
//! format") specifies.
//!
//! Each case loads the component afresh (one new instance, linked as the hub
//! links the case's kind, under the hub's default limits, configured with the
//! case's `config`), makes its calls on that instance and compares the
//! results. A case file that breaks the format is a failed case whose message
//! starts with `fixture error:` and names the JSON path at fault.
//!
//! Case files are read into a [`serde_json::Value`] (refusing duplicate keys)
//! and walked by hand, key by key, so that every error carries its JSON path;
//! the values are converted straight into the domain types of [`crate::record`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::{PluginSettings, PluginSource};
use crate::plugins::{Eligibility, Matcher, Normaliser, PluginError, SourceRecord, Trust};
use crate::record::{
    Crossing, Decision, Mode, PartialDate, Rejection, Residency, Sex, SharedRecord, Timestamp,
};

/// The hub's default limits, under which every case runs.
const DEADLINE_MS: u64 = 5000;
const MEMORY_MIB: u64 = 256;

/// What became of one case: `Err` holds a readable report (possibly several
/// lines) naming the case, the call, the result's index and expected and
/// actual values, or a message starting with `fixture error:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseOutcome {
    pub name: String,
    pub result: Result<(), String>,
}

/// Why no case could run at all (`entrex plugin test` exits with status 2).
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read the component {}: {source}", .path.display())]
    Component {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the fixture directory {}: {source}", .path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the fixture directory {} holds no case (a file whose name ends in .json)",
        .path.display()
    )]
    NoCases { path: PathBuf },
}

/// Runs every case of `dir` against `component`, in byte order of the case
/// names, each whatever happened to the others.
pub fn run(component: &Path, dir: &Path) -> Result<Vec<CaseOutcome>, FixtureError> {
    // Read once up front, so an unreadable component is one clear error.
    std::fs::metadata(component)
        .and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a file"))
            }
        })
        .map_err(|source| FixtureError::Component {
            path: component.to_owned(),
            source,
        })?;
    let cases = list_cases(dir)?;
    if cases.is_empty() {
        return Err(FixtureError::NoCases {
            path: dir.to_owned(),
        });
    }
    // Signatures are not checked when testing: testing is not installing.
    let trust = Trust::unchecked();
    Ok(cases
        .into_iter()
        .map(|(name, file)| {
            let result = run_case(&name, &file, component, &trust);
            CaseOutcome { name, result }
        })
        .collect())
}

/// The cases of a directory: regular files (or links to them) directly in it
/// whose names end in `.json`, as (name without `.json`, path), sorted by the
/// bytes of the name.
fn list_cases(dir: &Path) -> Result<Vec<(String, PathBuf)>, FixtureError> {
    let dir_error = |source| FixtureError::Dir {
        path: dir.to_owned(),
        source,
    };
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let file_name = entry.file_name();
        let Some(stem) = file_name.as_encoded_bytes().strip_suffix(b".json") else {
            continue;
        };
        let path = entry.path();
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        cases.push((stem.to_vec(), path));
    }
    cases.sort();
    Ok(cases
        .into_iter()
        .map(|(stem, path)| (String::from_utf8_lossy(&stem).into_owned(), path))
        .collect())
}

// ---------------------------------------------------------------------------
// Running a case

/// The failures of one case, each a block of text starting with the case.
struct Report {
    case: String,
    failures: Vec<String>,
}

impl Report {
    fn fail(&mut self, what: impl fmt::Display) {
        self.failures.push(format!("case {:?}: {what}", self.case));
    }

    fn finish(self) -> Result<(), String> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(self.failures.join("\n"))
        }
    }
}

fn run_case(name: &str, file: &Path, component: &Path, trust: &Trust) -> Result<(), String> {
    let text = std::fs::read(file).map_err(|e| {
        format!(
            "fixture error: case {name:?}: cannot read {}: {e}",
            file.display()
        )
    })?;
    let case = parse_case(&text)
        .map_err(|m| format!("fixture error: case {name:?}, at {}: {}", m.path, m.message))?;
    let settings = PluginSettings {
        source: PluginSource::File(component.to_owned()),
        config_json: case.config_json,
        config_files: Vec::new(),
        deadline_ms: DEADLINE_MS,
        memory_mib: MEMORY_MIB,
        max_output_kib: 16 * 1024,
    };
    let mut report = Report {
        case: name.to_owned(),
        failures: Vec::new(),
    };
    match case.body {
        Body::ConfigureError(want) => {
            let loaded = match case.kind {
                CaseKind::Normaliser => Normaliser::load(&settings, trust, Vec::new()).map(drop),
                CaseKind::Eligibility => Eligibility::load(&settings, trust, Vec::new()).map(drop),
                CaseKind::Matcher => Matcher::load(&settings, trust, Vec::new()).map(drop),
            };
            match loaded {
                Ok(()) => report.fail(format_args!(
                    "configure accepted the configuration\n  expected: an error containing {want:?}\n  actual:   Ok"
                )),
                Err(PluginError::Configure { message, .. }) => {
                    if !message.contains(&want) {
                        report.fail(format_args!(
                            "configure's error differs\n  expected: an error containing {want:?}\n  actual:   {message:?}"
                        ));
                    }
                }
                Err(e) => report.fail(format_args!("the plugin did not load: {e}")),
            }
        }
        Body::Eligibility { input, expected } => {
            if let Some(plugin) = load::<Eligibility>(&mut report, &settings, trust) {
                run_eligibility(&mut report, &plugin, &input, &expected);
            }
        }
        Body::Normaliser { batch, expect } => {
            if let Some(plugin) = load::<Normaliser>(&mut report, &settings, trust) {
                run_normaliser(&mut report, &plugin, &batch, &expect);
            }
        }
        Body::Matcher { block_keys, score } => {
            if let Some(plugin) = load::<Matcher>(&mut report, &settings, trust) {
                run_matcher(&mut report, &plugin, block_keys.as_ref(), score.as_ref());
            }
        }
    }
    report.finish()
}

/// The three plugin types a case can load.
trait Loadable: Sized {
    fn load_plugin(settings: &PluginSettings, trust: &Trust) -> Result<Self, PluginError>;
}

impl Loadable for Normaliser {
    fn load_plugin(settings: &PluginSettings, trust: &Trust) -> Result<Self, PluginError> {
        Normaliser::load(settings, trust, Vec::new())
    }
}

impl Loadable for Eligibility {
    fn load_plugin(settings: &PluginSettings, trust: &Trust) -> Result<Self, PluginError> {
        Eligibility::load(settings, trust, Vec::new())
    }
}

impl Loadable for Matcher {
    fn load_plugin(settings: &PluginSettings, trust: &Trust) -> Result<Self, PluginError> {
        Matcher::load(settings, trust, Vec::new())
    }
}

/// Loads (and so configures) the plugin; without `configure-error`, any
/// failure fails the case.
fn load<P: Loadable>(report: &mut Report, settings: &PluginSettings, trust: &Trust) -> Option<P> {
    match P::load_plugin(settings, trust) {
        Ok(plugin) => Some(plugin),
        Err(PluginError::Configure { message, .. }) => {
            report.fail(format_args!(
                "configure refused the configuration: {message}"
            ));
            None
        }
        Err(e) => {
            report.fail(format_args!("the plugin did not load: {e}"));
            None
        }
    }
}

fn run_eligibility(
    report: &mut Report,
    plugin: &Eligibility,
    input: &[Crossing],
    expected: &[Decision],
) {
    let decisions = match plugin.decide(input) {
        Ok(decisions) => decisions,
        Err(e) => return report.fail(format_args!("decide failed: {e}")),
    };
    for (i, ((want, got), crossing)) in expected.iter().zip(&decisions).zip(input).enumerate() {
        let label = format!("decide result {i} (source-ref {:?})", crossing.source_ref);
        if want != got {
            report.fail(format_args!(
                "{label}: the decision differs\n  expected: {}\n  actual:   {}",
                decision_json(want),
                decision_json(got)
            ));
        }
        if let Decision::Withhold(reason) = got
            && let Some(problem) = reason_problem(reason)
        {
            report.fail(format_args!("{label}: {problem}"));
        }
    }
}

/// Why the hub would not keep a withhold reason as it is, if it would not.
fn reason_problem(reason: &str) -> Option<String> {
    let kept = crate::ingest::clean_reason(reason);
    (kept != reason).then(|| {
        format!(
            "the withhold reason {reason:?} would be changed by the hub to {kept:?}: \
             a reason is 1-80 ASCII letters, digits, spaces and :,._()- without surrounding spaces"
        )
    })
}

fn run_normaliser(report: &mut Report, plugin: &Normaliser, batch: &[u8], expect: &SplitExpect) {
    let split = match plugin.split(batch) {
        Ok(split) => split,
        Err(e) => return report.fail(format_args!("split failed: {e}")),
    };
    let (expected, records) = match (expect, split) {
        (SplitExpect::Error(want), Err(message)) => {
            if !message.contains(want.as_str()) {
                report.fail(format_args!(
                    "split refused the batch with another message\n  expected: a refusal containing {want:?}\n  actual:   {message:?}"
                ));
            }
            return;
        }
        (SplitExpect::Error(want), Ok(records)) => {
            return report.fail(format_args!(
                "split accepted the batch\n  expected: a refusal containing {want:?}\n  actual:   {} record(s) at {}",
                records.len(),
                locations(&records)
            ));
        }
        (SplitExpect::Records(expected), Err(message)) => {
            return report.fail(format_args!(
                "split refused the batch\n  expected: {} record(s)\n  actual:   a refusal: {message:?}",
                expected.len()
            ));
        }
        (SplitExpect::Records(expected), Ok(records)) => (expected, records),
    };
    if records.len() != expected.len() {
        return report.fail(format_args!(
            "split returned {} record(s), expected {}\n  actual locations: {}",
            records.len(),
            expected.len(),
            locations(&records)
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&records).enumerate() {
        if let Some(location) = &want.location
            && *location != got.location
        {
            report.fail(format_args!(
                "split record {i}: the location differs\n  expected: {location:?}\n  actual:   {:?}",
                got.location
            ));
        }
    }
    let results = match plugin.normalise(&records) {
        Ok(results) => results,
        Err(e) => return report.fail(format_args!("normalise failed: {e}")),
    };
    for (i, ((want, got), record)) in expected.iter().zip(&results).zip(&records).enumerate() {
        let source_ref = match (&want.result, got) {
            (Ok(c), _) | (Err(_), Ok(c)) => format!(", source-ref {:?}", c.source_ref),
            (Err(_), Err(_)) => String::new(),
        };
        let label = format!("normalise result {i} ({:?}{source_ref})", record.location);
        let hub_check = match got {
            Ok(c) => c.check().err().map(|invalid| {
                format!(
                    "the hub would reject this crossing: the normaliser produced an unusable value: {invalid}; this is a plugin fault"
                )
            }),
            Err(_) => None,
        };
        match (&want.result, got) {
            (Ok(want), Ok(got)) => {
                if let Some(message) = hub_check {
                    report.fail(format_args!("{label}: {message}"));
                }
                let diff = crossing_diff(want, got);
                if !diff.is_empty() {
                    report.fail(format_args!(
                        "{label}: the crossing differs in {} field(s)\n{}",
                        diff.len(),
                        diff.join("\n")
                    ));
                }
            }
            (Ok(want), Err(got)) => report.fail(format_args!(
                "{label}: expected a crossing, got a rejection\n  expected: {{\"ok\": {}}}\n  actual:   {}",
                object(&crossing_fields(want), "  "),
                rejection_json(got)
            )),
            (Err(want), Ok(got)) => report.fail(format_args!(
                "{label}: expected a rejection, got a crossing\n  expected: {}\n  actual:   {{\"ok\": {}}}{}",
                rejection_json(want),
                object(&crossing_fields(got), "  "),
                hub_check.map(|m| format!("\n  ({m})")).unwrap_or_default()
            )),
            (Err(want), Err(got)) => {
                if want.field != got.field || !got.reason.contains(&want.reason) {
                    report.fail(format_args!(
                        "{label}: the rejection differs (the field must be equal, the reason contain the expected one)\n  expected: {}\n  actual:   {}",
                        rejection_json(want),
                        rejection_json(got)
                    ));
                }
            }
        }
    }
}

fn locations(records: &[SourceRecord]) -> String {
    let list: Vec<String> = records
        .iter()
        .map(|r| format!("{:?}", r.location))
        .collect();
    format!("[{}]", list.join(", "))
}

fn run_matcher(
    report: &mut Report,
    plugin: &Matcher,
    block_keys: Option<&BlockKeysCase>,
    score: Option<&ScoreCase>,
) {
    if let Some(case) = block_keys {
        let keys = match plugin.block_keys(&case.input) {
            Ok(keys) => keys,
            Err(e) => return report.fail(format_args!("block-keys failed: {e}")),
        };
        let keys: Vec<BTreeSet<String>> =
            keys.into_iter().map(|k| k.into_iter().collect()).collect();
        if let Some(expected) = &case.expected {
            for (i, (want, got)) in expected.iter().zip(&keys).enumerate() {
                if want != got {
                    report.fail(format_args!(
                        "block-keys result {i}: the keys differ (compared as sets)\n  expected: {}\n  actual:   {}\n  missing:    {}\n  unexpected: {}",
                        key_list(want.iter()),
                        key_list(got.iter()),
                        key_list(want.difference(got)),
                        key_list(got.difference(want))
                    ));
                }
            }
        }
        for (n, &(i, j)) in case.meet.iter().enumerate() {
            if keys[i].is_disjoint(&keys[j]) {
                report.fail(format_args!(
                    "block-keys meet[{n}] = [{i}, {j}]: records {i} and {j} have no key in common\n  keys of {i}: {}\n  keys of {j}: {}",
                    key_list(keys[i].iter()),
                    key_list(keys[j].iter())
                ));
            }
        }
        for (n, &(i, j)) in case.apart.iter().enumerate() {
            if !keys[i].is_disjoint(&keys[j]) {
                report.fail(format_args!(
                    "block-keys apart[{n}] = [{i}, {j}]: records {i} and {j} have keys in common: {}",
                    key_list(keys[i].intersection(&keys[j]))
                ));
            }
        }
    }
    if let Some(case) = score {
        let pairs: Vec<(&SharedRecord, &SharedRecord)> = case
            .input
            .iter()
            .map(|(entry, exit)| (entry, exit))
            .collect();
        let scores = match plugin.score(&pairs) {
            Ok(scores) => scores,
            Err(e) => return report.fail(format_args!("score failed: {e}")),
        };
        for (i, (bounds, &got)) in case.expected.iter().zip(&scores).enumerate() {
            if !got.is_finite() || !(0.0..=1.0).contains(&got) {
                report.fail(format_args!(
                    "score result {i}: {got} is not a finite number from 0.0 to 1.0"
                ));
            } else if bounds.min.is_some_and(|min| got < min)
                || bounds.max.is_some_and(|max| got > max)
            {
                report.fail(format_args!(
                    "score result {i}: the score is out of bounds\n  expected: {}\n  actual:   {got}",
                    bounds_json(bounds)
                ));
            }
        }
    }
}

fn key_list<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    Value::from(keys.cloned().collect::<Vec<_>>()).to_string()
}

// ---------------------------------------------------------------------------
// Rendering values in the fixture format

fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

fn timestamp_json(t: Timestamp) -> String {
    let formatted = crate::record::format_time(t);
    if formatted.starts_with('@') {
        t.to_string()
    } else {
        json_string(&formatted)
    }
}

fn date_json(d: PartialDate) -> String {
    let part = |p: Option<u8>| p.map_or_else(|| "null".to_owned(), |p| p.to_string());
    format!(
        "{{\"year\": {}, \"month\": {}, \"day\": {}}}",
        d.year,
        part(d.month),
        part(d.day)
    )
}

fn sex_json(s: Sex) -> String {
    json_string(match s {
        Sex::F => "female",
        Sex::M => "male",
        Sex::X => "unspecified",
    })
}

fn mode_json(m: Mode) -> String {
    json_string(match m {
        Mode::Vehicle => "vehicle",
        Mode::Pedestrian => "pedestrian",
        Mode::Ferry => "ferry",
        Mode::Rail => "rail",
        Mode::Bus => "bus",
        Mode::Sea => "sea",
    })
}

fn residency_json(list: &[Residency]) -> String {
    let names: Vec<&str> = list
        .iter()
        .map(|r| match r {
            Residency::CanadaPermanentResident => "canada-permanent-resident",
            Residency::UsLawfulPermanentResident => "us-lawful-permanent-resident",
        })
        .collect();
    Value::from(names).to_string()
}

/// A crossing's fields in WIT order, each rendered as compact JSON.
fn crossing_fields(c: &Crossing) -> Vec<(&'static str, String)> {
    vec![
        ("source-ref", json_string(&c.source_ref)),
        ("given-names", json_string(&c.given_names)),
        ("middle-names", json_string(&c.middle_names)),
        ("family-name", json_string(&c.family_name)),
        ("date-of-birth", date_json(c.date_of_birth)),
        ("sex", sex_json(c.sex)),
        ("nationality", json_string(&c.nationality)),
        ("document-type", json_string(&c.document_type)),
        ("document-number", json_string(&c.document_number)),
        ("document-country", json_string(&c.document_country)),
        ("crossed-at", timestamp_json(c.crossed_at)),
        ("port-code", json_string(&c.port_code)),
        ("mode", mode_json(c.mode)),
        (
            "citizenships",
            Value::from(c.citizenships.clone()).to_string(),
        ),
        ("residency", residency_json(&c.residency)),
        (
            "authorised-stay-until",
            c.authorised_stay_until
                .map_or_else(|| "null".to_owned(), timestamp_json),
        ),
    ]
}

/// One line per field that differs.
fn crossing_diff(want: &Crossing, got: &Crossing) -> Vec<String> {
    // Rendering is exact (timestamps to the second), so comparing the
    // renderings compares the values.
    crossing_fields(want)
        .into_iter()
        .zip(crossing_fields(got))
        .filter(|((_, w), (_, g))| w != g)
        .map(|((key, w), (_, g))| format!("  {key}: expected {w}, actual {g}"))
        .collect()
}

/// A JSON object, one field per line, keys in the given order.
fn object(fields: &[(&str, String)], indent: &str) -> String {
    let mut out = String::from("{\n");
    for (n, (key, value)) in fields.iter().enumerate() {
        let comma = if n + 1 < fields.len() { "," } else { "" };
        out.push_str(&format!("{indent}  {}: {value}{comma}\n", json_string(key)));
    }
    out.push_str(indent);
    out.push('}');
    out
}

fn decision_json(d: &Decision) -> String {
    match d {
        Decision::Share => "{\"share\": null}".to_owned(),
        Decision::Withhold(reason) => format!("{{\"withhold\": {}}}", json_string(reason)),
    }
}

fn rejection_json(r: &Rejection) -> String {
    format!(
        "{{\"rejected\": {{\"field\": {}, \"reason\": {}}}}}",
        r.field
            .as_deref()
            .map_or_else(|| "null".to_owned(), json_string),
        json_string(&r.reason)
    )
}

fn bounds_json(b: &Bounds) -> String {
    let mut parts = Vec::new();
    if let Some(min) = b.min {
        parts.push(format!("\"min\": {min}"));
    }
    if let Some(max) = b.max {
        parts.push(format!("\"max\": {max}"));
    }
    format!("{{{}}}", parts.join(", "))
}

// ---------------------------------------------------------------------------
// The case format

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CaseKind {
    Normaliser,
    Eligibility,
    Matcher,
}

#[derive(Debug)]
struct Case {
    kind: CaseKind,
    /// The `config` object as JSON text, `{}` by default.
    config_json: String,
    body: Body,
}

#[derive(Debug)]
enum Body {
    /// `configure` must refuse the configuration with a message containing this.
    ConfigureError(String),
    Eligibility {
        input: Vec<Crossing>,
        expected: Vec<Decision>,
    },
    Normaliser {
        batch: Vec<u8>,
        expect: SplitExpect,
    },
    Matcher {
        block_keys: Option<BlockKeysCase>,
        score: Option<ScoreCase>,
    },
}

#[derive(Debug)]
enum SplitExpect {
    /// `split` must refuse the batch with a message containing this.
    Error(String),
    Records(Vec<ExpectedRecord>),
}

#[derive(Debug)]
struct ExpectedRecord {
    location: Option<String>,
    /// `Err`: a rejection with this field and a reason containing this reason.
    result: Result<Crossing, Rejection>,
}

#[derive(Debug)]
struct BlockKeysCase {
    input: Vec<SharedRecord>,
    expected: Option<Vec<BTreeSet<String>>>,
    meet: Vec<(usize, usize)>,
    apart: Vec<(usize, usize)>,
}

#[derive(Debug)]
struct ScoreCase {
    input: Vec<(SharedRecord, SharedRecord)>,
    expected: Vec<Bounds>,
}

#[derive(Debug)]
struct Bounds {
    min: Option<f64>,
    max: Option<f64>,
}

/// What is wrong with a case file, and where (a JSON path such as
/// `$.input[2].date-of-birth.month`).
#[derive(Debug)]
struct Malformed {
    path: String,
    message: String,
}

type Parse<T> = Result<T, Malformed>;

fn malformed<T>(path: &str, message: impl Into<String>) -> Parse<T> {
    Err(Malformed {
        path: path.to_owned(),
        message: message.into(),
    })
}

fn key_path(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn describe(v: &Value) -> String {
    let what = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => return "a list".into(),
        Value::Object(_) => return "an object".into(),
    };
    format!("{what} ({v})")
}

fn wrong_type<T>(path: &str, expected: &str, v: &Value) -> Parse<T> {
    malformed(path, format!("expected {expected}, found {}", describe(v)))
}

fn quoted(keys: &[&str]) -> String {
    let list: Vec<String> = keys.iter().map(|k| json_string(k)).collect();
    list.join(", ")
}

/// An object whose keys are checked against those allowed at its place.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str, keys: &[&str]) -> Parse<Obj<'a>> {
        let Some(map) = v.as_object() else {
            return wrong_type(path, "an object", v);
        };
        if let Some(key) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return malformed(
                &key_path(path, key),
                format!(
                    "unknown key {}; the keys here are {}",
                    json_string(key),
                    quoted(keys)
                ),
            );
        }
        Ok(Obj {
            path: path.to_owned(),
            map,
        })
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn opt<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&'a Value, &str) -> Parse<T>,
    ) -> Parse<Option<T>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => parse(v, &key_path(&self.path, key)).map(Some),
        }
    }

    fn req<T>(&self, key: &str, parse: impl FnOnce(&'a Value, &str) -> Parse<T>) -> Parse<T> {
        match self.opt(key, parse)? {
            Some(value) => Ok(value),
            None => malformed(&key_path(&self.path, key), "missing: this key is required"),
        }
    }

    /// Exactly one of two alternative keys: `Ok(true)` for the first.
    fn one_of(&self, first: &str, second: &str) -> Parse<bool> {
        match (self.has(first), self.has(second)) {
            (true, false) => Ok(true),
            (false, true) => Ok(false),
            (true, true) => malformed(
                &self.path,
                format!("has both {first:?} and {second:?}; give exactly one"),
            ),
            (false, false) => malformed(
                &self.path,
                format!("has neither {first:?} nor {second:?}; give exactly one"),
            ),
        }
    }
}

fn string(v: &Value, path: &str) -> Parse<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => wrong_type(path, "a string", v),
    }
}

fn nullable<'a, T>(
    v: &'a Value,
    path: &str,
    parse: impl FnOnce(&'a Value, &str) -> Parse<T>,
) -> Parse<Option<T>> {
    if v.is_null() {
        Ok(None)
    } else {
        parse(v, path).map(Some)
    }
}

fn list<'a, T>(
    v: &'a Value,
    path: &str,
    item: impl Fn(&'a Value, &str) -> Parse<T>,
) -> Parse<Vec<T>> {
    let Some(items) = v.as_array() else {
        return wrong_type(path, "a list", v);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| item(v, &index_path(path, i)))
        .collect()
}

fn uint<T: TryFrom<u64>>(v: &Value, path: &str, range: &str) -> Parse<T> {
    match v.as_u64().and_then(|n| T::try_from(n).ok()) {
        Some(n) => Ok(n),
        None => wrong_type(path, &format!("an integer from {range}"), v),
    }
}

fn number(v: &Value, path: &str) -> Parse<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| wrong_type(path, "a number", v), Ok),
        _ => wrong_type(path, "a number", v),
    }
}

/// Seconds since the epoch, or an RFC 3339 date-time with `Z` or an offset
/// and no fractional seconds.
fn timestamp(v: &Value, path: &str) -> Parse<Timestamp> {
    let expected =
        "a timestamp (an integer, or an RFC 3339 string such as \"2026-11-21T14:03:00Z\")";
    match v {
        Value::Number(n) => n.as_i64().map_or_else(|| wrong_type(path, expected, v), Ok),
        Value::String(s) => {
            let parsed = if s.contains('.') {
                None
            } else {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            };
            match parsed {
                Some(t) => Ok(t.unix_timestamp()),
                None => malformed(
                    path,
                    format!(
                        "{} is not an RFC 3339 date-time with Z or an offset and no fractional seconds, such as \"2026-11-21T14:03:00Z\"",
                        json_string(s)
                    ),
                ),
            }
        }
        _ => wrong_type(path, expected, v),
    }
}

fn partial_date(v: &Value, path: &str) -> Parse<PartialDate> {
    let o = Obj::new(v, path, &["year", "month", "day"])?;
    let part = |v: &Value, p: &str| nullable(v, p, |v, p| uint::<u8>(v, p, "0 to 255"));
    Ok(PartialDate {
        year: o.req("year", |v, p| uint::<u16>(v, p, "0 to 65535"))?,
        month: o.opt("month", part)?.flatten(),
        day: o.opt("day", part)?.flatten(),
    })
}

/// A string that must be one of `names`, mapped to its value.
fn one_of_names<T: Copy>(v: &Value, path: &str, names: &[(&str, T)]) -> Parse<T> {
    let s = string(v, path)?;
    match names.iter().find(|(name, _)| *name == s) {
        Some(&(_, value)) => Ok(value),
        None => {
            let allowed: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            malformed(
                path,
                format!("{} is not one of {}", json_string(&s), quoted(&allowed)),
            )
        }
    }
}

fn sex(v: &Value, path: &str) -> Parse<Sex> {
    one_of_names(
        v,
        path,
        &[
            ("female", Sex::F),
            ("male", Sex::M),
            ("unspecified", Sex::X),
        ],
    )
}

fn mode(v: &Value, path: &str) -> Parse<Mode> {
    one_of_names(
        v,
        path,
        &[
            ("vehicle", Mode::Vehicle),
            ("pedestrian", Mode::Pedestrian),
            ("ferry", Mode::Ferry),
            ("rail", Mode::Rail),
            ("bus", Mode::Bus),
            ("sea", Mode::Sea),
        ],
    )
}

fn residency(v: &Value, path: &str) -> Parse<Residency> {
    one_of_names(
        v,
        path,
        &[
            (
                "canada-permanent-resident",
                Residency::CanadaPermanentResident,
            ),
            (
                "us-lawful-permanent-resident",
                Residency::UsLawfulPermanentResident,
            ),
        ],
    )
}

fn crossing(v: &Value, path: &str) -> Parse<Crossing> {
    let o = Obj::new(
        v,
        path,
        &[
            "source-ref",
            "given-names",
            "middle-names",
            "family-name",
            "date-of-birth",
            "sex",
            "nationality",
            "document-type",
            "document-number",
            "document-country",
            "crossed-at",
            "port-code",
            "mode",
            "citizenships",
            "residency",
            "authorised-stay-until",
        ],
    )?;
    Ok(Crossing {
        source_ref: o.req("source-ref", string)?,
        given_names: o.req("given-names", string)?,
        middle_names: o.opt("middle-names", string)?.unwrap_or_default(),
        family_name: o.req("family-name", string)?,
        date_of_birth: o.req("date-of-birth", partial_date)?,
        sex: o.req("sex", sex)?,
        nationality: o.req("nationality", string)?,
        document_type: o.req("document-type", string)?,
        document_number: o.req("document-number", string)?,
        document_country: o.req("document-country", string)?,
        crossed_at: o.req("crossed-at", timestamp)?,
        port_code: o.req("port-code", string)?,
        mode: o.req("mode", mode)?,
        citizenships: o
            .opt("citizenships", |v, p| list(v, p, string))?
            .unwrap_or_default(),
        residency: o
            .opt("residency", |v, p| list(v, p, residency))?
            .unwrap_or_default(),
        authorised_stay_until: o
            .opt("authorised-stay-until", |v, p| nullable(v, p, timestamp))?
            .flatten(),
    })
}

fn shared_record(v: &Value, path: &str) -> Parse<SharedRecord> {
    let o = Obj::new(
        v,
        path,
        &[
            "given-names",
            "family-name",
            "middle-names",
            "date-of-birth",
            "nationality",
            "sex",
            "document-type",
            "document-number",
            "document-country",
            "entered-at",
            "port-code",
        ],
    )?;
    Ok(SharedRecord {
        given_names: o.req("given-names", string)?,
        family_name: o.req("family-name", string)?,
        middle_names: o.opt("middle-names", string)?.unwrap_or_default(),
        date_of_birth: o.req("date-of-birth", partial_date)?,
        nationality: o.req("nationality", string)?,
        sex: o.req("sex", sex)?,
        document_type: o.req("document-type", string)?,
        document_number: o.req("document-number", string)?,
        document_country: o.req("document-country", string)?,
        entered_at: o.req("entered-at", timestamp)?,
        port_code: o.req("port-code", string)?,
    })
}

fn decision(v: &Value, path: &str) -> Parse<Decision> {
    let o = Obj::new(v, path, &["share", "withhold"])?;
    if o.one_of("share", "withhold")? {
        o.req("share", |v, p| match v {
            Value::Null => Ok(()),
            _ => wrong_type(p, "null (write {\"share\": null})", v),
        })?;
        Ok(Decision::Share)
    } else {
        Ok(Decision::Withhold(o.req("withhold", string)?))
    }
}

fn rejection(v: &Value, path: &str) -> Parse<Rejection> {
    let o = Obj::new(v, path, &["field", "reason"])?;
    Ok(Rejection {
        field: o.req("field", |v, p| nullable(v, p, string))?,
        reason: o.req("reason", string)?,
    })
}

fn expected_record(v: &Value, path: &str) -> Parse<ExpectedRecord> {
    let o = Obj::new(v, path, &["location", "ok", "rejected"])?;
    let location = o.opt("location", string)?;
    let result = if o.one_of("ok", "rejected")? {
        Ok(o.req("ok", crossing)?)
    } else {
        Err(o.req("rejected", rejection)?)
    };
    Ok(ExpectedRecord { location, result })
}

fn hex_batch(v: &Value, path: &str) -> Parse<Vec<u8>> {
    let s = string(v, path)?;
    hex::decode(&s).or_else(|e| {
        malformed(
            path,
            format!("is not a string of hexadecimal digit pairs: {e}"),
        )
    })
}

/// `expected` (at `path`) must have one item per input.
fn same_length(path: &str, expected: usize, input: usize) -> Parse<()> {
    if expected == input {
        Ok(())
    } else {
        malformed(
            path,
            format!("has {expected} item(s) but input has {input}; give one per input"),
        )
    }
}

fn index_pair(v: &Value, path: &str, len: usize) -> Parse<(usize, usize)> {
    let indexes = list(v, path, |v, p| {
        let i = uint::<usize>(v, p, "0 up")?;
        if i < len {
            Ok(i)
        } else {
            malformed(
                p,
                format!("index {i} is out of range: input has {len} record(s)"),
            )
        }
    })?;
    match indexes[..] {
        [i, j] => Ok((i, j)),
        _ => malformed(
            path,
            format!("has {} index(es); write a pair [i, j]", indexes.len()),
        ),
    }
}

fn block_keys_case(v: &Value, path: &str) -> Parse<BlockKeysCase> {
    let o = Obj::new(v, path, &["input", "expected", "meet", "apart"])?;
    let input = o.req("input", |v, p| list(v, p, shared_record))?;
    let expected = o.opt("expected", |v, p| {
        list(v, p, |v, p| {
            list(v, p, string).map(|keys| keys.into_iter().collect::<BTreeSet<_>>())
        })
    })?;
    if let Some(expected) = &expected {
        same_length(&key_path(path, "expected"), expected.len(), input.len())?;
    }
    let pairs = |key: &str| {
        o.opt(key, |v, p| list(v, p, |v, p| index_pair(v, p, input.len())))
            .map(Option::unwrap_or_default)
    };
    let meet = pairs("meet")?;
    let apart = pairs("apart")?;
    if expected.is_none() && !o.has("meet") && !o.has("apart") {
        return malformed(
            path,
            "has none of \"expected\", \"meet\" and \"apart\"; give at least one",
        );
    }
    Ok(BlockKeysCase {
        input,
        expected,
        meet,
        apart,
    })
}

fn bounds(v: &Value, path: &str) -> Parse<Bounds> {
    let o = Obj::new(v, path, &["min", "max"])?;
    let bounds = Bounds {
        min: o.opt("min", number)?,
        max: o.opt("max", number)?,
    };
    match (bounds.min, bounds.max) {
        (None, None) => malformed(path, "has neither \"min\" nor \"max\"; give one or both"),
        (Some(min), Some(max)) if min > max => {
            malformed(path, format!("min {min} is greater than max {max}"))
        }
        _ => Ok(bounds),
    }
}

fn score_case(v: &Value, path: &str) -> Parse<ScoreCase> {
    let o = Obj::new(v, path, &["input", "expected"])?;
    let input = o.req("input", |v, p| {
        list(v, p, |v, p| {
            let pair = Obj::new(v, p, &["entry", "exit"])?;
            Ok((
                pair.req("entry", shared_record)?,
                pair.req("exit", shared_record)?,
            ))
        })
    })?;
    let expected = o.req("expected", |v, p| list(v, p, bounds))?;
    same_length(&key_path(path, "expected"), expected.len(), input.len())?;
    Ok(ScoreCase { input, expected })
}

const COMMON_KEYS: [&str; 4] = ["kind", "description", "config", "configure-error"];

fn parse_case(text: &[u8]) -> Parse<Case> {
    let value = match serde_json::from_slice::<Strict>(text) {
        Ok(Strict(value)) => value,
        Err(e) if e.is_data() => return malformed("$", e.to_string()),
        Err(e) => return malformed("$", format!("not JSON: {e}")),
    };
    let Some(top) = value.as_object() else {
        return wrong_type("$", "an object", &value);
    };
    let kind = match top.get("kind") {
        None => return malformed("$.kind", "missing: this key is required"),
        Some(v) => one_of_names(
            v,
            "$.kind",
            &[
                ("normaliser", Some(CaseKind::Normaliser)),
                ("eligibility", Some(CaseKind::Eligibility)),
                ("matcher", Some(CaseKind::Matcher)),
                ("transport", None),
            ],
        )?,
    };
    let Some(kind) = kind else {
        return malformed(
            "$.kind",
            "transport plugins are not fixture-tested; the kind is \"normaliser\", \"eligibility\" or \"matcher\"",
        );
    };
    let kind_keys: &[&str] = match kind {
        CaseKind::Eligibility => &["input", "expected"],
        CaseKind::Normaliser => &["batch", "batch-hex", "split-error", "expected"],
        CaseKind::Matcher => &["block-keys", "score"],
    };
    let configure_error = top.contains_key("configure-error");
    if configure_error && let Some(key) = top.keys().find(|k| kind_keys.contains(&k.as_str())) {
        return malformed(
            &key_path("$", key),
            "a case with \"configure-error\" has no other keys than \"kind\", \"description\" and \"config\"",
        );
    }
    let allowed: Vec<&str> = COMMON_KEYS.iter().chain(kind_keys).copied().collect();
    let o = Obj::new(&value, "$", &allowed)?;
    o.opt("description", string)?;
    let config_json = o
        .opt("config", |v, p| match v {
            Value::Object(_) => Ok(v.to_string()),
            _ => wrong_type(p, "an object", v),
        })?
        .unwrap_or_else(|| "{}".to_owned());
    if let Some(want) = o.opt("configure-error", string)? {
        return Ok(Case {
            kind,
            config_json,
            body: Body::ConfigureError(want),
        });
    }
    let body = match kind {
        CaseKind::Eligibility => {
            let input = o.req("input", |v, p| list(v, p, crossing))?;
            let expected = o.req("expected", |v, p| list(v, p, decision))?;
            same_length("$.expected", expected.len(), input.len())?;
            Body::Eligibility { input, expected }
        }
        CaseKind::Normaliser => {
            let batch = if o.one_of("batch", "batch-hex")? {
                o.req("batch", string)?.into_bytes()
            } else {
                o.req("batch-hex", hex_batch)?
            };
            let expect = if o.one_of("split-error", "expected")? {
                SplitExpect::Error(o.req("split-error", string)?)
            } else {
                SplitExpect::Records(o.req("expected", |v, p| list(v, p, expected_record))?)
            };
            Body::Normaliser { batch, expect }
        }
        CaseKind::Matcher => {
            let block_keys = o.opt("block-keys", block_keys_case)?;
            let score = o.opt("score", score_case)?;
            if block_keys.is_none() && score.is_none() {
                return malformed(
                    "$",
                    "has neither \"block-keys\" nor \"score\"; give one or both",
                );
            }
            Body::Matcher { block_keys, score }
        }
    };
    Ok(Case {
        kind,
        config_json,
        body,
    })
}

/// A JSON value read with duplicate keys refused (serde_json's `Value` keeps
/// the last silently, which would hide a misspelt case just as well).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    json_string(&key)
                )));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = concat!(env!("ENTREX_TEST_PLUGIN_DIR"), "/template.wasm");
    const HOSTILE: &str = concat!(env!("ENTREX_TEST_PLUGIN_DIR"), "/hostile_normaliser.wasm");
    const MATCHER: &str = env!("ENTREX_PLUGIN_BIOGRAPHIC_MATCHER");
    const TEMPLATE_FIXTURES: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/template/fixtures");

    fn dir_with(cases: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in cases {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn run_one(component: &str, case: &str) -> Result<(), String> {
        let dir = dir_with(&[("case.json", case)]);
        let outcomes = run(Path::new(component), dir.path()).unwrap();
        assert_eq!(outcomes.len(), 1);
        outcomes.into_iter().next().unwrap().result
    }

    fn fixture_error(component: &str, case: &str) -> String {
        let message = run_one(component, case).unwrap_err();
        assert!(message.starts_with("fixture error:"), "{message}");
        message
    }

    const CAN_CITIZEN: &str = r#"{"source-ref": "f1", "given-names": "JANE", "family-name": "SMITH",
        "date-of-birth": {"year": 1975, "month": 1, "day": 2}, "sex": "female",
        "nationality": "CAN", "document-type": "P", "document-number": "AB123456",
        "document-country": "CAN", "crossed-at": "2026-11-21T14:05:00Z",
        "port-code": "0427", "mode": "pedestrian", "citizenships": ["CAN"]}"#;
    const DEU_CITIZEN: &str = r#"{"source-ref": "f0", "given-names": "HANS", "family-name": "MÜLLER",
        "date-of-birth": {"year": 1980, "month": 3, "day": 7}, "sex": "male",
        "nationality": "DEU", "document-type": "P", "document-number": "C01X00T47",
        "document-country": "D", "crossed-at": 1795356180,
        "port-code": "0427", "mode": "vehicle", "citizenships": ["DEU"]}"#;

    #[test]
    fn template_fixtures_pass() {
        let outcomes = run(Path::new(TEMPLATE), Path::new(TEMPLATE_FIXTURES)).unwrap();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "configured-countries",
                "default-config",
                "unknown-key-refused"
            ]
        );
        for outcome in &outcomes {
            assert_eq!(outcome.result, Ok(()), "{}", outcome.name);
        }
    }

    #[test]
    fn a_wrong_reason_fails_naming_case_index_and_values() {
        let wrong = format!(
            r#"{{"kind": "eligibility", "input": [{DEU_CITIZEN}, {CAN_CITIZEN}],
               "expected": [{{"share": null}}, {{"withhold": "citizen of XYZ"}}]}}"#
        );
        let right = format!(
            r#"{{"kind": "eligibility", "input": [{CAN_CITIZEN}],
               "expected": [{{"withhold": "citizen of CAN, USA"}}]}}"#
        );
        let dir = dir_with(&[
            ("wrong-reason.json", &wrong),
            ("a-right.json", &right),
            ("notes.txt", "not a case"),
        ]);
        std::fs::create_dir(dir.path().join("sub.json")).unwrap();
        let outcomes = run(Path::new(TEMPLATE), dir.path()).unwrap();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a-right", "wrong-reason"]);
        assert_eq!(outcomes[0].result, Ok(()));
        let message = outcomes[1].result.clone().unwrap_err();
        assert!(message.starts_with("case \"wrong-reason\""), "{message}");
        assert!(message.contains("decide result 1"), "{message}");
        assert!(message.contains("\"f1\""), "{message}");
        assert!(message.contains("citizen of XYZ"), "{message}");
        assert!(message.contains("citizen of CAN, USA"), "{message}");
        assert!(!message.contains("result 0"), "{message}");
    }

    #[test]
    fn configure_errors() {
        // Expected an error, got none.
        let message = run_one(
            TEMPLATE,
            r#"{"kind": "eligibility", "config": {"citizens_of": ["CAN"]}, "configure-error": "unknown"}"#,
        )
        .unwrap_err();
        assert!(message.contains("configure accepted"), "{message}");
        // Another error than expected.
        let message = run_one(
            TEMPLATE,
            r#"{"kind": "eligibility", "config": {"x": 1}, "configure-error": "citizens_of[0]"}"#,
        )
        .unwrap_err();
        assert!(message.contains("configure's error differs"), "{message}");
        // An unexpected error.
        let message = run_one(
            TEMPLATE,
            r#"{"kind": "eligibility", "config": {"x": 1}, "input": [], "expected": []}"#,
        )
        .unwrap_err();
        assert!(
            message.contains("configure refused the configuration: unknown key(s) \"x\""),
            "{message}"
        );
        // The component is not of the case's kind.
        let message = run_one(
            TEMPLATE,
            r#"{"kind": "matcher", "score": {"input": [], "expected": []}}"#,
        )
        .unwrap_err();
        assert!(message.contains("did not load"), "{message}");
        assert!(
            message.contains("cannot be linked as a matcher"),
            "{message}"
        );
    }

    #[test]
    fn malformed_cases_are_fixture_errors_with_their_path() {
        let misspelt = CAN_CITIZEN.replace("\"nationality\"", "\"nationalty\"");
        let message = fixture_error(
            TEMPLATE,
            &format!(
                r#"{{"kind": "eligibility", "input": [{DEU_CITIZEN}, {misspelt}], "expected": [{{"share": null}}, {{"share": null}}]}}"#
            ),
        );
        assert!(message.contains("case \"case\""), "{message}");
        assert!(message.contains("$.input[1].nationalty"), "{message}");
        assert!(message.contains("unknown key"), "{message}");

        let cases = [
            ("{", "$: not JSON"),
            ("[]", "$: expected an object"),
            (
                r#"{"kind": "eligibility", "kind": "matcher"}"#,
                "duplicate key \"kind\"",
            ),
            (
                r#"{"kind": "transport"}"#,
                "$.kind: transport plugins are not fixture-tested",
            ),
            (
                r#"{"kind": "eligibility", "input": []}"#,
                "$.expected: missing",
            ),
            (
                &format!(r#"{{"kind": "eligibility", "input": [{CAN_CITIZEN}], "expected": []}}"#),
                "$.expected: has 0 item(s) but input has 1",
            ),
            (
                &format!(
                    r#"{{"kind": "eligibility", "input": [{}], "expected": [{{"share": null}}]}}"#,
                    CAN_CITIZEN.replace("\"female\"", "\"f\"")
                ),
                "$.input[0].sex: \"f\" is not one of",
            ),
            (
                &format!(
                    r#"{{"kind": "eligibility", "input": [{}], "expected": [{{"share": null}}]}}"#,
                    CAN_CITIZEN.replace("\"day\": 2", "\"day\": 256")
                ),
                "$.input[0].date-of-birth.day: expected an integer from 0 to 255",
            ),
            (
                &format!(
                    r#"{{"kind": "eligibility", "input": [{}], "expected": [{{"share": null}}]}}"#,
                    CAN_CITIZEN.replace("14:05:00Z", "14:05:00.5Z")
                ),
                "$.input[0].crossed-at: \"2026-11-21T14:05:00.5Z\" is not an RFC 3339",
            ),
            (
                &format!(
                    r#"{{"kind": "eligibility", "input": [{CAN_CITIZEN}], "expected": [{{"share": null, "withhold": "x"}}]}}"#
                ),
                "$.expected[0]: has both",
            ),
            (
                r#"{"kind": "eligibility", "config": {"citizens_of": ["CAN"]}, "configure-error": "x", "input": []}"#,
                "$.input: a case with \"configure-error\"",
            ),
            (
                r#"{"kind": "normaliser", "expected": []}"#,
                "$: has neither \"batch\" nor \"batch-hex\"",
            ),
            (
                r#"{"kind": "normaliser", "batch-hex": "0g", "expected": []}"#,
                "$.batch-hex: is not a string of hexadecimal",
            ),
            (
                r#"{"kind": "normaliser", "batch": "", "expected": [{"rejected": {"field": null}}]}"#,
                "$.expected[0].rejected.reason: missing",
            ),
            (
                r#"{"kind": "matcher"}"#,
                "$: has neither \"block-keys\" nor \"score\"",
            ),
            (
                r#"{"kind": "matcher", "block-keys": {"input": [], "meet": [[0, 1]]}}"#,
                "$.block-keys.meet[0][0]: index 0 is out of range",
            ),
            (
                r#"{"kind": "matcher", "block-keys": {"input": []}}"#,
                "$.block-keys: has none of",
            ),
            (
                r#"{"kind": "matcher", "score": {"input": [], "expected": [{"min": 0.5}]}}"#,
                "$.score.expected: has 1 item(s) but input has 0",
            ),
        ];
        for (case, want) in cases {
            let message = fixture_error(TEMPLATE, case);
            assert!(message.contains(want), "{case}\n→ {message}\nwanted {want}");
        }
    }

    /// The `ok` crossing of the hostile normaliser for an upper-case ID.
    fn hostile_ok(id: &str, family_name: &str) -> String {
        format!(
            r#"{{"source-ref": "{id}", "given-names": "ANNA", "family-name": "{family_name}",
                "date-of-birth": {{"year": 1974, "month": 8, "day": 12}}, "sex": "female",
                "nationality": "SWE", "document-type": "P", "document-number": "X{id}",
                "document-country": "SWE", "crossed-at": "2026-11-21T10:00:00Z",
                "port-code": "0427", "mode": "vehicle", "citizenships": ["SWE"]}}"#
        )
    }

    #[test]
    fn normaliser_results_are_compared() {
        let pass = format!(
            r#"{{"kind": "normaliser", "batch": "A1,ok\n\nB2,reject\nC3,nonsense\n",
                "expected": [
                  {{"location": "line 1", "ok": {}}},
                  {{"location": "line 3", "rejected": {{"field": "behaviour", "reason": ""}}}},
                  {{"rejected": {{"field": "behaviour", "reason": ""}}}}
                ]}}"#,
            hostile_ok("A1", "ERIKSSON")
        );
        assert_eq!(run_one(HOSTILE, &pass), Ok(()));

        let fail = format!(
            r#"{{"kind": "normaliser", "batch-hex": "{}",
                "expected": [
                  {{"location": "line 2", "ok": {}}},
                  {{"ok": {}}},
                  {{"rejected": {{"field": null, "reason": ""}}}}
                ]}}"#,
            hex::encode("A1,ok\nB2,reject\nC3,ok\n"),
            hostile_ok("A1", "ERIKSON"),
            hostile_ok("B2", "ERIKSSON")
        );
        let message = run_one(HOSTILE, &fail).unwrap_err();
        assert!(
            message.contains("split record 0: the location differs"),
            "{message}"
        );
        assert!(
            message.contains("normalise result 0 (\"line 1\", source-ref \"A1\"): the crossing differs in 1 field(s)\n  family-name: expected \"ERIKSON\", actual \"ERIKSSON\""),
            "{message}"
        );
        assert!(
            message.contains("normalise result 1 (\"line 2\", source-ref \"B2\"): expected a crossing, got a rejection"),
            "{message}"
        );
        assert!(
            message.contains("normalise result 2 (\"line 3\", source-ref \"C3\"): expected a rejection, got a crossing"),
            "{message}"
        );

        let message = run_one(
            HOSTILE,
            r#"{"kind": "normaliser", "batch": "A1,reject\n", "expected": [{"rejected": {"field": "id", "reason": ""}}]}"#,
        )
        .unwrap_err();
        assert!(message.contains("the rejection differs"), "{message}");

        // A trap fails the case.
        let message = run_one(
            HOSTILE,
            r#"{"kind": "normaliser", "batch": "A1,trap\n", "expected": [{"rejected": {"field": null, "reason": ""}}]}"#,
        )
        .unwrap_err();
        assert!(message.contains("normalise failed"), "{message}");

        // split-error.
        let message = run_one(
            HOSTILE,
            r#"{"kind": "normaliser", "batch": "A1,ok\n", "split-error": "UTF-8"}"#,
        )
        .unwrap_err();
        assert!(message.contains("split accepted the batch"), "{message}");
        let refused = r#"{"kind": "normaliser", "batch-hex": "ff", "split-error": ""}"#;
        assert_eq!(run_one(HOSTILE, refused), Ok(()));
    }

    #[test]
    fn an_output_the_hub_would_refuse_fails() {
        // The hostile normaliser's `huge` crossing has a 64 MiB family name: more
        // than the default output cap, so the hub would not take the call.
        let case = format!(
            r#"{{"kind": "normaliser", "batch": "H1,huge\n", "expected": [{{"ok": {}}}]}}"#,
            hostile_ok("H1", "ERIKSSON")
        );
        let message = run_one(HOSTILE, &case).unwrap_err();
        assert!(
            message.contains("max_output_kib"),
            "{}",
            &message[..message.len().min(2000)]
        );
    }

    fn person(family: &str, given: &str, number: &str) -> String {
        format!(
            r#"{{"given-names": "{given}", "family-name": "{family}",
                "date-of-birth": {{"year": 1980, "month": 3, "day": 7}}, "nationality": "DEU",
                "sex": "male", "document-type": "P", "document-number": "{number}",
                "document-country": "DEU", "entered-at": "2026-11-21T10:00:00Z", "port-code": "0427"}}"#
        )
    }

    #[test]
    fn matcher_keys_and_scores_are_checked() {
        let hans = person("MUELLER", "HANS", "C01X00T47");
        let hans_typo = person("MEULLER", "HANS", "C01X00T47");
        let other = person("SMITH", "JOHN", "999999999");
        let pass = format!(
            r#"{{"kind": "matcher",
                "block-keys": {{"input": [{hans}, {hans_typo}, {other}], "meet": [[0, 1]], "apart": [[0, 2]]}},
                "score": {{"input": [{{"entry": {hans}, "exit": {hans_typo}}}, {{"entry": {hans}, "exit": {other}}}],
                          "expected": [{{"min": 0.8}}, {{"max": 0.2}}]}}}}"#
        );
        assert_eq!(run_one(MATCHER, &pass), Ok(()));

        let fail = format!(
            r#"{{"kind": "matcher",
                "block-keys": {{"input": [{hans}, {other}], "expected": [["NOPE"], []], "meet": [[0, 1]], "apart": [[0, 0]]}},
                "score": {{"input": [{{"entry": {hans}, "exit": {other}}}], "expected": [{{"min": 0.9, "max": 1}}]}}}}"#
        );
        let message = run_one(MATCHER, &fail).unwrap_err();
        for want in [
            "block-keys result 0: the keys differ",
            "unexpected: [\"B19800307",
            "block-keys result 1: the keys differ",
            "block-keys meet[0] = [0, 1]: records 0 and 1 have no key in common",
            "block-keys apart[0] = [0, 0]",
            "score result 0: the score is out of bounds\n  expected: {\"min\": 0.9, \"max\": 1}",
        ] {
            assert!(message.contains(want), "{message}\nwanted {want}");
        }
    }

    #[test]
    fn unclean_reasons_are_named() {
        assert_eq!(reason_problem("citizen of CAN, USA"), None);
        for reason in ["", " x", "café", &"x".repeat(81), "a\nb"] {
            assert!(reason_problem(reason).is_some(), "{reason:?}");
        }
    }

    #[test]
    fn a_signed_component_is_tested_without_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        let component = dir.path().join("template.wasm");
        std::fs::copy(TEMPLATE, &component).unwrap();
        let key = crate::keys::generate(dir.path(), "test").unwrap();
        crate::plugins::sign(
            &key.private_key,
            &component,
            "template",
            "1.0.0",
            crate::plugins::Kind::Eligibility,
        )
        .unwrap();
        let outcomes = run(&component, Path::new(TEMPLATE_FIXTURES)).unwrap();
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    }

    #[test]
    fn unreadable_or_empty_is_an_error() {
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("case.json.txt"), "{}").unwrap();
        assert!(matches!(
            run(Path::new(TEMPLATE), empty.path()),
            Err(FixtureError::NoCases { .. })
        ));
        assert!(matches!(
            run(Path::new(TEMPLATE), &empty.path().join("missing")),
            Err(FixtureError::Dir { .. })
        ));
        assert!(matches!(
            run(
                &empty.path().join("missing.wasm"),
                Path::new(TEMPLATE_FIXTURES)
            ),
            Err(FixtureError::Component { .. })
        ));
    }
}
