//! The transactional outbox: events are inserted in the transaction of the
//! change they report, and a dispatcher delivers them at least once.
//!
//! Dispatchers lease rows through [`leadflow_db::queue`] (`FOR UPDATE SKIP
//! LOCKED` to take a short lease with a fencing token, a heartbeat while the
//! round is in flight) so several leads replicas share the work, a dead one's
//! rows are taken over within seconds, and no row lock is ever held across a
//! gRPC call. Rows that keep failing become dead letters that operators can
//! list and retry; delivered rows are pruned after a while.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_db::queue::LeasedQueue;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::outbox;
use super::{Store, wall_now};
use crate::domain::events::OutboxEvent;
use crate::error::LeadsError;

/// Attempts before an event becomes a dead letter: with the 5 s cap on the
/// backoff, about an hour of failing, so an outage of a peer is ridden out
/// and a poisoned event still stops.
pub const MAX_ATTEMPTS: i32 = 720;

/// The outbox as a leased queue. The lease is short (a dead dispatcher's
/// events move within ~2 s plus a poll) because a live one renews it every
/// half second while its round is in flight.
pub const OUTBOX: LeasedQueue = LeasedQueue {
    table: "outbox",
    due: &["pending"],
    dead: "dead",
    lease: Duration::from_secs(2),
    max_attempts: MAX_ATTEMPTS,
    order: &["id"],
};

/// An event a dispatcher holds the lease on.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The outbox row: outcomes are recorded against it and notify keys embed it.
    pub id: i64,
    /// The organisation to deliver as: a round groups its rows by it.
    pub org_id: String,
    /// What to deliver, parsed from the row's payload.
    pub event: OutboxEvent,
    /// Attempts before this one (this one is counted already).
    pub attempts: i32,
    /// The claim's fencing token: only its holder records an outcome.
    pub lease: i64,
    /// The trace of the change that wrote the event.
    pub traceparent: Option<String>,
}

/// A dead letter, as operators see it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The outbox row id operators pass to RetryDeadLetters.
    pub id: i64,
    /// The organisation it belongs to (the listing is already scoped to it).
    pub org_id: String,
    /// Which event it is (`OutboxEvent::kind`), so operators know what failed.
    pub kind: String,
    /// Attempts made before it became dead.
    pub attempts: i32,
    /// Why the last attempt failed, so operators can fix the cause before a retry.
    pub last_error: Option<String>,
    /// When the change that wrote it happened.
    pub created_at: DateTime<Utc>,
}

/// How long the dispatcher leaves a notification to the fast path
/// ([`crate::fastpath`]) before it delivers the event itself: a bell the
/// fast path delivered costs one Notify, not two. A bell the fast path did
/// not deliver (it failed, was dropped, or its process died) goes out this
/// much later, at the dispatcher's next look.
pub const FAST_PATH_GRACE: std::time::Duration = std::time::Duration::from_millis(1_000);

/// A notification just written to the outbox, for the fast path: its row
/// id (the notifier's idempotency key is made of it), its organisation and
/// the event.
#[derive(Debug, Clone)]
pub struct Written {
    /// The outbox row.
    pub id: i64,
    /// The organisation it belongs to.
    pub org_id: String,
    /// The Notify event.
    pub event: OutboxEvent,
    /// The trace of the change that wrote it, so the fast Notify joins it.
    pub traceparent: Option<String>,
}

/// The notifications a change wrote, shared between [`collecting`] and
/// [`enqueue`].
type Collected = std::sync::Arc<std::sync::Mutex<Vec<Written>>>;

tokio::task_local! {
    /// Set while a use case runs a change through [`collecting`].
    static COLLECTING: Collected;
}

/// Runs `change` (one store call that commits its transaction, or fails)
/// and returns, beside its result, the notifications it wrote: after a
/// successful return they are committed, and the fast path may send them.
pub async fn collecting<T>(
    change: impl std::future::Future<Output = Result<T, LeadsError>>,
) -> (Result<T, LeadsError>, Vec<Written>) {
    let collected = Collected::default();
    let result = COLLECTING.scope(collected.clone(), change).await;
    let written = match &result {
        Ok(_) => std::mem::take(&mut *collected.lock().unwrap_or_else(|p| p.into_inner())),
        Err(_) => Vec::new(),
    };
    (result, written)
}

/// Writes events inside the caller's transaction. Under [`collecting`],
/// notifications wait [`FAST_PATH_GRACE`] for the fast path and are
/// reported to it; without it they are due at once.
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    org_id: &str,
    events: Vec<OutboxEvent>,
) -> Result<(), LeadsError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = wall_now();
    let fast = COLLECTING.try_with(|_| ()).is_ok();
    let grace = chrono::Duration::from_std(FAST_PATH_GRACE).unwrap_or_default();
    let traceparent = leadflow_telemetry::current_traceparent();
    let rows = events.iter().map(|event| {
        let notify = matches!(event, OutboxEvent::Notify { .. });
        outbox::ActiveModel {
            org_id: Set(org_id.to_owned()),
            kind: Set(event.kind().to_owned()),
            payload: Set(serde_json::to_string(event).expect("events serialise")),
            status: Set("pending".into()),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(if fast && notify { at + grace } else { at }),
            lease_until: Set(None),
            lease_token: Set(None),
            created_at: Set(at),
            delivered_at: Set(None),
            traceparent: Set(traceparent.clone()),
            ..Default::default()
        }
    });
    if !fast
        || !events
            .iter()
            .any(|e| matches!(e, OutboxEvent::Notify { .. }))
    {
        outbox::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        return Ok(());
    }
    let ids = outbox::Entity::insert_many(rows)
        .exec_with_returning_keys(db)
        .await?;
    let written = ids
        .into_iter()
        .zip(events)
        .filter(|(_, event)| matches!(event, OutboxEvent::Notify { .. }))
        .map(|(id, event)| Written {
            id,
            org_id: org_id.to_owned(),
            event,
            traceparent: traceparent.clone(),
        });
    let _ = COLLECTING.try_with(|collected| {
        collected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(written)
    });
    Ok(())
}

/// How one delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Delivery {
    Delivered,
    Retry {
        /// Why the attempt failed: kept as the row's `last_error`.
        error: String,
        /// When the event is due again (the backoff): its new `next_attempt_at`.
        at: DateTime<Utc>,
    },
    Dead(String),
}

impl Store {
    /// Marks notifications the fast path delivered as delivered, unless a
    /// dispatcher holds one right now (it then records its own outcome; the
    /// notifier deduplicates the second Notify). Not durable at commit: a
    /// mark lost in a database crash only means one deduplicated resend.
    /// Returns how many were marked.
    pub async fn mark_fast_delivered(&self, ids: &[i64]) -> Result<u64, LeadsError> {
        use sea_orm::sea_query::Condition;
        if ids.is_empty() {
            return Ok(0);
        }
        let at = wall_now();
        let txn = leadflow_db::begin_write(&self.db).await?;
        leadflow_db::relax_durability(&txn).await?;
        let done = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("delivered"))
            .col_expr(outbox::Column::DeliveredAt, Expr::value(at))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .filter(outbox::Column::Status.eq("pending"))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntil.is_null())
                    .add(outbox::Column::LeaseUntil.lt(at)),
            )
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(done.rows_affected)
    }

    /// Takes the lease on up to `limit` due events, oldest first, counting
    /// the attempt (see [`leadflow_db::queue`]).
    pub async fn claim_outbox(&self, limit: u64) -> Result<Vec<OutboxRow>, LeadsError> {
        let claim = OUTBOX.claim(&self.db, limit).await?;
        if !claim.exhausted.is_empty() {
            tracing::warn!(events = ?claim.exhausted, "outbox events out of attempts are now dead letters");
        }
        if claim.rows.is_empty() {
            return Ok(Vec::new());
        }
        let attempts: std::collections::HashMap<i64, i32> =
            claim.rows.iter().map(|r| (r.id, r.attempts)).collect();
        outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(attempts.keys().copied()))
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| {
                Ok(OutboxRow {
                    event: serde_json::from_str(&r.payload).map_err(|e| {
                        LeadsError::Internal(format!("outbox payload {}: {e}", r.id))
                    })?,
                    attempts: attempts[&r.id],
                    id: r.id,
                    org_id: r.org_id,
                    lease: claim.token,
                    traceparent: r.traceparent,
                })
            })
            .collect()
    }

    /// Keeps a claim's leases alive while its round is in flight (run it
    /// beside the round; it never returns).
    pub async fn keep_outbox_lease(&self, token: i64) {
        OUTBOX.keep_alive(&self.db, token).await
    }

    /// Records the outcomes of a batch of attempts in one transaction (each
    /// only if its lease is still ours); returns how many were recorded.
    ///
    /// The commit does not wait for its WAL flush: an outcome lost in a crash
    /// means the event is delivered again, and every receiver deduplicates.
    pub async fn finish_outbox_many(
        &self,
        outcomes: &[(OutboxRow, Delivery)],
    ) -> Result<usize, LeadsError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        let txn = leadflow_db::begin_write(&self.db).await?;
        leadflow_db::relax_durability(&txn).await?;
        let mut recorded = 0;
        // The usual case, every event delivered under one lease: one statement.
        let mut delivered: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        for (row, outcome) in outcomes {
            match outcome {
                Delivery::Delivered => delivered.entry(row.lease).or_default().push(row.id),
                _ => {
                    if Self::record_outcome(&txn, row, outcome).await? {
                        recorded += 1;
                    }
                }
            }
        }
        let at = wall_now();
        for (lease, ids) in delivered {
            recorded += outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value("delivered"))
                .col_expr(
                    outbox::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
                .col_expr(
                    outbox::Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(at)))
                .filter(outbox::Column::Id.is_in(ids))
                .filter(outbox::Column::LeaseToken.eq(lease))
                .exec(&txn)
                .await?
                .rows_affected as usize;
        }
        txn.commit().await?;
        Ok(recorded)
    }

    /// Records an attempt's outcome, if the lease is still ours (the attempt
    /// itself was counted when it was taken).
    async fn record_outcome(
        db: &impl sea_orm::ConnectionTrait,
        row: &OutboxRow,
        outcome: &Delivery,
    ) -> Result<bool, LeadsError> {
        let at = wall_now();
        let (status, error, next, delivered) = match outcome {
            Delivery::Delivered => ("delivered", None, at, Some(at)),
            Delivery::Retry { error, at: next } => ("pending", Some(error.clone()), *next, None),
            Delivery::Dead(error) => ("dead", Some(error.clone()), at, None),
        };
        let updated = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(status))
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
            .col_expr(
                outbox::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(outbox::Column::DeliveredAt, Expr::value(delivered))
            .filter(LeasedQueue::held(row.id, row.lease))
            .exec(db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Dead letters of an organisation, oldest first.
    pub async fn dead_letters(
        &self,
        org_id: &str,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, LeadsError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::OrgId.eq(org_id))
            .filter(outbox::Column::Status.eq("dead"))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| DeadLetter {
                id: r.id,
                org_id: r.org_id,
                kind: r.kind,
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Puts dead letters back in line (all of the org's when `ids` is empty).
    pub async fn retry_dead_letters(&self, org_id: &str, ids: &[i64]) -> Result<u64, LeadsError> {
        let mut update = outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("pending"))
            .col_expr(outbox::Column::Attempts, Expr::value(0))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(wall_now()))
            .filter(outbox::Column::OrgId.eq(org_id))
            .filter(outbox::Column::Status.eq("dead"));
        if !ids.is_empty() {
            update = update.filter(outbox::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    /// Leads of the org with an ownership event not yet delivered: pending
    /// (perhaps leased right now) or dead-lettered (an operator may retry it).
    pub async fn leads_with_undelivered_ownership(
        &self,
        org_id: &str,
    ) -> Result<std::collections::HashSet<String>, LeadsError> {
        let payloads: Vec<String> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Payload)
            .filter(outbox::Column::OrgId.eq(org_id))
            .filter(outbox::Column::Kind.eq("ownership"))
            .filter(outbox::Column::Status.is_in(["pending", "dead"]))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut leads = std::collections::HashSet::new();
        for payload in payloads {
            match serde_json::from_str(&payload) {
                Ok(OutboxEvent::Ownership { changes }) => {
                    leads.extend(changes.into_iter().map(|c| c.lead_id))
                }
                _ => {
                    return Err(LeadsError::Internal(
                        "an ownership outbox payload does not parse".into(),
                    ));
                }
            }
        }
        Ok(leads)
    }

    /// Forgets delivered events older than `cutoff`.
    pub async fn prune_outbox(&self, cutoff: DateTime<Utc>) -> Result<u64, LeadsError> {
        Ok(outbox::Entity::delete_many()
            .filter(outbox::Column::Status.eq("delivered"))
            .filter(outbox::Column::DeliveredAt.lt(cutoff))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// (pending events, age of the oldest pending one in seconds, dead letters).
    pub async fn outbox_stats(&self) -> Result<(u64, f64, u64), LeadsError> {
        let pending = self.outbox_backlog().await?;
        let dead = outbox::Entity::find()
            .filter(outbox::Column::Status.eq("dead"))
            .count(&self.db)
            .await?;
        let oldest = outbox::Entity::find()
            .filter(outbox::Column::Status.eq("pending"))
            .order_by_asc(outbox::Column::Id)
            .one(&self.db)
            .await?
            .map_or(0.0, |r| {
                (wall_now() - r.created_at).num_milliseconds().max(0) as f64 / 1000.0
            });
        Ok((pending, oldest, dead))
    }

    /// Events not yet delivered (dead letters excluded).
    pub async fn outbox_backlog(&self) -> Result<u64, LeadsError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Status.eq("pending"))
            .count(&self.db)
            .await?)
    }
}
