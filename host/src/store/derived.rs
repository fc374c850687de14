//! The `derived` tree: indexes and counters computed from the authoritative
//! trees (`crossings`, `inbox`, `matches`, `entry_matches`, `outbox`), kept so
//! that analysts' questions do not scan years of records per request.
//!
//! Every change to those trees that moves a figure updates this tree in the
//! same sled transaction, so a crash never leaves them apart. Everything here
//! can be recomputed from the authoritative trees ([`from_scratch`]): a store
//! written by an older hub (no `derived_version` in `meta`, or an older one)
//! is rebuilt once at open.
//!
//! Key spaces, by their first byte:
//!
//! - `S` **open stays**: `S ‖ until ‖ entry_id → port`, one per entry with an
//!   authorised stay and no linked exit. Overstays as of `t` are the keys
//!   below `S ‖ t`: a range scan that touches only entries still open, never
//!   the (much larger) number of closed stays. An entry leaves the index when
//!   an exit is linked to it and comes back when that link is undone.
//! - `C` **report cells**: `C ‖ partner ‖ 0 ‖ day ‖ port → [received,
//!   reconciled, review, sent]`, the joint-report counts per UTC day of the
//!   crossing, port of entry and partner. A report over a year reads about
//!   days × ports cells, whatever the number of records.
//! - `M` **match marks**: `M ‖ partner ‖ 0 ‖ exit_seq → day ‖ band ‖ port`:
//!   the cell a match was counted in. A partner's correction replaces the
//!   inbox record before the matcher undoes the old match, so the cell to
//!   decrement must be remembered, not recomputed from the inbox.
//! - `R` **in review**: `R ‖ partner ‖ 0 ‖ exit_seq → ()`, one per match in
//!   the clerical-review band, so analysts list them without reading every
//!   match; kept by the same functions as the marks.
//! - `H` **sent mark**: `H ‖ partner → sequence number`: the highest record
//!   counted as sent (acknowledged). Never lowered, so records sent again after
//!   a partner proved it lost them (`rewind_sent`) are not counted twice.
//!
//! Times are stored with the sign bit flipped (big-endian), so that byte order
//! is time order, before 1970 included.

use std::collections::BTreeMap;

use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use super::{
    Band, MatchRow, OutboxEntry, Result, Store, StoredCrossing, be, decode, read_u64, seq_of,
};
use crate::presence::{Day, day_of};
use crate::record::{Crossing, Entry, SharedRecord, Timestamp};

type TxResult<T> = std::result::Result<T, UnabortableTransactionError>;

/// Bumped when the layout or the meaning of a figure changes: the tree is
/// then rebuilt at the next open.
pub const VERSION: u64 = 1;
/// The `R` keys came later: a store built before them gains them once from
/// its matches, without a rebuild (which would lose the counts of purged
/// periods).
const REVIEW_INDEX_KEY: &str = "derived_review_index";
/// The `meta` key holding the version the `derived` tree was built with.
pub const VERSION_KEY: &str = "derived_version";

const OPEN_STAY: u8 = b'S';
const CELL: u8 = b'C';
const MARK: u8 = b'M';
const SENT_MARK: u8 = b'H';
const IN_REVIEW: u8 = b'R';

fn flip(n: i64) -> [u8; 8] {
    ((n as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip(b: &[u8]) -> i64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn open_stay_key(until: Timestamp, entry_id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(OPEN_STAY);
    k.extend_from_slice(&flip(until));
    k.extend_from_slice(&be(entry_id));
    k
}

fn partner_prefix(kind: u8, partner: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(partner.len() + 2);
    k.push(kind);
    k.extend_from_slice(partner.as_bytes());
    k.push(0);
    k
}

fn cell_key(partner: &str, day: Day, port: &str) -> Vec<u8> {
    let mut k = partner_prefix(CELL, partner);
    k.extend_from_slice(&flip(day));
    k.extend_from_slice(port.as_bytes());
    k
}

fn mark_key(partner: &str, exit_seq: u64) -> Vec<u8> {
    let mut k = partner_prefix(MARK, partner);
    k.extend_from_slice(&be(exit_seq));
    k
}

fn review_key(partner: &str, exit_seq: u64) -> Vec<u8> {
    let mut k = partner_prefix(IN_REVIEW, partner);
    k.extend_from_slice(&be(exit_seq));
    k
}

fn sent_mark_key(partner: &str) -> Vec<u8> {
    let mut k = vec![SENT_MARK];
    k.extend_from_slice(partner.as_bytes());
    k
}

/// The joint-report counts of one (partner, day, port).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Records received from the partner (our exits), current (not deleted).
    pub received: u64,
    /// Of those, linked to one of our entries.
    pub reconciled: u64,
    /// Of those, waiting for clerical review.
    pub review: u64,
    /// Our entry records the partner acknowledged.
    pub sent: u64,
}

impl Cell {
    fn encode(&self) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, n) in [self.received, self.reconciled, self.review, self.sent]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&n.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Cell {
        let n = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .map(|b| read_u64(Some(b.into())))
                .unwrap_or(0)
        };
        Cell {
            received: n(0),
            reconciled: n(1),
            review: n(2),
            sent: n(3),
        }
    }

    fn add(&mut self, field: Field, delta: i64) {
        let slot = match field {
            Field::Received => &mut self.received,
            Field::Reconciled => &mut self.reconciled,
            Field::Review => &mut self.review,
            Field::Sent => &mut self.sent,
        };
        // A negative result would be a bug elsewhere (a decrement never
        // counted); saturating keeps a report sane and the rebuild repairs it.
        *slot = slot.saturating_add_signed(delta);
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Field {
    Received,
    Reconciled,
    Review,
    Sent,
}

fn band_field(band: Band) -> Field {
    match band {
        Band::Link => Field::Reconciled,
        Band::Review => Field::Review,
    }
}

/// Changes to report cells gathered during one transaction and written once
/// per cell at its end (a bundle of 2,000 records touches a handful of cells).
#[derive(Default)]
pub(super) struct Deltas(BTreeMap<Vec<u8>, Vec<(Field, i64)>>);

impl Deltas {
    pub(super) fn add(&mut self, partner: &str, at: Timestamp, port: &str, field: Field, n: i64) {
        self.add_day(partner, day_of(at), port, field, n);
    }

    fn add_day(&mut self, partner: &str, day: Day, port: &str, field: Field, n: i64) {
        self.0
            .entry(cell_key(partner, day, port))
            .or_default()
            .push((field, n));
    }

    pub(super) fn apply(self, d: &TransactionalTree) -> TxResult<()> {
        for (key, changes) in self.0 {
            let mut cell = d.get(&key)?.map(|v| Cell::decode(&v)).unwrap_or_default();
            for (field, n) in changes {
                cell.add(field, n);
            }
            if cell == Cell::default() {
                d.remove(key)?;
            } else {
                d.insert(key, &cell.encode())?;
            }
        }
        Ok(())
    }
}

/// `crossing` (entry `entry_id`) has no linked exit: list its stay as open.
pub(super) fn stay_opened(d: &TransactionalTree, c: &Crossing, entry_id: u64) -> TxResult<()> {
    if let Some(until) = c.authorised_stay_until {
        d.insert(open_stay_key(until, entry_id), c.port_code.as_bytes())?;
    }
    Ok(())
}

/// `crossing` got an exit, was replaced or withdrawn: its stay is not open.
pub(super) fn stay_closed(d: &TransactionalTree, c: &Crossing, entry_id: u64) -> TxResult<()> {
    if let Some(until) = c.authorised_stay_until {
        d.remove(open_stay_key(until, entry_id))?;
    }
    Ok(())
}

/// Retention purged the match of the partner record under `exit_key`
/// (`partner ‖ 0 ‖ seq`): its mark goes, its count stays (the report counts
/// are aggregates, not personal data, and a report on a purged period still
/// answers, so after a purge [`Store::check_derived`] finds counts it
/// cannot recompute). The entry it was linked to is not reopened: the
/// person did leave. (A purged entry's open stay goes by [`stay_closed`].)
pub(super) fn forget_purged_match(d: &TransactionalTree, exit_key: &[u8]) -> TxResult<()> {
    let (partner, seq) = (partner_of(exit_key), seq_of(exit_key));
    d.remove(mark_key(&partner, seq))?;
    d.remove(review_key(&partner, seq))?;
    Ok(())
}

/// Counts a match of `partner`'s record `exit_seq` (currently `record`) in
/// its cell, remembering the cell; a match counted before is uncounted first.
pub(super) fn mark_match(
    d: &TransactionalTree,
    deltas: &mut Deltas,
    partner: &str,
    exit_seq: u64,
    record: &SharedRecord,
    band: Band,
) -> TxResult<()> {
    unmark_match(d, deltas, partner, exit_seq)?;
    d.insert(mark_key(partner, exit_seq), mark_value(record, band))?;
    if band == Band::Review {
        d.insert(review_key(partner, exit_seq), &[])?;
    }
    deltas.add(
        partner,
        record.entered_at,
        &record.port_code,
        band_field(band),
        1,
    );
    Ok(())
}

/// A mark's value: the day and port of the cell the match was counted in, and
/// its band.
fn mark_value(record: &SharedRecord, band: Band) -> Vec<u8> {
    let mut value = flip(day_of(record.entered_at)).to_vec();
    value.push(match band {
        Band::Link => b'L',
        Band::Review => b'R',
    });
    value.extend_from_slice(record.port_code.as_bytes());
    value
}

/// Uncounts the match of `partner`'s record `exit_seq`, if one was counted.
pub(super) fn unmark_match(
    d: &TransactionalTree,
    deltas: &mut Deltas,
    partner: &str,
    exit_seq: u64,
) -> TxResult<()> {
    d.remove(review_key(partner, exit_seq))?;
    if let Some(v) = d.remove(mark_key(partner, exit_seq))?
        && v.len() >= 9
    {
        let band = if v[8] == b'L' {
            Band::Link
        } else {
            Band::Review
        };
        let port = String::from_utf8_lossy(&v[9..]);
        deltas.add_day(partner, unflip(&v), &port, band_field(band), -1);
    }
    Ok(())
}

/// Counts an acknowledged outbox entry as sent: a record in its cell; an
/// amendment moves the count from the record it replaces (a deletion only
/// takes it away), so "sent" matches what the partner holds and counts.
pub(super) fn count_sent(deltas: &mut Deltas, partner: &str, entry: &OutboxEntry) {
    if entry.record.amends().is_some()
        && let Some(old) = &entry.replaces
    {
        deltas.add(partner, old.at, &old.port, Field::Sent, -1);
    }
    if let Some(r) = entry.record.record() {
        deltas.add(partner, r.entered_at, &r.port_code, Field::Sent, 1);
    }
}

/// The highest sequence number counted as sent to `partner`.
pub(super) fn sent_mark(d: &TransactionalTree, partner: &str) -> TxResult<u64> {
    Ok(read_u64(d.get(sent_mark_key(partner))?))
}

pub(super) fn set_sent_mark(d: &TransactionalTree, partner: &str, upto: u64) -> TxResult<()> {
    d.insert(sent_mark_key(partner), &be(upto))?;
    Ok(())
}

/// The partner an `inbox`/`matches`/`outbox` key belongs to (`partner ‖ 0 ‖ seq`).
fn partner_of(key: &[u8]) -> String {
    String::from_utf8_lossy(&key[..key.len().saturating_sub(9)]).into_owned()
}

/// The whole `derived` tree as it should be, computed from the authoritative
/// trees. Used to build it for a store written before it existed, and by
/// tests to check that the incremental updates agree with it.
pub(super) fn from_scratch(s: &Store) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for kv in s.crossings.iter() {
        let (k, v) = kv?;
        let stored: StoredCrossing = decode("crossing", &v)?;
        if let Some(until) = stored.crossing.authorised_stay_until
            && !s.entry_matches.contains_key(&k)?
        {
            out.insert(
                open_stay_key(until, seq_of(&k)),
                stored.crossing.port_code.into_bytes(),
            );
        }
    }
    let mut cells: BTreeMap<Vec<u8>, Cell> = BTreeMap::new();
    let mut count = |partner: &str, at: Timestamp, port: &str, field: Field| {
        cells
            .entry(cell_key(partner, day_of(at), port))
            .or_default()
            .add(field, 1);
    };
    for kv in s.inbox.iter() {
        let (k, v) = kv?;
        // Amendments are logged under their own numbers and already applied
        // to the records they amend; tombstones count for nothing.
        if let Entry::Record(r) = decode::<Entry>("inbox record", &v)? {
            count(&partner_of(&k), r.entered_at, &r.port_code, Field::Received);
        }
    }
    for kv in s.matches.iter() {
        let (k, v) = kv?;
        let row: MatchRow = decode("match", &v)?;
        let partner = partner_of(&k);
        let Some(current) = s.inbox.get(&k)? else {
            continue;
        };
        let Entry::Record(r) = decode::<Entry>("inbox record", &current)? else {
            continue;
        };
        out.insert(mark_key(&partner, row.exit_seq), mark_value(&r, row.band));
        if row.band == Band::Review {
            out.insert(review_key(&partner, row.exit_seq), Vec::new());
        }
        count(&partner, r.entered_at, &r.port_code, band_field(row.band));
    }
    let mut sent_upto: BTreeMap<String, u64> = BTreeMap::new();
    for kv in s.outbox.iter() {
        let (k, v) = kv?;
        let partner = partner_of(&k);
        let upto = match sent_upto.get(&partner) {
            Some(n) => *n,
            None => {
                let n = s.sent_upto(&partner)?;
                sent_upto.insert(partner.clone(), n);
                n
            }
        };
        if seq_of(&k) > upto {
            continue;
        }
        let entry: OutboxEntry = decode("outbox entry", &v)?;
        let mut deltas = Deltas::default();
        count_sent(&mut deltas, &partner, &entry);
        for (key, changes) in deltas.0 {
            let cell = cells.entry(key).or_default();
            for (field, n) in changes {
                cell.add(field, n);
            }
        }
    }
    for (partner, upto) in sent_upto {
        out.insert(sent_mark_key(&partner), be(upto).to_vec());
    }
    // As `Deltas::apply` does: a cell that comes back to zero is not kept.
    for (k, cell) in cells {
        if cell != Cell::default() {
            out.insert(k, cell.encode().to_vec());
        }
    }
    Ok(out)
}

/// One open stay: an entry with an authorised stay and no linked exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenStay {
    pub authorised_stay_until: Timestamp,
    pub entry_id: u64,
    pub port: String,
}

/// One report cell with where it belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellAt {
    pub day: Day,
    pub port: String,
    pub cell: Cell,
}

impl Store {
    /// Builds the `derived` tree if this store has none of the current
    /// version (a store written by an older hub). Runs before any worker.
    pub(super) fn ensure_derived(&self) -> Result<()> {
        if self.counter(VERSION_KEY)? == VERSION {
            if self.counter(REVIEW_INDEX_KEY)? == 0 {
                for kv in self.matches.iter() {
                    let (k, v) = kv?;
                    let row: MatchRow = decode("match", &v)?;
                    if row.band == Band::Review {
                        self.derived
                            .insert(review_key(&partner_of(&k), row.exit_seq), &[])?;
                    }
                }
                self.meta.insert(REVIEW_INDEX_KEY, &be(1))?;
                self.flush()?;
            }
            return Ok(());
        }
        tracing::info!(
            "building the report counters and the overstay index from the stored records (once)"
        );
        self.derived.clear()?;
        for (k, v) in from_scratch(self)? {
            self.derived.insert(k, v)?;
        }
        // The version last: a crash before it means building again.
        self.meta.insert(REVIEW_INDEX_KEY, &be(1))?;
        self.meta.insert(VERSION_KEY, &be(VERSION))?;
        self.flush()
    }

    /// Differences between the `derived` tree and what the authoritative
    /// trees say it should be (empty when they agree): for tests and checks.
    /// Exact for a store never purged (see `forget_purged_crossing`).
    pub fn check_derived(&self) -> Result<Vec<String>> {
        let expected = from_scratch(self)?;
        let mut actual = BTreeMap::new();
        for kv in self.derived.iter() {
            let (k, v) = kv?;
            actual.insert(k.to_vec(), v.to_vec());
        }
        let mut problems = Vec::new();
        for (k, v) in &expected {
            match actual.get(k) {
                None => problems.push(format!("missing {}", describe(k, v))),
                Some(a) if a != v => problems.push(format!(
                    "{} but the tree holds {}",
                    describe(k, v),
                    describe(k, a)
                )),
                Some(_) => {}
            }
        }
        for (k, v) in &actual {
            if !expected.contains_key(k) {
                problems.push(format!("unexpected {}", describe(k, v)));
            }
        }
        Ok(problems)
    }

    /// `partner`'s received records whose match is in the clerical-review
    /// band, from `from` on, at most `max`, in sequence order.
    pub(super) fn review_seqs(&self, partner: &str, from: u64, max: usize) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for kv in self
            .derived
            .range(review_key(partner, from)..review_key(partner, u64::MAX))
            .take(max)
        {
            let (k, _) = kv?;
            out.push(seq_of(&k));
        }
        Ok(out)
    }

    /// Open stays whose authorised stay ended before `before`, oldest first.
    /// Reads only open stays: entries with a linked exit are not in the index.
    pub fn open_stays_before(
        &self,
        before: Timestamp,
        mut visit: impl FnMut(OpenStay) -> bool,
    ) -> Result<()> {
        let start = open_stay_key(i64::MIN, 0);
        let end = open_stay_key(before, 0);
        for kv in self.derived.range(start..end) {
            let (k, v) = kv?;
            let stay = OpenStay {
                authorised_stay_until: unflip(&k[1..9]),
                entry_id: seq_of(&k),
                port: String::from_utf8_lossy(&v).into_owned(),
            };
            if !visit(stay) {
                break;
            }
        }
        Ok(())
    }

    /// The report cells of `partner` for days in `from..to` (either open).
    pub fn report_cells(
        &self,
        partner: &str,
        from: Option<Day>,
        to: Option<Day>,
    ) -> Result<Vec<CellAt>> {
        let prefix = partner_prefix(CELL, partner);
        let mut start = prefix.clone();
        start.extend_from_slice(&flip(from.unwrap_or(i64::MIN)));
        let mut end = prefix.clone();
        match to {
            Some(to) => end.extend_from_slice(&flip(to)),
            // Past every day of this partner, before the next partner.
            None => end.extend_from_slice(&[0xff; 9]),
        }
        let mut out = Vec::new();
        for kv in self.derived.range(start..end) {
            let (k, v) = kv?;
            let rest = &k[prefix.len()..];
            out.push(CellAt {
                day: unflip(rest),
                port: String::from_utf8_lossy(&rest[8..]).into_owned(),
                cell: Cell::decode(&v),
            });
        }
        Ok(out)
    }
}

fn describe(key: &[u8], value: &[u8]) -> String {
    match key.first() {
        Some(&OPEN_STAY) => format!(
            "open stay of entry {} until {}",
            seq_of(key),
            crate::record::format_time(unflip(&key[1..]))
        ),
        Some(&CELL) => {
            let zero = key.iter().position(|b| *b == 0).unwrap_or(key.len() - 1);
            let partner = String::from_utf8_lossy(&key[1..zero]);
            let rest = &key[zero + 1..];
            format!(
                "cell {partner} day {} port {}: {:?}",
                unflip(rest),
                String::from_utf8_lossy(&rest[8..]),
                Cell::decode(value)
            )
        }
        Some(&IN_REVIEW) => format!("in review {}", String::from_utf8_lossy(key)),
        Some(&MARK) => format!(
            "match mark {} → {:?}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(value)
        ),
        _ => format!(
            "{} → {:?}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(value)
        ),
    }
}
