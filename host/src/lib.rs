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
//! - [`metrics`], [`health`]: what monitoring sees (`/metrics`, `/readyz`).
//! - [`reconcile`]: `entrex reconcile`, matching two canonical CSV files in a batch.
//! - [`presence`]: travel history and physical-presence calculators (PR
//!   residency obligation, citizenship).
//! - [`insights`]: overstays and one person's travel history and presence,
//!   for analysts; [`removal`]: the hub's removal-order list, screened
//!   against received records, flags for a person to confirm.
//! - [`throughput`]: the totals sampled over the last hour (records per second).
//! - [`api`]: the HTTP API; [`dashboard`]: the operators' page it serves;
//!   [`hub`] starts and stops all of the above.
//! - [`client`], [`demo`], [`generator`], [`verify`]: the tools around a hub.
//! - [`ledger`]: the sealed ledger and the matching decisions as Parquet,
//!   for analytics engines (`entrex ledger export`, `export-matches`).

pub mod api;
pub mod audit;
pub mod auth;
pub mod bundle;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod exchange;
pub mod failpoint;
pub mod fixtures;
pub mod generator;
pub mod health;
pub mod hub;
pub mod ingest;
pub mod insights;
pub mod keys;
pub mod ledger;
pub mod matching;
pub mod metrics;
pub mod plugins;
pub mod presence;
pub mod reconcile;
pub mod record;
pub mod reindex;
pub mod removal;
pub mod report;
pub mod retention;
pub mod store;
pub mod throughput;
pub mod tls;
pub mod training;
pub mod verify;
