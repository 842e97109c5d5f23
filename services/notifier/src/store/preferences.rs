//! Each agent's channel preferences (absent: the defaults of
//! [`Preferences`]).

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::preference;
use super::{Store, now};
use crate::domain::fanout::Preferences;
use crate::error::NotifierError;

fn from_row(p: preference::Model) -> Preferences {
    Preferences {
        email_enabled: p.email_enabled,
        push_enabled: p.push_enabled,
    }
}

impl Store {
    async fn preferences_in(
        db: &impl ConnectionTrait,
        org_id: &str,
        user_id: &str,
    ) -> Result<Preferences, NotifierError> {
        Ok(
            preference::Entity::find_by_id((org_id.to_owned(), user_id.to_owned()))
                .one(db)
                .await?
                .map_or_else(Preferences::default, from_row),
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
}

/// The stored preferences of `users` of one organisation, by user (those
/// who never chose are absent: they have the defaults). One query.
pub(super) async fn preferences_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    users: &BTreeSet<&str>,
) -> Result<HashMap<String, Preferences>, NotifierError> {
    Ok(preference::Entity::find()
        .filter(preference::Column::OrgId.eq(org_id))
        .filter(preference::Column::UserId.is_in(users.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.user_id.clone(), from_row(p)))
        .collect())
}
