//! Exchange between hubs: the bundler that seals and delivers each partner's
//! outbox in sequence order, and the receiving side that verifies, stores and
//! acknowledges a partner's bundles.
//!
//! Delivery is at-least-once on the wire and exactly-once in effect: a bundle is
//! sealed and stored before it is first sent, the same bytes are resent until a
//! verified receipt arrives, and the receiver answers a bundle it already holds
//! with the receipt it gave the first time.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::bundle::{self, BundleError, BundlePayload, PAYLOAD_VERSION, ReceiptPayload};
use crate::hub::Core;
use crate::plugins::Delivery;
use crate::record::Entry;
use crate::store::{Received, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(
        "this connection is authenticated as {peer}'s hub, but the bundle is signed by {signer}; a hub may deliver only its own bundles; nothing was stored"
    )]
    WrongPeer { peer: String, signer: String },
    #[error("bundle is addressed to {0}, but this hub is {1}")]
    WrongReceiver(String, String),
    #[error(
        "bundle does not continue the sequence: it starts at {got}, the next expected from {sender} is {expected}"
    )]
    Gap {
        sender: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "bundle {first} from {sender} does not name the last bundle received from {sender} as its previous one: the chain is broken"
    )]
    ChainBroken { sender: String, first: u64 },
    #[error("entry {seq} from {sender} amends record {amends}, which cannot be: {why}")]
    BadAmendment {
        sender: String,
        seq: u64,
        amends: u64,
        why: &'static str,
    },
    #[error("record {seq} of the bundle is invalid: {invalid}")]
    InvalidRecord {
        seq: u64,
        invalid: crate::record::Invalid,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies a partner's bundle (signature and sender before anything else),
/// stores it if it continues the sequence, and returns the signed receipt.
/// `peer` is the partner the connection authenticated as (mutual TLS), if any:
/// a hub may deliver only bundles signed with its own keys.
pub fn receive(core: &Core, message: &[u8], peer: Option<&str>) -> Result<Vec<u8>, ReceiveError> {
    let (verified, payload) = bundle::open_bundle(message, &core.partner_keys())?;
    if let Some(peer) = peer
        && verified.signer != peer
    {
        return Err(ReceiveError::WrongPeer {
            peer: peer.to_owned(),
            signer: verified.signer,
        });
    }
    let me = &core.settings.hub_id;
    if payload.receiver != *me {
        return Err(ReceiveError::WrongReceiver(payload.receiver, me.clone()));
    }
    // The partner is trusted to sign, not to be bug-free: the same bounds apply
    // to its records as to our own.
    for (i, record) in payload.records.iter().enumerate() {
        record
            .check()
            .map_err(|invalid| ReceiveError::InvalidRecord {
                seq: payload.first_seq + i as u64,
                invalid,
            })?;
    }
    let received_at = now();
    let make_receipt = || {
        bundle::seal_receipt(
            &core.signer,
            &ReceiptPayload {
                version: PAYLOAD_VERSION,
                receiver: me.clone(),
                sender: payload.sender.clone(),
                first_seq: payload.first_seq,
                last_seq: payload.last_seq,
                bundle_sha256: bundle::sha256(message),
                received_at,
            },
        )
    };
    match core.store.receive(
        &payload.sender,
        payload.first_seq,
        payload.last_seq,
        &payload.prev_bundle_sha256,
        &payload.records,
        message,
        make_receipt,
    )? {
        Received::Stored { receipt } => {
            crate::failpoint::hit("receive:stored");
            tracing::info!(sender = %payload.sender, first = payload.first_seq, last = payload.last_seq, "bundle stored");
            let dir = format!("from-{}", payload.sender);
            write_evidence(core, &dir, "bundle", payload.first_seq, message);
            write_evidence(core, &dir, "receipt", payload.first_seq, &receipt);
            core.inbox_ready.notify_waiters();
            Ok(receipt)
        }
        Received::Duplicate { receipt, purged } => {
            tracing::info!(sender = %payload.sender, first = payload.first_seq, "duplicate bundle answered with its original receipt");
            // A kill between storing the original and copying it left no
            // copy; the resend is the only chance to write it. Not for a
            // purged bundle: its records must not come back.
            if !purged {
                let dir = format!("from-{}", payload.sender);
                write_evidence_if_missing(core, &dir, "bundle", payload.first_seq, message);
                write_evidence_if_missing(core, &dir, "receipt", payload.first_seq, &receipt);
            }
            Ok(receipt)
        }
        Received::ChainBroken => Err(ReceiveError::ChainBroken {
            sender: payload.sender,
            first: payload.first_seq,
        }),
        Received::BadAmendment { seq, amends, why } => Err(ReceiveError::BadAmendment {
            sender: payload.sender,
            seq,
            amends,
            why,
        }),
        Received::Gap { expected } => Err(ReceiveError::Gap {
            sender: payload.sender,
            got: payload.first_seq,
            expected,
        }),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seals and delivers `partner`'s outbox until `stop` turns true. On stop it
/// finishes the bundle in flight, then returns.
pub async fn run_bundler(core: Arc<Core>, partner: String, mut stop: watch::Receiver<bool>) {
    let settings = &core.settings.exchange;
    let mut backoff = Duration::from_millis(settings.retry_min_ms);
    loop {
        if *stop.borrow() {
            return;
        }
        let notified = core.outbox_ready.notified();
        let step = {
            let core = core.clone();
            let partner = partner.clone();
            tokio::task::spawn_blocking(move || deliver_next(&core, &partner)).await
        };
        match step {
            Ok(Ok(Step::Delivered)) => {
                core.note_delivery(&partner, None);
                backoff = Duration::from_millis(settings.retry_min_ms);
                continue;
            }
            Ok(Ok(Step::Idle)) => {
                let linger = Duration::from_millis(settings.bundle_linger_ms.max(1) * 5);
                tokio::select! {
                    _ = notified => {
                        // Let a few more records join before sealing a bundle.
                        tokio::time::sleep(Duration::from_millis(settings.bundle_linger_ms)).await;
                    }
                    _ = tokio::time::sleep(linger) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            Ok(Ok(Step::Retry(why))) => {
                core.note_delivery(&partner, Some(why.clone()));
                tracing::warn!(%partner, retry_in_ms = backoff.as_millis() as u64, "delivery failed: {why}");
            }
            Ok(Err(e)) => {
                core.note_delivery(&partner, Some(e.to_string()));
                tracing::error!(%partner, retry_in_ms = backoff.as_millis() as u64, "delivery error: {e}");
            }
            Err(e) => {
                tracing::error!(%partner, "delivery task failed: {e}");
            }
        }
        // Full jitter keeps two hubs that failed together from retrying together.
        let sleep = rand::thread_rng().gen_range(backoff / 2..=backoff);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            // An operator set entries aside: try again now.
            _ = core.retry_now(&partner).notified() => {
                backoff = Duration::from_millis(settings.retry_min_ms);
                continue;
            }
            _ = stop.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_millis(settings.retry_max_ms));
    }
}

enum Step {
    Delivered,
    Idle,
    Retry(String),
}

#[derive(Debug, thiserror::Error)]
enum DeliverError {
    #[error(
        "the outbox is not dense: expected sequence {expected}, found {found}; the store is damaged"
    )]
    Gap { expected: u64, found: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
}

/// Delivers the next bundle for `partner`: the one already sealed at the next
/// sequence number, or a new one from the outbox.
fn deliver_next(core: &Core, partner: &str) -> Result<Step, DeliverError> {
    // An operator setting entries aside waits for this attempt to end.
    let _one_at_a_time = core.delivery_lock(partner);
    let store = &core.store;
    let first = store.sent_upto(partner)? + 1;
    let (last, message) = match store.pending_bundle(partner, first)? {
        Some((last, message)) if bundle::signed_with(&message, &core.signer) => {
            // A crash may have come between sealing and writing the copy.
            write_evidence(core, &format!("to-{partner}"), "bundle", first, &message);
            (last, message)
        }
        // Sealed before the hub's key was rotated: the partner refuses it
        // once the old key's overlap ends. The same records (the same range)
        // are sealed again with the current key; if the partner stored the
        // old seal and only its receipt was lost, it answers with that
        // receipt, which `check_receipt` accepts (`Store::earlier_seal`).
        pending => {
            let max = match &pending {
                Some((last, _)) => (last + 1 - first) as usize,
                None => core.settings.exchange.bundle_max_records,
            };
            let records = store.outbox_from(partner, first, max)?;
            if records.is_empty() {
                return Ok(Step::Idle);
            }
            let last = records.last().map(|(s, _)| *s).unwrap_or(first);
            if let Some((i, (seq, _))) = records
                .iter()
                .enumerate()
                .find(|(i, (s, _))| *s != first + *i as u64)
            {
                return Err(DeliverError::Gap {
                    expected: first + i as u64,
                    found: *seq,
                });
            }
            let payload = BundlePayload::new(
                &core.settings.hub_id,
                partner,
                first,
                now(),
                store.previous_bundle_sha(partner, first)?,
                records.into_iter().map(|(_, r)| r).collect(),
            );
            let message = bundle::seal_bundle(&core.signer, &payload);
            store.store_bundle_out(partner, first, last, &message)?;
            write_evidence(core, &format!("to-{partner}"), "bundle", first, &message);
            (last, message)
        }
    };
    let url = core
        .settings
        .partners
        .iter()
        .find(|p| p.id == partner)
        .map(|p| p.url.clone())
        .expect("bundlers run only for configured partners");
    let handed_over = std::time::Instant::now();
    match core.plugins().transport.send(&url, &message)? {
        Delivery::Receipt(receipt) => {
            crate::failpoint::hit("deliver:receipt");
            match check_receipt(core, partner, first, last, &message, &receipt) {
                Ok(acknowledged) => {
                    core.metrics.delivered(partner, handed_over.elapsed());
                    // The copies first: once the receipt is stored this bundle
                    // is never sent again, so nothing would write them later.
                    let dir = format!("to-{partner}");
                    if let Some(earlier) = &acknowledged.earlier_seal {
                        write_evidence(core, &dir, "bundle", first, earlier);
                    }
                    write_evidence(core, &dir, "receipt", first, &receipt);
                    store.store_receipt(partner, first, last, &receipt, &acknowledged.sha256)?;
                    tracing::info!(%partner, first, last, "bundle delivered and receipt verified");
                    Ok(Step::Delivered)
                }
                Err(why) => Ok(Step::Retry(format!("partner's receipt refused: {why}"))),
            }
        }
        Delivery::Refused { status: 409, body } => {
            // The partner continues its inbox elsewhere. Behind us (it lost
            // records it had acknowledged, e.g. restored from a backup): send
            // again from where it is; bundles and outbox records are kept.
            let expected = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("expected_seq")?.as_u64());
            match expected {
                Some(expected) if expected >= 1 && expected < first => {
                    tracing::warn!(%partner, expected, first, "partner is missing records it acknowledged; resending from {expected}");
                    store.rewind_sent(partner, expected - 1)?;
                    Ok(Step::Delivered)
                }
                _ => Ok(Step::Retry(refused(core, partner, first, last, 409, &body))),
            }
        }
        Delivery::Refused { status, body } if (400..500).contains(&status) => Ok(Step::Retry(
            refused(core, partner, first, last, status, &body),
        )),
        Delivery::Refused { status, body } => Ok(Step::Retry(format!(
            "the partner failed to take bundle {first}..={last}: HTTP {status} ({} bytes of explanation, not shown: a partner's words may quote a record)",
            body.len()
        ))),
        Delivery::Retry(why) => Ok(Step::Retry(why)),
    }
}

/// The bundle a verified receipt acknowledges: its hash, and its bytes when
/// it is an earlier seal of the same records rather than the one just sent.
struct Acknowledged {
    sha256: Vec<u8>,
    earlier_seal: Option<Vec<u8>>,
}

/// A bundle a partner refuses, for an operator to decide what to do: the
/// entries it carries (personal data: read through an audited route) and
/// what the partner said.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RefusedDetail {
    pub partner: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub http_status: u16,
    pub attempts: u64,
    pub since: i64,
    /// The partner's answer, as it gave it (cut at 4 KiB).
    pub partner_says: String,
    pub entries: Vec<RefusedEntry>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RefusedEntry {
    pub seq: u64,
    /// record, correction, deletion or set_aside.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amends: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::record::SharedRecord>,
}

/// Every bundle a partner refuses now, with its entries.
pub fn refused_bundles(core: &Core) -> Result<Vec<RefusedDetail>, StoreError> {
    let mut out = Vec::new();
    for partner in &core.partner_ids {
        let Some(r) = core.metrics.delivery_state(partner).refused else {
            continue;
        };
        let count = (r.last_seq + 1).saturating_sub(r.first_seq) as usize;
        let entries = core
            .store
            .outbox_from(partner, r.first_seq, count)?
            .into_iter()
            .map(|(seq, e)| RefusedEntry {
                seq,
                kind: match &e {
                    Entry::Record(_) => "record",
                    Entry::Correction { .. } => "correction",
                    Entry::Deletion { .. } => "deletion",
                    Entry::SetAside => "set_aside",
                }
                .to_owned(),
                amends: e.amends(),
                record: e.record().cloned(),
            })
            .collect();
        out.push(RefusedDetail {
            partner: partner.clone(),
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            http_status: r.http_status,
            attempts: r.attempts,
            since: r.since_unix,
            partner_says: r.partner_says,
            entries,
        });
    }
    Ok(out)
}

/// Notes a refusal (an answer: the partner will refuse the same bundle
/// again) and says so in words that carry none of the partner's own, which
/// may quote a record: logs, status and readiness show these.
fn refused(core: &Core, partner: &str, first: u64, last: u64, status: u16, body: &str) -> String {
    core.metrics.refusal(partner, first, last, status, body);
    format!(
        "the partner refused bundle {first}..={last} with HTTP {status}; its {} bytes of explanation are shown by `entrex outbox refused`",
        body.len()
    )
}

fn check_receipt(
    core: &Core,
    partner: &str,
    first: u64,
    last: u64,
    message: &[u8],
    receipt: &[u8],
) -> Result<Acknowledged, String> {
    let (_, r) = bundle::open_receipt(receipt, &core.partner_keys()).map_err(|e| e.to_string())?;
    if r.receiver != partner || r.sender != core.settings.hub_id {
        return Err(format!(
            "it acknowledges a bundle from {} to {}, not from {} to {partner}",
            r.sender, r.receiver, core.settings.hub_id
        ));
    }
    if (r.first_seq, r.last_seq) != (first, last) {
        return Err(format!(
            "it acknowledges sequence {}..={}, not {first}..={last}",
            r.first_seq, r.last_seq
        ));
    }
    if r.bundle_sha256 == bundle::sha256(message) {
        return Ok(Acknowledged {
            sha256: r.bundle_sha256,
            earlier_seal: None,
        });
    }
    match core.store.earlier_seal(partner, first, &r.bundle_sha256) {
        Ok(Some(bytes)) => Ok(Acknowledged {
            sha256: r.bundle_sha256,
            earlier_seal: Some(bytes),
        }),
        Ok(None) => Err("it acknowledges a bundle with another hash, not the one sent".into()),
        Err(e) => Err(format!("cannot read the earlier seals of this bundle: {e}")),
    }
}

fn write_evidence_if_missing(core: &Core, subdir: &str, kind: &str, first: u64, bytes: &[u8]) {
    let path = evidence_path(core, subdir, kind, first);
    if !path.exists() {
        tracing::warn!(path = %path.display(), "writing an evidence copy a crash left unwritten");
        write_evidence(core, subdir, kind, first, bytes);
    }
}

fn evidence_path(core: &Core, subdir: &str, kind: &str, first: u64) -> std::path::PathBuf {
    core.evidence_dir()
        .join(subdir)
        .join(format!("{kind}-{first:012}.cose"))
}

/// Writes a copy of a bundle or receipt for offline checks (`to-P/` what this
/// hub sent P and P's receipts, `from-P/` what P sent and this hub's receipts).
/// The store holds the authoritative copy, so a failure here is only logged.
/// Written to a temporary name and renamed, so a crash never leaves a torn
/// file that would look like tampering to `entrex verify`.
fn write_evidence(core: &Core, subdir: &str, kind: &str, first: u64, bytes: &[u8]) {
    let path = evidence_path(core, subdir, kind, first);
    let dir = core.evidence_dir().join(subdir);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(format!(".{kind}-{first:012}.tmp"));
        let mut file = std::fs::File::create(&temp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        // The rename is durable only once the directory is.
        std::fs::File::open(&dir)?.sync_all()
    };
    if let Err(e) = write() {
        tracing::warn!(path = %path.display(), "cannot write evidence copy: {e}");
    }
}
