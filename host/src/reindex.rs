//! Rebuilding the matching index after the matcher changed (a new
//! component, or a new model): every stored entry is keyed again by the
//! matcher in use, in batches, in the background, while the index's older
//! generations keep answering lookups (`store::index`). Resumable: the
//! store records how far it got in the same transaction as each batch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::hub::Core;
use crate::ingest::contained;
use crate::plugins::PluginError;
use crate::store::StoreError;

/// Entries keyed per step. One step holds the ingest lock while it writes.
const BATCH: usize = 2000;

/// Keys of retired generations removed per step.
const CLEAR_BATCH: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Rebuilds and tidies the index until `stop` turns true.
pub async fn run_reindexer(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let c = core.clone();
        let wait = match tokio::task::spawn_blocking(move || step(&c)).await {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => Duration::from_secs(1),
            Ok(Err(e)) => {
                tracing::error!("rebuilding the matching index failed, retrying: {e}");
                Duration::from_secs(2)
            }
            Err(e) => {
                tracing::error!("the index rebuild task failed: {e}");
                Duration::from_secs(2)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One batch of work; false when there was none.
pub fn step(core: &Core) -> Result<bool, ReindexError> {
    let store = &core.store;
    let Some(state) = store.index_state()? else {
        return Ok(false);
    };
    let Some(upto) = state.rebuilt_upto else {
        return Ok(store.clear_retired(CLEAR_BATCH)? > 0);
    };
    let plugins = core.plugins();
    // A reload is adopting another matcher: its generation comes next.
    if plugins.matcher.identity() != state.matcher {
        return Ok(false);
    }
    let entries = store.entries_after(upto, BATCH)?;
    let Some(&(last, _)) = entries.last() else {
        let _serial = core.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
        let finished = store.finish_rebuild(state.generation)?;
        if finished {
            tracing::info!(
                generation = state.generation,
                "the matching index is rebuilt for the matcher in use"
            );
        }
        // Not finished: entries came in meanwhile, or a reload moved on.
        return Ok(true);
    };
    let records: Vec<_> = entries.iter().map(|(_, c)| c.project()).collect();
    let mut failed = 0;
    let keyed: Vec<(u64, Vec<String>)> = contained(&records, &|r| plugins.matcher.block_keys(r))?
        .into_iter()
        .zip(&entries)
        .filter_map(|(keys, (id, _))| match keys {
            Ok(keys) => Some((*id, keys)),
            Err(why) => {
                // Left under its old keys only: found until the old
                // generation is retired, and counted.
                failed += 1;
                tracing::error!(
                    entry_id = id,
                    "the matcher failed on this entry while the index was rebuilt: {why}"
                );
                None
            }
        })
        .collect();
    let _serial = core.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
    store.rebuild_index(state.generation, &keyed, last, failed)?;
    Ok(true)
}
