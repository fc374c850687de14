//! The Beyond the Border Entry/Exit Phase II eligibility filter.
//!
//! Shared: third-country nationals, permanent residents of Canada who are not
//! US citizens, lawful permanent residents of the US who are not Canadian
//! citizens. Never shared: anyone holding Canadian or US citizenship, however
//! many other citizenships they hold. Only crossings by a mode and at a port
//! in scope are shared. See README.md for the configuration and the reasons.
//!
//! The rules are plain functions over the generated WIT types so that
//! `cargo test` runs them natively; the `Guest` impls, compiled for wasm32
//! only, hold the configuration and translate.

wit_bindgen::generate!({ world: "eligibility", path: "../../wit" });

#[cfg(target_arch = "wasm32")]
use std::cell::RefCell;
use std::collections::BTreeSet;

use exports::entrex::plugin::filter::Decision;
use serde_json::{Map, Value};

use crate::entrex::plugin::types::{Crossing, Mode};

/// Withholding reasons. Operators see counts per reason, so each is a fixed
/// string naming the rule, never anything about the traveller.
pub const REASON_NATIONALITY_UNKNOWN: &str = "nationality unknown";
pub const REASON_PORT: &str = "port not in scope";

/// Every mode in WIT order, with its configuration spelling.
const MODES: [(Mode, &str); 6] = [
    (Mode::Vehicle, "vehicle"),
    (Mode::Pedestrian, "pedestrian"),
    (Mode::Ferry, "ferry"),
    (Mode::Rail, "rail"),
    (Mode::Bus, "bus"),
    (Mode::Sea, "sea"),
];

/// Phase II covers land (vehicle), pedestrian and ferry crossings at land
/// ports; buses cross at the same land ports. Cruise vessels are excluded
/// and rail is not an automated land port lane.
const DEFAULT_MODES: [Mode; 4] = [Mode::Vehicle, Mode::Pedestrian, Mode::Ferry, Mode::Bus];
const DEFAULT_CITIZENS_OF: [&str; 2] = ["CAN", "USA"];
const KEYS: [&str; 3] = ["ports", "modes", "citizens_of"];
const DEFAULT_MODES_EXAMPLE: &str = r#"["vehicle", "pedestrian", "ferry", "bus"]"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    All,
    Only(BTreeSet<String>),
}

/// The configured rules, with the reason strings built once.
#[derive(Debug, Clone)]
pub struct Rules {
    ports: Ports,
    /// Indexed by `mode_index`.
    modes: [bool; 6],
    citizens_of: Vec<String>,
    citizen_reason: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new(
            Ports::All,
            &DEFAULT_MODES,
            DEFAULT_CITIZENS_OF.iter().map(|c| c.to_string()).collect(),
        )
    }
}

impl Rules {
    fn new(ports: Ports, modes: &[Mode], citizens_of: Vec<String>) -> Self {
        let mut in_scope = [false; 6];
        for &mode in modes {
            in_scope[mode_index(mode)] = true;
        }
        let citizen_reason = format!("citizen of {}", or_list(&citizens_of));
        Rules {
            ports,
            modes: in_scope,
            citizens_of,
            citizen_reason,
        }
    }

    /// The decision for one crossing. Citizenship is checked first so that a
    /// citizen is always counted as such, whatever the port or mode.
    pub fn decide(&self, crossing: &Crossing) -> Decision {
        if self.is_citizen(crossing) {
            return Decision::Withhold(self.citizen_reason.clone());
        }
        if crossing.nationality.trim().is_empty()
            && crossing.citizenships.iter().all(|c| c.trim().is_empty())
        {
            // Without any citizenship we cannot rule out a citizen, and
            // sharing a citizen is the one mistake that cannot be undone.
            return Decision::Withhold(REASON_NATIONALITY_UNKNOWN.to_string());
        }
        if !self.modes[mode_index(crossing.mode)] {
            return Decision::Withhold(mode_reason(crossing.mode).to_string());
        }
        if let Ports::Only(ports) = &self.ports
            && !ports.contains(crossing.port_code.trim())
        {
            return Decision::Withhold(REASON_PORT.to_string());
        }
        Decision::Share
    }

    fn is_citizen(&self, crossing: &Crossing) -> bool {
        std::iter::once(&crossing.nationality)
            .chain(&crossing.citizenships)
            .any(|code| {
                let code = code.trim();
                self.citizens_of
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(code))
            })
    }
}

pub fn decide(rules: &Rules, crossings: &[Crossing]) -> Vec<Decision> {
    crossings.iter().map(|c| rules.decide(c)).collect()
}

fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Vehicle => 0,
        Mode::Pedestrian => 1,
        Mode::Ferry => 2,
        Mode::Rail => 3,
        Mode::Bus => 4,
        Mode::Sea => 5,
    }
}

fn mode_reason(mode: Mode) -> &'static str {
    match mode {
        Mode::Vehicle => "mode not in scope: vehicle",
        Mode::Pedestrian => "mode not in scope: pedestrian",
        Mode::Ferry => "mode not in scope: ferry",
        Mode::Rail => "mode not in scope: rail",
        Mode::Bus => "mode not in scope: bus",
        Mode::Sea => "mode not in scope: sea",
    }
}

/// "CAN", "CAN or USA", "CAN, USA or MEX".
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Parses the plugin's `config` table (as JSON). Every error names the key
/// and says what to write instead.
pub fn parse_config(json: &str) -> Result<Rules, String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| format!("the configuration is not valid JSON ({e})"))?;
    let Value::Object(map) = value else {
        return Err(format!(
            "the configuration must be a table such as {{\"ports\": \"*\", \"modes\": {DEFAULT_MODES_EXAMPLE}, \"citizens_of\": [\"CAN\", \"USA\"]}}, not {}",
            describe(&value)
        ));
    };
    check_keys(&map)?;
    let ports = match map.get("ports") {
        None => Ports::All,
        Some(v) => parse_ports(v)?,
    };
    let modes = match map.get("modes") {
        None => DEFAULT_MODES.to_vec(),
        Some(v) => parse_modes(v)?,
    };
    let citizens_of = match map.get("citizens_of") {
        None => DEFAULT_CITIZENS_OF.iter().map(|c| c.to_string()).collect(),
        Some(v) => parse_citizens_of(v)?,
    };
    Ok(Rules::new(ports, &modes, citizens_of))
}

fn check_keys(map: &Map<String, Value>) -> Result<(), String> {
    for key in map.keys() {
        if KEYS.contains(&key.as_str()) {
            continue;
        }
        let squashed = squash(key);
        let hint = match KEYS.iter().find(|k| squash(k) == squashed) {
            Some(k) => format!("did you mean {k}? "),
            None => String::new(),
        };
        return Err(format!(
            "unknown key {key:?}; {hint}the eligibility filter takes only ports, modes and citizens_of"
        ));
    }
    Ok(())
}

fn squash(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn parse_ports(value: &Value) -> Result<Ports, String> {
    let list = match value {
        Value::String(s) if s == "*" => return Ok(Ports::All),
        Value::String(s) => {
            let example = if s.bytes().any(|b| b.is_ascii_digit()) {
                s.as_str()
            } else {
                "0427"
            };
            return Err(format!(
                "ports: {s:?} is not allowed; write \"*\" for every port or a list such as [{example:?}]"
            ));
        }
        Value::Array(list) => list,
        other => {
            return Err(format!(
                "ports: expected \"*\" or a list of port codes such as [\"0427\", \"0901\"], not {}",
                describe(other)
            ));
        }
    };
    if list.is_empty() {
        return Err(
            "ports: an empty list would withhold every crossing; list the ports in scope or write \"*\""
                .to_string(),
        );
    }
    let mut ports = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        match item {
            Value::String(s) if s.trim() == "*" => {
                return Err(format!(
                    "ports[{i}]: \"*\" cannot be mixed with port codes; write ports = \"*\" alone for every port"
                ));
            }
            Value::String(s) if !s.trim().is_empty() => {
                ports.insert(s.trim().to_string());
            }
            Value::String(_) => {
                return Err(format!(
                    "ports[{i}]: a port code cannot be empty; write the port's code, e.g. \"0427\""
                ));
            }
            Value::Number(n) => {
                return Err(format!(
                    "ports[{i}]: {n} is a number; write port codes as strings, e.g. \"0427\", so leading zeros are kept"
                ));
            }
            other => {
                return Err(format!(
                    "ports[{i}]: expected a port code string such as \"0427\", not {}",
                    describe(other)
                ));
            }
        }
    }
    Ok(Ports::Only(ports))
}

fn parse_modes(value: &Value) -> Result<Vec<Mode>, String> {
    let all_names = MODES.map(|(_, n)| n).join(", ");
    let Value::Array(list) = value else {
        return Err(format!(
            "modes: expected a list such as {DEFAULT_MODES_EXAMPLE}, not {}",
            describe(value)
        ));
    };
    if list.is_empty() {
        return Err(format!(
            "modes: an empty list would withhold every crossing; list the modes in scope, e.g. {DEFAULT_MODES_EXAMPLE}"
        ));
    }
    let mut modes = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let mode = match item {
            Value::String(s) => MODES
                .iter()
                .find(|(_, name)| name.eq_ignore_ascii_case(s.trim()))
                .map(|(m, _)| *m)
                .ok_or_else(|| {
                    format!("modes[{i}]: {s:?} is not a mode; use one of {all_names}")
                })?,
            other => {
                return Err(format!(
                    "modes[{i}]: expected a mode name (one of {all_names}), not {}",
                    describe(other)
                ));
            }
        };
        modes.push(mode);
    }
    Ok(modes)
}

fn parse_citizens_of(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(list) = value else {
        return Err(format!(
            "citizens_of: expected a list of ICAO country codes such as [\"CAN\", \"USA\"], not {}",
            describe(value)
        ));
    };
    if list.is_empty() {
        return Err(
            "citizens_of: an empty list would share citizens of every country; list at least one code, e.g. [\"CAN\", \"USA\"]"
                .to_string(),
        );
    }
    let mut codes: Vec<String> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let code = match item {
            Value::String(s) => {
                let s = s.trim();
                if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) {
                    s.to_ascii_uppercase()
                } else {
                    return Err(format!(
                        "citizens_of[{i}]: {s:?} is not an ICAO country code; write the three-letter code, e.g. \"CAN\""
                    ));
                }
            }
            other => {
                return Err(format!(
                    "citizens_of[{i}]: expected an ICAO country code such as \"CAN\", not {}",
                    describe(other)
                ));
            }
        };
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a table".to_string(),
    }
}

// The component side: state and translation only. Native builds leave it out
// because a native cdylib cannot carry the component's export names.
#[cfg(target_arch = "wasm32")]
thread_local! {
    // Calls before `configure` use the defaults.
    static RULES: RefCell<Rules> = RefCell::new(Rules::default());
}

#[cfg(target_arch = "wasm32")]
struct Plugin;

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::configurable::Guest for Plugin {
    fn configure(config_json: String) -> Result<(), String> {
        let rules = parse_config(&config_json)?;
        let ports = match &rules.ports {
            Ports::All => "all ports".to_string(),
            Ports::Only(p) => format!("{} ports", p.len()),
        };
        let modes: Vec<&str> = MODES
            .iter()
            .filter(|(m, _)| rules.modes[mode_index(*m)])
            .map(|(_, n)| *n)
            .collect();
        entrex::plugin::log::log(
            entrex::plugin::log::Level::Info,
            &format!(
                "sharing at {ports}, modes {}; withholding citizens of {}",
                modes.join(", "),
                or_list(&rules.citizens_of)
            ),
        );
        RULES.with(|r| *r.borrow_mut() = rules);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
impl exports::entrex::plugin::filter::Guest for Plugin {
    fn decide(crossings: Vec<Crossing>) -> Vec<Decision> {
        RULES.with(|r| decide(&r.borrow(), &crossings))
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrex::plugin::types::{PartialDate, Residency, Sex};

    fn crossing(nationality: &str, citizenships: &[&str], mode: Mode, port: &str) -> Crossing {
        Crossing {
            source_ref: "ref-1".to_string(),
            given_names: "Hans".to_string(),
            middle_names: String::new(),
            family_name: "Müller".to_string(),
            date_of_birth: PartialDate {
                year: 1980,
                month: Some(3),
                day: Some(7),
            },
            sex: Sex::Male,
            nationality: nationality.to_string(),
            document_type: "P".to_string(),
            document_number: "C01X00T47".to_string(),
            document_country: nationality.to_string(),
            crossed_at: 1_700_000_000,
            port_code: port.to_string(),
            mode,
            citizenships: citizenships.iter().map(|c| c.to_string()).collect(),
            residency: Vec::new(),
            authorised_stay_until: None,
        }
    }

    fn withheld(d: &Decision) -> Option<&str> {
        match d {
            Decision::Share => None,
            Decision::Withhold(r) => Some(r),
        }
    }

    const CITIZEN: Option<&str> = Some("citizen of CAN or USA");

    #[test]
    fn third_country_national_is_shared() {
        let rules = Rules::default();
        let c = crossing("DEU", &["DEU"], Mode::Vehicle, "0427");
        assert_eq!(withheld(&rules.decide(&c)), None);
    }

    #[test]
    fn citizens_are_never_shared() {
        let rules = Rules::default();
        for (nat, cits) in [
            ("CAN", &["CAN"][..]),
            ("USA", &[][..]),
            ("can", &[][..]),
            // Dual citizens travelling on a third country's passport.
            ("FRA", &["FRA", "CAN"][..]),
            ("MEX", &["MEX", "USA"][..]),
            ("GBR", &["GBR", " usa "][..]),
        ] {
            let c = crossing(nat, cits, Mode::Vehicle, "0427");
            assert_eq!(withheld(&rules.decide(&c)), CITIZEN, "{nat} {cits:?}");
        }
    }

    #[test]
    fn permanent_residents_are_shared_unless_citizens() {
        let rules = Rules::default();
        let mut pr = crossing("IND", &["IND"], Mode::Pedestrian, "0427");
        pr.residency = vec![Residency::CanadaPermanentResident];
        assert_eq!(withheld(&rules.decide(&pr)), None);

        let mut lpr = crossing("PHL", &["PHL"], Mode::Ferry, "0427");
        lpr.residency = vec![Residency::UsLawfulPermanentResident];
        assert_eq!(withheld(&rules.decide(&lpr)), None);

        // A Canadian PR who is also a US citizen.
        let mut pr_us = crossing("IND", &["IND", "USA"], Mode::Vehicle, "0427");
        pr_us.residency = vec![Residency::CanadaPermanentResident];
        assert_eq!(withheld(&rules.decide(&pr_us)), CITIZEN);

        // A US LPR who is also a Canadian citizen.
        let mut lpr_ca = crossing("PHL", &["PHL", "CAN"], Mode::Vehicle, "0427");
        lpr_ca.residency = vec![Residency::UsLawfulPermanentResident];
        assert_eq!(withheld(&rules.decide(&lpr_ca)), CITIZEN);
    }

    #[test]
    fn unknown_nationality_is_withheld() {
        let rules = Rules::default();
        let c = crossing(" ", &[""], Mode::Vehicle, "0427");
        assert_eq!(
            withheld(&rules.decide(&c)),
            Some(REASON_NATIONALITY_UNKNOWN)
        );
        // Known through the local citizenship list only: fine.
        let c = crossing("", &["FRA"], Mode::Vehicle, "0427");
        assert_eq!(withheld(&rules.decide(&c)), None);
    }

    #[test]
    fn default_modes() {
        let rules = Rules::default();
        for (mode, expected) in [
            (Mode::Vehicle, None),
            (Mode::Pedestrian, None),
            (Mode::Ferry, None),
            (Mode::Bus, None),
            (Mode::Rail, Some("mode not in scope: rail")),
            (Mode::Sea, Some("mode not in scope: sea")),
        ] {
            let c = crossing("DEU", &[], mode, "0427");
            assert_eq!(withheld(&rules.decide(&c)), expected);
        }
    }

    #[test]
    fn citizen_rule_comes_first() {
        let rules = parse_config(r#"{"ports": ["0427"]}"#).unwrap();
        let c = crossing("CAN", &[], Mode::Sea, "9999");
        assert_eq!(withheld(&rules.decide(&c)), CITIZEN);
        let c = crossing("DEU", &[], Mode::Sea, "9999");
        assert_eq!(withheld(&rules.decide(&c)), Some("mode not in scope: sea"));
    }

    #[test]
    fn configured_ports_and_modes() {
        let rules =
            parse_config(r#"{"ports": ["0427", " 0901 "], "modes": ["rail", "Vehicle"]}"#).unwrap();
        let decisions = decide(
            &rules,
            &[
                crossing("DEU", &[], Mode::Vehicle, "0427"),
                crossing("DEU", &[], Mode::Rail, "0901"),
                crossing("DEU", &[], Mode::Vehicle, "0428"),
                crossing("DEU", &[], Mode::Pedestrian, "0427"),
            ],
        );
        let reasons: Vec<_> = decisions.iter().map(withheld).collect();
        assert_eq!(
            reasons,
            [
                None,
                None,
                Some(REASON_PORT),
                Some("mode not in scope: pedestrian")
            ]
        );
    }

    #[test]
    fn configured_citizenships() {
        let rules = parse_config(r#"{"citizens_of": ["CAN", "mex", "D"]}"#).unwrap();
        let c = crossing("MEX", &[], Mode::Vehicle, "1");
        assert_eq!(
            withheld(&rules.decide(&c)),
            Some("citizen of CAN, MEX or D")
        );
        let c = crossing("USA", &[], Mode::Vehicle, "1");
        assert_eq!(withheld(&rules.decide(&c)), None);
    }

    #[test]
    fn empty_config_and_explicit_defaults_match() {
        let rules = parse_config("{}").unwrap();
        assert_eq!(rules.ports, Ports::All);
        assert_eq!(rules.modes, Rules::default().modes);
        assert_eq!(rules.citizens_of, ["CAN", "USA"]);
        let explicit = parse_config(
            r#"{"ports": "*", "modes": ["vehicle", "pedestrian", "ferry", "bus"], "citizens_of": ["CAN", "USA"]}"#,
        )
        .unwrap();
        assert_eq!(explicit.modes, rules.modes);
        assert_eq!(explicit.citizen_reason, "citizen of CAN or USA");
    }

    #[test]
    fn bad_config_names_key_and_fix() {
        let cases = [
            (
                r#"{"modes": ["vehicle", "ferry", "boat"]}"#,
                r#"modes[2]: "boat" is not a mode; use one of vehicle, pedestrian, ferry, rail, bus, sea"#,
            ),
            (r#"{"prots": "*"}"#, r#"unknown key "prots""#),
            (r#"{"citizens-of": ["CAN"]}"#, "did you mean citizens_of?"),
            (
                r#"{"ports": "all"}"#,
                r#"ports: "all" is not allowed; write "*""#,
            ),
            (
                r#"{"ports": [427]}"#,
                r#"ports[0]: 427 is a number; write port codes as strings"#,
            ),
            (r#"{"ports": []}"#, "ports: an empty list"),
            (r#"{"ports": ["0427", "*"]}"#, "ports[1]"),
            (
                r#"{"ports": [""]}"#,
                "ports[0]: a port code cannot be empty",
            ),
            (r#"{"ports": null}"#, "ports: expected"),
            (r#"{"modes": "vehicle"}"#, "modes: expected a list"),
            (r#"{"modes": []}"#, "modes: an empty list"),
            (r#"{"modes": [1]}"#, "modes[0]: expected a mode name"),
            (
                r#"{"citizens_of": ["Canada"]}"#,
                r#"citizens_of[0]: "Canada" is not an ICAO"#,
            ),
            (r#"{"citizens_of": []}"#, "citizens_of: an empty list"),
            (r#"{"citizens_of": "CAN"}"#, "citizens_of: expected a list"),
            ("[]", "the configuration must be a table"),
            ("not json", "not valid JSON"),
        ];
        for (json, expected) in cases {
            let err = parse_config(json).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn reasons_carry_no_personal_data() {
        let rules = parse_config(r#"{"ports": ["0427"], "modes": ["vehicle"]}"#).unwrap();
        let mut reasons = BTreeSet::new();
        for nat in ["CAN", "DEU", ""] {
            for (mode, _) in MODES {
                for port in ["0427", "0428"] {
                    if let Decision::Withhold(r) = rules.decide(&crossing(nat, &[], mode, port)) {
                        reasons.insert(r);
                    }
                }
            }
        }
        let expected: BTreeSet<String> = [
            "citizen of CAN or USA",
            "nationality unknown",
            "port not in scope",
            "mode not in scope: pedestrian",
            "mode not in scope: ferry",
            "mode not in scope: rail",
            "mode not in scope: bus",
            "mode not in scope: sea",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(reasons, expected);
    }
}
