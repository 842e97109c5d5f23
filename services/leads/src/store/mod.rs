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

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;

pub use idempotency::{Creation, new_lead_id};
pub use outbox::{DeadLetter, Delivery, OutboxRow};
pub use ownership::Applied;

/// The leads database.
#[derive(Debug, Clone)]
pub struct Store {
    /// The pool every query and transaction of the service runs on.
    db: DatabaseConnection,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store { db }
    }

    /// Opens the database at `url` (see [`leadflow_db::connect`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sea_orm::DbErr> {
        Ok(Store::new(
            leadflow_db::connect(url, max_connections).await?,
        ))
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The OTel `db.system` of this store.
    pub fn db_system(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "postgresql",
            sea_orm::DbBackend::Sqlite => "sqlite",
            _ => "other_sql",
        }
    }

    /// Applies pending migrations (see [`migrations::migrate`]).
    pub async fn migrate(&self) -> Result<(), sea_orm::DbErr> {
        migrations::migrate(&self.db).await
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

/// "Now", at the microsecond precision both Postgres and the paging key keep,
/// so a value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
