//! Ed25519 keys: generation, PEM files, key ids.
//!
//! Private keys are PKCS#8 PEM ("BEGIN PRIVATE KEY"); public keys are PEM
//! SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), which openssl, Python's
//! cryptography, Go and Java read without custom code.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read key file {path}: {source}; create a key pair with `entrex keygen --out DIR --name NAME`, or for a partner's key copy the .pub.pem file it publishes"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an Ed25519 {what} in PEM form ({detail}); create one with `entrex keygen --out DIR`"
    )]
    Parse {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to overwrite existing key file {0}; remove it first or choose another --out")]
    Exists(PathBuf),
}

/// A key id: the first 8 bytes of SHA-256 over the raw 32-byte public key.
/// Carried in the COSE `kid` header so a verifier can pick the key.
pub fn key_id(key: &VerifyingKey) -> Vec<u8> {
    Sha256::digest(key.as_bytes())[..8].to_vec()
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = read(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        what: "private key (PKCS#8)",
        detail: e.to_string(),
    })
}

pub fn load_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = read(path)?;
    parse_public_key(&pem).map_err(|detail| KeyError::Parse {
        path: path.to_owned(),
        what: "public key (SubjectPublicKeyInfo)",
        detail,
    })
}

pub fn parse_public_key(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| e.to_string())
}

pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("encoding a valid Ed25519 public key cannot fail")
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Files written by [`generate`].
pub struct GeneratedKey {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
    pub key_id: String,
}

/// Generates a key pair into `dir` as `<name>.key.pem` (mode 0600) and
/// `<name>.pub.pem`. Never overwrites: a lost signing key cannot be recovered.
pub fn generate(dir: &Path, name: &str) -> Result<GeneratedKey, KeyError> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let private_key = dir.join(format!("{name}.key.pem"));
    let public_key = dir.join(format!("{name}.pub.pem"));
    for path in [&private_key, &public_key] {
        if path.exists() {
            return Err(KeyError::Exists(path.clone()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .expect("encoding a valid Ed25519 private key cannot fail");
    write_private(&private_key, pem.as_bytes())?;
    let verifying = signing.verifying_key();
    std::fs::write(&public_key, public_key_pem(&verifying)).map_err(|source| KeyError::Write {
        path: public_key.clone(),
        source,
    })?;
    Ok(GeneratedKey {
        private_key,
        public_key,
        key_id: hex::encode(key_id(&verifying)),
    })
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })?;
    file.write_all(bytes).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })
}
