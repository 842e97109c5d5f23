//! Storage of the routing service: settings and their audit log in its own
//! database (sea-orm), and the routing state (cursors, decisions, workload)
//! in Redis or memory.

pub mod entities;
pub mod memory;
pub mod migrations;
pub mod redis;
pub mod settings;
pub mod state;

pub use memory::MemoryState;
pub use redis::{RedisState, RedisTarget};
pub use settings::{AuditEntry, SettingsStore};
pub use state::{Generation, Ownership, Pick, Picked, RoutingState, Snapshot, StateError};
