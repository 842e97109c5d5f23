//! The leads service's rules in plain Rust: no tonic, no SQL.

pub mod events;
pub mod filter;
pub mod lead;
pub mod member;
pub mod permissions;
