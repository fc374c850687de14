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
use crate::record::{SharedRecord, Timestamp};

pub const CONTENT_TYPE_BUNDLE: &str = "application/entrex-bundle+cbor";
pub const CONTENT_TYPE_RECEIPT: &str = "application/entrex-receipt+cbor";
pub const CONTENT_TYPE_PLUGIN_SIGNATURE: &str = "application/entrex-plugin-signature+cbor";
/// The media type of a bundle or receipt on HTTP.
pub const MEDIA_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// Larger messages are refused before any parsing.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
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
}

impl Keyring {
    pub fn add(&mut self, owner: &str, key: VerifyingKey) {
        self.keys.push(TrustedKey {
            kid: key_id(&key),
            owner: owner.to_owned(),
            key,
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
    type Envelope = (
        serde_bytes::ByteBuf,
        BTreeMap<i64, serde::de::IgnoredAny>,
        serde_bytes::ByteBuf,
        serde_bytes::ByteBuf,
    );
    let (protected, unprotected, payload, signature): Envelope = serde_cbor::from_slice(envelope)
        .map_err(|e| {
        BundleError::NotCose(format!(
            "expected [protected: bstr, unprotected: map, payload: bstr, signature: bstr]: {e}"
        ))
    })?;
    if !unprotected.is_empty() {
        return Err(BundleError::NotCose(
            "the unprotected header must be empty: every header this hub reads is signed".into(),
        ));
    }
    let (protected, payload, signature) = (
        protected.into_vec(),
        payload.into_vec(),
        signature.into_vec(),
    );
    let header = parse_protected(&protected)?;
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
    pub records: Vec<SharedRecord>,
}

impl BundlePayload {
    /// Builds a bundle, computing its Merkle root.
    pub fn new(
        sender: &str,
        receiver: &str,
        first_seq: u64,
        created_at: Timestamp,
        prev_bundle_sha256: Vec<u8>,
        records: Vec<SharedRecord>,
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
            records,
        }
    }
}

/// RFC 9162 (Certificate Transparency v2) Merkle tree hash of the records:
/// leaves `SHA-256(0x00 || cbor(record))`, nodes `SHA-256(0x01 || left || right)`,
/// split at the largest power of two below the count.
pub fn merkle_root(records: &[SharedRecord]) -> Vec<u8> {
    let leaves: Vec<[u8; 32]> = records
        .iter()
        .map(|r| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(serde_cbor::to_vec(r).expect("CBOR encoding of a record cannot fail"));
            h.finalize().into()
        })
        .collect();
    tree_hash(&leaves).to_vec()
}

fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            // The largest power of two strictly below n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(tree_hash(&leaves[..k]));
            h.update(tree_hash(&leaves[k..]));
            h.finalize().into()
        }
    }
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

pub fn seal_bundle(signer: &Signer, payload: &BundlePayload) -> Vec<u8> {
    let bytes = serde_cbor::to_vec(payload).expect("CBOR encoding of a bundle cannot fail");
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
    let payload = check_bundle(&verified)?;
    Ok((verified, payload))
}

fn check_bundle(verified: &Verified) -> Result<BundlePayload, BundleError> {
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

/// The owner of a key given to `entrex verify` without a hub id: the signature
/// is checked, but not which hub the payload claims to come from.
pub const UNBOUND: &str = "";

/// A verified message of either kind.
#[derive(Debug)]
pub enum Opened {
    Bundle(BundlePayload),
    Receipt(ReceiptPayload),
    PluginSignature(PluginSignature),
}

/// Verifies a message and decodes it as whatever its content type says.
pub fn open_any(message: &[u8], keyring: &Keyring) -> Result<(Verified, Opened), BundleError> {
    let verified = verify(message, keyring)?;
    let opened = if verified.content_type == CONTENT_TYPE_RECEIPT {
        Opened::Receipt(check_receipt(&verified)?)
    } else if verified.content_type == CONTENT_TYPE_PLUGIN_SIGNATURE {
        Opened::PluginSignature(check_plugin_signature(&verified)?)
    } else {
        Opened::Bundle(check_bundle(&verified)?)
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
        detail: e.to_string(),
    })
}

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
    use crate::record::{PartialDate, Sex};

    fn record() -> SharedRecord {
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
        let mut r2 = record();
        r2.family_name = "B".into();
        let mut r3 = record();
        r3.family_name = "C".into();
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
        lying.records[1].family_name = "SOMEONE ELSE".into();
        let err = open_bundle(&seal_bundle(&signer, &lying), &keyring).unwrap_err();
        assert_eq!(err, BundleError::MerkleRoot);
    }

    #[test]
    fn a_sealed_bundle_opens_to_the_same_payload() {
        let (signer, keyring) = setup();
        let message = seal_bundle(&signer, &bundle());
        let (verified, payload) = open_bundle(&message, &keyring).unwrap();
        assert_eq!(verified.signer, "CA");
        assert_eq!(payload, bundle());
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
