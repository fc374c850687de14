//! TEMPLATE for a new entrex plugin: copy this crate, rename it, replace the
//! rule. See plugins/README.md for the contract and how to build, test and
//! install a plugin.
//!
//! This one is a working eligibility filter (world `eligibility`): it shares
//! every crossing except those of a citizen of the configured countries.
//!
//! The logic is plain functions over the types `wit_bindgen` generates, so
//! `cargo test` runs it natively. The component glue (`Guest` impls,
//! `export!`, calls to the `log` import) is compiled for wasm32 only: the
//! export symbols cannot be linked into a native library.

// Generates the WIT types, the `Guest` traits to implement and `export!`.
// The path is the repository's `wit/` directory; copy it along if you move.
wit_bindgen::generate!({ world: "eligibility", path: "../../wit" });

#[cfg(target_arch = "wasm32")]
use std::cell::RefCell;

#[cfg(target_arch = "wasm32")]
use crate::entrex::plugin::log::{Level, log};

use exports::entrex::plugin::filter::Decision;
use serde_json::Value;

use crate::entrex::plugin::types::Crossing;

/// The keys `configure` accepts. Anything else is refused, so that a typo in
/// the hub's TOML stops the hub instead of being silently ignored.
const KEYS: [&str; 1] = ["citizens_of"];

/// Reasons are counted and shown to operators: fixed strings naming the rule,
/// never anything about the traveller.
pub const REASON_UNKNOWN: &str = "nationality unknown";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// ICAO codes, upper case. Their citizens are never shared.
    pub citizens_of: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let citizens_of = vec!["CAN".into(), "USA".into()];
        Config { citizens_of }
    }
}

/// Parses the `config` table of the plugin's section in the hub's TOML, which
/// the hub hands over as a JSON object. Errors are for the hub's operator:
/// name the key and say what to write instead.
pub fn parse_config(json: &str) -> Result<Config, String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| format!("the configuration is not valid JSON ({e})"))?;
    let Value::Object(map) = value else {
        return Err("the configuration must be a table, e.g. citizens_of = [\"CAN\"]".into());
    };
    let unknown: Vec<String> = (map.keys())
        .filter(|k| !KEYS.contains(&k.as_str()))
        .map(|k| format!("{k:?}"))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown key(s) {}; this plugin takes only citizens_of",
            unknown.join(", ")
        ));
    }
    let Some(value) = map.get("citizens_of") else {
        return Ok(Config::default());
    };
    let list = match value {
        Value::Array(list) if !list.is_empty() => list,
        _ => return Err("citizens_of: write a non-empty list such as [\"CAN\", \"USA\"]".into()),
    };
    let mut codes = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item.as_str().map(str::trim) {
            Some(s) if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                codes.push(s.to_ascii_uppercase())
            }
            _ => {
                return Err(format!(
                    "citizens_of[{i}]: {item} is not an ICAO code such as \"CAN\""
                ));
            }
        }
    }
    Ok(Config { citizens_of: codes })
}

/// One decision per crossing, in order. The hub calls with up to a thousand
/// crossings at a time so that the cost of a call is paid once per batch.
pub fn decide(config: &Config, crossings: &[Crossing]) -> Vec<Decision> {
    crossings.iter().map(|c| decide_one(config, c)).collect()
}

/// Never panic on input: a panic traps, the hub discards the instance and
/// splits the batch to find the record, which ends in quarantine. Handle odd
/// values (empty, lower case, stray spaces) as data.
pub fn decide_one(config: &Config, crossing: &Crossing) -> Decision {
    let mut codes = std::iter::once(&crossing.nationality)
        .chain(&crossing.citizenships)
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .peekable();
    // With no citizenship known we cannot rule out a citizen: when in doubt,
    // withhold (sharing is the mistake that cannot be taken back).
    if codes.peek().is_none() {
        return Decision::Withhold(REASON_UNKNOWN.into());
    }
    let is_citizen = |code: &str| {
        config
            .citizens_of
            .iter()
            .any(|c| c.eq_ignore_ascii_case(code))
    };
    if codes.any(is_citizen) {
        // Built from the configuration only; the hub also keeps just letters,
        // digits, spaces and `:,._()-` of a reason, cut to 80 characters.
        return Decision::Withhold(format!("citizen of {}", config.citizens_of.join(", ")));
    }
    Decision::Share
}

// The component side: state and translation only.
#[cfg(target_arch = "wasm32")]
thread_local! {
    // The hub calls `configure` on every new instance before anything else.
    static CONFIG: RefCell<Config> = RefCell::new(Config::default());
}

#[cfg(target_arch = "wasm32")]
struct Plugin;

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::configurable::Guest for Plugin {
    fn configure(config_json: String) -> Result<(), String> {
        let config = parse_config(&config_json)?;
        // The `log` import writes to the hub's log, tagged with this plugin's
        // name: say what the plugin does, never what a record holds.
        let message = format!("withholding citizens of {}", config.citizens_of.join(", "));
        log(Level::Info, &message);
        CONFIG.with(|c| *c.borrow_mut() = config);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::filter::Guest for Plugin {
    fn decide(crossings: Vec<Crossing>) -> Vec<Decision> {
        let decisions = CONFIG.with(|c| decide(&c.borrow(), &crossings));
        // Counts are fine to log; names, numbers and dates are not.
        let shared = decisions
            .iter()
            .filter(|d| matches!(d, Decision::Share))
            .count();
        let message = format!("{} crossings, {shared} shared", decisions.len());
        log(Level::Debug, &message);
        decisions
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrex::plugin::types::{Mode, PartialDate, Sex};

    fn crossing(nationality: &str, citizenships: &[&str]) -> Crossing {
        Crossing {
            source_ref: "r1".into(),
            given_names: "ANNA".into(),
            middle_names: String::new(),
            family_name: "ERIKSSON".into(),
            date_of_birth: PartialDate {
                year: 1974,
                month: Some(8),
                day: None,
            },
            sex: Sex::Female,
            nationality: nationality.into(),
            document_type: "P".into(),
            document_number: "L898902C3".into(),
            document_country: "UTO".into(),
            crossed_at: 1_795_356_180,
            port_code: "0427".into(),
            mode: Mode::Vehicle,
            citizenships: citizenships.iter().map(|c| c.to_string()).collect(),
            residency: Vec::new(),
            authorised_stay_until: None,
        }
    }

    fn reason(d: &Decision) -> Option<&str> {
        match d {
            Decision::Share => None,
            Decision::Withhold(r) => Some(r),
        }
    }

    #[test]
    fn one_decision_per_crossing_in_order() {
        let config = Config::default();
        let input = [
            crossing("DEU", &[]),
            crossing("FRA", &[" can "]),
            crossing("", &[""]),
        ];
        let decisions = decide(&config, &input);
        let reasons: Vec<_> = decisions.iter().map(reason).collect();
        assert_eq!(
            reasons,
            [None, Some("citizen of CAN, USA"), Some(REASON_UNKNOWN)]
        );
    }

    #[test]
    fn configured_countries() {
        let config = parse_config(r#"{"citizens_of": ["mex"]}"#).unwrap();
        assert_eq!(reason(&decide_one(&config, &crossing("USA", &[]))), None);
        let withheld = decide_one(&config, &crossing("USA", &["MEX"]));
        assert_eq!(reason(&withheld), Some("citizen of MEX"));
        assert_eq!(parse_config("{}").unwrap(), Config::default());
    }

    #[test]
    fn bad_config_is_refused_naming_the_key() {
        for (json, expected) in [
            (
                r#"{"citizens": ["CAN"], "port": 1}"#,
                r#"unknown key(s) "citizens", "port""#,
            ),
            (
                r#"{"citizens_of": []}"#,
                "citizens_of: write a non-empty list",
            ),
            (
                r#"{"citizens_of": ["Canada"]}"#,
                r#"citizens_of[0]: "Canada" is not"#,
            ),
            ("[]", "must be a table"),
            ("", "not valid JSON"),
        ] {
            let err = parse_config(json).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
