//! A hostile normaliser, for the hub's tests only: it behaves like a simple
//! well-formed normaliser except on the records that ask it to misbehave, so
//! the tests can show that the hub contains the damage (fuel or deadline,
//! memory cap, stack limit, trap, output cap) and keeps the rest of the batch.
//!
//! A batch is UTF-8 text; every non-blank line is one record, located as
//! `line N`, of the form `ID,BEHAVIOUR`. See README.md for the behaviours.
//! The parsing and the well-formed crossing are plain Rust, tested natively;
//! the misbehaviours run only when `normalise` reaches their record.

wit_bindgen::generate!({ world: "normaliser", path: "../../wit" });

use std::hint::black_box;

#[cfg(target_arch = "wasm32")]
use exports::entrex::plugin::{configurable, normalise};

use crate::entrex::plugin::types::{Crossing, Mode, PartialDate, Rejection, Sex, SourceRecord};

/// When every `ok` crossing was admitted: 2026-11-21T10:00:00Z.
pub const CROSSED_AT: i64 = 1_795_255_200;

/// The length of the family name a `huge` record returns: 64 MiB.
pub const HUGE_LEN: usize = 64 << 20;

/// How much a `memory` record allocates per step: 16 MiB.
const MEMORY_BLOCK: usize = 16 << 20;

/// What one record asks the plugin to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Return a valid crossing.
    Ok,
    /// Never return.
    Loop,
    /// Allocate until allocation fails.
    Memory,
    /// Recurse until the stack overflows.
    Stack,
    /// Panic (abort, so a trap on wasm32).
    Trap,
    /// Return a crossing with a 64 MiB family name.
    Huge,
    /// Return an ordinary rejection.
    Reject,
}

impl Behaviour {
    pub fn parse(word: &str) -> Option<Behaviour> {
        Some(match word {
            "ok" => Behaviour::Ok,
            "loop" => Behaviour::Loop,
            "memory" => Behaviour::Memory,
            "stack" => Behaviour::Stack,
            "trap" => Behaviour::Trap,
            "huge" => Behaviour::Huge,
            "reject" => Behaviour::Reject,
            _ => return None,
        })
    }
}

/// The behaviours, as written in a record.
pub const BEHAVIOURS: [&str; 7] = ["ok", "loop", "memory", "stack", "trap", "huge", "reject"];

// The exports' symbol names are not valid in a native linker script, so the
// component glue exists for wasm32 only.
#[cfg(target_arch = "wasm32")]
struct Plugin;

#[cfg(target_arch = "wasm32")]
impl configurable::Guest for Plugin {
    fn configure(config_json: String) -> Result<(), String> {
        configure(&config_json)
    }
}

#[cfg(target_arch = "wasm32")]
impl normalise::Guest for Plugin {
    fn split(batch: Vec<u8>) -> Result<Vec<SourceRecord>, String> {
        split_batch(&batch)
    }

    fn normalise(records: Vec<SourceRecord>) -> Vec<Result<Crossing, Rejection>> {
        normalise_records(&records)
    }
}

#[cfg(target_arch = "wasm32")]
export!(Plugin);

/// Any configuration is accepted and ignored.
pub fn configure(_config_json: &str) -> Result<(), String> {
    Ok(())
}

/// Every non-blank line (CR of a CRLF removed) is one record, `line N`
/// counting from 1. A batch that is not UTF-8 is refused; an empty batch
/// gives no records.
pub fn split_batch(batch: &[u8]) -> Result<Vec<SourceRecord>, String> {
    let text = std::str::from_utf8(batch).map_err(|e| {
        format!("the batch is not UTF-8 ({e}); expected lines of the form ID,BEHAVIOUR")
    })?;
    Ok(text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| SourceRecord {
            location: format!("line {n}"),
            data: line.as_bytes().to_vec(),
        })
        .collect())
}

/// Normalises the records in order: a record that never returns (or traps)
/// stops the whole call there.
pub fn normalise_records(records: &[SourceRecord]) -> Vec<Result<Crossing, Rejection>> {
    records.iter().map(|r| normalise_record(&r.data)).collect()
}

fn rejection(field: Option<&str>, reason: String) -> Rejection {
    Rejection {
        field: field.map(str::to_string),
        reason,
    }
}

/// Reads `ID,BEHAVIOUR` (both trimmed; the ID is everything before the first
/// comma) and acts on it.
pub fn normalise_record(data: &[u8]) -> Result<Crossing, Rejection> {
    let line = std::str::from_utf8(data).map_err(|_| {
        rejection(
            None,
            "the record is not UTF-8; write ID,BEHAVIOUR".to_string(),
        )
    })?;
    let Some((id, word)) = line.split_once(',') else {
        return Err(rejection(
            None,
            "the record has no comma; write ID,BEHAVIOUR".to_string(),
        ));
    };
    let (id, word) = (id.trim(), word.trim());
    if id.is_empty() {
        return Err(rejection(
            Some("id"),
            "the ID is empty; write ID,BEHAVIOUR with a non-empty ID".to_string(),
        ));
    }
    let Some(behaviour) = Behaviour::parse(word) else {
        return Err(rejection(
            Some("behaviour"),
            format!(
                "unknown behaviour `{word}`; expected one of {}",
                BEHAVIOURS.join(", ")
            ),
        ));
    };
    match behaviour {
        Behaviour::Ok => Ok(crossing(id)),
        Behaviour::Reject => Err(rejection(
            Some("behaviour"),
            "rejected on request (behaviour `reject`)".to_string(),
        )),
        Behaviour::Huge => {
            let mut huge = crossing(id);
            huge.family_name = "A".repeat(HUGE_LEN);
            Ok(huge)
        }
        Behaviour::Loop => spin(),
        Behaviour::Memory => hoard(),
        Behaviour::Stack => {
            let depth = recurse(0);
            // Unreachable in practice: `recurse` only returns at depth
            // u64::MAX.
            Err(rejection(
                Some("behaviour"),
                format!("the stack held {depth} frames"),
            ))
        }
        Behaviour::Trap => panic!("hostile plugin: trap on request"),
    }
}

/// The well-formed crossing an `ok` record becomes.
pub fn crossing(id: &str) -> Crossing {
    Crossing {
        source_ref: id.to_string(),
        given_names: "ANNA".to_string(),
        middle_names: String::new(),
        family_name: "ERIKSSON".to_string(),
        date_of_birth: PartialDate {
            year: 1974,
            month: Some(8),
            day: Some(12),
        },
        sex: Sex::Female,
        nationality: "SWE".to_string(),
        document_type: "P".to_string(),
        document_number: document_number(id),
        document_country: "SWE".to_string(),
        crossed_at: CROSSED_AT,
        port_code: "0427".to_string(),
        mode: Mode::Vehicle,
        citizenships: vec!["SWE".to_string()],
        residency: Vec::new(),
        authorised_stay_until: None,
    }
}

/// A document number unique to the ID, 2-32 upper-case letters and digits:
/// `X` + the ID itself when it is already 1-31 upper-case ASCII letters and
/// digits, otherwise `D` + the 20-digit FNV-1a 64 hash of the ID. (The
/// prefixes keep the two forms apart.)
pub fn document_number(id: &str) -> String {
    let plain = (1..=31).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if plain {
        return format!("X{id}");
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("D{hash:020}")
}

/// Read through a volatile load so the compiler can neither prove the loops
/// below endless-and-pure nor know when the recursion stops.
static NEVER: bool = false;

fn never() -> bool {
    // SAFETY: a plain read of a static bool.
    unsafe { std::ptr::read_volatile(&NEVER) }
}

/// `loop`: spins forever. Each turn does a volatile read, which the
/// compiler may not remove, so the loop stays in the code; only the host's
/// fuel or epoch deadline ends it.
fn spin() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
        if never() && turns == 0 {
            break;
        }
    }
    panic!("hostile plugin: the endless loop ended");
}

/// `memory`: keeps 16 MiB blocks, writing to every 4 KiB page of each,
/// until an allocation fails (an abort, so a trap on wasm32) at the host's
/// memory cap or at the 4 GiB of wasm32.
fn hoard() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; MEMORY_BLOCK];
        for (i, page) in block.chunks_mut(4096).enumerate() {
            page[0] = i as u8 | 1;
        }
        blocks.push(black_box(block));
        if never() {
            break;
        }
    }
    black_box(&blocks);
    panic!("hostile plugin: memory never ran out");
}

/// `stack`: recurses until the call stack overflows. Sixteen values live
/// across each call make a real frame, the result is used after the call
/// (no tail call, no accumulator loop), and the stop condition is a
/// volatile read. Only wasm locals are used (no address-taken locals), so
/// the wasm call stack overflows, not the shadow stack in linear memory.
fn recurse(depth: u64) -> u64 {
    if never() {
        return depth;
    }
    let v: [u64; 16] =
        std::array::from_fn(|i| depth.wrapping_mul(i as u64 + 3) ^ depth.rotate_left(i as u32));
    let below = recurse(depth.wrapping_add(1));
    let mut out = below;
    for (i, x) in v.iter().enumerate() {
        out = out.rotate_left(i as u32 + 1) ^ x.wrapping_mul(below | 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Result<Crossing, Rejection> {
        normalise_record(line.as_bytes())
    }

    #[test]
    fn split_skips_blank_lines_and_counts_lines() {
        let records = split_batch(b"a,ok\r\n\n  \nb,reject\nc,trap").unwrap();
        let got: Vec<(&str, &[u8])> = records
            .iter()
            .map(|r| (r.location.as_str(), r.data.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("line 1", &b"a,ok"[..]),
                ("line 4", b"b,reject"),
                ("line 5", b"c,trap")
            ]
        );
        assert!(split_batch(b"").unwrap().is_empty());
        assert!(split_batch(b"\xff,ok").is_err());
    }

    #[test]
    fn ok_is_a_valid_crossing() {
        let c = record(" r1 , ok ").unwrap();
        assert_eq!(c.source_ref, "r1");
        assert_eq!(c.family_name, "ERIKSSON");
        assert_eq!(c.crossed_at, CROSSED_AT);
        let n = &c.document_number;
        assert!((1..=32).contains(&n.len()), "{n}");
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }

    #[test]
    fn document_numbers_differ_per_id() {
        let ids = ["A1", "a1", "a-1", "A-1", "D1", "X", "", "r1", "r2"];
        let mut numbers: Vec<String> = ids.iter().map(|id| document_number(id)).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), ids.len());
        assert_eq!(document_number("A1"), "XA1");
        assert!(document_number(&"A".repeat(40)).len() <= 32);
    }

    #[test]
    fn rejections_name_the_field() {
        assert_eq!(
            record("r,reject").unwrap_err().field.as_deref(),
            Some("behaviour")
        );
        assert_eq!(
            record("r,explode").unwrap_err().field.as_deref(),
            Some("behaviour")
        );
        assert_eq!(record(",ok").unwrap_err().field.as_deref(), Some("id"));
        assert_eq!(record("r ok").unwrap_err().field, None);
    }

    #[test]
    fn behaviours_parse() {
        for word in BEHAVIOURS {
            assert!(Behaviour::parse(word).is_some(), "{word}");
        }
        assert_eq!(Behaviour::parse("OK"), None);
    }
}
