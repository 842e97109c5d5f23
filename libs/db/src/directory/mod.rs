//! The team directory as routing and the notifier keep it: facts the leads
//! service publishes through its outbox (member, role, active, available,
//! with the member's own change counter), applied by version, so neither
//! service ever calls back into leads to learn whether a caller is still
//! active.
//!
//! A deactivated member is refused by every service within the time the
//! fact takes to arrive (the outbox delivers within a second; while a peer
//! is down its retries are at most 5 s apart) plus [`CACHE_TTL`]: under
//! 10 s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use leadflow_schedule::Schedule;
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, OnConflict, Query, Table, TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

mod wire;

pub use wire::{facts_from_wire, schedule_from_wire, schedule_to_wire};

/// How long a replica reuses what it read about a caller.
pub const CACHE_TTL: Duration = Duration::from_secs(2);
/// Most facts in one ApplyDirectoryChanges call.
pub const MAX_FACTS: usize = 10_000;

/// One member as the leads directory has them: what leads publishes (in its
/// outbox, as JSON) and what routing and the notifier keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirectoryFact {
    /// The member.
    pub user_id: String,
    /// The stored role name ("sales"; "unknown" when the wire left it unset).
    pub role: String,
    /// A deactivated member is refused by every service.
    pub active: bool,
    /// Whether routing may give them leads now.
    pub available: bool,
    /// The member's own change counter (their audit rows): facts apply in
    /// its order, so a late, older fact never undoes a newer one.
    pub version: i64,
    /// When they work (routing skips them off shift or on time off, when
    /// asked to); `None`: any time. Older facts without one read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// The migration step that adds schedules (each service's own migrations run
/// it after [`create_table`], as its own step, so databases created before
/// schedules existed get the column too).
pub fn add_schedule_column() -> sea_orm::sea_query::TableAlterStatement {
    Table::alter()
        .table(Alias::new("directory"))
        .add_column(ColumnDef::new(Alias::new("schedule")).text().null())
        .to_owned()
}

/// The migration that adds [`add_schedule_column`]: each service that keeps
/// the directory lists it after the one creating the table.
pub struct ScheduleMigration;

impl sea_orm_migration::MigrationName for ScheduleMigration {
    fn name(&self) -> &str {
        "directory_schedule"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for ScheduleMigration {
    async fn up(&self, m: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        m.alter_table(add_schedule_column()).await
    }
}

/// The migration step that creates the table (each service's own migrations
/// run it).
pub fn create_table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("directory"))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new("org_id")).text().not_null())
        .col(ColumnDef::new(Alias::new("user_id")).text().not_null())
        .col(ColumnDef::new(Alias::new("role")).text().not_null())
        .col(ColumnDef::new(Alias::new("active")).boolean().not_null())
        .col(ColumnDef::new(Alias::new("available")).boolean().not_null())
        .col(
            ColumnDef::new(Alias::new("version"))
                .big_integer()
                .not_null(),
        )
        .primary_key(
            sea_orm::sea_query::Index::create()
                .col(Alias::new("org_id"))
                .col(Alias::new("user_id")),
        )
        .to_owned()
}

/// The directory of one service's database, with a short per-replica cache.
#[derive(Debug)]
pub struct Directory {
    /// The service's own database, whose `directory` table facts are applied to.
    db: DatabaseConnection,
    /// Recent `is_deactivated` answers by (org, user) with when read, kept for [`CACHE_TTL`].
    cache: Mutex<HashMap<(String, String), (bool, Instant)>>,
}

impl Directory {
    pub fn new(db: DatabaseConnection) -> Self {
        Directory {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Applies facts; one older than (or as old as) the stored one changes
    /// nothing, so replays and reordering are harmless.
    pub async fn apply(&self, org_id: &str, facts: &[DirectoryFact]) -> Result<(), DbErr> {
        let backend = self.db.get_database_backend();
        for chunk in facts.chunks(500) {
            let mut insert = Query::insert();
            insert.into_table(Alias::new("directory")).columns(
                [
                    "org_id",
                    "user_id",
                    "role",
                    "active",
                    "available",
                    "version",
                    "schedule",
                ]
                .map(Alias::new),
            );
            for f in chunk {
                let schedule = f
                    .schedule
                    .as_ref()
                    .map(|s| serde_json::to_string(s).expect("a schedule always serialises"));
                insert.values_panic([
                    org_id.into(),
                    f.user_id.clone().into(),
                    f.role.clone().into(),
                    f.active.into(),
                    f.available.into(),
                    f.version.into(),
                    schedule.into(),
                ]);
            }
            insert.on_conflict(
                OnConflict::columns([Alias::new("org_id"), Alias::new("user_id")])
                    .update_columns(
                        ["role", "active", "available", "version", "schedule"].map(Alias::new),
                    )
                    .action_and_where(
                        Expr::col((Alias::new("directory"), Alias::new("version")))
                            .lt(Expr::col((Alias::new("excluded"), Alias::new("version")))),
                    )
                    .to_owned(),
            );
            self.db.execute_raw(backend.build(&insert)).await?;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for f in facts {
            cache.remove(&(org_id.to_owned(), f.user_id.clone()));
        }
        Ok(())
    }

    /// Every member the directory holds for `org_id`, by user id (what
    /// SimulateRouting routes among when it is given no team).
    pub async fn members(&self, org_id: &str) -> Result<Vec<DirectoryFact>, DbErr> {
        let select = Query::select()
            .columns(
                [
                    "user_id",
                    "role",
                    "active",
                    "available",
                    "version",
                    "schedule",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("directory"))
            .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
            .order_by(Alias::new("user_id"), sea_orm::sea_query::Order::Asc)
            .to_owned();
        let backend = self.db.get_database_backend();
        let rows = self.db.query_all_raw(backend.build(&select)).await?;
        rows.into_iter()
            .map(|row| {
                let user_id: String = row.try_get("", "user_id")?;
                let schedule = match row.try_get::<Option<String>>("", "schedule")? {
                    Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                        DbErr::Custom(format!("stored schedule of {user_id}: {e}"))
                    })?),
                    None => None,
                };
                Ok(DirectoryFact {
                    role: row.try_get("", "role")?,
                    active: row.try_get("", "active")?,
                    available: row.try_get("", "available")?,
                    version: row.try_get("", "version")?,
                    schedule,
                    user_id,
                })
            })
            .collect()
    }

    /// Every schedule the directory holds for `org_id` (members without one
    /// are absent): what routing caches per organisation for RouteLead.
    pub async fn all_schedules(&self, org_id: &str) -> Result<HashMap<String, Schedule>, DbErr> {
        let mut schedules = HashMap::new();
        self.read_schedules(org_id, None, &mut schedules).await?;
        Ok(schedules)
    }

    /// Adds the stored schedules of `org_id` (of `user_ids` only, if given)
    /// to `into`.
    async fn read_schedules(
        &self,
        org_id: &str,
        user_ids: Option<&[String]>,
        into: &mut HashMap<String, Schedule>,
    ) -> Result<(), DbErr> {
        let backend = self.db.get_database_backend();
        let mut select = Query::select();
        select
            .columns([Alias::new("user_id"), Alias::new("schedule")])
            .from(Alias::new("directory"))
            .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
            .and_where(Expr::col(Alias::new("schedule")).is_not_null());
        if let Some(ids) = user_ids {
            select.and_where(Expr::col(Alias::new("user_id")).is_in(ids.iter().cloned()));
        }
        for row in self.db.query_all_raw(backend.build(&select)).await? {
            let user_id: String = row.try_get("", "user_id")?;
            let json: String = row.try_get("", "schedule")?;
            let schedule = serde_json::from_str(&json)
                .map_err(|e| DbErr::Custom(format!("stored schedule of {user_id}: {e}")))?;
            into.insert(user_id, schedule);
        }
        Ok(())
    }

    /// The schedules the directory holds for `user_ids` (members without one
    /// are absent: any time). Read in chunks, so a large team is fine.
    pub async fn schedules(
        &self,
        org_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Schedule>, DbErr> {
        let mut schedules = HashMap::new();
        for chunk in user_ids.chunks(500) {
            self.read_schedules(org_id, Some(chunk), &mut schedules)
                .await?;
        }
        Ok(schedules)
    }

    /// Whether the directory says `user_id` was deactivated. Someone it does
    /// not know (an identity-provider user not synced yet) is not refused
    /// here: the token already proved who they are.
    pub async fn is_deactivated(&self, org_id: &str, user_id: &str) -> Result<bool, DbErr> {
        let key = (org_id.to_owned(), user_id.to_owned());
        if let Some((inactive, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
            && at.elapsed() < CACHE_TTL
        {
            return Ok(inactive);
        }
        let select = Query::select()
            .column(Alias::new("active"))
            .from(Alias::new("directory"))
            .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
            .and_where(Expr::col(Alias::new("user_id")).eq(user_id))
            .to_owned();
        let backend = self.db.get_database_backend();
        let inactive = match self.db.query_one_raw(backend.build(&select)).await? {
            Some(row) => !row.try_get::<bool>("", "active")?,
            None => false,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, (inactive, Instant::now()));
        Ok(inactive)
    }
}
