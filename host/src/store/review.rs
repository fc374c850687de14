//! Clerical review: the pairs the matcher scored between the review and the
//! link thresholds wait for a person, who links them or not. A decision
//! changes what every figure built on links says (matches, open stays and
//! so overstays, the report's counts) in the transaction that records it,
//! and is kept as a label (`review_decisions`) for checking a matcher.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{
    Band, MatchRow, Result, Store, StoredCrossing, be, counter, decode, derived, encode, flatten,
    partner_key, seq_of, tx_add, tx_get_u64,
};
use crate::record::{Entry, Timestamp};

/// A pair waiting for a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InReview {
    pub partner: String,
    pub exit_seq: u64,
    pub entry_id: u64,
    pub score: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The same person: the exit closes the entry.
    Link,
    /// Not the same person: the pair is dropped.
    NotLink,
}

/// What a decision did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decided {
    Linked,
    NotLinked,
    /// No pair of this exit is in review (decided before, or never there).
    NotInReview,
    /// The entry is linked to another exit already; unlink that one first.
    EntryTaken {
        partner: String,
        exit_seq: u64,
    },
}

/// A person's decision on a pair: a label for checking a matcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewLabel {
    pub entry_id: u64,
    pub score: f64,
    pub decision: ReviewDecision,
    pub by: String,
    pub at: Timestamp,
    #[serde(default)]
    pub note: Option<String>,
}

type Tx<T> = std::result::Result<T, ConflictableTransactionError<()>>;

impl Store {
    /// Pairs of `partner`'s records in review, from sequence number `from`
    /// on, at most `max`.
    pub fn in_review(&self, partner: &str, from: u64, max: usize) -> Result<Vec<InReview>> {
        let mut out = Vec::new();
        for seq in self.review_seqs(partner, from, max)? {
            if let Some(v) = self.matches.get(partner_key(partner, seq))? {
                let row: MatchRow = decode("match", &v)?;
                out.push(InReview {
                    partner: partner.to_owned(),
                    exit_seq: seq,
                    entry_id: row.entry_id,
                    score: row.score,
                });
            }
        }
        Ok(out)
    }

    /// Records a person's decision on the pair of `partner`'s record
    /// `exit_seq` in review, and applies it.
    pub fn decide_review(
        &self,
        partner: &str,
        exit_seq: u64,
        decision: ReviewDecision,
        by: &str,
        note: Option<&str>,
        at: Timestamp,
    ) -> Result<Decided> {
        (
            &self.meta,
            &self.matches,
            &self.entry_matches,
            &self.crossings,
            &self.inbox,
            &self.derived,
            &self.review_decisions,
        )
            .transaction(
                |(meta, matches, entry_matches, crossings, inbox, derived, decisions)| {
                    let key = partner_key(partner, exit_seq);
                    let Some(v) = matches.get(&key)? else {
                        return Tx::Ok(Decided::NotInReview);
                    };
                    let Ok(mut row) = serde_cbor::from_slice::<MatchRow>(&v) else {
                        return Err(ConflictableTransactionError::Abort(()));
                    };
                    if row.band != Band::Review {
                        return Tx::Ok(Decided::NotInReview);
                    }
                    let mut deltas = derived::Deltas::default();
                    let outcome = match decision {
                        ReviewDecision::Link => {
                            if let Some(other) = entry_matches.get(be(row.entry_id))? {
                                let partner = String::from_utf8_lossy(
                                    &other[..other.len().saturating_sub(9)],
                                )
                                .into_owned();
                                return Tx::Ok(Decided::EntryTaken {
                                    partner,
                                    exit_seq: seq_of(&other),
                                });
                            }
                            row.band = Band::Link;
                            matches.insert(key.as_slice(), encode(&row))?;
                            entry_matches.insert(&be(row.entry_id), key.as_slice())?;
                            if let Some(Entry::Record(r)) = inbox
                                .get(&key)?
                                .and_then(|v| serde_cbor::from_slice::<Entry>(&v).ok())
                            {
                                derived::mark_match(
                                    derived,
                                    &mut deltas,
                                    partner,
                                    exit_seq,
                                    &r,
                                    Band::Link,
                                )?;
                            }
                            // The entry has its exit: its stay is closed.
                            if let Some(c) = crossings
                                .get(be(row.entry_id))?
                                .and_then(|v| serde_cbor::from_slice::<StoredCrossing>(&v).ok())
                            {
                                derived::stay_closed(derived, &c.crossing, row.entry_id)?;
                            }
                            tx_add(meta, &counter::matched(partner), 1)?;
                            Decided::Linked
                        }
                        ReviewDecision::NotLink => {
                            matches.remove(key.as_slice())?;
                            derived::unmark_match(derived, &mut deltas, partner, exit_seq)?;
                            Decided::NotLinked
                        }
                    };
                    let review = counter::review(partner);
                    let left = tx_get_u64(meta, &review)?.saturating_sub(1);
                    meta.insert(review.as_str(), &be(left))?;
                    deltas.apply(derived)?;
                    decisions.insert(
                        key.as_slice(),
                        encode(&ReviewLabel {
                            entry_id: row.entry_id,
                            score: row.score,
                            decision,
                            by: by.to_owned(),
                            at,
                            note: note.map(str::to_owned),
                        }),
                    )?;
                    Tx::Ok(outcome)
                },
            )
            .map_err(flatten)
            .and_then(|outcome| self.flush().map(|()| outcome))
    }

    /// Every decision on pairs of `partner`'s records, by exit sequence
    /// number: the labels `entrex matcher train` checks a model against.
    pub fn review_labels(&self, partner: &str) -> Result<Vec<(u64, ReviewLabel)>> {
        let mut out = Vec::new();
        let range = partner_key(partner, 0)..=partner_key(partner, u64::MAX);
        for kv in self.review_decisions.range(range) {
            let (k, v) = kv?;
            out.push((seq_of(&k), decode("review decision", &v)?));
        }
        Ok(out)
    }

    /// A person's decision on the pair of `partner`'s record `exit_seq`.
    pub fn review_label(&self, partner: &str, exit_seq: u64) -> Result<Option<ReviewLabel>> {
        self.review_decisions
            .get(partner_key(partner, exit_seq))?
            .map(|v| decode("review decision", &v))
            .transpose()
    }
}
