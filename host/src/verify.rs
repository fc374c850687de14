//! Offline verification of bundles and receipts (`entrex verify`): what a
//! partner country or an auditor runs with nothing but the hub's public key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bundle::{self, Keyring, Opened, UNBOUND};
use crate::keys;
use crate::record::{Entry, format_time};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("--key {0:?}: write PATH or HUB=PATH, e.g. CA=keys/ca.pub.pem")]
    KeyArg(String),
}

/// Builds a keyring from `--key` arguments: `PATH` or `HUB=PATH`. With a hub
/// id, the payload must also name that hub as its signer.
pub fn keyring(args: &[String]) -> Result<Keyring, VerifyError> {
    let mut keyring = Keyring::default();
    for arg in args {
        let (owner, path) = match arg.split_once('=') {
            Some((owner, path)) if !owner.is_empty() && !path.is_empty() => (owner, path),
            Some(_) => return Err(VerifyError::KeyArg(arg.clone())),
            None => (UNBOUND, arg.as_str()),
        };
        keyring.add(owner, keys::load_public_key(Path::new(path))?);
    }
    Ok(keyring)
}

/// The outcome for one file: a description of what it holds, or what is wrong.
pub struct FileOutcome {
    pub path: PathBuf,
    pub result: Result<String, String>,
}

/// Files to check: each path as given, or for a directory, the `.cose` files in
/// it and in its subdirectories (as `entrex demo` and a hub's evidence lay them out).
pub fn expand(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect_cose(path, &mut found)?;
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn collect_cose(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_cose(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "cose") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `entrex verify` checks the chain across what it was given: only
/// when a directory is among it, taken as a hub's evidence (every bundle and
/// receipt it kept). Single files may be any part of a stream, so the bundles
/// missing before or after them say nothing about the stream.
pub fn checks_chain(given: &[PathBuf]) -> bool {
    given.iter().any(|p| p.is_dir())
}

/// What `entrex verify` says when it was given only files.
pub const CHAIN_NOT_CHECKED: &str = "chain not checked: only single files were given, and a file shows nothing of the bundles before or after it (each file was checked on its own: its signature, and for a bundle its signed head and Merkle root); give the evidence directory to check the whole chain (sequence gap-free from 1, each bundle naming the previous one's hash, each receipt matching a bundle)";

/// A verified bundle, kept to check the chain across files.
struct Link {
    path: PathBuf,
    /// The bundle's SHA-256; for a purged bundle (only its signed head kept),
    /// taken from the receiver's signed receipt.
    sha256: Vec<u8>,
    head: crate::bundle::BundleHead,
    purged: bool,
}

/// Verifies each file, then checks the bundles between each pair of hubs as a
/// whole: sequence numbers gap-free from 1, each bundle naming the previous one's
/// hash, each receipt matching a bundle. Returns the per-file outcomes and the
/// chain report (one line per direction, or what is wrong and where).
pub fn verify_files(
    paths: &[PathBuf],
    keyring: &Keyring,
) -> (Vec<FileOutcome>, Vec<Result<String, String>>) {
    let mut links = Vec::new();
    let mut receipts = Vec::new();
    let outcomes = paths
        .iter()
        .map(|path| FileOutcome {
            path: path.clone(),
            result: verify_file(path, keyring, &mut links, &mut receipts),
        })
        .collect();
    (outcomes, check_chains(links, receipts))
}

/// Verifies each file on its own (signature, and for a bundle its signed head
/// and Merkle root), without the chain across files (see [`checks_chain`]).
/// A receipt given with the bundle it names (same hubs and range) must carry
/// that bundle's hash; those pairs are returned, one line each.
pub fn verify_each(
    paths: &[PathBuf],
    keyring: &Keyring,
) -> (Vec<FileOutcome>, Vec<Result<String, String>>) {
    let mut links = Vec::new();
    let mut receipts = Vec::new();
    let outcomes = paths
        .iter()
        .map(|path| FileOutcome {
            path: path.clone(),
            result: verify_file(path, keyring, &mut links, &mut receipts),
        })
        .collect();
    let pairs = receipts
        .iter()
        .filter_map(|(path, r)| {
            let link = links.iter().find(|l| {
                !l.purged
                    && (
                        l.head.sender.as_str(),
                        l.head.receiver.as_str(),
                        l.head.first_seq,
                        l.head.last_seq,
                    ) == (
                        r.sender.as_str(),
                        r.receiver.as_str(),
                        r.first_seq,
                        r.last_seq,
                    )
            })?;
            Some(if link.sha256 == r.bundle_sha256 {
                Ok(format!(
                    "{} acknowledges {}",
                    path.display(),
                    link.path.display()
                ))
            } else {
                Err(format!(
                    "{}: acknowledges {}'s bundle {}..={} with hash {}, but {} hashes to {}",
                    path.display(),
                    r.sender,
                    r.first_seq,
                    r.last_seq,
                    hex::encode(&r.bundle_sha256),
                    link.path.display(),
                    hex::encode(&link.sha256)
                ))
            })
        })
        .collect();
    (outcomes, pairs)
}

fn check_chains(
    mut links: Vec<Link>,
    receipts: Vec<(PathBuf, crate::bundle::ReceiptPayload)>,
) -> Vec<Result<String, String>> {
    let mut report = Vec::new();
    for link in links.iter_mut().filter(|l| l.purged) {
        let h = &link.head;
        if let Some((_, r)) = receipts.iter().find(|(_, r)| {
            (
                r.sender.as_str(),
                r.receiver.as_str(),
                r.first_seq,
                r.last_seq,
            ) == (
                h.sender.as_str(),
                h.receiver.as_str(),
                h.first_seq,
                h.last_seq,
            )
        }) {
            link.sha256 = r.bundle_sha256.clone();
        } else {
            report.push(Err(format!(
                "{}: a purged bundle's head, but no receipt for {}..={} is given: its hash, which the next bundle names, cannot be known",
                link.path.display(),
                h.first_seq,
                h.last_seq
            )));
        }
    }
    links.sort_by(|a, b| {
        (
            &a.head.sender,
            &a.head.receiver,
            a.head.first_seq,
            &a.sha256,
        )
            .cmp(&(
                &b.head.sender,
                &b.head.receiver,
                b.head.first_seq,
                &b.sha256,
            ))
    });
    // The same bundle kept by both hubs (the sender's `to-P`, the receiver's
    // `from-S`) is one link of the chain; a different bundle at the same place is not.
    links.dedup_by(|a, b| a.sha256 == b.sha256);
    let mut i = 0;
    while i < links.len() {
        let (sender, receiver) = (links[i].head.sender.clone(), links[i].head.receiver.clone());
        let run: Vec<&Link> = links[i..]
            .iter()
            .take_while(|l| l.head.sender == sender && l.head.receiver == receiver)
            .collect();
        i += run.len();
        let mut problems = Vec::new();
        let mut expected_first = 1;
        let mut previous: Option<&Link> = None;
        for link in &run {
            let p = &link.head;
            if p.first_seq != expected_first {
                problems.push(format!(
                    "{}: starts at {}, but the sequence continues at {expected_first}: records {expected_first}..={} are missing",
                    link.path.display(),
                    p.first_seq,
                    p.first_seq.saturating_sub(1)
                ));
            }
            let expected_prev = previous.map(|l| l.sha256.clone()).unwrap_or_default();
            if p.first_seq == expected_first && p.prev_bundle_sha256 != expected_prev {
                problems.push(format!(
                    "{}: names {} as the previous bundle's hash, but {} hashes to {}",
                    link.path.display(),
                    hex::encode(&p.prev_bundle_sha256),
                    previous.map_or("nothing (this is the first)".into(), |l| l
                        .path
                        .display()
                        .to_string()),
                    hex::encode(&expected_prev)
                ));
            }
            expected_first = p.last_seq + 1;
            previous = Some(link);
        }
        let last = expected_first - 1;
        if problems.is_empty() {
            report.push(Ok(format!(
                "{sender} → {receiver}: {} bundles, sequence 1..={last} gap-free, every bundle chained to the one before"
                , run.len()
            )));
        } else {
            report.extend(
                problems
                    .into_iter()
                    .map(|p| Err(format!("{sender} → {receiver}: {p}"))),
            );
        }
    }
    for (path, r) in receipts {
        let acknowledged = links.iter().any(|l| {
            l.head.sender == r.sender
                && l.head.receiver == r.receiver
                && l.head.first_seq == r.first_seq
                && l.sha256 == r.bundle_sha256
        });
        if !acknowledged && links.iter().any(|l| l.head.sender == r.sender) {
            report.push(Err(format!(
                "{}: acknowledges {}'s bundle {}..={} with hash {}, which is not among the bundles given",
                path.display(),
                r.sender,
                r.first_seq,
                r.last_seq,
                hex::encode(&r.bundle_sha256)
            )));
        }
    }
    report
}

fn verify_file(
    path: &Path,
    keyring: &Keyring,
    links: &mut Vec<Link>,
    receipts: &mut Vec<(PathBuf, crate::bundle::ReceiptPayload)>,
) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.first() != Some(&0xd2) {
        return verify_proof(&bytes, keyring);
    }
    let (verified, opened) = bundle::open_any(&bytes, keyring).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let kid = hex::encode(&verified.kid);
    match opened {
        Opened::Bundle(b) => {
            let _ = writeln!(
                out,
                "bundle {} → {}, sequence {}..={} ({} records), sealed {}, signed by key {kid}",
                b.sender,
                b.receiver,
                b.first_seq,
                b.last_seq,
                b.records.len(),
                format_time(b.created_at)
            );
            let mut ports = std::collections::BTreeMap::<&str, usize>::new();
            let (mut corrections, mut deletions, mut set_aside) = (0, 0, 0);
            for e in &b.records {
                match e {
                    Entry::Record(r) => *ports.entry(r.port_code.as_str()).or_default() += 1,
                    Entry::Correction { .. } => corrections += 1,
                    Entry::Deletion { .. } => deletions += 1,
                    Entry::SetAside => set_aside += 1,
                }
            }
            let ports: Vec<String> = ports.iter().map(|(p, n)| format!("{p}: {n}")).collect();
            let _ = write!(
                out,
                "  Merkle root {} (matches the records; head signed)\n  records by port of entry: {}",
                hex::encode(&b.merkle_root),
                ports.join(", ")
            );
            if corrections + deletions > 0 {
                let _ = write!(
                    out,
                    "\n  amendments of earlier records: {corrections} corrections, {deletions} deletions"
                );
            }
            if set_aside > 0 {
                let _ = write!(
                    out,
                    "\n  {set_aside} entries the receiver refused, set aside by the sender (the numbers stay in the sequence)"
                );
            }
            links.push(Link {
                path: path.to_owned(),
                sha256: bundle::sha256(&bytes),
                head: b.head(),
                purged: false,
            });
        }
        Opened::PluginSignature(p) => {
            let _ = write!(
                out,
                "plugin signature: {} {} ({} plugin), component sha256 {}, signed {} by key {kid}",
                p.name,
                p.plugin_version,
                p.kind,
                hex::encode(&p.component_sha256),
                format_time(p.signed_at)
            );
        }
        Opened::Head(h) => {
            let _ = write!(
                out,
                "bundle head {} → {}, sequence {}..={}, Merkle root {}, signed by key {kid} (the bundle's records were purged after their retention period)",
                h.sender,
                h.receiver,
                h.first_seq,
                h.last_seq,
                hex::encode(&h.merkle_root)
            );
            links.push(Link {
                path: path.to_owned(),
                sha256: Vec::new(),
                head: h,
                purged: true,
            });
        }
        Opened::Receipt(r) => {
            receipts.push((path.to_owned(), r.clone()));
            let _ = write!(
                out,
                "receipt from {} for {}'s bundle {}..={} (sha256 {}), received {}, signed by key {kid}",
                r.receiver,
                r.sender,
                r.first_seq,
                r.last_seq,
                hex::encode(&r.bundle_sha256),
                format_time(r.received_at)
            );
        }
    }
    Ok(out)
}

fn verify_proof(bytes: &[u8], keyring: &Keyring) -> Result<String, String> {
    let proof: bundle::InclusionProof = serde_cbor::from_slice(bytes).map_err(|e| {
        format!("neither a COSE_Sign1 message (tag 18) nor an inclusion proof: {e}")
    })?;
    let (verified, head) = bundle::check_proof(&proof, keyring).map_err(|e| e.to_string())?;
    let what = match &proof.entry {
        Entry::Record(r) => format!(
            "record of {} ({}), port {}, {}",
            r.family_name,
            r.document_country,
            r.port_code,
            format_time(r.entered_at)
        ),
        Entry::Correction { amends, record } => format!(
            "correction of record {amends}: now {} ({}), port {}",
            record.family_name, record.document_country, record.port_code
        ),
        Entry::Deletion { amends } => format!("deletion of record {amends}"),
        Entry::SetAside => "an entry the receiver refused, set aside by the sender".into(),
    };
    Ok(format!(
        "inclusion proof: entry {} is in {}'s bundle {}..={} to {} (Merkle root {}, head signed by key {}), proved with {} hashes and no other entry\n  {what}",
        proof.seq,
        head.sender,
        head.first_seq,
        head.last_seq,
        head.receiver,
        hex::encode(&head.merkle_root),
        hex::encode(&verified.kid),
        proof.path.len(),
    ))
}

/// Builds an inclusion proof for sequence number `seq` from a bundle file, or
/// from a directory of bundles (`bundle-FIRST.cose`, as evidence is kept).
pub fn prove(path: &Path, seq: u64, keyring: &Keyring) -> Result<bundle::InclusionProof, String> {
    let file = if path.is_dir() {
        let mut best: Option<(u64, PathBuf)> = None;
        let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let first = p.file_name().and_then(|n| n.to_str()).and_then(|n| {
                n.strip_prefix("bundle-")?
                    .strip_suffix(".cose")?
                    .parse::<u64>()
                    .ok()
            });
            if let Some(first) = first
                && first <= seq
                && best.as_ref().is_none_or(|(b, _)| first > *b)
            {
                best = Some((first, p));
            }
        }
        best.map(|(_, p)| p).ok_or_else(|| {
            format!(
                "{} holds no bundle-NNN.cose file that could carry sequence number {seq}",
                path.display()
            )
        })?
    } else {
        path.to_owned()
    };
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    bundle::prove(&bytes, keyring, seq).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundlePayload, Signer, seal_bundle};
    use crate::record::{PartialDate, Sex, SharedRecord};

    fn record(n: u64) -> SharedRecord {
        SharedRecord {
            given_names: "ANNA".into(),
            family_name: format!("PERSON{n}"),
            middle_names: String::new(),
            date_of_birth: PartialDate {
                year: 1980,
                month: Some(1),
                day: Some(2),
            },
            nationality: "SWE".into(),
            sex: Sex::F,
            document_type: "P".into(),
            document_number: format!("X{n}"),
            document_country: "SWE".into(),
            entered_at: 1_795_219_200,
            port_code: "0427".into(),
        }
    }

    /// Three chained bundles from CA to US, written as files; returns their paths.
    fn chain(dir: &Path, signer: &Signer) -> Vec<PathBuf> {
        let mut prev = Vec::new();
        let mut paths = Vec::new();
        for (i, first) in [1u64, 3, 5].into_iter().enumerate() {
            let payload = BundlePayload::new(
                "CA",
                "US",
                first,
                0,
                prev.clone(),
                vec![
                    Entry::Record(record(first)),
                    Entry::Record(record(first + 1)),
                ],
            );
            let bytes = seal_bundle(signer, &payload);
            prev = bundle::sha256(&bytes);
            let path = dir.join(format!("bundle-{i}.cose"));
            std::fs::write(&path, bytes).unwrap();
            paths.push(path);
        }
        paths
    }

    fn check(paths: &[PathBuf], keyring: &Keyring) -> Vec<Result<String, String>> {
        let (outcomes, chains) = verify_files(paths, keyring);
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
        chains
    }

    #[test]
    fn a_complete_chain_passes_and_a_missing_or_replaced_bundle_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::new(ed25519_dalek::SigningKey::from_bytes(&[4; 32]));
        let mut keyring = Keyring::default();
        keyring.add("CA", signer.verifying_key());
        let paths = chain(dir.path(), &signer);

        let report = check(&paths, &keyring);
        assert_eq!(report.len(), 1, "{report:?}");
        let line = report[0].as_ref().unwrap();
        assert!(
            line.contains("CA → US: 3 bundles, sequence 1..=6 gap-free"),
            "{line}"
        );

        // The middle bundle withheld: the gap is named with the records missing.
        let report = check(&[paths[0].clone(), paths[2].clone()], &keyring);
        let problem = report[0].as_ref().unwrap_err();
        assert!(problem.contains("records 3..=4 are missing"), "{problem}");

        // The middle bundle replaced by another, correctly signed and numbered,
        // but not the one the next bundle names: the chain names the break.
        let other = BundlePayload::new(
            "CA",
            "US",
            3,
            0,
            bundle::sha256(&std::fs::read(&paths[0]).unwrap()),
            vec![Entry::Record(record(30)), Entry::Record(record(40))],
        );
        std::fs::write(&paths[1], seal_bundle(&signer, &other)).unwrap();
        let report = check(&paths, &keyring);
        let problem = report[0].as_ref().unwrap_err();
        assert!(
            problem.contains("bundle-2.cose") && problem.contains("previous bundle's hash"),
            "{problem}"
        );
    }

    #[test]
    fn single_files_are_checked_alone_and_a_receipt_against_its_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::new(ed25519_dalek::SigningKey::from_bytes(&[4; 32]));
        let us = Signer::new(ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
        let mut keyring = Keyring::default();
        keyring.add("CA", signer.verifying_key());
        keyring.add("US", us.verifying_key());
        let paths = chain(dir.path(), &signer);
        let receipt = |sha256: Vec<u8>| {
            let path = dir.path().join("receipt.cose");
            let payload = bundle::ReceiptPayload {
                version: bundle::PAYLOAD_VERSION,
                receiver: "US".into(),
                sender: "CA".into(),
                first_seq: 3,
                last_seq: 4,
                bundle_sha256: sha256,
                received_at: 0,
            };
            std::fs::write(&path, bundle::seal_receipt(&us, &payload)).unwrap();
            path
        };

        // The middle bundle alone: nothing is said about the bundles before it.
        let (outcomes, pairs) = verify_each(&paths[1..2], &keyring);
        assert!(outcomes[0].result.is_ok());
        assert!(pairs.is_empty(), "{pairs:?}");

        // With its receipt: the receipt names that very bundle.
        let sha = bundle::sha256(&std::fs::read(&paths[1]).unwrap());
        let (_, pairs) = verify_each(&[paths[1].clone(), receipt(sha)], &keyring);
        assert!(
            pairs[0].as_ref().is_ok_and(|l| l.contains("acknowledges")),
            "{pairs:?}"
        );

        // A receipt for another bundle over the same range: named.
        let (outcomes, pairs) = verify_each(&[paths[1].clone(), receipt(vec![9; 32])], &keyring);
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
        let problem = pairs[0].as_ref().unwrap_err();
        assert!(problem.contains("bundle-1.cose hashes to"), "{problem}");
    }
}
