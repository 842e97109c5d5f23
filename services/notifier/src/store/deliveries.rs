//! The durable delivery queue: one row per notification, channel and target,
//! claimed by workers with a lease, and every attempt's outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use leadflow_db::queue::LeasedQueue;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::entities::{delivery, delivery_attempt, notification, push_subscription};
use super::inbox::PendingNotify;
use super::preferences::preferences_of;
use super::subscriptions::endpoints_of;
use super::{Store, now, to_notification};
use crate::domain::fanout::{Channel, fan_out};
use crate::domain::notification::Notification;
use crate::error::NotifierError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Retrying,
    Delivered,
    /// Permanently refused (a 5xx SMTP answer, a push subscription gone).
    Failed,
    /// Out of attempts.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retrying => "retrying",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Retrying,
            Status::Delivered,
            Status::Failed,
            Status::Dead,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A delivery a worker holds the lease on, with what it needs to send.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery row, to record the outcome on.
    pub id: i64,
    /// The organisation it belongs to, for logs and the subscription check.
    pub org_id: String,
    /// How to send it.
    pub channel: Channel,
    /// The push endpoint or the email address.
    pub target: String,
    /// Attempts made before this one (this one is counted already).
    pub attempts: i32,
    /// The claim's fencing token; recording an outcome needs it.
    pub lease: i64,
    /// The trace of the Notify that queued it.
    pub traceparent: Option<String>,
    /// What to tell the recipient.
    pub notification: Notification,
    /// For web push: the subscription's keys (absent if it was removed).
    pub keys: Option<(String, String)>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again at `at` (or give up if out of attempts: the caller decides).
    Retry {
        /// Why this attempt failed, for the attempt log.
        error: String,
        /// When the next attempt is due.
        at: DateTime<Utc>,
    },
    Failed(String),
    Dead(String),
}

/// One delivery as ListDeliveries shows it.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    /// The delivery row.
    pub id: i64,
    /// How it is sent.
    pub channel: Channel,
    /// The push endpoint or the email address (the API shows less of it).
    pub target: String,
    /// Where it stands.
    pub status: Status,
    /// Attempts taken so far.
    pub attempts: i32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was delivered, once it was.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (or was, for one that is done).
    pub next_attempt_at: DateTime<Utc>,
    /// Every attempt: (number, when, outcome).
    pub log: Vec<(i32, DateTime<Utc>, String)>,
}

/// Queues the deliveries of new notifications (each with its id), inside
/// the transaction that stores them: reads each recipient's preferences and
/// push subscriptions and inserts what [`fan_out`] decides. A fixed number of
/// statements per organisation, however many notifications. Returns how many
/// rows it queued.
pub(super) async fn queue_for_new(
    db: &impl ConnectionTrait,
    fresh: &[(&PendingNotify, i64)],
    at: DateTime<Utc>,
) -> Result<usize, NotifierError> {
    let mut recipients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (p, _) in fresh {
        recipients
            .entry(&p.org_id)
            .or_default()
            .insert(&p.new.recipient.user_id);
    }
    let mut prefs = HashMap::new();
    let mut subscriptions = HashMap::new();
    for (org_id, users) in &recipients {
        let org_prefs = preferences_of(db, org_id, users).await?;
        // Only the browsers of recipients with push on can be pushed.
        let pushed: Vec<&str> = users
            .iter()
            .copied()
            .filter(|u| org_prefs.get(*u).copied().unwrap_or_default().push_enabled)
            .collect();
        if !pushed.is_empty() {
            for (user, endpoints) in endpoints_of(db, org_id, &pushed).await? {
                subscriptions.insert((org_id.to_string(), user), endpoints);
            }
        }
        for (user, p) in org_prefs {
            prefs.insert((org_id.to_string(), user), p);
        }
    }
    let mut rows = Vec::new();
    for (p, notification_id) in fresh {
        let recipient = (p.org_id.clone(), p.new.recipient.user_id.clone());
        let targets = fan_out(
            prefs.get(&recipient).copied().unwrap_or_default(),
            &p.new.recipient.email,
            subscriptions.get(&recipient).map_or(&[], Vec::as_slice),
        );
        rows.extend(targets.into_iter().map(|t| delivery::ActiveModel {
            org_id: Set(p.org_id.clone()),
            notification_id: Set(*notification_id),
            channel: Set(t.channel.as_str().to_owned()),
            target: Set(t.target),
            status: Set(Status::Pending.as_str().to_owned()),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(at),
            lease_until: Set(None),
            lease_token: Set(None),
            delivered_at: Set(None),
            created_at: Set(at),
            traceparent: Set(p.traceparent.clone()),
            ..Default::default()
        }));
    }
    let queued = rows.len();
    if !rows.is_empty() {
        delivery::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                delivery::Column::NotificationId,
                delivery::Column::Channel,
                delivery::Column::Target,
            ])
            .exec_without_returning(db)
            .await?;
    }
    Ok(queued)
}

impl Store {
    /// Takes the lease on up to `limit` due deliveries (see
    /// [`leadflow_db::queue`]). Rows leased by another worker (or instance)
    /// are skipped, never waited for.
    pub async fn claim_due(
        &self,
        queue: &LeasedQueue,
        limit: u64,
    ) -> Result<Vec<DueDelivery>, NotifierError> {
        let claim = queue.claim(&self.db, limit).await?;
        if !claim.exhausted.is_empty() {
            tracing::warn!(deliveries = ?claim.exhausted, "deliveries out of attempts are now DEAD");
        }
        if claim.rows.is_empty() {
            return Ok(Vec::new());
        }
        let attempts: HashMap<i64, i32> = claim.rows.iter().map(|r| (r.id, r.attempts)).collect();
        let due = delivery::Entity::find()
            .filter(delivery::Column::Id.is_in(attempts.keys().copied()))
            .order_by_asc(delivery::Column::Id)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(due.len());
        for d in due {
            let Some(n) = notification::Entity::find_by_id(d.notification_id)
                .one(&self.db)
                .await?
            else {
                continue;
            };
            let channel = Channel::parse(&d.channel)
                .ok_or_else(|| NotifierError::Internal(format!("stored channel {}", d.channel)))?;
            let keys = match channel {
                Channel::WebPush => push_subscription::Entity::find_by_id(d.target.clone())
                    .one(&self.db)
                    .await?
                    .filter(|s| s.org_id == d.org_id && s.user_id == n.recipient_id)
                    .map(|s| (s.p256dh, s.auth)),
                Channel::Email => None,
            };
            out.push(DueDelivery {
                id: d.id,
                org_id: d.org_id,
                channel,
                target: d.target,
                attempts: attempts[&d.id],
                lease: claim.token,
                traceparent: d.traceparent,
                notification: to_notification(n)?,
                keys,
            });
        }
        Ok(out)
    }

    /// Keeps a claim's leases alive while its sends are in flight (run it
    /// beside them; it never returns).
    pub async fn keep_lease(&self, queue: &LeasedQueue, token: i64) {
        queue.keep_alive(&self.db, token).await
    }

    /// Records an attempt's outcome, if the lease is still ours (the attempt
    /// was counted when it was taken). Returns whether it was recorded.
    pub async fn record(
        &self,
        due: &DueDelivery,
        outcome: &Outcome,
    ) -> Result<bool, NotifierError> {
        let at = now();
        let (status, error, next, delivered) = match outcome {
            Outcome::Delivered => (Status::Delivered, None, at, Some(at)),
            Outcome::Retry { error, at: next } => {
                (Status::Retrying, Some(error.clone()), *next, None)
            }
            Outcome::Failed(error) => (Status::Failed, Some(error.clone()), at, None),
            Outcome::Dead(error) => (Status::Dead, Some(error.clone()), at, None),
        };
        let txn = leadflow_db::begin_write(&self.db).await?;
        let updated = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
            .col_expr(delivery::Column::LastError, Expr::value(error.clone()))
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(next))
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(delivery::Column::DeliveredAt, Expr::value(delivered))
            .filter(LeasedQueue::held(due.id, due.lease))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        delivery_attempt::ActiveModel {
            delivery_id: Set(due.id),
            number: Set(due.attempts + 1),
            at: Set(at),
            outcome: Set(match outcome {
                Outcome::Delivered => "delivered".to_owned(),
                Outcome::Retry { error, .. } => format!("retry: {error}"),
                Outcome::Failed(error) => format!("failed: {error}"),
                Outcome::Dead(error) => format!("dead: {error}"),
            }),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// A notification's deliveries and their attempts. `None`: no such
    /// notification in the organisation.
    pub async fn deliveries(
        &self,
        org_id: &str,
        notification_id: i64,
    ) -> Result<Option<Vec<DeliveryView>>, NotifierError> {
        let exists = notification::Entity::find_by_id(notification_id)
            .filter(notification::Column::OrgId.eq(org_id))
            .count(&self.db)
            .await?
            > 0;
        if !exists {
            return Ok(None);
        }
        let rows = delivery::Entity::find()
            .filter(delivery::Column::NotificationId.eq(notification_id))
            .order_by_asc(delivery::Column::Id)
            .all(&self.db)
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for d in rows {
            let log = delivery_attempt::Entity::find()
                .filter(delivery_attempt::Column::DeliveryId.eq(d.id))
                .order_by_asc(delivery_attempt::Column::Number)
                .all(&self.db)
                .await?
                .into_iter()
                .map(|a| (a.number, a.at, a.outcome))
                .collect();
            views.push(DeliveryView {
                id: d.id,
                channel: Channel::parse(&d.channel).unwrap_or(Channel::Email),
                target: d.target,
                status: Status::parse(&d.status).unwrap_or(Status::Pending),
                attempts: d.attempts,
                last_error: d.last_error,
                delivered_at: d.delivered_at,
                next_attempt_at: d.next_attempt_at,
                log,
            });
        }
        Ok(Some(views))
    }

    /// Deliveries that ended DEAD.
    pub async fn dead_deliveries(&self) -> Result<u64, NotifierError> {
        Ok(delivery::Entity::find()
            .filter(delivery::Column::Status.eq(Status::Dead.as_str()))
            .count(&self.db)
            .await?)
    }

    /// Deliveries still to be made (for tests, metrics and shutdown logs).
    pub async fn pending_deliveries(&self) -> Result<u64, NotifierError> {
        Ok(delivery::Entity::find()
            .filter(
                delivery::Column::Status
                    .is_in([Status::Pending.as_str(), Status::Retrying.as_str()]),
            )
            .count(&self.db)
            .await?)
    }
}
