//! What a hub tells its operators (status) and what both countries report
//! jointly: reconciliation rates between entry and exit records, the number
//! of records indicating an exit, and the number of persons under a removal
//! order identified as departed, per period, port and direction; with the
//! overstays (entries whose authorised stay ran out with no exit recorded).
//!
//! The figures come from counters kept per (partner, UTC day, port) in the
//! same transactions that store records, matches and receipts
//! (`store/derived.rs`), so a report reads about days × ports counters, never
//! the inbox; the overstays come from an index of open stays; departures from
//! the (few) removal-order flags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hub::Core;
use crate::presence::{Day, SECONDS_PER_DAY, day_from_ymd, day_of, ymd};
use crate::record::Timestamp;
use crate::store::{Band, Cell, StoreError, counter, in_period};

#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    pub hub: String,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub shared: u64,
    pub withheld: u64,
    pub withheld_by_reason: BTreeMap<String, u64>,
    /// Source records corrected (sent again with new content) and withdrawn.
    #[serde(default)]
    pub corrected: u64,
    #[serde(default)]
    pub withdrawn: u64,
    /// Corrections and deletions queued for partners, and received and applied.
    #[serde(default)]
    pub amendments_queued: u64,
    #[serde(default)]
    pub amendments_applied: u64,
    /// Amendments received for records this hub had already purged (its
    /// retention ran out first): logged, nothing to apply them to.
    #[serde(default)]
    pub amendments_to_purged: u64,
    /// Records held in quarantine now (a plugin failed on them).
    pub quarantined: u64,
    pub partners: Vec<PartnerStatus>,
    /// Per plugin since it was loaded: calls, records, failures, time.
    pub plugins: Vec<crate::plugins::PluginStats>,
    /// The audit log's head: compare a copy with `entrex audit verify --head`.
    #[serde(default)]
    pub audit: Option<crate::audit::Head>,
    /// The running totals over the last hour, for records per second.
    #[serde(default)]
    pub throughput: crate::throughput::Throughput,
    /// The matching index: its generation, the matcher it is kept for, and
    /// a rebuild's progress after the matcher changed.
    #[serde(default)]
    pub index: Option<crate::store::IndexStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PartnerStatus {
    pub partner: String,
    /// Highest sequence number queued for the partner.
    pub queued_upto: u64,
    /// Highest sequence number the partner acknowledged with a verified receipt.
    pub sent_upto: u64,
    /// Records queued but not yet acknowledged.
    pub backlog: u64,
    /// `backlog` as a percentage of the partner's queue capacity
    /// (`[[partner]] max_queue_records`, else `[exchange] max_queue_records`).
    #[serde(default)]
    pub queue_fill_percent: f64,
    /// Set when the backlog passed `[exchange] queue_alarm_percent`, with what
    /// it means; at 100% new source batches are refused until the queue drains.
    #[serde(default)]
    pub queue_alarm: Option<String>,
    pub bundles_sent: u64,
    /// Highest sequence number received from the partner (all verified).
    pub received_upto: u64,
    pub bundles_received: u64,
    /// Received records the matcher has looked at.
    pub match_cursor: u64,
    pub matched: u64,
    pub review: u64,
    /// Exits or pairs the matcher plugin failed on (left unmatched).
    pub match_failures: u64,
    /// Why the last attempt to deliver to the partner failed (TLS, network,
    /// refusal); absent once a delivery succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    /// The bundle the partner refuses (an answer, not a network failure),
    /// without the partner's words; `alarm` is set once the refusals in a
    /// row mean the stream is stopped.
    #[serde(default)]
    pub refused_bundle: Option<RefusedBundle>,
    /// Entries for the partner an operator set aside, and placeholders the
    /// partner sent for entries it set aside.
    #[serde(default)]
    pub set_aside: u64,
    #[serde(default)]
    pub set_aside_received: u64,
    /// Received records screened against the removal-order list (absent:
    /// the hub has no list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_screened_upto: Option<u64>,
    /// The newest bundle sealed for the partner, and when it was acknowledged.
    #[serde(default)]
    pub last_bundle_sent: Option<crate::store::BundleSummary>,
    /// The newest bundle received from the partner.
    #[serde(default)]
    pub last_bundle_received: Option<crate::store::BundleSummary>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefusedBundle {
    pub first_seq: u64,
    pub last_seq: u64,
    pub http_status: u16,
    pub attempts: u64,
    pub since: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
}

pub fn status(core: &Core) -> Result<Status, StoreError> {
    let s = &core.store;
    let mut withheld_by_reason = BTreeMap::new();
    for (name, n) in s.counters()? {
        if let Some(reason) = name.strip_prefix("withheld_reason/") {
            withheld_by_reason.insert(reason.to_owned(), n);
        }
    }
    let mut partners = Vec::new();
    for p in &core.partner_ids {
        let queued_upto = s.outbox_last(p)?;
        let sent_upto = s.sent_upto(p)?;
        let backlog = queued_upto.saturating_sub(sent_upto);
        let fill = queue_fill(core, p, backlog);
        partners.push(PartnerStatus {
            partner: p.clone(),
            queued_upto,
            sent_upto,
            backlog,
            queue_fill_percent: fill,
            queue_alarm: queue_alarm(core, p, backlog),
            bundles_sent: s.counter(&counter::bundles_sent(p))?,
            received_upto: s.inbox_last(p)?,
            bundles_received: s.counter(&counter::bundles_received(p))?,
            match_cursor: s.counter(&counter::match_cursor(p))?,
            matched: s.counter(&counter::matched(p))?,
            review: s.counter(&counter::review(p))?,
            match_failures: s.counter(&counter::match_failures(p))?,
            delivery_error: core
                .delivery_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(p)
                .cloned(),
            refused_bundle: core
                .metrics
                .delivery_state(p)
                .refused
                .map(|r| RefusedBundle {
                    first_seq: r.first_seq,
                    last_seq: r.last_seq,
                    http_status: r.http_status,
                    attempts: r.attempts,
                    since: r.since_unix,
                    alarm: (r.attempts >= crate::metrics::REFUSALS_STOPPED)
                        .then(|| crate::health::refused_alarm(p, &r)),
                }),
            set_aside: s.counter(&counter::set_aside(p))?,
            set_aside_received: s.counter(&counter::set_aside_received(p))?,
            removal_screened_upto: match core.removal_list() {
                Some(_) => Some(s.removal_cursor(p)?),
                None => None,
            },
            last_bundle_sent: s.last_bundle_out(p)?,
            last_bundle_received: s.last_bundle_in(p)?,
        });
    }
    Ok(Status {
        hub: core.settings.hub_id.clone(),
        accepted: s.counter(counter::ACCEPTED)?,
        rejected: s.counter(counter::REJECTED)?,
        duplicates: s.counter(counter::DUPLICATES)?,
        shared: s.counter(counter::SHARED)?,
        withheld: s.counter(counter::WITHHELD)?,
        withheld_by_reason,
        corrected: s.counter(counter::CORRECTED)?,
        withdrawn: s.counter(counter::WITHDRAWN)?,
        amendments_queued: s.counter(counter::AMENDMENTS_QUEUED)?,
        amendments_applied: s.counter(counter::AMENDMENTS_APPLIED)?,
        amendments_to_purged: s.counter(counter::AMENDMENTS_TO_PURGED)?,
        quarantined: s
            .counter(counter::QUARANTINED)?
            .saturating_sub(s.counter(counter::RELEASED)?),
        partners,
        audit: Some(core.audit.head()),
        throughput: core.throughput.with(crate::throughput::Sample::take(core)?),
        index: s.index_status()?,
        plugins: core.plugins().stats(),
    })
}

fn queue_fill(core: &Core, partner: &str, backlog: u64) -> f64 {
    backlog as f64 * 100.0 / core.queue_capacity(partner) as f64
}

/// The alarm text for a partner's queue, when it is past the alarm level.
pub fn queue_alarm(core: &Core, partner: &str, backlog: u64) -> Option<String> {
    let e = &core.settings.exchange;
    let capacity = core.queue_capacity(partner);
    let fill = queue_fill(core, partner, backlog);
    if backlog >= capacity {
        Some(format!(
            "queue for {partner} is full ({backlog} of {capacity} records): new source batches are refused until {partner} takes bundles again"
        ))
    } else if fill >= e.queue_alarm_percent as f64 {
        Some(format!(
            "queue for {partner} is {fill:.0}% full ({backlog} of {capacity} records): check that {partner} is reachable; at 100% new source batches are refused"
        ))
    } else {
        None
    }
}

/// The joint report as one hub sees it: totals per partner (`directions`,
/// the fields the first version had), and with `by`, one row per period,
/// port and direction.
#[derive(Debug, Serialize, Deserialize)]
pub struct JointReport {
    pub hub: String,
    /// The first second counted and the first not counted (whole UTC days).
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub directions: Vec<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Period>,
    /// Only this port of entry, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Per period, port and direction (with `by`), oldest first.
    #[serde(default)]
    pub rows: Vec<ReportRow>,
    /// Our entries whose authorised stay ran out with no exit recorded.
    #[serde(default)]
    pub overstays: Option<Overstays>,
}

/// One direction of the exchange as this hub sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Direction {
    pub partner: String,
    /// Records received from the partner (their entries: our exits) in the period.
    pub exit_records_received: u64,
    /// Of those, linked to one of our entries.
    pub exits_reconciled: u64,
    /// Of those, waiting for clerical review.
    pub exits_in_review: u64,
    /// `exits_reconciled / exit_records_received`.
    pub reconciliation_rate: Option<f64>,
    /// Our entry records sent to the partner in the period (their exits).
    pub entry_records_sent: u64,
    /// Persons under a removal order identified as departed into the
    /// partner's country in the period: each order once, at its earliest
    /// flagged departure that no person rejected. `None`: this hub holds no
    /// removal-order list.
    pub removal_orders_departed: Option<u64>,
}

/// The length of the periods a report is broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// UTC calendar days.
    Day,
    /// ISO 8601 weeks, Monday to Sunday (`2026-W47`).
    Week,
    /// Calendar months (`2026-11`).
    Month,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Period, String> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            _ => Err(format!("{s:?} is not a period; write day, week or month")),
        }
    }
}

impl Period {
    /// The first day of the period that holds `day`.
    pub fn start(self, day: Day) -> Day {
        match self {
            Period::Day => day,
            // 1970-01-01 (day 0) was a Thursday: Monday-based weekday 3.
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month => {
                let (y, m, _) = ymd(day);
                day_from_ymd(y, m, 1).expect("the first of a month exists")
            }
        }
    }

    /// The period's name, from its first day: `2026-11-21`, `2026-W47`, `2026-11`.
    pub fn label(self, start: Day) -> String {
        match self {
            Period::Day => date(start),
            Period::Week => {
                // An ISO week belongs to the year of its Thursday.
                let thursday = start + 3;
                let (year, _, _) = ymd(thursday);
                let jan1 = day_from_ymd(year, 1, 1).expect("1 January exists");
                format!("{year:04}-W{:02}", (thursday - jan1) / 7 + 1)
            }
            Period::Month => {
                let (y, m, _) = ymd(start);
                format!("{y:04}-{m:02}")
            }
        }
    }
}

/// A day number as `YYYY-MM-DD`.
pub fn date(day: Day) -> String {
    let (y, m, d) = ymd(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The records of one direction at one port in one period. A direction is a
/// stream of the exchange: `from_hub`'s entry records, sent to `to_hub`,
/// where they are exit records. A hub knows what it sent and what it
/// received, so on one hub's report a row has either `entry_records_sent` or
/// the received figures; `entrex report` with both hubs fills both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// `2026-11-21`, `2026-W47`, `2026-11`, or `total`.
    pub period: String,
    /// The period's first day (`YYYY-MM-DD`); periods at the report's edges
    /// count only the days inside `from..to`.
    pub period_start: String,
    /// The port of entry into `from_hub`'s country (`*`: all ports).
    pub port: String,
    pub from_hub: String,
    pub to_hub: String,
    pub entry_records_sent: Option<u64>,
    pub exit_records_received: Option<u64>,
    pub exits_reconciled: Option<u64>,
    pub exits_in_review: Option<u64>,
    pub reconciliation_rate: Option<f64>,
    pub removal_orders_departed: Option<u64>,
}

impl ReportRow {
    fn new(period: String, period_start: String, port: &str, from: &str, to: &str) -> ReportRow {
        ReportRow {
            period,
            period_start,
            port: port.to_owned(),
            from_hub: from.to_owned(),
            to_hub: to.to_owned(),
            entry_records_sent: None,
            exit_records_received: None,
            exits_reconciled: None,
            exits_in_review: None,
            reconciliation_rate: None,
            removal_orders_departed: None,
        }
    }

    fn key(&self) -> (String, String, String, String) {
        (
            self.period_start.clone(),
            self.port.clone(),
            self.from_hub.clone(),
            self.to_hub.clone(),
        )
    }

    fn add_received(&mut self, cell: &Cell) {
        let add = |slot: &mut Option<u64>, n: u64| *slot = Some(slot.unwrap_or(0) + n);
        add(&mut self.exit_records_received, cell.received);
        add(&mut self.exits_reconciled, cell.reconciled);
        add(&mut self.exits_in_review, cell.review);
        self.rate();
    }

    fn rate(&mut self) {
        self.reconciliation_rate = match (self.exits_reconciled, self.exit_records_received) {
            (Some(r), Some(n)) if n > 0 => Some(r as f64 / n as f64),
            _ => None,
        };
    }

    /// Takes from `other` (the same row from the other hub's report) the
    /// figures only that hub knows.
    fn merge(&mut self, other: &ReportRow) {
        let take = |mine: &mut Option<u64>, theirs: Option<u64>| {
            if mine.is_none() {
                *mine = theirs;
            }
        };
        take(&mut self.entry_records_sent, other.entry_records_sent);
        take(&mut self.exit_records_received, other.exit_records_received);
        take(&mut self.exits_reconciled, other.exits_reconciled);
        take(&mut self.exits_in_review, other.exits_in_review);
        take(
            &mut self.removal_orders_departed,
            other.removal_orders_departed,
        );
        self.rate();
    }
}

/// Overstays as of a moment: our entries whose authorised stay ended before
/// it and to which no exit is linked, recomputed as late exits arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overstays {
    pub hub: String,
    /// The report's `to`, or now if that is earlier or not given.
    pub as_of: Timestamp,
    /// All of them (at the report's port, if one was given).
    pub total: u64,
    /// With `by`: those whose last authorised day falls in `from..to`, by the
    /// period of that day and the port of entry.
    pub rows: Vec<OverstayRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverstayRow {
    pub period: String,
    pub period_start: String,
    pub port: String,
    pub count: u64,
}

/// What a joint report covers.
#[derive(Clone, Debug, Default)]
pub struct ReportQuery {
    /// The first UTC day counted, and the first day not counted.
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub by: Option<Period>,
    pub port: Option<String>,
}

/// The report over `from..to` (unix seconds, widened to whole UTC days: the
/// counters are per day), totals only.
pub fn joint_report(
    core: &Core,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<JointReport, StoreError> {
    joint_report_for(
        core,
        &ReportQuery {
            from: from.map(day_of),
            to: to.map(|t| day_of(t + SECONDS_PER_DAY - 1)),
            ..ReportQuery::default()
        },
    )
}

pub fn joint_report_for(core: &Core, q: &ReportQuery) -> Result<JointReport, StoreError> {
    let s = &core.store;
    let me = core.settings.hub_id.as_str();
    let port_ok = |p: &str| q.port.as_deref().is_none_or(|want| want == p);
    let in_range = |day: Day| q.from.is_none_or(|f| day >= f) && q.to.is_none_or(|t| day < t);
    let departures = crate::removal::departures(core)?;
    let has_list = core.removal_list().is_some() || !departures.is_empty();
    let mut rows: Rows = BTreeMap::new();
    let mut directions = Vec::new();
    for p in &core.partner_ids {
        let mut total = Cell::default();
        for at in s.report_cells(p, q.from, q.to)? {
            if !port_ok(&at.port) {
                continue;
            }
            let c = at.cell;
            total.received += c.received;
            total.reconciled += c.reconciled;
            total.review += c.review;
            total.sent += c.sent;
            if q.by.is_none() {
                continue;
            }
            if c.received + c.reconciled + c.review > 0 {
                let r = row(&mut rows, q, at.day, &at.port, p, me);
                r.add_received(&c);
                if has_list && r.removal_orders_departed.is_none() {
                    r.removal_orders_departed = Some(0);
                }
            }
            if c.sent > 0 {
                let r = row(&mut rows, q, at.day, &at.port, me, p);
                r.entry_records_sent = Some(r.entry_records_sent.unwrap_or(0) + c.sent);
            }
        }
        let mut departed = 0;
        for d in departures.iter().filter(|d| &d.partner == p) {
            if !in_range(day_of(d.at)) || !port_ok(&d.port) {
                continue;
            }
            departed += 1;
            if q.by.is_some() {
                let r = row(&mut rows, q, day_of(d.at), &d.port, p, me);
                r.removal_orders_departed = Some(r.removal_orders_departed.unwrap_or(0) + 1);
            }
        }
        directions.push(Direction {
            partner: p.clone(),
            exit_records_received: total.received,
            exits_reconciled: total.reconciled,
            exits_in_review: total.review,
            reconciliation_rate: (total.received > 0)
                .then(|| total.reconciled as f64 / total.received as f64),
            entry_records_sent: total.sent,
            removal_orders_departed: has_list.then_some(departed),
        });
    }
    let overstays = overstays_summary(core, q)?;
    Ok(JointReport {
        hub: me.to_owned(),
        from: q.from.map(|d| d * SECONDS_PER_DAY),
        to: q.to.map(|d| d * SECONDS_PER_DAY),
        directions,
        by: q.by,
        port: q.port.clone(),
        rows: rows.into_values().collect(),
        overstays: Some(overstays),
    })
}

type Rows = BTreeMap<(String, String, String, String), ReportRow>;

/// The row of `day`'s period, `port` and direction `from`→`to`, made if new.
fn row<'a>(
    rows: &'a mut Rows,
    q: &ReportQuery,
    day: Day,
    port: &str,
    from: &str,
    to: &str,
) -> &'a mut ReportRow {
    let by = q.by.expect("rows only with a period");
    let start = by.start(day);
    let r = ReportRow::new(by.label(start), date(start), port, from, to);
    rows.entry(r.key()).or_insert(r)
}

fn overstays_summary(core: &Core, q: &ReportQuery) -> Result<Overstays, StoreError> {
    let now = crate::exchange::now();
    let as_of = q.to.map_or(now, |t| (t * SECONDS_PER_DAY).min(now));
    let mut total = 0;
    let mut rows: BTreeMap<(Day, String), u64> = BTreeMap::new();
    core.store.open_stays_before(as_of, |stay| {
        if q.port.as_deref().is_some_and(|want| want != stay.port) {
            return true;
        }
        total += 1;
        let day = day_of(stay.authorised_stay_until);
        if let Some(by) = q.by
            && q.from.is_none_or(|f| day >= f)
        {
            *rows.entry((by.start(day), stay.port)).or_default() += 1;
        }
        true
    })?;
    Ok(Overstays {
        hub: core.settings.hub_id.clone(),
        as_of,
        total,
        rows: rows
            .into_iter()
            .map(|((start, port), count)| OverstayRow {
                period: q.by.map(|b| b.label(start)).unwrap_or_default(),
                period_start: date(start),
                port,
                count,
            })
            .collect(),
    })
}

/// One or two hubs' reports as one table: each direction's row takes what
/// was sent from the sending hub's report and the rest from the receiving
/// hub's, plus a total per direction.
#[derive(Debug, Serialize, Deserialize)]
pub struct CombinedReport {
    pub hubs: Vec<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub by: Option<Period>,
    pub port: Option<String>,
    pub rows: Vec<ReportRow>,
    /// Per direction over the whole report (`period` is `total`, `port` the
    /// report's port or `*`).
    pub totals: Vec<ReportRow>,
    pub overstays: Vec<Overstays>,
}

pub fn combine(reports: &[JointReport]) -> CombinedReport {
    let mut rows: Rows = BTreeMap::new();
    let mut totals: BTreeMap<(String, String), ReportRow> = BTreeMap::new();
    let first = reports.first();
    let port = first.and_then(|r| r.port.clone());
    for report in reports {
        for r in &report.rows {
            match rows.get_mut(&r.key()) {
                Some(mine) => mine.merge(r),
                None => {
                    rows.insert(r.key(), r.clone());
                }
            }
        }
        for d in &report.directions {
            let all = port.clone().unwrap_or_else(|| "*".into());
            let mut sent =
                ReportRow::new("total".into(), String::new(), &all, &report.hub, &d.partner);
            sent.entry_records_sent = Some(d.entry_records_sent);
            let mut received =
                ReportRow::new("total".into(), String::new(), &all, &d.partner, &report.hub);
            received.add_received(&Cell {
                received: d.exit_records_received,
                reconciled: d.exits_reconciled,
                review: d.exits_in_review,
                sent: 0,
            });
            received.removal_orders_departed = d.removal_orders_departed;
            for r in [sent, received] {
                match totals.get_mut(&(r.from_hub.clone(), r.to_hub.clone())) {
                    Some(mine) => mine.merge(&r),
                    None => {
                        totals.insert((r.from_hub.clone(), r.to_hub.clone()), r);
                    }
                }
            }
        }
    }
    CombinedReport {
        hubs: reports.iter().map(|r| r.hub.clone()).collect(),
        from: first.and_then(|r| r.from),
        to: first.and_then(|r| r.to),
        by: first.and_then(|r| r.by),
        port,
        rows: rows.into_values().collect(),
        totals: totals.into_values().collect(),
        overstays: reports.iter().filter_map(|r| r.overstays.clone()).collect(),
    }
}

const CSV_COLUMNS: &str = "period,period_start,port,direction,entry_records_sent,exit_records_received,exits_reconciled,exits_in_review,reconciliation_rate,removal_orders_departed";

fn cells(r: &ReportRow) -> [String; 10] {
    let n = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        r.period.clone(),
        r.period_start.clone(),
        r.port.clone(),
        format!("{}→{}", r.from_hub, r.to_hub),
        n(r.entry_records_sent),
        n(r.exit_records_received),
        n(r.exits_reconciled),
        n(r.exits_in_review),
        r.reconciliation_rate
            .map(|x| format!("{x:.4}"))
            .unwrap_or_default(),
        n(r.removal_orders_departed),
    ]
}

impl CombinedReport {
    /// CSV (RFC 4180): the rows, then the totals; empty where a figure is
    /// not known from the hubs asked.
    pub fn to_csv(&self) -> String {
        let mut out = format!("{CSV_COLUMNS}\n");
        for r in self.rows.iter().chain(&self.totals) {
            let line: Vec<String> = cells(r)
                .into_iter()
                .map(|c| {
                    if c.contains([',', '"', '\n']) {
                        format!("\"{}\"", c.replace('"', "\"\""))
                    } else {
                        c
                    }
                })
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// A table for people: `-` where a figure is not known from the hubs asked.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let span = |t: Option<Timestamp>| t.map(|t| date(day_of(t))).unwrap_or_else(|| "…".into());
        let _ = writeln!(
            out,
            "joint report, hubs {}, days {} to {} (exclusive){}",
            self.hubs.join(" and "),
            span(self.from),
            span(self.to),
            self.port
                .as_ref()
                .map(|p| format!(", port {p}"))
                .unwrap_or_default()
        );
        let head = [
            "period",
            "start",
            "port",
            "direction",
            "sent",
            "received",
            "reconciled",
            "review",
            "rate",
            "removal",
        ];
        let widths = [10, 10, 8, 9, 9, 9, 10, 7, 8, 7];
        let line = |out: &mut String, values: &[String]| {
            for (i, (v, w)) in values.iter().zip(widths).enumerate() {
                let sep = if i == 0 { "" } else { "  " };
                if i < 4 {
                    let _ = write!(out, "{sep}{v:<w$}");
                } else {
                    let _ = write!(out, "{sep}{v:>w$}");
                }
            }
            out.push('\n');
        };
        line(&mut out, &head.map(String::from));
        for r in self.rows.iter().chain(&self.totals) {
            let mut values = cells(r);
            for v in values.iter_mut().skip(4) {
                if v.is_empty() {
                    *v = "-".into();
                }
            }
            if let Ok(rate) = values[8].parse::<f64>() {
                values[8] = format!("{:.1}%", rate * 100.0);
            }
            line(&mut out, &values);
        }
        for o in &self.overstays {
            let _ = writeln!(
                out,
                "{}: {} overstay(s) as of {} (entries whose authorised stay ended with no exit recorded)",
                o.hub,
                o.total,
                crate::record::format_time(o.as_of)
            );
            for r in &o.rows {
                let _ = writeln!(
                    out,
                    "  stay ended {} at port {}: {}",
                    r.period, r.port, r.count
                );
            }
        }
        out
    }
}

/// Everything held about one travel document, for the person's right of access.
#[derive(Debug, Serialize, Deserialize)]
pub struct PersonExport {
    pub hub: String,
    pub document_country: String,
    pub document_number: String,
    /// This hub's crossings with the document (whole, local facts included).
    pub crossings: Vec<ExportedCrossing>,
    /// Partners' records with the document (their entries: our exits).
    pub received: Vec<ExportedRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedCrossing {
    pub entry_id: u64,
    pub crossing: crate::record::Crossing,
    pub decision: crate::record::Decision,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedRecord {
    pub partner: String,
    pub seq: u64,
    pub record: crate::record::SharedRecord,
    /// The entry of ours it is linked to, if any.
    pub matched_entry: Option<u64>,
}

/// Inbox records read per step of a scan.
const SCAN_CHUNK: usize = 4096;

/// Scans the crossings and inboxes: an individual-access request is rare, and
/// no index by document is kept for it.
pub fn person_export(core: &Core, country: &str, number: &str) -> Result<PersonExport, StoreError> {
    let s = &core.store;
    let crossings = s
        .crossings_where(|c| c.document_country == country && c.document_number == number)?
        .into_iter()
        .map(|(entry_id, c)| ExportedCrossing {
            entry_id,
            crossing: c.crossing,
            decision: c.decision,
        })
        .collect();
    let mut received = Vec::new();
    for p in &core.partner_ids {
        let mut next = 1;
        loop {
            let chunk = s.inbox_from(p, next, SCAN_CHUNK)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            for (seq, entry) in chunk {
                if let crate::record::Entry::Record(r) = entry
                    && r.document_country == country
                    && r.document_number == number
                {
                    let matched_entry = s
                        .match_for(p, seq)?
                        .filter(|m| m.band == Band::Link)
                        .map(|m| m.entry_id);
                    received.push(ExportedRecord {
                        partner: p.clone(),
                        seq,
                        record: r,
                        matched_entry,
                    });
                }
            }
            next = last + 1;
        }
    }
    Ok(PersonExport {
        hub: core.settings.hub_id.clone(),
        document_country: country.to_owned(),
        document_number: number.to_owned(),
        crossings,
        received,
    })
}

/// Reconciliation broken down over time and by port, for the dashboard's
/// charts: the joint report's received-exit figures, per partner, per period
/// of `step` seconds and per port of entry into the partner's country (which
/// is where the traveller left ours).
#[derive(Debug, Serialize, Deserialize)]
pub struct Breakdown {
    pub hub: String,
    /// The periods' edges: the request's `from..to` (else the span of the
    /// records held) widened to whole multiples of `step` since the epoch
    /// (whole UTC hours, days). Only records inside the request's `from..to`
    /// are counted, so periods at the edges may be partly empty. `None`
    /// when there is nothing to count.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub step: i64,
    pub partners: Vec<PartnerBreakdown>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PartnerBreakdown {
    pub partner: String,
    /// Over the whole of `from..to`: equal to the joint report's direction.
    #[serde(flatten)]
    pub total: Reconciliation,
    /// Oldest first, one per step, empty periods included.
    pub periods: Vec<PeriodReconciliation>,
    /// By port code, ports with the most exit records first.
    pub ports: Vec<PortReconciliation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub exit_records_received: u64,
    pub exits_reconciled: u64,
    pub exits_in_review: u64,
    /// `exits_reconciled / exit_records_received`; `None` with no records.
    pub reconciliation_rate: Option<f64>,
}

impl Reconciliation {
    fn add(&mut self, band: Option<Band>) {
        self.exit_records_received += 1;
        match band {
            Some(Band::Link) => self.exits_reconciled += 1,
            Some(Band::Review) => self.exits_in_review += 1,
            None => {}
        }
    }

    fn merge(&mut self, other: &Reconciliation) {
        self.exit_records_received += other.exit_records_received;
        self.exits_reconciled += other.exits_reconciled;
        self.exits_in_review += other.exits_in_review;
    }

    fn with_rate(mut self) -> Reconciliation {
        let n = self.exit_records_received;
        self.reconciliation_rate = (n > 0).then(|| self.exits_reconciled as f64 / n as f64);
        self
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PeriodReconciliation {
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(flatten)]
    pub figures: Reconciliation,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PortReconciliation {
    pub port_code: String,
    #[serde(flatten)]
    pub figures: Reconciliation,
}

/// Periods are counted in whole hours, so `step` must be a multiple of this.
pub const BREAKDOWN_STEP_UNIT: i64 = 3600;
/// More periods than this in one answer is a mistake (a chart cannot show them).
pub const BREAKDOWN_MAX_PERIODS: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum BreakdownError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One pass over each partner's inbox, as [`joint_report`] makes: each
/// record is counted into its hour and its port, then hours are summed into
/// periods of `step` seconds (default: hours for up to two days of records,
/// else days).
pub fn breakdown(
    core: &Core,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    step: Option<i64>,
) -> Result<Breakdown, BreakdownError> {
    // Ten thousand years either side of 1970: beyond that, arithmetic on the
    // edges could overflow, and no record is there.
    const FAR: i64 = 10_000 * 366 * 86_400;
    if let Some(t) = from.into_iter().chain(to).find(|t| t.abs() > FAR) {
        return Err(BreakdownError::BadRequest(format!(
            "{t} is too far from today to be a time; give unix seconds"
        )));
    }
    if let Some(step) = step
        && (step <= 0 || step > FAR || step % BREAKDOWN_STEP_UNIT != 0)
    {
        return Err(BreakdownError::BadRequest(format!(
            "step={step} is not a whole number of hours; give seconds, e.g. step=3600 (hours) or step=86400 (days)"
        )));
    }
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(BreakdownError::BadRequest(format!(
            "from={f} is not before to={t}"
        )));
    }
    let s = &core.store;
    // Per partner: (hour → figures, port → figures, total).
    let mut scanned = Vec::new();
    let (mut first_hour, mut last_hour) = (i64::MAX, i64::MIN);
    for p in &core.partner_ids {
        let mut hours: BTreeMap<i64, Reconciliation> = BTreeMap::new();
        let mut ports: BTreeMap<String, Reconciliation> = BTreeMap::new();
        let mut total = Reconciliation::default();
        let mut next = 1;
        loop {
            let chunk = s.inbox_from(p, next, SCAN_CHUNK)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            for (seq, entry) in &chunk {
                let crate::record::Entry::Record(record) = entry else {
                    continue;
                };
                if !in_period(record.entered_at, from, to) {
                    continue;
                }
                let band = s.match_for(p, *seq)?.map(|m| m.band);
                let hour = record.entered_at.div_euclid(BREAKDOWN_STEP_UNIT);
                first_hour = first_hour.min(hour);
                last_hour = last_hour.max(hour);
                hours.entry(hour).or_default().add(band);
                ports.entry(record.port_code.clone()).or_default().add(band);
                total.add(band);
            }
            next = last + 1;
        }
        scanned.push((p.clone(), hours, ports, total));
    }
    let span_hours = if first_hour <= last_hour {
        last_hour - first_hour + 1
    } else {
        0
    };
    let step = step.unwrap_or(if span_hours <= 48 {
        BREAKDOWN_STEP_UNIT
    } else {
        24 * BREAKDOWN_STEP_UNIT
    });
    // The periods' edges: the request's, or the records' span, on whole steps.
    let start = from
        .or_else(|| (span_hours > 0).then(|| first_hour * BREAKDOWN_STEP_UNIT))
        .map(|t| t.div_euclid(step) * step);
    let end = to
        .or_else(|| (span_hours > 0).then(|| (last_hour + 1) * BREAKDOWN_STEP_UNIT))
        .map(|t| t.div_euclid(step) * step + if t.rem_euclid(step) == 0 { 0 } else { step });
    let periods = match (start, end) {
        (Some(a), Some(b)) => (b - a) / step,
        _ => 0,
    };
    if periods > BREAKDOWN_MAX_PERIODS {
        return Err(BreakdownError::BadRequest(format!(
            "{periods} periods of {step} s; at most {BREAKDOWN_MAX_PERIODS}: choose a longer step or a shorter span"
        )));
    }
    let partners = scanned
        .into_iter()
        .map(|(partner, hours, ports, total)| {
            let periods = match (start, end) {
                (Some(start), Some(end)) => (start..end)
                    .step_by(step as usize)
                    .map(|p_from| {
                        let mut figures = Reconciliation::default();
                        let hour_range =
                            p_from / BREAKDOWN_STEP_UNIT..(p_from + step) / BREAKDOWN_STEP_UNIT;
                        for (_, h) in hours.range(hour_range) {
                            figures.merge(h);
                        }
                        PeriodReconciliation {
                            from: p_from,
                            to: p_from + step,
                            figures: figures.with_rate(),
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let mut ports: Vec<PortReconciliation> = ports
                .into_iter()
                .map(|(port_code, figures)| PortReconciliation {
                    port_code,
                    figures: figures.with_rate(),
                })
                .collect();
            ports.sort_by(|a, b| {
                b.figures
                    .exit_records_received
                    .cmp(&a.figures.exit_records_received)
                    .then_with(|| a.port_code.cmp(&b.port_code))
            });
            PartnerBreakdown {
                partner,
                total: total.with_rate(),
                periods,
                ports,
            }
        })
        .collect();
    Ok(Breakdown {
        hub: core.settings.hub_id.clone(),
        from: start,
        to: end,
        step,
        partners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i64, m: u32, day: u32) -> Day {
        day_from_ymd(y, m, day).unwrap()
    }

    #[test]
    fn periods_start_and_are_named_by_calendar() {
        // 2026-11-21 is a Saturday; its ISO week starts on Monday 2026-11-16.
        // 1 January 2026 is a Thursday, so week 1 is 2025-12-29 ..= 2026-01-04
        // and 2026-11-16 is 3 + 319 = 322 days = 46 weeks later: week 47.
        let day = d(2026, 11, 21);
        assert_eq!(Period::Day.label(Period::Day.start(day)), "2026-11-21");
        assert_eq!(Period::Week.start(day), d(2026, 11, 16));
        assert_eq!(Period::Week.label(d(2026, 11, 16)), "2026-W47");
        assert_eq!(Period::Month.start(day), d(2026, 11, 1));
        assert_eq!(Period::Month.label(d(2026, 11, 1)), "2026-11");
        // 2027-01-01 (a Friday) is in the last ISO week of 2026, its 53rd
        // (2026 starts on a Thursday); 2024-12-30 (a Monday) starts 2025-W01.
        assert_eq!(Period::Week.start(d(2027, 1, 1)), d(2026, 12, 28));
        assert_eq!(Period::Week.label(d(2026, 12, 28)), "2026-W53");
        assert_eq!(
            Period::Week.label(Period::Week.start(d(2025, 1, 1))),
            "2025-W01"
        );
        assert_eq!(Period::Week.start(d(2025, 1, 1)), d(2024, 12, 30));
        // Before 1970 too.
        assert_eq!(Period::Week.start(d(1969, 12, 31)), d(1969, 12, 29));
    }

    fn row(period_start: &str, from: &str, to: &str) -> ReportRow {
        ReportRow::new("p".into(), period_start.into(), "0427", from, to)
    }

    #[test]
    fn two_hubs_fill_each_others_blanks() {
        let mut mine = row("2026-11-01", "CA", "US");
        mine.entry_records_sent = Some(10);
        let mut theirs = row("2026-11-01", "CA", "US");
        theirs.add_received(&Cell {
            received: 10,
            reconciled: 9,
            review: 1,
            sent: 0,
        });
        mine.merge(&theirs);
        assert_eq!(
            (
                mine.entry_records_sent,
                mine.exit_records_received,
                mine.exits_reconciled,
                mine.exits_in_review,
                mine.reconciliation_rate,
                mine.removal_orders_departed
            ),
            (Some(10), Some(10), Some(9), Some(1), Some(0.9), None)
        );
    }
}

#[cfg(test)]
mod render_tests {
    use super::*;

    #[test]
    fn the_text_table_shows_unknown_figures_as_dashes() {
        let mut sent = ReportRow::new("2026-11".into(), "2026-11-01".into(), "0427", "CA", "US");
        sent.entry_records_sent = Some(120);
        let mut received =
            ReportRow::new("2026-11".into(), "2026-11-01".into(), "3004", "US", "CA");
        received.add_received(&Cell {
            received: 80,
            reconciled: 76,
            review: 2,
            sent: 0,
        });
        received.removal_orders_departed = Some(1);
        let report = CombinedReport {
            hubs: vec!["CA".into()],
            from: Some(day_from_ymd(2026, 11, 1).unwrap() * SECONDS_PER_DAY),
            to: Some(day_from_ymd(2026, 12, 1).unwrap() * SECONDS_PER_DAY),
            by: Some(Period::Month),
            port: None,
            rows: vec![sent, received],
            totals: Vec::new(),
            overstays: vec![Overstays {
                hub: "CA".into(),
                as_of: day_from_ymd(2026, 12, 1).unwrap() * SECONDS_PER_DAY,
                total: 3,
                rows: Vec::new(),
            }],
        };
        let text = report.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "joint report, hubs CA, days 2026-11-01 to 2026-12-01 (exclusive)"
        );
        // 76 of 80 reconciled: 95.0%.
        assert!(
            lines[2].contains("CA→US") && lines[2].contains("120") && lines[2].ends_with("-"),
            "{text}"
        );
        assert!(
            lines[3].contains("95.0%") && lines[3].ends_with("1"),
            "{text}"
        );
        assert_eq!(
            lines[4],
            "CA: 3 overstay(s) as of 2026-12-01T00:00:00Z (entries whose authorised stay ended with no exit recorded)"
        );
    }
}
