//! Opening a service's own database the same way everywhere.
//!
//! Postgres is the production store. SQLite is the embedded default for
//! `make run`: one file per service, in WAL mode (readers never block the
//! writer) with a busy timeout and `synchronous = FULL` (an acknowledged write
//! survives a power cut, not only a process crash), and write transactions that take the write
//! lock up front (`BEGIN IMMEDIATE`) so two writers queue instead of failing
//! with SQLITE_BUSY halfway through.

pub mod directory;
pub mod queue;
mod service;

pub use service::{DatabaseSettings, OpenError, OwnDatabase, open};

use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// How long a SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url` (`postgres://…` or `sqlite://path?mode=rwc`), creating the
/// SQLite file's folder if needed. `max_connections` bounds the Postgres pool.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(max_connections.max(1));
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_file(url).and_then(|p| p.parent().map(Path::to_path_buf))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
        }
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .create_if_missing(true)
        });
        // In-memory SQLite lives per connection; keep exactly one.
        if url.contains(":memory:") || url.contains("mode=memory") {
            options.max_connections(1).min_connections(1);
        }
    }
    let db = Database::connect(options).await?;
    tracing::info!(backend = ?db.get_database_backend(), "database connected");
    Ok(db)
}

/// The file behind a `sqlite://` URL, if it names one.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Begins a transaction that will write. On SQLite it takes the write lock at
/// once; on Postgres it is a plain READ COMMITTED transaction (row locks and
/// conditional updates do the rest).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Lets this transaction commit without waiting for its WAL flush
/// (`synchronous_commit = off` on Postgres; nothing on SQLite). Only for
/// writes whose loss in a crash is harmless: an outbox lease or a "delivered"
/// mark, whose loss only causes an idempotent redelivery. Still atomic and
/// still ordered after every commit it depends on.
pub async fn relax_durability(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SET LOCAL synchronous_commit = off",
        ))
        .await?;
    }
    Ok(())
}

/// Applies every pending migration of `M`. On Postgres it holds a
/// transaction-scoped advisory lock (`lock_id`, one per service) around them,
/// so two pods starting together never migrate at once: the second waits,
/// then finds nothing left to do.
pub async fn migrate<M: sea_orm_migration::MigratorTrait>(
    db: &DatabaseConnection,
    lock_id: i64,
) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({lock_id})"),
            ))
            .await?;
            M::up(&txn, None).await?;
            txn.commit().await
        }
        _ => M::up(db, None).await,
    }
}

/// Whether an error means the database is unreachable or saturated (worth
/// reporting as UNAVAILABLE so clients retry) rather than a bug.
pub fn is_unavailable(error: &DbErr) -> bool {
    matches!(error, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/leads.db?mode=rwc"),
            Some(Path::new("data/leads.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}

/// A database URL that never prints its password (in logs, `Debug`, errors).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The real URL, for connecting. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// Production runs on Postgres: a SQLite file lives on one node and
    /// cannot be shared by replicas. `setting` names the variable to change.
    pub fn refuse_sqlite_in_production(
        &self,
        production: bool,
        setting: &str,
    ) -> Result<(), String> {
        if production && self.is_sqlite() {
            return Err(format!(
                "{setting} points at SQLite, which is for development; with LEADFLOW_ENV=production \
                 set it to a postgres://… URL (or set LEADFLOW_ENV=development)"
            ));
        }
        Ok(())
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        format!("{}://{user}:***{}", &self.0[..scheme_end], &self.0[at..])
                    }
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://")
            || s.starts_with("postgresql://")
            || s.starts_with("sqlite:")
        {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err("expected a postgres:// or sqlite: URL".into())
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod url_tests {
    use super::DatabaseUrl;

    #[test]
    fn passwords_never_print() {
        let url: DatabaseUrl = "postgres://lf:s3cret@db:5432/leads".parse().unwrap();
        assert_eq!(
            format!("{url:?} {url}"),
            "postgres://lf:***@db:5432/leads postgres://lf:***@db:5432/leads"
        );
        assert_eq!(url.expose(), "postgres://lf:s3cret@db:5432/leads");
    }
}
