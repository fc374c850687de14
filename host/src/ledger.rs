//! The sealed ledger for analytics engines: `entrex ledger export` writes the
//! bundles of the evidence directories as Apache Parquet, after verifying
//! them as `entrex verify` does; `entrex ledger export-matches` writes a
//! hub's own matching decisions next to them (`ledger/matches.rs`).
//!
//! Layout of an export directory (Hive-style partitions, which DuckDB,
//! Spark, Trino and pandas read as columns):
//!
//! ```text
//! OUT/records/direction=CA-US/day=2026-11-21/part-000000000001.parquet
//! OUT/bundles/direction=CA-US/day=2026-11-21/part-000000000001.parquet
//! OUT/matches/direction=US-CA/day=2026-11-21/part-0.parquet   (export-matches, at CA)
//! OUT/_ledger/manifest.json                                 (what is exported)
//! ```
//!
//! `direction` is `SENDER-RECEIVER`; in `records` and `bundles`, `day` is the
//! UTC day the bundle was *sealed*: the ledger grows in that order, so an
//! incremental run only adds files and never rewrites one. Each record row
//! also carries `entered_day`, the UTC day of the crossing, which is what the
//! joint report counts by. The columns are [`RECORDS`] and [`BUNDLES`]
//! (`docs/ledger.md` lists them); [`SCHEMA_VERSION`] is in every file's
//! footer and in the manifest.
//!
//! Only acknowledged bundles are exported: a bundle with a receipt (the
//! receiver's signature over its hash) is final, while a bundle still
//! awaiting its receipt may be sealed again (key rotation, entries set
//! aside) and waits for a later run.
//!
//! Crash safety (kill -9 at any instant): data files are written under a
//! temporary name, synced and renamed, their directories synced, and only
//! then is the manifest (which lists every data file and where each stream
//! stopped) replaced the same way. A run first deletes temporary files and
//! data files the manifest does not list (a run killed before its manifest),
//! so a killed run leaves an export that reads as the previous one and the
//! next run completes it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::{self, BundleHead, Keyring, Opened, ReceiptPayload};
use crate::presence::{Day, day_of};
use crate::record::{Entry, SharedRecord};

pub mod matches;
pub mod table;

use table::{Column, Kind, TableWriter, Value};

/// The version of the tables' columns and the layout; written in the
/// manifest and in every file's key-value metadata (`entrex.ledger.schema`).
/// A change that renames, retypes or removes a column raises it.
pub const SCHEMA_VERSION: u32 = 1;

/// Key-value metadata key in each Parquet footer.
pub const SCHEMA_KEY: &str = "entrex.ledger.schema";

const MANIFEST: &str = "_ledger/manifest.json";
const LOCK: &str = "_ledger/lock";
const MANIFEST_FORMAT: &str = "entrex ledger export";

const fn col(name: &'static str, kind: Kind, nullable: bool, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable,
        doc,
    }
}

/// `records`: one row per entry of a sealed bundle (a shared record, or an
/// amendment of one), in the sender's sequence.
pub const RECORDS: &[Column] = &[
    col(
        "sender",
        Kind::Text,
        false,
        "hub that sealed the bundle (e.g. CA)",
    ),
    col(
        "receiver",
        Kind::Text,
        false,
        "hub it was sent to (e.g. US)",
    ),
    col(
        "seq",
        Kind::Int,
        false,
        "sequence number in the sender's stream to the receiver (dense from 1)",
    ),
    col(
        "kind",
        Kind::Text,
        false,
        "record, correction (replaces record `amends`), deletion (withdraws record `amends`) or set_aside (a placeholder for an entry the receiver refused)",
    ),
    col(
        "amends",
        Kind::Int,
        true,
        "for a correction or deletion: the sequence number of the record it amends",
    ),
    col("given_names", Kind::Text, true, "shared element"),
    col("middle_names", Kind::Text, true, "shared element"),
    col("family_name", Kind::Text, true, "shared element"),
    col(
        "date_of_birth",
        Kind::Text,
        true,
        "shared element, YYYY-MM-DD with 00 for an unknown month or day",
    ),
    col(
        "nationality",
        Kind::Text,
        true,
        "shared element, ICAO 9303 code",
    ),
    col("sex", Kind::Text, true, "shared element: F, M or X"),
    col("document_type", Kind::Text, true, "shared element"),
    col("document_number", Kind::Text, true, "shared element"),
    col(
        "document_country",
        Kind::Text,
        true,
        "shared element, ICAO 9303 code of the issuing state",
    ),
    col(
        "entered_at",
        Kind::Time,
        true,
        "shared element: date and time of entry into the sender's country (UTC)",
    ),
    col(
        "entered_day",
        Kind::Date,
        true,
        "UTC day of entered_at (the day the joint report counts the record on)",
    ),
    col(
        "port_code",
        Kind::Text,
        true,
        "shared element: port of entry into the sender's country",
    ),
    col(
        "bundle_first_seq",
        Kind::Int,
        false,
        "first sequence number of the bundle that carried it (joins bundles.first_seq)",
    ),
    col(
        "bundle_sha256",
        Kind::Text,
        false,
        "SHA-256 of that bundle (hex; joins bundles.bundle_sha256)",
    ),
    col(
        "sealed_at",
        Kind::Time,
        false,
        "when the sender sealed the bundle (UTC)",
    ),
];

/// `bundles`: one row per sealed bundle, with its receipt.
pub const BUNDLES: &[Column] = &[
    col("sender", Kind::Text, false, "hub that sealed the bundle"),
    col("receiver", Kind::Text, false, "hub it was sent to"),
    col(
        "first_seq",
        Kind::Int,
        false,
        "first sequence number it carries",
    ),
    col(
        "last_seq",
        Kind::Int,
        false,
        "last sequence number it carries",
    ),
    col("entries", Kind::Int, false, "last_seq - first_seq + 1"),
    col(
        "bundle_sha256",
        Kind::Text,
        false,
        "SHA-256 of the sealed COSE_Sign1 message (hex)",
    ),
    col(
        "prev_bundle_sha256",
        Kind::Text,
        true,
        "SHA-256 of the sender's previous bundle to the receiver (null for the first): the chain",
    ),
    col(
        "merkle_root",
        Kind::Text,
        false,
        "RFC 9162 Merkle tree hash over its entries (hex)",
    ),
    col(
        "sealed_at",
        Kind::Time,
        false,
        "when the sender sealed it (UTC)",
    ),
    col(
        "key_id",
        Kind::Text,
        false,
        "id of the sender's key that signed it (hex)",
    ),
    col(
        "received_at",
        Kind::Time,
        false,
        "when the receiver stored it, as its signed receipt says (UTC)",
    ),
    col(
        "receipt_sha256",
        Kind::Text,
        false,
        "SHA-256 of the receipt (hex)",
    ),
    col(
        "purged",
        Kind::Text,
        false,
        "no: its entries are in records; yes: its entries were purged after their retention period before this export, only its signed head was kept",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "--key {0:?}: write HUB=PATH, e.g. CA=keys/ca.pub.pem (each key must say which hub it belongs to: the export names every bundle's sender and receiver, and a receipt must be signed by its receiver)"
    )]
    UnboundKey(String),
    #[error(transparent)]
    Key(#[from] crate::verify::VerifyError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no evidence: no .cose file under it", .0.display())]
    NoEvidence(PathBuf),
    #[error(
        "nothing was exported: the evidence does not verify ({} problem{}):\n{}",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    Refused(Vec<String>),
    #[error(
        "{}: another export is writing into this directory now (it holds {LOCK}); wait until it ends",
        .0.display()
    )]
    Busy(PathBuf),
    #[error(
        "{}: {detail}; export into a new directory (or remove this one to start over)",
        path.display()
    )]
    Manifest { path: PathBuf, detail: String },
    #[error("writing {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("reading the hub's matches: {0}")]
    Source(String),
    #[error(
        "{} changed while it was exported (its SHA-256 is not the one verified a moment before); nothing of this run was kept: run the export again",
        .0.display()
    )]
    Changed(PathBuf),
}

type Result<T, E = LedgerError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The columns of every table as Markdown, the way `docs/ledger.md` lists
/// them (a test checks that it does).
pub fn schema_markdown() -> String {
    let mut out = String::new();
    for (table, columns) in [
        ("records", RECORDS),
        ("bundles", BUNDLES),
        ("matches", matches::MATCHES),
    ] {
        out.push_str(&format!(
            "### `{table}`\n\n| column | type | null | what |\n|---|---|---|---|\n"
        ));
        for c in columns {
            let ty = match c.kind {
                Kind::Text => "STRING (UTF-8 BYTE_ARRAY)",
                Kind::Int => "INT64",
                Kind::Time => "TIMESTAMP (INT64 µs, UTC)",
                Kind::Date => "DATE (INT32 days)",
                Kind::Float => "DOUBLE",
            };
            let null = if c.nullable { "yes" } else { "no" };
            out.push_str(&format!("| `{}` | {ty} | {null} | {} |\n", c.name, c.doc));
        }
        out.push('\n');
    }
    out
}

/// The keyring for an export: every key must name its hub (`HUB=PATH`).
pub fn keyring(args: &[String]) -> Result<Keyring> {
    if let Some(arg) = args.iter().find(|a| !a.contains('=')) {
        return Err(LedgerError::UnboundKey(arg.clone()));
    }
    Ok(crate::verify::keyring(args)?)
}

/// What to export.
pub struct ExportOptions {
    /// Evidence directories (`DATA_DIR/evidence`, or `to-P`/`from-P` in it),
    /// or single files.
    pub evidence: Vec<PathBuf>,
    pub keyring: Keyring,
    pub out: PathBuf,
    /// Bundles sealed before this UTC day are verified (the chain needs
    /// them) but not written.
    pub since: Option<Day>,
}

/// What one stream (sender → receiver) holds in an export.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub sender: String,
    pub receiver: String,
    /// The last sequence number exported (verified and acknowledged).
    pub last_seq: u64,
    /// The hash of the bundle ending at `last_seq`: the next must name it.
    pub last_bundle_sha256: String,
    pub bundles: u64,
    pub rows: u64,
}

/// `_ledger/manifest.json`: written last by each run; what it does not list
/// is not part of the export.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub schema_version: u32,
    /// First UTC day written (`--since` of the first run), if one was given.
    pub since: Option<String>,
    /// Per direction (`CA-US`).
    pub streams: BTreeMap<String, StreamState>,
    /// Per evidence directory read (absolute path): the highest `N` of its
    /// `KIND-N.cose` files exported, so later runs skip them unread. Only
    /// for directories holding one stream, as a hub's `to-P`/`from-P` do.
    pub sources: BTreeMap<String, u64>,
    /// Every data file of the export, relative to its directory.
    pub files: BTreeSet<String>,
    /// When the last run ended (RFC 3339).
    pub updated_at: String,
}

impl Manifest {
    fn new() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            schema_version: SCHEMA_VERSION,
            ..Manifest::default()
        }
    }
}

/// What a run did.
#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub out: PathBuf,
    /// Bundles and rows written by this run.
    pub bundles: u64,
    pub rows: u64,
    /// Files written by this run and their bytes, and of those the
    /// `records` files' bytes (what the records themselves take).
    pub files: u64,
    pub bytes: u64,
    pub records_bytes: u64,
    /// Evidence files read (the rest were skipped as exported before).
    pub evidence_read: u64,
    pub streams: Vec<StreamState>,
    /// Bundles not exported yet, and why (awaiting their receipt).
    pub pending: Vec<String>,
    /// Files a killed earlier run left, deleted before this one.
    pub cleaned: u64,
    pub seconds: f64,
}

impl ExportSummary {
    pub fn render(&self) -> String {
        let mut s = format!(
            "exported {} bundles ({} rows) into {} in {:.1} s: {} files, {} bytes{}\n",
            self.bundles,
            self.rows,
            self.out.display(),
            self.seconds,
            self.files,
            self.bytes,
            if self.rows > 0 {
                format!(
                    " ({:.1} bytes per record in records/)",
                    self.records_bytes as f64 / self.rows as f64
                )
            } else {
                String::new()
            }
        );
        for st in &self.streams {
            s.push_str(&format!(
                "  {} → {}: sequence 1..={} exported ({} bundles, {} rows in all)\n",
                st.sender, st.receiver, st.last_seq, st.bundles, st.rows
            ));
        }
        for p in &self.pending {
            s.push_str(&format!("  not yet: {p}\n"));
        }
        if self.cleaned > 0 {
            s.push_str(&format!(
                "  removed {} files an interrupted earlier run left\n",
                self.cleaned
            ));
        }
        s
    }
}

/// One verified evidence file.
struct Found {
    path: PathBuf,
    sha256: Vec<u8>,
    what: Evidence,
}

enum Evidence {
    Bundle {
        head: BundleHead,
        kid: Vec<u8>,
    },
    /// A purged bundle's signed head.
    Head {
        head: BundleHead,
        kid: Vec<u8>,
    },
    Receipt(ReceiptPayload),
}

/// A bundle chosen for export: verified, chained and acknowledged.
struct Chosen<'a> {
    found: &'a Found,
    head: &'a BundleHead,
    kid: &'a [u8],
    /// The bundle's hash (for a purged one, as its receipt names it).
    sha256: Vec<u8>,
    receipt: &'a Found,
    receipt_payload: &'a ReceiptPayload,
    purged: bool,
}

/// `bundle-000000000042.cose` → ("bundle", 42).
fn evidence_name(path: &Path) -> Option<(String, u64)> {
    let name = path.file_name()?.to_str()?.strip_suffix(".cose")?;
    let (kind, n) = name.rsplit_once('-')?;
    Some((kind.to_owned(), n.parse().ok()?))
}

/// Runs one export; see the module's documentation.
pub fn export(options: &ExportOptions) -> Result<ExportSummary> {
    let started = std::time::Instant::now();
    let out = &options.out;
    std::fs::create_dir_all(out.join("_ledger")).map_err(io(out))?;
    let lock_path = out.join(LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(LedgerError::Busy(out.clone()));
    }
    let mut manifest = read_manifest(out)?;
    let cleaned = clean(out, &manifest)?;

    // Read and verify what is new.
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut read = 0u64;
    // Directory → streams seen in it and its highest N.
    let mut dirs: BTreeMap<PathBuf, (BTreeSet<(String, String)>, u64)> = BTreeMap::new();
    for given in &options.evidence {
        if !given.exists() {
            return Err(LedgerError::Io {
                path: given.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
        let files = crate::verify::expand(std::slice::from_ref(given)).map_err(io(given))?;
        if files.is_empty() {
            return Err(LedgerError::NoEvidence(given.clone()));
        }
        for path in files {
            let dir = path
                .parent()
                .and_then(|d| std::fs::canonicalize(d).ok())
                .unwrap_or_default();
            let named = evidence_name(&path);
            let done = manifest
                .sources
                .get(&dir.display().to_string())
                .copied()
                .unwrap_or(0);
            if named.as_ref().is_some_and(|(_, n)| *n <= done) {
                continue;
            }
            read += 1;
            match open(&path, &options.keyring) {
                Ok(f) => {
                    let entry = dirs.entry(dir).or_default();
                    let (sender, receiver) = f.stream();
                    entry.0.insert((sender.to_owned(), receiver.to_owned()));
                    if let Some((_, n)) = named {
                        entry.1 = entry.1.max(n);
                    }
                    found.push(f);
                }
                Err(why) => problems.push(format!("{}: {why}", path.display())),
            }
        }
    }

    // Chain each stream from where the export stopped.
    let mut by_stream: BTreeMap<(String, String), Vec<&Found>> = BTreeMap::new();
    for f in &found {
        let (s, r) = f.stream();
        by_stream
            .entry((s.to_owned(), r.to_owned()))
            .or_default()
            .push(f);
    }
    let mut plan: Vec<(String, Vec<Chosen>)> = Vec::new();
    let mut pending = Vec::new();
    for ((sender, receiver), files) in &by_stream {
        let direction = format!("{sender}-{receiver}");
        let state = manifest
            .streams
            .get(&direction)
            .cloned()
            .unwrap_or_default();
        let prev = hex::decode(&state.last_bundle_sha256).unwrap_or_default();
        let chosen = chain(
            sender,
            receiver,
            files,
            state.last_seq + 1,
            prev,
            &mut problems,
            &mut pending,
        );
        plan.push((direction, chosen));
    }
    if !problems.is_empty() {
        return Err(LedgerError::Refused(problems));
    }

    // Write.
    let mut written = Written::default();
    for (direction, chosen) in &plan {
        if chosen.is_empty() {
            continue;
        }
        let state = manifest
            .streams
            .entry(direction.clone())
            .or_insert_with(|| StreamState {
                sender: chosen
                    .first()
                    .map(|c| c.head.sender.clone())
                    .unwrap_or_default(),
                receiver: chosen
                    .first()
                    .map(|c| c.head.receiver.clone())
                    .unwrap_or_default(),
                ..StreamState::default()
            });
        write_stream(out, direction, chosen, options.since, state, &mut written)?;
    }
    // The data files' names are durable before the manifest lists them.
    for dir in &written.dirs {
        sync_dir(dir)?;
    }
    crate::failpoint::hit("ledger:manifest");
    for (dir, (streams, highest)) in dirs {
        let key = dir.display().to_string();
        // A directory of one stream, all of it exported up to `highest`:
        // its files up to there need not be read again. (Files past an
        // unacknowledged bundle are read again next time.)
        if let [(sender, receiver)] = streams.iter().collect::<Vec<_>>()[..] {
            let upto = manifest
                .streams
                .get(&format!("{sender}-{receiver}"))
                .map_or(0, |s| s.last_seq);
            let exported_first = plan
                .iter()
                .flat_map(|(_, c)| c.iter())
                .filter(|c| c.head.sender == *sender && c.head.receiver == *receiver)
                .map(|c| c.head.first_seq)
                .max();
            let done = exported_first.unwrap_or(0).min(highest);
            if done > 0 && done <= upto {
                let slot = manifest.sources.entry(key).or_insert(0);
                *slot = (*slot).max(done);
            }
        }
    }
    manifest.files.extend(written.files.iter().cloned());
    if manifest.since.is_none() {
        manifest.since = options.since.map(crate::report::date);
    }
    manifest.updated_at = crate::record::format_time(crate::exchange::now());
    write_manifest(out, &manifest)?;
    drop(lock);
    Ok(ExportSummary {
        out: out.clone(),
        bundles: written.bundles,
        rows: written.rows,
        files: written.files.len() as u64,
        bytes: written.bytes,
        records_bytes: written.records_bytes,
        evidence_read: read,
        streams: manifest.streams.values().cloned().collect(),
        pending,
        cleaned,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl Found {
    fn stream(&self) -> (&str, &str) {
        match &self.what {
            Evidence::Bundle { head, .. } | Evidence::Head { head, .. } => {
                (&head.sender, &head.receiver)
            }
            Evidence::Receipt(r) => (&r.sender, &r.receiver),
        }
    }
}

/// Reads and verifies one evidence file: the signature (with the key of the
/// hub it claims to come from), for a bundle its signed head and Merkle
/// root, for a receipt that its receiver signed it.
fn open(path: &Path, keyring: &Keyring) -> std::result::Result<Found, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let (verified, opened) = bundle::open_any(&bytes, keyring).map_err(|e| e.to_string())?;
    let what = match opened {
        Opened::Bundle(b) => Evidence::Bundle {
            head: b.head(),
            kid: verified.kid,
        },
        Opened::Head(h) => {
            if h.sender != verified.signer {
                return Err(format!(
                    "a bundle head signed by {}'s key but naming {} as its sender",
                    verified.signer, h.sender
                ));
            }
            Evidence::Head {
                head: h,
                kid: verified.kid,
            }
        }
        Opened::Receipt(r) => Evidence::Receipt(r),
        Opened::PluginSignature(_) => {
            return Err(
                "a plugin signature, not a bundle, head or receipt: it has no place among a hub's evidence"
                    .into(),
            );
        }
    };
    Ok(Found {
        path: path.to_owned(),
        sha256: bundle::sha256(&bytes),
        what,
    })
}

/// The bundles of one stream to export, in order from `next`: each must
/// start where the previous ended, name its hash, and be acknowledged by a
/// receipt naming its own hash. Stops at the first bundle awaiting its
/// receipt; what cannot be chained is a problem naming the file.
fn chain<'a>(
    sender: &str,
    receiver: &str,
    files: &[&'a Found],
    mut next: u64,
    mut prev: Vec<u8>,
    problems: &mut Vec<String>,
    pending: &mut Vec<String>,
) -> Vec<Chosen<'a>> {
    let mut bundles: BTreeMap<u64, Vec<&Found>> = BTreeMap::new();
    let mut receipts: BTreeMap<u64, Vec<(&Found, &ReceiptPayload)>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for f in files {
        match &f.what {
            Evidence::Bundle { head, .. } | Evidence::Head { head, .. } => {
                // The same bundle kept by both hubs is one link.
                if seen.insert(f.sha256.clone()) {
                    bundles.entry(head.first_seq).or_default().push(f);
                }
            }
            Evidence::Receipt(r) => receipts.entry(r.first_seq).or_default().push((f, r)),
        }
    }
    let before = problems.len();
    // Where the chain stopped short of the receipts given: a bundle with no
    // receipt (awaiting it, or its copy missing) or no bundle at all.
    let mut unacknowledged: Option<&Found> = None;
    let mut out: Vec<Chosen> = Vec::new();
    loop {
        let candidates = bundles.remove(&next).unwrap_or_default();
        let acks = receipts.remove(&next).unwrap_or_default();
        if candidates.is_empty() {
            if let Some((r, payload)) = acks.first() {
                problems.push(format!(
                    "{}: acknowledges {sender}'s bundle {}..={}, but no bundle-{:012}.cose or head-{:012}.cose is among the evidence given",
                    r.path.display(),
                    payload.first_seq,
                    payload.last_seq,
                    next,
                    next
                ));
            }
            break;
        }
        if acks.is_empty() {
            unacknowledged = candidates.first().copied();
            break;
        }
        // The bundle a receipt names: by hash, or for a purged bundle (only
        // its head is kept) by range, its hash known from the receipt.
        let mut pick = None;
        for (r, payload) in &acks {
            for c in &candidates {
                match &c.what {
                    Evidence::Bundle { head, kid } if c.sha256 == payload.bundle_sha256 => {
                        pick = Some((c, head, kid, c.sha256.clone(), *r, *payload, false));
                    }
                    Evidence::Head { head, kid }
                        if head.last_seq == payload.last_seq && pick.is_none() =>
                    {
                        pick = Some((
                            c,
                            head,
                            kid,
                            payload.bundle_sha256.clone(),
                            *r,
                            *payload,
                            true,
                        ));
                    }
                    _ => {}
                }
            }
        }
        let Some((found, head, kid, sha256, receipt, receipt_payload, purged)) = pick else {
            let (r, payload) = acks[0];
            problems.push(format!(
                "{}: acknowledges {sender}'s bundle {}..={} with hash {}, but {} hashes to {}: the bundle given is not the one the receiver stored",
                r.path.display(),
                payload.first_seq,
                payload.last_seq,
                hex::encode(&payload.bundle_sha256),
                candidates[0].path.display(),
                hex::encode(&candidates[0].sha256)
            ));
            break;
        };
        if receipt_payload.last_seq != head.last_seq {
            problems.push(format!(
                "{}: acknowledges {}..={}, but {} carries {}..={}",
                receipt.path.display(),
                receipt_payload.first_seq,
                receipt_payload.last_seq,
                found.path.display(),
                head.first_seq,
                head.last_seq
            ));
            break;
        }
        if head.prev_bundle_sha256 != prev {
            problems.push(format!(
                "{}: names {} as the previous bundle's hash, but the bundle before it (ending at {}) hashes to {}: the chain is broken here",
                found.path.display(),
                hex::encode(&head.prev_bundle_sha256),
                next - 1,
                hex::encode(&prev)
            ));
            break;
        }
        prev = sha256.clone();
        next = head.last_seq + 1;
        out.push(Chosen {
            found,
            head,
            kid,
            sha256,
            receipt,
            receipt_payload,
            purged,
        });
    }
    // Anything acknowledged beyond where the chain stopped is cut off from it.
    let beyond = receipts
        .iter()
        .filter(|(first, _)| **first > next)
        .flat_map(|(_, rs)| rs.iter())
        .next();
    if problems.len() == before {
        match (beyond, unacknowledged) {
            (Some((r, _)), Some(u)) => problems.push(format!(
                "{}: no receipt for it is among the evidence given, but later bundles of {sender} → {receiver} are acknowledged ({} is one): its receipt-{next:012}.cose is missing",
                u.path.display(),
                r.path.display()
            )),
            (Some((r, payload)), None) => problems.push(format!(
                "{sender} → {receiver}: records {next}..={} are missing: no bundle or head starting at {next} is among the evidence given, but {} acknowledges a bundle starting at {}",
                payload.first_seq - 1,
                r.path.display(),
                payload.first_seq
            )),
            (None, Some(u)) => {
                if let Evidence::Bundle { head, .. } = &u.what {
                    pending.push(format!(
                        "{sender} → {receiver} bundle {}..={} ({}) awaits its receipt; it is exported once acknowledged",
                        head.first_seq,
                        head.last_seq,
                        u.path.display()
                    ));
                }
            }
            (None, None) => {}
        }
    }
    out
}

#[derive(Default)]
struct Written {
    files: Vec<String>,
    dirs: BTreeSet<PathBuf>,
    bundles: u64,
    rows: u64,
    bytes: u64,
    records_bytes: u64,
}

/// An open data file of one partition.
struct Part {
    table: &'static str,
    final_path: PathBuf,
    temp: PathBuf,
    relative: String,
    writer: TableWriter<std::io::BufWriter<std::fs::File>>,
}

impl Part {
    fn create(
        out: &Path,
        table: &'static str,
        columns: &'static [Column],
        direction: &str,
        day: Day,
        first_seq: u64,
    ) -> Result<Part> {
        let relative = format!(
            "{table}/direction={direction}/day={}/part-{first_seq:012}.parquet",
            crate::report::date(day)
        );
        let final_path = out.join(&relative);
        let dir = final_path.parent().expect("a partition has a directory");
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let temp = dir.join(format!(".part-{first_seq:012}.parquet.tmp"));
        let file = std::fs::File::create(&temp).map_err(io(&temp))?;
        let writer = TableWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            table,
            columns,
            vec![
                (SCHEMA_KEY.into(), SCHEMA_VERSION.to_string()),
                ("entrex.ledger.table".into(), table.into()),
                ("entrex.ledger.direction".into(), direction.into()),
            ],
        )
        .map_err(|source| LedgerError::Parquet {
            path: temp.clone(),
            source,
        })?;
        Ok(Part {
            table,
            final_path,
            temp,
            relative,
            writer,
        })
    }

    fn push(&mut self, row: Vec<Value>) -> Result<()> {
        self.writer
            .push(row)
            .map_err(|source| LedgerError::Parquet {
                path: self.temp.clone(),
                source,
            })
    }

    /// Footer, sync, rename into place.
    fn finish(self, written: &mut Written) -> Result<()> {
        let parquet = |source| LedgerError::Parquet {
            path: self.temp.clone(),
            source,
        };
        let rows = self.writer.rows();
        let sink = self.writer.finish().map_err(parquet)?;
        let file = sink.into_inner().map_err(|e| LedgerError::Io {
            path: self.temp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&self.temp))?;
        let bytes = file.metadata().map_err(io(&self.temp))?.len();
        drop(file);
        std::fs::rename(&self.temp, &self.final_path).map_err(io(&self.final_path))?;
        crate::failpoint::hit("ledger:file");
        let dir = self
            .final_path
            .parent()
            .expect("a partition has a directory");
        // The partition's directory and the ones above it may be new.
        let mut d = Some(dir);
        for _ in 0..3 {
            if let Some(x) = d {
                written.dirs.insert(x.to_owned());
                d = x.parent();
            }
        }
        written.bytes += bytes;
        if self.table == "records" && rows > 0 {
            written.records_bytes += bytes;
        }
        written.files.push(self.relative);
        Ok(())
    }
}

fn write_stream(
    out: &Path,
    direction: &str,
    chosen: &[Chosen],
    since: Option<Day>,
    state: &mut StreamState,
    written: &mut Written,
) -> Result<()> {
    // One records file and one bundles file open at a time: the stream is
    // in sealing order, so a day's partition is written in one go.
    let mut open: Option<(Day, Part, Part)> = None;
    for c in chosen {
        let sealed_day = day_of(c.head.created_at);
        if since.is_none_or(|s| sealed_day >= s) {
            if open.as_ref().is_none_or(|(d, _, _)| *d != sealed_day) {
                if let Some((_, records, bundles)) = open.take() {
                    records.finish(written)?;
                    bundles.finish(written)?;
                }
                open = Some((
                    sealed_day,
                    Part::create(
                        out,
                        "records",
                        RECORDS,
                        direction,
                        sealed_day,
                        c.head.first_seq,
                    )?,
                    Part::create(
                        out,
                        "bundles",
                        BUNDLES,
                        direction,
                        sealed_day,
                        c.head.first_seq,
                    )?,
                ));
            }
            let (_, records, bundles) = open.as_mut().expect("opened above");
            let rows = if c.purged {
                0
            } else {
                write_records(records, c)?
            };
            bundles.push(bundle_row(c))?;
            written.bundles += 1;
            written.rows += rows;
            state.bundles += 1;
            state.rows += rows;
        }
        state.last_seq = c.head.last_seq;
        state.last_bundle_sha256 = hex::encode(&c.sha256);
    }
    if let Some((_, records, bundles)) = open.take() {
        records.finish(written)?;
        bundles.finish(written)?;
    }
    Ok(())
}

/// The entries of one bundle, read again and checked to be the bytes
/// verified a moment before.
fn write_records(part: &mut Part, c: &Chosen) -> Result<u64> {
    let path = &c.found.path;
    let bytes = std::fs::read(path).map_err(io(path))?;
    if bundle::sha256(&bytes) != c.sha256 {
        return Err(LedgerError::Changed(path.clone()));
    }
    let payload =
        bundle::stored_payload(&bytes).ok_or_else(|| LedgerError::Changed(path.clone()))?;
    let h = c.head;
    let sha = hex::encode(&c.sha256);
    let count = payload.records.len() as u64;
    for (i, entry) in payload.records.into_iter().enumerate() {
        let seq = h.first_seq + i as u64;
        let (kind, amends, record): (&str, Option<u64>, Option<SharedRecord>) = match entry {
            Entry::Record(r) => ("record", None, Some(r)),
            Entry::Correction { amends, record } => ("correction", Some(amends), Some(record)),
            Entry::Deletion { amends } => ("deletion", Some(amends), None),
            Entry::SetAside => ("set_aside", None, None),
        };
        let mut row = Vec::with_capacity(RECORDS.len());
        row.extend([
            Value::Text(h.sender.clone()),
            Value::Text(h.receiver.clone()),
            Value::Int(seq as i64),
            Value::Text(kind.into()),
            amends.map_or(Value::Null, |a| Value::Int(a as i64)),
        ]);
        match record {
            Some(r) => row.extend(record_values(r)),
            None => row.extend(std::iter::repeat_n(Value::Null, 12)),
        }
        row.extend([
            Value::Int(h.first_seq as i64),
            Value::Text(sha.clone()),
            Value::Time(h.created_at),
        ]);
        part.push(row)?;
    }
    Ok(count)
}

/// The eleven elements (and the day of entry), in [`RECORDS`] order.
fn record_values(r: SharedRecord) -> [Value; 12] {
    let dob = r.date_of_birth;
    [
        Value::Text(r.given_names),
        Value::Text(r.middle_names),
        Value::Text(r.family_name),
        Value::Text(format!(
            "{:04}-{:02}-{:02}",
            dob.year,
            dob.month.unwrap_or(0),
            dob.day.unwrap_or(0)
        )),
        Value::Text(r.nationality),
        Value::Text(format!("{:?}", r.sex)),
        Value::Text(r.document_type),
        Value::Text(r.document_number),
        Value::Text(r.document_country),
        Value::Time(r.entered_at),
        Value::Date(day_of(r.entered_at)),
        Value::Text(r.port_code),
    ]
}

fn bundle_row(c: &Chosen) -> Vec<Value> {
    let h = c.head;
    vec![
        Value::Text(h.sender.clone()),
        Value::Text(h.receiver.clone()),
        Value::Int(h.first_seq as i64),
        Value::Int(h.last_seq as i64),
        Value::Int((h.last_seq - h.first_seq + 1) as i64),
        Value::Text(hex::encode(&c.sha256)),
        if h.prev_bundle_sha256.is_empty() {
            Value::Null
        } else {
            Value::Text(hex::encode(&h.prev_bundle_sha256))
        },
        Value::Text(hex::encode(&h.merkle_root)),
        Value::Time(h.created_at),
        Value::Text(hex::encode(c.kid)),
        Value::Time(c.receipt_payload.received_at),
        Value::Text(hex::encode(&c.receipt.sha256)),
        Value::Text(if c.purged { "yes" } else { "no" }.into()),
    ]
}

fn read_manifest(out: &Path) -> Result<Manifest> {
    let path = out.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::new()),
        Err(e) => return Err(io(&path)(e)),
    };
    let bad = |detail: String| LedgerError::Manifest {
        path: path.clone(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(MANIFEST_FORMAT) {
        return Err(bad(format!("not a manifest of an {MANIFEST_FORMAT}")));
    }
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(bad(format!(
            "the export was written with ledger schema version {}, and this entrex writes version {SCHEMA_VERSION}: the two must not be mixed in one directory",
            version.map_or("(none)".into(), |v| v.to_string())
        )));
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| bad(format!("unreadable ({e})")))?;
    for f in &manifest.files {
        if !out.join(f).exists() {
            return Err(bad(format!(
                "it lists {f}, which is missing: the directory was changed by hand"
            )));
        }
    }
    Ok(manifest)
}

fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let path = out.join(MANIFEST);
    let temp = out.join("_ledger/.manifest.json.tmp");
    let text = serde_json::to_string_pretty(manifest).expect("a manifest is JSON");
    let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
    file.write_all(text.as_bytes()).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, &path).map_err(io(&path))?;
    sync_dir(&out.join("_ledger"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Deletes what a killed run left: temporary files, and data files the
/// manifest does not list. Returns how many.
fn clean(out: &Path, manifest: &Manifest) -> Result<u64> {
    let mut removed = 0;
    for table in ["records", "bundles"] {
        let root = out.join(table);
        if !root.exists() {
            continue;
        }
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let mut touched = false;
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let path = entry.map_err(io(&dir))?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let relative = path
                    .strip_prefix(out)
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                let ours = (name.starts_with(".part-") && name.ends_with(".tmp"))
                    || (name.starts_with("part-")
                        && name.ends_with(".parquet")
                        && !manifest.files.contains(&relative));
                if ours {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                    removed += 1;
                    touched = true;
                }
            }
            if touched {
                sync_dir(&dir)?;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundlePayload, Signer, seal_bundle, seal_receipt};
    use crate::record::{PartialDate, Sex};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// 2026-11-21T00:00:00Z.
    const DAY0: i64 = 1_795_219_200;

    fn record(n: u64) -> SharedRecord {
        SharedRecord {
            given_names: "ANNA".into(),
            family_name: format!("PERSON{n}"),
            middle_names: String::new(),
            date_of_birth: PartialDate {
                year: 1980,
                month: Some(6),
                day: None,
            },
            nationality: "SWE".into(),
            sex: Sex::F,
            document_type: "P".into(),
            document_number: format!("X{n}"),
            document_country: "SWE".into(),
            entered_at: DAY0 + n as i64 * 60,
            port_code: "0427".into(),
        }
    }

    struct Hubs {
        ca: Signer,
        us: Signer,
        keyring: Keyring,
        prev: Vec<u8>,
        next: u64,
    }

    impl Hubs {
        fn new() -> Hubs {
            let ca = Signer::new(ed25519_dalek::SigningKey::from_bytes(&[4; 32]));
            let us = Signer::new(ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
            let mut keyring = Keyring::default();
            keyring.add("CA", ca.verifying_key());
            keyring.add("US", us.verifying_key());
            Hubs {
                ca,
                us,
                keyring,
                prev: Vec::new(),
                next: 1,
            }
        }

        /// Seals a CA → US bundle of `entries` sealed at `at`, writes it to
        /// `dir/to-US` with (if `acknowledged`) US's receipt.
        fn bundle(
            &mut self,
            dir: &Path,
            entries: Vec<Entry>,
            at: i64,
            acknowledged: bool,
        ) -> PathBuf {
            let first = self.next;
            let payload = BundlePayload::new("CA", "US", first, at, self.prev.clone(), entries);
            let bytes = seal_bundle(&self.ca, &payload);
            let sha = bundle::sha256(&bytes);
            let to = dir.join("to-US");
            std::fs::create_dir_all(&to).unwrap();
            let path = to.join(format!("bundle-{first:012}.cose"));
            std::fs::write(&path, &bytes).unwrap();
            if acknowledged {
                let receipt = ReceiptPayload {
                    version: bundle::PAYLOAD_VERSION,
                    receiver: "US".into(),
                    sender: "CA".into(),
                    first_seq: first,
                    last_seq: payload.last_seq,
                    bundle_sha256: sha.clone(),
                    received_at: at + 5,
                };
                std::fs::write(
                    to.join(format!("receipt-{first:012}.cose")),
                    seal_receipt(&self.us, &receipt),
                )
                .unwrap();
                self.prev = sha;
                self.next = payload.last_seq + 1;
            }
            path
        }

        fn records(&mut self, dir: &Path, n: u64, at: i64) -> PathBuf {
            let entries = (self.next..self.next + n)
                .map(|i| Entry::Record(record(i)))
                .collect();
            self.bundle(dir, entries, at, true)
        }
    }

    fn options(h: &Hubs, evidence: &Path, out: &Path) -> ExportOptions {
        ExportOptions {
            evidence: vec![evidence.to_owned()],
            keyring: h.keyring.clone(),
            out: out.to_owned(),
            since: None,
        }
    }

    /// Rows of every Parquet file under `dir`, each as its fields' text.
    fn rows(dir: &Path) -> Vec<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            if !d.exists() {
                continue;
            }
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    let reader =
                        SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
                    for row in reader.get_row_iter(None).unwrap() {
                        let row = row.unwrap();
                        out.push(
                            row.get_column_iter()
                                .map(|(k, v)| (k.clone(), v.to_string()))
                                .collect(),
                        );
                    }
                }
            }
        }
        out
    }

    fn field<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
        &row.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn exports_acknowledged_bundles_and_adds_only_new_ones_later() {
        let ev = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut h = Hubs::new();
        h.records(ev.path(), 3, DAY0 + 100);
        h.bundle(
            ev.path(),
            vec![
                Entry::Correction {
                    amends: 2,
                    record: record(20),
                },
                Entry::Deletion { amends: 3 },
                Entry::SetAside,
            ],
            DAY0 + 200,
            true,
        );
        // Sealed on the next day, not acknowledged yet.
        let tail = h.bundle(
            ev.path(),
            vec![Entry::Record(record(7))],
            DAY0 + 86_400 + 5,
            false,
        );

        let summary = export(&options(&h, ev.path(), out.path())).unwrap();
        assert_eq!(
            (summary.bundles, summary.rows),
            (2, 6),
            "{}",
            summary.render()
        );
        assert!(
            summary.pending[0].contains("awaits its receipt"),
            "{:?}",
            summary.pending
        );
        let records = rows(&out.path().join("records"));
        assert_eq!(records.len(), 6);
        let correction = records.iter().find(|r| field(r, "seq") == "4").unwrap();
        assert_eq!(field(correction, "kind"), "\"correction\"");
        assert_eq!(field(correction, "amends"), "2");
        assert_eq!(field(correction, "family_name"), "\"PERSON20\"");
        assert_eq!(field(correction, "date_of_birth"), "\"1980-06-00\"");
        let deletion = records.iter().find(|r| field(r, "seq") == "5").unwrap();
        assert_eq!(field(deletion, "family_name"), "null");
        assert!(
            out.path()
                .join("records/direction=CA-US/day=2026-11-21/part-000000000001.parquet")
                .exists()
        );
        let bundles = rows(&out.path().join("bundles"));
        assert_eq!(bundles.len(), 2);

        // Its receipt arrives: the next run adds that bundle alone, and
        // reads only the files it has not exported (the tail's bundle and receipt).
        std::fs::remove_file(&tail).unwrap();
        h.next = 7;
        h.bundle(
            ev.path(),
            vec![Entry::Record(record(7))],
            DAY0 + 86_400 + 5,
            true,
        );
        let summary = export(&options(&h, ev.path(), out.path())).unwrap();
        assert_eq!(
            (summary.bundles, summary.rows),
            (1, 1),
            "{}",
            summary.render()
        );
        assert_eq!(summary.evidence_read, 2);
        assert!(summary.pending.is_empty());
        assert_eq!(rows(&out.path().join("records")).len(), 7);
        assert!(
            out.path()
                .join("records/direction=CA-US/day=2026-11-22/part-000000000007.parquet")
                .exists()
        );
        // Nothing new: nothing written.
        let summary = export(&options(&h, ev.path(), out.path())).unwrap();
        assert_eq!((summary.bundles, summary.files), (0, 0));
    }

    #[test]
    fn evidence_that_does_not_verify_is_refused_whole_naming_the_file() {
        let ev = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut h = Hubs::new();
        h.records(ev.path(), 2, DAY0);
        let second = h.records(ev.path(), 2, DAY0 + 10);
        h.records(ev.path(), 2, DAY0 + 20);
        let mut bytes = std::fs::read(&second).unwrap();
        let n = bytes.len();
        bytes[n - 80] ^= 1;
        std::fs::write(&second, &bytes).unwrap();
        let e = export(&options(&h, ev.path(), out.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bundle-000000000003.cose") && e.contains("nothing was exported"),
            "{e}"
        );
        assert!(!out.path().join(MANIFEST).exists());
        assert!(rows(&out.path().join("records")).is_empty());

        // A bundle missing from the middle: the gap is named.
        std::fs::remove_file(&second).unwrap();
        let e = export(&options(&h, ev.path(), out.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("records 3..=4 are missing") || e.contains("receipt-000000000003"),
            "{e}"
        );

        // A key given without its hub is refused before anything is read.
        assert!(matches!(
            keyring(&["keys/ca.pub.pem".into()]),
            Err(LedgerError::UnboundKey(_))
        ));
    }

    #[test]
    fn a_purged_bundle_is_a_bundles_row_without_records_and_the_chain_goes_on() {
        let ev = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut h = Hubs::new();
        // The first bundle's records were purged after their retention
        // period: only its signed head is kept, as `head-N.cose`.
        let first = h.records(ev.path(), 3, DAY0);
        let head = bundle::stored_payload(&std::fs::read(&first).unwrap())
            .unwrap()
            .head;
        std::fs::write(first.with_file_name("head-000000000001.cose"), head).unwrap();
        std::fs::remove_file(&first).unwrap();
        h.records(ev.path(), 2, DAY0 + 60);
        let summary = export(&options(&h, ev.path(), out.path())).unwrap();
        assert_eq!(
            (summary.bundles, summary.rows),
            (2, 2),
            "{}",
            summary.render()
        );
        let bundles = rows(&out.path().join("bundles"));
        let purged: Vec<&str> = bundles.iter().map(|b| field(b, "purged")).collect();
        assert!(
            purged.contains(&"\"yes\"") && purged.contains(&"\"no\""),
            "{bundles:?}"
        );
        let mut seqs: Vec<String> = rows(&out.path().join("records"))
            .iter()
            .map(|r| field(r, "seq").to_owned())
            .collect();
        seqs.sort();
        assert_eq!(seqs, ["4", "5"]);
    }

    #[test]
    fn docs_ledger_md_lists_every_column_of_this_schema_version() {
        let doc = include_str!("../../docs/ledger.md");
        assert!(
            doc.contains(&schema_markdown()),
            "docs/ledger.md must hold the tables as schema_markdown() writes them:\n{}",
            schema_markdown()
        );
        assert!(doc.contains(&format!("schema version {SCHEMA_VERSION}")));
    }

    #[test]
    fn what_a_killed_run_left_is_removed_and_written_again() {
        let ev = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut h = Hubs::new();
        h.records(ev.path(), 5, DAY0);
        export(&options(&h, ev.path(), out.path())).unwrap();
        h.records(ev.path(), 5, DAY0 + 86_400);
        // A run killed after renaming its data file, before its manifest,
        // and one killed while writing: both leave files the manifest does
        // not list.
        let dir = out.path().join("records/direction=CA-US/day=2026-11-22");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-000000000006.parquet"), b"PAR1 half").unwrap();
        std::fs::write(dir.join(".part-000000000006.parquet.tmp"), b"PAR1").unwrap();
        let summary = export(&options(&h, ev.path(), out.path())).unwrap();
        assert_eq!(summary.cleaned, 2);
        assert_eq!(summary.rows, 5);
        let all = rows(&out.path().join("records"));
        let mut seqs: Vec<u64> = all
            .iter()
            .map(|r| field(r, "seq").parse().unwrap())
            .collect();
        seqs.sort();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    }
}
