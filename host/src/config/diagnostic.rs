//! Turning what is wrong with a configuration file into a message an operator
//! can act on: the file, line and column, the key, what is wrong, and what to
//! write instead (an example taken from `config/reference.toml`, which a test
//! keeps complete).
//!
//! The TOML is parsed twice: once into `RawConfig` (serde, unknown keys
//! refused), and, only when something is wrong, into a `DeTable` whose keys
//! and values carry their byte spans, to find where a key is in the file.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use toml::de::{DeTable, DeValue};

/// Every key a hub configuration may have, each with its default or an
/// example. Embedded so that messages can show what to write.
pub const REFERENCE: &str = include_str!("../../../config/reference.toml");

/// A place in the configuration file; line and column count from 1, the
/// column in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn of(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset);
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The kind of problem, for callers that react to it (and for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not valid TOML.
    Syntax,
    /// A key this hub does not know (often a typo).
    UnknownKey,
    /// A value of the wrong type (a string where a number belongs, ...).
    WrongType,
    /// A required key is absent.
    MissingKey,
    /// A value of the right type that is not acceptable (out of range, a
    /// file that cannot be read, a plugin that refuses its configuration...).
    BadValue,
}

/// One problem in a configuration file, with where it is.
#[derive(Debug)]
pub struct Located {
    pub path: PathBuf,
    /// `None` when the problem has no place in the file (a table that is
    /// missing altogether).
    pub at: Option<Location>,
    /// The key as a path: `hub.listen`, `partner[0].url`.
    pub key: Option<String>,
    pub problem: Problem,
    /// What is wrong, and what to write instead.
    pub message: String,
    /// The offending line, with carets under the offending text.
    pub excerpt: Option<String>,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `file:line:column:` first, as compilers write it, so editors and
        // terminals can jump to the place.
        write!(f, "{}", self.path.display())?;
        if let Some(at) = self.at {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// The text of a configuration file, kept so that problems found after
/// parsing (a key file that cannot be read, a plugin that refuses its
/// configuration) can still be pointed at their key.
pub struct Origin {
    pub path: PathBuf,
    text: String,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin").field("path", &self.path).finish()
    }
}

impl Origin {
    pub fn new(path: &Path, text: &str) -> Origin {
        Origin {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    fn located(
        &self,
        problem: Problem,
        key: Option<String>,
        span: Option<Range<usize>>,
        message: String,
    ) -> Located {
        Located {
            path: self.path.clone(),
            at: span.clone().map(|s| Location::of(&self.text, s.start)),
            key,
            problem,
            message,
            excerpt: span.map(|s| excerpt(&self.text, s)),
        }
    }

    /// A value that is not acceptable: points at the value of `key` (a path
    /// such as `partner[0].url`), or at its table when the key is not in the
    /// file (its default applies).
    pub fn bad_value(&self, key: &str, message: String) -> Located {
        let entries = entries(&self.text);
        let span = find(&entries, key)
            .map(|e| e.value.clone())
            .or_else(|| table_of(&entries, key));
        self.located(Problem::BadValue, Some(key.to_owned()), span, message)
    }

    /// The TOML did not parse.
    pub fn syntax(&self, error: &toml::de::Error) -> Located {
        let message = format!(
            "this is not valid TOML: {}; see config/reference.toml for the form of each key",
            error.message().trim_end()
        );
        self.located(Problem::Syntax, None, error.span(), message)
    }

    /// What serde said while reading the file into the raw configuration.
    pub fn deserialize(&self, error: &toml::de::Error) -> Located {
        let entries = entries(&self.text);
        let message = error.message();
        let span = error.span().filter(|s| !(s.start == 0 && s.end == 0));
        if let Some(rest) = message.strip_prefix("unknown field ") {
            let names = backticked(rest);
            let Some((&unknown, known)) = names.split_first() else {
                return self.located(Problem::UnknownKey, None, span, message.to_owned());
            };
            let key = span
                .as_ref()
                .and_then(|s| entries.iter().find(|e| e.key == *s))
                .map(|e| e.path.clone())
                .unwrap_or_else(|| unknown.to_owned());
            let text = unknown_key(&key, unknown, known);
            return self.located(Problem::UnknownKey, Some(key), span, text);
        }
        if let Some(rest) = message.strip_prefix("missing field ") {
            let missing = backticked(rest).first().copied().unwrap_or(rest);
            // The first `[[partner]]` header is the span of both `partner`
            // and `partner[0]`: the element is the table that lacks the key.
            let table = span.as_ref().and_then(|s| {
                entries
                    .iter()
                    .filter(|e| e.value == *s)
                    .max_by_key(|e| e.path.len())
                    .map(|e| e.path.clone())
            });
            let key = match &table {
                Some(t) => format!("{t}.{missing}"),
                None => missing.to_owned(),
            };
            let text = missing_key(&key);
            return self.located(Problem::MissingKey, Some(key), span, text);
        }
        let key = span.as_ref().and_then(|s| key_at(&entries, s.start));
        if let Some(rest) = message
            .strip_prefix("invalid type: ")
            .or_else(|| message.strip_prefix("invalid value: "))
        {
            let text = wrong_type(key.as_deref(), rest);
            return self.located(Problem::WrongType, key, span, text);
        }
        let mut text = message.trim_end().to_owned();
        if let Some(example) = key.as_deref().and_then(example) {
            text.push_str(&format!("; write it like this: {example}"));
        }
        self.located(Problem::BadValue, key, span, text)
    }
}

/// The line(s) of `span`, rustc-style:
///
/// ```text
///   |
/// 7 | lisen = "127.0.0.1:7401"
///   | ^^^^^
/// ```
/// Characters of the line quoted on each side of the place at fault: a
/// file may hold a line of any length, and the message goes to a terminal
/// and a log.
const EXCERPT_CONTEXT: usize = 60;

fn excerpt(text: &str, span: Range<usize>) -> String {
    let start = floor_char_boundary(text, span.start);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line: Vec<char> = text[line_start..line_end]
        .trim_end_matches('\r')
        .chars()
        .collect();
    let at = Location::of(text, start);
    let end = floor_char_boundary(text, span.end.clamp(start, line_end));
    let column = (at.column - 1).min(line.len());
    let from = column.saturating_sub(EXCERPT_CONTEXT);
    let to = (column + EXCERPT_CONTEXT).min(line.len());
    let width = text[start..end]
        .chars()
        .count()
        .clamp(1, to.saturating_sub(column).max(1));
    // A control character (a stray CR, an escape sequence) is shown as `?`
    // so the excerpt keeps its columns and cannot drive the terminal.
    let shown: String = line[from..to]
        .iter()
        .map(|&c| if c.is_control() { '?' } else { c })
        .collect();
    let (open, close) = (
        if from > 0 { "…" } else { "" },
        if to < line.len() { "…" } else { "" },
    );
    let number = at.line.to_string();
    let pad = " ".repeat(number.len());
    format!(
        "{pad} |\n{number} | {open}{shown}{close}\n{pad} | {}{}",
        " ".repeat(column - from + usize::from(from > 0)),
        "^".repeat(width)
    )
}

/// The words between backticks in a serde message, e.g. the unknown field and
/// the expected ones in "`lisen`, expected one of `id`, `listen`".
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// One key or table in a parsed file, with where its name and value are.
#[derive(Debug)]
struct Entry {
    /// `hub.listen`, `partner[0].previous_key[1].until`.
    path: String,
    key: Range<usize>,
    value: Range<usize>,
    /// It is a table written as `[name]` (or implied by one), not inline.
    table: bool,
    /// Its value is an array of tables (`[[partner]]`).
    tables: bool,
}

/// Every key of `text`, flattened; nothing when it is not TOML.
fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Ok(root) = DeTable::parse(text) {
        flatten(root.get_ref(), "", &mut out);
    }
    out
}

fn flatten(table: &DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        let (table, tables) = match value.get_ref() {
            DeValue::Table(_) => (!table_is_inline(value.span(), key.span()), false),
            DeValue::Array(items) => (
                false,
                items
                    .iter()
                    .any(|v| matches!(v.get_ref(), DeValue::Table(_))),
            ),
            _ => (false, false),
        };
        out.push(Entry {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
            table,
            tables,
        });
        match value.get_ref() {
            DeValue::Table(inner) => flatten(inner, &path, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let DeValue::Table(inner) = item.get_ref() {
                        let element = format!("{path}[{i}]");
                        out.push(Entry {
                            path: element.clone(),
                            key: key.span(),
                            value: item.span(),
                            table: true,
                            tables: false,
                        });
                        flatten(inner, &element, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// An inline table (`config = { ... }`) has its value after its key; a
/// `[header]` table's span is the header around its key, and a table implied
/// by a dotted header (`plugins` of `[plugins.normaliser]`) spans the key.
fn table_is_inline(value: Range<usize>, key: Range<usize>) -> bool {
    value.start > key.start
}

fn find<'e>(entries: &'e [Entry], path: &str) -> Option<&'e Entry> {
    entries.iter().find(|e| e.path == path)
}

/// The nearest enclosing table of `path` that is in the file.
fn table_of(entries: &[Entry], path: &str) -> Option<Range<usize>> {
    let mut path = path;
    while let Some(cut) = path.rfind(['.', '[']) {
        path = &path[..cut];
        if let Some(e) = find(entries, path) {
            return Some(e.value.clone());
        }
    }
    None
}

/// The innermost key whose value is at `offset`.
fn key_at(entries: &[Entry], offset: usize) -> Option<String> {
    entries
        .iter()
        .filter(|e| e.value.start <= offset && offset < e.value.end.max(e.value.start + 1))
        .min_by_key(|e| e.value.len())
        .map(|e| e.path.clone())
}

/// `partner[0].url` → `partner.url`: where a key is documented.
fn schema_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

fn reference_entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| entries(REFERENCE))
}

/// How `path` (any index) is written in the reference, e.g.
/// `listen = "127.0.0.1:7401"`, for "write it like this".
pub fn example(path: &str) -> Option<String> {
    let wanted = schema_path(path);
    let e = reference_entries()
        .iter()
        .find(|e| schema_path(&e.path) == wanted)?;
    if e.table || e.tables {
        // A table: its header says more than its first line would.
        return Some(format!("a {} table", table_name(&wanted)));
    }
    let text = &REFERENCE[e.key.start..e.value.end];
    // Examples are one line; a value spanning lines is shown by its first.
    Some(text.lines().next().unwrap_or(text).to_owned())
}

/// How a table is written in the file: `[hub]`, `[[partner]]`, or "the top
/// level" for the root.
fn table_name(schema: &str) -> String {
    if schema.is_empty() {
        return "the top level".into();
    }
    let array = reference_entries()
        .iter()
        .any(|e| e.tables && schema_path(&e.path) == schema);
    if array {
        format!("[[{schema}]]")
    } else {
        format!("[{schema}]")
    }
}

fn parent(path: &str) -> &str {
    path.rfind('.').map_or("", |i| &path[..i])
}

/// The tables of the reference that have a key named `name`.
fn tables_with(name: &str) -> Vec<String> {
    let mut tables: Vec<String> = reference_entries()
        .iter()
        .filter(|e| e.path.rsplit('.').next() == Some(name))
        .map(|e| table_name(parent(&schema_path(&e.path))))
        .collect();
    tables.dedup();
    tables
}

fn unknown_key(key: &str, unknown: &str, known: &[&str]) -> String {
    let table = table_name(parent(&schema_path(key)));
    let place = if table.starts_with('[') {
        format!("in {table}")
    } else {
        format!("at {table}")
    };
    let mut text = format!("unknown key `{unknown}` {place}");
    let elsewhere = tables_with(unknown);
    if let Some(near) = suggest(unknown, known) {
        text.push_str(&format!("; did you mean `{near}`?"));
    } else if !elsewhere.is_empty() {
        text.push_str(&format!(
            "; `{unknown}` belongs in {}: move it there",
            elsewhere.join(" or ")
        ));
    } else {
        text.push_str("; remove it or correct its name");
    }
    if known.is_empty() {
        text.push_str(&format!(" ({table} takes no keys)"));
    } else {
        text.push_str(&format!(" (the keys of {table} are {})", known.join(", ")));
    }
    text
}

fn missing_key(key: &str) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    let table = table_name(parent(&schema_path(key)));
    match example(key) {
        Some(example) if example.starts_with("a [") => {
            format!("missing: this hub needs {example}; config/reference.toml shows its keys")
        }
        Some(example) => format!("missing: add `{name}` to {table}, e.g. {example}"),
        None => format!("missing: add `{name}` to {table}"),
    }
}

/// serde's "string \"x\", expected u16" said for people, with an example.
fn wrong_type(key: Option<&str>, detail: &str) -> String {
    let (found, expected) = detail.split_once(", expected ").unwrap_or((detail, ""));
    let want = match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" => {
            "a whole number, not negative, without quotes".to_owned()
        }
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number without quotes".to_owned(),
        "f32" | "f64" => "a number without quotes, such as 0.8".to_owned(),
        "a boolean" => "true or false, without quotes".to_owned(),
        "a string" => "a string in double quotes".to_owned(),
        "a sequence" => "a list in square brackets".to_owned(),
        "a TOML datetime" => {
            "a date and time without quotes, such as 2026-12-31T00:00:00Z".to_owned()
        }
        s if s.starts_with("struct ") || s == "a map" => "a table".to_owned(),
        s => s.to_owned(),
    };
    let mut text = format!("expected {want}, found {found}");
    match key.and_then(example) {
        Some(tables) if tables.starts_with("a [[") => {
            let header = tables.trim_start_matches("a ").trim_end_matches(" table");
            text.push_str(&format!(
                "; write each as a table headed {header}, with double brackets"
            ));
        }
        Some(example) => text.push_str(&format!("; write it like this: {example}")),
        None => {}
    }
    text
}

/// The known key nearest to `word`, if it is near enough to be a typo of it.
fn suggest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let normal = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let word = normal(word);
    known
        .iter()
        .map(|k| (edit_distance(&word, &normal(k)), *k))
        .filter(|(d, k)| *d <= (k.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and transpositions of neighbours each cost one ("prot" is one from "port").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let text = "a = 1\n[hub]\nnäme = 2\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
        let at = text.find("= 2").unwrap();
        assert_eq!(Location::of(text, at), Location { line: 3, column: 6 });
    }

    #[test]
    fn typos_are_one_edit_away_and_strangers_are_not() {
        let known = ["id", "listen", "data_dir", "signing_key", "port"];
        assert_eq!(suggest("lisen", &known), Some("listen"));
        assert_eq!(suggest("prot", &known), Some("port"));
        assert_eq!(suggest("data-dir", &known), Some("data_dir"));
        assert_eq!(suggest("SigningKey", &known), Some("signing_key"));
        assert_eq!(suggest("signingkey", &known), Some("signing_key"));
        assert_eq!(suggest("colour", &known), None);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn keys_are_found_by_path_including_arrays_of_tables() {
        let text =
            "[hub]\nid = \"CA\"\n[[partner]]\nid = \"US\"\n[[partner]]\nid = \"MX\"\nurl = \"x\"\n";
        let e = entries(text);
        let url = find(&e, "partner[1].url").unwrap();
        assert_eq!(&text[url.value.clone()], "\"x\"");
        let at = text.find("\"MX\"").unwrap();
        assert_eq!(key_at(&e, at).as_deref(), Some("partner[1].id"));
        // A key not in the file: its table.
        let table = table_of(&e, "partner[0].public_key").unwrap();
        assert_eq!(&text[table], "[[partner]]");
        assert_eq!(
            schema_path("partner[1].previous_key[0].until"),
            "partner.previous_key.until"
        );
    }

    #[test]
    fn examples_come_from_the_reference() {
        assert_eq!(
            example("hub.listen").unwrap(),
            "listen = \"127.0.0.1:7401\""
        );
        assert!(
            example("partner[3].url")
                .unwrap()
                .starts_with("url = \"https://")
        );
        assert_eq!(example("partner").unwrap(), "a [[partner]] table");
        assert_eq!(tables_with("allow_unsigned"), ["[plugins]"]);
    }

    #[test]
    fn a_missing_key_of_an_array_element_names_the_element() {
        let origin = Origin::new(Path::new("hub.toml"), "[[partner]]\nid = \"US\"\n");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Raw {
            partner: Vec<Partner>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Partner {
            id: String,
            url: String,
        }
        let error = toml::from_str::<Raw>(&origin.text).unwrap_err();
        let located = origin.deserialize(&error);
        assert_eq!(located.key.as_deref(), Some("partner[0].url"));
        assert!(
            located.message.contains("add `url` to [[partner]]"),
            "{}",
            located.message
        );
    }

    #[test]
    fn excerpts_underline_the_span() {
        let text = "[hub]\nlisen = 1\n";
        let start = text.find("lisen").unwrap();
        assert_eq!(
            excerpt(text, start..start + 5),
            "  |\n2 | lisen = 1\n  | ^^^^^"
        );
    }
}
