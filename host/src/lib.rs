//! entrex — the Entry/Exit exchange appliance.
//!
//! Layout (see ARCHITECTURE.md for the invariants):
//!
//! - [`config`]: the hub's TOML, parsed strictly and validated into `Settings`.
//! - [`record`]: domain types: the canonical `Crossing` and the eleven-element
//!   `SharedRecord`, with the only projection from one to the other.
//! - [`plugins`]: the wasmtime runtime for normaliser, eligibility, matcher and
//!   transport plugins, and the embedded default plugins.
//! - [`ingest`]: source batch → normalise → eligibility → projection → store.
//! - [`store`]: everything durable (sled).
//! - [`bundle`]: the wire format — COSE_Sign1 bundles and receipts.
//! - [`keys`]: Ed25519 keys and their PEM files.
//! - [`tls`]: mutual TLS between hubs, partner certificates pinned.
//! - [`exchange`]: the bundler (send) and the receiving side.
//! - [`matching`]: links received exits to our entries.
//! - [`report`]: status and the joint-report figures.
//! - [`reconcile`]: `entrex reconcile`, matching two canonical CSV files in a batch.
//! - [`presence`]: travel history and physical-presence calculators (PR
//!   residency obligation, citizenship).
//! - [`api`]: the HTTP API; [`hub`] starts and stops all of the above.
//! - [`client`], [`demo`], [`generator`], [`verify`]: the tools around a hub.

pub mod api;
pub mod bundle;
pub mod client;
pub mod config;
pub mod demo;
pub mod exchange;
pub mod fixtures;
pub mod generator;
pub mod hub;
pub mod ingest;
pub mod keys;
pub mod matching;
pub mod plugins;
pub mod presence;
pub mod reconcile;
pub mod record;
pub mod report;
pub mod store;
pub mod tls;
pub mod verify;
