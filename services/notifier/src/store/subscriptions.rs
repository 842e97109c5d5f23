//! Browser push subscriptions: an endpoint belongs to one recipient of one
//! organisation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::push_subscription;
use super::{Store, now};
use crate::error::NotifierError;

/// A push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The push service URL to POST to (a capability: only the browser knows it).
    pub endpoint: String,
    /// The recipient whose browser it is.
    pub user_id: String,
    /// The browser's public key, which payloads are encrypted to.
    pub p256dh: String,
    /// The browser's authentication secret for that encryption.
    pub auth: String,
    /// When it was registered (or last moved to this recipient).
    pub created_at: DateTime<Utc>,
}

impl Store {
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
}

/// The push endpoints of `users` of one organisation, by user, each user's
/// in endpoint order. One query.
pub(super) async fn endpoints_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    users: &[&str],
) -> Result<HashMap<String, Vec<String>>, NotifierError> {
    let mut endpoints: HashMap<String, Vec<String>> = HashMap::new();
    for s in push_subscription::Entity::find()
        .filter(push_subscription::Column::OrgId.eq(org_id))
        .filter(push_subscription::Column::UserId.is_in(users.iter().copied()))
        .order_by_asc(push_subscription::Column::Endpoint)
        .all(db)
        .await?
    {
        endpoints.entry(s.user_id).or_default().push(s.endpoint);
    }
    Ok(endpoints)
}
