//! Durable state in sled: raw input, crossings, per-partner outboxes with dense
//! sequence numbers, inboxes, bundles and receipts, the matching index, matches.
//!
//! The store does no network I/O and knows nothing of plugins. Every change
//! that must be all-or-nothing (an ingested batch, a received bundle, a receipt)
//! is one sled transaction across the trees it touches, and the counters it moves
//! are written in the same transaction: sled's `generate_id` is never used,
//! because it can repeat after a crash. Callers learn a change is durable only
//! after [`Store::flush`] returns: a group commit ending in a real `fsync`
//! (ARCHITECTURE.md, "Durability"). Values stay small: sealed bundles are cut
//! into chunks, so nothing lands in sled's separate blob files.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};
use sled::Tree;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::record::{Crossing, Decision, Entry, Rejection, Timestamp};

mod derived;
mod index;
mod removal;
mod retention;
mod review;
pub use derived::{Cell, CellAt, OpenStay};
pub use index::{Adopted, IndexState, IndexStatus, Rebuilding};
pub use removal::{FlagStatus, RemovalFlag, Screened};
pub use review::{Decided, InReview, ReviewDecision, ReviewLabel};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot open the store's log file: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot make writes durable (fsync failed): {0}")]
    Sync(String),
    #[error("stored value is corrupt ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Names of counters kept in the `meta` tree.
pub mod counter {
    pub const NEXT_ENTRY_ID: &str = "next_entry_id";
    /// Entries the matcher failed to key while the index was rebuilt.
    pub const INDEX_REBUILD_FAILURES: &str = "index_rebuild_failures";
    pub const ACCEPTED: &str = "accepted";
    pub const REJECTED: &str = "rejected";
    pub const DUPLICATES: &str = "duplicates";
    pub const SHARED: &str = "shared";
    pub const WITHHELD: &str = "withheld";
    pub const QUARANTINED: &str = "quarantined";
    pub const RELEASED: &str = "released_from_quarantine";
    /// Source records sent again under the same reference with new content.
    pub const CORRECTED: &str = "corrected";
    /// Source records withdrawn by their source.
    pub const WITHDRAWN: &str = "withdrawn";
    /// Amendments (corrections and deletions) queued for partners.
    pub const AMENDMENTS_QUEUED: &str = "amendments_queued";
    /// Amendments received from partners and applied.
    pub const AMENDMENTS_APPLIED: &str = "amendments_applied";
    /// Amendments received for records already purged here (retention).
    pub const AMENDMENTS_TO_PURGED: &str = "amendments_to_purged";
    pub fn withheld_reason(reason: &str) -> String {
        format!("withheld_reason/{reason}")
    }
    pub fn outbox_next(partner: &str) -> String {
        format!("outbox_next/{partner}")
    }
    pub fn sent_upto(partner: &str) -> String {
        format!("sent_upto/{partner}")
    }
    pub fn bundles_sent(partner: &str) -> String {
        format!("bundles_sent/{partner}")
    }
    pub fn inbox_next(partner: &str) -> String {
        format!("inbox_next/{partner}")
    }
    pub fn bundles_received(partner: &str) -> String {
        format!("bundles_received/{partner}")
    }
    pub fn match_cursor(partner: &str) -> String {
        format!("match_cursor/{partner}")
    }
    pub fn matched(partner: &str) -> String {
        format!("matched/{partner}")
    }
    pub fn review(partner: &str) -> String {
        format!("review/{partner}")
    }
    /// SHA-256 of the last bundle received from `partner` (the chain's head).
    pub fn inbox_last_sha(partner: &str) -> String {
        format!("inbox_last_sha/{partner}")
    }
    pub fn match_failures(partner: &str) -> String {
        format!("match_failures/{partner}")
    }
    /// Entries for `partner` an operator set aside (refused by it for good).
    pub fn set_aside(partner: &str) -> String {
        format!("set_aside/{partner}")
    }
    /// Placeholders received from `partner` for entries it set aside.
    pub fn set_aside_received(partner: &str) -> String {
        format!("set_aside_received/{partner}")
    }
}

pub struct Store {
    db: sled::Db,
    meta: Tree,
    raw: Tree,
    crossings: Tree,
    rejects: Tree,
    source_refs: Tree,
    outbox: Tree,
    index: Tree,
    /// entry id → every matching key it was indexed under (a correction
    /// adds keys): what a purge must take out of `index` with the entry.
    entry_keys: Tree,
    bundles_out: Tree,
    inbox: Tree,
    bundles_in: Tree,
    matches: Tree,
    entry_matches: Tree,
    quarantine: Tree,
    /// Sealed bundles (sent and received), cut into [`CHUNK_BYTES`] pieces.
    chunks: Tree,
    /// (entry id, partner) → the sequence number under which the partner holds
    /// the entry's record: what a correction or withdrawal must amend.
    sent_as: Tree,
    /// Indexes and counters computed from the trees above, updated in the
    /// same transactions (overstays, joint-report cells): see `derived.rs`.
    derived: Tree,
    /// Received exits that match a person on the hub's removal-order list,
    /// for a person to confirm: see `removal.rs`.
    removal_flags: Tree,
    /// Outbox entries a partner refused for good that an operator set aside:
    /// (partner, seq) → the entry as it was, replaced in the outbox by a
    /// placeholder (`Store::set_aside`).
    set_aside: Tree,
    /// (partner, exit seq) → a person's decision on a pair in review
    /// (`store/review.rs`): labels for checking a matcher.
    review_decisions: Tree,
    /// sled's log file, kept open for the `fsync` sled's own flush omits.
    log_file: std::fs::File,
    commit: GroupCommit,
}

/// Bundles are stored in pieces this large: sled keeps values above ~128 KiB
/// in separate blob files, outside its log and outside our `fsync`.
const CHUNK_BYTES: usize = 32 * 1024;

/// Group commit: concurrent callers of [`Store::flush`] share one
/// flush-and-fsync. A caller waits for a commit that *started* after its call,
/// so its writes are covered, and one slow disk sync serves every caller that
/// arrived during the previous one.
#[derive(Default)]
struct GroupCommit {
    state: Mutex<CommitState>,
    done: Condvar,
}

#[derive(Default)]
struct CommitState {
    /// Tickets handed out; a ticket is covered by any commit started after it.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Set by the first commit that failed: from then on nothing is
    /// acknowledged (see [`GroupCommit::commit`]).
    failure: Option<String>,
    running: bool,
}

impl GroupCommit {
    /// Fail-stop: once a sync fails, every later commit fails too. After a
    /// failed `fsync` the kernel may have dropped the dirty pages it could
    /// not write, and a later `fsync` that succeeds would vouch for data
    /// that is gone (PostgreSQL's fsync lesson); sled's own flush does not
    /// rewrite a buffer whose write failed either. Only reopening the store,
    /// which recovers from what its log really holds, re-establishes
    /// durability: the hub stops ([`Store::durability_lost`]).
    fn commit(&self, sync: impl Fn() -> std::io::Result<()>) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if let Some(failure) = &state.failure {
                return Err(StoreError::Sync(format!(
                    "{failure}; nothing is acknowledged until the hub restarts and the store recovers from its log"
                )));
            }
            if state.durable >= ticket {
                return Ok(());
            }
            if state.running {
                state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.running = true;
            let covers = state.issued;
            drop(state);
            let outcome = sync();
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.running = false;
            match outcome {
                Ok(()) => state.durable = covers,
                Err(e) => {
                    tracing::error!("the store cannot make writes durable: {e}");
                    state.failure = Some(e.to_string());
                }
            }
            self.done.notify_all();
        }
    }
}

/// One source record after normalisation and eligibility, ready to store.
pub struct Ingested {
    pub location: String,
    pub raw: Vec<u8>,
    pub outcome: Outcome,
}

pub enum Outcome {
    Rejected(Rejection),
    /// A plugin failed on this record (trap, deadline, memory, broken
    /// contract); it is kept whole for an operator to retry.
    Quarantined(Quarantine),
    Accepted {
        crossing: Box<Crossing>,
        /// The decision of the hub's eligibility plugin (`[plugins.eligibility]`),
        /// for every partner without its own.
        decision: Decision,
        /// The decisions of partners' own eligibility plugins
        /// (`[partner.eligibility]`), by partner.
        partner_decisions: std::collections::BTreeMap<String, Decision>,
        /// Matching keys for this entry (from the matcher plugin).
        keys: Vec<String>,
    },
}

/// What became of one record of an ingested batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemResult {
    Accepted {
        entry_id: u64,
        shared: bool,
    },
    /// The source reference was accepted before; nothing new was stored.
    Duplicate {
        entry_id: u64,
    },
    /// The source reference was accepted before with other content: the stored
    /// crossing is replaced, and partners holding its record get a correction
    /// (or a deletion, if it is no longer to be shared).
    Corrected {
        entry_id: u64,
        shared: bool,
    },
    Rejected {
        field: Option<String>,
        reason: String,
    },
    Quarantined {
        quarantine_id: u64,
        stage: String,
        reason: String,
    },
}

/// Why a record is in quarantine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// The pipeline stage whose plugin failed: normalise, eligibility, matching keys.
    pub stage: String,
    pub plugin: String,
    pub reason: String,
}

/// A quarantined record, whole: enough to run it through the pipeline again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    pub id: u64,
    pub location: String,
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
    pub quarantine: Quarantine,
    pub at: Timestamp,
}

/// A stored crossing with its eligibility decision.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredCrossing {
    pub crossing: Crossing,
    /// The hub's eligibility decision (`[plugins.eligibility]`).
    pub decision: Decision,
    /// Decisions of partners that have their own eligibility plugin.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub partner_decisions: std::collections::BTreeMap<String, Decision>,
}

impl StoredCrossing {
    /// What was decided for `partner`: its own plugin's decision, or the hub's.
    pub fn decision_for(&self, partner: &str) -> &Decision {
        self.partner_decisions
            .get(partner)
            .unwrap_or(&self.decision)
    }
}

#[derive(Serialize, Deserialize)]
struct OutboxEntry {
    entry_id: u64,
    record: Entry,
    /// For an amendment: the crossing time and port of the record it
    /// replaces, as the partner holds it, so the report's "sent" count moves
    /// from that record's cell once the amendment is acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaces: Option<Replaces>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Replaces {
    at: Timestamp,
    port: String,
}

impl Replaces {
    fn of(c: &Crossing) -> Replaces {
        Replaces {
            at: c.crossed_at,
            port: c.port_code.clone(),
        }
    }
}

fn sent_key(entry_id: u64, partner: &str) -> Vec<u8> {
    let mut k = be(entry_id).to_vec();
    k.extend_from_slice(partner.as_bytes());
    k
}

/// Times before which data is purged, per kind (seconds since the epoch).
#[derive(Clone, Copy, Debug)]
pub struct Cutoffs {
    pub raw: Timestamp,
    pub crossings: Timestamp,
    pub received: Timestamp,
}

/// What a purge deleted.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Purged {
    pub raw: u64,
    pub crossings: u64,
    pub outbox: u64,
    pub received: u64,
    pub bundles: Vec<PurgedBundle>,
}

/// A bundle whose records were purged; `head` is its signed head.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PurgedBundle {
    pub partner: String,
    /// Sent by this hub (else received from the partner).
    pub sent: bool,
    pub first: u64,
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
}

/// What became of one withdrawn source reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Withdrawal {
    /// Deleted here; `partners` are sent a deletion of the record they hold.
    Withdrawn {
        entry_id: u64,
        partners: Vec<String>,
    },
    /// No crossing is held under this reference (never sent, or withdrawn before).
    Unknown,
}

#[derive(Serialize, Deserialize)]
struct RejectEntry {
    location: String,
    rejection: Rejection,
    /// When it was received: retention starts there (absent in entries an
    /// older hub stored, which a purge takes as past any period).
    #[serde(default)]
    at: Option<Timestamp>,
}

/// A sealed bundle; its bytes are in the `chunks` tree.
#[derive(Serialize, Deserialize)]
struct SentBundle {
    last_seq: u64,
    #[serde(with = "serde_bytes")]
    sha256: Vec<u8>,
    chunks: u32,
    #[serde(with = "serde_bytes")]
    receipt: Option<Vec<u8>>,
    /// After its records' retention ended: the signed head, kept with the
    /// hash and the receipt, which is all the evidence chain needs.
    #[serde(default, with = "serde_bytes")]
    purged_head: Option<Vec<u8>>,
    /// When it was sealed and when its receipt was stored, for operators
    /// (absent in bundles stored before these were kept).
    #[serde(default)]
    sealed_at: Option<Timestamp>,
    #[serde(default)]
    acknowledged_at: Option<Timestamp>,
    /// Earlier seals of the same records, unacknowledged when the hub's key
    /// changed and the records were sealed again: the partner may hold one
    /// of them (only its receipt was lost), and then its receipt names that
    /// one, which becomes this bundle. Cleared once a receipt is stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier: Vec<EarlierSeal>,
}

#[derive(Clone, Serialize, Deserialize)]
struct EarlierSeal {
    #[serde(with = "serde_bytes")]
    sha256: Vec<u8>,
    chunks: u32,
}

#[derive(Serialize, Deserialize)]
struct ReceivedBundle {
    last_seq: u64,
    #[serde(with = "serde_bytes")]
    sha256: Vec<u8>,
    chunks: u32,
    #[serde(with = "serde_bytes")]
    receipt: Vec<u8>,
    #[serde(default, with = "serde_bytes")]
    purged_head: Option<Vec<u8>>,
    #[serde(default)]
    received_at: Option<Timestamp>,
}

/// What became of one sequence number an operator asked to set aside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SetAside {
    /// Replaced by a placeholder; `kind` is what it was (record,
    /// correction, deletion) and `note` what that means for the partner.
    SetAside {
        seq: u64,
        kind: String,
        note: String,
    },
    /// The partner acknowledged it already: nothing to set aside.
    Acknowledged {
        seq: u64,
    },
    /// No entry is queued under this number.
    NotQueued {
        seq: u64,
    },
    AlreadySetAside {
        seq: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct SetAsideEntry {
    original: OutboxEntry,
    at: Timestamp,
}

/// The newest bundle sealed for, or received from, a partner: what an
/// operator looks at to see that the exchange moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSummary {
    pub first_seq: u64,
    pub last_seq: u64,
    /// Sealed (sent) or stored (received); `None` for bundles stored by a
    /// hub version that did not keep the time.
    pub at: Option<Timestamp>,
    /// Sent bundles: when the partner's verified receipt was stored; `None`
    /// while it is awaited. Always `None` for received bundles (the receipt
    /// is given when the bundle is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
}

const CHUNKS_SENT: u8 = b'o';
const CHUNKS_RECEIVED: u8 = b'i';
/// Earlier seals of a sent bundle (`SentBundle::earlier`).
const CHUNKS_EARLIER: u8 = b'e';

fn chunk_key(kind: u8, partner: &str, first: u64, i: u32) -> Vec<u8> {
    let mut k = vec![kind];
    k.extend_from_slice(&partner_key(partner, first));
    k.extend_from_slice(&i.to_be_bytes());
    k
}

fn earlier_chunk_key(partner: &str, first: u64, seal: usize, i: u32) -> Vec<u8> {
    let mut k = vec![CHUNKS_EARLIER];
    k.extend_from_slice(&partner_key(partner, first));
    k.extend_from_slice(&(seal as u32).to_be_bytes());
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Reads `count` chunks under the keys `key(i)` inside a transaction.
fn tx_read_chunks(
    chunks: &TransactionalTree,
    count: u32,
    key: impl Fn(u32) -> Vec<u8>,
) -> std::result::Result<Option<Vec<u8>>, sled::transaction::UnabortableTransactionError> {
    let mut out = Vec::with_capacity(count as usize * CHUNK_BYTES);
    for i in 0..count {
        let Some(piece) = chunks.get(key(i))? else {
            return Ok(None);
        };
        out.extend_from_slice(&piece);
    }
    Ok(Some(out))
}

fn chunk_count(bytes: &[u8]) -> u32 {
    bytes.len().div_ceil(CHUNK_BYTES) as u32
}

/// A link between one of our entries and a partner's record (our exit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchRow {
    pub exit_seq: u64,
    pub entry_id: u64,
    pub score: f64,
    pub band: Band,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Link,
    Review,
}

/// Why `Store::receive` undid its transaction.
#[derive(Debug)]
enum ReceiveAbort {
    Corrupt,
    BadAmendment {
        seq: u64,
        amends: u64,
        why: &'static str,
    },
}

/// What the receiving side did with a bundle.
pub enum Received {
    Stored {
        receipt: Vec<u8>,
    },
    /// Held before (durable when this is returned); `purged`: its records
    /// are past retention, only its hash, head and receipt are kept.
    Duplicate {
        receipt: Vec<u8>,
        purged: bool,
    },
    /// The bundle does not name the previous bundle received from this sender.
    ChainBroken,
    /// The bundle does not start where the inbox continues.
    Gap {
        expected: u64,
    },
    /// An entry amends a record this hub does not hold.
    BadAmendment {
        seq: u64,
        amends: u64,
        why: &'static str,
    },
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn partner_key(partner: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(partner.len() + 9);
    k.extend_from_slice(partner.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(seq));
    k
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&key[key.len() - 8..]);
    u64::from_be_bytes(b)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_cbor::to_vec(value).expect("CBOR encoding of stored values cannot fail")
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    serde_cbor::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn read_u64(v: Option<sled::IVec>) -> u64 {
    v.map(|v| {
        let mut b = [0; 8];
        b.copy_from_slice(&v[..8]);
        u64::from_be_bytes(b)
    })
    .unwrap_or(0)
}

fn tx_get_u64(
    t: &TransactionalTree,
    key: &str,
) -> std::result::Result<u64, sled::transaction::UnabortableTransactionError> {
    Ok(read_u64(t.get(key)?))
}

fn tx_add(
    t: &TransactionalTree,
    key: &str,
    n: u64,
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    if n > 0 {
        let v = tx_get_u64(t, key)? + n;
        t.insert(key, &be(v))?;
    }
    Ok(())
}

fn flatten<E: std::fmt::Debug>(e: TransactionError<E>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(e) => StoreError::Corrupt {
            what: "transaction",
            detail: format!("{e:?}"),
        },
    }
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        discard_unfinished_snapshots(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(500))
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            raw: tree("raw")?,
            crossings: tree("crossings")?,
            rejects: tree("rejects")?,
            source_refs: tree("source_refs")?,
            outbox: tree("outbox")?,
            index: tree("match_index")?,
            entry_keys: tree("entry_keys")?,
            bundles_out: tree("bundles_out")?,
            inbox: tree("inbox")?,
            bundles_in: tree("bundles_in")?,
            matches: tree("matches")?,
            entry_matches: tree("entry_matches")?,
            quarantine: tree("quarantine")?,
            chunks: tree("chunks")?,
            sent_as: tree("sent_as")?,
            derived: tree("derived")?,
            removal_flags: tree("removal_flags")?,
            set_aside: tree("set_aside")?,
            review_decisions: tree("review_decisions")?,
            // sled names its single log file `db` (sled 0.34 `Config::db_path`).
            log_file: std::fs::File::open(dir.join("db"))?,
            commit: GroupCommit::default(),
            db,
        };
        store.ensure_derived()?;
        Ok(store)
    }

    /// Waits until everything written before the call is on stable storage.
    ///
    /// sled 0.34's own flush ends in `sync_file_range`, which survives a killed
    /// process but neither flushes the drive's cache nor the file's metadata;
    /// the `fsync` after it does both. Concurrent callers share one commit.
    pub fn flush(&self) -> Result<()> {
        self.commit.commit(|| {
            self.db.flush().map_err(std::io::Error::other)?;
            self.log_file.sync_all()
        })
    }

    /// Why the store stopped acknowledging writes, if a sync failed: the
    /// hub must restart (see `GroupCommit::commit`).
    pub fn durability_lost(&self) -> Option<String> {
        self.commit
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure
            .clone()
    }

    pub fn counter(&self, name: &str) -> Result<u64> {
        Ok(read_u64(self.meta.get(name)?))
    }

    /// Writes `marker` under the meta key `readiness_probe`, reads it back
    /// and flushes: readiness (`GET /readyz`) asks the store, not the disk's
    /// free space, whether it still takes durable writes.
    pub fn probe(&self, marker: u64) -> Result<()> {
        self.meta.insert("readiness_probe", &be(marker))?;
        let read = read_u64(self.meta.get("readiness_probe")?);
        if read != marker {
            return Err(StoreError::Corrupt {
                what: "readiness probe",
                detail: format!("wrote {marker}, read {read}"),
            });
        }
        self.flush()
    }

    /// All counters, for status pages and reports.
    pub fn counters(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for kv in self.meta.iter() {
            let (k, v) = kv?;
            out.push((String::from_utf8_lossy(&k).into_owned(), read_u64(Some(v))));
        }
        Ok(out)
    }

    /// Stores a normalised batch in one transaction: raw input, crossings,
    /// rejections, outbox entries for every partner, matching index. A record
    /// whose source reference was accepted before is reported as a duplicate
    /// and stored again nowhere. Not durable until [`Store::flush`].
    /// `matcher` names the matcher that computed the batch's blocking keys.
    pub fn ingest(
        &self,
        batch: &[Ingested],
        partners: &[String],
        matcher: &str,
    ) -> Result<Vec<ItemResult>> {
        let trees = (
            &self.meta,
            &self.raw,
            &self.crossings,
            &self.rejects,
            &self.source_refs,
            &self.outbox,
            &self.index,
            &self.quarantine,
            &self.sent_as,
            &self.entry_matches,
            &self.derived,
            &self.entry_keys,
        );
        use sled::Transactional;
        let now = crate::exchange::now();
        trees
            .transaction(
                |(
                    meta,
                    raw,
                    crossings,
                    rejects,
                    source_refs,
                    outbox,
                    index,
                    quarantine,
                    sent_as,
                    entry_matches,
                    derived,
                    entry_keys,
                )| {
                    let mut next_id = tx_get_u64(meta, counter::NEXT_ENTRY_ID)?.max(1);
                    let generation = index::current_generation(meta)?;
                    // The lowest entry id given keys, for `index::ingested_with`.
                    let mut lowest_keyed = next_id;
                    let mut next_seq = Vec::with_capacity(partners.len());
                    for p in partners {
                        next_seq.push(tx_get_u64(meta, &counter::outbox_next(p))?.max(1));
                    }
                    let (mut accepted, mut rejected, mut duplicates, mut shared, mut withheld) =
                        (0, 0, 0, 0, 0);
                    let (mut quarantined, mut corrected, mut amendments) = (0, 0, 0);
                    let mut reasons: Vec<(&str, u64)> = Vec::new();
                    let mut results = Vec::with_capacity(batch.len());
                    let mut seen_in_batch = std::collections::HashMap::new();
                    for item in batch {
                        let id = next_id;
                        match &item.outcome {
                            Outcome::Quarantined(q) => {
                                next_id += 1;
                                quarantine.insert(
                                    &be(id),
                                    encode(&QuarantinedRecord {
                                        id,
                                        location: item.location.clone(),
                                        raw: item.raw.clone(),
                                        quarantine: q.clone(),
                                        at: now,
                                    }),
                                )?;
                                quarantined += 1;
                                results.push(ItemResult::Quarantined {
                                    quarantine_id: id,
                                    stage: q.stage.clone(),
                                    reason: q.reason.clone(),
                                });
                            }
                            Outcome::Rejected(rejection) => {
                                next_id += 1;
                                raw.insert(&be(id), item.raw.as_slice())?;
                                rejects.insert(
                                    &be(id),
                                    encode(&RejectEntry {
                                        location: item.location.clone(),
                                        rejection: rejection.clone(),
                                        at: Some(now),
                                    }),
                                )?;
                                rejected += 1;
                                results.push(ItemResult::Rejected {
                                    field: rejection.field.clone(),
                                    reason: rejection.reason.clone(),
                                });
                            }
                            Outcome::Accepted {
                                crossing,
                                decision,
                                partner_decisions,
                                keys,
                            } => {
                                let source_ref = crossing.source_ref.as_bytes();
                                let earlier = match seen_in_batch.get(source_ref) {
                                    Some(id) => Some(*id),
                                    None => source_refs.get(source_ref)?.map(|v| read_u64(Some(v))),
                                };
                                let decision_for =
                                    |p: &str| partner_decisions.get(p).unwrap_or(decision);
                                // Shared with at least one partner (a hub
                                // without partners counts its own decision).
                                let is_shared = if partners.is_empty() {
                                    *decision == Decision::Share
                                } else {
                                    partners.iter().any(|p| *decision_for(p) == Decision::Share)
                                };
                                let stored = StoredCrossing {
                                    crossing: crossing.as_ref().clone(),
                                    decision: decision.clone(),
                                    partner_decisions: partner_decisions.clone(),
                                };
                                if let Some(entry_id) = earlier {
                                    let held = raw.get(be(entry_id))?;
                                    if held.as_deref() == Some(item.raw.as_slice()) {
                                        duplicates += 1;
                                        results.push(ItemResult::Duplicate { entry_id });
                                        continue;
                                    }
                                    // The source corrected its record: the
                                    // entry keeps its id, partners are told.
                                    corrected += 1;
                                    raw.insert(&be(entry_id), item.raw.as_slice())?;
                                    // The corrected authorised stay replaces
                                    // the old one in the overstay index.
                                    let old: Option<StoredCrossing> = crossings
                                        .get(be(entry_id))?
                                        .and_then(|v| serde_cbor::from_slice(&v).ok());
                                    if let Some(old) = &old {
                                        derived::stay_closed(derived, &old.crossing, entry_id)?;
                                    }
                                    // What partners hold now: the old crossing's projection.
                                    let replaces = old.as_ref().map(|o| Replaces::of(&o.crossing));
                                    if entry_matches.get(be(entry_id))?.is_none() {
                                        derived::stay_opened(derived, crossing, entry_id)?;
                                    }
                                    crossings.insert(&be(entry_id), encode(&stored))?;
                                    index::index_entry(
                                        index, entry_keys, generation, entry_id, keys,
                                    )?;
                                    lowest_keyed = lowest_keyed.min(entry_id);
                                    for (p, seq) in partners.iter().zip(next_seq.iter_mut()) {
                                        let at = sent_key(entry_id, p);
                                        let held_as = sent_as.get(&at)?.map(|v| read_u64(Some(v)));
                                        let amendment = match (held_as, decision_for(p)) {
                                            (Some(amends), Decision::Share) => Entry::Correction {
                                                amends,
                                                record: crossing.project(),
                                            },
                                            // Why it is no longer shared stays here.
                                            (Some(amends), Decision::Withhold(_)) => {
                                                sent_as.remove(at)?;
                                                Entry::Deletion { amends }
                                            }
                                            (None, Decision::Share) => {
                                                sent_as.insert(at, &be(*seq))?;
                                                Entry::Record(crossing.project())
                                            }
                                            (None, Decision::Withhold(_)) => continue,
                                        };
                                        if amendment.amends().is_some() {
                                            amendments += 1;
                                        }
                                        outbox.insert(
                                            partner_key(p, *seq),
                                            encode(&OutboxEntry {
                                                entry_id,
                                                replaces: amendment.amends().and(replaces.clone()),
                                                record: amendment,
                                            }),
                                        )?;
                                        *seq += 1;
                                    }
                                    results.push(ItemResult::Corrected {
                                        entry_id,
                                        shared: is_shared,
                                    });
                                    continue;
                                }
                                next_id += 1;
                                seen_in_batch.insert(source_ref, id);
                                source_refs.insert(source_ref, &be(id))?;
                                raw.insert(&be(id), item.raw.as_slice())?;
                                crossings.insert(&be(id), encode(&stored))?;
                                derived::stay_opened(derived, crossing, id)?;
                                index::index_entry(index, entry_keys, generation, id, keys)?;
                                accepted += 1;
                                if is_shared {
                                    shared += 1;
                                    let entry = encode(&OutboxEntry {
                                        entry_id: id,
                                        record: Entry::Record(crossing.project()),
                                        replaces: None,
                                    });
                                    for (p, seq) in partners.iter().zip(next_seq.iter_mut()) {
                                        if *decision_for(p) != Decision::Share {
                                            continue;
                                        }
                                        outbox.insert(partner_key(p, *seq), entry.as_slice())?;
                                        sent_as.insert(sent_key(id, p), &be(*seq))?;
                                        *seq += 1;
                                    }
                                } else if let Decision::Withhold(reason) =
                                    // Withheld from every partner: counted
                                    // under the first partner's reason.
                                    partners
                                        .first()
                                        .map_or(decision, |p| decision_for(p))
                                {
                                    withheld += 1;
                                    match reasons.iter_mut().find(|(r, _)| r == reason) {
                                        Some((_, n)) => *n += 1,
                                        None => reasons.push((reason, 1)),
                                    }
                                }
                                results.push(ItemResult::Accepted {
                                    entry_id: id,
                                    shared: is_shared,
                                });
                            }
                        }
                    }
                    meta.insert(counter::NEXT_ENTRY_ID, &be(next_id))?;
                    index::ingested_with(meta, matcher, lowest_keyed)?;
                    for (p, seq) in partners.iter().zip(&next_seq) {
                        meta.insert(counter::outbox_next(p).as_str(), &be(*seq))?;
                    }
                    tx_add(meta, counter::ACCEPTED, accepted)?;
                    tx_add(meta, counter::REJECTED, rejected)?;
                    tx_add(meta, counter::DUPLICATES, duplicates)?;
                    tx_add(meta, counter::SHARED, shared)?;
                    tx_add(meta, counter::WITHHELD, withheld)?;
                    tx_add(meta, counter::QUARANTINED, quarantined)?;
                    tx_add(meta, counter::CORRECTED, corrected)?;
                    tx_add(meta, counter::AMENDMENTS_QUEUED, amendments)?;
                    for (reason, n) in reasons {
                        tx_add(meta, &counter::withheld_reason(reason), n)?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(results)
                },
            )
            .map_err(flatten)
    }

    /// Withdraws crossings at their source's request: the crossing, its raw
    /// input and its links are deleted here, and every partner holding its
    /// record is queued a deletion (which says nothing but that), all in one
    /// transaction. The source reference stays known, so a later resend is
    /// taken as a new record.
    pub fn withdraw(&self, refs: &[String], partners: &[String]) -> Result<Vec<Withdrawal>> {
        use sled::Transactional;
        (
            &self.meta,
            &self.raw,
            &self.crossings,
            &self.source_refs,
            &self.outbox,
            &self.sent_as,
            &self.matches,
            &self.entry_matches,
            &self.derived,
            &self.index,
            &self.entry_keys,
        )
            .transaction(
                |(
                    meta,
                    raw,
                    crossings,
                    source_refs,
                    outbox,
                    sent_as,
                    matches,
                    entry_matches,
                    derived,
                    index,
                    entry_keys,
                )| {
                    let mut deltas = derived::Deltas::default();
                    let mut results = Vec::with_capacity(refs.len());
                    let (mut withdrawn, mut amendments) = (0, 0);
                    for source_ref in refs {
                        let Some(id) = source_refs.get(source_ref.as_bytes())? else {
                            results.push(Withdrawal::Unknown);
                            continue;
                        };
                        let entry_id = read_u64(Some(id));
                        let Some(old) = crossings.remove(&be(entry_id))? else {
                            results.push(Withdrawal::Unknown);
                            continue;
                        };
                        let old = serde_cbor::from_slice::<StoredCrossing>(&old).ok();
                        if let Some(old) = &old {
                            derived::stay_closed(derived, &old.crossing, entry_id)?;
                        }
                        raw.remove(&be(entry_id))?;
                        // Its names and birth date go from the matching
                        // index too: nothing is to be matched with it.
                        index::unindex_entry(index, entry_keys, entry_id)?;
                        if let Some(exit) = entry_matches.remove(&be(entry_id))? {
                            matches.remove(&exit)?;
                            let sender = exit.split(|b| *b == 0).next().unwrap_or_default();
                            let sender = String::from_utf8_lossy(sender);
                            derived::unmark_match(derived, &mut deltas, &sender, seq_of(&exit))?;
                            let name = counter::matched(&sender);
                            let v = tx_get_u64(meta, &name)?.saturating_sub(1);
                            meta.insert(name.as_str(), &be(v))?;
                        }
                        let mut told = Vec::new();
                        for p in partners {
                            let Some(amends) = sent_as.remove(sent_key(entry_id, p))? else {
                                continue;
                            };
                            let next_key = counter::outbox_next(p);
                            let seq = tx_get_u64(meta, &next_key)?.max(1);
                            outbox.insert(
                                partner_key(p, seq),
                                encode(&OutboxEntry {
                                    entry_id,
                                    record: Entry::Deletion {
                                        amends: read_u64(Some(amends)),
                                    },
                                    replaces: old.as_ref().map(|o| Replaces::of(&o.crossing)),
                                }),
                            )?;
                            meta.insert(next_key.as_str(), &be(seq + 1))?;
                            amendments += 1;
                            told.push(p.clone());
                        }
                        withdrawn += 1;
                        results.push(Withdrawal::Withdrawn {
                            entry_id,
                            partners: told,
                        });
                    }
                    tx_add(meta, counter::WITHDRAWN, withdrawn)?;
                    tx_add(meta, counter::AMENDMENTS_QUEUED, amendments)?;
                    deltas.apply(derived)?;
                    Ok::<_, ConflictableTransactionError<()>>(results)
                },
            )
            .map_err(flatten)
    }

    /// Every stored crossing `keep` accepts, with its entry id (a full scan).
    pub fn crossings_where(
        &self,
        keep: impl Fn(&Crossing) -> bool,
    ) -> Result<Vec<(u64, StoredCrossing)>> {
        let mut out = Vec::new();
        for kv in self.crossings.iter() {
            let (k, v) = kv?;
            let c: StoredCrossing = decode("crossing", &v)?;
            if keep(&c.crossing) {
                out.push((seq_of(&k), c));
            }
        }
        Ok(out)
    }

    pub fn crossing(&self, entry_id: u64) -> Result<Option<StoredCrossing>> {
        self.crossings
            .get(be(entry_id))?
            .map(|v| decode("crossing", &v))
            .transpose()
    }

    /// The most recent raw source records (entry id, bytes), newest first.
    pub fn recent_raw(&self, max: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for kv in self.raw.iter().rev().take(max) {
            let (k, v) = kv?;
            out.push((seq_of(&k), v.to_vec()));
        }
        Ok(out)
    }

    /// The most recent stored crossings with their decisions, newest first.
    pub fn recent_crossings(&self, max: usize) -> Result<Vec<StoredCrossing>> {
        let mut out = Vec::new();
        for kv in self.crossings.iter().rev().take(max) {
            let (_, v) = kv?;
            out.push(decode("crossing", &v)?);
        }
        Ok(out)
    }

    /// Highest sequence number queued for `partner` (0 when none).
    pub fn outbox_last(&self, partner: &str) -> Result<u64> {
        Ok(self
            .counter(&counter::outbox_next(partner))?
            .saturating_sub(1))
    }

    /// Up to `max` outbox records from `from` on, in sequence order.
    pub fn outbox_from(&self, partner: &str, from: u64, max: usize) -> Result<Vec<(u64, Entry)>> {
        let start = partner_key(partner, from);
        let end = partner_key(partner, u64::MAX);
        let mut out = Vec::new();
        for kv in self.outbox.range(start..end).take(max) {
            let (k, v) = kv?;
            let entry: OutboxEntry = decode("outbox entry", &v)?;
            out.push((seq_of(&k), entry.record));
        }
        Ok(out)
    }

    /// Sets aside the unacknowledged entries `seqs` for `partner` (which
    /// refused them for good): each is kept in the `set_aside` tree and
    /// replaced in the outbox by [`Entry::SetAside`], and the bundle sealed
    /// over them is dropped so it is sealed again with the placeholders. The
    /// partner never stored that bundle (it refused it), so nothing it holds
    /// changes; the numbers stay in its dense sequence. A record set aside is
    /// no longer held by the partner: a later correction sends it afresh.
    pub fn set_aside(&self, partner: &str, seqs: &[u64]) -> Result<Vec<SetAside>> {
        let at = crate::exchange::now();
        use sled::Transactional;
        (
            &self.meta,
            &self.outbox,
            &self.sent_as,
            &self.bundles_out,
            &self.chunks,
            &self.set_aside,
        )
            .transaction(|(meta, outbox, sent_as, bundles, chunks, set_aside)| {
                let acknowledged = tx_get_u64(meta, &counter::sent_upto(partner))?;
                let mut out = Vec::with_capacity(seqs.len());
                let mut n = 0;
                for &seq in seqs {
                    if seq <= acknowledged {
                        out.push(SetAside::Acknowledged { seq });
                        continue;
                    }
                    let key = partner_key(partner, seq);
                    let Some(v) = outbox.get(&key)? else {
                        out.push(SetAside::NotQueued { seq });
                        continue;
                    };
                    let original: OutboxEntry = serde_cbor::from_slice(&v)
                        .map_err(|_| ConflictableTransactionError::Abort("corrupt outbox entry"))?;
                    let (kind, note) = match &original.record {
                        Entry::SetAside => {
                            out.push(SetAside::AlreadySetAside { seq });
                            continue;
                        }
                        Entry::Record(_) => {
                            let at = sent_key(original.entry_id, partner);
                            if sent_as.get(&at)?.map(|v| read_u64(Some(v))) == Some(seq) {
                                sent_as.remove(at)?;
                            }
                            ("record", "the partner does not hold this record; if its source corrects it, it is sent afresh".to_owned())
                        }
                        Entry::Correction { amends, .. } => (
                            "correction",
                            format!("the partner keeps record {amends} as it was before this correction"),
                        ),
                        Entry::Deletion { amends } => (
                            "deletion",
                            format!("the partner still holds record {amends}, which was to be deleted: ask its operators to delete it"),
                        ),
                    };
                    let entry_id = original.entry_id;
                    set_aside.insert(key.clone(), encode(&SetAsideEntry { original, at }))?;
                    outbox.insert(
                        key,
                        encode(&OutboxEntry {
                            entry_id,
                            record: Entry::SetAside,
                            replaces: None,
                        }),
                    )?;
                    n += 1;
                    out.push(SetAside::SetAside {
                        seq,
                        kind: kind.to_owned(),
                        note,
                    });
                }
                // The refused bundle (the only one sealed and unacknowledged)
                // goes, with any earlier seals of it.
                let pending = partner_key(partner, acknowledged + 1);
                if n > 0
                    && let Some(v) = bundles.get(&pending)?
                {
                    let b: SentBundle = serde_cbor::from_slice(&v)
                        .map_err(|_| ConflictableTransactionError::Abort("corrupt sent bundle"))?;
                    if b.receipt.is_none() {
                        for i in 0..b.chunks {
                            chunks.remove(chunk_key(CHUNKS_SENT, partner, acknowledged + 1, i))?;
                        }
                        for (seal, e) in b.earlier.iter().enumerate() {
                            for i in 0..e.chunks {
                                chunks.remove(earlier_chunk_key(partner, acknowledged + 1, seal, i))?;
                            }
                        }
                        bundles.remove(pending)?;
                    }
                }
                tx_add(meta, &counter::set_aside(partner), n)?;
                Ok::<_, ConflictableTransactionError<&'static str>>(out)
            })
            .map_err(flatten)
    }

    /// The highest sequence number the partner has acknowledged with a receipt.
    pub fn sent_upto(&self, partner: &str) -> Result<u64> {
        self.counter(&counter::sent_upto(partner))
    }

    /// A bundle sealed earlier and not yet acknowledged, if one starts at `first`.
    /// Resending the same bytes keeps delivery idempotent across restarts.
    pub fn pending_bundle(&self, partner: &str, first: u64) -> Result<Option<(u64, Vec<u8>)>> {
        match self.bundles_out.get(partner_key(partner, first))? {
            Some(v) => {
                let b: SentBundle = decode("sent bundle", &v)?;
                let bytes = self.read_chunks(CHUNKS_SENT, partner, first, b.chunks)?;
                Ok(Some((b.last_seq, bytes)))
            }
            None => Ok(None),
        }
    }

    /// Stores a sealed bundle before it is first sent. Sealing the same
    /// records again (the hub's key changed before a receipt came) keeps the
    /// earlier seal, whose receipt the partner may give instead.
    pub fn store_bundle_out(
        &self,
        partner: &str,
        first: u64,
        last: u64,
        bundle: &[u8],
    ) -> Result<()> {
        let sealed_at = crate::exchange::now();
        use sled::Transactional;
        (&self.bundles_out, &self.chunks)
            .transaction(|(bundles, chunks)| {
                let key = partner_key(partner, first);
                let mut earlier = Vec::new();
                if let Some(v) = bundles.get(&key)? {
                    let before: SentBundle = serde_cbor::from_slice(&v)
                        .map_err(|_| ConflictableTransactionError::Abort("corrupt sent bundle"))?;
                    if before.receipt.is_some() || before.last_seq != last {
                        return Err(ConflictableTransactionError::Abort(
                            "an acknowledged bundle, or another range, sealed again",
                        ));
                    }
                    earlier = before.earlier;
                    let seal = earlier.len();
                    for i in 0..before.chunks {
                        let main = chunk_key(CHUNKS_SENT, partner, first, i);
                        if let Some(piece) = chunks.remove(main)? {
                            chunks.insert(earlier_chunk_key(partner, first, seal, i), piece)?;
                        }
                    }
                    earlier.push(EarlierSeal {
                        sha256: before.sha256,
                        chunks: before.chunks,
                    });
                }
                for (i, piece) in bundle.chunks(CHUNK_BYTES).enumerate() {
                    chunks.insert(chunk_key(CHUNKS_SENT, partner, first, i as u32), piece)?;
                }
                let value = encode(&SentBundle {
                    last_seq: last,
                    sha256: crate::bundle::sha256(bundle),
                    chunks: chunk_count(bundle),
                    receipt: None,
                    purged_head: None,
                    sealed_at: Some(sealed_at),
                    acknowledged_at: None,
                    earlier: earlier.clone(),
                });
                bundles.insert(key, value)?;
                Ok(())
            })
            .map_err(flatten)?;
        self.flush()
    }

    /// An earlier seal of the unacknowledged bundle at `first` whose hash is
    /// `sha256` (see [`Store::store_bundle_out`]).
    pub fn earlier_seal(
        &self,
        partner: &str,
        first: u64,
        sha256: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let Some(v) = self.bundles_out.get(partner_key(partner, first))? else {
            return Ok(None);
        };
        let b: SentBundle = decode("sent bundle", &v)?;
        let Some(seal) = b.earlier.iter().position(|e| e.sha256 == sha256) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for i in 0..b.earlier[seal].chunks {
            let piece = self
                .chunks
                .get(earlier_chunk_key(partner, first, seal, i))?
                .ok_or_else(|| StoreError::Corrupt {
                    what: "bundle",
                    detail: format!("piece {i} of an earlier seal of {partner}/{first} is missing"),
                })?;
            out.extend_from_slice(&piece);
        }
        Ok(Some(out))
    }

    fn read_chunks(&self, kind: u8, partner: &str, first: u64, count: u32) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(count as usize * CHUNK_BYTES);
        for i in 0..count {
            let piece = self
                .chunks
                .get(chunk_key(kind, partner, first, i))?
                .ok_or_else(|| StoreError::Corrupt {
                    what: "bundle",
                    detail: format!("piece {i} of the bundle {partner}/{first} is missing"),
                })?;
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    /// The bundle received from `sender` that carries sequence number `seq`,
    /// with the receipt this hub gave for it.
    pub fn received_bundle(&self, sender: &str, seq: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let start = partner_key(sender, 0);
        let end = partner_key(sender, seq.saturating_add(1));
        let Some(kv) = self.bundles_in.range(start..end).next_back() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let b: ReceivedBundle = decode("received bundle", &v)?;
        if b.last_seq < seq || b.purged_head.is_some() {
            return Ok(None);
        }
        let bytes = self.read_chunks(CHUNKS_RECEIVED, sender, seq_of(&k), b.chunks)?;
        Ok(Some((bytes, b.receipt)))
    }

    /// SHA-256 of the sealed bundle that ends just before `first` (empty when
    /// `first` is 1): what the bundle starting at `first` must name as previous.
    pub fn previous_bundle_sha(&self, partner: &str, first: u64) -> Result<Vec<u8>> {
        if first <= 1 {
            return Ok(Vec::new());
        }
        let start = partner_key(partner, 0);
        let end = partner_key(partner, first);
        match self.bundles_out.range(start..end).next_back() {
            Some(kv) => {
                let (_, v) = kv?;
                let b: SentBundle = decode("sent bundle", &v)?;
                Ok(b.sha256)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Records the partner's receipt for the bundle starting at `first` and
    /// moves the partner's acknowledged sequence number to `last`.
    /// `acknowledged_sha256` is the bundle the receipt names: the one sealed
    /// last, or an earlier seal of the same records, which then becomes the
    /// bundle (it is what the partner holds and what the chain continues from).
    pub fn store_receipt(
        &self,
        partner: &str,
        first: u64,
        last: u64,
        receipt: &[u8],
        acknowledged_sha256: &[u8],
    ) -> Result<()> {
        let acknowledged_at = crate::exchange::now();
        use sled::Transactional;
        (
            &self.meta,
            &self.bundles_out,
            &self.outbox,
            &self.derived,
            &self.chunks,
        )
            .transaction(|(meta, bundles, outbox, derived, chunks)| {
                let key = partner_key(partner, first);
                let Some(v) = bundles.get(&key)? else {
                    return Err(ConflictableTransactionError::Abort(
                        "receipt for a bundle that was never sealed",
                    ));
                };
                let mut sent: SentBundle = serde_cbor::from_slice(&v)
                    .map_err(|_| ConflictableTransactionError::Abort("corrupt sent bundle"))?;
                if sent.sha256 != acknowledged_sha256 {
                    let Some(seal) = sent
                        .earlier
                        .iter()
                        .position(|e| e.sha256 == acknowledged_sha256)
                    else {
                        return Err(ConflictableTransactionError::Abort(
                            "receipt for a bundle that was never sealed",
                        ));
                    };
                    let chosen = sent.earlier[seal].clone();
                    let bytes = tx_read_chunks(chunks, chosen.chunks, |i| {
                        earlier_chunk_key(partner, first, seal, i)
                    })?
                    .ok_or(ConflictableTransactionError::Abort(
                        "an earlier seal is missing",
                    ))?;
                    for i in 0..sent.chunks {
                        chunks.remove(chunk_key(CHUNKS_SENT, partner, first, i))?;
                    }
                    for (i, piece) in bytes.chunks(CHUNK_BYTES).enumerate() {
                        chunks.insert(chunk_key(CHUNKS_SENT, partner, first, i as u32), piece)?;
                    }
                    sent.sha256 = chosen.sha256;
                    sent.chunks = chosen.chunks;
                }
                for (seal, e) in sent.earlier.iter().enumerate() {
                    for i in 0..e.chunks {
                        chunks.remove(earlier_chunk_key(partner, first, seal, i))?;
                    }
                }
                sent.earlier.clear();
                sent.receipt = Some(receipt.to_vec());
                sent.acknowledged_at = Some(acknowledged_at);
                bundles.insert(key, encode(&sent))?;
                let upto = counter::sent_upto(partner);
                if tx_get_u64(meta, &upto)? < last {
                    meta.insert(upto.as_str(), &be(last))?;
                }
                tx_add(meta, &counter::bundles_sent(partner), 1)?;
                // The acknowledged records are counted as sent once each,
                // on the day and at the port of their crossing.
                let counted = derived::sent_mark(derived, partner)?;
                let mut deltas = derived::Deltas::default();
                for seq in (counted + 1).max(first)..=last {
                    let Some(v) = outbox.get(partner_key(partner, seq))? else {
                        continue;
                    };
                    if let Ok(entry) = serde_cbor::from_slice::<OutboxEntry>(&v) {
                        derived::count_sent(&mut deltas, partner, &entry);
                    }
                }
                deltas.apply(derived)?;
                if last > counted {
                    derived::set_sent_mark(derived, partner, last)?;
                }
                Ok(())
            })
            .map_err(flatten)?;
        self.flush()
    }

    /// Stores a verified bundle from `sender` if it continues the inbox exactly;
    /// a bundle seen before gets its original receipt back. `make_receipt` is
    /// called only for a new bundle. Durable when this returns.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &self,
        sender: &str,
        first: u64,
        last: u64,
        prev_bundle_sha256: &[u8],
        records: &[Entry],
        bundle: &[u8],
        make_receipt: impl Fn() -> Vec<u8>,
    ) -> Result<Received> {
        let sha = crate::bundle::sha256(bundle);
        let receipt = make_receipt();
        let received_at = crate::exchange::now();
        use sled::Transactional;
        let outcome = (
            &self.meta,
            &self.inbox,
            &self.bundles_in,
            &self.chunks,
            &self.derived,
        )
            .transaction(|(meta, inbox, bundles_in, chunks, derived)| {
                // Checked inside the transaction, so a resend racing the
                // original is answered with the original's receipt.
                if let Some(v) = bundles_in.get(partner_key(sender, first))? {
                    let stored: ReceivedBundle = serde_cbor::from_slice(&v)
                        .map_err(|_| ConflictableTransactionError::Abort(ReceiveAbort::Corrupt))?;
                    let purged = stored.purged_head.is_some();
                    if stored.sha256 == sha {
                        return Ok(Received::Duplicate {
                            receipt: stored.receipt,
                            purged,
                        });
                    }
                    // The same records sealed again by the sender (its key
                    // changed after this hub stored the bundle but before its
                    // receipt arrived): the same range, chain position and
                    // Merkle root. It is the bundle held here, answered with
                    // its receipt, which names the bytes held.
                    let held = match &stored.purged_head {
                        Some(head) => crate::bundle::stored_head(head),
                        None => tx_read_chunks(chunks, stored.chunks, |i| {
                            chunk_key(CHUNKS_RECEIVED, sender, first, i)
                        })?
                        .and_then(|bytes| crate::bundle::stored_payload(&bytes))
                        .map(|p| p.head()),
                    };
                    if held.is_some_and(|h| {
                        h.last_seq == last
                            && h.prev_bundle_sha256 == prev_bundle_sha256
                            && h.merkle_root == crate::bundle::merkle_root(records)
                    }) {
                        return Ok(Received::Duplicate {
                            receipt: stored.receipt,
                            purged,
                        });
                    }
                }
                let next_key = counter::inbox_next(sender);
                let expected = tx_get_u64(meta, &next_key)?.max(1);
                if first != expected {
                    return Ok(Received::Gap { expected });
                }
                let chain_key = counter::inbox_last_sha(sender);
                let previous = meta.get(chain_key.as_str())?;
                if previous.as_deref().unwrap_or_default() != prev_bundle_sha256 {
                    return Ok(Received::ChainBroken);
                }
                meta.insert(chain_key.as_str(), sha.as_slice())?;
                let (mut applied, mut to_purged, mut set_aside_received) = (0, 0, 0);
                let mut deltas = derived::Deltas::default();
                for (i, entry) in records.iter().enumerate() {
                    let seq = first + i as u64;
                    if let Some(amends) = entry.amends() {
                        // The inbox holds each sequence number's current record:
                        // an amendment replaces it (a deletion leaves a
                        // tombstone), and stays logged under its own number.
                        let target = if amends < seq {
                            inbox.get(partner_key(sender, amends))?
                        } else {
                            None
                        };
                        let current: Option<Entry> =
                            target.and_then(|v| serde_cbor::from_slice(&v).ok());
                        // Every number below `seq` was received (the inbox
                        // is dense), so one missing from it was purged here:
                        // retention runs on each hub on its own schedule and
                        // periods, and the sender may keep its records longer.
                        let purged = amends >= 1 && amends < seq && current.is_none();
                        let why = match &current {
                            None if purged => None,
                            None => Some("it names a sequence number not received before it"),
                            Some(Entry::Deletion { .. }) => Some("that record was deleted before"),
                            Some(_) => None,
                        };
                        if let Some(why) = why {
                            // Abort, not return: the chain head and the
                            // records before this one are already written,
                            // and a refused bundle must leave nothing behind.
                            return Err(ConflictableTransactionError::Abort(
                                ReceiveAbort::BadAmendment { seq, amends, why },
                            ));
                        }
                        // The replaced record leaves the report's cell it was counted in.
                        if let Some(old) = current.as_ref().and_then(Entry::record) {
                            deltas.add(
                                sender,
                                old.entered_at,
                                &old.port_code,
                                derived::Field::Received,
                                -1,
                            );
                        }
                        if purged {
                            // Logged under its own number (the stream stays
                            // dense and complete); the purged record stays
                            // purged, and its report cell, which only the
                            // record knew, keeps its count.
                            to_purged += 1;
                            inbox.insert(partner_key(sender, seq), encode(entry))?;
                            continue;
                        }
                        let now_current = match entry {
                            Entry::Correction { record, .. } => Entry::Record(record.clone()),
                            other => other.clone(),
                        };
                        inbox.insert(partner_key(sender, amends), encode(&now_current))?;
                        applied += 1;
                    }
                    inbox.insert(partner_key(sender, seq), encode(entry))?;
                    if *entry == Entry::SetAside {
                        set_aside_received += 1;
                    }
                    // A record or a correction counts (once) as a record received.
                    if let Some(r) = entry.record() {
                        deltas.add(
                            sender,
                            r.entered_at,
                            &r.port_code,
                            derived::Field::Received,
                            1,
                        );
                    }
                }
                deltas.apply(derived)?;
                tx_add(meta, counter::AMENDMENTS_APPLIED, applied)?;
                tx_add(meta, counter::AMENDMENTS_TO_PURGED, to_purged)?;
                tx_add(
                    meta,
                    &counter::set_aside_received(sender),
                    set_aside_received,
                )?;
                for (i, piece) in bundle.chunks(CHUNK_BYTES).enumerate() {
                    chunks.insert(chunk_key(CHUNKS_RECEIVED, sender, first, i as u32), piece)?;
                }
                bundles_in.insert(
                    partner_key(sender, first),
                    encode(&ReceivedBundle {
                        last_seq: last,
                        sha256: sha.clone(),
                        chunks: chunk_count(bundle),
                        receipt: receipt.clone(),
                        purged_head: None,
                        received_at: Some(received_at),
                    }),
                )?;
                meta.insert(next_key.as_str(), &be(last + 1))?;
                tx_add(meta, &counter::bundles_received(sender), 1)?;
                Ok::<_, ConflictableTransactionError<ReceiveAbort>>(Received::Stored {
                    receipt: receipt.clone(),
                })
            });
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(TransactionError::Abort(ReceiveAbort::BadAmendment { seq, amends, why })) => {
                Received::BadAmendment { seq, amends, why }
            }
            Err(e) => return Err(flatten(e)),
        };
        // A duplicate too: the original's transaction is visible as soon as
        // it commits, but its receipt may be given only once it is durable.
        if matches!(
            outcome,
            Received::Stored { .. } | Received::Duplicate { .. }
        ) {
            self.flush()?;
        }
        Ok(outcome)
    }

    /// The newest bundle sealed for `partner` (acknowledged or not).
    pub fn last_bundle_out(&self, partner: &str) -> Result<Option<BundleSummary>> {
        let range = partner_key(partner, 0)..partner_key(partner, u64::MAX);
        let Some(kv) = self.bundles_out.range(range).next_back() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let b: SentBundle = decode("sent bundle", &v)?;
        Ok(Some(BundleSummary {
            first_seq: seq_of(&k),
            last_seq: b.last_seq,
            at: b.sealed_at,
            acknowledged_at: b.acknowledged_at,
        }))
    }

    /// The newest bundle received from `sender` (stored, so verified).
    pub fn last_bundle_in(&self, sender: &str) -> Result<Option<BundleSummary>> {
        let range = partner_key(sender, 0)..partner_key(sender, u64::MAX);
        let Some(kv) = self.bundles_in.range(range).next_back() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let b: ReceivedBundle = decode("received bundle", &v)?;
        Ok(Some(BundleSummary {
            first_seq: seq_of(&k),
            last_seq: b.last_seq,
            at: b.received_at,
            acknowledged_at: None,
        }))
    }

    /// Moves the partner's acknowledged sequence number back to `to`, so the
    /// bundler sends again from `to + 1`. Only for a partner that proved it lost
    /// records (it asked for an earlier sequence number than we hold receipts for).
    pub fn rewind_sent(&self, partner: &str, to: u64) -> Result<()> {
        self.meta
            .insert(counter::sent_upto(partner).as_str(), &be(to))?;
        self.flush()
    }

    /// Highest sequence number received from `sender` (0 when none).
    pub fn inbox_last(&self, sender: &str) -> Result<u64> {
        Ok(self
            .counter(&counter::inbox_next(sender))?
            .saturating_sub(1))
    }

    pub fn inbox_from(&self, sender: &str, from: u64, max: usize) -> Result<Vec<(u64, Entry)>> {
        let start = partner_key(sender, from);
        let end = partner_key(sender, u64::MAX);
        let mut out = Vec::new();
        for kv in self.inbox.range(start..end).take(max) {
            let (k, v) = kv?;
            out.push((seq_of(&k), decode("inbox record", &v)?));
        }
        Ok(out)
    }

    pub fn entry_is_matched(&self, entry_id: u64) -> Result<bool> {
        Ok(self.entry_matches.contains_key(be(entry_id))?)
    }

    /// Stores matches for `sender`'s records and moves its match cursor past
    /// `upto` in one transaction.
    pub fn store_matches(
        &self,
        sender: &str,
        upto: u64,
        rows: &[MatchRow],
        plugin_failures: u64,
    ) -> Result<()> {
        use sled::Transactional;
        (
            &self.meta,
            &self.matches,
            &self.entry_matches,
            &self.crossings,
            &self.inbox,
            &self.derived,
        )
            .transaction(
                |(meta, matches, entry_matches, crossings, inbox, derived)| {
                    let (mut linked, mut review) = (0, 0);
                    let mut deltas = derived::Deltas::default();
                    for row in rows {
                        // Counted in the cell of the record as it is now.
                        let exit = inbox
                            .get(partner_key(sender, row.exit_seq))?
                            .and_then(|v| serde_cbor::from_slice::<Entry>(&v).ok());
                        // Purged (retention) since it was matched: no link
                        // to a record this hub no longer holds.
                        if exit.is_none() {
                            continue;
                        }
                        matches.insert(partner_key(sender, row.exit_seq), encode(row))?;
                        if let Some(Entry::Record(r)) = exit {
                            derived::mark_match(
                                derived,
                                &mut deltas,
                                sender,
                                row.exit_seq,
                                &r,
                                row.band,
                            )?;
                        }
                        if row.band == Band::Link {
                            entry_matches
                                .insert(&be(row.entry_id), partner_key(sender, row.exit_seq))?;
                            // The entry has its exit: its stay is closed.
                            if let Some(c) = crossings
                                .get(be(row.entry_id))?
                                .and_then(|v| serde_cbor::from_slice::<StoredCrossing>(&v).ok())
                            {
                                derived::stay_closed(derived, &c.crossing, row.entry_id)?;
                            }
                            linked += 1;
                        } else {
                            review += 1;
                        }
                    }
                    deltas.apply(derived)?;
                    meta.insert(counter::match_cursor(sender).as_str(), &be(upto))?;
                    tx_add(meta, &counter::matched(sender), linked)?;
                    tx_add(meta, &counter::review(sender), review)?;
                    tx_add(meta, &counter::match_failures(sender), plugin_failures)?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                },
            )
            .map_err(flatten)?;
        Ok(())
    }

    /// Removes the matches of `sender`'s records `exit_seqs` (amended since
    /// they were matched), freeing the entries they were linked to.
    pub fn unmatch(&self, sender: &str, exit_seqs: &[u64]) -> Result<()> {
        use sled::Transactional;
        (
            &self.meta,
            &self.matches,
            &self.entry_matches,
            &self.crossings,
            &self.derived,
        )
            .transaction(|(meta, matches, entry_matches, crossings, derived)| {
                let (mut linked, mut review) = (0u64, 0u64);
                let mut deltas = derived::Deltas::default();
                for seq in exit_seqs {
                    let Some(v) = matches.remove(partner_key(sender, *seq))? else {
                        continue;
                    };
                    let row: MatchRow = serde_cbor::from_slice(&v)
                        .map_err(|_| ConflictableTransactionError::Abort("corrupt match"))?;
                    derived::unmark_match(derived, &mut deltas, sender, *seq)?;
                    if row.band == Band::Link {
                        entry_matches.remove(&be(row.entry_id))?;
                        // Its exit is gone: the entry's stay is open again
                        // (an overstay again, if its stay has run out).
                        if let Some(c) = crossings
                            .get(be(row.entry_id))?
                            .and_then(|v| serde_cbor::from_slice::<StoredCrossing>(&v).ok())
                        {
                            derived::stay_opened(derived, &c.crossing, row.entry_id)?;
                        }
                        linked += 1;
                    } else {
                        review += 1;
                    }
                }
                for (name, n) in [
                    (counter::matched(sender), linked),
                    (counter::review(sender), review),
                ] {
                    let v = tx_get_u64(meta, &name)?.saturating_sub(n);
                    meta.insert(name.as_str(), &be(v))?;
                }
                deltas.apply(derived)?;
                Ok(())
            })
            .map_err(flatten)
    }

    /// The partner's record linked to our entry `entry_id` as its exit:
    /// (partner, sequence number), if one is.
    pub fn exit_of_entry(&self, entry_id: u64) -> Result<Option<(String, u64)>> {
        Ok(self.entry_matches.get(be(entry_id))?.map(|k| {
            let partner = String::from_utf8_lossy(&k[..k.len().saturating_sub(9)]).into_owned();
            (partner, seq_of(&k))
        }))
    }

    /// The record `sender` holds under `seq` now (a tombstone after a deletion).
    pub fn inbox_record(&self, sender: &str, seq: u64) -> Result<Option<Entry>> {
        self.inbox
            .get(partner_key(sender, seq))?
            .map(|v| decode("inbox record", &v))
            .transpose()
    }

    pub fn match_for(&self, sender: &str, exit_seq: u64) -> Result<Option<MatchRow>> {
        self.matches
            .get(partner_key(sender, exit_seq))?
            .map(|v| decode("match", &v))
            .transpose()
    }

    /// Records in quarantine, oldest first, from id `from` on.
    pub fn quarantined(&self, from: u64, max: usize) -> Result<Vec<QuarantinedRecord>> {
        let mut out = Vec::new();
        for kv in self.quarantine.range(be(from)..).take(max) {
            let (_, v) = kv?;
            out.push(decode("quarantined record", &v)?);
        }
        Ok(out)
    }

    /// Takes records out of quarantine once they went through the pipeline
    /// again (stored, rejected, or quarantined anew under another id).
    pub fn release(&self, ids: &[u64]) -> Result<()> {
        use sled::Transactional;
        (&self.meta, &self.quarantine)
            .transaction(|(meta, quarantine)| {
                let mut released = 0;
                for id in ids {
                    if quarantine.remove(&be(*id))?.is_some() {
                        released += 1;
                    }
                }
                tx_add(meta, counter::RELEASED, released)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(flatten)?;
        self.flush()
    }
}

/// sled 0.34 writes a snapshot each time it opens a store, to
/// `snap.<lsn>.generating`, and renames it to `snap.<lsn>` once written and
/// synced. A process killed in between leaves the unfinished file, which sled
/// then takes for the newest snapshot and refuses to open the store ("empty/
/// corrupt snapshot file found"; sled issue #1527): the hub could not start
/// again. Such a file is unfinished by construction; without it sled recovers
/// from the last complete snapshot and its log, as after a kill a moment earlier.
fn discard_unfinished_snapshots(dir: &Path) -> Result<()> {
    // sled holds an exclusive lock on its log file while a store is open: if
    // another process holds it, its snapshot may be in the making, so leave
    // it, and let sled's own open report the store as in use.
    if let Ok(log) = std::fs::File::open(dir.join("db"))
        && log.try_lock().is_err()
    {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(sled::Error::from(e).into()),
    };
    for entry in entries {
        let entry = entry.map_err(sled::Error::from)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "discarding an unfinished store snapshot left by a crash");
            std::fs::remove_file(entry.path()).map_err(sled::Error::from)?;
        }
    }
    Ok(())
}

/// A convenience for reports: `Some(ts)` falls in `[from, to)`.
pub fn in_period(ts: Timestamp, from: Option<Timestamp>, to: Option<Timestamp>) -> bool {
    from.is_none_or(|f| ts >= f) && to.is_none_or(|t| ts < t)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::record::{PartialDate, Sex, SharedRecord};

    fn record() -> Entry {
        Entry::Record(SharedRecord {
            given_names: "ANNA".into(),
            family_name: "ERIKSSON".into(),
            middle_names: String::new(),
            date_of_birth: PartialDate {
                year: 1974,
                month: Some(8),
                day: Some(12),
            },
            nationality: "SWE".into(),
            sex: Sex::F,
            document_type: "P".into(),
            document_number: "L898902C3".into(),
            document_country: "SWE".into(),
            entered_at: 1_763_700_000,
            port_code: "0427".into(),
        })
    }

    /// PostgreSQL's fsync lesson: after a failed fsync the kernel may have
    /// dropped the dirty pages, so a later fsync that succeeds proves
    /// nothing. Nothing is acknowledged again until the store is reopened
    /// (and recovers from what its log really holds).
    #[test]
    fn after_a_failed_sync_nothing_is_acknowledged_again() {
        let commit = GroupCommit::default();
        let failed = commit.commit(|| Err(std::io::Error::other("EIO")));
        assert!(matches!(failed, Err(StoreError::Sync(_))), "{failed:?}");
        let later = commit.commit(|| Ok(()));
        assert!(
            matches!(&later, Err(StoreError::Sync(why)) if why.contains("restart")),
            "a commit after a failed fsync was acknowledged: {later:?}"
        );
    }

    /// A resent bundle used to get the original's receipt as soon as the
    /// original's transaction was visible, before any flush covered it.
    #[test]
    fn a_duplicate_bundle_is_answered_only_once_a_flush_covers_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let entries = vec![record()];
        let receive = |store: &Store| {
            store
                .receive("CA", 1, 1, &[], &entries, b"bundle", || b"receipt".to_vec())
                .unwrap()
        };
        assert!(matches!(receive(&store), Received::Stored { .. }));
        // Another caller's commit holds the disk.
        store.commit.state.lock().unwrap().running = true;
        let (tx, rx) = std::sync::mpsc::channel();
        let resend = {
            let store = store.clone();
            let entries = entries.clone();
            std::thread::spawn(move || {
                let outcome = store
                    .receive("CA", 1, 1, &[], &entries, b"bundle", || b"receipt".to_vec())
                    .unwrap();
                tx.send(matches!(outcome, Received::Duplicate { .. }))
                    .unwrap();
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the duplicate was answered while no flush had covered it"
        );
        store.commit.state.lock().unwrap().running = false;
        store.commit.done.notify_all();
        assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        resend.join().unwrap();
    }
}
