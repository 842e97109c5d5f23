//! The routing service: who gets a new lead.
//!
//! It owns each organisation's routing settings (versioned, audited) and the
//! routing state: round-robin cursors, remembered decisions and per-rep
//! open-lead counts, kept in Redis and changed only by atomic Lua scripts, so
//! the rotation holds with any number of routing replicas. Decisions are
//! plain functions of settings, team snapshot and lead (`domain::decision`),
//! each carrying the explanation an operator needs.

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::{RoutingService, host};
