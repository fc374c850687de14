//! The ingest pipeline: a source batch → split → normalise → eligibility →
//! projection → store (raw input, crossings, outbox) → flush → answer.
//!
//! A batch is answered only once it is durable. Records the normaliser rejects
//! are stored with their reason and reported back; records a plugin fails on
//! (trap, deadline, memory, broken contract) are isolated by splitting the
//! batch and quarantined whole; the rest of the batch goes on.

use serde::Serialize;

use crate::hub::Core;
use crate::plugins::{PluginError, SourceRecord};
use crate::record::{Crossing, Decision, Rejection};
use crate::store::{Ingested, ItemResult, Outcome, Quarantine, StoreError};

/// Records handed to a plugin per call: large enough that the per-call cost
/// vanishes, small enough to keep plugin memory modest.
const PLUGIN_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the batch was refused by the normaliser: {0}")]
    BadBatch(String),
    #[error("the batch holds {0} records; send at most {1} per request")]
    TooManyRecords(usize, usize),
    /// Back-pressure: a partner has been unreachable for long enough that its
    /// queue reached its capacity (`max_queue_records`).
    #[error("{0}; nothing was stored, send the batch again later")]
    QueueFull(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const MAX_RECORDS_PER_BATCH: usize = 100_000;

/// The largest source record the hub takes. Far above any real record (an
/// entry is well under 2 KiB in every source format), and far enough below
/// the ~128 KiB at which sled keeps a value in a separate blob file, outside
/// its log and outside the `fsync` behind every acknowledgement. A larger
/// record is rejected by name and none of it is stored.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The answer to a source system.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IngestReport {
    pub received: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub duplicates: usize,
    pub shared: usize,
    pub withheld: usize,
    /// Records a plugin failed on; kept whole for retry (`entrex quarantine`).
    #[serde(default)]
    pub quarantined: usize,
    /// Records sent before under the same source reference with other content:
    /// stored anew, and partners holding them sent a correction.
    #[serde(default)]
    pub corrected: usize,
    /// Every record that was not accepted, with where it was and why.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    #[serde(flatten)]
    pub result: ItemResult,
}

/// Runs the whole pipeline for one batch. Blocking: plugins and the store's
/// flush run on the calling thread.
pub fn ingest(core: &Core, batch: &[u8]) -> Result<IngestReport, IngestError> {
    check_queues(core)?;
    let plugins = core.plugins();
    let records = match plugins.normaliser.split(batch) {
        Ok(split) => split.map_err(IngestError::BadBatch)?,
        // A trap, the memory cap, the deadline or the output cap while
        // splitting: the batch is too much for the normaliser, nothing was
        // stored, and sending it again will not help; smaller batches will.
        Err(e) if e.is_contained() => {
            tracing::warn!(
                "the normaliser could not split a batch of {} bytes: {e}",
                batch.len()
            );
            return Err(IngestError::BadBatch(format!(
                "the normaliser could not split this batch of {} bytes within its limits (memory, time, output); nothing was stored: send fewer or smaller records per request",
                batch.len()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if records.len() > MAX_RECORDS_PER_BATCH {
        return Err(IngestError::TooManyRecords(
            records.len(),
            MAX_RECORDS_PER_BATCH,
        ));
    }
    let processed = process(core, records)?;
    store(core, processed)
}

/// Refuses new work while any partner's queue is full: the queue grows on
/// disk during an outage, but only up to the bound the operator set.
fn check_queues(core: &Core) -> Result<(), IngestError> {
    for p in &core.partner_ids {
        let backlog = core
            .store
            .outbox_last(p)?
            .saturating_sub(core.store.sent_upto(p)?);
        match crate::report::queue_alarm(core, p, backlog) {
            Some(alarm) if backlog >= core.queue_capacity(p) => {
                tracing::error!("{alarm}");
                return Err(IngestError::QueueFull(alarm));
            }
            Some(alarm) => tracing::warn!("{alarm}"),
            None => {}
        }
    }
    Ok(())
}

/// Source records withdrawn by their source system.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WithdrawRequest {
    /// At most [`MAX_RECORDS_PER_BATCH`], each at most 256 bytes: counted
    /// while they are read, so a request cannot make the hub hold millions.
    #[serde(deserialize_with = "bounded_refs")]
    pub source_refs: Vec<String>,
    /// Why, for the source's own records. It never leaves the hub and is not
    /// kept: partners are told only that the record is withdrawn, since the
    /// reason (an officer's note, a citizenship found) is what the agreement
    /// forbids sharing.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WithdrawReport {
    pub results: Vec<WithdrawResult>,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WithdrawResult {
    pub source_ref: String,
    #[serde(flatten)]
    pub result: crate::store::Withdrawal,
}

fn bounded_refs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(
                f,
                "a list of at most {MAX_RECORDS_PER_BATCH} source references"
            )
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut refs = Vec::new();
            while let Some(r) = seq.next_element::<String>()? {
                if refs.len() == MAX_RECORDS_PER_BATCH {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_RECORDS_PER_BATCH} source references; send at most {MAX_RECORDS_PER_BATCH} per request"
                    )));
                }
                if r.len() > 256 {
                    return Err(serde::de::Error::custom(
                        "a source reference is longer than 256 bytes, which no stored record has",
                    ));
                }
                refs.push(r);
            }
            Ok(refs)
        }
    }
    d.deserialize_seq(Visitor)
}

/// Withdraws crossings at their source's request; durable when it returns.
pub fn withdraw(core: &Core, request: &WithdrawRequest) -> Result<WithdrawReport, IngestError> {
    if request.reason.len() > 200 {
        return Err(IngestError::BadBatch(
            "reason is for the source's own records and at most 200 bytes; it is not shared nor kept".into(),
        ));
    }
    if request.source_refs.len() > MAX_RECORDS_PER_BATCH {
        return Err(IngestError::TooManyRecords(
            request.source_refs.len(),
            MAX_RECORDS_PER_BATCH,
        ));
    }
    let results = {
        let _serial = core.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
        core.store
            .withdraw(&request.source_refs, &core.partner_ids)?
    };
    core.store.flush()?;
    core.outbox_ready.notify_waiters();
    Ok(WithdrawReport {
        results: request
            .source_refs
            .iter()
            .cloned()
            .zip(results)
            .map(|(source_ref, result)| WithdrawResult { source_ref, result })
            .collect(),
    })
}

/// What became of one record on its way through the plugins.
enum Stage {
    Normalised(Box<Crossing>),
    Done(Outcome),
}

/// A batch through the plugins, ready to store.
pub struct Processed {
    pub items: Vec<Ingested>,
    /// The identity of the matcher that computed the items' blocking keys.
    pub matcher: String,
}

/// Normalise, decide, compute matching keys: every record ends as accepted,
/// rejected or quarantined. A plugin failure is contained to the records that
/// cause it; only a plugin that cannot even be instantiated fails the batch.
pub fn process(core: &Core, records: Vec<SourceRecord>) -> Result<Processed, IngestError> {
    // One snapshot for the whole batch: a reload in the meantime does not
    // change the plugins under a batch in flight.
    let plugins = core.plugins();
    let mut items = Vec::with_capacity(records.len());
    let (records, oversized): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.data.len() <= MAX_RECORD_BYTES);
    for record in oversized {
        items.push(Ingested {
            location: record.location,
            raw: Vec::new(),
            outcome: Outcome::Rejected(Rejection {
                field: Some("record".into()),
                reason: format!(
                    "is {} bytes; a record may be at most {MAX_RECORD_BYTES} bytes (nothing of it was stored): check the source's export",
                    record.data.len()
                ),
            }),
        });
    }
    for chunk in records.chunks(PLUGIN_BATCH) {
        let normaliser = plugins.normaliser.name();
        let mut stages: Vec<Stage> = contained(chunk, &|c| plugins.normaliser.normalise(c))?
            .into_iter()
            .map(|r| match r {
                Ok(Ok(c)) => match check_crossing(c) {
                    Ok(c) => Stage::Normalised(Box::new(c)),
                    Err(rejection) => Stage::Done(Outcome::Rejected(rejection)),
                },
                Ok(Err(rejection)) => Stage::Done(Outcome::Rejected(Rejection {
                    field: rejection.field.map(|f| bounded(&f, 64)),
                    reason: bounded(&rejection.reason, MAX_REASON_BYTES),
                })),
                Err(reason) => Stage::Done(quarantine("normalise", normaliser, reason)),
            })
            .collect();

        let (positions, crossings): (Vec<usize>, Vec<Crossing>) = stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Stage::Normalised(c) => Some((i, c.as_ref().clone())),
                Stage::Done(_) => None,
            })
            .unzip();
        let decisions = contained(&crossings, &|c| plugins.eligibility.decide(c))?;
        // Partners with an eligibility plugin of their own decide apart.
        let mut partner_decisions = Vec::new();
        for (partner, plugin) in &plugins.partner_eligibility {
            let decided = contained(&crossings, &|c| plugin.decide(c))?;
            partner_decisions.push((partner, plugin.name(), decided));
        }
        let projected: Vec<_> = crossings.iter().map(Crossing::project).collect();
        let keys = contained(&projected, &|r| plugins.matcher.block_keys(r))?;
        let clean = |decision: Decision| match decision {
            Decision::Withhold(reason) => Decision::Withhold(clean_reason(&reason)),
            share => share,
        };
        for (n, (((i, crossing), decision), keys)) in positions
            .into_iter()
            .zip(crossings)
            .zip(decisions)
            .zip(keys)
            .enumerate()
        {
            let mut own = std::collections::BTreeMap::new();
            let mut failed = None;
            for (partner, plugin, decided) in &mut partner_decisions {
                match std::mem::replace(&mut decided[n], Err(String::new())) {
                    Ok(d) => {
                        own.insert((*partner).clone(), clean(d));
                    }
                    Err(reason) => {
                        failed.get_or_insert((*plugin, reason));
                    }
                }
            }
            stages[i] = Stage::Done(match (decision, keys, failed) {
                (Ok(decision), Ok(keys), None) => Outcome::Accepted {
                    crossing: Box::new(crossing),
                    decision: clean(decision),
                    partner_decisions: own,
                    keys,
                },
                (Err(reason), _, _) => {
                    quarantine("eligibility", plugins.eligibility.name(), reason)
                }
                (_, _, Some((plugin, reason))) => quarantine("eligibility", plugin, reason),
                (_, Err(reason), _) => quarantine("matching keys", plugins.matcher.name(), reason),
            });
        }
        for (record, stage) in chunk.iter().zip(stages) {
            let Stage::Done(outcome) = stage else {
                unreachable!("every normalised record got a decision and keys")
            };
            items.push(Ingested {
                location: record.location.clone(),
                raw: record.data.clone(),
                outcome,
            });
        }
    }
    Ok(Processed {
        items,
        matcher: plugins.matcher.identity().to_owned(),
    })
}

fn quarantine(stage: &str, plugin: &str, reason: String) -> Outcome {
    let reason = bounded(&reason, MAX_REASON_BYTES);
    tracing::warn!(stage, plugin, "record quarantined: {reason}");
    Outcome::Quarantined(Quarantine {
        stage: stage.to_owned(),
        plugin: plugin.to_owned(),
        reason,
    })
}

/// A plugin's words are kept with the record they concern, so they are
/// bounded like the record: a plugin cannot grow a stored value (or an
/// answer) without limit.
const MAX_REASON_BYTES: usize = 1024;

/// Keeps both ends of a long text: a trap's message starts with where it
/// happened and ends with why (after a long backtrace).
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - max / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} [... {} bytes cut ...] {}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// Calls a plugin on a batch; when the call fails (trap, deadline, memory,
/// broken contract), splits the batch in halves on fresh instances until the
/// record(s) at fault stand alone. Each result is the plugin's answer or why it
/// failed on that very record.
/// One plugin call over a batch.
pub type BatchCall<'a, T, R> = &'a dyn Fn(&[T]) -> Result<Vec<R>, PluginError>;

pub fn contained<T, R>(
    items: &[T],
    call: BatchCall<T, R>,
) -> Result<Vec<Result<R, String>>, PluginError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    match call(items) {
        Ok(out) => Ok(out.into_iter().map(Ok).collect()),
        Err(e) if e.is_contained() => {
            if items.len() == 1 {
                return Ok(vec![Err(e.to_string())]);
            }
            let (left, right) = items.split_at(items.len() / 2);
            let mut out = contained(left, call)?;
            out.extend(contained(right, call)?);
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// Stores processed records in one transaction, flushes, and answers.
pub fn store(core: &Core, processed: Processed) -> Result<IngestReport, IngestError> {
    let Processed { items, matcher } = processed;
    let results = {
        let _serial = core.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
        core.store.ingest(&items, &core.partner_ids, &matcher)?
    };
    core.store.flush()?;
    core.outbox_ready.notify_waiters();

    let mut report = IngestReport {
        received: items.len(),
        ..Default::default()
    };
    for (item, result) in items.iter().zip(results) {
        match &result {
            ItemResult::Accepted { shared, .. } => {
                report.accepted += 1;
                if *shared {
                    report.shared += 1;
                } else {
                    report.withheld += 1;
                }
                continue;
            }
            ItemResult::Corrected { shared, .. } => {
                report.corrected += 1;
                if *shared {
                    report.shared += 1;
                } else {
                    report.withheld += 1;
                }
                continue;
            }
            ItemResult::Duplicate { .. } => report.duplicates += 1,
            ItemResult::Rejected { .. } => report.rejected += 1,
            ItemResult::Quarantined { .. } => report.quarantined += 1,
        }
        report.problems.push(Problem {
            location: item.location.clone(),
            result,
        });
    }
    Ok(report)
}

/// Runs quarantined records through the pipeline again (after a plugin fix or
/// reload) and takes out of quarantine those that went through.
pub fn retry_quarantined(core: &Core, max: usize) -> Result<IngestReport, IngestError> {
    let held = core.store.quarantined(0, max)?;
    let records = held
        .iter()
        .map(|q| SourceRecord {
            location: q.location.clone(),
            data: q.raw.clone(),
        })
        .collect();
    let processed = process(core, records)?;
    let report = store(core, processed)?;
    let ids: Vec<u64> = held.iter().map(|q| q.id).collect();
    core.store.release(&ids)?;
    Ok(report)
}

/// Withhold reasons are counted and shown to operators, so they must stay a
/// small set of rule names: the host keeps them short and plain whatever the
/// plugin says (a reason must never carry personal data).
pub fn clean_reason(reason: &str) -> String {
    const MAX_REASON_CHARS: usize = 80;
    let cleaned: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " :,._()-".contains(*c))
        .take(MAX_REASON_CHARS)
        .collect();
    if cleaned.trim().is_empty() {
        "unspecified".into()
    } else {
        cleaned.trim().to_owned()
    }
}

/// The host does not trust a normaliser's output blindly: sizes are bounded so a
/// plugin cannot bloat the store or a bundle, and codes must look like codes.
fn check_crossing(c: Crossing) -> Result<Crossing, Rejection> {
    match c.check() {
        Ok(()) => Ok(c),
        Err(invalid) => Err(Rejection {
            field: Some(invalid.field.to_owned()),
            reason: format!(
                "the normaliser produced an unusable value: {invalid}; this is a plugin fault, report it to the plugin's authors"
            ),
        }),
    }
}
