//! Integration tests: real hubs on loopback, real plugins, the real binary.
//! One test binary with modules, so it links once.

mod cli;
mod config;
mod exchange;
mod openapi;
mod ops;
mod plugins;
mod support;
mod tls;
