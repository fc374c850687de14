//! The compiled-plugin cache's files (`<data_dir>/compiled`): compiled
//! components kept across restarts so a hub does not compile its plugins at
//! every start.
//!
//! A cache file is native code the hub will map executable, so it is only
//! used if the hub itself wrote it: each file carries an HMAC-SHA256, under a
//! secret of 32 random bytes kept in the directory (`cache.key`, mode 0600,
//! made at first use), over the cache key (the file's name: component hash
//! and engine compatibility) and the compiled bytes. A file that was changed,
//! cut short, copied from another hub or put under another component's name
//! fails the check and is refused before anything deserialises it.
//!
//! The secret protects against anyone who cannot read it (another account, a
//! restored or copied directory, a disk that flips bits); whoever can read the
//! hub's data directory can forge a file, which is why the directory must be
//! the hub's alone (`[hub] data_dir`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a cache file starts with: the format, so a file of an older layout
/// is refused as such rather than as tampered.
const MAGIC: &[u8; 8] = b"entrexC1";
const MAC_BYTES: usize = 32;
const HEADER_BYTES: usize = MAGIC.len() + MAC_BYTES;
/// Separates this use of the secret from any other it might be given.
const DOMAIN: &[u8] = b"entrex compiled plugin cache v1\0";
const KEY_FILE: &str = "cache.key";
const KEY_BYTES: usize = 32;
/// No compiled plugin is near this size; a larger file is not read into
/// memory at all.
const MAX_FILE_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub(super) enum CacheError {
    #[error("cannot read compiled plugin file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot keep the compiled plugin in {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("compiled plugin file {path} is refused: {why}; compiling the plugin again")]
    Refused { path: PathBuf, why: String },
    #[error(
        "compiled plugins are not kept across restarts: the cache key {path} {why} (delete it and the hub makes a new one)"
    )]
    Key { path: PathBuf, why: String },
}

/// The secret of the process's cache directory, read or made once; `None`
/// (after one warning) when it cannot be, and then nothing is cached.
fn secret(dir: &Path) -> Option<&'static [u8; KEY_BYTES]> {
    static SECRET: OnceLock<Option<[u8; KEY_BYTES]>> = OnceLock::new();
    SECRET
        .get_or_init(|| match load_or_create_key(dir) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        })
        .as_ref()
}

fn load_or_create_key(dir: &Path) -> Result<[u8; KEY_BYTES], CacheError> {
    let path = dir.join(KEY_FILE);
    let key_error = |why: String| CacheError::Key {
        path: path.clone(),
        why,
    };
    match read_key(&path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(key_error(e.to_string())),
    }
    create_dir(dir).map_err(|e| key_error(format!("cannot be made: {e}")))?;
    let mut key = [0u8; KEY_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    // Written whole and synced under a name of its own, then linked into
    // place: a link never replaces an existing file, so two processes making
    // the key at once agree on the one that got there first, and a crash
    // never leaves a short key under the real name.
    let temp = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
    let made = write_synced(&temp, &[&key[..]]).and_then(|()| std::fs::hard_link(&temp, &path));
    let _ = std::fs::remove_file(&temp);
    match made {
        Ok(()) => {
            sync_dir(dir).map_err(|e| key_error(format!("cannot be made durable: {e}")))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path).map_err(|e| key_error(e.to_string()))
        }
        Err(e) => Err(key_error(format!("cannot be made: {e}"))),
    }
}

fn read_key(path: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    // Not followed if it is a link: the key is a file the hub made here.
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(invalid("is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        // Anyone else who can read the key can forge cache files.
        if mode & 0o077 != 0 {
            return Err(invalid(format!(
                "may be read or written by others (mode {mode:o}, not 600)"
            )));
        }
    }
    let bytes = std::fs::read(path)?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| invalid(format!("holds {} bytes, not {KEY_BYTES}", b.len())))
}

fn mac(key: &[u8; KEY_BYTES], cache_key: &str, code: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(DOMAIN);
    // Length-prefixed, so the name and the code cannot trade bytes.
    mac.update(&(cache_key.len() as u64).to_le_bytes());
    mac.update(cache_key.as_bytes());
    mac.update(code);
    mac
}

/// The compiled bytes kept under `cache_key` in `dir`, if there is a file and
/// it is one this hub wrote for that key; `Ok(None)` when there is none (or
/// nothing is cached). The bytes are checked in memory and returned from
/// there, so the file cannot change between the check and their use.
pub(super) fn read(dir: &Path, cache_key: &str) -> Result<Option<Vec<u8>>, CacheError> {
    let path = dir.join(cache_key);
    let read_error = |source| CacheError::Read {
        path: path.clone(),
        source,
    };
    let refused = |why: String| CacheError::Refused {
        path: path.clone(),
        why,
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let Some(key) = secret(dir) else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refused(format!("it is larger than {MAX_FILE_BYTES} bytes")));
    }
    if bytes.len() < HEADER_BYTES || !bytes.starts_with(MAGIC) {
        return Err(refused("it is not a cache file of this version".into()));
    }
    let code = bytes.split_off(HEADER_BYTES);
    // Constant-time comparison: the check does not tell a forger how many
    // bytes of a guess were right.
    mac(key, cache_key, &code)
        .verify_slice(&bytes[MAGIC.len()..])
        .map_err(|_| {
            refused(
                "its authentication code does not match (changed since this hub wrote it, or written for another component)"
                    .into(),
            )
        })?;
    Ok(Some(code))
}

/// Keeps `code` under `cache_key` in `dir`, with its authentication code:
/// written to a temporary file, synced, renamed over the old file, and the
/// directory synced, so the name holds either the old file or the whole new
/// one after a crash.
pub(super) fn write(dir: &Path, cache_key: &str, code: &[u8]) -> Result<(), CacheError> {
    // One writer at a time in this process (hubs in one process share the
    // directory), so one temporary name per cache key is enough, and a
    // temporary file a crash left behind is simply written over.
    static WRITING: Mutex<()> = Mutex::new(());
    let path = dir.join(cache_key);
    let write_error = |source| CacheError::Write {
        path: path.clone(),
        source,
    };
    create_dir(dir).map_err(write_error)?;
    let Some(key) = secret(dir) else {
        return Ok(());
    };
    let tag = mac(key, cache_key, code).finalize().into_bytes();
    let _writing = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let temp = dir.join(format!(".{cache_key}.tmp"));
    let _ = std::fs::remove_file(&temp);
    write_synced(&temp, &[MAGIC, &tag[..], code])
        .and_then(|()| std::fs::rename(&temp, &path))
        .and_then(|()| sync_dir(dir))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            write_error(e)
        })
}

/// Creates `path` (which must not exist), readable only by the hub, writes
/// `parts` and syncs it.
fn write_synced(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes a rename or link in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_checks_only_under_its_own_key_and_name() {
        let key = [7u8; KEY_BYTES];
        let tag = mac(&key, "a.cwasm", b"code").finalize().into_bytes();
        assert!(mac(&key, "a.cwasm", b"code").verify_slice(&tag).is_ok());
        assert!(mac(&key, "b.cwasm", b"code").verify_slice(&tag).is_err());
        assert!(mac(&key, "a.cwasm", b"codf").verify_slice(&tag).is_err());
        assert!(
            mac(&[8u8; KEY_BYTES], "a.cwasm", b"code")
                .verify_slice(&tag)
                .is_err()
        );
        // The name's length is bound: no byte moves between name and code.
        assert!(mac(&key, "a.cwasmc", b"ode").verify_slice(&tag).is_err());
    }

    #[test]
    fn a_key_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = load_or_create_key(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(load_or_create_key(dir.path()).unwrap(), key);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = load_or_create_key(dir.path()).unwrap_err().to_string();
            assert!(err.contains("mode 644"), "{err}");
        }
    }
}
