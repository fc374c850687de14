//! Retention: deleting personal data once its period is over, everywhere the
//! store keeps it, without disturbing what runs meanwhile.
//!
//! Each kind of data is found by a scan, then deleted in small transactions
//! that read every value again: a record corrected, received or matched
//! since the scan is judged as it is now, and a match stored concurrently
//! for a record being purged is either purged with it or never stored
//! (`store_matches` skips an exit it no longer finds). A purge cut short is
//! finished by the next one.
//!
//! Bundles are done in two steps so that a crash between them leaves nothing
//! behind: [`Store::expired_bundles`] finds them, the caller replaces their
//! evidence copies by their signed heads, and only then
//! [`Store::mark_purged`] deletes their bytes and records them as purged
//! (which is what stops a later purge from looking at them again).

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{
    CHUNKS_RECEIVED, CHUNKS_SENT, Cutoffs, OutboxEntry, Purged, PurgedBundle, QuarantinedRecord,
    ReceivedBundle, RejectEntry, Result, SentBundle, SetAsideEntry, Store, StoredCrossing, be,
    chunk_key, decode, derived, encode, flatten, partner_key, sent_key, seq_of,
};
use crate::record::{Entry, Timestamp};

/// Keys deleted per transaction: small enough not to stall ingest or
/// matching for long, large enough that a purge of millions is quick.
const CHUNK: usize = 256;

type Tx<T> = std::result::Result<T, ConflictableTransactionError<()>>;

impl Store {
    /// Deletes the records, raw input, links and indexes past their
    /// retention periods (`cutoffs`): crossings and everything derived from
    /// them (raw input, matching keys, links, the records shared from them
    /// once acknowledged, set-aside copies), rejected and quarantined source
    /// records, and partners' records with their links. Bundles are left to
    /// [`Store::expired_bundles`] and [`Store::mark_purged`]. Idempotent.
    pub fn purge(&self, cutoffs: &Cutoffs, partners: &[String]) -> Result<Purged> {
        let mut purged = Purged::default();
        self.purge_crossings(cutoffs, partners, &mut purged)?;
        self.purge_source_leftovers(cutoffs)?;
        for p in partners {
            self.purge_outbox(p, cutoffs, &mut purged)?;
            self.purge_inbox(p, cutoffs, &mut purged)?;
        }
        self.flush()?;
        Ok(purged)
    }

    fn purge_crossings(
        &self,
        cutoffs: &Cutoffs,
        partners: &[String],
        purged: &mut Purged,
    ) -> Result<()> {
        let mut due = Vec::new();
        for kv in self.crossings.iter() {
            let (k, v) = kv?;
            let c: StoredCrossing = decode("crossing", &v)?;
            if c.crossing.crossed_at < cutoffs.raw.max(cutoffs.crossings) {
                due.push(seq_of(&k));
            }
        }
        // Entries indexed before `entry_keys` existed: their keys are found
        // by one scan of the index.
        let mut unlisted = std::collections::HashSet::new();
        for ids in due.chunks(CHUNK) {
            let (raw, crossings, unlisted_here) =
                self.purge_crossing_chunk(ids, cutoffs, partners)?;
            purged.raw += raw;
            purged.crossings += crossings;
            unlisted.extend(unlisted_here);
        }
        if !unlisted.is_empty() {
            for kv in self.index.iter() {
                let (k, _) = kv?;
                if unlisted.contains(&seq_of(&k)) {
                    self.index.remove(k)?;
                }
            }
        }
        Ok(())
    }

    /// One transaction: each crossing of `ids` judged as it is now.
    /// Returns (raw inputs deleted, crossings deleted, purged entries whose
    /// index keys are not listed).
    fn purge_crossing_chunk(
        &self,
        ids: &[u64],
        cutoffs: &Cutoffs,
        partners: &[String],
    ) -> Result<(u64, u64, Vec<u64>)> {
        (
            &self.raw,
            &self.crossings,
            &self.entry_matches,
            &self.matches,
            &self.sent_as,
            &self.derived,
            &self.index,
            &self.entry_keys,
        )
            .transaction(
                |(raw, crossings, entry_matches, matches, sent_as, derived, index, entry_keys)| {
                    let (mut raw_n, mut crossings_n, mut unlisted) = (0, 0, Vec::new());
                    for &id in ids {
                        let Some(v) = crossings.get(be(id))? else {
                            continue;
                        };
                        let Ok(c) = serde_cbor::from_slice::<StoredCrossing>(&v) else {
                            continue;
                        };
                        let at = c.crossing.crossed_at;
                        if at < cutoffs.raw && raw.remove(&be(id))?.is_some() {
                            raw_n += 1;
                        }
                        if at >= cutoffs.crossings {
                            continue;
                        }
                        raw.remove(&be(id))?;
                        crossings.remove(&be(id))?;
                        derived::stay_closed(derived, &c.crossing, id)?;
                        if let Some(exit) = entry_matches.remove(&be(id))? {
                            matches.remove(&exit)?;
                            derived::forget_purged_match(derived, &exit)?;
                        }
                        for p in partners {
                            sent_as.remove(sent_key(id, p))?;
                        }
                        if !super::index::unindex_entry(index, entry_keys, id)? {
                            unlisted.push(id);
                        }
                        crossings_n += 1;
                    }
                    Tx::Ok((raw_n, crossings_n, unlisted))
                },
            )
            .map_err(flatten)
    }

    /// Rejected records (with their raw input) by when they were received,
    /// and quarantined ones by when they were quarantined, both with the
    /// raw input's period: neither became a crossing with a date of its own.
    fn purge_source_leftovers(&self, cutoffs: &Cutoffs) -> Result<()> {
        let past = |at: Option<Timestamp>| at.is_none_or(|t| t < cutoffs.raw);
        for kv in self.rejects.iter() {
            let (k, v) = kv?;
            let r: RejectEntry = decode("rejected record", &v)?;
            if past(r.at) {
                self.raw.remove(&k)?;
                self.rejects.remove(&k)?;
            }
        }
        for kv in self.quarantine.iter() {
            let (k, v) = kv?;
            let q: QuarantinedRecord = decode("quarantined record", &v)?;
            if past(Some(q.at)) {
                self.quarantine.remove(&k)?;
            }
        }
        Ok(())
    }

    /// Acknowledged outbox entries whose record is past the crossings'
    /// period (for an amendment: the record it replaces), and set-aside
    /// copies likewise.
    fn purge_outbox(&self, partner: &str, cutoffs: &Cutoffs, purged: &mut Purged) -> Result<()> {
        let past = |e: &OutboxEntry| match e.record.record() {
            Some(r) => r.entered_at < cutoffs.crossings,
            None => e
                .replaces
                .as_ref()
                .is_some_and(|r| r.at < cutoffs.crossings),
        };
        let sent_upto = self.sent_upto(partner)?;
        for kv in self
            .outbox
            .range(partner_key(partner, 1)..=partner_key(partner, sent_upto))
        {
            let (k, v) = kv?;
            if past(&decode::<OutboxEntry>("outbox entry", &v)?) {
                self.outbox.remove(k)?;
                purged.outbox += 1;
            }
        }
        for kv in self
            .set_aside
            .scan_prefix(&partner_key(partner, 0)[..partner.len() + 1])
        {
            let (k, v) = kv?;
            let e: SetAsideEntry = decode("set-aside entry", &v)?;
            if past(&e.original) {
                self.set_aside.remove(k)?;
            }
        }
        Ok(())
    }

    /// Partners' records past the received period, with their links; the
    /// deletions and placeholders (which carry no record) go with the
    /// bundle that brought them, by when it was received.
    fn purge_inbox(&self, partner: &str, cutoffs: &Cutoffs, purged: &mut Purged) -> Result<()> {
        let mut due = Vec::new();
        for kv in self
            .inbox
            .range(partner_key(partner, 1)..partner_key(partner, u64::MAX))
        {
            let (k, v) = kv?;
            let e: Entry = decode("inbox record", &v)?;
            let past = match e.record() {
                Some(r) => r.entered_at < cutoffs.received,
                None => self
                    .received_at(partner, seq_of(&k))?
                    .is_none_or(|at| at < cutoffs.received),
            };
            if past {
                due.push(seq_of(&k));
            }
        }
        for seqs in due.chunks(CHUNK) {
            purged.received += (
                &self.inbox,
                &self.matches,
                &self.entry_matches,
                &self.derived,
                &self.review_decisions,
            )
                .transaction(|(inbox, matches, entry_matches, derived, decisions)| {
                    let mut n = 0;
                    for &seq in seqs {
                        let key = partner_key(partner, seq);
                        let Some(v) = inbox.get(&key)? else {
                            continue;
                        };
                        // A correction may have brought a newer record since.
                        if let Ok(Entry::Record(r) | Entry::Correction { record: r, .. }) =
                            serde_cbor::from_slice::<Entry>(&v)
                            && r.entered_at >= cutoffs.received
                        {
                            continue;
                        }
                        forget_exit(inbox, matches, entry_matches, derived, &key)?;
                        decisions.remove(key.as_slice())?;
                        n += 1;
                    }
                    Tx::Ok(n)
                })
                .map_err(flatten)?;
        }
        Ok(())
    }

    /// When the bundle carrying `partner`'s sequence number `seq` was
    /// stored here (`None`: a bundle stored before times were kept).
    fn received_at(&self, partner: &str, seq: u64) -> Result<Option<Timestamp>> {
        let range = partner_key(partner, 0)..partner_key(partner, seq.saturating_add(1));
        match self.bundles_in.range(range).next_back() {
            Some(kv) => {
                let (_, v) = kv?;
                Ok(decode::<ReceivedBundle>("received bundle", &v)?.received_at)
            }
            None => Ok(None),
        }
    }

    /// Acknowledged bundles, sent or received, whose records are all past
    /// retention and which are not yet purged. Nothing is changed: the
    /// caller replaces their evidence copies by their heads first, then
    /// calls [`Store::mark_purged`].
    pub fn expired_bundles(
        &self,
        cutoffs: &Cutoffs,
        partners: &[String],
    ) -> Result<Vec<PurgedBundle>> {
        let mut out = Vec::new();
        for p in partners {
            for (sent, tree, cutoff) in [
                (true, &self.bundles_out, cutoffs.crossings),
                (false, &self.bundles_in, cutoffs.received),
            ] {
                for kv in tree.range(partner_key(p, 0)..partner_key(p, u64::MAX)) {
                    let (k, v) = kv?;
                    let first = seq_of(&k);
                    let (chunks, acknowledged, purged) = if sent {
                        let b: SentBundle = decode("sent bundle", &v)?;
                        (b.chunks, b.receipt.is_some(), b.purged_head.is_some())
                    } else {
                        let b: ReceivedBundle = decode("received bundle", &v)?;
                        (b.chunks, true, b.purged_head.is_some())
                    };
                    if purged || !acknowledged {
                        continue;
                    }
                    let kind = if sent { CHUNKS_SENT } else { CHUNKS_RECEIVED };
                    let bytes = self.read_chunks(kind, p, first, chunks)?;
                    let Some(payload) = crate::bundle::stored_payload(&bytes) else {
                        continue;
                    };
                    let expired = payload
                        .records
                        .iter()
                        .all(|e| e.record().is_none_or(|r| r.entered_at < cutoff));
                    if expired {
                        out.push(PurgedBundle {
                            partner: p.clone(),
                            sent,
                            first,
                            head: payload.head,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes the bytes of bundles whose evidence copies were replaced by
    /// their heads, keeping each one's hash, head and receipt (what the
    /// evidence chain needs), and records them as purged.
    pub fn mark_purged(&self, bundles: &[PurgedBundle]) -> Result<()> {
        for b in bundles {
            let key = partner_key(&b.partner, b.first);
            let kind = if b.sent { CHUNKS_SENT } else { CHUNKS_RECEIVED };
            let tree = if b.sent {
                &self.bundles_out
            } else {
                &self.bundles_in
            };
            (tree, &self.chunks)
                .transaction(|(tree, chunks)| {
                    let Some(v) = tree.get(&key)? else {
                        return Tx::Ok(());
                    };
                    let (value, count) = if b.sent {
                        let Ok(mut s) = serde_cbor::from_slice::<SentBundle>(&v) else {
                            return Tx::Ok(());
                        };
                        let count = s.chunks;
                        s.chunks = 0;
                        s.purged_head = Some(b.head.clone());
                        (encode(&s), count)
                    } else {
                        let Ok(mut r) = serde_cbor::from_slice::<ReceivedBundle>(&v) else {
                            return Tx::Ok(());
                        };
                        let count = r.chunks;
                        r.chunks = 0;
                        r.purged_head = Some(b.head.clone());
                        (encode(&r), count)
                    };
                    for i in 0..count {
                        chunks.remove(chunk_key(kind, &b.partner, b.first, i))?;
                    }
                    tree.insert(key.as_slice(), value)?;
                    Tx::Ok(())
                })
                .map_err(flatten)?;
        }
        self.flush()
    }
}

/// Deletes a partner's record under `key` (`partner ‖ 0 ‖ seq`) and its link
/// to one of our entries. The entry is not reopened: the person did leave.
fn forget_exit(
    inbox: &TransactionalTree,
    matches: &TransactionalTree,
    entry_matches: &TransactionalTree,
    derived: &TransactionalTree,
    key: &[u8],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    inbox.remove(key)?;
    derived::forget_purged_match(derived, key)?;
    if let Some(m) = matches.remove(key)?
        && let Ok(row) = serde_cbor::from_slice::<super::MatchRow>(&m)
        && entry_matches.get(be(row.entry_id))?.as_deref() == Some(key)
    {
        entry_matches.remove(&be(row.entry_id))?;
    }
    Ok(())
}
