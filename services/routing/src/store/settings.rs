//! Settings and their audit log in the routing database.

use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};

use super::entities::{audit, settings};
use crate::domain::settings::{Settings, VersionedSettings};
use crate::error::RoutingError;

/// One entry of the settings audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The row id: the audit's order and its page cursor.
    pub id: i64,
    /// Who changed the settings.
    pub actor_id: String,
    /// When.
    pub at: chrono::DateTime<Utc>,
    /// The settings replaced; `None` for the first save.
    pub before: Option<VersionedSettings>,
    /// The settings saved.
    pub after: VersionedSettings,
}

fn parse(json: &str) -> Result<Settings, RoutingError> {
    serde_json::from_str(json).map_err(|e| RoutingError::Internal(format!("stored settings: {e}")))
}

leadflow_db::own_database! {
    /// The routing database.
    pub struct SettingsStore;
    migrations: super::migrations::Migrator, lock: super::migrations::MIGRATION_LOCK_ID
}

impl SettingsStore {
    /// The organisation's settings; routing off at version 0 if never saved.
    pub async fn get(&self, org_id: &str) -> Result<VersionedSettings, RoutingError> {
        Ok(
            match settings::Entity::find_by_id(org_id.to_owned())
                .one(&self.db)
                .await?
            {
                Some(row) => VersionedSettings {
                    settings: parse(&row.settings)?,
                    version: row.version,
                    updated_by: row.updated_by,
                    updated_at: Some(row.updated_at),
                },
                None => VersionedSettings {
                    settings: Settings::default(),
                    version: 0,
                    updated_by: String::new(),
                    updated_at: None,
                },
            },
        )
    }

    /// Saves new settings if the stored version is still `expected_version`
    /// (compare-and-set), with an audit entry in the same transaction.
    pub async fn update(
        &self,
        org_id: &str,
        actor_id: &str,
        new: &Settings,
        expected_version: i64,
    ) -> Result<VersionedSettings, RoutingError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let before = match settings::Entity::find_by_id(org_id.to_owned())
            .one(&txn)
            .await?
        {
            Some(row) => Some(VersionedSettings {
                settings: parse(&row.settings)?,
                version: row.version,
                updated_by: row.updated_by,
                updated_at: Some(row.updated_at),
            }),
            None => None,
        };
        let current = before.as_ref().map_or(0, |b| b.version);
        let stale = || {
            RoutingError::Aborted(format!(
                "the settings changed since version {expected_version}; read them again (now version {current}) and retry"
            ))
        };
        if current != expected_version {
            return Err(stale());
        }
        let now = Utc::now().trunc_subsecs(6);
        let json = serde_json::to_string(new).map_err(|e| RoutingError::Internal(e.to_string()))?;
        let version = expected_version + 1;
        if expected_version == 0 {
            let inserted = settings::Entity::insert(settings::ActiveModel {
                org_id: Set(org_id.to_owned()),
                settings: Set(json.clone()),
                version: Set(version),
                updated_by: Set(actor_id.to_owned()),
                updated_at: Set(now),
            })
            .on_conflict_do_nothing_on([settings::Column::OrgId])
            .exec_without_returning(&txn)
            .await?;
            if matches!(
                inserted,
                TryInsertResult::Inserted(0) | TryInsertResult::Conflicted
            ) {
                return Err(stale());
            }
        } else {
            let updated = settings::Entity::update_many()
                .set(settings::ActiveModel {
                    settings: Set(json.clone()),
                    version: Set(version),
                    updated_by: Set(actor_id.to_owned()),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .filter(settings::Column::OrgId.eq(org_id))
                .filter(settings::Column::Version.eq(expected_version))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                return Err(stale());
            }
        }
        let after = VersionedSettings {
            settings: new.clone(),
            version,
            updated_by: actor_id.to_owned(),
            updated_at: Some(now),
        };
        audit::ActiveModel {
            org_id: Set(org_id.to_owned()),
            actor_id: Set(actor_id.to_owned()),
            at: Set(now),
            before: Set(before
                .as_ref()
                .map(|b| serde_json::to_string(&b.settings).expect("settings serialise"))),
            after: Set(json),
            version: Set(version),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Audit entries, newest first, after the entry id `before_id` (paging).
    pub async fn audit(
        &self,
        org_id: &str,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, RoutingError> {
        let mut query = audit::Entity::find().filter(audit::Column::OrgId.eq(org_id));
        if let Some(id) = before_id {
            query = query.filter(audit::Column::Id.lt(id));
        }
        let rows = query
            .order_by_desc(audit::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                let before = row
                    .before
                    .as_deref()
                    .map(|json| -> Result<VersionedSettings, RoutingError> {
                        Ok(VersionedSettings {
                            settings: parse(json)?,
                            version: row.version - 1,
                            updated_by: String::new(),
                            updated_at: None,
                        })
                    })
                    .transpose()?;
                Ok(AuditEntry {
                    id: row.id,
                    before,
                    after: VersionedSettings {
                        settings: parse(&row.after)?,
                        version: row.version,
                        updated_by: row.actor_id.clone(),
                        updated_at: Some(row.at),
                    },
                    actor_id: row.actor_id,
                    at: row.at,
                })
            })
            .collect()
    }
}
