//! The matching index, kept by generation: each generation holds the
//! blocking keys of one matcher (a component and its model, named by
//! `Plugin::identity`). A hub that starts, or reloads, with another matcher
//! opens a new generation: ingest writes there, a background worker indexes
//! every stored entry there too, and until it has, lookups read the older
//! generations as well, so entries ingested before the change stay found
//! under every key the two matchers share. When the worker reaches the last
//! entry the new generation alone serves, and the older ones are removed.
//!
//! Keys: generation 0 is the layout before generations (the key bytes as
//! the matcher wrote them); generation g ≥ 1 prefixes them with `0xFF` and g
//! (big-endian). A key is UTF-8, which never holds the byte `0xFF`, so the
//! generations are disjoint ranges of the one tree.
//!
//! `entry_keys` lists, per entry, the (generation, key) pairs it was indexed
//! under, so that a withdrawal or a purge removes exactly those.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{Result, Store, be, counter, decode, encode, flatten, read_u64, seq_of};

/// The meta key under which [`IndexState`] is kept.
const STATE: &str = "index_state";

/// Where the matching index stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    /// The generation ingest writes to.
    pub generation: u32,
    /// The identity of the matcher whose keys `generation` holds.
    pub matcher: String,
    /// Every generation a lookup reads, newest first: the current one and,
    /// while it is rebuilt, those before it.
    pub serving: Vec<u32>,
    /// While the current generation is rebuilt: the highest entry id
    /// indexed in it so far (every entry above it is still to do).
    pub rebuilt_upto: Option<u64>,
    /// Generations no longer read, whose keys are being removed.
    #[serde(default)]
    pub retired: Vec<u32>,
}

/// What `adopt_matcher` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopted {
    /// The index already holds this matcher's keys (or is being rebuilt for it).
    Current,
    /// A new generation was opened and is to be rebuilt.
    Rebuilding,
}

/// The index as the status reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStatus {
    pub generation: u32,
    /// The first 16 hex digits of the matcher's identity.
    pub matcher: String,
    /// While a rebuild runs: entries are indexed up to this id, of `of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilding: Option<Rebuilding>,
    pub serving: Vec<u32>,
    #[serde(default)]
    pub retired: Vec<u32>,
    /// Entries the matcher failed to key in rebuilds (each logged).
    #[serde(default)]
    pub rebuild_failures: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuilding {
    /// Entry ids up to this one are indexed under the new generation.
    pub upto_entry_id: u64,
    /// The highest entry id the hub has given.
    pub last_entry_id: u64,
}

/// The index key of `key` for entry `id` in generation `generation`.
pub(super) fn index_key(generation: u32, key: &str, id: u64) -> Vec<u8> {
    let mut k = prefix(generation, key);
    k.extend_from_slice(&be(id));
    k
}

/// Every index key of `key` in `generation` starts so.
fn prefix(generation: u32, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 14);
    if generation > 0 {
        k.push(0xFF);
        k.extend_from_slice(&generation.to_be_bytes());
    }
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

/// The range of index keys generation `generation` occupies.
fn range(generation: u32) -> (Vec<u8>, Vec<u8>) {
    let start = |g: u32| {
        let mut k = vec![0xFF];
        k.extend_from_slice(&g.to_be_bytes());
        k
    };
    match generation {
        0 => (Vec::new(), vec![0xFF]),
        g if g == u32::MAX => (start(g), vec![0xFF; 6]),
        g => (start(g), start(g + 1)),
    }
}

/// An entry's (generation, key) pairs as `entry_keys` holds them; before
/// generations it held the keys alone (generation 0).
fn listed(value: Option<sled::IVec>) -> Vec<(u32, String)> {
    let Some(v) = value else {
        return Vec::new();
    };
    serde_cbor::from_slice::<Vec<(u32, String)>>(&v)
        .or_else(|_| {
            serde_cbor::from_slice::<Vec<String>>(&v)
                .map(|keys| keys.into_iter().map(|k| (0, k)).collect())
        })
        .unwrap_or_default()
}

/// Indexes entry `id` under `keys` in the current generation, remembering
/// every (generation, key) it was ever indexed under, so that a purge finds
/// them all.
pub(super) fn index_entry(
    index: &TransactionalTree,
    entry_keys: &TransactionalTree,
    generation: u32,
    id: u64,
    keys: &[String],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    let mut all = listed(entry_keys.get(be(id))?);
    for key in keys {
        index.insert(index_key(generation, key, id), &[])?;
        if !all.iter().any(|(g, k)| *g == generation && k == key) {
            all.push((generation, key.clone()));
        }
    }
    entry_keys.insert(&be(id), encode(&all))?;
    Ok(())
}

/// Takes entry `id` out of the index, in every generation it was put in.
/// Returns false when `entry_keys` has no list for it.
pub(super) fn unindex_entry(
    index: &TransactionalTree,
    entry_keys: &TransactionalTree,
    id: u64,
) -> std::result::Result<bool, sled::transaction::UnabortableTransactionError> {
    let Some(v) = entry_keys.remove(&be(id))? else {
        return Ok(false);
    };
    for (generation, key) in listed(Some(v)) {
        index.remove(index_key(generation, &key, id))?;
    }
    Ok(true)
}

/// The generation ingest writes to, as the state in `meta` says (0 for a
/// store no hub adopted: tools, tests).
pub(super) fn current_generation(
    meta: &TransactionalTree,
) -> std::result::Result<u32, sled::transaction::UnabortableTransactionError> {
    Ok(tx_state(meta)?.map_or(0, |s| s.generation))
}

/// After an ingest wrote keys from the matcher `matcher` for entries with
/// ids from `lowest`: keys of another matcher than the index's (a reload
/// swapped it while the batch was prepared) stay, and the rebuild is set to
/// go over those entries again.
pub(super) fn ingested_with(
    meta: &TransactionalTree,
    matcher: &str,
    lowest: u64,
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    let Some(mut state) = tx_state(meta)? else {
        return Ok(());
    };
    if state.matcher != matcher {
        let from = lowest.saturating_sub(1);
        state.rebuilt_upto = Some(state.rebuilt_upto.map_or(from, |upto| upto.min(from)));
        meta.insert(STATE, encode(&state))?;
    }
    Ok(())
}

fn tx_state(
    meta: &TransactionalTree,
) -> std::result::Result<Option<IndexState>, sled::transaction::UnabortableTransactionError> {
    Ok(meta
        .get(STATE)?
        .and_then(|v| serde_cbor::from_slice::<IndexState>(&v).ok()))
}

impl Store {
    /// The index's state; `None` until a hub adopted a matcher.
    pub fn index_state(&self) -> Result<Option<IndexState>> {
        self.meta
            .get(STATE)?
            .map(|v| decode("index state", &v))
            .transpose()
    }

    /// What the status says of the index.
    pub fn index_status(&self) -> Result<Option<IndexStatus>> {
        let last = read_u64(self.meta.get(counter::NEXT_ENTRY_ID)?).saturating_sub(1);
        let rebuild_failures = read_u64(self.meta.get(counter::INDEX_REBUILD_FAILURES)?);
        Ok(self.index_state()?.map(|s| IndexStatus {
            generation: s.generation,
            matcher: s.matcher.chars().take(16).collect(),
            rebuilding: s.rebuilt_upto.map(|upto| Rebuilding {
                upto_entry_id: upto.min(last),
                last_entry_id: last,
            }),
            serving: s.serving,
            retired: s.retired,
            rebuild_failures,
        }))
    }

    /// Makes `matcher` the matcher the index is kept for. A store indexed
    /// by another (or before generations) gets a new generation, to be
    /// rebuilt ([`Store::rebuild_index`]) while the older ones keep serving.
    /// The caller holds the ingest lock.
    pub fn adopt_matcher(&self, matcher: &str) -> Result<Adopted> {
        let legacy = self.index.range(..vec![0xFFu8]).next().is_some();
        let adopted = self
            .meta
            .transaction(|meta| {
                let next = match tx_state(meta)? {
                    Some(s) if s.matcher == matcher => return Ok(Adopted::Current),
                    Some(s) => {
                        let generation = s.generation + 1;
                        let mut serving = vec![generation];
                        serving.extend(&s.serving);
                        IndexState {
                            generation,
                            matcher: matcher.to_owned(),
                            serving,
                            rebuilt_upto: Some(0),
                            retired: s.retired,
                        }
                    }
                    // Keys written before generations: generation 0 serves
                    // until generation 1 holds every entry.
                    None if legacy => IndexState {
                        generation: 1,
                        matcher: matcher.to_owned(),
                        serving: vec![1, 0],
                        rebuilt_upto: Some(0),
                        retired: Vec::new(),
                    },
                    None => IndexState {
                        generation: 1,
                        matcher: matcher.to_owned(),
                        serving: vec![1],
                        // Entries may have come in by a tool, unindexed.
                        rebuilt_upto: (tx_next_id(meta)? > 1).then_some(0),
                        retired: Vec::new(),
                    },
                };
                let rebuilding = next.rebuilt_upto.is_some();
                meta.insert(STATE, encode(&next))?;
                Ok::<_, ConflictableTransactionError<()>>(if rebuilding {
                    Adopted::Rebuilding
                } else {
                    Adopted::Current
                })
            })
            .map_err(flatten)?;
        Ok(adopted)
    }

    /// The next `max` stored entries after entry id `after`, for a rebuild.
    pub fn entries_after(&self, after: u64, max: usize) -> Result<Vec<(u64, super::Crossing)>> {
        let mut out = Vec::with_capacity(max.min(4096));
        for kv in self
            .crossings
            .range(be(after.saturating_add(1))..)
            .take(max)
        {
            let (k, v) = kv?;
            let stored: super::StoredCrossing = decode("crossing", &v)?;
            out.push((seq_of(&k), stored.crossing));
        }
        Ok(out)
    }

    /// Indexes `keyed` entries in generation `generation` (being rebuilt)
    /// and moves the rebuild past `upto`, in one transaction. Entries gone
    /// since they were read (withdrawn, purged) are skipped. Returns false,
    /// writing nothing, if the index no longer rebuilds `generation`.
    pub fn rebuild_index(
        &self,
        generation: u32,
        keyed: &[(u64, Vec<String>)],
        upto: u64,
        failed: u64,
    ) -> Result<bool> {
        (&self.meta, &self.crossings, &self.index, &self.entry_keys)
            .transaction(|(meta, crossings, index, entry_keys)| {
                let Some(mut state) = tx_state(meta)? else {
                    return Ok(false);
                };
                if state.generation != generation || state.rebuilt_upto.is_none() {
                    return Ok(false);
                }
                for (id, keys) in keyed {
                    if crossings.get(be(*id))?.is_none() {
                        continue;
                    }
                    // One read and one write of the list per entry; keys of
                    // generations no longer read go from it.
                    let mut all: Vec<(u32, String)> = listed(entry_keys.get(be(*id))?)
                        .into_iter()
                        .filter(|(g, _)| state.serving.contains(g))
                        .collect();
                    for key in keys {
                        index.insert(index_key(generation, key, *id), &[])?;
                        if !all.iter().any(|(g, k)| *g == generation && k == key) {
                            all.push((generation, key.clone()));
                        }
                    }
                    entry_keys.insert(&be(*id), encode(&all))?;
                }
                state.rebuilt_upto = Some(upto);
                meta.insert(STATE, encode(&state))?;
                super::tx_add(meta, counter::INDEX_REBUILD_FAILURES, failed)?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(flatten)
    }

    /// Ends the rebuild of `generation` if it has indexed the last entry:
    /// it alone serves from now on, and the others are retired. The caller
    /// holds the ingest lock, so no entry comes in between the look for one
    /// past the rebuild and the transaction that ends it. Returns whether
    /// it ended.
    pub fn finish_rebuild(&self, generation: u32) -> Result<bool> {
        let Some(upto) = self
            .index_state()?
            .filter(|s| s.generation == generation)
            .and_then(|s| s.rebuilt_upto)
        else {
            return Ok(false);
        };
        // Ids are shared with rejected and quarantined records: the end is
        // the last stored entry, not the last id given.
        if self
            .crossings
            .range(be(upto.saturating_add(1))..)
            .next()
            .is_some()
        {
            return Ok(false);
        }
        self.meta
            .transaction(|meta| {
                let Some(mut state) = tx_state(meta)? else {
                    return Ok(false);
                };
                if state.generation != generation || state.rebuilt_upto != Some(upto) {
                    return Ok(false);
                }
                state.rebuilt_upto = None;
                let old: Vec<u32> = state
                    .serving
                    .iter()
                    .copied()
                    .filter(|&g| g != generation)
                    .collect();
                state.retired.extend(old);
                state.serving = vec![generation];
                meta.insert(STATE, encode(&state))?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(flatten)
    }

    /// Removes up to `max` keys of a retired generation; when one has none
    /// left it leaves the state. Returns the keys removed (0: nothing to do).
    pub fn clear_retired(&self, max: usize) -> Result<usize> {
        let Some(state) = self.index_state()? else {
            return Ok(0);
        };
        let Some(&generation) = state.retired.first() else {
            return Ok(0);
        };
        let (start, end) = range(generation);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.index.range(start..end).take(max) {
            let (k, _) = kv?;
            batch.remove(k);
            n += 1;
        }
        self.index.apply_batch(batch)?;
        if n == 0 {
            self.meta
                .transaction(|meta| {
                    if let Some(mut s) = tx_state(meta)? {
                        s.retired.retain(|&g| g != generation);
                        meta.insert(STATE, encode(&s))?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(flatten)?;
            return Ok(1);
        }
        Ok(n)
    }

    /// Entry ids indexed under any of `keys` in the generations that serve,
    /// the newest `max` per key and generation: with years of history, a
    /// traveller's latest entry is the one an exit closes.
    pub fn candidates(&self, keys: &[String], max: usize) -> Result<Vec<u64>> {
        let serving = match self.index_state()? {
            Some(s) => s.serving,
            None => vec![0],
        };
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for key in keys {
            for &generation in &serving {
                for kv in self
                    .index
                    .scan_prefix(prefix(generation, key))
                    .rev()
                    .take(max)
                {
                    let (k, _) = kv?;
                    let id = seq_of(&k);
                    if seen.insert(id) {
                        out.push(id);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn tx_next_id(
    meta: &TransactionalTree,
) -> std::result::Result<u64, sled::transaction::UnabortableTransactionError> {
    Ok(read_u64(meta.get(counter::NEXT_ENTRY_ID)?))
}

#[cfg(test)]
mod tests {
    use super::super::{Ingested, Outcome};
    use super::*;
    use crate::record::{Crossing, Decision, Mode, PartialDate, Sex};

    fn crossing(source_ref: &str) -> Crossing {
        Crossing {
            source_ref: source_ref.into(),
            given_names: "ANNA".into(),
            middle_names: String::new(),
            family_name: "ERIKSSON".into(),
            date_of_birth: PartialDate {
                year: 1974,
                month: Some(8),
                day: Some(12),
            },
            sex: Sex::F,
            nationality: "SWE".into(),
            document_type: "P".into(),
            document_number: "L898902C3".into(),
            document_country: "SWE".into(),
            crossed_at: 1_763_700_000,
            port_code: "0427".into(),
            mode: Mode::Vehicle,
            citizenships: Vec::new(),
            residency: Vec::new(),
            authorised_stay_until: None,
        }
    }

    /// Ingests one entry per (source reference, keys), keyed by `matcher`.
    fn ingest(store: &Store, matcher: &str, entries: &[(&str, &[&str])]) -> Vec<u64> {
        let batch: Vec<Ingested> = entries
            .iter()
            .map(|(source_ref, keys)| Ingested {
                location: "line 1".into(),
                raw: source_ref.as_bytes().to_vec(),
                outcome: Outcome::Accepted {
                    crossing: Box::new(crossing(source_ref)),
                    decision: Decision::Share,
                    partner_decisions: Default::default(),
                    keys: keys.iter().map(|k| k.to_string()).collect(),
                },
            })
            .collect();
        store
            .ingest(&batch, &[], matcher)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                super::super::ItemResult::Accepted { entry_id, .. } => entry_id,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn found(store: &Store, key: &str) -> Vec<u64> {
        let mut ids = store.candidates(&[key.to_owned()], 100).unwrap();
        ids.sort();
        ids
    }

    /// Every index key of the tree, as (generation, key text).
    fn keys(store: &Store) -> Vec<(u32, String)> {
        store
            .index
            .iter()
            .map(|kv| {
                let (k, _) = kv.unwrap();
                let k = &k[..k.len() - 9];
                match k.first() {
                    Some(0xFF) => (
                        u32::from_be_bytes(k[1..5].try_into().unwrap()),
                        String::from_utf8(k[5..].to_vec()).unwrap(),
                    ),
                    _ => (0, String::from_utf8(k.to_vec()).unwrap()),
                }
            })
            .collect()
    }

    #[test]
    fn a_new_matcher_opens_a_generation_the_old_one_serves_beside_until_it_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.adopt_matcher("m1").unwrap(), Adopted::Current);
        let ids = ingest(
            &store,
            "m1",
            &[("A", &["old:a", "both:a"]), ("B", &["old:b"])],
        );
        assert_eq!(store.adopt_matcher("m1").unwrap(), Adopted::Current);

        // Another matcher: generation 2, rebuilt from the first entry.
        assert_eq!(store.adopt_matcher("m2").unwrap(), Adopted::Rebuilding);
        let state = store.index_state().unwrap().unwrap();
        assert_eq!(
            (
                state.generation,
                state.serving.as_slice(),
                state.rebuilt_upto
            ),
            (2, &[2, 1][..], Some(0))
        );
        // Meanwhile the old generation answers, and new entries go to the new.
        assert_eq!(found(&store, "old:a"), vec![ids[0]]);
        let c = ingest(&store, "m2", &[("C", &["new:c", "both:a"])]);
        assert_eq!(found(&store, "both:a"), vec![ids[0], c[0]]);

        // Not finished while entries are left; then the new one alone serves.
        assert!(!store.finish_rebuild(2).unwrap());
        let entries = store.entries_after(0, 10).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            [ids[0], ids[1], c[0]]
        );
        let keyed = vec![
            (ids[0], vec!["new:a".to_owned(), "both:a".to_owned()]),
            (ids[1], vec!["new:b".to_owned()]),
        ];
        assert!(store.rebuild_index(2, &keyed, ids[1], 0).unwrap());
        assert!(
            !store.finish_rebuild(2).unwrap(),
            "entry C is not rebuilt yet"
        );
        assert!(
            store
                .rebuild_index(
                    2,
                    &[(c[0], vec!["new:c".to_owned(), "both:a".to_owned()])],
                    c[0],
                    0
                )
                .unwrap()
        );
        assert!(store.finish_rebuild(2).unwrap());
        let state = store.index_state().unwrap().unwrap();
        assert_eq!(
            (state.serving.as_slice(), state.retired.as_slice()),
            (&[2][..], &[1][..])
        );
        assert_eq!(found(&store, "old:a"), Vec::<u64>::new());
        assert_eq!(found(&store, "new:b"), vec![ids[1]]);

        // The retired generation's keys go, then the generation itself.
        while store.clear_retired(1).unwrap() > 0 {}
        assert!(store.index_state().unwrap().unwrap().retired.is_empty());
        assert!(
            keys(&store).iter().all(|(g, _)| *g == 2),
            "{:?}",
            keys(&store)
        );
        // A batch for a generation no longer rebuilt writes nothing.
        assert!(!store.rebuild_index(2, &keyed, 99, 0).unwrap());
    }

    #[test]
    fn a_withdrawal_takes_an_entry_out_of_every_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.adopt_matcher("m1").unwrap();
        let ids = ingest(&store, "m1", &[("A", &["old:a"])]);
        store.adopt_matcher("m2").unwrap();
        assert!(
            store
                .rebuild_index(2, &[(ids[0], vec!["new:a".to_owned()])], ids[0], 0)
                .unwrap()
        );
        assert_eq!(
            keys(&store),
            [(1, "old:a".to_owned()), (2, "new:a".to_owned())]
        );
        store.withdraw(&["A".to_owned()], &[]).unwrap();
        assert_eq!(keys(&store), Vec::<(u32, String)>::new());
        // Rebuilding an entry withdrawn since it was read indexes nothing.
        assert!(
            store
                .rebuild_index(2, &[(ids[0], vec!["new:a".to_owned()])], ids[0], 0)
                .unwrap()
        );
        assert_eq!(keys(&store), Vec::<(u32, String)>::new());
    }

    /// A store indexed before generations (keys as the matcher wrote them,
    /// `entry_keys` listing bare keys) keeps serving them until generation
    /// 1 holds every entry; then they go.
    #[test]
    fn keys_written_before_generations_serve_until_the_first_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ids = ingest(&store, "before", &[("A", &["old:a"])]);
        assert_eq!(keys(&store), [(0, "old:a".to_owned())]);
        assert_eq!(found(&store, "old:a"), vec![ids[0]]);
        assert_eq!(store.adopt_matcher("m1").unwrap(), Adopted::Rebuilding);
        assert_eq!(found(&store, "old:a"), vec![ids[0]]);
        assert!(
            store
                .rebuild_index(1, &[(ids[0], vec!["new:a".to_owned()])], ids[0], 0)
                .unwrap()
        );
        assert!(store.finish_rebuild(1).unwrap());
        while store.clear_retired(1).unwrap() > 0 {}
        assert_eq!(keys(&store), [(1, "new:a".to_owned())]);
        store.withdraw(&["A".to_owned()], &[]).unwrap();
        assert_eq!(keys(&store), Vec::<(u32, String)>::new());
    }

    /// Ids are shared with rejected records: a rebuild whose last entry is
    /// followed by a rejected record has still reached the end.
    #[test]
    fn a_rebuild_ends_when_the_last_id_given_was_a_rejected_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.adopt_matcher("m1").unwrap();
        let ids = ingest(&store, "m1", &[("A", &["k:a"])]);
        let rejected = Ingested {
            location: "line 2".into(),
            raw: b"bad".to_vec(),
            outcome: Outcome::Rejected(crate::record::Rejection {
                field: Some("date_of_birth".into()),
                reason: "not a date".into(),
            }),
        };
        store.ingest(&[rejected], &[], "m1").unwrap();
        store.adopt_matcher("m2").unwrap();
        assert!(
            store
                .rebuild_index(2, &[(ids[0], vec!["k:a".to_owned()])], ids[0], 0)
                .unwrap()
        );
        assert!(store.entries_after(ids[0], 10).unwrap().is_empty());
        assert!(
            store.finish_rebuild(2).unwrap(),
            "{:?}",
            store.index_state()
        );
    }

    /// A reload swapped the matcher while a batch was being keyed: the
    /// batch's keys are written, and the rebuild goes over it again.
    #[test]
    fn keys_from_a_matcher_no_longer_in_use_send_their_entries_to_the_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.adopt_matcher("m1").unwrap();
        ingest(&store, "m1", &[("A", &["k:a"])]);
        assert_eq!(store.index_state().unwrap().unwrap().rebuilt_upto, None);
        let late = ingest(&store, "m0", &[("B", &["k:b"])]);
        let state = store.index_state().unwrap().unwrap();
        assert_eq!(
            (state.generation, state.rebuilt_upto),
            (1, Some(late[0] - 1))
        );
        assert_eq!(store.entries_after(late[0] - 1, 10).unwrap().len(), 1);
    }
}
