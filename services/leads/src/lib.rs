//! The leads service: the team directory and the leads themselves.
//!
//! It owns the members of each organisation (role, active, available), the
//! leads, every change of a lead's owner or status (with a full history of who
//! did what, how, and in which batch), and CreateLead idempotency keys. It
//! promises that:
//! - a lead has at most one owner, and races (fifty reps claiming one lead, a
//!   bulk assignment against a claim) end with exactly one winner;
//! - every change lands whole, with its history, or not at all;
//! - callers see only their own organisation, and sales only unassigned leads
//!   and their own.

pub mod balance;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod error;
pub mod fastpath;
pub mod grpc;
pub mod held;
pub mod peers;
pub mod reconcile;
pub mod server;
pub mod store;
pub mod usecase;
pub mod wire;

pub use config::Config;
pub use server::{LeadsService, Links, host};
