//! What a hub tells its monitoring: Prometheus metrics (`GET /metrics`, in
//! the OpenMetrics text format Prometheus scrapes) and the state readiness
//! needs about deliveries.
//!
//! Two sources, kept apart on purpose:
//!
//! - **durable counters** (records accepted, rejected, withheld, bundles
//!   sent and received, matches) are read from the store at each scrape, so
//!   they survive restarts and agree with `GET /v1/status`;
//! - **process metrics** (delivery latency, ingest rejections by field,
//!   delivery failures, HTTP requests) live in memory since start-up, like a
//!   process's CPU time; Prometheus handles their reset at a restart.
//!
//! Plugin counters come from the plugins themselves and restart at a reload.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::hub::Core;
use crate::ingest::IngestReport;
use crate::store::{ItemResult, StoreError, counter};

/// The media type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Distinct `field` labels counted before the rest go under "other": a
/// normaliser names the fields, and a label per distinct name must not grow
/// without bound.
const MAX_FIELD_LABELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabel {
    partner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FieldLabel {
    field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

/// How the last delivery attempts to one partner went.
#[derive(Clone, Debug, Default)]
pub struct DeliveryState {
    /// When the last attempt ended.
    pub last_attempt: Option<Instant>,
    /// Why the last attempt failed; `None` if it succeeded.
    pub error: Option<String>,
    /// When the current run of failures began; `None` after a success.
    pub failing_since: Option<Instant>,
    /// Unix time of the last delivery whose receipt verified.
    pub last_success_unix: Option<i64>,
    /// The partner refuses the bundle at the head of the queue (an answer,
    /// not a network failure); cleared by a delivery.
    pub refused: Option<Refusal>,
}

/// A bundle the partner refused, and how often in a row.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub first_seq: u64,
    pub last_seq: u64,
    pub http_status: u16,
    pub attempts: u64,
    /// Unix time of the first refusal of this bundle.
    pub since_unix: i64,
    /// What the partner said, as it said it: untrusted text that may quote
    /// a record, so it is shown only through the audited
    /// `GET /v1/exchange/refused`, never in logs, status or readiness.
    pub partner_says: String,
}

/// Refusals of the same bundle in a row after which the stream counts as
/// stopped: one refusal may be a partner mid-reload; three are a bundle it
/// will not take without someone acting.
pub const REFUSALS_STOPPED: u64 = 3;

/// Longest explanation of a partner's kept (it is shown to operators).
const MAX_PARTNER_SAYS: usize = 4096;

/// The metrics a hub keeps in memory; one per [`Core`].
pub struct Metrics {
    delivery_seconds: Family<PartnerLabel, Histogram>,
    delivery_failures: Family<PartnerLabel, Counter>,
    rejections: Family<FieldLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
    connections_closed: Family<ReasonLabel, Counter>,
    /// The `field` labels in use in `rejections`.
    rejection_fields: Mutex<std::collections::BTreeSet<String>>,
    deliveries: Mutex<BTreeMap<String, DeliveryState>>,
    started_unix: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            // 5 ms to about 80 s: a delivery is a TLS round trip plus the
            // partner's fsync, and the transport's deadline is two minutes.
            delivery_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 15))
            }),
            delivery_failures: Family::default(),
            rejections: Family::default(),
            requests: Family::default(),
            connections_closed: Family::default(),
            rejection_fields: Mutex::default(),
            deliveries: Mutex::default(),
            started_unix: crate::exchange::now(),
        }
    }
}

impl Metrics {
    /// A bundle was delivered and its receipt verified, `latency` after it
    /// was handed to the transport.
    pub fn delivered(&self, partner: &str, latency: Duration) {
        self.delivery_seconds
            .get_or_create(&partner_label(partner))
            .observe(latency.as_secs_f64());
    }

    /// The outcome of one delivery attempt (see `Core::note_delivery`).
    pub fn delivery_attempt(&self, partner: &str, error: Option<&str>) {
        let now = Instant::now();
        let mut all = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        let state = all.entry(partner.to_owned()).or_default();
        state.last_attempt = Some(now);
        match error {
            Some(why) => {
                self.delivery_failures
                    .get_or_create(&partner_label(partner))
                    .inc();
                state.error = Some(why.to_owned());
                state.failing_since.get_or_insert(now);
            }
            None => {
                state.error = None;
                state.failing_since = None;
                state.refused = None;
                state.last_success_unix = Some(crate::exchange::now());
            }
        }
    }

    /// The partner refused bundle `first..=last` (HTTP `status`, saying `body`).
    pub fn refusal(&self, partner: &str, first: u64, last: u64, status: u16, body: &str) {
        let mut all = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        let state = all.entry(partner.to_owned()).or_default();
        let mut says = body.to_owned();
        if says.len() > MAX_PARTNER_SAYS {
            let mut cut = MAX_PARTNER_SAYS;
            while !says.is_char_boundary(cut) {
                cut -= 1;
            }
            says.truncate(cut);
            says.push_str(" [cut]");
        }
        match &mut state.refused {
            Some(r) if (r.first_seq, r.last_seq) == (first, last) => {
                r.attempts += 1;
                r.http_status = status;
                r.partner_says = says;
            }
            refused => {
                *refused = Some(Refusal {
                    first_seq: first,
                    last_seq: last,
                    http_status: status,
                    attempts: 1,
                    since_unix: crate::exchange::now(),
                    partner_says: says,
                })
            }
        }
    }

    pub fn delivery_state(&self, partner: &str) -> DeliveryState {
        self.deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(partner)
            .cloned()
            .unwrap_or_default()
    }

    /// Counts the records of an ingest answer that were rejected, by the
    /// field at fault (`none` when the normaliser named no field).
    pub fn ingested(&self, report: &IngestReport) {
        for problem in &report.problems {
            if let ItemResult::Rejected { field, .. } = &problem.result {
                let field = field.as_deref().unwrap_or("none");
                let label = {
                    let mut seen = self
                        .rejection_fields
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if seen.contains(field) {
                        field
                    } else if seen.len() < MAX_FIELD_LABELS && is_label(field) {
                        seen.insert(field.to_owned());
                        field
                    } else {
                        "other"
                    }
                };
                self.rejections
                    .get_or_create(&FieldLabel {
                        field: label.to_owned(),
                    })
                    .inc();
            }
        }
    }

    /// One HTTP request answered: `route` is one of `api::ROUTES`, or
    /// "unknown", so the label set stays bounded.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }
}

impl Metrics {
    /// The server closed a connection before its client did (`reason`: one
    /// of `api::connections::Closed`'s labels, a fixed set).
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
}

fn partner_label(partner: &str) -> PartnerLabel {
    PartnerLabel {
        partner: partner.to_owned(),
    }
}

/// Short and plain enough to be a label value without surprising anyone.
fn is_label(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// Everything `/metrics` shows, in the OpenMetrics text format. Blocking:
/// reads the store's counters.
pub fn render(core: &Core) -> Result<String, StoreError> {
    let snapshot = Snapshot::take(core)?;
    let m = &core.metrics;
    let mut registry = Registry::with_prefix("entrex");
    registry.register(
        "build",
        "The entrex version serving",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    registry.register_with_unit(
        "bundle_delivery",
        "Time from handing a sealed bundle to the transport until the partner's receipt verified, per partner",
        Unit::Seconds,
        m.delivery_seconds.clone(),
    );
    registry.register(
        "delivery_failures",
        "Delivery attempts that failed (network, TLS, refusal, bad receipt) since start-up, per partner",
        m.delivery_failures.clone(),
    );
    registry.register(
        "ingest_rejections",
        "Source records rejected since start-up, by the field the normaliser found at fault (none: no field named; other: beyond 64 distinct fields)",
        m.rejections.clone(),
    );
    registry.register(
        "http_requests",
        "HTTP requests answered since start-up, by route and status",
        m.requests.clone(),
    );
    registry.register(
        "http_connections_closed",
        "Connections the server closed before their client did, since start-up: evicted (an idle connection's slot given to a new one), refused (every slot had a request in progress), handshake_timeout",
        m.connections_closed.clone(),
    );
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    Ok(text)
}

/// The durable counters and per-partner state, read once per scrape.
#[derive(Debug)]
struct Snapshot {
    started_unix: i64,
    records: Vec<(&'static str, &'static str, u64)>,
    withheld_by_reason: Vec<(String, u64)>,
    quarantined: u64,
    /// Entry ids still to key while the matching index is rebuilt (0: none).
    index_rebuild_remaining: u64,
    partners: Vec<PartnerSnapshot>,
    plugins: Vec<crate::plugins::PluginStats>,
}

#[derive(Debug)]
struct PartnerSnapshot {
    partner: String,
    queue_depth: u64,
    queue_capacity: u64,
    bundles_sent: u64,
    bundles_received: u64,
    examined: u64,
    matched: u64,
    review: u64,
    match_failures: u64,
    last_success_unix: Option<i64>,
    refused: Option<Refusal>,
}

impl Snapshot {
    fn take(core: &Core) -> Result<Snapshot, StoreError> {
        let s = &core.store;
        let records = [
            (counter::ACCEPTED, "Source records accepted and stored"),
            (counter::REJECTED, "Source records the normaliser rejected"),
            (
                counter::DUPLICATES,
                "Source records received again under a source reference already stored",
            ),
            (
                counter::SHARED,
                "Accepted records the eligibility plugin allowed to be shared, queued for partners",
            ),
            (
                counter::CORRECTED,
                "Source records sent again with new content under the same reference",
            ),
            (
                counter::WITHDRAWN,
                "Source records withdrawn by their source",
            ),
        ]
        .into_iter()
        .map(|(name, help)| Ok((name, help, s.counter(name)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
        let withheld_by_reason = s
            .counters()?
            .into_iter()
            .filter_map(|(name, n)| Some((name.strip_prefix("withheld_reason/")?.to_owned(), n)))
            .collect();
        let mut partners = Vec::new();
        for p in &core.partner_ids {
            partners.push(PartnerSnapshot {
                partner: p.clone(),
                queue_depth: s.outbox_last(p)?.saturating_sub(s.sent_upto(p)?),
                queue_capacity: core.queue_capacity(p),
                bundles_sent: s.counter(&counter::bundles_sent(p))?,
                bundles_received: s.counter(&counter::bundles_received(p))?,
                examined: s.counter(&counter::match_cursor(p))?,
                matched: s.counter(&counter::matched(p))?,
                review: s.counter(&counter::review(p))?,
                match_failures: s.counter(&counter::match_failures(p))?,
                last_success_unix: core.metrics.delivery_state(p).last_success_unix,
                refused: core.metrics.delivery_state(p).refused,
            });
        }
        let plugins = core.plugins();
        Ok(Snapshot {
            started_unix: core.metrics.started_unix,
            records,
            withheld_by_reason,
            quarantined: s
                .counter(counter::QUARANTINED)?
                .saturating_sub(s.counter(counter::RELEASED)?),
            index_rebuild_remaining: s
                .index_status()?
                .and_then(|i| i.rebuilding)
                .map_or(0, |r| r.last_entry_id - r.upto_entry_id),
            partners,
            plugins: plugins.stats(),
        })
    }
}

/// One metric family: its descriptor, then one sample per label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    // A sentence, as the registry writes the help of registered metrics.
    let mut metric = encoder.encode_descriptor(name, &format!("{help}."), unit, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One metric without labels.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    value: M,
) -> Result<(), std::fmt::Error> {
    value.encode(encoder.encode_descriptor(name, &format!("{help}."), unit, kind)?)
}

fn by_partner<'p, M>(
    partners: &'p [PartnerSnapshot],
    value: impl Fn(&PartnerSnapshot) -> Option<M> + 'p,
) -> impl Iterator<Item = ([(&'static str, String); 1], M)> + 'p {
    partners
        .iter()
        .filter_map(move |p| Some(([("partner", p.partner.clone())], value(p)?)))
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = MetricType::Counter;
        let gauge = MetricType::Gauge;
        let seconds = Unit::Seconds;
        single(
            &mut e,
            "start_time",
            "Unix time this hub process started",
            Some(&seconds),
            gauge,
            ConstGauge::new(self.started_unix),
        )?;
        for (name, help, n) in &self.records {
            let name = format!("records_{name}");
            single(&mut e, &name, help, None, counter, ConstCounter::new(*n))?;
        }
        family(
            &mut e,
            "records_withheld",
            "Accepted records the eligibility plugin withheld from partners, by its reason",
            None,
            counter,
            self.withheld_by_reason
                .iter()
                .map(|(reason, n)| ([("reason", reason.as_str())], ConstCounter::new(*n))),
        )?;
        single(
            &mut e,
            "quarantined_records",
            "Records held in quarantine now (a plugin failed on them; entrex quarantine retry)",
            None,
            gauge,
            ConstGauge::new(self.quarantined),
        )?;
        single(
            &mut e,
            "index_rebuild_remaining_entries",
            "Entry ids still to key while the matching index is rebuilt for a new matcher (matching waits meanwhile); 0 when none is",
            None,
            gauge,
            ConstGauge::new(self.index_rebuild_remaining),
        )?;
        let p = &self.partners;
        family(
            &mut e,
            "queue_capacity_records",
            "Records waiting for the partner at which source batches are refused ([[partner]] max_queue_records, else [exchange] max_queue_records)",
            None,
            gauge,
            by_partner(p, |p| Some(ConstGauge::new(p.queue_capacity))),
        )?;
        family(
            &mut e,
            "queue_depth_records",
            "Records queued for the partner and not yet acknowledged by a verified receipt",
            None,
            gauge,
            by_partner(p, |p| Some(ConstGauge::new(p.queue_depth))),
        )?;
        family(
            &mut e,
            "bundles_sent",
            "Bundles the partner acknowledged with a verified receipt",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.bundles_sent))),
        )?;
        family(
            &mut e,
            "bundles_received",
            "Bundles received from the partner, verified and stored",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.bundles_received))),
        )?;
        family(
            &mut e,
            "delivery_last_success_timestamp",
            "Unix time of the last delivery to the partner whose receipt verified, since start-up",
            Some(&seconds),
            gauge,
            by_partner(p, |p| p.last_success_unix.map(ConstGauge::new)),
        )?;
        family(
            &mut e,
            "partner_refused_bundle_first_seq",
            "First sequence number of the bundle the partner refuses, 0 when none (alert when it stays above 0: the stream to the partner is stopped until the record is fixed or set aside, entrex outbox)",
            None,
            gauge,
            by_partner(p, |p| {
                Some(ConstGauge::new(
                    p.refused.as_ref().map_or(0, |r| r.first_seq as i64),
                ))
            }),
        )?;
        family(
            &mut e,
            "partner_refused_bundle_attempts",
            "Deliveries in a row of that bundle the partner refused, 0 when none",
            None,
            gauge,
            by_partner(p, |p| {
                Some(ConstGauge::new(
                    p.refused.as_ref().map_or(0, |r| r.attempts as i64),
                ))
            }),
        )?;
        family(
            &mut e,
            "exits_examined",
            "Records received from the partner (our exits) that the matcher has looked at",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.examined))),
        )?;
        family(
            &mut e,
            "exits_matched",
            "Records received from the partner linked to one of our entries",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.matched))),
        )?;
        family(
            &mut e,
            "exits_in_review",
            "Records received from the partner waiting for clerical review",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.review))),
        )?;
        family(
            &mut e,
            "match_failures",
            "Exits or pairs the matcher plugin failed on (left unmatched)",
            None,
            counter,
            by_partner(p, |p| Some(ConstCounter::new(p.match_failures))),
        )?;
        family(
            &mut e,
            "reconciliation_ratio",
            "Exits matched over exits examined, per partner (absent until one is examined)",
            None,
            gauge,
            by_partner(p, |p| {
                (p.examined > 0).then(|| ConstGauge::new(p.matched as f64 / p.examined as f64))
            }),
        )?;
        let plugin = |s: &crate::plugins::PluginStats| {
            [("plugin", s.plugin.clone()), ("kind", s.kind.clone())]
        };
        let stats = &self.plugins;
        family(
            &mut e,
            "plugin_calls",
            "Calls into the plugin since it was loaded",
            None,
            counter,
            stats
                .iter()
                .map(|s| (plugin(s), ConstCounter::new(s.calls))),
        )?;
        family(
            &mut e,
            "plugin_records",
            "Records passed to the plugin since it was loaded",
            None,
            counter,
            stats
                .iter()
                .map(|s| (plugin(s), ConstCounter::new(s.records))),
        )?;
        family(
            &mut e,
            "plugin_failures",
            "Plugin calls that trapped, ran out of time or memory, or broke the contract, since it was loaded",
            None,
            counter,
            stats
                .iter()
                .map(|s| (plugin(s), ConstCounter::new(s.failures))),
        )?;
        family(
            &mut e,
            "plugin_rejections",
            "Records a normaliser rejected or an eligibility plugin withheld, since it was loaded",
            None,
            counter,
            stats
                .iter()
                .map(|s| (plugin(s), ConstCounter::new(s.rejections))),
        )?;
        family(
            &mut e,
            "plugin_busy",
            "Time spent in plugin calls since the plugin was loaded",
            Some(&seconds),
            counter,
            stats
                .iter()
                .map(|s| (plugin(s), ConstCounter::new(s.busy_ms as f64 / 1000.0))),
        )?;
        Ok(())
    }
}
