//! Matching a partner's records (our exits) to our own entries.
//!
//! The matcher plugin owns the rules (blocking keys and pair scores); the host
//! owns the index (in the store, filled at ingest) and the assignment: each
//! exit takes its best-scoring candidate, each entry is linked at most once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::MatchingSettings;
use crate::hub::Core;
use crate::ingest::contained;
use crate::plugins::PluginError;
use crate::record::{Entry, SharedRecord, Timestamp};
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
    // Matching waits while the index is rebuilt for a new matcher: an exit
    // looked up in a half-built index could miss the entry it closes and
    // make its traveller an overstayer. A delay shows (the status's index
    // and backlog); a wrong overstay would not.
    if store
        .index_state()?
        .is_some_and(|s| s.rebuilt_upto.is_some())
    {
        return Ok(false);
    }
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
                // A correction of a record this hub purged (its retention
                // ran out first) brings nothing back to match.
                if store.inbox_record(partner, amends)?.is_some() {
                    current.insert(amends, record);
                }
            }
            Entry::Deletion { amends, .. } => {
                amended.push(amends);
                current.remove(&amends);
            }
            Entry::SetAside => {}
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

    // An exit closes an entry made before it.
    let scored: Vec<Scored> = pairs
        .iter()
        .zip(&scores)
        .filter(|&(&(x, e), _)| entries[e].1.entered_at <= records[x].entered_at)
        .map(|(&(exit, entry), &score)| Scored { exit, entry, score })
        .collect();
    let assigned = assign(
        scored,
        |e| entries[e].1.entered_at,
        settings,
        records.len(),
        entries.len(),
        |e| store.entry_is_matched(entries[e].0),
    )?;
    let rows: Vec<MatchRow> = assigned
        .into_iter()
        .map(|a| MatchRow {
            exit_seq: exits[a.exit].0,
            entry_id: entries[a.entry].0,
            score: a.score,
            band: a.band,
        })
        .collect();
    store.store_matches(partner, upto, &rows, failed)?;
    Ok(true)
}

/// A candidate pair and its score; `exit` and `entry` index the caller's lists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub exit: usize,
    pub entry: usize,
    pub score: f64,
}

/// A pair the assignment kept, with its band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assigned {
    pub exit: usize,
    pub entry: usize,
    pub score: f64,
    pub band: Band,
}

/// One-to-one assignment, shared by the hub and `entrex reconcile` so both
/// decide alike. Best pairs first, so a contested entry goes to the exit it
/// fits best; among scores equal to two decimals the latest entry (then the
/// order given): a traveller's exit closes the latest entry before it, and
/// two records of one person that differ only in a null or a slip (an
/// empty sex on one entry) must not hand the exit to the older entry.
/// Each exit gets at most one pair: a link (score at or above
/// `link_threshold`), which takes its entry, or else a pair for clerical
/// review (at or above `review_threshold`), which does not: a clerk may still
/// find the entry belongs to another exit. `linked_before` says whether an
/// entry was linked outside this call (the hub's earlier batches).
pub fn assign<E>(
    mut scored: Vec<Scored>,
    entered_at: impl Fn(usize) -> Timestamp,
    settings: &MatchingSettings,
    exits: usize,
    entries: usize,
    mut linked_before: impl FnMut(usize) -> Result<bool, E>,
) -> Result<Vec<Assigned>, E> {
    scored.retain(|s| s.score >= settings.review_threshold);
    let outscored = outscored_by_a_companion(&scored, &entered_at);
    // Sort keys computed once, not in the comparison: a batch run sorts a
    // million pairs, and looking up entry times in there cost a cache miss
    // per comparison. The position keeps the order given among equals.
    let mut order: Vec<(
        std::cmp::Reverse<u64>,
        bool,
        std::cmp::Reverse<Timestamp>,
        usize,
    )> = scored
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                std::cmp::Reverse(score_key((s.score * 10.0).round() / 10.0)),
                outscored[i],
                std::cmp::Reverse(entered_at(s.entry)),
                i,
            )
        })
        .collect();
    order.sort_unstable();
    let mut exit_done = vec![false; exits];
    let mut entry_taken = vec![false; entries];
    let mut out = Vec::new();
    for Scored { exit, entry, score } in order.into_iter().map(|(_, _, _, i)| scored[i]) {
        if exit_done[exit] || entry_taken[entry] {
            continue;
        }
        let band = if score >= settings.link_threshold {
            Band::Link
        } else {
            Band::Review
        };
        if band == Band::Link && linked_before(entry)? {
            continue;
        }
        exit_done[exit] = true;
        if band == Band::Link {
            entry_taken[entry] = true;
        }
        out.push(Assigned {
            exit,
            entry,
            score,
            band,
        });
    }
    exchange_crossed_links(&mut out, &scored, settings.link_threshold);
    Ok(out)
}

/// One person cannot enter twice within this many seconds: entries closer
/// than that are companions (twins, a family) crossing together.
const COMPANIONS_WITHIN_S: Timestamp = 15 * 60;

/// For each pair, whether its exit scores higher with another entry made
/// within [`COMPANIONS_WITHIN_S`] of this one. The latest-entry rule is for
/// one person's trips days apart; between companions' entries it would
/// hand a twin the entry his twin made a minute after his own.
fn outscored_by_a_companion(
    scored: &[Scored],
    entered_at: &impl Fn(usize) -> Timestamp,
) -> Vec<bool> {
    let mut by_exit: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, s) in scored.iter().enumerate() {
        by_exit.entry(s.exit).or_default().push(i);
    }
    let mut outscored = vec![false; scored.len()];
    for pairs in by_exit.values().filter(|p| p.len() > 1) {
        for &i in pairs {
            let at = entered_at(scored[i].entry);
            outscored[i] = pairs.iter().any(|&j| {
                scored[j].score > scored[i].score + 1e-9
                    && (entered_at(scored[j].entry) - at).abs() <= COMPANIONS_WITHIN_S
            });
        }
    }
    outscored
}

/// Two links whose entries fit each other's exits better, exchanged: twins
/// or siblings born the same day, with consecutive passports, score within
/// two decimals of one another, and the latest-entry rule above then hands
/// each exit the other's entry. Exchanging two links when the two pairs it
/// makes score more in all (as a maximum-weight matching would pair them)
/// puts them back; ties keep the rule's choice.
fn exchange_crossed_links(out: &mut [Assigned], scored: &[Scored], link_threshold: f64) {
    // Only exits with two entries or more at link level can take part in an
    // exchange: the maps hold those alone (a batch run assigns a million).
    let mut candidates: HashMap<usize, Vec<usize>> = HashMap::new();
    for s in scored.iter().filter(|s| s.score >= link_threshold) {
        candidates.entry(s.exit).or_default().push(s.entry);
    }
    candidates.retain(|_, entries| entries.len() > 1);
    if candidates.is_empty() {
        return;
    }
    let score: HashMap<(usize, usize), f64> = scored
        .iter()
        .filter(|s| candidates.contains_key(&s.exit))
        .map(|s| ((s.exit, s.entry), s.score))
        .collect();
    let mut link_of_entry: HashMap<usize, usize> = out
        .iter()
        .enumerate()
        .filter(|(_, a)| a.band == Band::Link)
        .map(|(i, a)| (a.entry, i))
        .collect();
    // Each exchange raises the total strictly, so this ends; the bound only
    // keeps a pathological batch from spinning.
    for _ in 0..4 {
        let mut exchanged = false;
        for i in 0..out.len() {
            if out[i].band != Band::Link {
                continue;
            }
            let (x1, e1) = (out[i].exit, out[i].entry);
            for &e2 in candidates.get(&x1).map_or(&[][..], Vec::as_slice) {
                let Some(&j) = link_of_entry.get(&e2) else {
                    continue;
                };
                let x2 = out[j].exit;
                if j == i {
                    continue;
                }
                let (Some(&s12), Some(&s21)) = (score.get(&(x1, e2)), score.get(&(x2, e1))) else {
                    continue;
                };
                if s21 < link_threshold || s12 + s21 <= out[i].score + out[j].score + 1e-9 {
                    continue;
                }
                (out[i].entry, out[i].score) = (e2, s12);
                (out[j].entry, out[j].score) = (e1, s21);
                link_of_entry.insert(e2, i);
                link_of_entry.insert(e1, j);
                exchanged = true;
                break;
            }
        }
        if !exchanged {
            break;
        }
    }
}

/// A key that orders scores as `f64::total_cmp` does.
fn score_key(score: f64) -> u64 {
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MatchingSettings {
        MatchingSettings {
            link_threshold: 0.8,
            review_threshold: 0.6,
            max_candidates: 10,
        }
    }

    fn links(scored: Vec<Scored>, entered_at: &[Timestamp], exits: usize) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = assign(
            scored,
            |e| entered_at[e],
            &settings(),
            exits,
            entered_at.len(),
            |_| Ok::<_, ()>(false),
        )
        .unwrap()
        .into_iter()
        .filter(|a| a.band == Band::Link)
        .map(|a| (a.exit, a.entry))
        .collect();
        out.sort();
        out
    }

    fn pair(exit: usize, entry: usize, score: f64) -> Scored {
        Scored { exit, entry, score }
    }

    /// Twins born the same day, consecutive passports, crossing together:
    /// each exit scores 1.0 with its own entry and 0.989 with the twin's,
    /// and the twin's entry was made 94 s later. The latest-entry rule
    /// alone hands each exit the other's entry (the second generator's
    /// heavy day lost 67 clean pairs so).
    #[test]
    fn twins_each_keep_their_own_entry() {
        let scored = vec![
            pair(0, 0, 1.0),
            pair(0, 1, 0.989),
            pair(1, 1, 1.0),
            pair(1, 0, 0.989),
        ];
        assert_eq!(links(scored, &[1_000, 1_094], 2), [(0, 0), (1, 1)]);
    }

    /// Twins crossed in together a minute apart, and only one left (or the
    /// other's exit is not in this batch): his exit scores 1.0 with his own
    /// entry and 0.997 with the twin's later one. Two entries a minute apart
    /// are two people, so the better-scoring one is his.
    #[test]
    fn a_twin_who_leaves_alone_takes_his_own_entry() {
        let scored = vec![pair(0, 0, 1.0), pair(0, 1, 0.997)];
        assert_eq!(links(scored, &[1_000, 1_031], 1), [(0, 0)]);
    }

    /// One traveller's two entries: the exit closes the latest, even when
    /// an older one scores a little higher; nothing to exchange with.
    #[test]
    fn an_exit_closes_the_latest_of_one_travellers_entries() {
        let scored = vec![pair(0, 0, 1.0), pair(0, 1, 0.97)];
        assert_eq!(links(scored, &[1_000, 5_000], 1), [(0, 1)]);
    }

    /// Exchanging needs both new pairs to be links and the total to rise.
    #[test]
    fn links_are_exchanged_only_for_a_higher_total_of_links() {
        // Equal totals: the latest-entry rule stands.
        let scored = vec![
            pair(0, 0, 0.95),
            pair(0, 1, 0.95),
            pair(1, 1, 0.95),
            pair(1, 0, 0.95),
        ];
        assert_eq!(links(scored, &[1_000, 1_094], 2), [(0, 1), (1, 0)]);
        // A higher total, but one of the pairs would be below the link
        // threshold: kept (all four score 0.8 to one decimal, so the
        // latest-entry rule chose).
        let scored = vec![
            pair(0, 1, 0.80),
            pair(1, 1, 0.78),
            pair(1, 0, 0.80),
            pair(0, 0, 0.849),
        ];
        assert_eq!(links(scored, &[1_000, 1_094], 2), [(0, 1), (1, 0)]);
    }
}
