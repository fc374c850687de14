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

impl PartialDate {
    /// A wholly unknown date (the WIT contract's `year: 0`): a null.
    pub const UNKNOWN: PartialDate = PartialDate {
        year: 0,
        month: None,
        day: None,
    };

    pub fn is_unknown(&self) -> bool {
        self.year == 0
    }
}

impl std::fmt::Display for PartialDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unknown() {
            return f.write_str("unknown");
        }
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

/// Why a record's values cannot be accepted: a field and what is wrong with
/// it, in words that never repeat the value. These travel in logs, in a
/// receiver's refusal and in a source's answer; a value would be a document
/// number or a birth date in all of them.
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
    let kind = if digits {
        "letters or digits"
    } else {
        "letters"
    };
    let length = value.chars().count();
    if value.is_empty() || value.len() > max {
        return invalid(
            field,
            format!("must be 1-{max} upper-case {kind}; it has {length} characters"),
        );
    }
    if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| !ok(*c)) {
        let what = match c {
            c if c.is_ascii_lowercase() => "a lower-case letter",
            c if c.is_ascii_digit() => "a digit",
            c if c.is_whitespace() => "a space",
            c if c.is_ascii() => "punctuation",
            _ => "a character outside A-Z and 0-9",
        };
        return invalid(
            field,
            format!(
                "must be 1-{max} upper-case {kind}; character {} of {length} is {what}",
                at + 1
            ),
        );
    }
    Ok(())
}

impl PartialDate {
    pub fn check(&self) -> Result<(), Invalid> {
        let field = "date-of-birth";
        if self.is_unknown() {
            return match (self.month, self.day) {
                (None, None) => Ok(()),
                _ => invalid(field, "is unknown (year 0) but has a month or day".into()),
            };
        }
        if !(1850..=2200).contains(&self.year) {
            return invalid(field, "has a year before 1850 or after 2200".into());
        }
        match (self.month, self.day) {
            (None, Some(_)) => invalid(field, "has a day but no month".into()),
            (Some(m), _) if !(1..=12).contains(&m) => {
                invalid(field, "has a month outside 1-12".into())
            }
            (Some(m), Some(d))
                if d == 0
                    || u32::from(d)
                        > entrex_plugin_common::dates::days_in_month(
                            i32::from(self.year),
                            u32::from(m),
                        ) =>
            {
                invalid(field, "has a day its month does not have".into())
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
/// `{amends, correction: record}` and a deletion `{amends, deletion:
/// "withdrawn"}`, `amends` being the sequence number of the record they
/// replace. A deletion carries no reason: why a record stops being shared
/// (the source withdrew it, or a correction made the traveller a citizen, or
/// put the crossing out of scope) is itself what the agreement forbids
/// sharing, so the only thing it can say is the fixed code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireEntry", into = "EntryRepr")]
pub enum Entry {
    Record(SharedRecord),
    Correction {
        amends: u64,
        record: SharedRecord,
    },
    Deletion {
        amends: u64,
    },
    /// A placeholder for an entry the receiver refused for good, which the
    /// sender's operator set aside (`entrex outbox set-aside`): the number
    /// stays in the dense sequence, so the receiver can prove nothing was
    /// dropped silently, and it says nothing but that. On the wire
    /// `{set_aside: "refused"}`.
    SetAside,
}

/// The code every deletion carries, and the only text an amendment adds.
pub const DELETION_CODE: &str = "withdrawn";
/// The code a set-aside placeholder carries.
pub const SET_ASIDE_CODE: &str = "refused";

impl Entry {
    /// The record this entry carries (none for a deletion).
    pub fn record(&self) -> Option<&SharedRecord> {
        match self {
            Entry::Record(r) | Entry::Correction { record: r, .. } => Some(r),
            Entry::Deletion { .. } | Entry::SetAside => None,
        }
    }

    /// The sequence number an amendment replaces.
    pub fn amends(&self) -> Option<u64> {
        match self {
            Entry::Record(_) | Entry::SetAside => None,
            Entry::Correction { amends, .. } | Entry::Deletion { amends } => Some(*amends),
        }
    }

    pub fn check(&self) -> Result<(), Invalid> {
        match self {
            Entry::Record(r) | Entry::Correction { record: r, .. } => r.check(),
            Entry::Deletion { .. } | Entry::SetAside => Ok(()),
        }
    }
}

/// A fixed code on the wire; anything else is refused without being
/// repeated (free text could name the traveller).
macro_rules! fixed_code {
    ($name:ident, $code:expr, $what:expr) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        struct $name;

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($code)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                if text == $code {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!(
                        "{} carries the fixed code {:?}, never free text (found {} characters of other text)",
                        $what,
                        $code,
                        text.chars().count()
                    )))
                }
            }
        }
    };
}

fixed_code!(Withdrawn, DELETION_CODE, "a deletion");
fixed_code!(Refused, SET_ASIDE_CODE, "a set-aside placeholder");

#[derive(Serialize)]
#[serde(untagged)]
enum EntryRepr {
    Record(SharedRecord),
    Correction {
        amends: u64,
        correction: SharedRecord,
    },
    Deletion {
        amends: u64,
        deletion: Withdrawn,
    },
    SetAside {
        set_aside: Refused,
    },
}

impl From<Entry> for EntryRepr {
    fn from(e: Entry) -> EntryRepr {
        match e {
            Entry::Record(r) => EntryRepr::Record(r),
            Entry::Correction { amends, record } => EntryRepr::Correction {
                amends,
                correction: record,
            },
            Entry::Deletion { amends } => EntryRepr::Deletion {
                amends,
                deletion: Withdrawn,
            },
            Entry::SetAside => EntryRepr::SetAside { set_aside: Refused },
        }
    }
}

/// Every key an entry may have on the wire, each optional, decoded strictly
/// (an unknown key is refused by name) and then sorted into one of the three
/// shapes. Typed rather than untagged, so an error says which key is wrong.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    given_names: Option<String>,
    family_name: Option<String>,
    middle_names: Option<String>,
    date_of_birth: Option<PartialDate>,
    nationality: Option<String>,
    sex: Option<Sex>,
    document_type: Option<String>,
    document_number: Option<String>,
    document_country: Option<String>,
    entered_at: Option<Timestamp>,
    port_code: Option<String>,
    amends: Option<u64>,
    correction: Option<SharedRecord>,
    deletion: Option<Withdrawn>,
    set_aside: Option<Refused>,
}

impl TryFrom<WireEntry> for Entry {
    type Error = String;

    fn try_from(w: WireEntry) -> Result<Entry, String> {
        let has_record_fields = w.given_names.is_some()
            || w.family_name.is_some()
            || w.middle_names.is_some()
            || w.date_of_birth.is_some()
            || w.nationality.is_some()
            || w.sex.is_some()
            || w.document_type.is_some()
            || w.document_number.is_some()
            || w.document_country.is_some()
            || w.entered_at.is_some()
            || w.port_code.is_some();
        if let Some(Refused) = w.set_aside {
            if has_record_fields
                || w.amends.is_some()
                || w.correction.is_some()
                || w.deletion.is_some()
            {
                return Err("a set-aside placeholder carries nothing else".into());
            }
            return Ok(Entry::SetAside);
        }
        let Some(amends) = w.amends else {
            if w.correction.is_some() || w.deletion.is_some() {
                return Err("a correction or deletion must name the record it `amends`".into());
            }
            let missing = |name: &str| format!("a record is missing `{name}`");
            return Ok(Entry::Record(SharedRecord {
                given_names: w.given_names.ok_or_else(|| missing("given_names"))?,
                family_name: w.family_name.ok_or_else(|| missing("family_name"))?,
                middle_names: w.middle_names.ok_or_else(|| missing("middle_names"))?,
                date_of_birth: w.date_of_birth.ok_or_else(|| missing("date_of_birth"))?,
                nationality: w.nationality.ok_or_else(|| missing("nationality"))?,
                sex: w.sex.ok_or_else(|| missing("sex"))?,
                document_type: w.document_type.ok_or_else(|| missing("document_type"))?,
                document_number: w
                    .document_number
                    .ok_or_else(|| missing("document_number"))?,
                document_country: w
                    .document_country
                    .ok_or_else(|| missing("document_country"))?,
                entered_at: w.entered_at.ok_or_else(|| missing("entered_at"))?,
                port_code: w.port_code.ok_or_else(|| missing("port_code"))?,
            }));
        };
        if has_record_fields {
            return Err(
                "an amendment carries its record under `correction`, not beside `amends`".into(),
            );
        }
        match (w.correction, w.deletion) {
            (Some(record), None) => Ok(Entry::Correction { amends, record }),
            (None, Some(Withdrawn)) => Ok(Entry::Deletion { amends }),
            _ => Err("an amendment is either `correction` or `deletion`, exactly one".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(value: serde_json::Value) -> Result<Entry, String> {
        let bytes = serde_cbor::to_vec(&value).unwrap();
        serde_cbor::from_slice(&bytes).map_err(|e| e.to_string())
    }

    fn record() -> serde_json::Value {
        serde_json::json!({
            "given_names": "ANNA", "family_name": "ERIKSSON", "middle_names": "",
            "date_of_birth": {"year": 1974, "month": 8, "day": 12},
            "nationality": "SWE", "sex": "F", "document_type": "P",
            "document_number": "L898902C3", "document_country": "SWE",
            "entered_at": 1_763_700_000, "port_code": "0427"
        })
    }

    #[test]
    fn a_deletion_with_free_text_is_refused_without_repeating_it() {
        let err = decode(serde_json::json!({"amends": 3, "deletion": "CAN citizen per interview"}))
            .unwrap_err();
        assert!(err.contains("fixed code \"withdrawn\""), "{err}");
        assert!(
            !err.contains("citizen"),
            "the refusal repeats the text: {err}"
        );
        assert_eq!(
            decode(serde_json::json!({"amends": 3, "deletion": "withdrawn"})),
            Ok(Entry::Deletion { amends: 3 })
        );
    }

    #[test]
    fn a_twelfth_element_or_a_mixed_entry_is_refused_by_name() {
        let mut twelve = record();
        twelve["citizenships"] = serde_json::json!(["CAN"]);
        let err = decode(twelve).unwrap_err();
        assert!(err.contains("citizenships"), "{err}");
        let mut mixed = record();
        mixed["amends"] = serde_json::json!(1);
        assert!(decode(mixed).unwrap_err().contains("under `correction`"));
        let err = decode(serde_json::json!({"amends": 1})).unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
        let mut short = record();
        short.as_object_mut().unwrap().remove("port_code");
        assert!(decode(short).unwrap_err().contains("`port_code`"));
    }

    #[test]
    fn entries_keep_their_wire_form() {
        let r: SharedRecord = serde_json::from_value(record()).unwrap();
        for entry in [
            Entry::Record(r.clone()),
            Entry::Correction {
                amends: 2,
                record: r,
            },
            Entry::Deletion { amends: 2 },
        ] {
            let bytes = serde_cbor::to_vec(&entry).unwrap();
            assert_eq!(serde_cbor::from_slice::<Entry>(&bytes).unwrap(), entry);
        }
        let deletion: serde_cbor::Value =
            serde_cbor::from_slice(&serde_cbor::to_vec(&Entry::Deletion { amends: 2 }).unwrap())
                .unwrap();
        let expected: serde_cbor::Value = serde_cbor::from_slice(
            &serde_cbor::to_vec(&serde_json::json!({"amends": 2, "deletion": "withdrawn"}))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(deletion, expected);
    }
}
