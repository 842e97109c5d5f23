//! A service's own database, declared and opened the same way by every
//! service.
//!
//! Each service owns one database. Its settings (URL, pool size, whether to
//! migrate at start-up) are the same three flags everywhere, only under the
//! service's own environment prefix, so [`database_args!`] writes them once.
//! Its store is a pool plus the service's migrations, so [`OwnDatabase`]
//! gives every store the same `connect` and `migrate`.

use std::future::Future;

use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

/// A service's store: one pool, and the migrations that shape its schema.
pub trait OwnDatabase: Sized + Send + Sync {
    /// The service's migrations, applied in order.
    type Migrator: MigratorTrait;
    /// The Postgres advisory lock the migrations run under: one per service,
    /// so two pods of one service never migrate at once.
    const MIGRATION_LOCK_ID: i64;

    /// Wraps an open pool.
    fn from_pool(pool: DatabaseConnection) -> Self;

    /// The pool every query of the service runs on.
    fn connection(&self) -> &DatabaseConnection;

    /// Opens the database at `url` (see [`crate::connect`]).
    fn connect(
        url: &str,
        max_connections: u32,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send {
        async move { Ok(Self::from_pool(crate::connect(url, max_connections).await?)) }
    }

    /// Applies pending migrations (see [`crate::migrate`]).
    fn migrate(&self) -> impl Future<Output = Result<(), DbErr>> + Send {
        crate::migrate::<Self::Migrator>(self.connection(), Self::MIGRATION_LOCK_ID)
    }
}

/// Why a service's database did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The settings are wrong for this environment (SQLite in production).
    #[error("{0}")]
    Refused(String),
    /// Connecting or migrating failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// What [`database_args!`] structs hand to [`open`].
#[derive(Debug, Clone, Copy)]
pub struct DatabaseSettings<'a> {
    /// Where the database is.
    pub url: &'a crate::DatabaseUrl,
    /// Upper bound of the pool.
    pub max_connections: u32,
    /// Whether serving applies pending migrations first.
    pub migrate_on_start: bool,
    /// The variable that sets `url`, named in errors so operators know what to change.
    pub url_variable: &'static str,
}

/// Opens a service's database for serving: refuses SQLite in production,
/// connects, and applies pending migrations unless they are turned off.
pub async fn open<S: OwnDatabase>(
    settings: DatabaseSettings<'_>,
    production: bool,
) -> Result<S, OpenError> {
    settings
        .url
        .refuse_sqlite_in_production(production, settings.url_variable)
        .map_err(OpenError::Refused)?;
    tracing::info!(database = %settings.url, "opening the database");
    let store = S::connect(settings.url.expose(), settings.max_connections).await?;
    if settings.migrate_on_start {
        store.migrate().await?;
    }
    Ok(store)
}

/// Declares a service's database settings as a clap struct to flatten into
/// its config: `--database-url`, `--db-max-connections` and
/// `--migrate-on-start`, read from `<PREFIX>_DATABASE_URL`,
/// `<PREFIX>_DB_MAX_CONNECTIONS` and `<PREFIX>_MIGRATE_ON_START`.
///
/// ```ignore
/// leadflow_db::database_args! {
///     /// The leads database.
///     pub struct LeadsDatabase {
///         service: "leads",
///         env: "LEADS",
///         sqlite_file: "leads.db",
///         max_connections: 16,
///         holds: "team directory, leads, history and outbox",
///     }
/// }
/// ```
#[macro_export]
macro_rules! database_args {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            service: $service:literal,
            env: $env:literal,
            sqlite_file: $file:literal,
            max_connections: $max:literal,
            holds: $holds:literal $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(clap::Args, Debug, Clone)]
        pub struct $name {
            /// Where the service's data lives.
            #[arg(
                long = "database-url",
                env = concat!($env, "_DATABASE_URL"),
                default_value = concat!("sqlite://data/", $file, "?mode=rwc"),
                help = concat!(
                    "The ", $service, " database (", $holds,
                    "): postgres://… in production, a SQLite file by default"
                )
            )]
            pub url: $crate::DatabaseUrl,
            /// Bounds what one replica may take from the database server.
            #[arg(
                long = "db-max-connections",
                env = concat!($env, "_DB_MAX_CONNECTIONS"),
                default_value_t = $max,
                help = "Upper bound of the database connection pool"
            )]
            pub max_connections: u32,
            /// Off when an init container runs `<service> migrate` instead.
            #[arg(
                long = "migrate-on-start",
                env = concat!($env, "_MIGRATE_ON_START"),
                default_value_t = true,
                action = clap::ArgAction::Set,
                help = concat!(
                    "Apply pending migrations at start-up. Turn off when an init container runs `",
                    $service, " migrate` instead"
                )
            )]
            pub migrate_on_start: bool,
        }

        impl $name {
            /// These settings, for [`leadflow_db::open`].
            pub fn settings(&self) -> $crate::DatabaseSettings<'_> {
                $crate::DatabaseSettings {
                    url: &self.url,
                    max_connections: self.max_connections,
                    migrate_on_start: self.migrate_on_start,
                    url_variable: concat!($env, "_DATABASE_URL"),
                }
            }

            /// Opens the database for serving (see [`leadflow_db::open`]).
            pub async fn open<S: $crate::OwnDatabase>(
                &self,
                production: bool,
            ) -> Result<S, $crate::OpenError> {
                $crate::open(self.settings(), production).await
            }

            /// Connects with one connection and applies pending migrations
            /// (the `migrate` subcommand).
            pub async fn migrate<S: $crate::OwnDatabase>(&self) -> Result<(), $crate::OpenError> {
                Ok(S::connect(self.url.expose(), 1).await?.migrate().await?)
            }
        }
    };
}

/// Declares a service's store type: a struct holding the pool (as `db`, for
/// the store's own modules), implementing [`OwnDatabase`] with the service's
/// migrations and advisory lock. With `clock` after the lock it also holds
/// a [`leadflow_schedule::SharedClock`] (the system clock unless a test
/// gives another with `with_clock`), and `now()` reads it: for a service
/// whose stored times drive behaviour (the leads service's timers).
///
/// ```ignore
/// leadflow_db::own_database! {
///     /// The leads database.
///     pub struct Store;
///     migrations: migrations::Migrator, lock: migrations::MIGRATION_LOCK_ID
/// }
/// ```
#[macro_export]
macro_rules! own_database {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        migrations: $migrator:ty, lock: $lock:expr, clock $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            /// The pool every query and transaction of the service runs on.
            db: sea_orm::DatabaseConnection,
            /// Where the times it writes come from: the system clock, or a
            /// clock tests move ([`Self::with_clock`]).
            clock: leadflow_schedule::SharedClock,
        }

        impl $crate::OwnDatabase for $name {
            type Migrator = $migrator;
            const MIGRATION_LOCK_ID: i64 = $lock;

            fn from_pool(db: sea_orm::DatabaseConnection) -> Self {
                $name { db, clock: leadflow_schedule::system_clock() }
            }

            fn connection(&self) -> &sea_orm::DatabaseConnection {
                &self.db
            }
        }

        impl $name {
            /// The same store on another clock.
            pub fn with_clock(mut self, clock: leadflow_schedule::SharedClock) -> Self {
                self.clock = clock;
                self
            }

            /// The store's clock.
            pub fn clock(&self) -> &leadflow_schedule::SharedClock {
                &self.clock
            }

            /// "Now" on the store's clock, at the microsecond precision both
            /// Postgres and the paging key keep, so a value read back equals
            /// the value written.
            pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
                use chrono::SubsecRound;
                self.clock.now().trunc_subsecs(6)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        migrations: $migrator:ty, lock: $lock:expr $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            /// The pool every query and transaction of the service runs on.
            db: sea_orm::DatabaseConnection,
        }

        impl $crate::OwnDatabase for $name {
            type Migrator = $migrator;
            const MIGRATION_LOCK_ID: i64 = $lock;

            fn from_pool(db: sea_orm::DatabaseConnection) -> Self {
                $name { db }
            }

            fn connection(&self) -> &sea_orm::DatabaseConnection {
                &self.db
            }
        }
    };
}
