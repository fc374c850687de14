//! Matching a partner's records (our exits) to our own entries.
//!
//! The matcher plugin owns the rules (blocking keys and pair scores); the host
//! owns the index (in the store, filled at ingest) and the assignment: each
//! exit takes its best-scoring candidate, each entry is linked at most once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::hub::Core;
use crate::ingest::contained;
use crate::plugins::PluginError;
use crate::record::{Entry, SharedRecord};
use crate::store::{Band, MatchRow, StoreError};

const MATCH_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Matches `partner`'s records as they arrive until `stop` turns true.
pub async fn run_matcher(core: Arc<Core>, partner: String, stop: watch::Receiver<bool>) {
    run_inbox_worker(core, partner, stop, "matching", match_next).await
}

/// Runs `step` over `partner`'s received records until `stop` turns true:
/// again at once while it finds work, else when records arrive (or after a
/// second, or two after a failure, which is logged and retried).
pub async fn run_inbox_worker<E: std::fmt::Display + Send + 'static>(
    core: Arc<Core>,
    partner: String,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
    step: fn(&Core, &str) -> Result<bool, E>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let notified = core.inbox_ready.notified();
        let outcome = {
            let core = core.clone();
            let partner = partner.clone();
            tokio::task::spawn_blocking(move || step(&core, &partner)).await
        };
        let wait = match outcome {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => Duration::from_secs(1),
            Ok(Err(e)) => {
                tracing::error!(%partner, "{what} failed, retrying: {e}");
                Duration::from_secs(2)
            }
            Err(e) => {
                tracing::error!(%partner, "{what} task failed: {e}");
                Duration::from_secs(2)
            }
        };
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Matches the next batch of unmatched records; false when there were none.
pub fn match_next(core: &Core, partner: &str) -> Result<bool, MatchError> {
    let store = &core.store;
    let cursor = store.counter(&crate::store::counter::match_cursor(partner))?;
    let logged = store.inbox_from(partner, cursor + 1, MATCH_BATCH)?;
    let Some(&(upto, _)) = logged.last() else {
        return Ok(false);
    };
    // What to match, by the sequence number the partner's record lives under:
    // an amendment re-matches (or, for a deletion, unmatches) the record it
    // replaces; a tombstone left by a deletion matches nothing.
    let mut current = std::collections::BTreeMap::new();
    let mut amended = Vec::new();
    for (seq, entry) in logged {
        match entry {
            Entry::Record(r) => {
                current.insert(seq, r);
            }
            Entry::Correction { amends, record } => {
                amended.push(amends);
                current.insert(amends, record);
            }
            Entry::Deletion { amends, .. } => {
                amended.push(amends);
                current.remove(&amends);
            }
        }
    }
    if !amended.is_empty() {
        store.unmatch(partner, &amended)?;
    }
    let (exits, records): (Vec<(u64, ())>, Vec<SharedRecord>) =
        current.into_iter().map(|(seq, r)| ((seq, ()), r)).unzip();
    let matcher = core.plugins().matcher.clone();
    // A plugin failure is contained to the exits that cause it: those are left
    // unmatched (they stay in the inbox) and counted, and matching goes on.
    let mut failed = 0u64;
    let keys: Vec<Vec<String>> = contained(&records, &|r| matcher.block_keys(r))?
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            k.unwrap_or_else(|why| {
                failed += 1;
                tracing::error!(%partner, exit_seq = exits[i].0, "matcher failed on this exit, left unmatched: {why}");
                Vec::new()
            })
        })
        .collect();
    let settings = &core.settings.matching;

    // Gather every candidate pair of the batch so the plugin scores them in one call.
    let mut entries: Vec<(u64, SharedRecord)> = Vec::new();
    let mut position_of: HashMap<u64, usize> = HashMap::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (exit_index, keys) in keys.iter().enumerate() {
        for entry_id in store.candidates(keys, settings.max_candidates)? {
            let position = match position_of.get(&entry_id) {
                Some(&p) => p,
                None => {
                    let Some(stored) = store.crossing(entry_id)? else {
                        continue;
                    };
                    entries.push((entry_id, stored.crossing.project()));
                    position_of.insert(entry_id, entries.len() - 1);
                    entries.len() - 1
                }
            };
            pairs.push((exit_index, position));
        }
    }
    let refs: Vec<(&SharedRecord, &SharedRecord)> = pairs
        .iter()
        .map(|&(x, e)| (&entries[e].1, &records[x]))
        .collect();
    let scores: Vec<f64> = contained(&refs, &|p| matcher.score(p))?
        .into_iter()
        .map(|s| {
            s.unwrap_or_else(|why| {
                failed += 1;
                tracing::error!(%partner, "matcher failed to score a pair, scored 0: {why}");
                0.0
            })
        })
        .collect();

    // Best pairs first, so a contested entry goes to the exit it fits best.
    // An exit closes an entry made before it; among equals, the latest entry.
    let mut ranked: Vec<(f64, usize, usize)> = pairs
        .iter()
        .zip(&scores)
        .filter(|&(&(x, e), &s)| {
            s >= settings.review_threshold && entries[e].1.entered_at <= records[x].entered_at
        })
        .map(|(&(x, e), &s)| (s, x, e))
        .collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(entries[b.2].1.entered_at.cmp(&entries[a.2].1.entered_at))
    });
    let mut exit_done = vec![false; records.len()];
    let mut entry_taken = vec![false; entries.len()];
    let mut rows = Vec::new();
    for (score, x, e) in ranked {
        if exit_done[x] || entry_taken[e] {
            continue;
        }
        let band = if score >= settings.link_threshold {
            Band::Link
        } else {
            Band::Review
        };
        let entry_id = entries[e].0;
        if band == Band::Link && store.entry_is_matched(entry_id)? {
            continue;
        }
        exit_done[x] = true;
        if band == Band::Link {
            entry_taken[e] = true;
        }
        rows.push(MatchRow {
            exit_seq: exits[x].0,
            entry_id,
            score,
            band,
        });
    }
    store.store_matches(partner, upto, &rows, failed)?;
    Ok(true)
}
