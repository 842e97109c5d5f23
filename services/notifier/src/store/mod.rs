//! Everything that talks SQL: the inbox, preferences, push subscriptions and
//! the durable delivery queue.
//!
//! Notify is one transaction: the notification and one delivery row per
//! channel and target land together, keyed so that a retried Notify finds
//! them instead of adding more. Workers claim due deliveries through
//! [`leadflow_db::queue`]: a short lease kept alive by a heartbeat, a fencing
//! token, the attempt counted when it is taken. They send without holding any
//! lock, and record the outcome only if they still hold the lease.

pub mod entities;
pub mod migrations;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use leadflow_db::queue::LeasedQueue;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TryInsertResult,
};

use crate::domain::notification::{Kind, NewNotification, Notification, Subject};
use crate::error::NotifierError;
use entities::{delivery, delivery_attempt, notification, preference, push_subscription};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A Notify waiting to be stored with others (see [`Store::notify_many`]).
#[derive(Debug, Clone)]
pub struct PendingNotify {
    pub org_id: String,
    pub new: NewNotification,
    /// The trace of the Notify call, carried to the delivery rows.
    pub traceparent: Option<String>,
}

/// What [`Store::notify_many`] did.
#[derive(Debug, Default)]
pub struct Notified {
    /// Each notification of the batch, in order, and whether it is new.
    pub stored: Vec<(Notification, bool)>,
    /// Delivery rows queued (push and email); none means the worker has
    /// nothing new to do.
    pub deliveries: usize,
    /// (organisation, recipient) of each new notification.
    pub created: Vec<(String, String)>,
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WebPush,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebPush => "web_push",
            Channel::Email => "email",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        match s {
            "web_push" => Some(Channel::WebPush),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

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

/// A channel's preferences for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    pub email_enabled: bool,
    pub push_enabled: bool,
}

impl Default for Preferences {
    /// In-app is always on; push is on until the agent turns it off (it needs
    /// a browser subscription anyway); email is opt-in.
    fn default() -> Self {
        Preferences {
            email_enabled: false,
            push_enabled: true,
        }
    }
}

/// A push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    pub user_id: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: DateTime<Utc>,
}

/// A delivery a worker holds the lease on, with what it needs to send.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub org_id: String,
    pub channel: Channel,
    pub target: String,
    /// Attempts made before this one (this one is counted already).
    pub attempts: i32,
    /// The claim's fencing token; recording an outcome needs it.
    pub lease: i64,
    /// The trace of the Notify that queued it.
    pub traceparent: Option<String>,
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
        error: String,
        at: DateTime<Utc>,
    },
    Failed(String),
    Dead(String),
}

/// One delivery as ListDeliveries shows it.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub id: i64,
    pub channel: Channel,
    pub target: String,
    pub status: Status,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub log: Vec<(i32, DateTime<Utc>, String)>,
}

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

/// The notifier database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store { db }
    }

    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sea_orm::DbErr> {
        Ok(Store::new(
            leadflow_db::connect(url, max_connections).await?,
        ))
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn migrate(&self) -> Result<(), sea_orm::DbErr> {
        migrations::migrate(&self.db).await
    }

    /// Stores notifications and queues their deliveries, once per key: a
    /// retried Notify finds the first notification and queues nothing.
    ///
    /// The whole batch is one transaction with a fixed number of statements
    /// whatever its size, so one durable commit and a few round trips serve
    /// them all (see [`crate::intake`]). All or nothing. The results are in
    /// the order of `batch`, each with whether it is new; a key repeated
    /// within the batch is stored once, like a retry. `announce` gets the
    /// (organisation, recipient) of each new notification and may return a
    /// statement to run in the same transaction (the hub's NOTIFY, which
    /// Postgres sends at commit and only if it commits).
    pub async fn notify_many(
        &self,
        batch: &[PendingNotify],
        announce: impl FnOnce(&[(String, String)]) -> Option<Statement>,
    ) -> Result<Notified, NotifierError> {
        if batch.is_empty() {
            return Ok(Notified::default());
        }
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = now();
        let key = |org: &str, idempotency_key: &str| (org.to_owned(), idempotency_key.to_owned());
        // The first of each key is the one that may be new.
        let mut firsts = HashSet::new();
        let candidates: Vec<&PendingNotify> = batch
            .iter()
            .filter(|p| firsts.insert(key(&p.org_id, &p.new.idempotency_key)))
            .collect();
        let inserted = notification::Entity::insert_many(candidates.iter().map(|p| {
            notification::ActiveModel {
                org_id: Set(p.org_id.clone()),
                recipient_id: Set(p.new.recipient.user_id.clone()),
                idempotency_key: Set(p.new.idempotency_key.clone()),
                kind: Set(p.new.kind.as_str().to_owned()),
                title: Set(p.new.title.clone()),
                body: Set(p.new.body.clone()),
                subject: Set(serde_json::to_string(&p.new.subject).expect("subject serialises")),
                actor_id: Set(p.new.actor_id.clone()),
                read_at: Set(None),
                created_at: Set(at),
                ..Default::default()
            }
        }))
        .on_conflict_do_nothing_on([
            notification::Column::OrgId,
            notification::Column::IdempotencyKey,
        ])
        .exec_with_returning_many(&txn)
        .await?;
        let inserted = match inserted {
            TryInsertResult::Inserted(models) => models,
            TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
        };
        let mut stored: HashMap<(String, String), notification::Model> = inserted
            .into_iter()
            .map(|m| (key(&m.org_id, &m.idempotency_key), m))
            .collect();
        let new_keys: HashSet<(String, String)> = stored.keys().cloned().collect();

        // Retries: the notifications stored before.
        let mut earlier: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &candidates {
            if !new_keys.contains(&key(&p.org_id, &p.new.idempotency_key)) {
                earlier
                    .entry(&p.org_id)
                    .or_default()
                    .push(&p.new.idempotency_key);
            }
        }
        for (org_id, keys) in earlier {
            for m in notification::Entity::find()
                .filter(notification::Column::OrgId.eq(org_id))
                .filter(notification::Column::IdempotencyKey.is_in(keys))
                .all(&txn)
                .await?
            {
                stored.insert(key(&m.org_id, &m.idempotency_key), m);
            }
        }

        // Deliveries of the new ones, by each recipient's preferences.
        let fresh: Vec<(&PendingNotify, i64)> = candidates
            .iter()
            .filter_map(|p| {
                let k = key(&p.org_id, &p.new.idempotency_key);
                new_keys.contains(&k).then(|| (*p, stored[&k].id))
            })
            .collect();
        let mut recipients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (p, _) in &fresh {
            recipients
                .entry(&p.org_id)
                .or_default()
                .insert(&p.new.recipient.user_id);
        }
        let mut prefs: HashMap<(String, String), Preferences> = HashMap::new();
        let mut subscriptions: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (org_id, users) in &recipients {
            for p in preference::Entity::find()
                .filter(preference::Column::OrgId.eq(*org_id))
                .filter(preference::Column::UserId.is_in(users.iter().copied()))
                .all(&txn)
                .await?
            {
                prefs.insert(
                    key(&p.org_id, &p.user_id),
                    Preferences {
                        email_enabled: p.email_enabled,
                        push_enabled: p.push_enabled,
                    },
                );
            }
            let pushed: Vec<&str> = users
                .iter()
                .copied()
                .filter(|u| {
                    prefs
                        .get(&key(org_id, u))
                        .copied()
                        .unwrap_or_default()
                        .push_enabled
                })
                .collect();
            if pushed.is_empty() {
                continue;
            }
            for s in push_subscription::Entity::find()
                .filter(push_subscription::Column::OrgId.eq(*org_id))
                .filter(push_subscription::Column::UserId.is_in(pushed))
                .order_by_asc(push_subscription::Column::Endpoint)
                .all(&txn)
                .await?
            {
                subscriptions
                    .entry(key(&s.org_id, &s.user_id))
                    .or_default()
                    .push(s.endpoint);
            }
        }
        let mut rows = Vec::new();
        for (p, notification_id) in &fresh {
            let recipient = key(&p.org_id, &p.new.recipient.user_id);
            let delivery = |channel: Channel, target: String| delivery::ActiveModel {
                org_id: Set(p.org_id.clone()),
                notification_id: Set(*notification_id),
                channel: Set(channel.as_str().to_owned()),
                target: Set(target),
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
            };
            let prefs = prefs.get(&recipient).copied().unwrap_or_default();
            if prefs.push_enabled {
                for endpoint in subscriptions.get(&recipient).into_iter().flatten() {
                    rows.push(delivery(Channel::WebPush, endpoint.clone()));
                }
            }
            if prefs.email_enabled && !p.new.recipient.email.is_empty() {
                rows.push(delivery(Channel::Email, p.new.recipient.email.clone()));
            }
        }
        let deliveries = rows.len();
        if !rows.is_empty() {
            delivery::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    delivery::Column::NotificationId,
                    delivery::Column::Channel,
                    delivery::Column::Target,
                ])
                .exec_without_returning(&txn)
                .await?;
        }
        let created: Vec<(String, String)> = fresh
            .iter()
            .map(|(p, _)| (p.org_id.clone(), p.new.recipient.user_id.clone()))
            .collect();
        if !created.is_empty()
            && let Some(statement) = announce(&created)
        {
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;

        let mut reported = HashSet::new();
        let stored = batch
            .iter()
            .map(|p| {
                let k = key(&p.org_id, &p.new.idempotency_key);
                let model = stored
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| NotifierError::Internal("notification vanished".into()))?;
                // New only for the first of its key.
                let created = new_keys.contains(&k) && reported.insert(k);
                Ok((to_notification(model)?, created))
            })
            .collect::<Result<_, NotifierError>>()?;
        Ok(Notified {
            stored,
            deliveries,
            created,
        })
    }

    /// The recipient's inbox, newest first, before the id `before`.
    pub async fn list(
        &self,
        org_id: &str,
        user_id: &str,
        unread_only: bool,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Notification>, NotifierError> {
        let mut query = notification::Entity::find()
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::RecipientId.eq(user_id));
        if unread_only {
            query = query.filter(notification::Column::ReadAt.is_null());
        }
        if let Some(before) = before {
            query = query.filter(notification::Column::Id.lt(before));
        }
        query
            .order_by_desc(notification::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_notification)
            .collect()
    }

    /// Ids of the recipient's notifications after `after`, oldest first (an
    /// index-only read: what a watcher checks on every wake-up).
    pub async fn ids_after(
        &self,
        org_id: &str,
        user_id: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<i64>, NotifierError> {
        Ok(notification::Entity::find()
            .select_only()
            .column(notification::Column::Id)
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::RecipientId.eq(user_id))
            .filter(notification::Column::Id.gt(after))
            .order_by_asc(notification::Column::Id)
            .limit(limit)
            .into_tuple::<i64>()
            .all(&self.db)
            .await?)
    }

    /// The recipient's notifications among `ids`, oldest first.
    pub async fn by_ids(
        &self,
        org_id: &str,
        user_id: &str,
        ids: &[i64],
    ) -> Result<Vec<Notification>, NotifierError> {
        notification::Entity::find()
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::RecipientId.eq(user_id))
            .filter(notification::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(notification::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_notification)
            .collect()
    }

    /// The newest notification id of the recipient (0 if none).
    pub async fn latest_id(&self, org_id: &str, user_id: &str) -> Result<i64, NotifierError> {
        Ok(self
            .list(org_id, user_id, false, None, 1)
            .await?
            .first()
            .map_or(0, |n| n.id))
    }

    pub async fn unread_count(&self, org_id: &str, user_id: &str) -> Result<i64, NotifierError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::RecipientId.eq(user_id))
            .filter(notification::Column::ReadAt.is_null())
            .count(&self.db)
            .await? as i64)
    }

    /// Marks the recipient's own notifications read (others' ids are ignored).
    /// `None` marks all. Returns how many changed.
    pub async fn mark_read(
        &self,
        org_id: &str,
        user_id: &str,
        ids: Option<&[i64]>,
    ) -> Result<u64, NotifierError> {
        let mut update = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(now()))
            .filter(notification::Column::OrgId.eq(org_id))
            .filter(notification::Column::RecipientId.eq(user_id))
            .filter(notification::Column::ReadAt.is_null());
        if let Some(ids) = ids {
            update = update.filter(notification::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    async fn preferences_in(
        db: &impl sea_orm::ConnectionTrait,
        org_id: &str,
        user_id: &str,
    ) -> Result<Preferences, NotifierError> {
        Ok(
            preference::Entity::find_by_id((org_id.to_owned(), user_id.to_owned()))
                .one(db)
                .await?
                .map_or_else(Preferences::default, |p| Preferences {
                    email_enabled: p.email_enabled,
                    push_enabled: p.push_enabled,
                }),
        )
    }

    pub async fn preferences(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Preferences, NotifierError> {
        Self::preferences_in(&self.db, org_id, user_id).await
    }

    pub async fn set_preferences(
        &self,
        org_id: &str,
        user_id: &str,
        prefs: Preferences,
    ) -> Result<Preferences, NotifierError> {
        preference::Entity::insert(preference::ActiveModel {
            org_id: Set(org_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            email_enabled: Set(prefs.email_enabled),
            push_enabled: Set(prefs.push_enabled),
            updated_at: Set(now()),
        })
        .on_conflict(
            OnConflict::columns([preference::Column::OrgId, preference::Column::UserId])
                .update_columns([
                    preference::Column::EmailEnabled,
                    preference::Column::PushEnabled,
                    preference::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(prefs)
    }

    /// Adds a subscription for the caller; an endpoint already registered in
    /// the organisation (perhaps to the rep who used this browser before)
    /// moves to the caller. One registered in another organisation stays
    /// there: ALREADY_EXISTS, and the browser should unsubscribe and
    /// subscribe again for an endpoint of its own (a push endpoint is a
    /// capability; only the browser holding it knows it).
    pub async fn add_subscription(
        &self,
        org_id: &str,
        user_id: &str,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<Subscription, NotifierError> {
        let at = now();
        let written = push_subscription::Entity::insert(push_subscription::ActiveModel {
            endpoint: Set(endpoint.to_owned()),
            org_id: Set(org_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            p256dh: Set(p256dh.to_owned()),
            auth: Set(auth.to_owned()),
            created_at: Set(at),
        })
        .on_conflict(
            OnConflict::column(push_subscription::Column::Endpoint)
                .update_columns([
                    push_subscription::Column::UserId,
                    push_subscription::Column::P256dh,
                    push_subscription::Column::Auth,
                    push_subscription::Column::CreatedAt,
                ])
                // Never across organisations: the upsert only takes over a
                // row of the caller's own organisation.
                .action_and_where(
                    Expr::col((push_subscription::Entity, push_subscription::Column::OrgId))
                        .eq(org_id),
                )
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await;
        let written = match written {
            Ok(rows) => rows,
            // sea-orm reports "no row touched" of a conditional upsert so.
            Err(sea_orm::DbErr::RecordNotInserted) => 0,
            Err(e) => return Err(e.into()),
        };
        if written == 0 {
            return Err(NotifierError::AlreadyExists(
                "this push endpoint is registered in another organisation; unsubscribe the \
                 browser and subscribe again"
                    .into(),
            ));
        }
        Ok(Subscription {
            endpoint: endpoint.to_owned(),
            user_id: user_id.to_owned(),
            p256dh: p256dh.to_owned(),
            auth: auth.to_owned(),
            created_at: at,
        })
    }

    /// Removes one of the caller's own subscriptions.
    pub async fn remove_subscription(
        &self,
        org_id: &str,
        user_id: &str,
        endpoint: &str,
    ) -> Result<bool, NotifierError> {
        Ok(push_subscription::Entity::delete_many()
            .filter(push_subscription::Column::Endpoint.eq(endpoint))
            .filter(push_subscription::Column::OrgId.eq(org_id))
            .filter(push_subscription::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await?
            .rows_affected
            > 0)
    }

    /// Forgets a subscription the push service says is gone (404/410).
    pub async fn forget_subscription(&self, endpoint: &str) -> Result<(), NotifierError> {
        push_subscription::Entity::delete_by_id(endpoint.to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn subscriptions(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Vec<Subscription>, NotifierError> {
        Ok(push_subscription::Entity::find()
            .filter(push_subscription::Column::OrgId.eq(org_id))
            .filter(push_subscription::Column::UserId.eq(user_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| Subscription {
                endpoint: s.endpoint,
                user_id: s.user_id,
                p256dh: s.p256dh,
                auth: s.auth,
                created_at: s.created_at,
            })
            .collect())
    }

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
