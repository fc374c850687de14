//! What analysts ask of one hub's records, beyond the joint report:
//!
//! - **overstays** ([`overstays`]): our entries whose authorised stay has run
//!   out and to which no exit is linked, as of a moment. They come from the
//!   open-stay index (`store/derived.rs`), which the matcher's transactions
//!   keep current: a late exit linked to an entry takes it off the list, an
//!   amendment that undoes the link puts it back. A request reads only the
//!   open stays that have run out, never the closed ones.
//! - **travel history and presence** ([`travel_history`]): one person's
//!   entries here with the exits the partner recorded (linked by the
//!   matcher), the stays they make, the days present in a window, and the
//!   Canadian PR residency and citizenship calculators (`presence.rs`).
//!
//! Both answer with personal data: the HTTP routes require a `purpose`.

use serde::{Deserialize, Serialize};

use crate::hub::Core;
use crate::plugins::PluginError;
use crate::presence::{self, Day, Event, Movement, day_of};
use crate::record::{Mode, PartialDate, Sex, SharedRecord, Timestamp};
use crate::report::date;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the matcher plugin failed on the query: {0}")]
    Plugin(#[from] PluginError),
}

/// An entry of ours, with what an analyst needs to act on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    pub entry_id: u64,
    pub source_ref: String,
    pub family_name: String,
    pub given_names: String,
    pub middle_names: String,
    pub date_of_birth: String,
    pub sex: Sex,
    pub nationality: String,
    pub document_type: String,
    pub document_number: String,
    pub document_country: String,
    pub entered_at: Timestamp,
    pub port: String,
    pub mode: Mode,
    pub authorised_stay_until: Option<Timestamp>,
}

fn entry_view(entry_id: u64, c: &crate::record::Crossing) -> EntryView {
    EntryView {
        entry_id,
        source_ref: c.source_ref.clone(),
        family_name: c.family_name.clone(),
        given_names: c.given_names.clone(),
        middle_names: c.middle_names.clone(),
        date_of_birth: c.date_of_birth.to_string(),
        sex: c.sex,
        nationality: c.nationality.clone(),
        document_type: c.document_type.clone(),
        document_number: c.document_number.clone(),
        document_country: c.document_country.clone(),
        entered_at: c.crossed_at,
        port: c.port_code.clone(),
        mode: c.mode,
        authorised_stay_until: c.authorised_stay_until,
    }
}

/// `GET /v1/overstays`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverstayList {
    pub hub: String,
    pub as_of: Timestamp,
    /// How many there are (at `port`, if given), whatever `limit` listed.
    pub total: u64,
    /// Oldest authorised stay first, at most `limit`.
    pub overstays: Vec<Overstay>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overstay {
    #[serde(flatten)]
    pub entry: EntryView,
    /// Days from the last authorised day to the day of `as_of` (UTC).
    pub days_over: i64,
}

/// Overstays as of `as_of`: entries whose authorised stay ended before it
/// and to which no exit is linked, oldest stay first; at most `limit` listed.
pub fn overstays(
    core: &Core,
    as_of: Timestamp,
    port: Option<&str>,
    limit: usize,
) -> Result<OverstayList, StoreError> {
    let mut total = 0;
    let mut ids = Vec::new();
    core.store.open_stays_before(as_of, |stay| {
        if port.is_some_and(|p| p != stay.port) {
            return true;
        }
        total += 1;
        if ids.len() < limit {
            ids.push(stay.entry_id);
        }
        true
    })?;
    let mut list = Vec::with_capacity(ids.len());
    for id in ids {
        // The index and the crossing are written in one transaction; a
        // crossing withdrawn since the scan is simply left out.
        let Some(stored) = core.store.crossing(id)? else {
            continue;
        };
        let until = stored.crossing.authorised_stay_until.unwrap_or(as_of);
        list.push(Overstay {
            entry: entry_view(id, &stored.crossing),
            days_over: day_of(as_of) - day_of(until),
        });
    }
    Ok(OverstayList {
        hub: core.settings.hub_id.clone(),
        as_of,
        total,
        overstays: list,
    })
}

/// Whom to look up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Person {
    /// Every entry made with this travel document.
    Document { country: String, number: String },
    /// Every entry the matcher links to this name and date of birth (at or
    /// above `[matching] link_threshold`), across documents.
    Name {
        family_name: String,
        given_names: String,
        date_of_birth: PartialDate,
    },
}

#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub person: Person,
    /// The day the history is read on ("today"): an entry with no exit is
    /// taken as present until this day.
    pub as_of: Day,
    /// The window for `days_present` (inclusive); by default the five years
    /// before `as_of`.
    pub from: Option<Day>,
    pub to: Option<Day>,
    /// With it, the PR residency and citizenship calculators run (on `as_of`).
    pub became_pr: Option<Day>,
}

/// One trip: an entry here, and the exit the partner recorded, if linked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub entry: EntryView,
    /// The matcher's score for the entry against the name looked up.
    pub lookup_score: Option<f64>,
    pub exit: Option<ExitView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitView {
    pub partner: String,
    pub exit_seq: u64,
    /// When the person entered the partner's country (left ours).
    pub at: Timestamp,
    pub port: String,
    pub document_type: String,
    pub document_number: String,
    pub document_country: String,
    pub match_score: f64,
}

/// A stay with dates written out (`presence::Stay` counts in day numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayView {
    pub from: String,
    pub to: String,
    pub days: i64,
    pub open: bool,
    pub entry_recorded: bool,
    pub unpaired: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaysPresent {
    pub from: String,
    pub to: String,
    pub days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidencyView {
    pub basis: presence::ResidencyBasis,
    pub window_from: String,
    pub window_to: String,
    pub days_present: u32,
    pub required: u32,
    pub met: bool,
    pub shortfall: u32,
    pub earliest_date_met: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenshipView {
    pub window_from: String,
    pub window_to: String,
    pub days_as_pr: u32,
    pub days_before_pr: u32,
    pub credited_before_pr: u32,
    pub total_credited: u32,
    pub required: u32,
    pub met: bool,
    pub shortfall: u32,
    pub earliest_date_met: Option<String>,
}

/// `GET /v1/travel-history`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TravelHistory {
    pub hub: String,
    pub person: Person,
    pub as_of: String,
    /// Oldest entry first.
    pub trips: Vec<Trip>,
    pub stays: Vec<StayView>,
    pub days_present: DaysPresent,
    pub became_pr: Option<String>,
    pub pr_residency: Option<ResidencyView>,
    pub citizenship: Option<CitizenshipView>,
    /// What the figures cannot know, for the person reading them.
    pub caveats: Vec<String>,
}

/// Entries looked up per blocking key: a frequent traveller's whole history,
/// not just the latest few the matcher considers for an exit.
const HISTORY_MAX_PER_KEY: usize = 10_000;

/// One person's travel history and presence, from our entries and the exits
/// the partner recorded that the matcher linked to them.
pub fn travel_history(core: &Core, q: &HistoryQuery) -> Result<TravelHistory, InsightError> {
    let store = &core.store;
    let probe = probe(&q.person, q.as_of);
    let matcher = core.plugins().matcher.clone();
    let keys = matcher
        .block_keys(std::slice::from_ref(&probe))?
        .pop()
        .unwrap_or_default();
    let mut found = Vec::new();
    for id in store.candidates(&keys, HISTORY_MAX_PER_KEY)? {
        if let Some(stored) = store.crossing(id)? {
            found.push((id, stored.crossing));
        }
    }
    let scores: Vec<Option<f64>> = match &q.person {
        Person::Document { country, number } => found
            .iter()
            .map(|(_, c)| {
                (same_code(&c.document_country, country) && same_code(&c.document_number, number))
                    .then_some(1.0)
            })
            .collect(),
        Person::Name { .. } => {
            let projected: Vec<SharedRecord> = found.iter().map(|(_, c)| c.project()).collect();
            let pairs: Vec<(&SharedRecord, &SharedRecord)> =
                projected.iter().map(|e| (e, &probe)).collect();
            let threshold = core.settings.matching.link_threshold;
            matcher
                .score(&pairs)?
                .into_iter()
                .map(|s| (s >= threshold).then_some(s))
                .collect()
        }
    };
    let mut trips = Vec::new();
    let mut events = Vec::new();
    for ((id, crossing), score) in found.into_iter().zip(scores) {
        let Some(score) = score else { continue };
        events.push(Event {
            at: crossing.crossed_at,
            movement: Movement::Entry,
        });
        let mut exit = None;
        if let Some((partner, seq)) = store.exit_of_entry(id)?
            && let Some(entry) = store.inbox_record(&partner, seq)?
            && let Some(r) = entry.record()
        {
            let match_score = store.match_for(&partner, seq)?.map_or(0.0, |m| m.score);
            events.push(Event {
                at: r.entered_at,
                movement: Movement::Exit,
            });
            exit = Some(ExitView {
                partner,
                exit_seq: seq,
                at: r.entered_at,
                port: r.port_code.clone(),
                document_type: r.document_type.clone(),
                document_number: r.document_number.clone(),
                document_country: r.document_country.clone(),
                match_score,
            });
        }
        trips.push(Trip {
            entry: entry_view(id, &crossing),
            lookup_score: matches!(q.person, Person::Name { .. }).then_some(score),
            exit,
        });
    }
    trips.sort_by_key(|t| (t.entry.entered_at, t.entry.entry_id));

    // Every event here is an entry or an exit linked to one, so the first
    // event is an entry and `known_from` never comes into play.
    let first = events.iter().map(|e| day_of(e.at)).min().unwrap_or(q.as_of);
    let stays = presence::stays(&events, first, q.as_of);
    let window_to = q.to.unwrap_or(q.as_of - 1);
    let window_from = q.from.unwrap_or(presence::add_years(q.as_of, -5));
    let days = presence::days_present(&stays, window_from, window_to);
    let (pr, citizenship) = match q.became_pr {
        Some(pr) => (
            Some(residency_view(presence::pr_residency(&stays, pr, q.as_of))),
            Some(citizenship_view(presence::citizenship(&stays, pr, q.as_of))),
        ),
        None => (None, None),
    };
    let mut caveats = vec![
        "Days are UTC calendar days; a day with any presence counts as a day present.".to_owned(),
        "Exits are known only from the partner's entry records (land, ferry and pedestrian crossings exchanged under the agreement) that the matcher linked to an entry here; a departure by air, or one the matcher did not link, is not on record, so an open stay or a long stay may be an upper bound.".to_owned(),
    ];
    if stays.iter().any(|s| s.unpaired > 0) {
        caveats.push("Some entries follow one another with no exit between them (unpaired > 0): a departure is missing from the records; ask the person for those periods.".into());
    }
    if q.became_pr.is_some() {
        caveats.push("The calculators count presence only: periods that do not count (e.g. without temporary resident status before PR) must be taken out by the caseworker; the result is an aid, not a decision.".into());
    }
    Ok(TravelHistory {
        hub: core.settings.hub_id.clone(),
        person: q.person.clone(),
        as_of: date(q.as_of),
        trips,
        stays: stays
            .iter()
            .map(|s| StayView {
                from: date(s.from),
                to: date(s.to),
                days: s.to - s.from + 1,
                open: s.open,
                entry_recorded: s.entry_recorded,
                unpaired: s.unpaired,
            })
            .collect(),
        days_present: DaysPresent {
            from: date(window_from),
            to: date(window_to),
            days,
        },
        became_pr: q.became_pr.map(date),
        pr_residency: pr,
        citizenship,
        caveats,
    })
}

/// The query as a shared record, for the matcher's keys and scores.
fn probe(person: &Person, as_of: Day) -> SharedRecord {
    let mut r = SharedRecord {
        given_names: String::new(),
        family_name: String::new(),
        middle_names: String::new(),
        date_of_birth: PartialDate {
            year: 1900,
            month: None,
            day: None,
        },
        nationality: String::new(),
        sex: Sex::X,
        document_type: String::new(),
        document_number: String::new(),
        document_country: String::new(),
        entered_at: as_of * presence::SECONDS_PER_DAY,
        port_code: String::new(),
    };
    match person {
        Person::Document { country, number } => {
            r.document_country = country.to_ascii_uppercase();
            r.document_number = number.to_ascii_uppercase();
        }
        Person::Name {
            family_name,
            given_names,
            date_of_birth,
        } => {
            r.family_name = collapse_upper(family_name);
            r.given_names = collapse_upper(given_names);
            r.date_of_birth = *date_of_birth;
        }
    }
    r
}

fn collapse_upper(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Document codes compared as the matcher does: letters and digits only,
/// upper case; Germany's `D` is `DEU`.
fn same_code(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s: String = s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if s == "D" { "DEU".to_owned() } else { s }
    };
    norm(a) == norm(b)
}

fn residency_view(r: presence::ResidencyCheck) -> ResidencyView {
    ResidencyView {
        basis: r.basis,
        window_from: date(r.window_from),
        window_to: date(r.window_to),
        days_present: r.days_present,
        required: r.required,
        met: r.met,
        shortfall: r.shortfall,
        earliest_date_met: r.earliest_date_met.map(date),
    }
}

fn citizenship_view(c: presence::CitizenshipCheck) -> CitizenshipView {
    CitizenshipView {
        window_from: date(c.window_from),
        window_to: date(c.window_to),
        days_as_pr: c.days_as_pr,
        days_before_pr: c.days_before_pr,
        credited_before_pr: c.credited_before_pr,
        total_credited: c.total_credited,
        required: c.required,
        met: c.met,
        shortfall: c.shortfall,
        earliest_date_met: c.earliest_date_met.map(date),
    }
}

fn name_line(e: &EntryView) -> String {
    let given = [e.given_names.as_str(), e.middle_names.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{}, {} (born {}, {:?}, {}), {} {}:{}",
        e.family_name,
        given,
        e.date_of_birth,
        e.sex,
        e.nationality,
        e.document_type,
        e.document_country,
        e.document_number
    )
}

impl OverstayList {
    /// For people: one line per overstay.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{}: {} overstay(s) as of {} (entries whose authorised stay ended with no exit recorded)\n",
            self.hub,
            self.total,
            crate::record::format_time(self.as_of)
        );
        for o in &self.overstays {
            let e = &o.entry;
            let _ = writeln!(
                out,
                "  entry {} ({}): {}; entered {} at {}, stay until {}, {} day(s) over",
                e.entry_id,
                e.source_ref,
                name_line(e),
                crate::record::format_time(e.entered_at),
                e.port,
                e.authorised_stay_until
                    .map(|t| date(day_of(t)))
                    .unwrap_or_default(),
                o.days_over
            );
        }
        if (self.overstays.len() as u64) < self.total {
            let _ = writeln!(
                out,
                "  … {} more (raise --limit)",
                self.total - self.overstays.len() as u64
            );
        }
        out
    }
}

impl TravelHistory {
    /// For people: the trips, the stays, the days and the calculators.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let who = match &self.person {
            Person::Document { country, number } => format!("document {country}:{number}"),
            Person::Name {
                family_name,
                given_names,
                date_of_birth,
            } => format!("{family_name}, {given_names} born {date_of_birth}"),
        };
        let _ = writeln!(
            out,
            "{}: travel history of {who} as of {}",
            self.hub, self.as_of
        );
        if self.trips.is_empty() {
            let _ = writeln!(out, "  no entries found");
        }
        for t in &self.trips {
            let e = &t.entry;
            let exit = match &t.exit {
                Some(x) => format!(
                    "left {} into {} at {}",
                    crate::record::format_time(x.at),
                    x.partner,
                    x.port
                ),
                None => "no exit recorded".into(),
            };
            let _ = writeln!(
                out,
                "  entered {} at {} ({}): {exit}",
                crate::record::format_time(e.entered_at),
                e.port,
                name_line(e)
            );
        }
        for s in &self.stays {
            let _ = writeln!(
                out,
                "  stay {} to {}: {} day(s){}{}",
                s.from,
                s.to,
                s.days,
                if s.open { ", open" } else { "" },
                if s.unpaired > 0 {
                    ", records missing inside"
                } else {
                    ""
                }
            );
        }
        let d = &self.days_present;
        let _ = writeln!(out, "  days present {} to {}: {}", d.from, d.to, d.days);
        if let Some(r) = &self.pr_residency {
            let _ = writeln!(
                out,
                "  PR residency ({:?}, {} to {}): {} of {} days, {}{}",
                r.basis,
                r.window_from,
                r.window_to,
                r.days_present,
                r.required,
                if r.met { "met" } else { "not met" },
                r.earliest_date_met
                    .as_ref()
                    .filter(|_| !r.met)
                    .map(|d| format!(", would be met on {d} if present from now on"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &self.citizenship {
            let _ = writeln!(
                out,
                "  citizenship ({} to {}): {} as PR + {} credited of {} before PR = {} of {} days, {}{}",
                c.window_from,
                c.window_to,
                c.days_as_pr,
                c.credited_before_pr,
                c.days_before_pr,
                c.total_credited,
                c.required,
                if c.met { "met" } else { "not met" },
                c.earliest_date_met
                    .as_ref()
                    .filter(|_| !c.met)
                    .map(|d| format!(", would be met on {d} if present from now on"))
                    .unwrap_or_default()
            );
        }
        for c in &self.caveats {
            let _ = writeln!(out, "  note: {c}");
        }
        out
    }
}

/// A pair in clerical review, with both records for a person to compare.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReviewPair {
    pub partner: String,
    pub exit_seq: u64,
    pub score: f64,
    /// The partner's record (our exit).
    pub exit: SharedRecord,
    pub entry_id: u64,
    /// Our entry, as the shared elements (what the matcher compared).
    pub entry: Option<SharedRecord>,
}

/// Pairs in review, per partner in sequence order, at most `limit` in all.
pub fn review_pairs(
    core: &Core,
    partner: Option<&str>,
    limit: usize,
) -> Result<Vec<ReviewPair>, StoreError> {
    let s = &core.store;
    let mut out = Vec::new();
    for p in core
        .partner_ids
        .iter()
        .filter(|p| partner.is_none_or(|want| want == p.as_str()))
    {
        for r in s.in_review(p, 0, limit.saturating_sub(out.len()))? {
            let Some(exit) = s
                .inbox_record(p, r.exit_seq)?
                .and_then(|e| e.record().cloned())
            else {
                continue;
            };
            out.push(ReviewPair {
                partner: r.partner,
                exit_seq: r.exit_seq,
                score: r.score,
                exit,
                entry_id: r.entry_id,
                entry: s.crossing(r.entry_id)?.map(|c| c.crossing.project()),
            });
        }
    }
    Ok(out)
}
