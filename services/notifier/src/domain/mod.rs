//! The notifier's rules in plain Rust: no database, no wire format, so each
//! rule can be read and unit-tested on its own.

pub mod fanout;
pub mod notification;
pub mod push;
pub mod retry;
pub mod sent_window;
