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
