//! The partner endpoint's decoding: a COSE_Sign1 envelope, its protected
//! header, the CBOR bundle payload, the signed head, the Merkle root and the
//! bounds on every record: everything `exchange::receive` does before it
//! touches the store.
//!
//! An input is tried three ways: as it arrives (most fail at the envelope or
//! the signature); as a payload signed by a trusted partner (so the decoding
//! behind the signature is reached); and, when it holds a bundle payload, with
//! its Merkle root and head made right and sealed again (so the record bounds
//! are reached). The seeds in corpus/partner_bundle are real bundles.
#![no_main]

#[path = "clear.rs"]
mod clear;

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use entrex::bundle::{self, BundlePayload, Keyring, Signer};
use libfuzzer_sys::fuzz_target;

use clear::assert_clear;

const PARTNER: &str = "CA";

struct Partner {
    signer: Signer,
    keyring: Keyring,
}

static TRUSTED: LazyLock<Partner> = LazyLock::new(|| {
    let signer = Signer::new(SigningKey::from_bytes(&[7; 32]));
    let mut keyring = Keyring::default();
    keyring.add(PARTNER, signer.verifying_key());
    Partner { signer, keyring }
});

fn receive(message: &[u8]) {
    let partner = &*TRUSTED;
    match bundle::open_bundle(message, &partner.keyring) {
        Ok((verified, payload)) => {
            assert_eq!(verified.signer, PARTNER);
            assert_eq!(
                payload.sender, PARTNER,
                "a bundle opened under another sender"
            );
            for record in &payload.records {
                if let Err(invalid) = record.check() {
                    assert_clear("record check", &invalid.to_string());
                }
            }
        }
        Err(e) => assert_clear("open_bundle", &e.to_string()),
    }
    if let Err(e) = bundle::open_any(message, &partner.keyring) {
        assert_clear("open_any", &e.to_string());
    }
}

fuzz_target!(|data: &[u8]| {
    let partner = &*TRUSTED;
    receive(data);
    receive(&partner.signer.sign(bundle::CONTENT_TYPE_BUNDLE, data));
    let payload =
        bundle::stored_payload(data).or_else(|| serde_cbor::from_slice::<BundlePayload>(data).ok());
    if let Some(mut payload) = payload {
        payload.sender = PARTNER.to_owned();
        payload.merkle_root = bundle::merkle_root(&payload.records);
        receive(&bundle::seal_bundle(&partner.signer, &payload));
    }
});
