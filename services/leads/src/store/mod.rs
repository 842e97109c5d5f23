//! Everything that talks SQL. The rest of the service sees domain types.
//!
//! - `queries`: reading leads, pages and history;
//! - `ownership`: applying a decided change of owner or status;
//! - `idempotency`: creating a lead once per key;
//! - `members`: the team directory; `outbox`: events for the other services.
//!
//! Each multi-row change (a lead with its tags and history, a bulk assignment
//! with one history row per lead) is one transaction: it lands whole or not
//! at all. Races are settled by the database: ClaimLead is a conditional
//! UPDATE, AssignLeads locks the rows it chose (`FOR UPDATE`) before deciding,
//! and SQLite write transactions are serialised by `BEGIN IMMEDIATE`.

pub mod entities;
mod idempotency;
mod members;
pub mod migrations;
pub mod outbox;
mod ownership;
mod queries;
pub mod timers;

use chrono::{DateTime, SubsecRound, Utc};

pub use idempotency::{Creation, new_lead_id};
pub use outbox::{DeadLetter, Delivery, OutboxRow};
pub use ownership::Applied;
pub use timers::{DueTimer, Settle};

leadflow_db::own_database! {
    /// The leads database.
    pub struct Store;
    migrations: migrations::Migrator, lock: migrations::MIGRATION_LOCK_ID, clock
}

impl Store {
    /// The OTel `db.system` of this store.
    pub fn db_system(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "postgresql",
            sea_orm::DbBackend::Sqlite => "sqlite",
            _ => "other_sql",
        }
    }

    /// This database's own random identity (made when it was created).
    pub async fn instance_id(&self) -> Result<String, crate::error::LeadsError> {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT id FROM leads_instance",
            ))
            .await?
            .ok_or_else(|| crate::error::LeadsError::Internal("no leads_instance row".into()))?;
        Ok(row.try_get::<String>("", "id")?)
    }
}

/// "Now" on the wall clock, at the microsecond precision both Postgres and
/// the paging key keep: for the outbox's delivery plumbing (retries, ages),
/// which is about real seconds whatever the store's clock
/// ([`Store::now`]) shows. Every time a lead or its history carries, and
/// every timer, is on the store's clock.
pub fn wall_now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
