//! The ingest pipeline: a source batch → split → normalise → eligibility →
//! projection → store (raw input, crossings, outbox) → flush → answer.
//!
//! A batch is answered only once it is durable. Records the normaliser rejects
//! are stored with their reason and reported back; the rest of the batch goes on.

use serde::Serialize;

use crate::hub::Core;
use crate::plugins::PluginError;
use crate::record::{Crossing, Decision, Rejection};
use crate::store::{Ingested, ItemResult, Outcome, StoreError};

/// Records handed to a plugin per call: large enough that the per-call cost
/// vanishes, small enough to keep plugin memory modest.
const PLUGIN_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the batch was refused by the normaliser: {0}")]
    BadBatch(String),
    #[error("the batch holds {0} records; send at most {1} per request")]
    TooManyRecords(usize, usize),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const MAX_RECORDS_PER_BATCH: usize = 100_000;

/// The answer to a source system.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IngestReport {
    pub received: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub duplicates: usize,
    pub shared: usize,
    pub withheld: usize,
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
    let plugins = &core.plugins;
    let records = plugins
        .normaliser
        .split(batch)?
        .map_err(IngestError::BadBatch)?;
    if records.len() > MAX_RECORDS_PER_BATCH {
        return Err(IngestError::TooManyRecords(
            records.len(),
            MAX_RECORDS_PER_BATCH,
        ));
    }
    let mut items = Vec::with_capacity(records.len());
    for chunk in records.chunks(PLUGIN_BATCH) {
        let normalised = plugins.normaliser.normalise(chunk)?;
        let mut accepted: Vec<Crossing> = Vec::new();
        let mut slots = Vec::with_capacity(chunk.len());
        for result in normalised {
            match result.and_then(check_crossing) {
                Ok(c) => {
                    slots.push(Ok(accepted.len()));
                    accepted.push(c);
                }
                Err(r) => slots.push(Err(r)),
            }
        }
        let decisions: Vec<Decision> = plugins
            .eligibility
            .decide(&accepted)?
            .into_iter()
            .map(|d| match d {
                Decision::Withhold(reason) => Decision::Withhold(clean_reason(&reason)),
                share => share,
            })
            .collect();
        let projected: Vec<_> = accepted.iter().map(Crossing::project).collect();
        let keys = plugins.matcher.block_keys(&projected)?;
        let mut accepted: Vec<Option<(Crossing, Decision, Vec<String>)>> = accepted
            .into_iter()
            .zip(decisions)
            .zip(keys)
            .map(|((c, d), k)| Some((c, d, k)))
            .collect();
        for (record, slot) in chunk.iter().zip(slots) {
            let outcome = match slot {
                Ok(i) => {
                    let (crossing, decision, keys) = accepted[i]
                        .take()
                        .expect("each accepted crossing is used once");
                    Outcome::Accepted {
                        crossing: Box::new(crossing),
                        decision,
                        keys,
                    }
                }
                Err(rejection) => Outcome::Rejected(rejection),
            };
            items.push(Ingested {
                location: record.location.clone(),
                raw: record.data.clone(),
                outcome,
            });
        }
    }
    let results = {
        let _serial = core.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
        core.store.ingest(&items, &core.partner_ids)?
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
            ItemResult::Duplicate { .. } => report.duplicates += 1,
            ItemResult::Rejected { .. } => report.rejected += 1,
        }
        report.problems.push(Problem {
            location: item.location.clone(),
            result,
        });
    }
    Ok(report)
}

/// Withhold reasons are counted and shown to operators, so they must stay a
/// small set of rule names: the host keeps them short and plain whatever the
/// plugin says (a reason must never carry personal data).
fn clean_reason(reason: &str) -> String {
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
