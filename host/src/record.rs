//! Domain types: the canonical crossing a hub stores and the shared record that
//! may leave it.
//!
//! `Crossing` holds local-only facts (citizenships, residency, authorised stay).
//! `SharedRecord` has room for exactly the eleven data elements of the Entry/Exit
//! agreement, and the only way to make one from a crossing is [`Crossing::project`].
//! Its serde form is the wire form inside a signed bundle, so it refuses unknown
//! fields: a partner cannot smuggle in a twelfth element either.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// A date whose day, or day and month, may be unknown (ICAO 9303 `<<`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDate {
    pub year: u16,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

impl std::fmt::Display for PartialDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-", self.year)?;
        match self.month {
            Some(m) => write!(f, "{m:02}-")?,
            None => write!(f, "XX-")?,
        }
        match self.day {
            Some(d) => write!(f, "{d:02}"),
            None => write!(f, "XX"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    F,
    M,
    X,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Vehicle,
    Pedestrian,
    Ferry,
    Rail,
    Bus,
    Sea,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Residency {
    CanadaPermanentResident,
    UsLawfulPermanentResident,
}

/// One entry into the hub's country, as the normaliser produced it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crossing {
    pub source_ref: String,
    pub given_names: String,
    pub middle_names: String,
    pub family_name: String,
    pub date_of_birth: PartialDate,
    pub sex: Sex,
    pub nationality: String,
    pub document_type: String,
    pub document_number: String,
    pub document_country: String,
    pub crossed_at: Timestamp,
    pub port_code: String,
    pub mode: Mode,
    pub citizenships: Vec<String>,
    pub residency: Vec<Residency>,
    pub authorised_stay_until: Option<Timestamp>,
}

/// Exactly the eleven elements that may be shared with a partner country.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedRecord {
    pub given_names: String,
    pub family_name: String,
    pub middle_names: String,
    pub date_of_birth: PartialDate,
    pub nationality: String,
    pub sex: Sex,
    pub document_type: String,
    pub document_number: String,
    pub document_country: String,
    pub entered_at: Timestamp,
    pub port_code: String,
}

impl Crossing {
    /// The projection onto the shared elements; everything else stays home.
    pub fn project(&self) -> SharedRecord {
        SharedRecord {
            given_names: self.given_names.clone(),
            family_name: self.family_name.clone(),
            middle_names: self.middle_names.clone(),
            date_of_birth: self.date_of_birth,
            nationality: self.nationality.clone(),
            sex: self.sex,
            document_type: self.document_type.clone(),
            document_number: self.document_number.clone(),
            document_country: self.document_country.clone(),
            entered_at: self.crossed_at,
            port_code: self.port_code.clone(),
        }
    }
}

/// Why a record's values cannot be accepted: a field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub what: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.what)
    }
}

/// Longest text value accepted in any field.
const MAX_TEXT_BYTES: usize = 256;
const MAX_CITIZENSHIPS: usize = 16;

fn invalid(field: &'static str, what: String) -> Result<(), Invalid> {
    Err(Invalid { field, what })
}

fn check_text(field: &'static str, value: &str, required: bool) -> Result<(), Invalid> {
    if value.len() > MAX_TEXT_BYTES {
        return invalid(
            field,
            format!("is {} bytes long; at most {MAX_TEXT_BYTES}", value.len()),
        );
    }
    if required && value.trim().is_empty() {
        return invalid(field, "is empty".into());
    }
    if value.chars().any(char::is_control) {
        return invalid(field, "contains control characters".into());
    }
    Ok(())
}

/// Codes are short and upper case: ICAO country codes (1-3 letters), document
/// types (1-2 letters or digits), port codes and document numbers (letters and digits).
fn check_code(field: &'static str, value: &str, max: usize, digits: bool) -> Result<(), Invalid> {
    let ok = |c: char| c.is_ascii_uppercase() || (digits && c.is_ascii_digit());
    if value.is_empty() || value.len() > max || !value.chars().all(ok) {
        let kind = if digits {
            "letters or digits"
        } else {
            "letters"
        };
        return invalid(field, format!("{value:?} is not 1-{max} upper-case {kind}"));
    }
    Ok(())
}

impl PartialDate {
    pub fn check(&self) -> Result<(), Invalid> {
        let field = "date-of-birth";
        if !(1850..=2200).contains(&self.year) {
            return invalid(field, format!("year {} is not plausible", self.year));
        }
        match (self.month, self.day) {
            (None, Some(_)) => invalid(field, "has a day but no month".into()),
            (Some(m), _) if !(1..=12).contains(&m) => {
                invalid(field, format!("month {m} does not exist"))
            }
            (Some(m), Some(d))
                if d == 0
                    || u32::from(d)
                        > entrex_plugin_common::dates::days_in_month(
                            i32::from(self.year),
                            u32::from(m),
                        ) =>
            {
                invalid(field, format!("{self} is not a date"))
            }
            _ => Ok(()),
        }
    }
}

impl SharedRecord {
    /// The bounds every shared record must respect, whoever produced it (our
    /// normaliser or a partner hub).
    pub fn check(&self) -> Result<(), Invalid> {
        check_text("given-names", &self.given_names, false)?;
        check_text("middle-names", &self.middle_names, false)?;
        check_text("family-name", &self.family_name, true)?;
        self.date_of_birth.check()?;
        check_code("nationality", &self.nationality, 3, false)?;
        check_code("document-type", &self.document_type, 2, true)?;
        check_code("document-number", &self.document_number, 32, true)?;
        check_code("document-country", &self.document_country, 3, false)?;
        check_code("port-code", &self.port_code, 8, true)?;
        Ok(())
    }
}

impl Crossing {
    pub fn check(&self) -> Result<(), Invalid> {
        check_text("source-ref", &self.source_ref, true)?;
        self.project().check()?;
        if self.citizenships.len() > MAX_CITIZENSHIPS {
            return invalid(
                "citizenships",
                format!(
                    "lists {}; at most {MAX_CITIZENSHIPS}",
                    self.citizenships.len()
                ),
            );
        }
        for c in &self.citizenships {
            check_code("citizenships", c, 3, false)?;
        }
        Ok(())
    }
}

/// What the eligibility plugin decided for one crossing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Share,
    Withhold(String),
}

/// Why a source record was refused, for the person fixing the source data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub field: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Formats a timestamp as RFC 3339 for people and reports.
pub fn format_time(ts: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{ts}"))
}

/// One entry of the stream a hub sends a partner: a record, or an amendment of
/// a record sent earlier in the same stream (the accuracy principle: a partner
/// holds the corrected record, or none, once the source corrects or withdraws it).
///
/// On the wire a record is exactly its eleven elements; a correction is
/// `{amends, correction: record}` and a deletion `{amends, deletion: reason}`,
/// `amends` being the sequence number of the record they replace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "EntryRepr", into = "EntryRepr")]
pub enum Entry {
    Record(SharedRecord),
    Correction { amends: u64, record: SharedRecord },
    Deletion { amends: u64, reason: String },
}

impl Entry {
    /// The record this entry carries (none for a deletion).
    pub fn record(&self) -> Option<&SharedRecord> {
        match self {
            Entry::Record(r) | Entry::Correction { record: r, .. } => Some(r),
            Entry::Deletion { .. } => None,
        }
    }

    /// The sequence number an amendment replaces.
    pub fn amends(&self) -> Option<u64> {
        match self {
            Entry::Record(_) => None,
            Entry::Correction { amends, .. } | Entry::Deletion { amends, .. } => Some(*amends),
        }
    }

    pub fn check(&self) -> Result<(), Invalid> {
        match self {
            Entry::Record(r) | Entry::Correction { record: r, .. } => r.check(),
            Entry::Deletion { reason, .. } => check_text("deletion", reason, true),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EntryRepr {
    Record(SharedRecord),
    Correction(CorrectionRepr),
    Deletion(DeletionRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionRepr {
    amends: u64,
    correction: SharedRecord,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletionRepr {
    amends: u64,
    deletion: String,
}

impl From<EntryRepr> for Entry {
    fn from(r: EntryRepr) -> Entry {
        match r {
            EntryRepr::Record(r) => Entry::Record(r),
            EntryRepr::Correction(c) => Entry::Correction {
                amends: c.amends,
                record: c.correction,
            },
            EntryRepr::Deletion(d) => Entry::Deletion {
                amends: d.amends,
                reason: d.deletion,
            },
        }
    }
}

impl From<Entry> for EntryRepr {
    fn from(e: Entry) -> EntryRepr {
        match e {
            Entry::Record(r) => EntryRepr::Record(r),
            Entry::Correction { amends, record } => EntryRepr::Correction(CorrectionRepr {
                amends,
                correction: record,
            }),
            Entry::Deletion { amends, reason } => EntryRepr::Deletion(DeletionRepr {
                amends,
                deletion: reason,
            }),
        }
    }
}
