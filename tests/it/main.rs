//! Integration tests: real hubs on loopback, real plugins, the real binary.
//! One test binary with modules, so it links once.

mod cli;
mod exchange;
mod plugins;
mod reconcile;
mod support;
mod tls;
