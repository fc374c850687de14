//! Offline verification of bundles and receipts (`entrex verify`): what a
//! partner country or an auditor runs with nothing but the hub's public key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bundle::{self, Keyring, Opened, UNBOUND};
use crate::keys;
use crate::record::format_time;

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

pub fn verify_files(paths: &[PathBuf], keyring: &Keyring) -> Vec<FileOutcome> {
    paths
        .iter()
        .map(|path| FileOutcome {
            path: path.clone(),
            result: verify_file(path, keyring),
        })
        .collect()
}

fn verify_file(path: &Path, keyring: &Keyring) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
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
            for r in &b.records {
                *ports.entry(r.port_code.as_str()).or_default() += 1;
            }
            let ports: Vec<String> = ports.iter().map(|(p, n)| format!("{p}: {n}")).collect();
            let _ = write!(out, "  records by port of entry: {}", ports.join(", "));
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
        Opened::Receipt(r) => {
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
