//! Retention: personal data is deleted once its period (`[retention]`) is
//! over, by a purge the hub runs every `purge_every_hours` (and an operator
//! can run, `POST /v1/retention/purge`). What the evidence chain needs stays:
//! each bundle's hash, signed head and receipt, in the store and as
//! `head-FIRST.cose` in place of `bundle-FIRST.cose` among the evidence
//! files, so `entrex verify` still checks the chain end to end.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::hub::Core;
use crate::store::{Cutoffs, Purged, StoreError};

const DAY: i64 = 86_400;

/// Purges what is past its retention period at `now`.
pub fn purge(core: &Core, now: i64) -> Result<Purged, StoreError> {
    let r = &core.settings.retention;
    let cutoffs = Cutoffs {
        raw: now - r.raw_days as i64 * DAY,
        crossings: now - r.crossings_days as i64 * DAY,
        received: now - r.received_days as i64 * DAY,
    };
    let mut purged = core.store.purge(&cutoffs, &core.partner_ids)?;
    crate::failpoint::hit("purge:bundles");
    // The evidence copies first, the store's record of the purge after: a
    // crash between the two leaves the bundles to the next purge, which
    // finds them not purged yet and does it again; never a copy holding
    // records the store no longer looks at.
    let expired = core.store.expired_bundles(&cutoffs, &core.partner_ids)?;
    for b in &expired {
        let dir = core.evidence_dir().join(if b.sent {
            format!("to-{}", b.partner)
        } else {
            format!("from-{}", b.partner)
        });
        let head = dir.join(format!("head-{:012}.cose", b.first));
        let bundle = dir.join(format!("bundle-{:012}.cose", b.first));
        // The head first: a crash between the two leaves both, never neither.
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let temp = dir.join(format!(".head-{:012}.tmp", b.first));
            let mut file = std::fs::File::create(&temp)?;
            std::io::Write::write_all(&mut file, &b.head)?;
            file.sync_all()?;
            std::fs::rename(&temp, &head)?;
            match std::fs::remove_file(&bundle) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            // Both the rename and the removal are durable only once the
            // directory is.
            std::fs::File::open(&dir)?.sync_all()
        };
        match write() {
            Ok(()) => purged.bundles.push(b.clone()),
            // Left unpurged in the store: the next purge tries again.
            Err(e) => {
                tracing::error!(path = %bundle.display(), "cannot replace a purged bundle's evidence copy by its head: {e}")
            }
        }
    }
    crate::failpoint::hit("purge:evidence");
    core.store.mark_purged(&purged.bundles)?;
    tracing::info!(
        raw = purged.raw,
        crossings = purged.crossings,
        outbox = purged.outbox,
        received = purged.received,
        bundles = purged.bundles.len(),
        "retention purge done"
    );
    Ok(purged)
}

/// Purges every `purge_every_hours` until `stop` turns true.
pub async fn run_purger(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(core.settings.retention.purge_every_hours as u64 * 3600);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let core = core.clone();
        match tokio::task::spawn_blocking(move || purge(&core, crate::exchange::now())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("retention purge failed (retried next time): {e}"),
            Err(e) => tracing::error!("retention purge task failed: {e}"),
        }
    }
}
