//! What a hub tells its operators (status) and what both countries report
//! jointly: reconciliation rates between entry and exit records, and the
//! number of records indicating an exit, per direction and period.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hub::Core;
use crate::record::Timestamp;
use crate::store::{Band, StoreError, counter, in_period};

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
    /// `backlog` as a percentage of `[exchange] max_queue_records`.
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
    /// The newest bundle sealed for the partner, and when it was acknowledged.
    #[serde(default)]
    pub last_bundle_sent: Option<crate::store::BundleSummary>,
    /// The newest bundle received from the partner.
    #[serde(default)]
    pub last_bundle_received: Option<crate::store::BundleSummary>,
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
        let fill = queue_fill(core, backlog);
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
        quarantined: s
            .counter(counter::QUARANTINED)?
            .saturating_sub(s.counter(counter::RELEASED)?),
        partners,
        audit: Some(core.audit.head()),
        throughput: core.throughput.with(crate::throughput::Sample::take(core)?),
        plugins: {
            let p = core.plugins();
            vec![
                p.normaliser.stats(),
                p.eligibility.stats(),
                p.matcher.stats(),
                p.transport.stats(),
            ]
        },
    })
}

fn queue_fill(core: &Core, backlog: u64) -> f64 {
    backlog as f64 * 100.0 / core.settings.exchange.max_queue_records as f64
}

/// The alarm text for a partner's queue, when it is past the alarm level.
pub fn queue_alarm(core: &Core, partner: &str, backlog: u64) -> Option<String> {
    let e = &core.settings.exchange;
    let fill = queue_fill(core, backlog);
    if backlog >= e.max_queue_records {
        Some(format!(
            "queue for {partner} is full ({backlog} of {} records): new source batches are refused until {partner} takes bundles again",
            e.max_queue_records
        ))
    } else if fill >= e.queue_alarm_percent as f64 {
        Some(format!(
            "queue for {partner} is {fill:.0}% full ({backlog} of {} records): check that {partner} is reachable; at 100% new source batches are refused",
            e.max_queue_records
        ))
    } else {
        None
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JointReport {
    pub hub: String,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub directions: Vec<Direction>,
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
    /// Persons subject to a removal order identified as departed: needs the
    /// removal-order list, which this hub does not hold yet.
    pub removal_orders_departed: Option<u64>,
}

const SCAN_CHUNK: usize = 4096;

pub fn joint_report(
    core: &Core,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<JointReport, StoreError> {
    let s = &core.store;
    let mut directions = Vec::new();
    for p in &core.partner_ids {
        let (mut received, mut reconciled, mut review) = (0, 0, 0);
        let mut next = 1;
        loop {
            let chunk = s.inbox_from(p, next, SCAN_CHUNK)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            for (seq, entry) in &chunk {
                // Amendments are logged under their own numbers but already
                // applied to the records they amend; tombstones count for nothing.
                let crate::record::Entry::Record(record) = entry else {
                    continue;
                };
                if !in_period(record.entered_at, from, to) {
                    continue;
                }
                received += 1;
                match s.match_for(p, *seq)?.map(|m| m.band) {
                    Some(Band::Link) => reconciled += 1,
                    Some(Band::Review) => review += 1,
                    None => {}
                }
            }
            next = last + 1;
        }
        let mut sent = 0;
        let sent_upto = s.sent_upto(p)?;
        let mut next = 1;
        while next <= sent_upto {
            let chunk = s.outbox_from(p, next, SCAN_CHUNK)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            sent += chunk
                .iter()
                .filter(|(seq, e)| {
                    *seq <= sent_upto
                        && matches!(e, crate::record::Entry::Record(r) if in_period(r.entered_at, from, to))
                })
                .count() as u64;
            next = last + 1;
        }
        directions.push(Direction {
            partner: p.clone(),
            exit_records_received: received,
            exits_reconciled: reconciled,
            exits_in_review: review,
            reconciliation_rate: (received > 0).then(|| reconciled as f64 / received as f64),
            entry_records_sent: sent,
            removal_orders_departed: None,
        });
    }
    Ok(JointReport {
        hub: core.settings.hub_id.clone(),
        from,
        to,
        directions,
    })
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
        .or((span_hours > 0).then_some(first_hour * BREAKDOWN_STEP_UNIT))
        .map(|t| t.div_euclid(step) * step);
    let end = to
        .or((span_hours > 0).then_some((last_hour + 1) * BREAKDOWN_STEP_UNIT))
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
