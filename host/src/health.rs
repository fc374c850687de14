//! Readiness (`GET /readyz`): whether this hub can do its work now, check by
//! check, so an operator sees which part failed. Liveness (`GET /healthz`)
//! only says the process answers; restart on that, alert and route on this.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::hub::Core;

/// The answer of `/readyz`: 200 when `ready`, else 503.
#[derive(Debug, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// The names of the checks that failed.
    pub failed: Vec<String>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Check {
    /// `store`, `signing_key`, `plugins`, `partner:US`, `queue:US`.
    pub name: String,
    pub ok: bool,
    /// What was found, in words.
    pub detail: String,
}

/// Calls a plugin must have failed in a row, with none succeeding, before
/// readiness calls it broken: one bad record is quarantined, not an outage.
const PLUGIN_FAILURES_BROKEN: u64 = 10;

/// Runs every check. Blocking: writes to the store and flushes it.
pub fn readiness(core: &Core) -> Readiness {
    let mut checks = vec![store(core), signing_key(core), plugins(core)];
    for partner in &core.partner_ids {
        checks.push(partner_reachable(core, partner, Instant::now()));
        checks.push(queue(core, partner));
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.clone())
        .collect();
    Readiness {
        ready: failed.is_empty(),
        failed,
        checks,
    }
}

fn check(name: impl Into<String>, result: Result<String, String>) -> Check {
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    Check {
        name: name.into(),
        ok,
        detail,
    }
}

/// The store takes a write, reads it back, and makes it durable.
fn store(core: &Core) -> Check {
    let started = Instant::now();
    let marker = crate::exchange::now() as u64;
    let result = match core.store.probe(marker) {
        Ok(()) => Ok(format!(
            "wrote, read back and flushed in {} ms",
            started.elapsed().as_millis()
        )),
        Err(e) => Err(format!(
            "the store in {} does not take durable writes: {e}; source batches cannot be acknowledged",
            core.settings.data_dir.display()
        )),
    };
    check("store", result)
}

/// The signing key signs, and the signature verifies with its public half:
/// without it no bundle or receipt can be made.
fn signing_key(core: &Core) -> Check {
    let me = &core.settings.hub_id;
    let message = core.signer.sign("application/entrex-readiness", b"readyz");
    let mut own = crate::bundle::Keyring::default();
    own.add(me, core.signer.verifying_key());
    let result = match crate::bundle::verify(&message, &own) {
        Ok(_) => Ok(format!(
            "signs as {me}, key id {}",
            hex::encode(crate::keys::key_id(&core.signer.verifying_key()))
        )),
        Err(e) => Err(format!("a test signature does not verify: {e}")),
    };
    check("signing_key", result)
}

/// All four plugins are loaded, and none has failed every one of its recent
/// calls.
fn plugins(core: &Core) -> Check {
    let p = core.plugins();
    let stats = p.stats();
    let broken: Vec<String> = stats
        .iter()
        .filter(|s| s.calls >= PLUGIN_FAILURES_BROKEN && s.failures == s.calls)
        .map(|s| {
            format!(
                "{} ({} plugin) failed all of its {} calls since it was loaded",
                s.plugin, s.kind, s.calls
            )
        })
        .collect();
    let loaded: Vec<String> = stats
        .iter()
        .map(|s| format!("{} {}", s.kind, s.plugin))
        .collect();
    let result = if broken.is_empty() {
        Ok(format!("loaded: {}", loaded.join(", ")))
    } else {
        Err(format!(
            "{}; see GET /v1/quarantine, fix or replace it and POST /v1/plugins/reload",
            broken.join("; ")
        ))
    };
    check("plugins", result)
}

/// How long deliveries to a partner may keep failing before readiness says
/// so: two of the longest waits between retries, so a failure the next
/// retry would mend does not flap readiness.
fn grace(core: &Core) -> Duration {
    Duration::from_millis(core.settings.exchange.retry_max_ms.saturating_mul(2))
}

/// The partner takes our bundles: the last delivery attempt's outcome, and
/// for how long attempts have been failing.
fn partner_reachable(core: &Core, partner: &str, now: Instant) -> Check {
    let state = core.metrics.delivery_state(partner);
    let ago = |t: Instant| format!("{} s ago", now.saturating_duration_since(t).as_secs());
    if let Some(r) = state
        .refused
        .as_ref()
        .filter(|r| r.attempts >= crate::metrics::REFUSALS_STOPPED)
    {
        return check(format!("partner:{partner}"), Err(refused_alarm(partner, r)));
    }
    let result = match (state.last_attempt, &state.error, state.failing_since) {
        (None, _, _) => Ok("no delivery attempted since start-up (nothing to send)".into()),
        (Some(at), None, _) => Ok(format!("last delivery succeeded {}", ago(at))),
        (Some(at), Some(why), Some(since))
            if now.saturating_duration_since(since) >= grace(core) =>
        {
            Err(format!(
                "deliveries have failed since {}; last attempt {}: {why}",
                ago(since),
                ago(at)
            ))
        }
        (Some(at), Some(why), _) => Ok(format!(
            "last attempt failed {} and is being retried: {why}",
            ago(at)
        )),
    };
    check(format!("partner:{partner}"), result)
}

/// What an operator reads when a partner refuses a bundle for good: what
/// stopped, and what to do. Never the partner's own words (they may quote
/// a record); those are for `GET /v1/exchange/refused`.
pub fn refused_alarm(partner: &str, r: &crate::metrics::Refusal) -> String {
    format!(
        "{partner} refused bundle {}..={} {} times in a row (HTTP {}) since {}: the stream to {partner} is stopped. \
         See the entries and the partner's reason with `entrex outbox refused --purpose ...`, then have the record fixed at its source \
         or set it aside with `entrex outbox set-aside --partner {partner} --seq N`",
        r.first_seq,
        r.last_seq,
        r.attempts,
        r.http_status,
        crate::record::format_time(r.since_unix)
    )
}

/// The partner's queue has room: when it is full, source batches are refused.
fn queue(core: &Core, partner: &str) -> Check {
    let s = &core.store;
    let backlog = match (s.outbox_last(partner), s.sent_upto(partner)) {
        (Ok(last), Ok(sent)) => last.saturating_sub(sent),
        (Err(e), _) | (_, Err(e)) => {
            return check(
                format!("queue:{partner}"),
                Err(format!("cannot read the queue: {e}")),
            );
        }
    };
    let capacity = core.queue_capacity(partner);
    let result = if backlog >= capacity {
        Err(crate::report::queue_alarm(core, partner, backlog)
            .unwrap_or_else(|| format!("{backlog} of {capacity} records: full")))
    } else {
        Ok(format!("{backlog} of {capacity} records waiting"))
    };
    check(format!("queue:{partner}"), result)
}
