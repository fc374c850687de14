//! A hub's matching decisions for the analytics engines: `entrex ledger
//! export-matches` pages through `GET /v1/ledger/matches` (analyst role, a
//! stated purpose, every page audited by the hub) and writes one Parquet
//! table, `matches`, partitioned by direction and by the UTC day of the
//! exit, next to the ledger export.
//!
//! Through the running hub, not from its files: the store is the hub's
//! alone (sled holds a lock on it while the hub runs), the hub keeps
//! serving sources and partners during an export, and the hub's own access
//! control and audit log judge and record who read whose records and why,
//! as for every other read of personal data.
//!
//! Matches are decisions that change (a partner's correction re-matches an
//! exit, a late exit links an entry), so each export is a whole snapshot of
//! each direction: written aside (`_ledger/matches.new`), synced, and
//! swapped in by renames, so a reader or a kill -9 finds a direction's old
//! snapshot or its new one, never a mix (a kill between the two renames of
//! a swap leaves the old one aside, put back by the next run).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::{Column, Kind, TableWriter, Value};
use super::{LedgerError, SCHEMA_KEY, SCHEMA_VERSION, col, io, sync_dir};
use crate::hub::Core;
use crate::presence::day_of;
use crate::record::{Entry, Timestamp};
use crate::store::{Band, StoreError, counter};

/// Rows per page of `GET /v1/ledger/matches`, by default and at most.
pub const PAGE_ROWS: usize = 10_000;
pub const MAX_PAGE_ROWS: usize = 50_000;

/// `matches`: one row per exit record this hub holds from a partner (a
/// partner's entry record, current: after its corrections; withdrawn ones
/// are not exits any more), with what the hub's matching decided for it.
pub const MATCHES: &[Column] = &[
    col(
        "hub",
        Kind::Text,
        false,
        "the hub whose decisions these are",
    ),
    col(
        "partner",
        Kind::Text,
        false,
        "the partner whose entry record is this hub's exit record",
    ),
    col(
        "exit_seq",
        Kind::Int,
        false,
        "the exit record's sequence number in the partner's stream (joins records.seq where sender = partner)",
    ),
    col(
        "exit_at",
        Kind::Time,
        false,
        "when the traveller entered the partner's country, i.e. left this one (UTC)",
    ),
    col(
        "exit_day",
        Kind::Date,
        false,
        "UTC day of exit_at (the day the joint report counts the exit on)",
    ),
    col(
        "exit_port",
        Kind::Text,
        false,
        "port of entry into the partner's country",
    ),
    col(
        "entry_id",
        Kind::Int,
        true,
        "this hub's entry record it is matched to (null: none)",
    ),
    col(
        "entry_at",
        Kind::Time,
        true,
        "when that entry was made (UTC; null if none, or purged)",
    ),
    col(
        "entry_port",
        Kind::Text,
        true,
        "port of that entry into this hub's country",
    ),
    col(
        "score",
        Kind::Float,
        true,
        "the matcher plugin's score of the pair, 0 to 1",
    ),
    col(
        "band",
        Kind::Text,
        true,
        "link (at or above [matching] link_threshold) or review (between the thresholds)",
    ),
    col(
        "decision",
        Kind::Text,
        false,
        "linked (reconciled: the entry has its exit), review (a clerk is to decide), unmatched (examined, no entry scored high enough) or pending (not examined yet)",
    ),
];

/// One exit and what became of it (a row of `matches`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchExport {
    pub exit_seq: u64,
    pub exit_at: Timestamp,
    pub exit_port: String,
    pub entry_id: Option<u64>,
    pub entry_at: Option<Timestamp>,
    pub entry_port: Option<String>,
    pub score: Option<f64>,
    pub band: Option<Band>,
    pub decision: String,
}

/// One page of `GET /v1/ledger/matches`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchPage {
    pub hub: String,
    pub partner: String,
    /// Exits up to this sequence number have been examined by the matcher.
    pub match_cursor: u64,
    pub rows: Vec<MatchExport>,
    /// Give this as `after` for the next page; absent on the last page.
    pub next_after: Option<u64>,
}

/// The exits of `partner` after sequence number `after`: up to `limit`
/// entries of its stream are looked at (amendments and placeholders, which
/// are not exits, give no row).
pub fn page(core: &Core, partner: &str, after: u64, limit: usize) -> Result<MatchPage, StoreError> {
    let s = &core.store;
    let cursor = s.counter(&counter::match_cursor(partner))?;
    let entries = s.inbox_from(partner, after.saturating_add(1), limit)?;
    let next_after = (entries.len() == limit)
        .then(|| entries.last().map(|(seq, _)| *seq))
        .flatten();
    let mut rows = Vec::new();
    for (seq, entry) in entries {
        // Under its own number the inbox holds each record as it is now
        // (corrected, or a tombstone once withdrawn); an amendment is
        // logged under its own number too, and is not an exit.
        let Entry::Record(exit) = entry else {
            continue;
        };
        let m = s.match_for(partner, seq)?;
        let entry = match &m {
            Some(m) => s.crossing(m.entry_id)?,
            None => None,
        };
        rows.push(MatchExport {
            exit_seq: seq,
            exit_at: exit.entered_at,
            exit_port: exit.port_code,
            entry_id: m.as_ref().map(|m| m.entry_id),
            entry_at: entry.as_ref().map(|c| c.crossing.crossed_at),
            entry_port: entry.map(|c| c.crossing.port_code),
            score: m.as_ref().map(|m| m.score),
            band: m.as_ref().map(|m| m.band),
            decision: match m.map(|m| m.band) {
                Some(Band::Link) => "linked",
                Some(Band::Review) => "review",
                None if seq <= cursor => "unmatched",
                None => "pending",
            }
            .into(),
        });
    }
    Ok(MatchPage {
        hub: core.settings.hub_id.clone(),
        partner: partner.to_owned(),
        match_cursor: cursor,
        rows,
        next_after,
    })
}

/// What an export of matches wrote.
#[derive(Debug, Serialize)]
pub struct MatchesSummary {
    pub out: PathBuf,
    pub hub: String,
    /// Per partner: rows, and of them linked, review, unmatched, pending.
    pub partners: Vec<PartnerMatches>,
    pub files: u64,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct PartnerMatches {
    pub partner: String,
    pub rows: u64,
    pub linked: u64,
    pub review: u64,
    pub unmatched: u64,
    pub pending: u64,
}

impl MatchesSummary {
    pub fn render(&self) -> String {
        let mut s = format!(
            "exported {}'s matching decisions into {} in {:.1} s: {} files, {} bytes\n",
            self.hub,
            self.out.join("matches").display(),
            self.seconds,
            self.files,
            self.bytes
        );
        for p in &self.partners {
            s.push_str(&format!(
                "  exits from {}: {} ({} linked, {} in review, {} unmatched, {} not examined yet)\n",
                p.partner, p.rows, p.linked, p.review, p.unmatched, p.pending
            ));
        }
        s
    }
}

/// Files open at once while a snapshot is written: exits arrive roughly in
/// day order, so a few suffice; the least recently used is closed (a day
/// it gets rows for again gets another file) to bound memory.
const OPEN_FILES: usize = 16;

type Sink = TableWriter<std::io::BufWriter<std::fs::File>>;

/// The snapshot being written: files per (direction, exit day).
struct Snapshot {
    root: PathBuf,
    hub: String,
    /// (partner, day) → the open file, its path and when it was last used.
    open: std::collections::BTreeMap<(String, i64), (Sink, PathBuf, u64)>,
    parts: std::collections::BTreeMap<(String, i64), u32>,
    tick: u64,
    dirs: std::collections::BTreeSet<PathBuf>,
    files: u64,
    bytes: u64,
}

impl Snapshot {
    fn push(&mut self, partner: &str, row: &MatchExport) -> Result<(), LedgerError> {
        let day = day_of(row.exit_at);
        let key = (partner.to_owned(), day);
        self.tick += 1;
        if !self.open.contains_key(&key) {
            if self.open.len() >= OPEN_FILES {
                let oldest = self
                    .open
                    .iter()
                    .min_by_key(|(_, (_, _, used))| *used)
                    .map(|(k, _)| k.clone())
                    .expect("files are open");
                let (sink, path, _) = self.open.remove(&oldest).expect("found above");
                self.close(sink, &path)?;
            }
            let dir = self.root.join(format!(
                "direction={partner}-{}/day={}",
                self.hub,
                crate::report::date(day)
            ));
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let part = self.parts.entry(key.clone()).or_insert(0);
            let path = dir.join(format!("part-{part}.parquet"));
            *part += 1;
            let file = std::fs::File::create(&path).map_err(io(&path))?;
            let writer = TableWriter::new(
                std::io::BufWriter::with_capacity(1 << 20, file),
                "matches",
                MATCHES,
                vec![
                    (SCHEMA_KEY.into(), SCHEMA_VERSION.to_string()),
                    ("entrex.ledger.table".into(), "matches".into()),
                ],
            )
            .map_err(|source| LedgerError::Parquet {
                path: path.clone(),
                source,
            })?;
            self.open.insert(key.clone(), (writer, path, 0));
            self.dirs.insert(dir);
        }
        let (writer, path, used) = self.open.get_mut(&key).expect("opened above");
        *used = self.tick;
        writer
            .push(vec![
                Value::Text(self.hub.clone()),
                Value::Text(partner.to_owned()),
                Value::Int(row.exit_seq as i64),
                Value::Time(row.exit_at),
                Value::Date(day),
                Value::Text(row.exit_port.clone()),
                row.entry_id.map_or(Value::Null, |e| Value::Int(e as i64)),
                row.entry_at.map_or(Value::Null, Value::Time),
                row.entry_port.clone().map_or(Value::Null, Value::Text),
                row.score.map_or(Value::Null, Value::Float),
                row.band.map_or(Value::Null, |b| {
                    Value::Text(
                        match b {
                            Band::Link => "link",
                            Band::Review => "review",
                        }
                        .into(),
                    )
                }),
                Value::Text(row.decision.clone()),
            ])
            .map_err(|source| LedgerError::Parquet {
                path: path.clone(),
                source,
            })
    }

    fn close(&mut self, sink: Sink, path: &Path) -> Result<(), LedgerError> {
        let sink = sink.finish().map_err(|source| LedgerError::Parquet {
            path: path.to_owned(),
            source,
        })?;
        let file = sink.into_inner().map_err(|e| LedgerError::Io {
            path: path.to_owned(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(path))?;
        self.bytes += file.metadata().map_err(io(path))?.len();
        self.files += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(u64, u64), LedgerError> {
        for (_, (sink, path, _)) in std::mem::take(&mut self.open) {
            self.close(sink, &path)?;
        }
        for dir in &self.dirs {
            sync_dir(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        if self.root.exists() {
            sync_dir(&self.root)?;
        }
        Ok((self.files, self.bytes))
    }
}

/// Where the pages come from: the hub's API (the CLI), or a function (tests).
pub trait Source {
    fn page(&mut self, partner: &str, after: u64) -> Result<MatchPage, String>;
}

/// Exports every partner's exits with their decisions into
/// `out/matches/direction=PARTNER-HUB/`, replacing that direction's
/// previous snapshot. Each direction belongs to one hub (the receiver of
/// the records, whose decisions they are), so several hubs' exports share
/// one directory, and the joint report's two sides meet there.
pub fn export(
    source: &mut dyn Source,
    hub: &str,
    partners: &[String],
    out: &Path,
) -> Result<MatchesSummary, LedgerError> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(out.join("_ledger")).map_err(io(out))?;
    let lock_path = out.join(super::LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(LedgerError::Busy(out.to_owned()));
    }
    let staging = out.join("_ledger/matches.new");
    let old = out.join("_ledger/matches.old");
    let live = out.join("matches");
    std::fs::create_dir_all(&live).map_err(io(&live))?;
    // What a killed run left: a half-written snapshot, or (killed between
    // the two renames of a swap) a previous snapshot moved aside.
    remove_dir(&staging)?;
    if old.exists() {
        for entry in std::fs::read_dir(&old).map_err(io(&old))? {
            let aside = entry.map_err(io(&old))?.path();
            let back = live.join(aside.file_name().expect("a directory entry has a name"));
            if !back.exists() {
                std::fs::rename(&aside, &back).map_err(io(&back))?;
            }
        }
        remove_dir(&old)?;
    }
    let mut snapshot = Snapshot {
        root: staging.clone(),
        hub: hub.to_owned(),
        open: Default::default(),
        parts: Default::default(),
        tick: 0,
        dirs: Default::default(),
        files: 0,
        bytes: 0,
    };
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let mut summaries = Vec::new();
    for partner in partners {
        let mut summary = PartnerMatches {
            partner: partner.clone(),
            ..PartnerMatches::default()
        };
        let mut after = 0;
        loop {
            let page = source.page(partner, after).map_err(LedgerError::Source)?;
            for row in &page.rows {
                snapshot.push(partner, row)?;
                summary.rows += 1;
                match row.decision.as_str() {
                    "linked" => summary.linked += 1,
                    "review" => summary.review += 1,
                    "unmatched" => summary.unmatched += 1,
                    _ => summary.pending += 1,
                }
            }
            match page.next_after {
                Some(n) if n > after => after = n,
                _ => break,
            }
        }
        summaries.push(summary);
    }
    let (files, bytes) = snapshot.finish()?;
    // Swap each direction: the old snapshot aside, the new one in (a
    // direction without exits now has none), the old one gone.
    std::fs::create_dir_all(&old).map_err(io(&old))?;
    for partner in partners {
        let name = format!("direction={partner}-{hub}");
        let (new, current, aside) = (staging.join(&name), live.join(&name), old.join(&name));
        if current.exists() {
            std::fs::rename(&current, &aside).map_err(io(&aside))?;
        }
        crate::failpoint::hit("ledger:matches-swap");
        if new.exists() {
            std::fs::rename(&new, &current).map_err(io(&current))?;
        }
    }
    sync_dir(&live)?;
    sync_dir(&old)?;
    remove_dir(&old)?;
    remove_dir(&staging)?;
    drop(lock);
    Ok(MatchesSummary {
        out: out.to_owned(),
        hub: hub.to_owned(),
        partners: summaries,
        files,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn remove_dir(dir: &Path) -> Result<(), LedgerError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(dir)(e)),
        _ => Ok(()),
    }
}
