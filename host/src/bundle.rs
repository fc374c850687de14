//! The wire format: signed bundles and receipts as COSE_Sign1 messages.
//!
//! Only this module knows how bytes on the wire look. A message is
//! `18([protected, {}, payload, signature])` (RFC 9052) with the protected
//! header `{1: alg, 3: content type, 4: kid}`, `alg` EdDSA (-8; -19, the
//! RFC 9864 Ed25519 id, is accepted too). The signature covers
//! `["Signature1", protected, h'', payload]`, so any standard COSE library
//! verifies it with the hub's published public key.
//!
//! [`verify`] checks the signature *before* the payload is decoded, and payload
//! decoding refuses unknown fields.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_cbor::Value;
use sha2::{Digest, Sha256};

use crate::keys::key_id;
use crate::record::{Entry, Timestamp};

pub const CONTENT_TYPE_BUNDLE: &str = "application/entrex-bundle+cbor";
pub const CONTENT_TYPE_RECEIPT: &str = "application/entrex-receipt+cbor";
pub const CONTENT_TYPE_PLUGIN_SIGNATURE: &str = "application/entrex-plugin-signature+cbor";
pub const CONTENT_TYPE_HEAD: &str = "application/entrex-bundle-head+cbor";
/// What an inclusion proof file says it is (it is plain CBOR, not signed itself:
/// the bundle head inside it is).
pub const PROOF_KIND: &str = "entrex inclusion proof";
/// The media type of a bundle or receipt on HTTP.
pub const MEDIA_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// Larger messages are refused before any parsing.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// A protected header holds an algorithm, a content type and an 8-byte key
/// id: about 60 bytes. Anything longer is refused before it is decoded (a
/// header is parsed into a tree of values before the signature is checked,
/// so its size must be bounded first).
const MAX_PROTECTED_BYTES: usize = 1024;
/// Version of the bundle and receipt payloads; a receiver refuses others.
pub const PAYLOAD_VERSION: u32 = 1;

const COSE_SIGN1_TAG: u64 = 18;
/// Tag 18 encoded as a single CBOR head byte (major type 6, value 18).
const COSE_SIGN1_TAG_BYTE: u8 = 0xd2;
const ALG_EDDSA: i128 = -8;
const ALG_ED25519: i128 = -19;
const HEADER_ALG: i128 = 1;
const HEADER_CONTENT_TYPE: i128 = 3;
const HEADER_KID: i128 = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("message is {0} bytes; the limit is {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    #[error("not a COSE_Sign1 message: {0}")]
    NotCose(String),
    #[error("protected header: {0}")]
    Header(String),
    #[error("unknown signing key id {kid}; the hub trusts keys {trusted}")]
    UnknownKey { kid: String, trusted: String },
    #[error(
        "signature does not verify with key {kid} of {owner}: the message was altered or signed by another key"
    )]
    BadSignature { kid: String, owner: String },
    #[error("content type is {found:?}, expected {expected:?}")]
    ContentType {
        found: String,
        expected: &'static str,
    },
    #[error("payload is not a valid {what}: {detail}")]
    Payload { what: &'static str, detail: String },
    #[error("payload version {0} is not supported (this hub speaks version {PAYLOAD_VERSION})")]
    Version(u32),
    #[error("signed by {signer}'s key but the bundle says it is from {claimed}")]
    SenderMismatch { signer: String, claimed: String },
    #[error("signed by {signer}'s key but the receipt says it was issued by {claimed}")]
    IssuerMismatch { signer: String, claimed: String },
    #[error("the Merkle root does not match the records the bundle carries")]
    MerkleRoot,
    #[error("sequence range {first}..={last} does not match its {count} records")]
    Range { first: u64, last: u64, count: usize },
    #[error("the signed head does not describe this bundle: {0}")]
    Head(String),
    #[error("inclusion proof: {0}")]
    Proof(String),
    #[error("key {kid} of {owner} expired at {expired}; the partner must sign with its new key")]
    ExpiredKey {
        kid: String,
        owner: String,
        expired: String,
    },
}

/// A hub's signing identity.
pub struct Signer {
    key: SigningKey,
    kid: Vec<u8>,
}

impl Signer {
    pub fn new(key: SigningKey) -> Self {
        let kid = key_id(&key.verifying_key());
        Signer { key, kid }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn sign(&self, content_type: &str, payload: &[u8]) -> Vec<u8> {
        let protected = protected_header(content_type, &self.kid);
        let to_sign = sig_structure(&protected, payload);
        let signature = self.key.sign(&to_sign);
        let message = Value::Tag(
            COSE_SIGN1_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                Value::Map(BTreeMap::new()),
                Value::Bytes(payload.to_vec()),
                Value::Bytes(signature.to_bytes().to_vec()),
            ])),
        );
        serde_cbor::to_vec(&message).expect("CBOR encoding of a COSE value cannot fail")
    }
}

/// Public keys a hub trusts, each with the hub id that owns it.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<TrustedKey>,
}

#[derive(Clone)]
struct TrustedKey {
    kid: Vec<u8>,
    owner: String,
    key: VerifyingKey,
    /// After this time, messages signed with the key are refused: it was
    /// rotated out and its overlap period is over.
    not_after: Option<Timestamp>,
}

impl Keyring {
    pub fn add(&mut self, owner: &str, key: VerifyingKey) {
        self.add_until(owner, key, None);
    }

    /// Adds a key that is trusted only until `not_after` (seconds since the epoch).
    pub fn add_until(&mut self, owner: &str, key: VerifyingKey, not_after: Option<Timestamp>) {
        self.keys.push(TrustedKey {
            kid: key_id(&key),
            owner: owner.to_owned(),
            key,
            not_after,
        });
    }

    fn find(&self, kid: &[u8]) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// A message whose signature verified; its payload is still undecoded bytes.
#[derive(Debug)]
pub struct Verified {
    /// The hub that owns the key that signed it.
    pub signer: String,
    pub kid: Vec<u8>,
    pub content_type: String,
    pub payload: Vec<u8>,
}

/// Checks a COSE_Sign1 message against the keyring. Nothing in the payload is
/// looked at before the signature verifies.
pub fn verify(message: &[u8], keyring: &Keyring) -> Result<Verified, BundleError> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(BundleError::TooLarge(message.len()));
    }
    // Typed decoding of the envelope: byte strings land directly in buffers, so
    // a hostile message cannot expand into a large tree of CBOR values.
    let Some(envelope) = message.strip_prefix(&[COSE_SIGN1_TAG_BYTE]) else {
        return Err(BundleError::NotCose(
            "expected CBOR tag 18 (COSE_Sign1)".into(),
        ));
    };
    // Byte strings are borrowed from the message, not copied, and the
    // unprotected map is refused at its first entry: decoding the envelope
    // allocates nothing that grows with the input.
    type Envelope<'a> = (
        &'a serde_bytes::Bytes,
        EmptyMap,
        &'a serde_bytes::Bytes,
        &'a serde_bytes::Bytes,
    );
    let (protected, EmptyMap, payload, signature): Envelope = serde_cbor::from_slice(envelope)
        .map_err(|e| {
            BundleError::NotCose(format!(
                "expected [protected: bstr, unprotected: {{}}, payload: bstr, signature: bstr]: {e}"
            ))
        })?;
    let header = parse_protected(protected)?;
    let (protected, payload, signature) =
        (protected.to_vec(), payload.to_vec(), signature.to_vec());
    let trusted = keyring
        .find(&header.kid)
        .ok_or_else(|| BundleError::UnknownKey {
            kid: hex::encode(&header.kid),
            trusted: keyring
                .keys
                .iter()
                .map(|k| format!("{} ({})", hex::encode(&k.kid), k.owner))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if let Some(not_after) = trusted.not_after
        && crate::exchange::now() > not_after
    {
        return Err(BundleError::ExpiredKey {
            kid: hex::encode(&trusted.kid),
            owner: trusted.owner.clone(),
            expired: crate::record::format_time(not_after),
        });
    }
    let bad_signature = || BundleError::BadSignature {
        kid: hex::encode(&trusted.kid),
        owner: trusted.owner.clone(),
    };
    let signature = Signature::from_slice(&signature).map_err(|_| bad_signature())?;
    trusted
        .key
        .verify_strict(&sig_structure(&protected, &payload), &signature)
        .map_err(|_| bad_signature())?;
    Ok(Verified {
        signer: trusted.owner.clone(),
        kid: header.kid,
        content_type: header.content_type,
        payload,
    })
}

/// The unprotected header, which must be empty: every header this hub reads
/// is signed. Refused at its first entry rather than collected.
struct EmptyMap;

impl<'de> Deserialize<'de> for EmptyMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EmptyMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an empty map (every header this hub reads is signed)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EmptyMap, A::Error> {
                match map.next_key::<serde::de::IgnoredAny>()? {
                    None => Ok(EmptyMap),
                    Some(_) => Err(serde::de::Error::custom(
                        "the unprotected header must be empty: every header this hub reads is signed",
                    )),
                }
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// What the sender signs about a bundle apart from its records. Carried inside
/// the bundle as its own COSE_Sign1 message, so that one record's inclusion can
/// be proved later (`entrex prove`) without showing any other record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHead {
    pub version: u32,
    pub sender: String,
    pub receiver: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub created_at: Timestamp,
    #[serde(with = "serde_bytes")]
    pub prev_bundle_sha256: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub merkle_root: Vec<u8>,
}

/// The body of a bundle: a dense run of one sender's sequence numbers for one
/// receiver. `records[i]` carries sequence number `first_seq + i`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePayload {
    pub version: u32,
    pub sender: String,
    pub receiver: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub created_at: Timestamp,
    /// SHA-256 of the sender's previous bundle to this receiver (the one ending
    /// at `first_seq - 1`), empty for the first: the bundles form a chain.
    #[serde(with = "serde_bytes")]
    pub prev_bundle_sha256: Vec<u8>,
    /// RFC 9162 Merkle tree hash over the CBOR encoding of each record, in order.
    #[serde(with = "serde_bytes")]
    pub merkle_root: Vec<u8>,
    /// The fields above as a [`BundleHead`], signed on its own by the sender
    /// (a COSE_Sign1 message); filled in by [`seal_bundle`].
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    pub records: Vec<Entry>,
}

impl BundlePayload {
    pub fn head(&self) -> BundleHead {
        BundleHead {
            version: self.version,
            sender: self.sender.clone(),
            receiver: self.receiver.clone(),
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            created_at: self.created_at,
            prev_bundle_sha256: self.prev_bundle_sha256.clone(),
            merkle_root: self.merkle_root.clone(),
        }
    }

    /// Builds a bundle, computing its Merkle root.
    pub fn new(
        sender: &str,
        receiver: &str,
        first_seq: u64,
        created_at: Timestamp,
        prev_bundle_sha256: Vec<u8>,
        records: Vec<Entry>,
    ) -> BundlePayload {
        BundlePayload {
            version: PAYLOAD_VERSION,
            sender: sender.to_owned(),
            receiver: receiver.to_owned(),
            first_seq,
            last_seq: first_seq + records.len().saturating_sub(1) as u64,
            created_at,
            prev_bundle_sha256,
            merkle_root: merkle_root(&records),
            head: Vec::new(),
            records,
        }
    }
}

/// RFC 9162 (Certificate Transparency v2) Merkle tree hash of the entries:
/// leaves `SHA-256(0x00 || cbor(entry))`, nodes `SHA-256(0x01 || left || right)`,
/// split at the largest power of two below the count.
pub fn merkle_root(records: &[Entry]) -> Vec<u8> {
    let leaves: Vec<[u8; 32]> = records.iter().map(|r| leaf_hash(&entry_bytes(r))).collect();
    tree_hash(&leaves).to_vec()
}

fn entry_bytes(entry: &Entry) -> Vec<u8> {
    serde_cbor::to_vec(entry).expect("CBOR encoding of a record cannot fail")
}

fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1: the audit path of leaf `m`.
fn audit_path(m: usize, leaves: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        audit_path(m, &leaves[..k], out);
        out.push(tree_hash(&leaves[k..]));
    } else {
        audit_path(m - k, &leaves[k..], out);
        out.push(tree_hash(&leaves[..k]));
    }
}

/// RFC 9162 §2.1.3.2: the root that leaf `index` of a tree of `size` leaves
/// implies, given its audit path; `None` when the path has the wrong length.
fn root_from_path(index: u64, size: u64, leaf: [u8; 32], path: &[Vec<u8>]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, leaf);
    for p in path {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// Evidence that one entry is part of a signed bundle, showing no other entry:
/// the sender's signed head, the entry, and its RFC 9162 audit path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub kind: String,
    /// The bundle head: a COSE_Sign1 message signed by the sender.
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    pub seq: u64,
    pub entry: Entry,
    pub path: Vec<serde_bytes::ByteBuf>,
}

/// Builds the inclusion proof of sequence number `seq` from a sealed bundle.
pub fn prove(message: &[u8], keyring: &Keyring, seq: u64) -> Result<InclusionProof, BundleError> {
    let (_, payload) = open_bundle(message, keyring)?;
    if !(payload.first_seq..=payload.last_seq).contains(&seq) {
        return Err(BundleError::Proof(format!(
            "the bundle carries sequence numbers {}..={}, not {seq}",
            payload.first_seq, payload.last_seq
        )));
    }
    let leaves: Vec<[u8; 32]> = payload
        .records
        .iter()
        .map(|r| leaf_hash(&entry_bytes(r)))
        .collect();
    let index = (seq - payload.first_seq) as usize;
    let mut path = Vec::new();
    audit_path(index, &leaves, &mut path);
    Ok(InclusionProof {
        kind: PROOF_KIND.to_owned(),
        head: payload.head,
        seq,
        entry: payload.records[index].clone(),
        path: path
            .into_iter()
            .map(|h| serde_bytes::ByteBuf::from(h.to_vec()))
            .collect(),
    })
}

/// Checks an inclusion proof: the head's signature, then the entry's path to
/// the signed Merkle root. Returns the verified head.
pub fn check_proof(
    proof: &InclusionProof,
    keyring: &Keyring,
) -> Result<(Verified, BundleHead), BundleError> {
    if proof.kind != PROOF_KIND {
        return Err(BundleError::Proof(format!(
            "kind is {:?}, expected {PROOF_KIND:?}",
            proof.kind
        )));
    }
    let (verified, head) = open_head(&proof.head, keyring)?;
    if !(head.first_seq..=head.last_seq).contains(&proof.seq) {
        return Err(BundleError::Proof(format!(
            "sequence number {} is outside the bundle's {}..={}",
            proof.seq, head.first_seq, head.last_seq
        )));
    }
    proof
        .entry
        .check()
        .map_err(|e| BundleError::Proof(format!("the entry is not a valid record: {e}")))?;
    let path: Vec<Vec<u8>> = proof.path.iter().map(|h| h.to_vec()).collect();
    let root = root_from_path(
        proof.seq - head.first_seq,
        head.last_seq - head.first_seq + 1,
        leaf_hash(&entry_bytes(&proof.entry)),
        &path,
    );
    match root {
        Some(root) if root.as_slice() == head.merkle_root.as_slice() => Ok((verified, head)),
        Some(_) => Err(BundleError::Proof(
            "the entry and its path do not lead to the signed Merkle root: the entry was altered or is not in this bundle".into(),
        )),
        None => Err(BundleError::Proof(format!(
            "the audit path has {} hashes, not what a tree of {} entries needs",
            path.len(),
            head.last_seq - head.first_seq + 1
        ))),
    }
}

/// Verifies and decodes a signed bundle head.
pub fn open_head(message: &[u8], keyring: &Keyring) -> Result<(Verified, BundleHead), BundleError> {
    let verified = verify(message, keyring)?;
    let head: BundleHead = decode(&verified, CONTENT_TYPE_HEAD, "bundle head")?;
    if verified.signer != UNBOUND && head.sender != verified.signer {
        return Err(BundleError::SenderMismatch {
            signer: verified.signer.clone(),
            claimed: head.sender.clone(),
        });
    }
    Ok((verified, head))
}

/// The receiver's signed acknowledgement that a bundle is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPayload {
    pub version: u32,
    /// The hub that received and stored the bundle (and signed this receipt).
    pub receiver: String,
    /// The hub that sent the bundle.
    pub sender: String,
    pub first_seq: u64,
    pub last_seq: u64,
    #[serde(with = "serde_bytes")]
    pub bundle_sha256: Vec<u8>,
    pub received_at: Timestamp,
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Signs the bundle's head, then the bundle with the signed head inside.
pub fn seal_bundle(signer: &Signer, payload: &BundlePayload) -> Vec<u8> {
    let head = serde_cbor::to_vec(&payload.head()).expect("CBOR encoding of a head cannot fail");
    let mut payload = payload.clone();
    payload.head = signer.sign(CONTENT_TYPE_HEAD, &head);
    let bytes = serde_cbor::to_vec(&payload).expect("CBOR encoding of a bundle cannot fail");
    signer.sign(CONTENT_TYPE_BUNDLE, &bytes)
}

pub fn seal_receipt(signer: &Signer, payload: &ReceiptPayload) -> Vec<u8> {
    let bytes = serde_cbor::to_vec(payload).expect("CBOR encoding of a receipt cannot fail");
    signer.sign(CONTENT_TYPE_RECEIPT, &bytes)
}

/// Verifies and decodes a bundle, checking that the signer is the sender it names
/// and that its sequence range is dense.
pub fn open_bundle(
    message: &[u8],
    keyring: &Keyring,
) -> Result<(Verified, BundlePayload), BundleError> {
    let verified = verify(message, keyring)?;
    let payload = check_bundle(&verified, keyring)?;
    Ok((verified, payload))
}

fn check_bundle(verified: &Verified, keyring: &Keyring) -> Result<BundlePayload, BundleError> {
    let payload: BundlePayload = decode(verified, CONTENT_TYPE_BUNDLE, "bundle")?;
    if payload.version != PAYLOAD_VERSION {
        return Err(BundleError::Version(payload.version));
    }
    if verified.signer != UNBOUND && payload.sender != verified.signer {
        return Err(BundleError::SenderMismatch {
            signer: verified.signer.clone(),
            claimed: payload.sender.clone(),
        });
    }
    let count = payload.records.len();
    if count == 0 || payload.last_seq.checked_sub(payload.first_seq) != Some(count as u64 - 1) {
        return Err(BundleError::Range {
            first: payload.first_seq,
            last: payload.last_seq,
            count,
        });
    }
    if merkle_root(&payload.records) != payload.merkle_root {
        return Err(BundleError::MerkleRoot);
    }
    let (head_verified, head) =
        open_head(&payload.head, keyring).map_err(|e| BundleError::Head(e.to_string()))?;
    if head_verified.kid != verified.kid {
        return Err(BundleError::Head(
            "it is signed with another key than the bundle".into(),
        ));
    }
    if head != payload.head() {
        return Err(BundleError::Head(
            "its fields differ from the bundle's".into(),
        ));
    }
    Ok(payload)
}

pub fn open_receipt(
    message: &[u8],
    keyring: &Keyring,
) -> Result<(Verified, ReceiptPayload), BundleError> {
    let verified = verify(message, keyring)?;
    let payload = check_receipt(&verified)?;
    Ok((verified, payload))
}

fn check_receipt(verified: &Verified) -> Result<ReceiptPayload, BundleError> {
    let payload: ReceiptPayload = decode(verified, CONTENT_TYPE_RECEIPT, "receipt")?;
    if payload.version != PAYLOAD_VERSION {
        return Err(BundleError::Version(payload.version));
    }
    if verified.signer != UNBOUND && payload.receiver != verified.signer {
        return Err(BundleError::IssuerMismatch {
            signer: verified.signer.clone(),
            claimed: payload.receiver.clone(),
        });
    }
    Ok(payload)
}

/// A detached signature over a plugin component: what an agency vouches for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSignature {
    pub version: u32,
    #[serde(with = "serde_bytes")]
    pub component_sha256: Vec<u8>,
    pub name: String,
    pub plugin_version: String,
    /// normaliser, eligibility, matcher or transport.
    pub kind: String,
    pub signed_at: Timestamp,
}

pub fn seal_plugin_signature(signer: &Signer, payload: &PluginSignature) -> Vec<u8> {
    let bytes = serde_cbor::to_vec(payload).expect("CBOR encoding of a signature cannot fail");
    signer.sign(CONTENT_TYPE_PLUGIN_SIGNATURE, &bytes)
}

pub fn open_plugin_signature(
    message: &[u8],
    keyring: &Keyring,
) -> Result<(Verified, PluginSignature), BundleError> {
    let verified = verify(message, keyring)?;
    let payload = check_plugin_signature(&verified)?;
    Ok((verified, payload))
}

fn check_plugin_signature(verified: &Verified) -> Result<PluginSignature, BundleError> {
    let payload: PluginSignature =
        decode(verified, CONTENT_TYPE_PLUGIN_SIGNATURE, "plugin signature")?;
    if payload.version != PAYLOAD_VERSION {
        return Err(BundleError::Version(payload.version));
    }
    Ok(payload)
}

/// The payload of a bundle this hub stored itself, decoded without checking
/// its signature (it was checked, or made, before it was stored).
pub fn stored_payload(message: &[u8]) -> Option<BundlePayload> {
    stored(message)
}

/// A signed bundle head this hub stored itself, decoded without checking
/// its signature (it was checked before it was stored).
pub fn stored_head(message: &[u8]) -> Option<BundleHead> {
    stored(message)
}

fn stored<T: serde::de::DeserializeOwned>(message: &[u8]) -> Option<T> {
    let envelope = message.strip_prefix(&[COSE_SIGN1_TAG_BYTE])?;
    type Envelope<'a> = (
        serde::de::IgnoredAny,
        serde::de::IgnoredAny,
        &'a serde_bytes::Bytes,
        serde::de::IgnoredAny,
    );
    let (_, _, payload, _): Envelope = serde_cbor::from_slice(envelope).ok()?;
    serde_cbor::from_slice(payload).ok()
}

/// Whether `message` was signed with `signer`'s key (by its key id; the
/// signature itself is not checked: for the hub's own stored bundles).
pub fn signed_with(message: &[u8], signer: &Signer) -> bool {
    let Some(envelope) = message.strip_prefix(&[COSE_SIGN1_TAG_BYTE]) else {
        return false;
    };
    type Envelope = (
        serde_bytes::ByteBuf,
        serde::de::IgnoredAny,
        serde::de::IgnoredAny,
        serde::de::IgnoredAny,
    );
    serde_cbor::from_slice::<Envelope>(envelope)
        .ok()
        .and_then(|(protected, ..)| parse_protected(&protected).ok())
        .is_some_and(|h| h.kid == key_id(&signer.verifying_key()))
}

/// The owner of a key given to `entrex verify` without a hub id: the signature
/// is checked, but not which hub the payload claims to come from.
pub const UNBOUND: &str = "";

/// A verified message of either kind.
#[derive(Debug)]
pub enum Opened {
    Bundle(BundlePayload),
    Receipt(ReceiptPayload),
    PluginSignature(PluginSignature),
    Head(BundleHead),
}

/// Verifies a message and decodes it as whatever its content type says.
pub fn open_any(message: &[u8], keyring: &Keyring) -> Result<(Verified, Opened), BundleError> {
    let verified = verify(message, keyring)?;
    let opened = if verified.content_type == CONTENT_TYPE_RECEIPT {
        Opened::Receipt(check_receipt(&verified)?)
    } else if verified.content_type == CONTENT_TYPE_PLUGIN_SIGNATURE {
        Opened::PluginSignature(check_plugin_signature(&verified)?)
    } else if verified.content_type == CONTENT_TYPE_HEAD {
        let head: BundleHead = decode(&verified, CONTENT_TYPE_HEAD, "bundle head")?;
        Opened::Head(head)
    } else {
        Opened::Bundle(check_bundle(&verified, keyring)?)
    };
    Ok((verified, opened))
}

fn decode<T: serde::de::DeserializeOwned>(
    verified: &Verified,
    expected: &'static str,
    what: &'static str,
) -> Result<T, BundleError> {
    if verified.content_type != expected {
        return Err(BundleError::ContentType {
            found: verified.content_type.clone(),
            expected,
        });
    }
    serde_cbor::from_slice(&verified.payload).map_err(|e| BundleError::Payload {
        what,
        // serde names what it met (an unknown field whole); the refusal
        // goes back to the partner and into the log.
        detail: entrex_plugin_common::shortened(&e.to_string(), MAX_DETAIL),
    })
}

/// Longest decoding detail a refusal carries.
const MAX_DETAIL: usize = 200;

struct ProtectedHeader {
    content_type: String,
    kid: Vec<u8>,
}

fn protected_header(content_type: &str, kid: &[u8]) -> Vec<u8> {
    let mut map = BTreeMap::new();
    map.insert(Value::Integer(HEADER_ALG), Value::Integer(ALG_EDDSA));
    map.insert(
        Value::Integer(HEADER_CONTENT_TYPE),
        Value::Text(content_type.to_owned()),
    );
    map.insert(Value::Integer(HEADER_KID), Value::Bytes(kid.to_vec()));
    serde_cbor::to_vec(&Value::Map(map)).expect("CBOR encoding of a header cannot fail")
}

fn parse_protected(bytes: &[u8]) -> Result<ProtectedHeader, BundleError> {
    if bytes.len() > MAX_PROTECTED_BYTES {
        return Err(BundleError::Header(format!(
            "it is {} bytes; a protected header of alg, content type and kid takes under {MAX_PROTECTED_BYTES}",
            bytes.len()
        )));
    }
    let value: Value =
        serde_cbor::from_slice(bytes).map_err(|e| BundleError::Header(format!("not CBOR: {e}")))?;
    let Value::Map(map) = value else {
        return Err(BundleError::Header("expected a map".into()));
    };
    let (mut alg, mut content_type, mut kid) = (None, None, None);
    for (label, value) in map {
        match (label, value) {
            (Value::Integer(HEADER_ALG), Value::Integer(a)) => alg = Some(a),
            (Value::Integer(HEADER_CONTENT_TYPE), Value::Text(t)) => content_type = Some(t),
            (Value::Integer(HEADER_KID), Value::Bytes(k)) => kid = Some(k),
            (label, _) => {
                return Err(BundleError::Header(format!(
                    "unexpected or mistyped label {label:?}; expected 1 (alg), 3 (content type), 4 (kid)"
                )));
            }
        }
    }
    match alg {
        Some(ALG_EDDSA | ALG_ED25519) => {}
        Some(other) => {
            return Err(BundleError::Header(format!(
                "alg {other} is not EdDSA (-8) or Ed25519 (-19)"
            )));
        }
        None => return Err(BundleError::Header("alg (label 1) is missing".into())),
    }
    Ok(ProtectedHeader {
        content_type: content_type
            .ok_or_else(|| BundleError::Header("content type (label 3) is missing".into()))?,
        kid: kid.ok_or_else(|| BundleError::Header("kid (label 4) is missing".into()))?,
    })
}

fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let structure = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]);
    serde_cbor::to_vec(&structure).expect("CBOR encoding of Sig_structure cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{PartialDate, Sex, SharedRecord};

    fn record() -> Entry {
        Entry::Record(shared())
    }

    fn shared() -> SharedRecord {
        SharedRecord {
            given_names: "ANNA".into(),
            family_name: "ERIKSSON".into(),
            middle_names: "MARIA".into(),
            date_of_birth: PartialDate {
                year: 1974,
                month: Some(8),
                day: Some(12),
            },
            nationality: "UTO".into(),
            sex: Sex::F,
            document_type: "P".into(),
            document_number: "L898902C3".into(),
            document_country: "UTO".into(),
            entered_at: 1_763_700_000,
            port_code: "0427".into(),
        }
    }

    /// Found by fuzzing (fuzz/ partner_bundle, after 878k inputs): serde's
    /// message names an unknown field whole, so a signed payload with a long
    /// key (here holding a record's values) came back in the refusal.
    #[test]
    fn a_payload_with_a_long_unknown_field_is_refused_briefly() {
        let (signer, keyring) = setup();
        let key = format!("emonth\u{3}{}", "ERIKSSON ANNA L898902C3 ".repeat(100));
        let payload = serde_cbor::to_vec(&serde_cbor::Value::Map(
            [(serde_cbor::Value::Text(key), serde_cbor::Value::Integer(1))]
                .into_iter()
                .collect(),
        ))
        .unwrap();
        let message = signer.sign(CONTENT_TYPE_BUNDLE, &payload);
        let e = open_bundle(&message, &keyring).unwrap_err().to_string();
        assert!(e.len() < 600, "{} bytes: {e}", e.len());
        assert!(!e.contains('\u{3}'), "{e:?}");
    }

    fn setup() -> (Signer, Keyring) {
        let signer = Signer::new(SigningKey::from_bytes(&[7; 32]));
        let mut keyring = Keyring::default();
        keyring.add("CA", signer.verifying_key());
        (signer, keyring)
    }

    fn bundle() -> BundlePayload {
        BundlePayload::new(
            "CA",
            "US",
            1,
            1_763_700_100,
            Vec::new(),
            vec![record(), record()],
        )
    }

    #[test]
    fn merkle_roots_follow_rfc_9162() {
        // One leaf: the leaf hash itself.
        let one = [record()];
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(serde_cbor::to_vec(&one[0]).unwrap());
        assert_eq!(merkle_root(&one), h.finalize().to_vec());
        // Three leaves split 2 + 1.
        let mut r2 = shared();
        r2.family_name = "B".into();
        let mut r3 = shared();
        r3.family_name = "C".into();
        let (r2, r3) = (Entry::Record(r2), Entry::Record(r3));
        let three = [record(), r2.clone(), r3.clone()];
        let node = |l: &[u8], r: &[u8]| {
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(l);
            h.update(r);
            h.finalize().to_vec()
        };
        let left = node(&merkle_root(&three[..1]), &merkle_root(&three[1..2]));
        assert_eq!(merkle_root(&three), node(&left, &merkle_root(&three[2..])));
        // Any change of any record changes the root.
        assert_ne!(merkle_root(&three), merkle_root(&[record(), r3, r2]));
    }

    #[test]
    fn a_bundle_whose_root_does_not_match_its_records_is_refused() {
        let (signer, keyring) = setup();
        let mut lying = bundle();
        let mut other = shared();
        other.family_name = "SOMEONE ELSE".into();
        lying.records[1] = Entry::Record(other);
        let err = open_bundle(&seal_bundle(&signer, &lying), &keyring).unwrap_err();
        assert_eq!(err, BundleError::MerkleRoot);
    }

    #[test]
    fn a_sealed_bundle_opens_to_the_same_payload() {
        let (signer, keyring) = setup();
        let message = seal_bundle(&signer, &bundle());
        let (verified, payload) = open_bundle(&message, &keyring).unwrap();
        assert_eq!(verified.signer, "CA");
        let mut expected = bundle();
        expected.head = payload.head.clone();
        assert_eq!(payload, expected);
        let (_, head) = open_head(&payload.head, &keyring).unwrap();
        assert_eq!(head, expected.head());
    }

    /// Every entry of bundles of every size from 1 to 40 proves its inclusion;
    /// a changed entry, a wrong sequence number or a cut path does not.
    #[test]
    fn inclusion_proofs_verify_for_every_entry_and_only_for_it() {
        let (signer, keyring) = setup();
        for n in 1..=40u64 {
            let entries: Vec<Entry> = (0..n)
                .map(|i| {
                    let mut r = shared();
                    r.family_name = format!("N{i}");
                    Entry::Record(r)
                })
                .collect();
            let payload = BundlePayload::new("CA", "US", 100, 1_763_700_100, vec![], entries);
            let message = seal_bundle(&signer, &payload);
            for seq in 100..100 + n {
                let proof = prove(&message, &keyring, seq).unwrap();
                let (_, head) = check_proof(&proof, &keyring).unwrap();
                assert_eq!(head.merkle_root, payload.merkle_root);
                let mut altered = proof.clone();
                let mut r = shared();
                r.family_name = "SOMEONE ELSE".into();
                altered.entry = Entry::Record(r);
                assert!(check_proof(&altered, &keyring).is_err(), "n={n} seq={seq}");
                if n > 1 {
                    let mut moved = proof.clone();
                    moved.seq = if seq == 100 { 101 } else { seq - 1 };
                    assert!(check_proof(&moved, &keyring).is_err(), "n={n} seq={seq}");
                    let mut cut = proof.clone();
                    cut.path.pop();
                    assert!(check_proof(&cut, &keyring).is_err(), "n={n} seq={seq}");
                }
            }
            assert!(prove(&message, &keyring, 100 + n).is_err());
        }
    }

    #[test]
    fn amendments_round_trip_and_records_keep_their_eleven_keys() {
        let entries = vec![
            record(),
            Entry::Correction {
                amends: 1,
                record: shared(),
            },
            Entry::Deletion { amends: 1 },
        ];
        let bytes = serde_cbor::to_vec(&entries).unwrap();
        let back: Vec<Entry> = serde_cbor::from_slice(&bytes).unwrap();
        assert_eq!(back, entries);
        let plain: serde_cbor::Value =
            serde_cbor::from_slice(&serde_cbor::to_vec(&entries[0]).unwrap()).unwrap();
        let serde_cbor::Value::Map(map) = plain else {
            panic!()
        };
        assert_eq!(map.len(), 11);
    }

    #[test]
    fn an_expired_key_is_refused_and_named() {
        let (signer, _) = setup();
        let mut keyring = Keyring::default();
        keyring.add_until("CA", signer.verifying_key(), Some(1_000));
        let err = open_bundle(&seal_bundle(&signer, &bundle()), &keyring).unwrap_err();
        assert!(matches!(err, BundleError::ExpiredKey { .. }), "{err}");
        assert!(err.to_string().contains("1970-01-01"), "{err}");
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let (signer, keyring) = setup();
        let message = seal_bundle(&signer, &bundle());
        for i in 0..message.len() {
            let mut tampered = message.clone();
            tampered[i] ^= 0x01;
            assert!(open_bundle(&tampered, &keyring).is_err(), "byte {i}");
        }
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (_, keyring) = setup();
        let stranger = Signer::new(SigningKey::from_bytes(&[9; 32]));
        let err = open_bundle(&seal_bundle(&stranger, &bundle()), &keyring).unwrap_err();
        assert!(matches!(err, BundleError::UnknownKey { .. }), "{err}");
    }

    #[test]
    fn a_bundle_claiming_another_sender_is_refused() {
        let (signer, keyring) = setup();
        let mut forged = bundle();
        forged.sender = "US".into();
        let err = open_bundle(&seal_bundle(&signer, &forged), &keyring).unwrap_err();
        assert!(matches!(err, BundleError::SenderMismatch { .. }), "{err}");
    }

    #[test]
    fn a_sparse_sequence_range_is_refused() {
        let (signer, keyring) = setup();
        let mut sparse = bundle();
        sparse.last_seq = 5;
        sparse.merkle_root = merkle_root(&sparse.records);
        let err = open_bundle(&seal_bundle(&signer, &sparse), &keyring).unwrap_err();
        assert!(matches!(err, BundleError::Range { .. }), "{err}");
    }

    #[test]
    fn a_receipt_is_not_accepted_as_a_bundle() {
        let (signer, keyring) = setup();
        let receipt = ReceiptPayload {
            version: PAYLOAD_VERSION,
            receiver: "CA".into(),
            sender: "US".into(),
            first_seq: 1,
            last_seq: 1,
            bundle_sha256: vec![0; 32],
            received_at: 0,
        };
        let message = seal_receipt(&signer, &receipt);
        assert!(matches!(
            open_bundle(&message, &keyring),
            Err(BundleError::ContentType { .. })
        ));
        assert_eq!(open_receipt(&message, &keyring).unwrap().1, receipt);
    }
}
