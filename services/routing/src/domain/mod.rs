//! Routing's rules in plain Rust: no tonic, no Redis, no SQL.

pub mod decision;
pub mod permissions;
pub mod settings;
