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

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::Timestamp;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
}

/// What a request did, for the log.
pub struct Event<'a> {
    pub who: &'a str,
    pub via: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub purpose: Option<&'a str>,
    pub outcome: &'a str,
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
        })
    }

    /// Appends one entry and syncs it to disk.
    pub fn record(&self, event: &Event<'_>) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (file, head) = &mut *state;
        let mut entry = AuditEntry {
            seq: head.entries + 1,
            at: crate::exchange::now(),
            who: event.who.to_owned(),
            via: event.via.to_owned(),
            action: event.action.to_owned(),
            target: event.target.to_owned(),
            purpose: event.purpose.map(str::to_owned),
            outcome: event.outcome.to_owned(),
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

    fn write(path: &Path, n: usize) -> Head {
        let log = AuditLog::open(path).unwrap();
        for i in 0..n {
            let target = event(i);
            log.record(&Event {
                who: "analyst-1",
                via: "token",
                action: "GET /v1/persons/export",
                target: &target,
                purpose: Some("case 114"),
                outcome: "allowed",
            })
            .unwrap();
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
}
