//! The notifier service: telling a rep about their leads.
//!
//! It owns the in-app inbox (the bell: list, unread count, mark read, and a
//! live stream that works across replicas), each agent's channel
//! preferences, browser push subscriptions, and a durable delivery queue for
//! Web Push and email. Notify is idempotent: one key, one notification, one
//! delivery per channel and target, however often it is retried. Every
//! attempt is recorded; failing deliveries back off and end DEAD.

pub mod channels;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod hub;
pub mod intake;
pub mod server;
pub mod store;
pub mod watcher;

pub use config::Config;
pub use server::{NotifierCommands, NotifierService, Parts, host};
