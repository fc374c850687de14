//! Integration tests: real hubs on loopback, real plugins, the real binary.
//! One test binary with modules, so it links once.

mod access;
mod cli;
mod dashboard;
mod exchange;
mod faults;
mod plugins;
mod proxy;
mod support;
mod tls;
