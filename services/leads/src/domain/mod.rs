//! The leads service's rules in plain Rust: no tonic, no SQL.
//!
//! Validation (`lead`, `member`, `filter`), the names stored as text
//! (`stored`), who may do what (`permissions`), and every change of a lead
//! as a value the store applies (`change`, `assign`), with what routing said
//! (`routing`) and what the other services are told (`events`); how
//! returning contacts are matched (`contact`).

pub mod assign;
pub mod change;
pub mod contact;
pub mod events;
pub mod filter;
pub mod lead;
pub mod member;
pub mod permissions;
pub mod routing;
pub mod sla;
pub mod stored;
