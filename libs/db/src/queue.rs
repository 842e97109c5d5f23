//! A table used as a leased work queue: the leads outbox and the notifier's
//! delivery queue are both one.
//!
//! A worker takes due rows with a short lease and keeps it alive with a
//! heartbeat while it works, so a worker that dies (a SIGKILL, a lost node)
//! lets go within one lease, seconds, not within the longest a send may
//! take. Each claim carries a fencing token: an outcome is recorded only by
//! the holder of the row's current token, so a slow worker whose lease was
//! taken over has its late outcome rejected (the receivers deduplicate the
//! duplicate delivery that takeover may cause).
//!
//! The attempt is counted when the lease is taken, not when its outcome is
//! recorded: an attempt that never records one (its worker died, or it
//! outlived its lease) still counts, and a row out of attempts becomes dead
//! at its next claim instead of being redelivered forever.
//!
//! The table needs `id` (BIGINT), `status`, `attempts`, `last_error`,
//! `next_attempt_at`, `lease_until` and `lease_token` (BIGINT, nullable).

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// How a queue table is read.
#[derive(Debug, Clone)]
pub struct LeasedQueue {
    /// The table claims, heartbeats and [`LeasedQueue::held`] conditions name.
    pub table: &'static str,
    /// Statuses of rows still to do.
    pub due: &'static [&'static str],
    /// The status of a row out of attempts.
    pub dead: &'static str,
    /// How long a claim holds without a heartbeat. The heartbeat renews it
    /// every quarter of it, so three renewals in a row must fail (a stall of
    /// most of a lease on a loaded machine) before another worker may take
    /// over, and then fencing keeps the outcome single.
    pub lease: Duration,
    /// Attempts before a row is dead.
    pub max_attempts: i32,
    /// The order rows are taken in (column names, ascending).
    pub order: &'static [&'static str],
}

/// One row a claim took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    /// The row's key: the worker loads the work by it and records its outcome against it.
    pub id: i64,
    /// Attempts before this one (this one is already counted in the row).
    pub attempts: i32,
}

/// What one claim took.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    /// The fencing token every outcome of this claim must present.
    pub token: i64,
    /// The rows leased to this worker, now its to process and record outcomes for.
    pub rows: Vec<Leased>,
    /// Rows found out of attempts and made dead instead of taken.
    pub exhausted: Vec<i64>,
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A fencing token: random, and never 0 (a row never leased has none).
fn new_token() -> i64 {
    loop {
        let token = rand::random::<i64>();
        if token != 0 {
            return token;
        }
    }
}

impl LeasedQueue {
    fn col(name: &str) -> Expr {
        Expr::col(Alias::new(name))
    }

    /// The condition an outcome update must add: the row is still held
    /// under `token`.
    pub fn held(id: i64, token: i64) -> Condition {
        Condition::all()
            .add(Self::col("id").eq(id))
            .add(Self::col("lease_token").eq(token))
    }

    /// Takes the lease on up to `limit` due rows whose lease is free or
    /// expired, oldest first, counting the attempt; rows already at
    /// [`LeasedQueue::max_attempts`] are made dead instead. Rows another
    /// worker is claiming right now are skipped, never waited for.
    pub async fn claim(&self, db: &DatabaseConnection, limit: u64) -> Result<Claim, DbErr> {
        self.claim_due(db, limit, now()).await
    }

    /// [`LeasedQueue::claim`] of the rows due by `due_by` on the caller's
    /// clock (a service's timers run on a clock tests move). Leases stay on
    /// the wall clock: they measure whether a worker is still alive, which
    /// is about real seconds whatever time the service thinks it is.
    pub async fn claim_due(
        &self,
        db: &DatabaseConnection,
        limit: u64,
        due_by: DateTime<Utc>,
    ) -> Result<Claim, DbErr> {
        let at = now();
        let until =
            at + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(5));
        let txn = crate::begin_write(db).await?;
        // A claim lost in a crash of the database only lets the rows be
        // taken again (and uncounts one attempt).
        crate::relax_durability(&txn).await?;
        let mut select = Query::select();
        select
            .columns([Alias::new("id"), Alias::new("attempts")])
            .from(Alias::new(self.table))
            .and_where(Self::col("status").is_in(self.due.iter().copied()))
            .and_where(Self::col("next_attempt_at").lte(due_by))
            .cond_where(
                Condition::any()
                    .add(Self::col("lease_until").is_null())
                    .add(Self::col("lease_until").lt(at)),
            )
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        for column in self.order {
            select.order_by(Alias::new(*column), Order::Asc);
        }
        let backend = txn.get_database_backend();
        let found = txn.query_all_raw(backend.build(&select)).await?;
        let mut claim = Claim {
            token: new_token(),
            ..Default::default()
        };
        for row in found {
            let (id, attempts): (i64, i32) = (row.try_get("", "id")?, row.try_get("", "attempts")?);
            if attempts >= self.max_attempts {
                claim.exhausted.push(id);
            } else {
                claim.rows.push(Leased { id, attempts });
            }
        }
        if !claim.exhausted.is_empty() {
            let update = Query::update()
                .table(Alias::new(self.table))
                .value(Alias::new("status"), self.dead)
                .value(
                    Alias::new("last_error"),
                    format!(
                        "out of attempts ({}): the last one never recorded an outcome \
                         (its worker stopped or it outlived its lease)",
                        self.max_attempts
                    ),
                )
                .value(Alias::new("lease_until"), Option::<DateTime<Utc>>::None)
                .and_where(Self::col("id").is_in(claim.exhausted.iter().copied()))
                .to_owned();
            txn.execute_raw(backend.build(&update)).await?;
        }
        if !claim.rows.is_empty() {
            let update = Query::update()
                .table(Alias::new(self.table))
                .value(Alias::new("lease_until"), until)
                .value(Alias::new("lease_token"), claim.token)
                .value(Alias::new("attempts"), Self::col("attempts").add(1))
                .and_where(Self::col("id").is_in(claim.rows.iter().map(|r| r.id)))
                .to_owned();
            txn.execute_raw(backend.build(&update)).await?;
        }
        txn.commit().await?;
        Ok(claim)
    }

    /// Renews the lease of every row still held under `token`. Returns how
    /// many are.
    pub async fn heartbeat(&self, db: &DatabaseConnection, token: i64) -> Result<u64, DbErr> {
        let until =
            now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(5));
        let update = Query::update()
            .table(Alias::new(self.table))
            .value(Alias::new("lease_until"), until)
            .and_where(Self::col("lease_token").eq(token))
            .and_where(Self::col("lease_until").is_not_null())
            .and_where(Self::col("status").is_in(self.due.iter().copied()))
            .to_owned();
        let backend = db.get_database_backend();
        Ok(db
            .execute_raw(backend.build(&update))
            .await?
            .rows_affected())
    }

    /// Keeps the claim `token` alive while the caller works: run it beside
    /// the work (`tokio::select!`) and drop it when the work is done. It
    /// never returns by itself.
    pub async fn keep_alive(&self, db: &DatabaseConnection, token: i64) {
        loop {
            tokio::time::sleep(self.lease / 4).await;
            if let Err(error) = self.heartbeat(db, token).await {
                tracing::warn!(table = self.table, %error, "renewing a lease failed; it may be taken over");
            }
        }
    }
}
