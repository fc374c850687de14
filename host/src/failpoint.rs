//! Crash points: `ENTREX_CRASH_AT=NAME` makes the process abort the first time
//! it reaches the point `NAME` (`NAME:N`, the N-th time), as a kill -9 at the
//! worst moment would. The fault tests use them to crash a hub exactly between
//! two steps that a random kill would hit only rarely.
//!
//! Read once; when unset a point costs one load of a `OnceLock`. An abort
//! loses nothing a kill -9 would not, so a point is safe to leave in the
//! product: the variable is a test's, not an operator's, setting.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Armed {
    name: String,
    /// Abort on this hit (1 = the first).
    nth: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("ENTREX_CRASH_AT").ok()?;
            let (name, nth) = match spec.rsplit_once(':') {
                Some((name, n)) if n.parse::<u64>().is_ok() => (name.to_owned(), n.parse().ok()?),
                _ => (spec, 1),
            };
            Some(Armed {
                name,
                nth,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process here if `ENTREX_CRASH_AT` names this point (and this
/// is the hit it names).
pub fn hit(name: &str) {
    if let Some(a) = armed()
        && a.name == name
        && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.nth
    {
        eprintln!("ENTREX_CRASH_AT={name}: aborting here, as a kill -9 would");
        std::process::abort();
    }
}
