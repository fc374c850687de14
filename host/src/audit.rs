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
}

pub struct AuditLog {
    path: PathBuf,
    state: Mutex<(std::fs::File, Head)>,
    /// Refusals without a credential not yet written (apart from `state`,
    /// so counting never waits for the disk).
    refusals: Mutex<Refusals>,
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
    /// from the last line, so any break stays visible.
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
        let mut head = Head {
            entries: 0,
            hash: GENESIS.into(),
        };
        let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut last = None;
        for line in reader.lines() {
            let line = line.map_err(io)?;
            if !line.trim().is_empty() {
                last = Some(line);
            }
        }
        if let Some(line) = last {
            let entry: AuditEntry =
                serde_json::from_str(&line).map_err(|e| AuditError::Broken {
                    path: path.to_owned(),
                    line: 0,
                    detail: format!(
                        "the last line is not an audit entry ({e}); run `entrex audit verify`"
                    ),
                })?;
            head = Head {
                entries: entry.seq,
                hash: entry.hash,
            };
        }
        Ok(AuditLog {
            path: path.to_owned(),
            state: Mutex::new((file, head)),
            refusals: Mutex::default(),
        })
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
    fn summarise(&self, state: &mut (std::fs::File, Head)) -> Result<u64, AuditError> {
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

    /// Appends one entry, with the log's lock held.
    fn append_locked(
        &self,
        state: &mut (std::fs::File, Head),
        event: &Event,
    ) -> Result<(), AuditError> {
        let (file, head) = state;
        let mut entry = AuditEntry {
            seq: head.entries + 1,
            at: crate::exchange::now(),
            who: event.who.clone(),
            via: event.via.clone(),
            action: event.action.clone(),
            target: bounded(&event.target, MAX_TARGET_BYTES),
            purpose: event.purpose.clone(),
            outcome: bounded(&event.outcome, MAX_OUTCOME_BYTES),
            prev: head.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        let mut line = serde_json::to_string(&entry).expect("JSON encoding cannot fail");
        line.push('\n');
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        *head = Head {
            entries: entry.seq,
            hash: entry.hash,
        };
        Ok(())
    }

    pub fn head(&self) -> Head {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// The last `max` entries, oldest first.
    pub fn tail(&self, max: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let _hold = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entries = read_all(&self.path)?;
        Ok(entries[entries.len().saturating_sub(max)..].to_vec())
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

fn read_all(path: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
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
        assert!(
            repair.target.contains(&format!("after entry 3")),
            "{repair:?}"
        );
        // Appending goes on from the repair.
        log.record(&export("document_number=X9")).unwrap();
        assert_eq!(verify(&path).unwrap().entries, 5);
        drop(log);
        // Reopening an intact log repairs nothing.
        assert_eq!(AuditLog::open(&path).unwrap().head().entries, 5);
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
