//! The notifier's rules in plain Rust.

pub mod notification;
pub mod push;
pub mod retry;
