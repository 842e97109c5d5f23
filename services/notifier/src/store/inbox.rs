//! The inbox: storing notifications (once per idempotency key, in batches)
//! and reading them back for the bell and its live stream.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, TryInsertResult,
};

use super::entities::notification;
use super::{Store, deliveries, now, to_notification};
use crate::domain::notification::{NewNotification, Notification};
use crate::error::NotifierError;

/// A Notify waiting to be stored with others (see [`Store::notify_many`]).
#[derive(Debug, Clone)]
pub struct PendingNotify {
    /// The organisation of the calling service: keys are unique within it.
    pub org_id: String,
    /// The validated request.
    pub new: NewNotification,
    /// The trace of the Notify call, carried to the delivery rows.
    pub traceparent: Option<String>,
}

impl PendingNotify {
    /// What makes a Notify the same as another: its organisation and key.
    fn key(&self) -> Key {
        key(&self.org_id, &self.new.idempotency_key)
    }
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

/// (organisation, idempotency key): what identifies one notification.
type Key = (String, String);

fn key(org: &str, second: &str) -> Key {
    (org.to_owned(), second.to_owned())
}

impl Store {
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
        // The first of each key is the one that may be new.
        let mut firsts = HashSet::new();
        let candidates: Vec<&PendingNotify> =
            batch.iter().filter(|p| firsts.insert(p.key())).collect();
        let (stored, new_keys) = insert_or_find(&txn, &candidates, at).await?;

        // Deliveries of the new ones, by each recipient's preferences.
        let fresh: Vec<(&PendingNotify, i64)> = candidates
            .iter()
            .filter_map(|p| {
                let k = p.key();
                new_keys.contains(&k).then(|| (*p, stored[&k].id))
            })
            .collect();
        let deliveries = deliveries::queue_for_new(&txn, &fresh, at).await?;
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
                let k = p.key();
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
}

/// Inserts the notifications whose key is new and reads back the ones
/// stored before (retries). Returns every candidate's row by key, and the
/// keys inserted now.
async fn insert_or_find(
    db: &impl ConnectionTrait,
    candidates: &[&PendingNotify],
    at: DateTime<Utc>,
) -> Result<(HashMap<Key, notification::Model>, HashSet<Key>), NotifierError> {
    let inserted =
        notification::Entity::insert_many(candidates.iter().map(|p| notification::ActiveModel {
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
        }))
        .on_conflict_do_nothing_on([
            notification::Column::OrgId,
            notification::Column::IdempotencyKey,
        ])
        .exec_with_returning_many(db)
        .await?;
    let inserted = match inserted {
        TryInsertResult::Inserted(models) => models,
        TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
    };
    let mut stored: HashMap<Key, notification::Model> = inserted
        .into_iter()
        .map(|m| (key(&m.org_id, &m.idempotency_key), m))
        .collect();
    let new_keys: HashSet<Key> = stored.keys().cloned().collect();

    // Retries: the notifications stored before.
    let mut earlier: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in candidates {
        if !new_keys.contains(&p.key()) {
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
            .all(db)
            .await?
        {
            stored.insert(key(&m.org_id, &m.idempotency_key), m);
        }
    }
    Ok((stored, new_keys))
}
