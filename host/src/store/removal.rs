//! The `removal_flags` tree: received records (our exits) that match a person
//! on the hub's own removal-order list, kept for a person to confirm or reject.
//! Nothing here is shared with a partner, and nothing is actioned automatically.
//!
//! Keys, by their first byte:
//!
//! - `F ‖ id → RemovalFlag`: one flag, `id` dense from `meta/next_flag_id`;
//! - `X ‖ partner ‖ 0 ‖ exit_seq → [id, ...]`: the flags of one received
//!   record, so that screening it again (after a correction, a deletion or a
//!   new list) finds them without a scan (sled transactions cannot scan).
//!
//! `meta/removal_cursor/P` is the last record from partner `P` screened with
//! the list whose SHA-256 is `meta/removal_list_sha256`. A different list
//! screens everything again from the start; flags are keyed by
//! (record, order), so that creates no duplicates.

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;

use super::{Result, Store, be, decode, encode, flatten, tx_get_u64};
use crate::record::Timestamp;

const FLAG: u8 = b'F';
const BY_EXIT: u8 = b'X';
const NEXT_FLAG_ID: &str = "next_flag_id";
const LIST_SHA: &str = "removal_list_sha256";

fn cursor_key(partner: &str) -> String {
    format!("removal_cursor/{partner}")
}

fn flag_key(id: u64) -> Vec<u8> {
    let mut k = vec![FLAG];
    k.extend_from_slice(&be(id));
    k
}

fn exit_key(partner: &str, exit_seq: u64) -> Vec<u8> {
    let mut k = vec![BY_EXIT];
    k.extend_from_slice(partner.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(exit_seq));
    k
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// Waiting for a person to look.
    Pending,
    /// A person confirmed it is the person under the order.
    Confirmed,
    /// A person found it is someone else; no longer counted.
    Rejected,
}

/// A received record that matches a person under a removal order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemovalFlag {
    pub id: u64,
    /// The order on the hub's list (`order_id` column).
    pub order_id: String,
    /// The partner that sent the record, and its sequence number there.
    pub partner: String,
    pub exit_seq: u64,
    /// When and where the person entered the partner's country (left ours).
    pub exit_at: Timestamp,
    pub exit_port: String,
    /// The matcher's score for the list entry and the record (at or above
    /// `[matching] link_threshold`).
    pub score: f64,
    pub flagged_at: Timestamp,
    pub status: FlagStatus,
    pub decided_at: Option<Timestamp>,
    pub note: Option<String>,
}

/// What screening found for one received record, by its sequence number.
#[derive(Clone, Debug)]
pub enum Screened {
    /// The record as it is now, and the orders it matches (order id, best
    /// score): possibly none.
    Record {
        at: Timestamp,
        port: String,
        hits: Vec<(String, f64)>,
    },
    /// The partner deleted the record: the departure is no longer on record,
    /// so its flags go, decided or not.
    Deleted,
}

impl Store {
    /// Records that the list with SHA-256 `digest` is the one in use. When it
    /// differs from the list screened with so far, every partner's screening
    /// starts again from its first record; returns whether it did.
    pub fn adopt_removal_list(&self, digest: &[u8], partners: &[String]) -> Result<bool> {
        use sled::Transactional;
        let changed = (&self.meta,)
            .transaction(|(meta,)| {
                if meta.get(LIST_SHA)?.as_deref() == Some(digest) {
                    return Ok(false);
                }
                meta.insert(LIST_SHA, digest)?;
                for p in partners {
                    meta.insert(cursor_key(p).as_str(), &be(0))?;
                }
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(flatten)?;
        self.flush()?;
        Ok(changed)
    }

    /// The last record from `partner` screened against the current list.
    pub fn removal_cursor(&self, partner: &str) -> Result<u64> {
        self.counter(&cursor_key(partner))
    }

    /// Stores what screening found for `partner`'s records and moves its
    /// cursor to `upto`, in one transaction: a pending flag whose record no
    /// longer matches goes, a decided one stays (a person's decision is kept),
    /// a new match is flagged. Returns false, storing nothing, if the list
    /// changed since screening began (`digest` is no longer the list in use).
    pub fn store_screening(
        &self,
        partner: &str,
        upto: u64,
        digest: &[u8],
        results: &[(u64, Screened)],
        now: Timestamp,
    ) -> Result<bool> {
        use sled::Transactional;
        (&self.meta, &self.removal_flags)
            .transaction(|(meta, flags)| {
                if meta.get(LIST_SHA)?.as_deref() != Some(digest) {
                    return Ok(false);
                }
                let mut next_id = tx_get_u64(meta, NEXT_FLAG_ID)?.max(1);
                for (seq, screened) in results {
                    let xkey = exit_key(partner, *seq);
                    let ids: Vec<u64> = flags
                        .get(&xkey)?
                        .and_then(|v| serde_cbor::from_slice(&v).ok())
                        .unwrap_or_default();
                    let mut kept = Vec::new();
                    let mut known = Vec::new();
                    for id in ids {
                        let Some(mut flag) = flags
                            .get(flag_key(id))?
                            .and_then(|v| serde_cbor::from_slice::<RemovalFlag>(&v).ok())
                        else {
                            continue;
                        };
                        let Screened::Record { at, port, hits } = screened else {
                            flags.remove(flag_key(id))?;
                            continue;
                        };
                        match hits.iter().find(|(order, _)| *order == flag.order_id) {
                            Some((_, score)) => {
                                flag.score = *score;
                                flag.exit_at = *at;
                                flag.exit_port = port.clone();
                                flags.insert(flag_key(id), encode(&flag))?;
                                known.push(flag.order_id.clone());
                                kept.push(id);
                            }
                            None if flag.status == FlagStatus::Pending => {
                                flags.remove(flag_key(id))?;
                            }
                            None => kept.push(id),
                        }
                    }
                    if let Screened::Record { at, port, hits } = screened {
                        for (order, score) in hits {
                            if known.contains(order) {
                                continue;
                            }
                            let flag = RemovalFlag {
                                id: next_id,
                                order_id: order.clone(),
                                partner: partner.to_owned(),
                                exit_seq: *seq,
                                exit_at: *at,
                                exit_port: port.clone(),
                                score: *score,
                                flagged_at: now,
                                status: FlagStatus::Pending,
                                decided_at: None,
                                note: None,
                            };
                            flags.insert(flag_key(next_id), encode(&flag))?;
                            kept.push(next_id);
                            next_id += 1;
                        }
                    }
                    if kept.is_empty() {
                        flags.remove(xkey)?;
                    } else {
                        flags.insert(xkey, encode(&kept))?;
                    }
                }
                meta.insert(NEXT_FLAG_ID, &be(next_id))?;
                meta.insert(cursor_key(partner).as_str(), &be(upto))?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(flatten)
    }

    /// Every flag, oldest first. There are few: one per departure of a person
    /// under an order, not one per record received.
    pub fn removal_flags(&self) -> Result<Vec<RemovalFlag>> {
        let mut out = Vec::new();
        for kv in self.removal_flags.scan_prefix([FLAG]) {
            let (_, v) = kv?;
            out.push(decode("removal flag", &v)?);
        }
        Ok(out)
    }

    /// A person's decision on flag `id`; `None` if there is no such flag.
    /// Durable when this returns.
    pub fn decide_removal_flag(
        &self,
        id: u64,
        status: FlagStatus,
        note: Option<String>,
        at: Timestamp,
    ) -> Result<Option<RemovalFlag>> {
        use sled::Transactional;
        let decided = (&self.removal_flags,)
            .transaction(|(flags,)| {
                let Some(v) = flags.get(flag_key(id))? else {
                    return Ok(None);
                };
                let mut flag: RemovalFlag = serde_cbor::from_slice(&v)
                    .map_err(|_| ConflictableTransactionError::Abort("corrupt removal flag"))?;
                flag.status = status;
                flag.decided_at = (status != FlagStatus::Pending).then_some(at);
                flag.note = note.clone();
                flags.insert(flag_key(id), encode(&flag))?;
                Ok(Some(flag))
            })
            .map_err(flatten)?;
        self.flush()?;
        Ok(decided)
    }
}
