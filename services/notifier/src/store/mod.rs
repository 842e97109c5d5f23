//! Everything that talks SQL: the inbox, preferences, push subscriptions and
//! the durable delivery queue.
//!
//! Notify is one transaction: the notification and one delivery row per
//! channel and target land together, keyed so that a retried Notify finds
//! them instead of adding more. Which deliveries a notification gets is
//! decided by [`crate::domain::fanout`]; the store reads what that rule needs
//! and writes what it returns. Workers claim due deliveries through
//! [`leadflow_db::queue`]: a short lease kept alive by a heartbeat, a fencing
//! token, the attempt counted when it is taken. They send without holding any
//! lock, and record the outcome only if they still hold the lease.
//!
//! [`Store`] is one type; its methods live beside the tables they touch:
//! `inbox` (notifications), `preferences`, `subscriptions` and
//! `deliveries`.

pub mod entities;
pub mod migrations;

mod deliveries;
mod inbox;
mod preferences;
mod subscriptions;

use chrono::{DateTime, SubsecRound, Utc};

pub use crate::domain::fanout::{Channel, Preferences};
pub use deliveries::{DeliveryView, DueDelivery, Outcome, Status};
pub use inbox::{Notified, PendingNotify};
pub use subscriptions::Subscription;

use crate::domain::notification::{Kind, Notification, Subject};
use crate::error::NotifierError;
use entities::notification;

/// The current time at the precision every backend stores (microseconds),
/// so a value written reads back equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A stored notification row, read back as the domain sees it.
fn to_notification(m: notification::Model) -> Result<Notification, NotifierError> {
    Ok(Notification {
        kind: Kind::parse_stored(&m.kind)
            .ok_or_else(|| NotifierError::Internal(format!("stored kind {}", m.kind)))?,
        subject: serde_json::from_str::<Subject>(&m.subject)
            .map_err(|e| NotifierError::Internal(format!("stored subject: {e}")))?,
        id: m.id,
        recipient_id: m.recipient_id,
        title: m.title,
        body: m.body,
        actor_id: m.actor_id,
        read_at: m.read_at,
        created_at: m.created_at,
    })
}

leadflow_db::own_database! {
    /// The notifier database.
    pub struct Store;
    migrations: migrations::Migrator, lock: migrations::MIGRATION_LOCK_ID
}
