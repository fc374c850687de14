//! Integration tests: real hubs on loopback, real plugins, the real binary.
//! One test binary with modules, so it links once.

mod access;
mod cli;
mod exchange;
mod faults;
mod insights;
mod plugins;
mod proxy;
mod support;
mod tls;
