//! The audit log: who read whose records and why, and who changed what.
//!
//! One JSON object per line in `<data_dir>/audit.log`, appended and synced to
//! disk before the request it records is answered. Each entry carries the
//! SHA-256 of the previous one (`prev`) and its own (`hash`, over `prev` and
//! the entry with `hash` empty), so editing or deleting any line breaks the
//! chain from there on, which `entrex audit verify` reports by line. Cutting
//! lines off the end leaves a valid shorter chain: the current head (count
//! and hash) is published in `GET /v1/status`, and `verify --head` checks a
//! copy against it.
//!
//! Durability: an entry counts (its request goes on, the head moves) only
//! once it is written whole and `fdatasync` returned; the log keeps the
//! length of that synced prefix. A write that fails partway (disk full)
//! is cut back to it at once, so the next entry never lands on a fragment.
//! A failed sync makes the log untrusted: after one, the kernel may have
//! dropped the unwritten pages and cleared the error, so a later sync can
//! succeed with the entry not on disk (PostgreSQL's "fsyncgate", 2018).
//! Nothing is written to an untrusted log until it is opened again, cut to
//! the synced length, and synced successfully; until then every audited
//! request is refused. At open, a torn tail (bytes after the last newline:
//! a write cut short by a crash or a full disk) is cut off and the repair
//! recorded as an entry of its own, saying what was cut.
//!
//! What a caller controls is bounded before it is written: a target longer
//! than [`MAX_TARGET_BYTES`] is cut, saying how long it was. Requests
//! refused for want of a valid credential (401) are not written one by
//! one, since anyone who can reach the port could then fill the disk: they
//! are counted in memory and written as one summary entry saying how many
//! per route: before the next entry, else after [`SUMMARY_INTERVAL`], and
//! at shutdown (a hub killed loses at most that interval's counts).
//! Refusals of an authenticated caller (403) are written one by one: the
//! caller is named and answerable.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::Timestamp;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest target written as it came. Targets name whose records were
/// asked for (`document_country=DEU&document_number=C01X00T47`: well under
/// 100 bytes); a query thousands of bytes long is not a lookup anyone
/// needs to read back whole, and writing it whole lets a caller grow the
/// log by the size of a URI per request.
pub const MAX_TARGET_BYTES: usize = 256;

/// The longest outcome written as it came (outcomes are the hub's own
/// messages, which quote a configured name or a route; bounded in case
/// one ever quotes more).
const MAX_OUTCOME_BYTES: usize = 1024;

/// How often the requests refused for want of a credential are written as
/// one summary entry. An attack shows in the log within a minute; a flood
/// costs one line a minute.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Who the summaries of refused requests name.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// `text` if it has at most `max` bytes, else its first bytes up to `max`
/// (on a character boundary) and a marker saying how long it was.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut at {end} of {} bytes]", &text[..end], text.len())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: Timestamp,
    /// The principal: a token's or certificate's configured name, or a partner.
    pub who: String,
    /// How they authenticated: token, client certificate, none.
    pub via: String,
    /// Method and path, e.g. `GET /v1/quarantine`.
    pub action: String,
    /// The query, without the purpose: whose records were asked for.
    pub target: String,
    /// Why, as the caller stated it (personal-data reads).
    pub purpose: Option<String>,
    /// "allowed", or "denied (401|403): why".
    pub outcome: String,
    pub prev: String,
    pub hash: String,
}

impl AuditEntry {
    fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let body = serde_json::to_string(&unhashed).expect("JSON encoding cannot fail");
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(body.as_bytes());
        hex::encode(h.finalize())
    }
}

/// The end of the chain: how many entries and the last one's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub entries: u64,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit log {path}, line {line}: {detail}")]
    Broken {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    /// An earlier failure left the file's content on disk unknown; nothing is
    /// written to it until durability is re-established.
    #[error(
        "audit log {path} is not trusted since {why}; re-establishing it (reopen, cut to the {durable} bytes last synced, sync) failed: {source}"
    )]
    Untrusted {
        path: PathBuf,
        why: String,
        durable: u64,
        source: std::io::Error,
    },
}

pub struct AuditLog {
    path: PathBuf,
    state: Mutex<State>,
    /// Refusals without a credential not yet written (apart from `state`,
    /// so counting never waits for the disk).
    refusals: Mutex<Refusals>,
    #[cfg(test)]
    faults: Mutex<Faults>,
}

/// The open file and what is known to be on disk.
struct State {
    file: std::fs::File,
    head: Head,
    /// The file's length up to the end of `head`'s entry, synced: what a
    /// failed write is cut back to.
    durable: u64,
    /// Why the file's content past `durable` (or at all) is not known to be
    /// on disk; `None` while it is.
    untrusted: Option<String>,
}

/// Faults injected by the unit tests: a write cut short, failed syncs.
#[cfg(test)]
#[derive(Default)]
struct Faults {
    /// The next write stops after this many bytes, with ENOSPC.
    short_write: Option<usize>,
    /// The next this-many syncs fail with EIO.
    failed_syncs: u32,
}

/// What a request did, for the log.
#[derive(Clone, Debug)]
pub struct Event {
    pub who: String,
    pub via: String,
    pub action: String,
    pub target: String,
    pub purpose: Option<String>,
    pub outcome: String,
}

/// Requests refused for want of a valid credential since the last summary.
#[derive(Default)]
struct Refusals {
    /// Per action (`METHOD /path`, one of the hub's routes: a bounded set).
    by_action: BTreeMap<String, u64>,
    first: Option<Timestamp>,
    last: Timestamp,
}

impl AuditLog {
    /// Opens (or creates) the log and finds its head. The chain is not
    /// re-verified here (`entrex audit verify` does that); appending goes on
    /// from the last line, so any break stays visible. A torn tail is cut
    /// off and the repair recorded (see the module's documentation); a last
    /// complete line that is not an entry is refused (that is an edit, not
    /// a write cut short).
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(io)?;
        // A new file's name must survive a power cut as well as its entries
        // (the directory of the file itself, if `path` is a link to it).
        sync_parent(&std::fs::canonicalize(path).map_err(io)?).map_err(io)?;
        let ending = scan(path).map_err(io)?;
        let mut head = Head {
            entries: 0,
            hash: GENESIS.into(),
        };
        if let Some(line) = &ending.last_line {
            let entry: AuditEntry =
                serde_json::from_slice(line).map_err(|e| AuditError::Broken {
                    path: path.to_owned(),
                    line: ending.lines,
                    detail: format!(
                        "the last line is not an audit entry ({e}); run `entrex audit verify`"
                    ),
                })?;
            head = Head {
                entries: entry.seq,
                hash: entry.hash,
            };
        }
        let log = AuditLog {
            path: path.to_owned(),
            state: Mutex::new(State {
                file,
                head,
                durable: ending.complete,
                untrusted: None,
            }),
            refusals: Mutex::default(),
            #[cfg(test)]
            faults: Mutex::default(),
        };
        if !ending.torn.is_empty() {
            log.repair(&ending)?;
        }
        Ok(log)
    }

    /// Cuts the torn tail off and records that it did. If the repair entry
    /// cannot be written, the tail is put back, so a repair is never made
    /// without its record.
    fn repair(&self, ending: &Ending) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let torn = &ending.torn;
        let printable: String = String::from_utf8_lossy(torn)
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        let target = format!(
            "{} bytes after entry {}, from byte {} (sha256 {}), began: {}",
            torn.len(),
            state.head.entries,
            ending.complete,
            hex::encode(Sha256::digest(torn)),
            bounded(&printable, 64)
        );
        // Not the bytes themselves: they may name whose records were asked
        // for, which belongs in the audit log, not in the process's logs.
        tracing::warn!(
            path = %self.path.display(),
            "the audit log ends with {} bytes of a torn entry (a write cut short) after entry {}; cutting them off and recording the repair",
            torn.len(),
            state.head.entries
        );
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        state.file.set_len(ending.complete).map_err(io)?;
        let event = Event {
            who: "entrex".into(),
            via: "start-up".into(),
            action: "audit log repair".into(),
            target,
            purpose: None,
            outcome: "torn tail cut off: a write cut short by a crash or a full disk; the entry it began was never acknowledged".into(),
        };
        if let Err(e) = self.append_locked(&mut state, &event) {
            let restored = state
                .file
                .set_len(ending.complete)
                .and_then(|()| state.file.write_all(torn))
                .and_then(|()| state.file.sync_data());
            if let Err(undo) = restored {
                tracing::error!("cannot put the torn tail back either: {undo}");
            }
            return Err(e);
        }
        Ok(())
    }

    /// [`AuditLog::record`] on tokio's blocking pool: the write and its
    /// fsync, and the wait for the log's lock, never hold a runtime worker
    /// (on two cores, two slow syncs would otherwise stop every connection).
    pub async fn append(self: &Arc<Self>, event: Event) -> Result<(), AuditError> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.record(&event))
            .await
            .unwrap_or_else(|e| {
                Err(AuditError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!("the audit task failed: {e}")),
                })
            })
    }

    /// Appends one entry and syncs it to disk, after the summary of the
    /// refusals counted since the last one (so entries stay in the order
    /// things happened, and a summary shows as soon as anything else is
    /// logged). Blocking.
    pub fn record(&self, event: &Event) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.summarise(&mut state)?;
        self.append_locked(&mut state, event)
    }

    /// Counts a request to `action` refused for want of a valid credential,
    /// for the next summary. In memory only: never waits, never fails.
    pub fn count_refusal(&self, action: &str) {
        let now = crate::exchange::now();
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        *refusals.by_action.entry(action.to_owned()).or_default() += 1;
        refusals.first.get_or_insert(now);
        refusals.last = now;
    }

    /// Writes the refusals counted since the last summary as one entry, if
    /// there were any; returns how many. Blocking.
    pub fn write_summary(&self) -> Result<u64, AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.summarise(&mut state)
    }

    /// The summary entry of the refusals counted so far, if any. If it
    /// cannot be written, the counts are kept for the next attempt.
    fn summarise(&self, state: &mut State) -> Result<u64, AuditError> {
        let taken = std::mem::take(&mut *self.refusals.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(first) = taken.first else {
            return Ok(0);
        };
        let total: u64 = taken.by_action.values().sum();
        let target = taken
            .by_action
            .iter()
            .map(|(action, n)| format!("{action}: {n}"))
            .collect::<Vec<_>>()
            .join("; ");
        let event = Event {
            who: UNAUTHENTICATED.into(),
            via: "none".into(),
            action: "requests refused without a credential (summary)".into(),
            target,
            purpose: None,
            outcome: format!(
                "denied (401) x{total}: no credential or an unknown one, from {} to {}; counted in memory, written at most once per {} s or before the next entry",
                crate::record::format_time(first),
                crate::record::format_time(taken.last),
                SUMMARY_INTERVAL.as_secs()
            ),
        };
        if let Err(e) = self.append_locked(state, &event) {
            let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            for (action, n) in taken.by_action {
                *refusals.by_action.entry(action).or_default() += n;
            }
            refusals.first = Some(refusals.first.map_or(first, |f| f.min(first)));
            refusals.last = refusals.last.max(taken.last);
            return Err(e);
        }
        Ok(total)
    }

    /// Appends one entry, with the log's lock held: whole and synced, or
    /// not at all (the file cut back to its synced length), or the log
    /// untrusted until [`AuditLog::reestablish`] succeeds.
    fn append_locked(&self, state: &mut State, event: &Event) -> Result<(), AuditError> {
        self.reestablish(state)?;
        let mut entry = AuditEntry {
            seq: state.head.entries + 1,
            at: crate::exchange::now(),
            who: event.who.clone(),
            via: event.via.clone(),
            action: event.action.clone(),
            target: bounded(&event.target, MAX_TARGET_BYTES),
            purpose: event.purpose.clone(),
            outcome: bounded(&event.outcome, MAX_OUTCOME_BYTES),
            prev: state.head.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        let mut line = serde_json::to_string(&entry).expect("JSON encoding cannot fail");
        line.push('\n');
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        if let Err(e) = self.write(&mut state.file, line.as_bytes()) {
            // Part of the line may be in the file (a full disk takes what
            // fits): cut it off now, or the next entry would be appended to
            // the fragment and the log stop being a chain.
            if let Err(undo) = state.file.set_len(state.durable) {
                state.untrusted = Some(format!(
                    "a write failed ({e}) and cutting the file back to {} bytes failed too ({undo})",
                    state.durable
                ));
            }
            return Err(io(e));
        }
        if let Err(e) = self.sync(&state.file) {
            // Never retried and believed: see the module's documentation.
            state.untrusted = Some(format!("fsync failed ({e})"));
            tracing::error!(path = %self.path.display(), "audit log fsync failed ({e}); refusing audited requests until it is reopened and synced");
            return Err(io(e));
        }
        state.durable += line.len() as u64;
        state.head = Head {
            entries: entry.seq,
            hash: entry.hash,
        };
        Ok(())
    }

    /// Makes an untrusted log durable again, or says why not: a new
    /// descriptor (the old one's error state is not to be relied on), the
    /// file cut to the length last synced (whatever was written after it
    /// may or may not be on disk), and a sync that succeeds.
    fn reestablish(&self, state: &mut State) -> Result<(), AuditError> {
        let Some(why) = &state.untrusted else {
            return Ok(());
        };
        let attempt = || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .read(true)
                .open(&self.path)?;
            let length = file.metadata()?.len();
            if length < state.durable {
                return Err(std::io::Error::other(format!(
                    "the file has {length} bytes, fewer than the {} synced before: entries that were on disk are gone",
                    state.durable
                )));
            }
            file.set_len(state.durable)?;
            self.sync(&file)?;
            Ok(file)
        };
        match attempt() {
            Ok(file) => {
                tracing::warn!(path = %self.path.display(), "audit log durable again after: {why}");
                state.file = file;
                state.untrusted = None;
                Ok(())
            }
            Err(source) => Err(AuditError::Untrusted {
                path: self.path.clone(),
                why: why.clone(),
                durable: state.durable,
                source,
            }),
        }
    }

    fn write(&self, file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.faults().short_write.take() {
            file.write_all(&bytes[..n.min(bytes.len())])?;
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        file.write_all(bytes)
    }

    fn sync(&self, file: &std::fs::File) -> std::io::Result<()> {
        #[cfg(test)]
        {
            let mut faults = self.faults();
            if faults.failed_syncs > 0 {
                faults.failed_syncs -= 1;
                return Err(std::io::Error::from_raw_os_error(5)); // EIO
            }
        }
        file.sync_data()
    }

    #[cfg(test)]
    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap()
    }

    pub fn head(&self) -> Head {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .head
            .clone()
    }

    /// The last `max` entries, oldest first: of the synced entries only.
    pub fn tail(&self, max: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entries = read_prefix(&self.path, state.durable)?;
        Ok(entries[entries.len().saturating_sub(max)..].to_vec())
    }
}

/// How a log file ends.
struct Ending {
    /// Complete lines (ending with a newline).
    lines: u64,
    /// The last complete line that is not blank.
    last_line: Option<Vec<u8>>,
    /// The length of the complete lines: where a torn tail begins.
    complete: u64,
    /// Bytes after the last newline: a write cut short.
    torn: Vec<u8>,
}

fn scan(path: &Path) -> std::io::Result<Ending> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut ending = Ending {
        lines: 0,
        last_line: None,
        complete: 0,
        torn: Vec::new(),
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(ending);
        }
        if line.last() != Some(&b'\n') {
            ending.torn = std::mem::take(&mut line);
            return Ok(ending);
        }
        ending.lines += 1;
        ending.complete += n as u64;
        if !line.trim_ascii().is_empty() {
            ending.last_line = Some(line.clone());
        }
    }
}

/// Syncs the directory holding `path`, so a file created in it stays.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => std::fs::File::open(".")?.sync_all(),
    }
}

/// Writes the summary of refusals without a credential every
/// [`SUMMARY_INTERVAL`] until `stop` turns true (`Hub::shutdown` writes the
/// last one once the server has stopped).
pub async fn run_summaries(log: Arc<AuditLog>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SUMMARY_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        let writer = log.clone();
        match tokio::task::spawn_blocking(move || writer.write_summary()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::warn!(
                "{n} requests to audited routes refused without a valid credential in the last {} s (summarised in the audit log)",
                SUMMARY_INTERVAL.as_secs()
            ),
            Ok(Err(e)) => tracing::error!("cannot write the summary of refused requests: {e}"),
            Err(e) => tracing::error!("the audit summary task failed: {e}"),
        }
    }
}

#[cfg(test)]
fn read_all(path: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    read_prefix(path, u64::MAX)
}

/// The entries in the first `length` bytes of the log.
fn read_prefix(path: &Path, length: u64) -> Result<Vec<AuditEntry>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader = std::io::BufReader::new(std::io::Read::take(file, length));
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| AuditError::Broken {
            path: path.to_owned(),
            line: i as u64 + 1,
            detail: format!("not an audit entry: {e}"),
        })?);
    }
    Ok(out)
}

/// Checks the whole chain; returns its head, or the first line that breaks it.
pub fn verify(path: &Path) -> Result<Head, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut head = Head {
        entries: 0,
        hash: GENESIS.into(),
    };
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        let broken = |detail: String| AuditError::Broken {
            path: path.to_owned(),
            line: i as u64 + 1,
            detail,
        };
        if line.trim().is_empty() {
            return Err(broken("an empty line: an entry was blanked".into()));
        }
        let entry: AuditEntry = serde_json::from_str(&line)
            .map_err(|e| broken(format!("not an audit entry ({e}): the line was edited")))?;
        if entry.seq != head.entries + 1 {
            return Err(broken(format!(
                "entry {} follows entry {}: {} entries were deleted or moved",
                entry.seq,
                head.entries,
                entry.seq.abs_diff(head.entries + 1)
            )));
        }
        if entry.prev != head.hash {
            return Err(broken(format!(
                "entry {} does not name the hash of the entry before it: an entry before it was edited, deleted or inserted",
                entry.seq
            )));
        }
        if entry.compute_hash() != entry.hash {
            return Err(broken(format!(
                "entry {} does not match its hash: it was edited after it was written",
                entry.seq
            )));
        }
        head = Head {
            entries: entry.seq,
            hash: entry.hash,
        };
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> String {
        format!("document_number=X{n}")
    }

    fn export(target: &str) -> Event {
        Event {
            who: "analyst-1".into(),
            via: "token".into(),
            action: "GET /v1/persons/export".into(),
            target: target.into(),
            purpose: Some("case 114".into()),
            outcome: "allowed".into(),
        }
    }

    fn write(path: &Path, n: usize) -> Head {
        let log = AuditLog::open(path).unwrap();
        for i in 0..n {
            log.record(&export(&event(i))).unwrap();
        }
        log.head()
    }

    #[test]
    fn an_intact_log_verifies_and_reopens_where_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        write(&path, 3);
        let head = write(&path, 2);
        assert_eq!(head.entries, 5);
        assert_eq!(verify(&path).unwrap(), head);
    }

    #[test]
    fn any_edit_deletion_or_insertion_is_found_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        write(&path, 5);
        let original = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = original.lines().collect();
        let check = |text: String, line: u64, words: &str| {
            std::fs::write(&path, text).unwrap();
            match verify(&path) {
                Err(AuditError::Broken {
                    line: l, detail, ..
                }) => {
                    assert_eq!(l, line, "{detail}");
                    assert!(detail.contains(words), "{detail}");
                }
                other => panic!("tampering not found: {other:?}"),
            }
        };
        // Edited: the purpose changed on line 3.
        check(
            original
                .replacen("case 114", "case 999", 3)
                .replacen("case 999", "case 114", 2),
            3,
            "edited",
        );
        // Deleted: line 2 gone.
        let mut deleted = lines.clone();
        deleted.remove(1);
        check(deleted.join("\n") + "\n", 2, "deleted");
        // Edited and re-hashed by someone without the rest of the chain.
        let mut forged: AuditEntry = serde_json::from_str(lines[1]).unwrap();
        forged.target = "document_number=SOMEONE".into();
        forged.hash = forged.compute_hash();
        let mut replaced = lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        replaced[1] = serde_json::to_string(&forged).unwrap();
        check(replaced.join("\n") + "\n", 3, "does not name the hash");
    }

    /// A write cut short (disk full, a crash) leaves part of a line at the
    /// end: the log opens, the part is cut off, the repair is an entry of its
    /// own saying what was cut, and the chain verifies.
    #[test]
    fn a_torn_tail_is_cut_off_at_open_and_the_repair_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        write(&path, 3);
        let intact = std::fs::read(&path).unwrap();
        let torn = b"{\"seq\":4,\"at\":1790000000,\"who\":\"analyst-1\",\"via\":\"tok";
        let mut bytes = intact.clone();
        bytes.extend_from_slice(torn);
        std::fs::write(&path, &bytes).unwrap();

        let log = AuditLog::open(&path).expect("a torn tail does not stop the hub");
        assert_eq!(log.head().entries, 4, "three entries and the repair");
        let after = std::fs::read(&path).unwrap();
        assert!(
            after.starts_with(&intact),
            "the intact entries are kept as they were"
        );
        assert_eq!(verify(&path).unwrap(), log.head());
        let entries = read_all(&path).unwrap();
        let repair = &entries[3];
        assert!(repair.action.contains("repair"), "{repair:?}");
        assert!(
            repair.target.contains(&format!("{} bytes", torn.len())),
            "{repair:?}"
        );
        assert!(repair.target.contains("after entry 3"), "{repair:?}");
        // Appending goes on from the repair.
        log.record(&export("document_number=X9")).unwrap();
        assert_eq!(verify(&path).unwrap().entries, 5);
        drop(log);
        // Reopening an intact log repairs nothing.
        assert_eq!(AuditLog::open(&path).unwrap().head().entries, 5);
    }

    /// A write that stops partway (the disk is full) fails its request and
    /// leaves nothing behind; the next one, once there is space, goes on the
    /// chain.
    #[test]
    fn a_write_cut_short_is_cut_back_and_the_next_entry_follows_the_last_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(&export("document_number=X1")).unwrap();
        let before = std::fs::read(&path).unwrap();
        log.faults().short_write = Some(40);
        let refused = log.record(&export("document_number=X2"));
        assert!(
            matches!(&refused, Err(AuditError::Io { source, .. }) if source.raw_os_error() == Some(28)),
            "{refused:?}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the fragment is gone"
        );
        assert_eq!(log.head().entries, 1);
        assert_eq!(log.tail(10).unwrap().len(), 1);
        log.record(&export("document_number=X3")).unwrap();
        assert_eq!(verify(&path).unwrap(), log.head());
        let targets: Vec<String> = read_all(&path)
            .unwrap()
            .into_iter()
            .map(|e| e.target)
            .collect();
        assert_eq!(targets, ["document_number=X1", "document_number=X3"]);
    }

    /// After a failed fsync nothing is written until the log has been
    /// reopened, cut to what was synced, and synced: while that fails, every
    /// request is refused; the entry whose sync failed is not kept.
    #[test]
    fn after_a_failed_fsync_nothing_is_acknowledged_until_durability_is_re_established() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(&export("document_number=X1")).unwrap();
        let synced = std::fs::read(&path).unwrap();
        // The entry's sync fails, then the first attempt to re-establish.
        log.faults().failed_syncs = 2;
        assert!(log.record(&export("document_number=X2")).is_err());
        assert_eq!(log.head().entries, 1, "the head does not move");
        assert_eq!(log.tail(10).unwrap().len(), 1, "nor does what is shown");
        let refused = log.record(&export("document_number=X3"));
        match &refused {
            Err(e @ AuditError::Untrusted { why, durable, .. }) => {
                assert!(why.contains("fsync failed"), "{e}");
                assert_eq!(*durable, synced.len() as u64);
            }
            other => panic!("not refused as untrusted: {other:?}"),
        }
        // Re-established: the unsynced entry is cut off, the new one follows
        // the last synced one.
        log.record(&export("document_number=X4")).unwrap();
        let targets: Vec<String> = read_all(&path)
            .unwrap()
            .into_iter()
            .map(|e| e.target)
            .collect();
        assert_eq!(targets, ["document_number=X1", "document_number=X4"]);
        assert_eq!(verify(&path).unwrap(), log.head());
        assert!(std::fs::read(&path).unwrap().starts_with(&synced));
    }

    #[test]
    fn a_last_complete_line_that_is_not_an_entry_is_refused_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        write(&path, 2);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"edited by hand\n");
        std::fs::write(&path, &bytes).unwrap();
        match AuditLog::open(&path) {
            Err(AuditError::Broken { line, detail, .. }) => {
                assert_eq!(line, 3);
                assert!(detail.contains("not an audit entry"), "{detail}");
            }
            other => panic!("opened: {:?}", other.map(|l| l.head())),
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was cut");
    }

    #[test]
    fn a_long_target_is_cut_saying_how_long_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        // Multi-byte characters across the cut.
        let target = format!("note={}", "é".repeat(40_000));
        log.record(&export(&target)).unwrap();
        let entries = read_all(&path).unwrap();
        let written = &entries[0].target;
        assert!(written.len() < MAX_TARGET_BYTES + 64, "{written}");
        assert!(written.starts_with("note=éé"), "{written}");
        assert!(written.ends_with("of 80005 bytes]"), "{written}");
        assert_eq!(verify(&path).unwrap().entries, 1);
    }

    #[test]
    fn refusals_without_a_credential_are_written_as_one_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.write_summary().unwrap(), 0, "nothing to summarise");
        for _ in 0..1000 {
            log.count_refusal("GET /v1/persons/export");
        }
        log.count_refusal("GET /v1/audit");
        assert_eq!(log.write_summary().unwrap(), 1001);
        assert_eq!(log.write_summary().unwrap(), 0);
        let entries = read_all(&path).unwrap();
        assert_eq!(entries.len(), 1);
        let summary = &entries[0];
        assert_eq!(summary.who, UNAUTHENTICATED);
        assert_eq!(
            summary.target,
            "GET /v1/audit: 1; GET /v1/persons/export: 1000"
        );
        assert!(
            summary.outcome.starts_with("denied (401) x1001: "),
            "{}",
            summary.outcome
        );
        assert!(std::fs::metadata(&path).unwrap().len() < 1024);
        verify(&path).unwrap();
    }

    #[test]
    fn counted_refusals_are_summarised_before_the_next_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.count_refusal("GET /v1/audit");
        log.record(&export("document_number=X1")).unwrap();
        let entries = read_all(&path).unwrap();
        let whom: Vec<&str> = entries.iter().map(|e| e.who.as_str()).collect();
        assert_eq!(whom, [UNAUTHENTICATED, "analyst-1"]);
        assert_eq!(log.write_summary().unwrap(), 0);
    }

    /// The log's lock held elsewhere (a slow disk, another request's fsync):
    /// an append waits on the blocking pool, and the runtime's only thread
    /// goes on running other tasks.
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_append_does_not_hold_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(&dir.path().join("audit.log")).unwrap());
        let (locked, release) = (
            std::sync::mpsc::channel::<()>(),
            std::sync::mpsc::channel::<()>(),
        );
        let holder = {
            let log = log.clone();
            let (locked, release) = (locked.0, release.1);
            std::thread::spawn(move || {
                let _state = log.state.lock().unwrap();
                locked.send(()).unwrap();
                release.recv().unwrap();
            })
        };
        locked.1.recv().unwrap();
        let append = tokio::spawn({
            let log = log.clone();
            async move { log.append(export("document_number=X1")).await }
        });
        let mut ticks = 0;
        while ticks < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticks += 1;
        }
        assert!(!append.is_finished(), "the append waited for the lock");
        release.0.send(()).unwrap();
        holder.join().unwrap();
        append.await.unwrap().unwrap();
        assert_eq!(log.head().entries, 1);
    }
}
