//! Creating leads exactly once per idempotency key.
//!
//! A key is claimed in the same transaction that inserts the lead, so of two
//! concurrent requests with one key, one creates and the other waits on the
//! unique index and then answers the first one's lead. The response is
//! stored with the key, so a replay answers the lead as it was created.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};

use super::entities::{idempotency_key, lead};
use super::outbox::enqueue;
use super::ownership::insert_lead;
use super::queries::find_lead;
use super::{Store, wall_now};
use crate::domain::change::NewLeadPlan;
use crate::domain::events::OutboxEvent;
use crate::domain::lead::{Lead, NewLead};
use crate::error::LeadsError;

/// One lead to create, with everything decided.
#[derive(Debug, Clone)]
pub struct Creation {
    /// The validated body.
    pub new: NewLead,
    /// The idempotency key, if the caller gave one.
    pub key: Option<String>,
    /// The fresh id (routing was already asked about it).
    pub id: String,
    /// Owner, history and events ([`crate::domain::change::create`]).
    pub plan: NewLeadPlan,
    /// Sent if this id is not stored after all (a replayed key, a failed
    /// row): routing may have counted a pick for it.
    pub release_if_unused: Option<OutboxEvent>,
}

/// Creates one lead inside `txn`, honouring its idempotency key.
async fn create_in(
    txn: &DatabaseTransaction,
    org_id: &str,
    actor_id: &str,
    creation: &Creation,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Lead, LeadsError> {
    if let Some(key) = creation.key.as_deref()
        && let Some(replayed) = claim_key(txn, org_id, key, creation).await?
    {
        return Ok(replayed);
    }
    let created = insert_lead(
        txn,
        org_id,
        actor_id,
        &creation.id,
        &creation.new,
        &creation.plan,
        at,
    )
    .await?;
    if let Some(key) = creation.key.as_deref() {
        idempotency_key::Entity::update_many()
            .col_expr(
                idempotency_key::Column::Response,
                Expr::value(serde_json::to_string(&created).expect("a lead serialises")),
            )
            .filter(idempotency_key::Column::OrgId.eq(org_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(txn)
            .await?;
    }
    Lead::try_from(created)
}

/// Claims `key` for `creation` before its lead is inserted. `Some`: the key
/// was used already (with the same body), and this is the lead it created.
async fn claim_key(
    txn: &DatabaseTransaction,
    org_id: &str,
    key: &str,
    creation: &Creation,
) -> Result<Option<Lead>, LeadsError> {
    let fingerprint = creation.new.fingerprint();
    // Claim the key first. A concurrent request with the same key waits on
    // the unique index until this transaction ends, then finds the row.
    let claimed = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        org_id: Set(org_id.to_owned()),
        key: Set(key.to_owned()),
        request_hash: Set(fingerprint.clone()),
        lead_id: Set(creation.id.clone()),
        created_at: Set(wall_now()),
        response: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(txn)
    .await?;
    // Without RETURNING, a conflict shows up as zero rows inserted.
    let conflicted = match claimed {
        sea_orm::TryInsertResult::Inserted(rows) => rows == 0,
        sea_orm::TryInsertResult::Conflicted | sea_orm::TryInsertResult::Empty => true,
    };
    if !conflicted {
        return Ok(None);
    }
    let existing = used_key(txn, org_id, key, &fingerprint)
        .await?
        .ok_or_else(|| LeadsError::Aborted("idempotency key changed concurrently; retry".into()))?;
    // A concurrent request with the key won; our pick is unused.
    enqueue(
        txn,
        org_id,
        creation.release_if_unused.iter().cloned().collect(),
    )
    .await?;
    replayed_lead(txn, existing)
        .await?
        .map(Some)
        .ok_or_else(|| LeadsError::Internal("idempotency key names a missing lead".into()))
}

/// The stored use of `key`, if it was used; a use with another body than
/// `fingerprint` is ALREADY_EXISTS.
async fn used_key(
    db: &impl ConnectionTrait,
    org_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Option<idempotency_key::Model>, LeadsError> {
    let Some(existing) = idempotency_key::Entity::find_by_id((org_id.to_owned(), key.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if existing.request_hash != fingerprint {
        return Err(LeadsError::AlreadyExists(
            "idempotency_key was already used for a different lead".into(),
        ));
    }
    Ok(Some(existing))
}

/// What a key answers again: the lead as it was created (or, for a key kept
/// from before responses were stored, as it is now).
async fn replayed_lead(
    db: &impl ConnectionTrait,
    key: idempotency_key::Model,
) -> Result<Option<Lead>, LeadsError> {
    if let Some(response) = &key.response {
        let model: lead::Model = serde_json::from_str(response)
            .map_err(|e| LeadsError::Internal(format!("stored idempotent response: {e}")))?;
        return Lead::try_from(model).map(Some);
    }
    find_lead(db, &key.org_id, &key.lead_id).await
}

/// A fresh lead id (time-ordered).
pub fn new_lead_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

impl Store {
    /// Creates a lead (or, for a repeated idempotency key with the same body,
    /// returns the lead created the first time).
    #[tracing::instrument(name = "sql create lead", skip_all, fields(db.system = self.db_system()))]
    pub async fn create_lead(
        &self,
        org_id: &str,
        actor_id: &str,
        creation: &Creation,
    ) -> Result<Lead, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        match create_in(&txn, org_id, actor_id, creation, self.now()).await {
            Ok(lead) => {
                txn.commit().await?;
                Ok(lead)
            }
            Err(error) => {
                drop(txn);
                if let Some(release) = &creation.release_if_unused {
                    let txn = leadflow_db::begin_write(&self.db).await?;
                    enqueue(&txn, org_id, vec![release.clone()]).await?;
                    txn.commit().await?;
                }
                Err(error)
            }
        }
    }

    /// Creates many leads in one transaction; each row succeeds or fails on
    /// its own (a row's failure writes nothing for that row).
    pub async fn create_leads(
        &self,
        org_id: &str,
        actor_id: &str,
        rows: Vec<Result<Creation, LeadsError>>,
    ) -> Result<Vec<Result<Lead, LeadsError>>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let mut results = Vec::with_capacity(rows.len());
        for row in rows {
            let creation = match row {
                Ok(creation) => creation,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            // A savepoint per row: a row that fails leaves no trace and does
            // not poison the rest of the batch.
            let row_txn = txn.begin().await?;
            match create_in(&row_txn, org_id, actor_id, &creation, self.now()).await {
                Ok(lead) => {
                    row_txn.commit().await?;
                    results.push(Ok(lead));
                }
                Err(error) => {
                    row_txn.rollback().await?;
                    enqueue(
                        &txn,
                        org_id,
                        creation.release_if_unused.into_iter().collect(),
                    )
                    .await?;
                    results.push(Err(error));
                }
            }
        }
        txn.commit().await?;
        Ok(results)
    }

    /// The lead an idempotency key already created: `Some` for the same body,
    /// ALREADY_EXISTS for another body, `None` if the key is unused.
    pub async fn replay(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Lead>, LeadsError> {
        match used_key(&self.db, org_id, key, fingerprint).await? {
            Some(existing) => replayed_lead(&self.db, existing).await,
            None => Ok(None),
        }
    }

    /// Forgets idempotency keys created before `cutoff`. Returns how many.
    pub async fn prune_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64, LeadsError> {
        let result = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
