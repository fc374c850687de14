//! Travel history and physical-presence calculators (pure logic, no I/O).
//!
//! The receiving hub turns a person's crossings into *stays* and counts days of
//! physical presence for two Canadian tests:
//!
//! - the permanent-resident **residency obligation** (IRPA s. 28): 730 days in the
//!   country within a five-year period — [`pr_residency`];
//! - **citizenship** physical presence (Citizenship Act s. 5(1)(c) and (1.001)):
//!   1,095 days in the five years before applying, days before becoming a PR
//!   counting half, with at most 365 such credited days — [`citizenship`].
//!
//! The pipeline is `events → stays → counts`:
//!
//! 1. An [`Event`] is one crossing seen from the country doing the calculation: our
//!    own entry records are [`Movement::Entry`]; the partner's entry records (which
//!    the Entry/Exit exchange turns into our exit records) are [`Movement::Exit`].
//! 2. [`stays`] pairs them into [`Stay`]s, tolerating missing and duplicate records
//!    by an explicit rule (see its docs) and flagging where it had to assume.
//! 3. [`days_present`], [`pr_residency`] and [`citizenship`] count calendar days.
//!
//! Rules shared by every calculator here:
//!
//! - **Days are UTC calendar days** ([`day_of`]). IRCC counts the traveller's local
//!   calendar days; a caller that wants local days passes `ts + utc_offset_seconds`
//!   to [`day_of`] when building events. No time zone database lives here.
//! - **A day with any presence is a full day present.** IRCC's physical presence
//!   calculator counts both the day someone leaves and the day they return as days
//!   in Canada ("you were physically in Canada for part of the day"), so a stay
//!   `from..=to` is `to - from + 1` days and a same-day round trip costs nothing.
//! - **Overlaps count once.** Counting takes the union of the stays, so duplicate or
//!   overlapping stays (a same-day trip out and back yields two stays sharing a
//!   day) never count a day twice.
//! - **A five-year window is five calendar years** ([`add_years`]): the same month
//!   and day five years earlier, 29 February becoming 28 February in a common year.
//!   The window "immediately before" a date `d` is `add_years(d, -5) ..= d - 1`;
//!   it excludes `d` itself, as in IRCC's own example (applying on 2018-04-01 gives
//!   the eligibility period 2013-04-01 to 2018-03-31). Windows are 1,826 or 1,827
//!   days long.
//! - **Presence only.** Nothing here knows about status (temporary resident,
//!   protected person, time serving a sentence, accompanying a Canadian spouse
//!   abroad…). The caller removes or adds such periods before counting; the results
//!   are an aid for a caseworker, not a decision.

use serde::{Deserialize, Serialize};

/// A day number: days since 1970-01-01 (UTC). Day 0 is 1970-01-01.
pub type Day = i64;

/// Seconds in a (UTC, leap-second-free) day, as in unix time.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Days present required by the PR residency obligation (IRPA s. 28(2)(a)).
pub const PR_DAYS_REQUIRED: u32 = 730;

/// Credited days required for citizenship (Citizenship Act s. 5(1)(c)(i)).
pub const CITIZENSHIP_DAYS_REQUIRED: u32 = 1_095;

/// Most credited days that time before becoming a PR may contribute to
/// citizenship (Citizenship Act s. 5(1.001)(a)).
pub const PRE_PR_CREDIT_MAX: u32 = 365;

/// The years in a residency or citizenship window.
const WINDOW_YEARS: i64 = 5;

/// Day numbers are clamped to ±2^40 (about three billion years) before any
/// arithmetic, so that no input — however wrong — can overflow an `i64`. Real
/// days (from [`day_of`] on a plausible timestamp) are nowhere near this.
const DAY_LIMIT: Day = 1 << 40;

/// The UTC day containing unix time `ts` (seconds). Floors, so times before the
/// epoch land on the right (negative) day: `day_of(-1) == -1`.
pub fn day_of(ts: i64) -> Day {
    ts.div_euclid(SECONDS_PER_DAY)
}

/// The day number of a proleptic Gregorian date, or `None` if there is no such
/// date (month outside 1–12, day outside the month, 29 February in a common year).
pub fn day_from_ymd(year: i64, month: u32, day: u32) -> Option<Day> {
    let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    let in_range = year.abs() < 1_000_000_000;
    (valid && in_range).then(|| days_from_civil(year, month, day))
}

/// The (year, month, day) of a day number; the inverse of [`day_from_ymd`].
pub fn ymd(day: Day) -> (i64, u32, u32) {
    civil_from_days(clamp_day(day))
}

/// The same month and day `years` later (or earlier, if negative). A 29 February
/// that lands in a common year becomes 28 February — the rule this module uses for
/// every "five years before/after" (so the window before 2024-02-29 starts on
/// 2019-02-28 and is one day longer than usual, in the person's favour).
pub fn add_years(day: Day, years: i64) -> Day {
    let (y, m, d) = ymd(day);
    let y = y + years.clamp(-DAY_LIMIT, DAY_LIMIT);
    let d = d.min(days_in_month(y, m));
    days_from_civil(y, m, d)
}

fn clamp_day(day: Day) -> Day {
    day.clamp(-DAY_LIMIT, DAY_LIMIT)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: exact for the proleptic Gregorian calendar,
/// with no tables and no time-zone data. `month` and `day` must be valid.
fn days_from_civil(year: i64, month: u32, day: u32) -> Day {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Hinnant's `civil_from_days`, the inverse of [`days_from_civil`].
fn civil_from_days(z: Day) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0 … February = 11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction (1..=31, 1..=12).
    (year, civil_u32(month), civil_u32(day))
}

fn civil_u32(n: i64) -> u32 {
    u32::try_from(n).expect("day and month are 1..=31 by construction")
}

/// Saturating conversion of a day count for the public `u32` fields: a count that
/// does not fit (only possible with absurd inputs) reads as `u32::MAX`.
fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Which way a person crossed, seen from the country doing the calculation.
///
/// `Exit` orders before `Entry` so that [`stays`] can read an exit and an entry
/// in the same second as out-and-back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Movement {
    /// Out of the country (for Canada: an entry record received from the US).
    Exit,
    /// Into the country (for Canada: Canada's own entry record).
    Entry,
}

/// One crossing of one person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds, UTC (like `record::Timestamp`).
    pub at: i64,
    pub movement: Movement,
}

/// A continuous period in the country, by whole days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stay {
    /// First day present: the day of entry (or `known_from`, see `entry_recorded`).
    pub from: Day,
    /// Last day present, inclusive: the day of exit, or `today` if `open`.
    pub to: Day,
    /// No exit recorded yet: the person is taken to be in the country until the
    /// `today` given to [`stays`].
    pub open: bool,
    /// False when the stay begins with an exit that had no entry before it: the
    /// person is then taken to have been present since `known_from`, and `from`
    /// is an assumption, not a record.
    pub entry_recorded: bool,
    /// How many times, inside this stay, the same movement was recorded twice in a
    /// row on different days (entry, entry or exit, exit) — each one means a record
    /// is missing in between, and the stay was continued across the gap. Non-zero
    /// means: a caseworker should look before relying on this stay.
    pub unpaired: u32,
}

/// Pairs one person's entries and exits into stays, oldest first.
///
/// `known_from` is the first day the records can speak for (when collection
/// started, or the first landing); `today` is the last day to count.
///
/// The rule, in one sentence: **the person is absent exactly between an exit and
/// the next entry, and present at every other time from the first record on.**
/// Every case follows from it:
///
/// - entry, exit: a stay from the entry day to the exit day;
/// - a final entry with no exit after it: an `open` stay until `today`;
/// - a first exit with no entry before it: a stay from `known_from` (or the exit
///   day, if earlier) to the exit day, with `entry_recorded == false`;
/// - entry, entry (the exit between is missing): one stay through both — the later
///   entry is absorbed and `unpaired` counts it;
/// - exit, exit (the entry between is missing): the stay is extended to the later
///   exit, and `unpaired` counts it;
/// - no events: no stays (nothing shows the person was ever here).
///
/// Resolving a missing record towards presence is the same choice as "an entry
/// without an exit means present until today": the exchange only sees land
/// crossings, so a missing counterpart is common and usually means a departure by
/// air that was never recorded. Every assumption therefore errs towards presence,
/// which makes the stays an upper bound: a requirement *not* met on these stays is
/// not met on the records, while one that is met only thanks to an `open` stay, an
/// unrecorded entry or `unpaired` records needs the person's own account of those
/// periods. A repeat on the *same* day as the
/// previous record is a plain duplicate and is not counted: whatever happened that
/// day, the day is a day present.
///
/// Events need not be sorted; they are ordered by time, and an exit and an entry in
/// the same second are taken as exit-then-entry (turned back at the other side's
/// port), which keeps the person present. Exact duplicates are dropped. Events
/// after `today` are ignored: they cannot have happened yet (clock skew).
///
/// Stays come out in order and never overlap, except that consecutive stays may
/// share one day (out and back the same day); the counting functions handle that.
pub fn stays(events: &[Event], known_from: Day, today: Day) -> Vec<Stay> {
    let mut sorted: Vec<Event> = events
        .iter()
        .filter(|e| day_of(e.at) <= today)
        .copied()
        .collect();
    sorted.sort_by_key(|e| (e.at, e.movement));
    sorted.dedup();

    let mut out: Vec<Stay> = Vec::new();
    // Whether the last stay in `out` has no exit yet.
    let mut inside = false;
    // The day of the previous event, to tell a duplicate (same day) from a missing
    // record (different days).
    let mut previous_day: Option<Day> = None;
    for event in sorted {
        let day = day_of(event.at);
        let repeat_on_new_day = previous_day.is_some_and(|p| p != day);
        match (event.movement, out.last_mut()) {
            (Movement::Entry, Some(stay)) if inside => {
                stay.unpaired += u32::from(repeat_on_new_day);
            }
            (Movement::Entry, _) => {
                out.push(Stay {
                    from: day,
                    to: today,
                    open: true,
                    entry_recorded: true,
                    unpaired: 0,
                });
                inside = true;
            }
            (Movement::Exit, Some(stay)) if inside => {
                stay.to = day;
                stay.open = false;
                inside = false;
            }
            (Movement::Exit, Some(stay)) => {
                stay.unpaired += u32::from(repeat_on_new_day);
                stay.to = day;
            }
            (Movement::Exit, None) => out.push(Stay {
                from: known_from.min(day),
                to: day,
                open: false,
                entry_recorded: false,
                unpaired: 0,
            }),
        }
        previous_day = Some(day);
    }
    out
}

/// Days present within `from..=to` (inclusive), counting every day on which the
/// person was in the country at all as one full day, and each day once however
/// many stays cover it. Stays with `to < from` are empty. An empty range gives 0.
pub fn days_present(stays: &[Stay], from: Day, to: Day) -> u32 {
    count_u32(Timeline::new(stays.iter().map(|s| (s.from, s.to))).count(from, to))
}

/// The union of some stays as disjoint day ranges, with running totals so that
/// "days present between two days" is two binary searches. The calculators build
/// one per call and query it a few thousand times at most.
struct Timeline {
    /// Disjoint, sorted, non-adjacent inclusive ranges.
    spans: Vec<(Day, Day)>,
    /// `before[i]` = days in `spans[..i]`.
    before: Vec<i64>,
}

impl Timeline {
    fn new(ranges: impl IntoIterator<Item = (Day, Day)>) -> Timeline {
        let mut ranges: Vec<(Day, Day)> = ranges
            .into_iter()
            .map(|(a, b)| (clamp_day(a), clamp_day(b)))
            .filter(|(a, b)| a <= b)
            .collect();
        ranges.sort_unstable();
        let mut spans: Vec<(Day, Day)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match spans.last_mut() {
                // Overlapping or touching: one span, so no day counts twice.
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        let mut before = Vec::with_capacity(spans.len());
        let mut total = 0;
        for (a, b) in &spans {
            before.push(total);
            total += b - a + 1;
        }
        Timeline { spans, before }
    }

    /// The stays as they were before `from_day`, then presence every day from
    /// `from_day` on: "if the person stays in the country continuously from now".
    fn projected(stays: &[Stay], from_day: Day) -> Timeline {
        let past = stays
            .iter()
            .map(|s| (s.from, s.to.min(from_day - 1)))
            .chain(std::iter::once((from_day, DAY_LIMIT)));
        Timeline::new(past)
    }

    /// Days present on or before `day`.
    fn up_to(&self, day: Day) -> i64 {
        let day = clamp_day(day);
        // Spans starting on or before `day`; the last of them may end after it.
        let n = self.spans.partition_point(|&(a, _)| a <= day);
        match n.checked_sub(1) {
            None => 0,
            Some(i) => {
                let (a, b) = self.spans[i];
                self.before[i] + (day.min(b) - a + 1)
            }
        }
    }

    /// Days present in `from..=to`.
    fn count(&self, from: Day, to: Day) -> i64 {
        if from > to {
            return 0;
        }
        self.up_to(to) - self.up_to(clamp_day(from) - 1)
    }
}

/// Which reading of IRPA s. 28(2)(b) applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResidencyBasis {
    /// PR for less than five years on the day of the check (s. 28(2)(b)(i)): the
    /// window is the first five years of PR status, and the obligation is met if
    /// the person *can still* reach 730 days in it by being present every day from
    /// the check on.
    FirstFiveYears,
    /// PR for five years or more (s. 28(2)(b)(ii)): the window is the five years
    /// immediately before the check, and 730 days must already be in it.
    PrecedingFiveYears,
}

/// The PR residency obligation on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidencyCheck {
    pub basis: ResidencyBasis,
    /// The five-year window, inclusive on both ends.
    pub window_from: Day,
    pub window_to: Day,
    /// Days present in the window before the day of the check (for
    /// `FirstFiveYears`, from becoming PR to the day before the check).
    pub days_present: u32,
    /// [`PR_DAYS_REQUIRED`].
    pub required: u32,
    /// Whether the person complies on the day of the check (see [`ResidencyBasis`]).
    pub met: bool,
    /// Days by which the person falls short of complying, 0 exactly when `met`.
    /// For `FirstFiveYears` it is the gap even if present every remaining day of
    /// the window; for `PrecedingFiveYears`, `required - days_present`.
    pub shortfall: u32,
    /// The first day on or after the check on which `days_present` would reach
    /// `required` (730 days actually accumulated in that day's window) if the
    /// person is in the country every day from the check on. The day of the check
    /// itself if that is already so. `None` never happens for sane inputs; it
    /// stays an `Option` so that an absurd input cannot make a promise.
    pub earliest_date_met: Option<Day>,
}

/// The Canadian PR residency obligation (IRPA s. 28) on day `as_of`, for a person
/// who became PR on `became_pr`.
///
/// - PR for five years or more on `as_of` (i.e. `as_of >= add_years(became_pr, 5)`):
///   730 days present in `add_years(as_of, -5) ..= as_of - 1`. That window never
///   starts before `became_pr` (days before PR status are not PR days; this only
///   matters for a 29 February landing).
/// - PR for less than five years: the window is `became_pr ..= add_years(became_pr,
///   5) - 1`; the days present from `became_pr` to `as_of - 1` plus every day
///   from `as_of` to the end of the window must reach 730. Counting `as_of` itself
///   as still available is deliberate: an examination usually happens at the port,
///   as the person comes in.
/// - `as_of` before `became_pr` (not yet PR) falls under the second rule: nothing
///   counted yet, the whole window still ahead, so it is met.
///
/// `as_of` is normally the `today` the stays were built with; days between `today`
/// and a later `as_of` count as absent, since no stay covers them.
pub fn pr_residency(stays: &[Stay], became_pr: Day, as_of: Day) -> ResidencyCheck {
    let (became_pr, as_of) = (clamp_day(became_pr), clamp_day(as_of));
    // On the projection, days before `as_of` are the real ones and every later day
    // is present, so one timeline answers both "where is the person now" (all
    // windows at `as_of` end before it, or count the rest as still available) and
    // "when would they comply if they stayed".
    let timeline = Timeline::projected(stays, as_of);
    let now = residency_on(&timeline, became_pr, as_of);
    let bound = add_years(as_of.max(became_pr), WINDOW_YEARS) + 1;
    let earliest_date_met = (as_of..=bound).find(|&day| {
        residency_on(&timeline, became_pr, day).days_present >= i64::from(PR_DAYS_REQUIRED)
    });
    ResidencyCheck {
        basis: now.basis,
        window_from: now.window_from,
        window_to: now.window_to,
        days_present: count_u32(now.days_present),
        required: PR_DAYS_REQUIRED,
        met: now.reachable >= i64::from(PR_DAYS_REQUIRED),
        shortfall: count_u32(i64::from(PR_DAYS_REQUIRED) - now.reachable),
        earliest_date_met,
    }
}

struct ResidencyOn {
    basis: ResidencyBasis,
    window_from: Day,
    window_to: Day,
    /// Days present in the window before `day`.
    days_present: i64,
    /// The most days present the window can hold if the person is present every
    /// day from `day` on; on a projected timeline, simply the window's count.
    reachable: i64,
}

/// [`pr_residency`]'s rule for one day, on a projected timeline.
fn residency_on(timeline: &Timeline, became_pr: Day, day: Day) -> ResidencyOn {
    let anniversary = add_years(became_pr, WINDOW_YEARS);
    if day < anniversary {
        let window_to = anniversary - 1;
        ResidencyOn {
            basis: ResidencyBasis::FirstFiveYears,
            window_from: became_pr,
            window_to,
            days_present: timeline.count(became_pr, day - 1),
            reachable: timeline.count(became_pr, window_to),
        }
    } else {
        let window_from = add_years(day, -WINDOW_YEARS).max(became_pr);
        let days_present = timeline.count(window_from, day - 1);
        ResidencyOn {
            basis: ResidencyBasis::PrecedingFiveYears,
            window_from,
            window_to: day - 1,
            days_present,
            reachable: days_present,
        }
    }
}

/// Citizenship physical presence on one application day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenshipCheck {
    /// The five years immediately before the application, inclusive:
    /// `add_years(apply_on, -5) ..= apply_on - 1`.
    pub window_from: Day,
    pub window_to: Day,
    /// Days present in the window on or after the day of becoming PR (that day
    /// counts in full, as on IRCC's form CIT 0407).
    pub days_as_pr: u32,
    /// Days present in the window before becoming PR.
    pub days_before_pr: u32,
    /// `min(floor(days_before_pr / 2), 365)`: half days summed, then floored
    /// (an odd day's half is lost), then capped.
    pub credited_before_pr: u32,
    /// `days_as_pr + credited_before_pr`.
    pub total_credited: u32,
    /// [`CITIZENSHIP_DAYS_REQUIRED`].
    pub required: u32,
    /// `total_credited >= required`. Because the pre-PR credit is capped at 365,
    /// this implies at least 730 days as PR.
    pub met: bool,
    /// `required - total_credited`, 0 exactly when `met`.
    pub shortfall: u32,
    /// The first application day on or after `apply_on` on which `met` would hold
    /// if the person is in the country every day from `apply_on` on (`apply_on`
    /// itself if already met). `None` never happens for sane inputs.
    pub earliest_date_met: Option<Day>,
}

/// Canadian citizenship physical presence (Citizenship Act s. 5(1)(c)(i) and
/// (1.001)) for an application on `apply_on` by a person who became PR on
/// `became_pr`: in the five years immediately before `apply_on`, each day present
/// as PR counts 1, each day present before becoming PR counts ½ (summed, then
/// floored), the pre-PR credit is capped at 365, and the total must reach 1,095.
///
/// Every day present before `became_pr` is taken to be as a temporary resident or
/// protected person; days without such status (e.g. while a refugee claim was
/// pending) do not count, and the caller must remove them from the stays.
pub fn citizenship(stays: &[Stay], became_pr: Day, apply_on: Day) -> CitizenshipCheck {
    let (became_pr, apply_on) = (clamp_day(became_pr), clamp_day(apply_on));
    let timeline = Timeline::projected(stays, apply_on);
    let now = citizenship_on(&timeline, became_pr, apply_on);
    let bound = add_years(apply_on.max(became_pr), WINDOW_YEARS) + 1;
    let earliest_date_met =
        (apply_on..=bound).find(|&day| citizenship_on(&timeline, became_pr, day).met);
    CitizenshipCheck {
        earliest_date_met,
        ..now
    }
}

/// [`citizenship`]'s rule for one application day, on a projected timeline.
fn citizenship_on(timeline: &Timeline, became_pr: Day, apply_on: Day) -> CitizenshipCheck {
    let window_from = add_years(apply_on, -WINDOW_YEARS);
    let window_to = apply_on - 1;
    let days_as_pr = count_u32(timeline.count(window_from.max(became_pr), window_to));
    let days_before_pr = count_u32(timeline.count(window_from, window_to.min(became_pr - 1)));
    let credited_before_pr = (days_before_pr / 2).min(PRE_PR_CREDIT_MAX);
    let total_credited = days_as_pr.saturating_add(credited_before_pr);
    CitizenshipCheck {
        window_from,
        window_to,
        days_as_pr,
        days_before_pr,
        credited_before_pr,
        total_credited,
        required: CITIZENSHIP_DAYS_REQUIRED,
        met: total_credited >= CITIZENSHIP_DAYS_REQUIRED,
        shortfall: CITIZENSHIP_DAYS_REQUIRED.saturating_sub(total_credited),
        earliest_date_met: None,
    }
}

#[cfg(test)]
mod tests {
    //! Every expected figure is worked out by hand in the comment beside it, with
    //! month lengths spelled out, so that a failure shows which side is wrong.

    use super::*;

    /// A calendar date as a day number (panics on an invalid date: a typo here).
    fn d(year: i64, month: u32, day: u32) -> Day {
        day_from_ymd(year, month, day).expect("valid test date")
    }

    fn at(day: Day, hour: i64) -> i64 {
        day * SECONDS_PER_DAY + hour * 3_600
    }

    fn entry(day: Day, hour: i64) -> Event {
        Event {
            at: at(day, hour),
            movement: Movement::Entry,
        }
    }

    fn exit(day: Day, hour: i64) -> Event {
        Event {
            at: at(day, hour),
            movement: Movement::Exit,
        }
    }

    /// A recorded, closed stay.
    fn stay(from: Day, to: Day) -> Stay {
        Stay {
            from,
            to,
            open: false,
            entry_recorded: true,
            unpaired: 0,
        }
    }

    /// A stay from `from` that is still open on `today`.
    fn open_stay(from: Day, today: Day) -> Vec<Stay> {
        stays(&[entry(from, 9)], from, today)
    }

    // ---- calendar -------------------------------------------------------------

    #[test]
    fn day_of_floors_to_utc_days() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(86_400), 1);
        // One second before the epoch is still 1969-12-31.
        assert_eq!(day_of(-1), -1);
        assert_eq!(ymd(-1), (1969, 12, 31));
        // 2020-01-01T00:00:00Z = 1577836800: 1970..=2019 is 50 years, 12 of them
        // leap (1972, 1976, …, 2016), so 50 * 365 + 12 = 18262 days.
        assert_eq!(day_of(1_577_836_800), 18_262);
        assert_eq!(d(2020, 1, 1), 18_262);
        // 2000-03-01: 1970..=1999 is 30 * 365 + 7 leap = 10957 (2000-01-01),
        // + 31 (January) + 29 (February 2000, a leap year: divisible by 400) = 11017.
        assert_eq!(d(2000, 3, 1), 11_017);
    }

    #[test]
    fn dates_round_trip_and_invalid_dates_are_refused() {
        for day in -800_000..800_000 {
            let (y, m, dd) = ymd(day);
            assert_eq!(day_from_ymd(y, m, dd), Some(day), "day {day}");
        }
        assert_eq!(day_from_ymd(2023, 2, 29), None); // 2023 is common
        assert_eq!(day_from_ymd(1900, 2, 29), None); // divisible by 100, not 400
        assert!(day_from_ymd(2024, 2, 29).is_some());
        assert_eq!(day_from_ymd(2024, 13, 1), None);
        assert_eq!(day_from_ymd(2024, 4, 31), None);
        assert_eq!(day_from_ymd(2024, 1, 0), None);
    }

    #[test]
    fn add_years_turns_29_february_into_28_february() {
        assert_eq!(add_years(d(2024, 2, 29), -5), d(2019, 2, 28));
        assert_eq!(add_years(d(2020, 2, 29), 5), d(2025, 2, 28));
        assert_eq!(add_years(d(2020, 2, 29), 4), d(2024, 2, 29));
        assert_eq!(add_years(d(2023, 3, 15), -5), d(2018, 3, 15));
        // Absurd inputs clamp instead of overflowing.
        let _ = add_years(i64::MAX, i64::MAX);
        let _ = add_years(i64::MIN, i64::MIN);
    }

    #[test]
    fn five_year_windows_are_the_five_calendar_years_before_the_day() {
        // IRCC's own example: applying on 2018-04-01, the eligibility period is
        // 2013-04-01 to 2018-03-31. It holds one 29 February (2016): 5 * 365 + 1.
        let c = citizenship(&[], d(2015, 1, 1), d(2018, 4, 1));
        assert_eq!(
            (c.window_from, c.window_to),
            (d(2013, 4, 1), d(2018, 3, 31))
        );
        assert_eq!(c.window_to - c.window_from + 1, 1_826);
        // Before 2025-01-01: 2020-01-01 to 2024-12-31 holds 2020-02-29 and
        // 2024-02-29: 5 * 365 + 2 = 1827.
        let c = citizenship(&[], d(2015, 1, 1), d(2025, 1, 1));
        assert_eq!(c.window_to - c.window_from + 1, 1_827);
        // Before 2024-02-29: 29 February 2019 does not exist, so the window starts
        // on 2019-02-28 and runs to 2024-02-28. It has the same length as
        // 2019-03-01..=2024-02-29, which holds 2020-02-29 and 2024-02-29: 1827.
        let c = citizenship(&[], d(2015, 1, 1), d(2024, 2, 29));
        assert_eq!(
            (c.window_from, c.window_to),
            (d(2019, 2, 28), d(2024, 2, 28))
        );
        assert_eq!(c.window_to - c.window_from + 1, 1_827);
    }

    // ---- stays ----------------------------------------------------------------

    #[test]
    fn an_entry_and_an_exit_make_one_stay_of_whole_days() {
        // In at 10:00 on 2020-01-01, out at 18:00 on 2021-12-31: both days count.
        let s = stays(
            &[entry(d(2020, 1, 1), 10), exit(d(2021, 12, 31), 18)],
            0,
            d(2024, 1, 1),
        );
        assert_eq!(s, vec![stay(d(2020, 1, 1), d(2021, 12, 31))]);
        // 2020 is leap (366) + 2021 (365) = 731.
        assert_eq!(days_present(&s, d(2000, 1, 1), d(2030, 1, 1)), 731);
    }

    #[test]
    fn missing_exit_leaves_an_open_stay_until_today() {
        let today = d(2024, 3, 10);
        let s = open_stay(d(2022, 3, 10), today);
        assert_eq!(
            s,
            vec![Stay {
                from: d(2022, 3, 10),
                to: today,
                open: true,
                entry_recorded: true,
                unpaired: 0,
            }]
        );
        // 2022-03-10..=2023-03-09 is 365 days, 2023-03-10..=2024-03-09 is 366
        // (it holds 2024-02-29), plus today: 732.
        assert_eq!(days_present(&s, d(2022, 1, 1), today), 732);
    }

    #[test]
    fn missing_entry_means_present_since_known_from() {
        let known_from = d(2021, 1, 1);
        let s = stays(&[exit(d(2021, 6, 30), 14)], known_from, d(2022, 1, 1));
        assert_eq!(
            s,
            vec![Stay {
                from: known_from,
                to: d(2021, 6, 30),
                open: false,
                entry_recorded: false,
                unpaired: 0,
            }]
        );
        // January to June 2021: 31 + 28 + 31 + 30 + 31 + 30 = 181.
        assert_eq!(days_present(&s, known_from, d(2022, 1, 1)), 181);
        // An exit before `known_from` cannot stretch back to it: one day.
        let s = stays(&[exit(d(2020, 12, 1), 14)], known_from, d(2022, 1, 1));
        assert_eq!((s[0].from, s[0].to), (d(2020, 12, 1), d(2020, 12, 1)));
    }

    #[test]
    fn entry_after_entry_bridges_the_missing_exit() {
        let s = stays(
            &[
                entry(d(2021, 1, 1), 9),
                entry(d(2021, 3, 1), 9),
                exit(d(2021, 3, 31), 9),
            ],
            0,
            d(2022, 1, 1),
        );
        assert_eq!(
            s,
            vec![Stay {
                unpaired: 1,
                ..stay(d(2021, 1, 1), d(2021, 3, 31))
            }]
        );
        // 31 + 28 + 31 = 90.
        assert_eq!(days_present(&s, d(2021, 1, 1), d(2021, 12, 31)), 90);
    }

    #[test]
    fn exit_after_exit_bridges_the_missing_entry() {
        let s = stays(
            &[
                entry(d(2021, 1, 1), 9),
                exit(d(2021, 1, 10), 9),
                exit(d(2021, 1, 20), 9),
            ],
            0,
            d(2022, 1, 1),
        );
        assert_eq!(
            s,
            vec![Stay {
                unpaired: 1,
                ..stay(d(2021, 1, 1), d(2021, 1, 20))
            }]
        );
        // 1 to 20 January: 20.
        assert_eq!(days_present(&s, d(2021, 1, 1), d(2021, 12, 31)), 20);
    }

    #[test]
    fn duplicates_and_disorder_change_nothing() {
        let clean = stays(
            &[entry(d(2021, 1, 1), 9), exit(d(2021, 1, 20), 9)],
            0,
            d(2022, 1, 1),
        );
        let noisy = [
            exit(d(2021, 1, 20), 9),
            exit(d(2021, 1, 20), 9),  // exact duplicate
            exit(d(2021, 1, 20), 17), // same-day repeat
            entry(d(2021, 1, 1), 9),
            Event {
                at: at(d(2021, 1, 1), 9) + 120,
                movement: Movement::Entry,
            }, // 2 min later
            entry(d(2021, 1, 1), 9), // exact duplicate
        ];
        // Same-day repeats are duplicates, not missing records: unpaired stays 0.
        assert_eq!(stays(&noisy, 0, d(2022, 1, 1)), clean);
    }

    #[test]
    fn a_day_out_and_back_counts_once_and_one_night_away_costs_one_day() {
        // Out in the morning of 10 January, back the same evening.
        let s = stays(
            &[
                entry(d(2021, 1, 1), 9),
                exit(d(2021, 1, 10), 8),
                entry(d(2021, 1, 10), 20),
                exit(d(2021, 1, 20), 9),
            ],
            0,
            d(2022, 1, 1),
        );
        assert_eq!(
            s,
            vec![
                stay(d(2021, 1, 1), d(2021, 1, 10)),
                stay(d(2021, 1, 10), d(2021, 1, 20))
            ]
        );
        // 1..=20 January with the 10th once: 20.
        assert_eq!(days_present(&s, d(2021, 1, 1), d(2021, 12, 31)), 20);
        // Out on the 10th, back on the 12th: only the 11th is absent: 19.
        let s = stays(
            &[
                entry(d(2021, 1, 1), 9),
                exit(d(2021, 1, 10), 8),
                entry(d(2021, 1, 12), 20),
                exit(d(2021, 1, 20), 9),
            ],
            0,
            d(2022, 1, 1),
        );
        assert_eq!(days_present(&s, d(2021, 1, 1), d(2021, 12, 31)), 19);
    }

    #[test]
    fn exit_and_entry_in_the_same_second_read_as_out_and_back() {
        // Listed entry-first; ordered exit-first, so no record looks missing.
        let s = stays(
            &[
                entry(d(2021, 1, 1), 9),
                entry(d(2021, 1, 10), 12),
                exit(d(2021, 1, 10), 12),
                exit(d(2021, 1, 20), 9),
            ],
            0,
            d(2022, 1, 1),
        );
        assert_eq!(
            s,
            vec![
                stay(d(2021, 1, 1), d(2021, 1, 10)),
                stay(d(2021, 1, 10), d(2021, 1, 20))
            ]
        );
    }

    #[test]
    fn events_after_today_are_ignored() {
        // The exit is dated after today (clock skew): the stay is still open.
        let today = d(2021, 1, 15);
        let s = stays(&[entry(d(2021, 1, 1), 9), exit(d(2021, 2, 1), 9)], 0, today);
        assert_eq!(
            s,
            vec![Stay {
                open: true,
                ..stay(d(2021, 1, 1), today)
            }]
        );
        assert!(stays(&[], 0, today).is_empty());
    }

    #[test]
    fn overlapping_stays_count_each_day_once() {
        let s = [
            stay(5, 15),
            stay(1, 10),
            stay(5, 15),
            stay(20, 19), // to < from: empty
        ];
        // Union 1..=15: 15 days.
        assert_eq!(days_present(&s, 0, 100), 15);
        // Clipped to 8..=12: 5 days.
        assert_eq!(days_present(&s, 8, 12), 5);
        assert_eq!(days_present(&s, 12, 8), 0);
        assert_eq!(days_present(&[], 0, 100), 0);
        // Absurd ranges saturate rather than overflow.
        assert_eq!(
            days_present(&[stay(i64::MIN, i64::MAX)], i64::MIN, i64::MAX),
            u32::MAX
        );
    }

    // ---- PR residency obligation ------------------------------------------------

    #[test]
    fn pr_met_with_731_days() {
        // PR since 2019-01-01; entered 2020-01-01, left 2021-12-31: 366 + 365 = 731
        // days present, all inside the window 2019-06-01..=2024-05-31 → met.
        let s = [stay(d(2020, 1, 1), d(2021, 12, 31))];
        let r = pr_residency(&s, d(2019, 1, 1), d(2024, 6, 1));
        assert_eq!(
            r,
            ResidencyCheck {
                basis: ResidencyBasis::PrecedingFiveYears,
                window_from: d(2019, 6, 1),
                window_to: d(2024, 5, 31),
                days_present: 731,
                required: 730,
                met: true,
                shortfall: 0,
                earliest_date_met: Some(d(2024, 6, 1)),
            }
        );
    }

    #[test]
    fn pr_not_met_and_the_day_it_would_be() {
        // PR since 2020-01-01, present 2020-01-01..=2021-12-31, checked 2025-06-01
        // (PR for over 5 years). Window 2020-06-01..=2025-05-31. Present in it:
        // June–December 2020 = 30+31+31+30+31+30+31 = 214, plus 2021 = 365: 579.
        // Shortfall 730 - 579 = 151.
        //
        // Staying from 2025-06-01 on: while the window slides over the 2020–21 stay
        // it loses an old day for each new one, so the new stretch alone must
        // reach 730 days: 2025-06-01 + 730 days = 2027-06-01 (no 29 February in
        // between). Check: window 2022-06-01..=2027-05-31 holds 2025-06-01..=
        // 2027-05-31 = 365 + 365 = 730; the day before, 729.
        let s = [stay(d(2020, 1, 1), d(2021, 12, 31))];
        let r = pr_residency(&s, d(2020, 1, 1), d(2025, 6, 1));
        assert_eq!(r.basis, ResidencyBasis::PrecedingFiveYears);
        assert_eq!(
            (r.window_from, r.window_to),
            (d(2020, 6, 1), d(2025, 5, 31))
        );
        assert_eq!((r.days_present, r.met, r.shortfall), (579, false, 151));
        assert_eq!(r.earliest_date_met, Some(d(2027, 6, 1)));
    }

    #[test]
    fn pr_exactly_730_is_met_and_729_is_not() {
        // 2021 and 2022 are common years: 2021-01-01..=2022-12-31 is 730 days, in
        // the window 2018-01-01..=2022-12-31 of a check on 2023-01-01.
        let r = pr_residency(
            &[stay(d(2021, 1, 1), d(2022, 12, 31))],
            d(2018, 1, 1),
            d(2023, 1, 1),
        );
        assert_eq!((r.days_present, r.met, r.shortfall), (730, true, 0));
        // Leaving a day earlier: 729, one short. Staying from 2023-01-01, the next
        // day's window 2018-01-02..=2023-01-01 drops an absent day and gains
        // 2023-01-01: 730 on 2023-01-02.
        let r = pr_residency(
            &[stay(d(2021, 1, 1), d(2022, 12, 30))],
            d(2018, 1, 1),
            d(2023, 1, 1),
        );
        assert_eq!((r.days_present, r.met, r.shortfall), (729, false, 1));
        assert_eq!(r.earliest_date_met, Some(d(2023, 1, 2)));
    }

    #[test]
    fn pr_window_ending_on_29_february() {
        // PR and present since 2019-02-28, checked on 2024-02-29. Five years after
        // 2019-02-28 is 2024-02-28, so PR for over 5 years. Window 2019-02-28..=
        // 2024-02-28: 1827 days (see five_year_windows_…), all present.
        let today = d(2024, 2, 29);
        let s = open_stay(d(2019, 2, 28), today);
        let r = pr_residency(&s, d(2019, 2, 28), today);
        assert_eq!(r.basis, ResidencyBasis::PrecedingFiveYears);
        assert_eq!(
            (r.window_from, r.window_to),
            (d(2019, 2, 28), d(2024, 2, 28))
        );
        assert_eq!((r.days_present, r.met), (1_827, true));
    }

    #[test]
    fn pr_window_never_starts_before_becoming_pr() {
        // Present since 2020-01-01 (as a temporary resident), PR on 2020-02-29.
        let today = d(2025, 3, 1);
        let s = open_stay(d(2020, 1, 1), today);
        let pr = d(2020, 2, 29);
        // 2025-02-27: five years after 2020-02-29 is 2025-02-28, not reached yet:
        // first-five-years window 2020-02-29..=2025-02-27.
        let r = pr_residency(&s, pr, d(2025, 2, 27));
        assert_eq!(r.basis, ResidencyBasis::FirstFiveYears);
        assert_eq!((r.window_from, r.window_to), (pr, d(2025, 2, 27)));
        // 2025-02-28: PR for 5 years. The five years before start on 2020-02-28,
        // a day before PR, so the window starts on 2020-02-29 instead. Its length
        // equals 2020-03-01..=2025-02-28 (each end one day later): 5 * 365 + 1
        // (2024-02-29) = 1826, all present — not 1827 with the pre-PR day.
        let r = pr_residency(&s, pr, d(2025, 2, 28));
        assert_eq!(r.basis, ResidencyBasis::PrecedingFiveYears);
        assert_eq!((r.window_from, r.window_to), (pr, d(2025, 2, 27)));
        assert_eq!(r.days_present, 1_826);
    }

    #[test]
    fn pr_open_stay_counts_up_to_the_day_before_the_check() {
        // Landed and stayed since 2022-03-10; checked on 2024-03-10 (today).
        // PR for under 5 years: window 2022-03-10..=2027-03-09, days so far
        // 2022-03-10..=2024-03-09 = 365 + 366 = 731 → met already.
        let today = d(2024, 3, 10);
        let s = open_stay(d(2022, 3, 10), today);
        let r = pr_residency(&s, d(2022, 3, 10), today);
        assert_eq!(
            r,
            ResidencyCheck {
                basis: ResidencyBasis::FirstFiveYears,
                window_from: d(2022, 3, 10),
                window_to: d(2027, 3, 9),
                days_present: 731,
                required: 730,
                met: true,
                shortfall: 0,
                earliest_date_met: Some(today),
            }
        );
    }

    #[test]
    fn pr_in_first_five_years_can_still_comply() {
        // PR on 2023-01-01, present until 2023-06-30: 31+28+31+30+31+30 = 181.
        // Checked 2024-01-01: window 2023-01-01..=2027-12-31; the rest of it,
        // 2024-01-01..=2027-12-31, is 366 + 3 * 365 = 1461 days; 181 + 1461 ≥ 730
        // → met, nothing short.
        //
        // Accumulating the other 549 days from 2024-01-01: 2024 gives 366, then
        // 183 more into 2025: Jan 31, Feb 28, Mar 31, Apr 30, May 31, Jun 30 = 181
        // to 2025-06-30, then 1 and 2 July. So 730 are in by the end of
        // 2025-07-02, and 2025-07-03 is the first day on which they are counted.
        let s = [stay(d(2023, 1, 1), d(2023, 6, 30))];
        let r = pr_residency(&s, d(2023, 1, 1), d(2024, 1, 1));
        assert_eq!(r.basis, ResidencyBasis::FirstFiveYears);
        assert_eq!(
            (r.window_from, r.window_to),
            (d(2023, 1, 1), d(2027, 12, 31))
        );
        assert_eq!((r.days_present, r.met, r.shortfall), (181, true, 0));
        assert_eq!(r.earliest_date_met, Some(d(2025, 7, 3)));
    }

    #[test]
    fn pr_in_first_five_years_can_no_longer_comply() {
        // PR on 2020-01-01, present 2020-01-01..=2020-04-09: 31+29+31+9 = 100.
        // Checked 2023-06-01: window 2020-01-01..=2024-12-31; the rest of it is
        // June–December 2023 (30+31+31+30+31+30+31 = 214) + 2024 (366) = 580;
        // 100 + 580 = 680 < 730 → not met, 50 short.
        //
        // Staying from 2023-06-01: on 2025-01-01 the first five years end (680
        // in them). Then the trailing window first drops the 100 early days (no
        // gain for 100 days), then gains one a day: 50 more. 2025-01-01 + 150 days
        // (Jan 31, Feb 28, Mar 31, Apr 30 = 120, + 30) = 2025-05-31. Check: window
        // 2020-05-31..=2025-05-30 holds 2023-06-01..=2025-05-30 = 366 + 364 = 730.
        let s = [stay(d(2020, 1, 1), d(2020, 4, 9))];
        let r = pr_residency(&s, d(2020, 1, 1), d(2023, 6, 1));
        assert_eq!(r.basis, ResidencyBasis::FirstFiveYears);
        assert_eq!((r.days_present, r.met, r.shortfall), (100, false, 50));
        assert_eq!(r.earliest_date_met, Some(d(2025, 5, 31)));
    }

    #[test]
    fn pr_counts_only_the_part_of_a_stay_inside_the_window() {
        // PR since 2010; present 2015-01-01..=2019-12-31; checked 2022-07-01.
        // Window 2017-07-01..=2022-06-30: July–December 2017 = 31+31+30+31+30+31
        // = 184, + 2018 (365) + 2019 (365) = 914 → met.
        let s = [stay(d(2015, 1, 1), d(2019, 12, 31))];
        let r = pr_residency(&s, d(2010, 1, 1), d(2022, 7, 1));
        assert_eq!(
            (r.window_from, r.days_present, r.met),
            (d(2017, 7, 1), 914, true)
        );
    }

    #[test]
    fn pr_check_before_becoming_pr_owes_nothing_yet() {
        // Not PR until 2030: nothing counted, the whole window still ahead.
        let r = pr_residency(&[], d(2030, 1, 1), d(2025, 1, 1));
        assert_eq!(r.basis, ResidencyBasis::FirstFiveYears);
        assert_eq!((r.days_present, r.met, r.shortfall), (0, true, 0));
        // 730 days from 2030-01-01: 2030 (365) + 2031 (365) → 2032-01-01.
        assert_eq!(r.earliest_date_met, Some(d(2032, 1, 1)));
    }

    // ---- citizenship ------------------------------------------------------------

    #[test]
    fn citizenship_with_pre_pr_half_days_under_the_cap() {
        // Present since 2019-01-01 (temporary resident), PR on 2020-07-01, applies
        // 2023-01-01. Window 2018-01-01..=2022-12-31.
        // Before PR: 2019 (365) + January–June 2020 (31+29+31+30+31+30 = 182) = 547
        // → 273.5 → floored 273 (under 365).
        // As PR: July–December 2020 (31+31+30+31+30+31 = 184) + 2021 + 2022
        // (730) = 914. Total 914 + 273 = 1187 ≥ 1095 → met.
        let apply = d(2023, 1, 1);
        let s = open_stay(d(2019, 1, 1), apply);
        let c = citizenship(&s, d(2020, 7, 1), apply);
        assert_eq!(
            c,
            CitizenshipCheck {
                window_from: d(2018, 1, 1),
                window_to: d(2022, 12, 31),
                days_as_pr: 914,
                days_before_pr: 547,
                credited_before_pr: 273,
                total_credited: 1_187,
                required: 1_095,
                met: true,
                shortfall: 0,
                earliest_date_met: Some(apply),
            }
        );
    }

    #[test]
    fn citizenship_not_met_and_the_day_it_would_be() {
        // As above, but applying on 2022-09-01 (stays run on to 2023: days from
        // the application day on must not count). Window 2017-09-01..=2022-08-31.
        // Before PR: still 547 → 273. As PR: 184 + 2021 (365) + January–August
        // 2022 (31+28+31+30+31+30+31+31 = 243) = 792. Total 1065 → 30 short.
        // Staying on: every day of September 2022 is a PR day, and the window's
        // start (2017) moves over no presence, so after 30 days, on 2022-10-01.
        let s = open_stay(d(2019, 1, 1), d(2023, 1, 1));
        let c = citizenship(&s, d(2020, 7, 1), d(2022, 9, 1));
        assert_eq!(
            (c.days_before_pr, c.credited_before_pr, c.days_as_pr),
            (547, 273, 792)
        );
        assert_eq!((c.total_credited, c.met, c.shortfall), (1_065, false, 30));
        assert_eq!(c.earliest_date_met, Some(d(2022, 10, 1)));
    }

    #[test]
    fn citizenship_pre_pr_credit_is_capped_at_365() {
        // Present since 2018-01-01, PR on 2021-01-01, applies 2023-01-01.
        // Window 2018-01-01..=2022-12-31. Before PR: 2018 + 2019 + 2020 = 365 +
        // 365 + 366 = 1096 → 548 → capped 365. As PR: 2021 + 2022 = 730.
        // Total 1095 → met exactly.
        let apply = d(2023, 1, 1);
        let s = open_stay(d(2018, 1, 1), apply);
        let c = citizenship(&s, d(2021, 1, 1), apply);
        assert_eq!(
            (c.days_before_pr, c.credited_before_pr, c.days_as_pr),
            (1_096, 365, 730)
        );
        assert_eq!((c.total_credited, c.met, c.shortfall), (1_095, true, 0));
    }

    #[test]
    fn citizenship_half_days_are_summed_then_floored() {
        // Present since 2021-01-04, PR on 2023-01-01, applies 2025-01-01.
        // Window 2020-01-01..=2024-12-31. Before PR: 2021-01-04..=2022-12-31 =
        // (365 - 3) + 365 = 727 half days = 363.5 → 363. As PR: 2023 + 2024 =
        // 365 + 366 = 731. Total 1094 — rounding up would have said 1095.
        // The next day's window adds 2025-01-01 as a PR day → 1095 on 2025-01-02.
        let apply = d(2025, 1, 1);
        let s = open_stay(d(2021, 1, 4), apply);
        let c = citizenship(&s, d(2023, 1, 1), apply);
        assert_eq!(
            (c.days_before_pr, c.credited_before_pr, c.days_as_pr),
            (727, 363, 731)
        );
        assert_eq!((c.total_credited, c.met, c.shortfall), (1_094, false, 1));
        assert_eq!(c.earliest_date_met, Some(d(2025, 1, 2)));
    }

    #[test]
    fn citizenship_needs_two_years_as_pr_however_long_before() {
        // Present since 2015, PR on the day of application, 2022-01-01.
        // Window 2017-01-01..=2021-12-31 = 5 * 365 + 1 (2020) = 1826 days, all
        // before PR → 913 → capped 365; as PR 0 → 365, 730 short.
        // Staying on, 730 PR days are needed, while at least 730 pre-PR days stay
        // in the window to keep the 365 credit: on 2024-01-01 the window is
        // 2019-01-01..=2023-12-31 with 2019–2021 pre-PR (365+366+365 = 1096) and
        // 2022–2023 as PR (730) → 1095. The day before, 729 as PR → 1094.
        let apply = d(2022, 1, 1);
        let s = open_stay(d(2015, 1, 1), apply);
        let c = citizenship(&s, apply, apply);
        assert_eq!(
            (c.days_before_pr, c.credited_before_pr, c.days_as_pr),
            (1_826, 365, 0)
        );
        assert_eq!((c.met, c.shortfall), (false, 730));
        assert_eq!(c.earliest_date_met, Some(d(2024, 1, 1)));
    }
}
