//! Throughput for operators: the hub's running totals sampled every
//! [`INTERVAL`] into a ring buffer of the last hour, so `/v1/status` (and the
//! dashboard) can show records per second over time.
//!
//! Sampled on the server rather than computed by each browser from its own
//! polls: the history is there the moment a page opens (an operator arriving
//! after an incident sees the last hour, not the seconds since they looked),
//! it is the same for every viewer, and it costs a few counters read every
//! few seconds, in memory only. A restart starts an empty history; the
//! totals themselves are durable counters in the store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::hub::Core;
use crate::store::{StoreError, counter};

/// How often the totals are sampled.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept: one hour.
pub const CAPACITY: usize = 720;

/// The hub's running totals at one moment. Every figure only grows, except
/// `delivered`, which moves back if a partner proves it lost records
/// (`Store::rewind_sent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Unix milliseconds (the interval between samples is a few seconds, so
    /// seconds would make rates coarse).
    pub at_ms: i64,
    /// Source records accepted (`accepted` in the status).
    pub accepted: u64,
    /// Records queued for partners, summed over partners.
    pub queued: u64,
    /// Records partners acknowledged with a verified receipt, summed.
    pub delivered: u64,
    /// Records received from partners, summed.
    pub received: u64,
    /// Received records the matcher has been through, summed.
    pub matched: u64,
}

impl Sample {
    /// Reads the totals now.
    pub fn take(core: &Core) -> Result<Sample, StoreError> {
        let s = &core.store;
        let mut sample = Sample {
            at_ms: now_ms(),
            accepted: s.counter(counter::ACCEPTED)?,
            queued: 0,
            delivered: 0,
            received: 0,
            matched: 0,
        };
        for p in &core.partner_ids {
            sample.queued += s.outbox_last(p)?;
            sample.delivered += s.sent_upto(p)?;
            sample.received += s.inbox_last(p)?;
            sample.matched += s.counter(&counter::match_cursor(p))?;
        }
        Ok(sample)
    }
}

/// What `/v1/status` carries: the samples of the last hour, oldest first,
/// the last one taken when the status was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throughput {
    pub interval_ms: u64,
    pub samples: Vec<Sample>,
}

/// The ring buffer.
#[derive(Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == CAPACITY {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples kept, then `now`.
    pub fn with(&self, now: Sample) -> Throughput {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        Throughput {
            interval_ms: INTERVAL.as_millis() as u64,
            samples: samples.iter().cloned().chain([now]).collect(),
        }
    }
}

/// Samples every [`INTERVAL`], the first at once, until `stop`.
pub async fn run_sampler(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let c = core.clone();
        match tokio::task::spawn_blocking(move || Sample::take(&c)).await {
            Ok(Ok(sample)) => core.throughput.push(sample),
            Ok(Err(e)) => tracing::warn!("cannot sample the hub's totals: {e}"),
            Err(e) => tracing::warn!("sampling task failed: {e}"),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: i64) -> Sample {
        Sample {
            at_ms,
            accepted: 0,
            queued: 0,
            delivered: 0,
            received: 0,
            matched: 0,
        }
    }

    #[test]
    fn the_history_keeps_the_last_hour_and_ends_with_now() {
        let history = History::default();
        for i in 0..CAPACITY as i64 + 10 {
            history.push(sample(i));
        }
        let t = history.with(sample(-1));
        assert_eq!(t.samples.len(), CAPACITY + 1);
        assert_eq!(t.samples[0].at_ms, 10);
        assert_eq!(t.samples[CAPACITY - 1].at_ms, CAPACITY as i64 + 9);
        assert_eq!(t.samples[CAPACITY].at_ms, -1);
    }
}
