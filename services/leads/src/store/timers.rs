//! The durable timers: one table (`due_timers`) and one worker for every
//! moment at which something must happen to a lead: a held lead's retry
//! (`held_retry`), and a routed lead's SLA deadline (`sla`, its chain in
//! `detail`).
//!
//! A timer is written in the transaction of the change that starts it (a
//! lead held at creation or by late routing; a lead routed from a pool with
//! an SLA), so an acknowledged hold or deadline is never lost, and a change
//! of owner or status deletes the lead's SLA timer in its own transaction,
//! so an action that commits before the expiry's effect always wins. Workers take due timers through [`leadflow_db::queue`] (a
//! short lease with a fencing token, `FOR UPDATE SKIP LOCKED`), and a timer's
//! effect (the assignment, its history and outbox rows) commits in the same
//! transaction that deletes the timer under that token: exactly once, on any
//! number of replicas, across crashes.
//!
//! Held leads wait per pool in the order they were held. Only the oldest of
//! each pool (its head) asks routing again, every 500 ms ([`HEAD_PROBE`]);
//! a younger one that comes due (at routing's `retry_at`, at most
//! [`BACKSTOP`] away) only makes sure its head is due and waits behind it.
//! When the head is routed, the next one becomes the head and is due at once, so a freed seat goes to the oldest held lead, and a
//! burst of freed seats empties the queue one lead after the other. Asking
//! so often is what makes the wake-up level-triggered: whatever freed
//! the capacity (a close, an unassignment, a raised cap, a new rep, a local
//! midnight, a shift start, a change committed at any moment relative to
//! the hold), the head sees it at its next question. A delivered ownership
//! change additionally makes the heads of its organisation due at once
//! ([`Store::wake_held`]), after routing has applied it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_db::queue::LeasedQueue;
use sea_orm::sea_query::{Condition, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::Store;
use super::entities::due_timer;
use super::entities::lead;
use super::ownership::{Applied, apply_in};
use crate::domain::change::{Hold, LeadChange};
use crate::domain::sla::{SlaChain, SlaTimer};
use crate::error::LeadsError;

/// The timer kind of a held lead's retry.
pub const HELD_RETRY: &str = "held_retry";
/// The timer kind of a routed lead's SLA deadline.
pub const SLA: &str = "sla";
/// How often each pool's oldest held lead is asked about again.
pub const HEAD_PROBE: Duration = Duration::from_millis(500);
/// The longest any held lead waits between two questions, whatever
/// routing's `retry_at` says.
pub const BACKSTOP: Duration = Duration::from_secs(60);
/// The soonest a held lead is asked again after routing held it.
const SOONEST: Duration = Duration::from_millis(100);
/// A head that failed this many times in a row (routing refusing that one
/// lead, say) no longer holds its pool's younger leads back.
const FAILING_HEAD: i32 = 3;
/// Failed attempts in a row (routing unreachable, the database failing)
/// before a timer is dead: with the 5 s backoff cap, about 58 days. Unlike
/// an outbox event, a held lead has no one else to wait for it, so its
/// timer outlives any outage rather than leave the lead held for good (a
/// long outage costs each failing held lead one question every 5 s).
pub const MAX_TIMER_ATTEMPTS: i32 = 1_000_000;

/// The timer table as a leased queue, oldest hold first.
pub const TIMERS: LeasedQueue = LeasedQueue {
    table: "due_timers",
    due: &["pending"],
    dead: "dead",
    lease: Duration::from_secs(2),
    max_attempts: MAX_TIMER_ATTEMPTS,
    order: &["queued_at", "id"],
};

/// A due timer a worker holds the lease on.
#[derive(Debug, Clone)]
pub struct DueTimer {
    /// The row, as the lease names it.
    pub id: i64,
    /// The lead's organisation.
    pub org_id: String,
    /// The lead.
    pub lead_id: String,
    /// [`HELD_RETRY`] or [`SLA`].
    pub kind: String,
    /// The pool holding it (held), or that routed it (SLA).
    pub pool: String,
    /// An SLA timer's chain; `None` for held retries (and an unreadable one).
    pub chain: Option<SlaChain>,
    /// When it was held: its place in the pool's queue.
    pub queued_at: DateTime<Utc>,
    /// Failed attempts before this one.
    pub attempts: i32,
    /// The claim's fencing token.
    pub token: i64,
}

/// How a held lead's retry ended, for [`Store::settle_timer`].
#[derive(Debug)]
pub enum Settle<'a> {
    /// Routing picked someone: apply the assignment, end the timer, and
    /// make the pool's next held lead due.
    Routed(&'a LeadChange),
    /// Still held: ask again at the pool head's probe, or at `retry_at`
    /// (at most [`BACKSTOP`] away).
    StillHeld {
        /// Routing's earliest moment someone may take it.
        retry_at: Option<DateTime<Utc>>,
    },
    /// The lead is no longer held (claimed, assigned, closed, deleted): end
    /// the timer and make the pool's next held lead due.
    Gone,
    /// Not the oldest of its pool (two leads held at the same moment may
    /// both have started as heads): make the real head due, and wait behind
    /// it, so the pool's queue leaves in order.
    Wait,
    /// An SLA deadline passed: apply its change (a re-route, which starts
    /// the next hop's timer, or an escalation) and end this timer. A change
    /// whose guard no longer holds (the holder acted first) writes nothing
    /// but the end of the timer.
    Expired(&'a LeadChange),
    /// The attempt failed: retry after `backoff`.
    Failed {
        /// Why, for operators.
        error: String,
        /// How long to wait.
        backoff: Duration,
    },
}

fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::seconds(60))
}

/// When a held lead in `pool` held since `queued_at` is next due: the
/// pool's head within [`HEAD_PROBE`], the others at `retry_at` but within
/// [`BACKSTOP`]; never before `at`.
async fn next_due(
    db: &impl ConnectionTrait,
    org_id: &str,
    pool: &str,
    queued_at: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, LeadsError> {
    let wait = if heads(db, org_id, pool, queued_at, None).await? {
        HEAD_PROBE
    } else {
        BACKSTOP
    };
    let latest = later(at, wait);
    // Never sooner than a moment from now: a retry_at already past (the
    // two hosts' clocks a little apart) must not make a tight loop.
    Ok(retry_at.map_or(latest, |r| r.clamp(later(at, SOONEST), latest)))
}

/// An organisation's held leads still waiting.
fn held_queue(org_id: &str) -> sea_orm::Select<due_timer::Entity> {
    due_timer::Entity::find()
        .filter(due_timer::Column::OrgId.eq(org_id))
        .filter(due_timer::Column::Kind.eq(HELD_RETRY))
        .filter(due_timer::Column::Status.eq("pending"))
}

/// Whether a held lead of `pool` held at `queued_at` (timer `id`, if it has
/// one yet) is the oldest of its pool. A head that keeps failing
/// ([`FAILING_HEAD`]) does not count: it must not hold its pool back.
async fn heads(
    db: &impl ConnectionTrait,
    org_id: &str,
    pool: &str,
    queued_at: DateTime<Utc>,
    id: Option<i64>,
) -> Result<bool, LeadsError> {
    let mut older = Condition::any().add(due_timer::Column::QueuedAt.lt(queued_at));
    if let Some(id) = id {
        older = older.add(
            Condition::all()
                .add(due_timer::Column::QueuedAt.eq(queued_at))
                .add(due_timer::Column::Id.lt(id)),
        );
    }
    let found = held_queue(org_id)
        .select_only()
        .column(due_timer::Column::Id)
        .filter(due_timer::Column::Pool.eq(pool))
        .filter(due_timer::Column::Attempts.lte(FAILING_HEAD))
        .filter(older)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(found.is_none())
}

/// Queues the retry of a lead just held, in the transaction that holds it.
/// A lead already queued keeps its place.
pub(super) async fn queue_hold(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
    hold: &Hold,
    at: DateTime<Utc>,
) -> Result<(), LeadsError> {
    // A new head asks again at once: capacity freed while routing answered
    // and this hold committed is found by that question, not half a second
    // later.
    let due = match next_due(txn, org_id, &hold.pool, at, hold.retry_at, at).await? {
        due if due <= later(at, HEAD_PROBE) => at,
        due => due,
    };
    let row = due_timer::ActiveModel {
        org_id: Set(org_id.to_owned()),
        lead_id: Set(lead_id.to_owned()),
        kind: Set(HELD_RETRY.to_owned()),
        pool: Set(hold.pool.clone()),
        queued_at: Set(at),
        status: Set("pending".to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(due),
        lease_until: Set(None),
        lease_token: Set(None),
        ..Default::default()
    };
    due_timer::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                due_timer::Column::OrgId,
                due_timer::Column::LeadId,
                due_timer::Column::Kind,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Makes the oldest pending held lead of each of `org_id`'s pools (or of
/// `pool` only) due at `at`.
async fn promote_heads(
    db: &impl ConnectionTrait,
    org_id: &str,
    pool: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), LeadsError> {
    let pending = || held_queue(org_id);
    let pools: Vec<String> = match pool {
        Some(pool) => vec![pool.to_owned()],
        None => {
            pending()
                .select_only()
                .column(due_timer::Column::Pool)
                .distinct()
                .into_tuple::<String>()
                .all(db)
                .await?
        }
    };
    for pool in pools {
        let head = pending()
            .select_only()
            .column(due_timer::Column::Id)
            .filter(due_timer::Column::Pool.eq(pool.as_str()))
            .order_by_asc(due_timer::Column::QueuedAt)
            .order_by_asc(due_timer::Column::Id)
            .limit(1)
            .into_tuple::<i64>()
            .one(db)
            .await?;
        if let Some(id) = head {
            due_timer::Entity::update_many()
                .col_expr(
                    due_timer::Column::NextAttemptAt,
                    sea_orm::sea_query::Expr::value(at),
                )
                .filter(due_timer::Column::Id.eq(id))
                .filter(due_timer::Column::NextAttemptAt.gt(at))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Whether `timer` is the oldest pending held lead of its pool ([`heads`]).
async fn heads_its_pool(db: &impl ConnectionTrait, timer: &DueTimer) -> Result<bool, LeadsError> {
    heads(
        db,
        &timer.org_id,
        &timer.pool,
        timer.queued_at,
        Some(timer.id),
    )
    .await
}

/// The condition that the worker still holds `timer`'s lease.
fn still_ours(timer: &DueTimer) -> Condition {
    LeasedQueue::held(timer.id, timer.token)
}

impl Store {
    /// Takes the lease on up to `limit` due timers, oldest hold first.
    pub async fn claim_timers(&self, limit: u64) -> Result<Vec<DueTimer>, LeadsError> {
        let claim = TIMERS.claim_due(&self.db, limit, self.now()).await?;
        if claim.rows.is_empty() {
            return Ok(Vec::new());
        }
        let rows = due_timer::Entity::find()
            .filter(due_timer::Column::Id.is_in(claim.rows.iter().map(|r| r.id)))
            .filter(due_timer::Column::LeaseToken.eq(claim.token))
            .order_by_asc(due_timer::Column::QueuedAt)
            .order_by_asc(due_timer::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| DueTimer {
                id: row.id,
                chain: row
                    .detail
                    .as_deref()
                    .and_then(|detail| serde_json::from_str(detail).ok()),
                org_id: row.org_id,
                lead_id: row.lead_id,
                kind: row.kind,
                pool: row.pool,
                queued_at: row.queued_at,
                attempts: row.attempts.saturating_sub(1),
                token: claim.token,
            })
            .collect())
    }

    /// Whether `timer` is the oldest pending held lead of its pool.
    pub async fn heads_its_pool(&self, timer: &DueTimer) -> Result<bool, LeadsError> {
        heads_its_pool(&self.db, timer).await
    }

    /// Keeps a claim's leases alive while its timers are worked on.
    pub async fn keep_timer_lease(&self, token: i64) {
        TIMERS.keep_alive(&self.db, token).await
    }

    /// Records how a timer's attempt ended, in one transaction with its
    /// effect. `false`: the lease was lost (another worker took the timer
    /// over, and its outcome is the one that counts), so nothing was written.
    pub async fn settle_timer(
        &self,
        timer: &DueTimer,
        settle: Settle<'_>,
    ) -> Result<bool, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = self.now();
        let ours = due_timer::Entity::find()
            .filter(still_ours(timer))
            .one(&txn)
            .await?
            .is_some();
        if !ours {
            return Ok(false);
        }
        match settle {
            Settle::Expired(change) => {
                // Landed: the change ended this timer (and started the next
                // hop's). Unchanged: the holder acted first; end it here.
                let _: Applied = apply_in(&txn, &timer.org_id, change, at).await?;
                due_timer::Entity::delete_many()
                    .filter(still_ours(timer))
                    .exec(&txn)
                    .await?;
            }
            Settle::Gone if timer.kind == SLA => {
                due_timer::Entity::delete_many()
                    .filter(still_ours(timer))
                    .exec(&txn)
                    .await?;
            }
            Settle::Routed(_) | Settle::Gone => {
                if let Settle::Routed(change) = settle {
                    // Unchanged: claimed or assigned meanwhile, which wins.
                    let _: Applied = apply_in(&txn, &timer.org_id, change, at).await?;
                }
                due_timer::Entity::delete_many()
                    .filter(still_ours(timer))
                    .exec(&txn)
                    .await?;
                promote_heads(&txn, &timer.org_id, Some(&timer.pool), at).await?;
            }
            // The head may have gone since the worker looked: then this one
            // is the head now, and due at once.
            Settle::Wait if heads_its_pool(&txn, timer).await? => {
                self.release_timer(&txn, timer, at, None, 0).await?;
            }
            Settle::Wait => {
                self.release_timer(&txn, timer, later(at, BACKSTOP), None, 0)
                    .await?;
                promote_heads(&txn, &timer.org_id, Some(&timer.pool), at).await?;
            }
            Settle::StillHeld { retry_at } => {
                let due = next_due(
                    &txn,
                    &timer.org_id,
                    &timer.pool,
                    timer.queued_at,
                    retry_at,
                    at,
                )
                .await?;
                self.release_timer(&txn, timer, due, None, 0).await?;
            }
            Settle::Failed { error, backoff } => {
                let attempts = timer.attempts + 1;
                self.release_timer(&txn, timer, later(at, backoff), Some(error), attempts)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Lets go of `timer` until `due`, with its failure count.
    async fn release_timer(
        &self,
        txn: &DatabaseTransaction,
        timer: &DueTimer,
        due: DateTime<Utc>,
        error: Option<String>,
        attempts: i32,
    ) -> Result<(), LeadsError> {
        use sea_orm::sea_query::Expr;
        due_timer::Entity::update_many()
            .col_expr(due_timer::Column::NextAttemptAt, Expr::value(due))
            .col_expr(
                due_timer::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(due_timer::Column::LastError, Expr::value(error))
            .col_expr(due_timer::Column::Attempts, Expr::value(attempts))
            .filter(still_ours(timer))
            .exec(txn)
            .await?;
        Ok(())
    }

    /// Makes the oldest held lead of every pool of each of `orgs` due now:
    /// called after routing applied ownership changes that may have freed
    /// capacity.
    pub async fn wake_held(&self, orgs: &[&str]) -> Result<(), LeadsError> {
        let at = self.now();
        for org in orgs {
            promote_heads(&self.db, org, None, at).await?;
        }
        Ok(())
    }
}

/// Starts an SLA timer for `lead_id` in the transaction of the change that
/// routed the lead, and records its deadline on the lead.
pub(super) async fn start_sla(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
    timer: &SlaTimer,
    at: DateTime<Utc>,
) -> Result<(), LeadsError> {
    let row = due_timer::ActiveModel {
        org_id: Set(org_id.to_owned()),
        lead_id: Set(lead_id.to_owned()),
        kind: Set(SLA.to_owned()),
        pool: Set(timer.chain.pool.clone()),
        queued_at: Set(at),
        status: Set("pending".to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(timer.due),
        lease_until: Set(None),
        lease_token: Set(None),
        detail: Set(Some(
            serde_json::to_string(&timer.chain).expect("a chain serialises"),
        )),
        ..Default::default()
    };
    due_timer::Entity::insert(row)
        .exec_without_returning(txn)
        .await?;
    lead::Entity::update_many()
        .col_expr(
            lead::Column::AcceptBy,
            sea_orm::sea_query::Expr::value(timer.due),
        )
        .filter(lead::Column::OrgId.eq(org_id))
        .filter(lead::Column::Id.eq(lead_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Ends `lead_id`'s SLA chain, if one runs: in the transaction of the
/// change of owner or status that meets or overrides it.
pub(super) async fn end_sla(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
) -> Result<(), LeadsError> {
    end_slas(txn, org_id, &[lead_id]).await
}

/// [`end_sla`] for several leads (a bulk assignment).
pub(super) async fn end_slas(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_ids: &[&str],
) -> Result<(), LeadsError> {
    due_timer::Entity::delete_many()
        .filter(due_timer::Column::OrgId.eq(org_id))
        .filter(due_timer::Column::Kind.eq(SLA))
        .filter(due_timer::Column::LeadId.is_in(lead_ids.iter().copied()))
        .exec(txn)
        .await?;
    Ok(())
}
