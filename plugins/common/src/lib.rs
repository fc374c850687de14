//! Helpers shared by the default entrex plugins (and by the host's data
//! generator, which must produce the same codes and MRZs the plugins check).
//!
//! No dependencies on WIT bindings: everything here is plain Rust.

pub mod dates;
pub mod icao;
pub mod names;
