//! Integration tests: real hubs on loopback, real plugins, the real binary.
//! One test binary with modules, so it links once.

mod access;
mod audit;
mod cli;
mod config;
mod connections;
mod dashboard;
mod exchange;
mod faults;
mod insights;
mod invariants;
mod ledger;
mod openapi;
mod ops;
mod partners;
mod plugins;
mod proxy;
mod reconcile;
mod scripts;
mod support;
mod tls;
