//! The notifier service: telling a rep about their leads.

pub mod domain;
pub mod error;
