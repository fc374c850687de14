//! Biographic matcher: links a partner's record of a traveller's entry there
//! (our exit) to our own record of the traveller's entry here.
//!
//! Three parts, each replaceable on its own (see README.md for the tables):
//!
//! * [`Prepared`]: the forms of one record worth comparing, computed once;
//! * [`block_keys`]: keys that bring a true pair together despite the noise a
//!   pair shows (typos, transliteration, swapped names or day and month, a
//!   renewed document);
//! * [`compare`] and [`Comparison::weight`]: Fellegi–Sunter style comparison
//!   levels per field, a log2 Bayes factor per level, and a prior, turned
//!   into a probability by [`probability`].
//!
//! Everything is plain Rust over the generated WIT types so that `cargo test`
//! runs it natively; the `Guest` impls are compiled for wasm32 only.

wit_bindgen::generate!({
    world: "matcher",
    path: "../../wit",
    // So that `score` can see when consecutive pairs share a record.
    additional_derives: [PartialEq],
});

pub mod model;

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use entrex_plugin_common::names;
use serde_json::Value;

use crate::entrex::plugin::types::{PartialDate, Sex, SharedRecord};

/// Two names whose Jaro–Winkler similarity reaches this are taken for one
/// name with a typo. One edit in a name of five or more letters mostly stays
/// above it; most different names of that length fall below.
pub const TYPO_SIMILARITY: f64 = 0.9;

/// Jaro–Winkler forgives little in short names (`HANS`/`HANZ` is 0.88), so
/// one edit (substitution, insertion, deletion or transposition) between
/// names of at least this many letters is a typo too.
pub const MIN_EDIT_TYPO_LEN: usize = 4;

/// A keyboard slip between names shorter than this (`LI`/`LU`) is as likely
/// to be two different names as one name mistyped.
pub const MIN_SLIP_LEN: usize = 3;

/// Sound keys this short (`AN`: `ANA`, `YOON`, `ANNE`...) say too little.
pub const MIN_PHONETIC_KEY_LEN: usize = 2;

/// Names this short get a blocking key without their letters.
pub const SHORT_NAME_LEN: usize = 3;

/// Blocking keys use this many leading letters of a name.
pub const KEY_PREFIX_LEN: usize = 3;

/// A document number shorter than this is too unspecific to block on.
const MIN_KEYED_DOCUMENT_LEN: usize = 5;

/// Log2 of the prior odds that a candidate pair (one that shared a blocking
/// key) is a true pair. Set so that every single kind of noise still leaves
/// a true pair at 0.8 or above and two different people who share a birth
/// date and have similar names stay below 0.6 (see the tests).
pub const PRIOR_LOG2_ODDS: f64 = -12.0;

/// One name field in the forms worth comparing, all upper-case A-Z with the
/// spaces removed (so that `VAN DER BERG` and `VANDERBERG` agree).
///
/// Built for every record the matcher sees (twice per candidate pair), so it
/// borrows from the record wherever the record already holds the form (a
/// name read from an MRZ usually does) and allocates only what differs.
#[derive(Debug, Clone, Default)]
pub struct NameForms<'a> {
    /// The MRZ form first, then the generic form and the digraph skeletons
    /// where they differ: distinct, non-empty; `len` of them.
    forms: [Cow<'a, str>; 4],
    len: usize,
    /// Where the generic form is in `forms`.
    generic: usize,
    /// The generic form with its spaces, when the name has several words
    /// (for compound names; see [`word_subset`]).
    spaced: Option<Cow<'a, str>>,
    /// [`names::phonetic_key`] of the generic form, made when first needed:
    /// most pairs agree or disagree before it matters.
    phonetic: std::cell::OnceCell<String>,
}

impl<'a> NameForms<'a> {
    fn from_folded(mrz: Cow<'a, str>, generic: Cow<'a, str>) -> Self {
        let mut n = NameForms::default();
        let spaced = generic.contains(' ').then(|| generic.clone());
        let mrz = compact(mrz);
        let generic = compact(generic);
        let skeletons = [skeleton(&mrz), skeleton(&generic)];
        n.push(mrz);
        n.generic = n.push(generic);
        for form in skeletons.into_iter().flatten() {
            n.push(Cow::Owned(form));
        }
        n.spaced = spaced;
        n
    }

    /// Adds a form unless empty or already there; where it is.
    fn push(&mut self, form: Cow<'a, str>) -> usize {
        if let Some(i) = self.forms().iter().position(|f| *f == form) {
            return i;
        }
        if form.is_empty() {
            return 0;
        }
        self.forms[self.len] = form;
        self.len += 1;
        self.len - 1
    }

    fn forms(&self) -> &[Cow<'a, str>] {
        &self.forms[..self.len]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mrz(&self) -> &str {
        &self.forms[0]
    }

    fn generic(&self) -> &str {
        &self.forms[self.generic]
    }

    fn phonetic(&self) -> &str {
        self.phonetic
            .get_or_init(|| names::phonetic_key(self.generic()))
    }
}

/// `folded` without spaces.
fn compact(folded: Cow<'_, str>) -> Cow<'_, str> {
    if folded.contains(' ') {
        Cow::Owned(folded.chars().filter(|c| *c != ' ').collect())
    } else {
        folded
    }
}

/// The digraph skeleton when it differs from `folded`.
fn skeleton(folded: &str) -> Option<String> {
    let b = folded.as_bytes();
    let has_digraph = b
        .windows(2)
        .any(|w| matches!(w, [b'A', b'E' | b'A'] | [b'O' | b'U', b'E']));
    has_digraph.then(|| names::digraph_skeleton(folded))
}

/// Whether `name` is already what both foldings make of it: words of
/// `A`-`Z` with single spaces between them.
fn is_folded(name: &str) -> bool {
    let b = name.as_bytes();
    b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.iter().all(|c| c.is_ascii_uppercase() || *c == b' ')
        && !name.contains("  ")
}

/// The MRZ and generic foldings of a name: the name itself when already
/// folded, and one folding for both on ASCII input, where they agree.
fn fold_both(name: &str) -> (Cow<'_, str>, Cow<'_, str>) {
    if is_folded(name) {
        (Cow::Borrowed(name), Cow::Borrowed(name))
    } else if name.is_ascii() {
        let folded = names::fold_generic(name);
        (Cow::Owned(folded.clone()), Cow::Owned(folded))
    } else {
        (
            Cow::Owned(names::mrz_transliterate(name)),
            Cow::Owned(names::fold_generic(name)),
        )
    }
}

/// The first word of a folded name.
fn first_word<'a>(folded: &Cow<'a, str>) -> Cow<'a, str> {
    match folded {
        Cow::Borrowed(s) => Cow::Borrowed(s.split(' ').next().unwrap_or_default()),
        Cow::Owned(s) => Cow::Owned(s.split(' ').next().unwrap_or_default().to_owned()),
    }
}

/// What the matcher uses of one shared record, borrowing from it.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    /// The first given name only: sources disagree on whether further given
    /// names belong in `given-names` or `middle-names`.
    given: NameForms<'a>,
    family: NameForms<'a>,
    /// Skeletons of every further given name and middle name, space
    /// separated.
    middle: Cow<'a, str>,
    /// Skeletons of all the given names and of the family name, spaces
    /// removed: given+family and family+given reveal names split
    /// differently between the two fields.
    given_all: Cow<'a, str>,
    family_all: Cow<'a, str>,
    dob: Dob,
    nationality: Cow<'a, str>,
    sex: Sex,
    document_number: Cow<'a, str>,
    document_country: Cow<'a, str>,
    /// `P`, `I` or `C` (see [`document_kind`]).
    document_kind: Cow<'a, str>,
}

/// A birth date with impossible parts treated as unknown, so nothing
/// downstream has to guard against month 0 or day 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dob {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

impl Dob {
    fn new(d: &PartialDate) -> Self {
        // Year 0 is the contract's null: nothing else of it counts.
        if d.year == 0 {
            return Dob {
                year: 0,
                month: None,
                day: None,
            };
        }
        let month = d.month.filter(|m| (1..=12).contains(m));
        // A day without a month means nothing.
        let day = month.and(d.day.filter(|d| (1..=31).contains(d)));
        Dob {
            year: d.year,
            month,
            day,
        }
    }

    fn is_full(&self) -> bool {
        self.day.is_some()
    }

    /// The contract's null date (`year: 0`, nothing else known).
    fn is_unknown(&self) -> bool {
        self.year == 0
    }

    /// One keying or reading slip apart (both complete): one digit of
    /// `YYYYMMDD` wrong, two adjacent digits exchanged, or the year off by
    /// one with day and month the same.
    fn slip_of(&self, other: &Dob) -> bool {
        let (a, b) = (self.key(), other.key());
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let differ: Vec<usize> = (0..a.len().min(b.len()))
            .filter(|&i| a[i] != b[i])
            .collect();
        match differ[..] {
            [_] => true,
            [i, j] if j == i + 1 && a[i] == b[j] && a[j] == b[i] => true,
            _ => {
                self.month == other.month
                    && self.day == other.day
                    && self.year.abs_diff(other.year) == 1
            }
        }
    }

    /// Day and month exchanged, when that gives a different, possible date.
    fn swapped(&self) -> Option<Dob> {
        match (self.month, self.day) {
            (Some(m), Some(d)) if d != m && d <= 12 => Some(Dob {
                year: self.year,
                month: Some(d),
                day: Some(m),
            }),
            _ => None,
        }
    }

    /// `YYYYMMDD` with `??` for unknown parts: fixed width so keys built on
    /// it cannot run into one another.
    fn key(&self) -> String {
        let part = |p: Option<u8>| p.map_or_else(|| "??".to_string(), |v| format!("{v:02}"));
        format!(
            "{:04}{}{}",
            self.year.min(9999),
            part(self.month),
            part(self.day)
        )
    }
}

impl<'a> Prepared<'a> {
    pub fn new(r: &'a SharedRecord) -> Self {
        let (given_mrz, given_generic) = fold_both(&r.given_names);
        let (family_mrz, family_generic) = fold_both(&r.family_name);
        let (_, middle_generic) = fold_both(&r.middle_names);

        let given = if !given_generic.is_empty() {
            NameForms::from_folded(first_word(&given_mrz), first_word(&given_generic))
        } else {
            // No given name: the first middle name stands in for it.
            let (middle_mrz, _) = fold_both(&r.middle_names);
            NameForms::from_folded(first_word(&middle_mrz), first_word(&middle_generic))
        };
        // Further given names, then the middle names (less the first when
        // it stood in for the given name).
        let skip_middle = usize::from(given_generic.is_empty());
        let more_given = given_generic.split(' ').skip(1).any(|w| !w.is_empty());
        let middle: Cow<'a, str> = if !more_given && skip_middle == 0 {
            middle_generic
        } else {
            let mut joined = String::new();
            for word in given_generic
                .split(' ')
                .skip(1)
                .chain(middle_generic.split(' ').skip(skip_middle))
                .filter(|w| !w.is_empty())
            {
                if !joined.is_empty() {
                    joined.push(' ');
                }
                joined.push_str(word);
            }
            Cow::Owned(joined)
        };
        // Digraphs never span a space, so the skeleton of the words joined
        // is the words' skeletons joined.
        let middle = skeleton(&middle).map_or(middle, Cow::Owned);
        let given_all = compact(given_generic.clone());
        let family_all = compact(family_generic.clone());
        let document_number = if r
            .document_number
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            Cow::Borrowed(r.document_number.as_str())
        } else {
            Cow::Owned(
                r.document_number
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_uppercase())
                    .collect(),
            )
        };
        Prepared {
            given,
            family: NameForms::from_folded(family_mrz, family_generic),
            middle,
            given_all: skeleton(&given_all).map_or(given_all, Cow::Owned),
            family_all: skeleton(&family_all).map_or(family_all, Cow::Owned),
            dob: Dob::new(&r.date_of_birth),
            nationality: normalise_country(&r.nationality),
            sex: r.sex,
            document_number,
            document_country: normalise_country(&r.document_country),
            document_kind: document_kind(&r.document_type),
        }
    }
}

/// ICAO document codes as the matcher compares them: sources write an
/// identity card `I` or `ID` and a residence card `C` or `AC`.
fn document_kind(code: &str) -> Cow<'_, str> {
    match code.trim() {
        "ID" | "id" => Cow::Borrowed("I"),
        "AC" | "ac" => Cow::Borrowed("C"),
        c if !c.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Borrowed(c),
        c => Cow::Owned(c.to_ascii_uppercase()),
    }
}

impl Prepared<'_> {
    /// The family name as term frequencies count it (generic form, no
    /// spaces): `VAN DER BERG` and `VANDERBERG` are one name.
    pub fn family_key(&self) -> &str {
        self.family.generic()
    }

    fn has_name(&self) -> bool {
        !self.given.is_empty() || !self.family.is_empty()
    }
}

/// ICAO codes as the matcher compares them: `D` is Germany's code in
/// machine-readable zones, `DEU` everywhere else.
fn normalise_country(code: &str) -> Cow<'_, str> {
    match code.trim() {
        "D" | "d" => Cow::Borrowed("DEU"),
        c if !c.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Borrowed(c),
        c => Cow::Owned(c.to_ascii_uppercase()),
    }
}

// ---------------------------------------------------------------- blocking

/// The blocking keys of one record, distinct:
///
/// * `D<country>:<number>`: the travel document;
/// * `B<YYYYMMDD><prefix>/<letter>`: the birth date, the first three letters
///   of one name (family or first given name, each form: MRZ, generic,
///   skeleton) and the first or the last letter of the other name. Both
///   orders share one namespace, so swapped given and family names still
///   meet. One typo leaves a key intact: a typo in a name's first three
///   letters spares the other name's prefix with this name's last letter;
///   a typo in its first or last letter spares this name's prefix with the
///   other's letters. The letter of the other name keeps blocks small: with
///   a prefix alone, everyone born that day whose given name starts `MAR`
///   would be a candidate, and at a million entries that doubled the pairs
///   to score;
/// * the same with day and month exchanged, so that a swapped birth date
///   meets the true one;
/// * `Y<YYYY><family prefix>/<given initial>` and `M<MMDD><family
///   prefix>/<given initial>`: the birth year, or the day and month, with
///   the names, for a birth date wrong in one part when the document
///   changed too.
///
/// Unknown birth-date parts are written `??`: such a record meets others
/// with the same parts unknown (the same person's records usually agree on
/// what is unknown) and anyone through its document.
pub fn block_keys(r: &Prepared) -> Vec<String> {
    block_keys_with(r, current_weights().name_letters)
}

/// [`block_keys`] with `name_letters` leading letters of a name (a model's
/// `blocking.name_letters`, [`KEY_PREFIX_LEN`] by default).
pub fn block_keys_with(r: &Prepared, name_letters: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(12);
    if r.document_number.len() >= MIN_KEYED_DOCUMENT_LEN {
        keys.push(format!("D{}:{}", r.document_country, r.document_number));
        // The number as an OCR reader may confuse it (0/O, 1/I, 8/B, ...):
        // a key of its own, so the entries keyed before it still meet
        // exits through the plain one.
        keys.push(format!(
            "O{}:{}",
            r.document_country,
            ocr_folded(&r.document_number)
        ));
    }
    // (prefix of one name, a letter of the other), distinct.
    let mut parts: Vec<(&str, &str)> = Vec::with_capacity(8);
    for (name, other) in [(&r.family, &r.given), (&r.given, &r.family)] {
        for form in name.forms() {
            let prefix = form.get(..name_letters).unwrap_or(form);
            let mut letters: Vec<&str> = other
                .forms()
                .iter()
                .flat_map(|o| [&o[..1], &o[o.len() - 1..]])
                .collect();
            // A name of one to three letters is as often spelt another way
            // altogether (`LEE`/`YI`, `PARK`/`PAK` is four) as mistyped, and
            // no letter of it is safe to block on; with no other name at
            // all there is nothing to add.
            if other.forms().iter().any(|o| o.len() <= SHORT_NAME_LEN) || other.is_empty() {
                letters.push("*");
            }
            for letter in letters {
                if !parts.contains(&(prefix, letter)) {
                    parts.push((prefix, letter));
                }
            }
            // A single name: its last three letters too, for a typo in its
            // first three.
            if other.is_empty() {
                let tail = form
                    .get(form.len().saturating_sub(name_letters)..)
                    .unwrap_or(form);
                if !parts.contains(&("*", tail)) {
                    parts.push(("*", tail));
                }
            }
        }
    }
    // All the names run together, for names split differently between the
    // fields (`SITI AMINAH` as a single name, `SITI` `AMINAH` as two): for
    // most records this is already there (given prefix, family's last).
    let full = format!("{}{}", r.given_all, r.family_all);
    if let (Some(prefix), Some(last)) = (
        full.get(..name_letters.min(full.len()))
            .filter(|p| !p.is_empty()),
        full.get(full.len().saturating_sub(1)..),
    ) && !parts.contains(&(prefix, last))
    {
        parts.push((prefix, last));
    }
    // Names alone (with the nationality), for records whose date of birth
    // is unknown: they meet one another so. One with a known date meets
    // them through the document only: giving every record such a key made
    // blocks of everyone with the same first letters, 4.6 times the pairs to
    // score for 0.1% of F1 (measured on tests/noise's heavy data).
    let named: &[(&str, &str)] = if r.dob.is_unknown() { &parts } else { &[] };
    for (prefix, letter) in named {
        let key = format!("N{prefix}/{letter}/{}", r.nationality);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    // The birth year with the family name's prefix and a letter of the
    // given name: for a date of birth with a wrong digit or an unknown day
    // or month on one side, when the document differs too (renewed, or
    // misread).
    if r.dob.year != 0 {
        let family: Vec<(&str, &str)> = r
            .family
            .forms()
            .iter()
            .map(|f| f.get(..name_letters).unwrap_or(f))
            .flat_map(|prefix| {
                r.given
                    .forms()
                    .iter()
                    .map(move |g| (prefix, g.get(..1).unwrap_or("*")))
            })
            .collect();
        for (prefix, letter) in &family {
            let key = format!("Y{:04}{prefix}/{letter}", r.dob.year.min(9999));
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        // The day and month without the year, the same names: for a year
        // off by one or ten, or with a wrong or exchanged digit, when the
        // document differs too.
        if let (Some(month), Some(day)) = (r.dob.month, r.dob.day) {
            for (prefix, letter) in &family {
                let key = format!("M{month:02}{day:02}{prefix}/{letter}");
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    let dates = std::iter::once(r.dob)
        .chain(r.dob.swapped())
        .filter(|d| !d.is_unknown());
    for dob in dates {
        let dob = dob.key();
        for (prefix, letter) in &parts {
            let mut key = String::with_capacity(3 + dob.len() + prefix.len());
            key.push('B');
            key.push_str(&dob);
            key.push_str(prefix);
            key.push('/');
            key.push_str(letter);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

// ---------------------------------------------------------------- comparison

/// How one name field of one record compares with one of the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// Same MRZ and same generic form.
    Exact,
    /// Equal in some form (`MÜLLER`/`MUELLER`/`MULLER`), or one compound
    /// name contains all the words of the other (`GARCIA`/`GARCIA LOPEZ`).
    Variant,
    /// Same [`names::phonetic_key`] of at least [`MIN_PHONETIC_KEY_LEN`]
    /// sounds: another romanisation (`MOHAMMED`/`MUHAMMAD`).
    Phonetic,
    /// One slip of the fingers apart ([`names::is_keyboard_slip`]) in some
    /// forms, the shorter at least [`MIN_SLIP_LEN`] letters.
    Slip,
    /// Jaro–Winkler at least [`TYPO_SIMILARITY`], or one edit apart (see
    /// [`MIN_EDIT_TYPO_LEN`]), in some forms: a typo, or a similar name.
    Similar,
    /// One side has no such name.
    Missing,
    Different,
}

fn compare_field(a: &NameForms, b: &NameForms) -> Field {
    match (a.is_empty(), b.is_empty()) {
        // Mononyms: neither has a given name. Names in other scripts were
        // dealt with before (`NameLevel::Unknown`).
        (true, true) => return Field::Exact,
        (true, false) | (false, true) => return Field::Missing,
        (false, false) => {}
    }
    if a.mrz() == b.mrz() && a.generic() == b.generic() {
        return Field::Exact;
    }
    if a.forms().iter().any(|f| b.forms().contains(f)) || word_subset(a, b) {
        return Field::Variant;
    }
    let pairs = || {
        a.forms()
            .iter()
            .flat_map(|x| b.forms().iter().map(move |y| (x, y)))
    };
    if pairs().any(|(x, y)| x.len().min(y.len()) >= MIN_SLIP_LEN && names::is_keyboard_slip(x, y)) {
        return Field::Slip;
    }
    if a.phonetic().len() >= MIN_PHONETIC_KEY_LEN && a.phonetic() == b.phonetic() {
        return Field::Phonetic;
    }
    let similar = pairs().any(|(x, y)| jaro_winkler(x, y) >= TYPO_SIMILARITY)
        || pairs().any(|(x, y)| {
            x.len().min(y.len()) >= MIN_EDIT_TYPO_LEN && within_one_edit(x.as_bytes(), y.as_bytes())
        });
    if similar {
        Field::Similar
    } else {
        Field::Different
    }
}

/// Jaro–Winkler similarity, as `strsim::jaro_winkler` computes it, without
/// allocating for names (up to 64 letters): two different names are
/// compared on every candidate pair, so this is the matcher's inner loop.
fn jaro_winkler(a: &str, b: &str) -> f64 {
    const MAX: usize = 64;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > MAX || b.len() > MAX || !a.is_ascii() || !b.is_ascii() {
        return strsim::jaro_winkler(
            std::str::from_utf8(a).unwrap_or_default(),
            std::str::from_utf8(b).unwrap_or_default(),
        );
    }
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let range = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_flags = [false; MAX];
    let mut b_flags = [false; MAX];
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = b.len().min(i + range + 1);
        for j in lo..hi {
            if !b_flags[j] && b[j] == x {
                a_flags[i] = true;
                b_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0;
    for (i, &x) in a.iter().enumerate() {
        if a_flags[i] {
            while !b_flags[j] {
                j += 1;
            }
            if x != b[j] {
                transpositions += 1;
            }
            j += 1;
        }
    }
    let m = matches as f64;
    let jaro =
        (m / a.len() as f64 + m / b.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if jaro > 0.7 {
        let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// Whether the optimal string alignment distance is at most one (equal, or
/// one substitution, insertion, deletion or transposition of neighbours).
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let first = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match a.len() as isize - b.len() as isize {
        0 => {
            first == a.len()
                || a[first + 1..] == b[first + 1..]
                || (first + 1 < a.len()
                    && a[first] == b[first + 1]
                    && a[first + 1] == b[first]
                    && a[first + 2..] == b[first + 2..])
        }
        1 => a[first + 1..] == b[first..],
        -1 => b[first + 1..] == a[first..],
        _ => false,
    }
}

fn word_subset(a: &NameForms, b: &NameForms) -> bool {
    // Only a name of several words can contain another.
    if a.spaced.is_none() && b.spaced.is_none() {
        return false;
    }
    let words = |n: &NameForms| -> Vec<String> {
        match &n.spaced {
            Some(spaced) => spaced
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(names::digraph_skeleton)
                .collect(),
            None => vec![names::digraph_skeleton(n.generic())],
        }
    };
    let (a, b) = (words(a), words(b));
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    !short.is_empty() && short.len() < long.len() && short.iter().all(|w| long.contains(w))
}

/// A document number with the characters OCR confuses folded together.
fn ocr_folded(number: &str) -> String {
    number
        .chars()
        .map(|c| match c {
            'O' | 'Q' | 'D' => '0',
            'I' | 'L' => '1',
            'Z' => '2',
            'S' => '5',
            'G' => '6',
            'B' => '8',
            c => c,
        })
        .collect()
}

/// Names: given and family together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameLevel {
    /// Both names the same in MRZ and generic form.
    Exact,
    /// Both names equal in some form (transliteration, compound names, a
    /// name split differently between the fields).
    Variant,
    /// Given and family names exchanged.
    Swapped,
    /// One name equal, the other spelt another way that sounds alike.
    Phonetic,
    /// One name equal, the other one keyboard slip away.
    Typo,
    /// One name equal, the other similar (or missing on one side).
    Close,
    /// Neither name equal, both close; or swapped with a typo.
    TwoTypos,
    /// One name equal, the other different.
    Partial,
    Different,
    /// One side has no name in Latin letters: no evidence either way.
    Unknown,
}

impl NameLevel {
    pub const fn weight(self) -> f64 {
        match self {
            NameLevel::Unknown => 0.0,
            NameLevel::Exact => 10.0,
            NameLevel::Variant => 9.5,
            NameLevel::Swapped => 8.5,
            NameLevel::Phonetic => 8.0,
            NameLevel::Typo => 8.0,
            NameLevel::Close => 5.0,
            NameLevel::TwoTypos => 3.0,
            NameLevel::Partial => 0.0,
            NameLevel::Different => -8.0,
        }
    }
}

/// The level of a pairing of (given, family) fields.
fn name_pairing(given: Field, family: Field) -> NameLevel {
    use Field::*;
    let agree = |f: Field| matches!(f, Exact | Variant);
    let close = |f: Field| matches!(f, Phonetic | Slip | Similar);
    match (given, family) {
        (Exact, Exact) => NameLevel::Exact,
        (g, f) if agree(g) && agree(f) => NameLevel::Variant,
        (g, f) if agree(g) || agree(f) => match if agree(g) { f } else { g } {
            Phonetic => NameLevel::Phonetic,
            Slip => NameLevel::Typo,
            Similar | Missing => NameLevel::Close,
            _ => NameLevel::Partial,
        },
        (g, f) if close(g) && close(f) => NameLevel::TwoTypos,
        _ => NameLevel::Different,
    }
}

fn compare_names(a: &Prepared, b: &Prepared) -> NameLevel {
    if !a.has_name() || !b.has_name() {
        return NameLevel::Unknown;
    }
    let straight = name_pairing(
        compare_field(&a.given, &b.given),
        compare_field(&a.family, &b.family),
    );
    if matches!(straight, NameLevel::Exact | NameLevel::Variant) {
        return straight;
    }
    // The same letters split differently between the two fields.
    if joined_eq((&a.given_all, &a.family_all), (&b.given_all, &b.family_all))
        || joined_eq((&a.family_all, &a.given_all), (&b.family_all, &b.given_all))
    {
        return NameLevel::Variant;
    }
    let crossed = match name_pairing(
        compare_field(&a.given, &b.family),
        compare_field(&a.family, &b.given),
    ) {
        NameLevel::Exact | NameLevel::Variant => NameLevel::Swapped,
        _ if joined_eq((&a.given_all, &a.family_all), (&b.family_all, &b.given_all))
            || joined_eq((&a.family_all, &a.given_all), (&b.given_all, &b.family_all)) =>
        {
            NameLevel::Swapped
        }
        NameLevel::Phonetic | NameLevel::Typo | NameLevel::Close => NameLevel::TwoTypos,
        NameLevel::Partial => NameLevel::Partial,
        _ => NameLevel::Different,
    };
    if crossed.weight() > straight.weight() {
        crossed
    } else {
        straight
    }
}

/// Whether `x.0 + x.1 == y.0 + y.1`, without building either.
fn joined_eq(x: (&str, &str), y: (&str, &str)) -> bool {
    x.0.len() + x.1.len() == y.0.len() + y.1.len()
        && x.0
            .bytes()
            .chain(x.1.bytes())
            .eq(y.0.bytes().chain(y.1.bytes()))
}

/// Further given names and middle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiddleLevel {
    /// A name in common, or an initial that fits.
    Agree,
    /// One side has none: middle names are often left out.
    Missing,
    Disagree,
}

impl MiddleLevel {
    pub const fn weight(self) -> f64 {
        match self {
            MiddleLevel::Agree => 1.0,
            MiddleLevel::Missing => 0.0,
            MiddleLevel::Disagree => -2.5,
        }
    }
}

fn compare_middle(a: &Prepared, b: &Prepared) -> MiddleLevel {
    if a.middle.is_empty() || b.middle.is_empty() {
        return MiddleLevel::Missing;
    }
    let (am, bm) = (a.middle.split(' '), b.middle.split(' '));
    let fits = |x: &str, y: &str| {
        x == y || (x.len() == 1 && y.starts_with(x)) || (y.len() == 1 && x.starts_with(y))
    };
    if am.clone().any(|x| bm.clone().any(|y| fits(x, y))) {
        MiddleLevel::Agree
    } else {
        MiddleLevel::Disagree
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DobLevel {
    /// Both complete and equal.
    Exact,
    /// Equal, with the same parts unknown on both sides.
    PartialEqual,
    /// Day and month exchanged.
    DayMonthSwap,
    /// Same year only (a typo in day or month, or a part unknown on one side).
    YearOnly,
    /// Both complete and one slip apart: one digit wrong, two adjacent
    /// digits exchanged, or the year off by one: what a keying or reading
    /// error does to a date, rarely what separates two people with the same
    /// names (who then differ in more than one place).
    Near,
    Different,
    /// Wholly unknown on one side or both (`year: 0`): a null, no evidence
    /// either way.
    Unknown,
}

impl DobLevel {
    pub const fn weight(self) -> f64 {
        match self {
            DobLevel::Exact => 6.0,
            DobLevel::PartialEqual => 4.0,
            DobLevel::DayMonthSwap => 4.0,
            DobLevel::YearOnly => 1.0,
            DobLevel::Near => 2.0,
            DobLevel::Different => -6.0,
            DobLevel::Unknown => 0.0,
        }
    }
}

fn compare_dob(a: Dob, b: Dob) -> DobLevel {
    if a.is_unknown() || b.is_unknown() {
        DobLevel::Unknown
    } else if a == b {
        if a.is_full() {
            DobLevel::Exact
        } else {
            DobLevel::PartialEqual
        }
    } else if a.swapped() == Some(b) {
        DobLevel::DayMonthSwap
    } else if a.is_full() && b.is_full() && a.slip_of(&b) {
        DobLevel::Near
    } else if a.year == b.year {
        DobLevel::YearOnly
    } else {
        DobLevel::Different
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentLevel {
    /// Same number (and issuing country, where both give one).
    Same,
    /// Numbers one edit apart, same issuing country: a number misread or
    /// mistyped (numbers of [`MIN_SIMILAR_DOCUMENT_LEN`] or more characters).
    Similar,
    /// Another number on the same kind of document from the same country:
    /// what a renewal looks like. Travellers renew documents, so this is
    /// only mild evidence against.
    Renewed,
    /// Another kind of document from the same country: travellers carry
    /// several (a passport, a residence card), so this says little.
    Other,
    /// Documents of two countries: their numbers cannot be compared. That
    /// the countries differ is evidence about citizenship, counted once, by
    /// the nationality comparison ([`NationalityLevel`]); here it is not
    /// evidence (a null), or a dual national's second passport would count
    /// against him twice.
    OtherCountry,
    Missing,
}

/// Shorter numbers one edit apart are too likely to be two documents.
pub const MIN_SIMILAR_DOCUMENT_LEN: usize = 6;

impl DocumentLevel {
    pub const fn weight(self) -> f64 {
        match self {
            DocumentLevel::Same => 8.0,
            DocumentLevel::Similar => 5.0,
            DocumentLevel::Renewed => -1.0,
            DocumentLevel::Other => -0.5,
            DocumentLevel::OtherCountry | DocumentLevel::Missing => 0.0,
        }
    }
}

fn compare_document(a: &Prepared, b: &Prepared) -> DocumentLevel {
    if a.document_number.is_empty() || b.document_number.is_empty() {
        return DocumentLevel::Missing;
    }
    let countries_agree = a.document_country.is_empty()
        || b.document_country.is_empty()
        || a.document_country == b.document_country;
    if !countries_agree {
        return DocumentLevel::OtherCountry;
    }
    if a.document_number == b.document_number {
        return DocumentLevel::Same;
    }
    if a.document_number.len().min(b.document_number.len()) >= MIN_SIMILAR_DOCUMENT_LEN
        && within_one_edit(a.document_number.as_bytes(), b.document_number.as_bytes())
    {
        return DocumentLevel::Similar;
    }
    if a.document_kind == b.document_kind
        || a.document_kind.is_empty()
        || b.document_kind.is_empty()
    {
        DocumentLevel::Renewed
    } else {
        DocumentLevel::Other
    }
}

/// Nationality and sex: agree, disagree, or unknown on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    Same,
    Different,
    Unknown,
}

/// Nationality, compared together with whether the two documents are of
/// one country: a dual national may travel on either passport, and then
/// nationality and document country change together. Counting the
/// document country here, and not in [`DocumentLevel`], counts that once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NationalityLevel {
    /// Same nationality, documents of one country (or one unknown).
    Same,
    /// Same nationality on documents of two countries: a second passport,
    /// or a travel document issued abroad.
    SameOtherDocument,
    /// Nationalities differ on documents of one country (or one unknown):
    /// a refugee's or stateless person's code on one side, a slip.
    Different,
    /// Nationalities and document countries both differ: two people of two
    /// countries, or one with two passports.
    DifferentOtherDocument,
    Unknown,
}

impl NationalityLevel {
    /// Dual nationals may travel on either passport, so a different
    /// nationality is not conclusive.
    pub const fn weight(self) -> f64 {
        match self {
            NationalityLevel::Same => 1.0,
            NationalityLevel::SameOtherDocument => 0.0,
            NationalityLevel::Different | NationalityLevel::DifferentOtherDocument => -3.0,
            NationalityLevel::Unknown => 0.0,
        }
    }
}

/// Half of all pairs agree on sex by chance, so agreement says little;
/// disagreement says a lot, short of a data-entry error.
pub const fn sex_weight(level: Agreement) -> f64 {
    match level {
        Agreement::Same => 0.5,
        Agreement::Different => -4.0,
        Agreement::Unknown => 0.0,
    }
}

fn compare_nationality(a: &Prepared, b: &Prepared) -> NationalityLevel {
    let documents_differ = !a.document_country.is_empty()
        && !b.document_country.is_empty()
        && a.document_country != b.document_country;
    match (
        a.nationality.is_empty() || b.nationality.is_empty(),
        a.nationality == b.nationality,
        documents_differ,
    ) {
        (true, _, _) => NationalityLevel::Unknown,
        (false, true, false) => NationalityLevel::Same,
        (false, true, true) => NationalityLevel::SameOtherDocument,
        (false, false, false) => NationalityLevel::Different,
        (false, false, true) => NationalityLevel::DifferentOtherDocument,
    }
}

fn compare_sex(a: Sex, b: Sex) -> Agreement {
    match (a, b) {
        (Sex::Unspecified, _) | (_, Sex::Unspecified) => Agreement::Unknown,
        (Sex::Female, Sex::Female) | (Sex::Male, Sex::Male) => Agreement::Same,
        _ => Agreement::Different,
    }
}

/// The comparison vector of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    pub names: NameLevel,
    pub middle: MiddleLevel,
    pub dob: DobLevel,
    pub document: DocumentLevel,
    pub nationality: NationalityLevel,
    pub sex: Agreement,
}

impl Comparison {
    /// The sum of the levels' log2 Bayes factors.
    pub fn weight(&self) -> f64 {
        self.names.weight()
            + self.middle.weight()
            + self.dob.weight()
            + self.document.weight()
            + self.nationality.weight()
            + sex_weight(self.sex)
    }
}

pub fn compare(a: &Prepared, b: &Prepared) -> Comparison {
    Comparison {
        names: compare_names(a, b),
        middle: compare_middle(a, b),
        dob: compare_dob(a.dob, b.dob),
        document: compare_document(a, b),
        nationality: compare_nationality(a, b),
        sex: compare_sex(a.sex, b.sex),
    }
}

/// Posterior probability of a true pair from the summed weight and the prior.
pub fn probability(weight: f64) -> f64 {
    let p = 1.0 / (1.0 + (-(PRIOR_LOG2_ODDS + weight)).exp2());
    p.clamp(0.0, 1.0)
}

pub fn score(entry: &SharedRecord, exit: &SharedRecord) -> f64 {
    score_with(&current_weights(), entry, exit)
}

/// [`score`] with the given weights (a model being checked, say).
pub fn score_with(weights: &model::Weights, entry: &SharedRecord, exit: &SharedRecord) -> f64 {
    let (a, b) = (Prepared::new(entry), Prepared::new(exit));
    weights.probability_of(&a, &b, &compare(&a, &b).levels())
}

/// Scores pairs in order. Hosts send an exit's candidates one after the
/// other, so a record equal to the one in the previous pair is prepared once.
pub fn score_all<'a>(
    pairs: impl Iterator<Item = (&'a SharedRecord, &'a SharedRecord)>,
) -> Vec<f64> {
    let mut last_entry: Option<(&SharedRecord, Prepared<'a>)> = None;
    let mut last_exit: Option<(&SharedRecord, Prepared<'a>)> = None;
    let mut out = Vec::with_capacity(pairs.size_hint().0);
    let weights = current_weights();
    for (entry, exit) in pairs {
        let prepare = |last: &mut Option<(&'a SharedRecord, Prepared<'a>)>, r: &'a SharedRecord| {
            if !last.as_ref().is_some_and(|(held, _)| *held == r) {
                *last = Some((r, Prepared::new(r)));
            }
        };
        prepare(&mut last_entry, entry);
        prepare(&mut last_exit, exit);
        let (Some((_, e)), Some((_, x))) = (&last_entry, &last_exit) else {
            unreachable!("both were just prepared");
        };
        out.push(weights.probability_of(e, x, &compare(e, x).levels()));
    }
    out
}

/// The weights scores are computed with: a configured model's, or the
/// built-in ones.
static WEIGHTS: RwLock<Option<Arc<model::Weights>>> = RwLock::new(None);

pub fn current_weights() -> Arc<model::Weights> {
    if let Some(w) = WEIGHTS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return w.clone();
    }
    Arc::new(model::Weights::builtin())
}

fn set_weights(weights: Option<model::Weights>) {
    *WEIGHTS.write().unwrap_or_else(|e| e.into_inner()) = weights.map(Arc::new);
}

impl model::Weights {
    /// Posterior probability of a true pair for a comparison vector.
    pub fn probability(&self, levels: &model::Levels) -> f64 {
        let p = 1.0 / (1.0 + (-(self.prior_log2_odds + self.weight(levels))).exp2());
        p.clamp(0.0, 1.0)
    }

    /// [`Self::probability`] with the model's term-frequency adjustment: two
    /// records agreeing on a rare family name say more than on a common one.
    pub fn probability_of(&self, a: &Prepared, b: &Prepared, levels: &model::Levels) -> f64 {
        let names = levels[0];
        let agree = names == NameLevel::Exact as u8 || names == NameLevel::Variant as u8;
        let adjust = match &self.term_frequencies {
            Some(tf) if agree && a.family_key() == b.family_key() => tf.adjustment(a.family_key()),
            _ => 0.0,
        };
        let p = 1.0 / (1.0 + (-(self.prior_log2_odds + self.weight(levels) + adjust)).exp2());
        p.clamp(0.0, 1.0)
    }
}

/// The configuration: `{}` (the built-in weights) or `{"model": MODEL}`, a
/// model `entrex matcher train` wrote (see [`model`]). Applies it.
pub fn parse_config(json: &str) -> Result<(), String> {
    let weights = read_config(json)?;
    set_weights(weights);
    Ok(())
}

/// The weights a configuration names, without applying them.
pub fn read_config(json: &str) -> Result<Option<model::Weights>, String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| format!("the configuration is not valid JSON ({e})"))?;
    let Value::Object(mut map) = value else {
        return Err(
            "the configuration must be a table: {} for the built-in weights, or {\"model\": ...} with a model `entrex matcher train` wrote"
                .to_string(),
        );
    };
    let model = map.remove("model");
    if let Some(key) = map.keys().next() {
        return Err(format!(
            "unknown key {key:?}: the biographic matcher takes only `model` (a model `entrex matcher train` wrote); remove it"
        ));
    }
    let Some(model) = model else {
        return Ok(None);
    };
    let model: model::Model = serde_json::from_value(model)
        .map_err(|e| format!("the model is not one `entrex matcher train` writes ({e})"))?;
    model
        .weights()
        .map(Some)
        .map_err(|e| format!("the model cannot be used: {e}"))
}

#[cfg(target_arch = "wasm32")]
struct Plugin;

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::configurable::Guest for Plugin {
    fn configure(config_json: String) -> Result<(), String> {
        parse_config(&config_json)
    }
}

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::matching::Guest for Plugin {
    fn block_keys(records: Vec<SharedRecord>) -> Vec<Vec<String>> {
        records
            .iter()
            .map(|r| block_keys(&Prepared::new(r)))
            .collect()
    }

    fn score(pairs: Vec<exports::entrex::plugin::matching::Candidate>) -> Vec<f64> {
        score_all(pairs.iter().map(|p| (&p.entry, &p.exit)))
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(test)]
mod tests;
