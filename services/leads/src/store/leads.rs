//! Leads, their tags and history, and idempotency keys.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::entities::{idempotency_key, lead, lead_event, lead_tag};
use super::outbox::enqueue;
use super::{Store, now};
use crate::domain::events::{BATCH_PREVIEW, LeadMention, NotifyKind, OutboxEvent, OwnershipFact};
use crate::domain::filter::{LeadQuery, OwnerFilter, PageCursor, SortOrder};
use crate::domain::lead::{
    AssignmentMethod, EventKind, Lead, LeadEvent, LeadSource, LeadStatus, NewLead,
};
use crate::domain::permissions::LeadScope;
use crate::error::LeadsError;

/// Rows per statement for multi-row writes and `IN (...)` lists: well under
/// the bind-parameter limits of both Postgres and SQLite.
const CHUNK: usize = 500;
/// Ids per `id IN (…)` statement of a bulk assignment. One big list beats
/// many small ones: Postgres hashes a long constant list, and each statement
/// may scan the organisation's leads once (right after an import the
/// statistics make it pick that plan), so 20 chunks of 500 cost 20 scans
/// (2.6 s for 10,000 leads in make bench) where one costs one (0.2 s).
const ID_CHUNK: usize = 10_000;

fn corrupt(what: &str, value: &str) -> LeadsError {
    LeadsError::Internal(format!("unknown stored {what} {value:?}"))
}

impl TryFrom<lead::Model> for Lead {
    type Error = LeadsError;

    fn try_from(m: lead::Model) -> Result<Self, Self::Error> {
        Ok(Lead {
            source: LeadSource::parse_stored(&m.source)
                .ok_or_else(|| corrupt("source", &m.source))?,
            status: LeadStatus::parse_stored(&m.status)
                .ok_or_else(|| corrupt("status", &m.status))?,
            assignment_method: m
                .assignment_method
                .as_deref()
                .map(|s| AssignmentMethod::parse_stored(s).ok_or_else(|| corrupt("method", s)))
                .transpose()?,
            tags: serde_json::from_str(&m.tags).map_err(|_| corrupt("tags", &m.tags))?,
            id: m.id,
            name: m.name,
            email: m.email,
            phone: m.phone,
            company: m.company,
            owner_id: m.owner_id,
            assigned_at: m.assigned_at,
            assigned_by: m.assigned_by,
            version: m.version,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

impl TryFrom<lead_event::Model> for LeadEvent {
    type Error = LeadsError;

    fn try_from(m: lead_event::Model) -> Result<Self, Self::Error> {
        let status = |s: Option<String>| {
            s.map(|s| LeadStatus::parse_stored(&s).ok_or_else(|| corrupt("status", &s)))
                .transpose()
        };
        Ok(LeadEvent {
            kind: EventKind::parse_stored(&m.kind).ok_or_else(|| corrupt("event kind", &m.kind))?,
            method: m
                .method
                .as_deref()
                .map(|s| AssignmentMethod::parse_stored(s).ok_or_else(|| corrupt("method", s)))
                .transpose()?,
            from_status: status(m.from_status)?,
            to_status: status(m.to_status)?,
            id: m.id,
            lead_id: m.lead_id,
            actor_id: m.actor_id,
            from_owner_id: m.from_owner_id,
            to_owner_id: m.to_owner_id,
            batch_id: m.batch_id,
            explanation: m.explanation,
            at: m.at,
        })
    }
}

/// A history row about to be written.
struct EventDraft<'a> {
    org_id: &'a str,
    lead_id: &'a str,
    kind: EventKind,
    actor_id: &'a str,
    method: Option<AssignmentMethod>,
    from_owner_id: Option<&'a str>,
    to_owner_id: Option<&'a str>,
    from_status: Option<LeadStatus>,
    to_status: Option<LeadStatus>,
    batch_id: Option<&'a str>,
    explanation: Option<&'a str>,
    at: DateTime<Utc>,
}

impl<'a> EventDraft<'a> {
    /// ROUTED: routing gave the lead to `assignee`, with its explanation.
    fn routed(
        org_id: &'a str,
        lead_id: &'a str,
        assignee: &'a str,
        explanation: &'a str,
        at: DateTime<Utc>,
    ) -> Self {
        EventDraft {
            org_id,
            lead_id,
            kind: EventKind::Routed,
            actor_id: ROUTING_ACTOR,
            method: Some(AssignmentMethod::Routing),
            from_owner_id: None,
            to_owner_id: Some(assignee),
            from_status: None,
            to_status: None,
            batch_id: None,
            explanation: Some(explanation),
            at,
        }
    }
}

impl EventDraft<'_> {
    fn into_active_model(self) -> lead_event::ActiveModel {
        lead_event::ActiveModel {
            org_id: Set(self.org_id.to_owned()),
            lead_id: Set(self.lead_id.to_owned()),
            kind: Set(self.kind.as_str().to_owned()),
            actor_id: Set(self.actor_id.to_owned()),
            method: Set(self.method.map(|m| m.as_str().to_owned())),
            from_owner_id: Set(self.from_owner_id.map(str::to_owned)),
            to_owner_id: Set(self.to_owner_id.map(str::to_owned)),
            from_status: Set(self.from_status.map(|s| s.as_str().to_owned())),
            to_status: Set(self.to_status.map(|s| s.as_str().to_owned())),
            batch_id: Set(self.batch_id.map(str::to_owned)),
            explanation: Set(self.explanation.map(str::to_owned)),
            at: Set(self.at),
            ..Default::default()
        }
    }
}

async fn insert_events(
    db: &impl ConnectionTrait,
    events: Vec<lead_event::ActiveModel>,
) -> Result<(), LeadsError> {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(CHUNK).collect();
        lead_event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// What routing said about a lead being created without an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateRouting {
    /// Routing was not asked (an explicit owner, or no routing configured).
    NotAsked,
    /// Routing chose `assignee`.
    Routed {
        assignee: String,
        explanation: String,
    },
    /// Routing is off or nobody can take it: the lead stays unassigned.
    NotRouted { explanation: String },
    /// Routing could not be reached: the lead is routed later by the outbox.
    Pending { explanation: String },
}

/// One valid row of a BatchCreateLeads call, ready to store.
#[derive(Debug, Clone)]
pub struct BatchRow {
    pub new: NewLead,
    pub key: Option<String>,
    pub id: String,
    pub routing: CreateRouting,
}

/// The actor of changes routing makes after the fact.
pub const ROUTING_ACTOR: &str = "leadflow-routing";

/// How a claim ended.
#[derive(Debug)]
pub enum ClaimOutcome {
    Claimed(Lead),
    /// The caller already owns it (a retried claim): nothing changed.
    AlreadyYours(Lead),
    /// Someone owns it: the caller lost the race or it was never free.
    Taken,
    NotFound,
}

/// Which leads an AssignLeads call is about.
#[derive(Debug, Clone)]
pub enum AssignSelection {
    Ids(Vec<String>),
    /// "Select all across pages".
    Filter(LeadQuery),
}

/// Why a lead was left alone by AssignLeads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    AlreadyAssigned,
    AlreadyOwnedByAssignee,
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignSkip {
    pub lead_id: String,
    pub reason: SkipReason,
    pub owner_id: Option<String>,
}

/// The result of one AssignLeads call.
#[derive(Debug, Clone)]
pub struct AssignOutcome {
    pub batch_id: String,
    pub assigned: Vec<String>,
    pub skipped: Vec<AssignSkip>,
}

/// The SQL condition for "leads of this org that this caller sees and that
/// match the filter".
fn lead_condition(org_id: &str, scope: &LeadScope, query: &LeadQuery) -> Condition {
    let mut cond = Condition::all().add(lead::Column::OrgId.eq(org_id));
    if let LeadScope::UnassignedOrOwnedBy(me) = scope {
        cond = cond.add(
            Condition::any()
                .add(lead::Column::OwnerId.is_null())
                .add(lead::Column::OwnerId.eq(me.as_str())),
        );
    }
    match &query.owner {
        OwnerFilter::Any => {}
        OwnerFilter::Unassigned => cond = cond.add(lead::Column::OwnerId.is_null()),
        OwnerFilter::User(user) => cond = cond.add(lead::Column::OwnerId.eq(user.as_str())),
    }
    if !query.statuses.is_empty() {
        cond = cond.add(lead::Column::Status.is_in(query.statuses.iter().map(|s| s.as_str())));
    }
    if !query.sources.is_empty() {
        cond = cond.add(lead::Column::Source.is_in(query.sources.iter().map(|s| s.as_str())));
    }
    if !query.tags.is_empty() {
        // A correlated EXISTS probes lead_tags' primary key (lead_id, tag)
        // once per candidate lead. `id IN (tagged ids of the org)` read the
        // same, but right after an import the statistics say "one row" and
        // Postgres joined it by nested-loop scanning: 10,000 imported leads
        // took 7 s to select instead of 50 ms (make bench, bulk assign).
        cond = cond.add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(lead_tag::Entity)
                .and_where(
                    Expr::col((lead_tag::Entity, lead_tag::Column::LeadId))
                        .equals((lead::Entity, lead::Column::Id)),
                )
                .and_where(lead_tag::Column::Tag.is_in(query.tags.iter().map(String::as_str)))
                .to_owned(),
        ));
    }
    if let Some(after) = query.created_after {
        cond = cond.add(lead::Column::CreatedAtUs.gte(after.timestamp_micros()));
    }
    if let Some(before) = query.created_before {
        cond = cond.add(lead::Column::CreatedAtUs.lt(before.timestamp_micros()));
    }
    if let Some(text) = &query.text {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let mut any = Condition::any();
        for column in [
            lead::Column::Name,
            lead::Column::Email,
            lead::Column::Company,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col((lead::Entity, column))))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        cond = cond.add(any);
    }
    cond
}

fn after_cursor(order: SortOrder, cursor: &PageCursor) -> Condition {
    let (t, id) = (cursor.created_at_us, cursor.id.as_str());
    match order {
        SortOrder::CreatedAsc => Condition::any().add(lead::Column::CreatedAtUs.gt(t)).add(
            Condition::all()
                .add(lead::Column::CreatedAtUs.eq(t))
                .add(lead::Column::Id.gt(id)),
        ),
        SortOrder::CreatedDesc => Condition::any().add(lead::Column::CreatedAtUs.lt(t)).add(
            Condition::all()
                .add(lead::Column::CreatedAtUs.eq(t))
                .add(lead::Column::Id.lt(id)),
        ),
    }
}

/// Inserts a new lead with its tags and CREATED event. `id` is fresh.
async fn insert_lead(
    txn: &DatabaseTransaction,
    org_id: &str,
    actor_id: &str,
    id: &str,
    new: &NewLead,
    routing: &CreateRouting,
    at: DateTime<Utc>,
) -> Result<lead::Model, LeadsError> {
    let (owner, method) = match (&new.owner_id, routing) {
        (Some(owner), _) => (Some(owner.clone()), Some(AssignmentMethod::ExplicitOwner)),
        (None, CreateRouting::Routed { assignee, .. }) => {
            (Some(assignee.clone()), Some(AssignmentMethod::Routing))
        }
        (None, _) => (None, None),
    };
    let model = lead::ActiveModel {
        id: Set(id.to_owned()),
        org_id: Set(org_id.to_owned()),
        name: Set(new.name.clone()),
        email: Set(new.email.clone()),
        phone: Set(new.phone.clone()),
        company: Set(new.company.clone()),
        source: Set(new.source.as_str().to_owned()),
        tags: Set(serde_json::to_string(&new.tags).expect("tags serialise")),
        status: Set(LeadStatus::New.as_str().to_owned()),
        owner_id: Set(owner.clone()),
        assigned_at: Set(owner.as_ref().map(|_| at)),
        assigned_by: Set(owner.as_ref().map(|_| match method {
            Some(AssignmentMethod::Routing) => ROUTING_ACTOR.to_owned(),
            _ => actor_id.to_owned(),
        })),
        assignment_method: Set(method.map(|m| m.as_str().to_owned())),
        version: Set(1),
        created_by: Set(actor_id.to_owned()),
        created_at_us: Set(at.timestamp_micros()),
        created_at: Set(at),
        updated_at: Set(at),
    };
    lead::Entity::insert(model.clone())
        .exec_without_returning(txn)
        .await?;
    if !new.tags.is_empty() {
        lead_tag::Entity::insert_many(new.tags.iter().map(|tag| lead_tag::ActiveModel {
            lead_id: Set(id.to_owned()),
            tag: Set(tag.clone()),
            org_id: Set(org_id.to_owned()),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let created_explanation = match routing {
        CreateRouting::NotRouted { explanation } | CreateRouting::Pending { explanation } => {
            Some(explanation.as_str())
        }
        _ => None,
    };
    let explicit = new.owner_id.as_deref();
    // The history rows go in one statement.
    let mut history = vec![
        EventDraft {
            org_id,
            lead_id: id,
            kind: EventKind::Created,
            actor_id,
            method: explicit.map(|_| AssignmentMethod::ExplicitOwner),
            from_owner_id: None,
            to_owner_id: explicit,
            from_status: None,
            to_status: Some(LeadStatus::New),
            batch_id: None,
            explanation: created_explanation,
            at,
        }
        .into_active_model(),
    ];
    let mut events = Vec::new();
    if let (
        None,
        CreateRouting::Routed {
            assignee,
            explanation,
        },
    ) = (explicit, routing)
    {
        history.push(EventDraft::routed(org_id, id, assignee, explanation, at).into_active_model());
    }
    lead_event::Entity::insert_many(history)
        .exec_without_returning(txn)
        .await?;
    if let Some(owner) = &owner {
        events.push(OutboxEvent::Ownership {
            changes: vec![OwnershipFact {
                lead_id: id.to_owned(),
                owner_id: Some(owner.clone()),
                open: true,
                version: 1,
            }],
        });
        if owner != actor_id {
            events.push(OutboxEvent::Notify {
                recipient_id: owner.clone(),
                kind: if explicit.is_some() {
                    NotifyKind::Assigned
                } else {
                    NotifyKind::Routed
                },
                actor_id: actor_id.to_owned(),
                leads: vec![LeadMention {
                    id: id.to_owned(),
                    name: new.name.clone(),
                    source: new.source.as_str().to_owned(),
                }],
                batch: None,
            });
        }
    }
    if matches!(routing, CreateRouting::Pending { .. }) && explicit.is_none() {
        events.push(OutboxEvent::Route {
            lead_id: id.to_owned(),
        });
    }
    enqueue(txn, org_id, events).await?;
    Ok(lead::Model {
        id: model.id.unwrap(),
        org_id: model.org_id.unwrap(),
        name: model.name.unwrap(),
        email: model.email.unwrap(),
        phone: model.phone.unwrap(),
        company: model.company.unwrap(),
        source: model.source.unwrap(),
        tags: model.tags.unwrap(),
        status: model.status.unwrap(),
        owner_id: model.owner_id.unwrap(),
        assigned_at: model.assigned_at.unwrap(),
        assigned_by: model.assigned_by.unwrap(),
        assignment_method: model.assignment_method.unwrap(),
        version: model.version.unwrap(),
        created_by: model.created_by.unwrap(),
        created_at_us: model.created_at_us.unwrap(),
        created_at: model.created_at.unwrap(),
        updated_at: model.updated_at.unwrap(),
    })
}

/// Routing may have counted a pick for `id` (it was asked), but no lead with
/// that id was stored: a replayed key, or a row that failed. Tells routing
/// the id is closed, so the provisional count goes at once instead of at
/// the next reconcile (which removes the entry itself).
fn release_unused_pick(id: &str, routing: &CreateRouting) -> Option<OutboxEvent> {
    matches!(
        routing,
        CreateRouting::Routed { .. } | CreateRouting::Pending { .. }
    )
    .then(|| OutboxEvent::Ownership {
        changes: vec![OwnershipFact {
            lead_id: id.to_owned(),
            owner_id: None,
            open: false,
            version: 1,
        }],
    })
}

/// Creates one lead inside `txn`, honouring its idempotency key.
async fn create_in(
    txn: &DatabaseTransaction,
    org_id: &str,
    actor_id: &str,
    new: &NewLead,
    key: Option<&str>,
    id: String,
    routing: &CreateRouting,
) -> Result<Lead, LeadsError> {
    let at = now();
    if let Some(key) = key {
        let fingerprint = new.fingerprint();
        // Claim the key first. A concurrent request with the same key waits
        // on the unique index until this transaction ends, then finds the row.
        let claimed = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            org_id: Set(org_id.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(fingerprint.clone()),
            lead_id: Set(id.clone()),
            created_at: Set(at),
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
        if conflicted {
            let existing = idempotency_key::Entity::find_by_id((org_id.to_owned(), key.to_owned()))
                .one(txn)
                .await?
                .ok_or_else(|| {
                    LeadsError::Aborted("idempotency key changed concurrently; retry".into())
                })?;
            if existing.request_hash != fingerprint {
                return Err(LeadsError::AlreadyExists(
                    "idempotency_key was already used for a different lead".into(),
                ));
            }
            // A concurrent request with the key won; our pick is unused.
            if let Some(release) = release_unused_pick(&id, routing) {
                enqueue(txn, org_id, vec![release]).await?;
            }
            return replayed_lead(txn, existing).await?.ok_or_else(|| {
                LeadsError::Internal("idempotency key names a missing lead".into())
            });
        }
        let created = insert_lead(txn, org_id, actor_id, &id, new, routing, at).await?;
        idempotency_key::Entity::update_many()
            .col_expr(
                idempotency_key::Column::Response,
                Expr::value(serde_json::to_string(&created).expect("a lead serialises")),
            )
            .filter(idempotency_key::Column::OrgId.eq(org_id))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(txn)
            .await?;
        return Lead::try_from(created);
    }
    Lead::try_from(insert_lead(txn, org_id, actor_id, &id, new, routing, at).await?)
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
    lead::Entity::find_by_id(key.lead_id)
        .filter(lead::Column::OrgId.eq(key.org_id))
        .one(db)
        .await?
        .map(Lead::try_from)
        .transpose()
}

/// Gives an unassigned lead an owner in one conditional UPDATE (`owner_id IS
/// NULL`), so of any number of simultaneous takers exactly one wins. Returns
/// how many rows changed (0 or 1).
async fn take_unassigned(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
    owner: &str,
    assigned_by: &str,
    method: AssignmentMethod,
    at: DateTime<Utc>,
) -> Result<u64, LeadsError> {
    Ok(lead::Entity::update_many()
        .col_expr(lead::Column::OwnerId, Expr::value(owner))
        .col_expr(lead::Column::AssignedAt, Expr::value(at))
        .col_expr(lead::Column::AssignedBy, Expr::value(assigned_by))
        .col_expr(lead::Column::AssignmentMethod, Expr::value(method.as_str()))
        .col_expr(
            lead::Column::Version,
            Expr::col(lead::Column::Version).add(1),
        )
        .col_expr(lead::Column::UpdatedAt, Expr::value(at))
        .filter(lead::Column::OrgId.eq(org_id))
        .filter(lead::Column::Id.eq(lead_id))
        .filter(lead::Column::OwnerId.is_null())
        .exec(txn)
        .await?
        .rows_affected)
}

/// Ends a change of one lead's owner or status: reads the lead back, queues
/// the ownership fact routing needs (with the new version), and commits.
async fn report_and_commit(
    txn: DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
) -> Result<Option<Lead>, LeadsError> {
    let lead = lead::Entity::find_by_id(lead_id.to_owned())
        .one(&txn)
        .await?
        .map(Lead::try_from)
        .transpose()?;
    if let Some(lead) = &lead {
        enqueue(
            &txn,
            org_id,
            vec![OutboxEvent::Ownership {
                changes: vec![OwnershipFact::of(lead)],
            }],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(lead)
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
        new: &NewLead,
        key: Option<&str>,
        id: String,
        routing: &CreateRouting,
    ) -> Result<Lead, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        match create_in(&txn, org_id, actor_id, new, key, id.clone(), routing).await {
            Ok(lead) => {
                txn.commit().await?;
                Ok(lead)
            }
            Err(error) => {
                drop(txn);
                if let Some(release) = release_unused_pick(&id, routing) {
                    let txn = leadflow_db::begin_write(&self.db).await?;
                    enqueue(&txn, org_id, vec![release]).await?;
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
        rows: Vec<Result<BatchRow, LeadsError>>,
    ) -> Result<Vec<Result<Lead, LeadsError>>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let mut results = Vec::with_capacity(rows.len());
        for row in rows {
            let result = match row {
                Err(e) => Err(e),
                Ok(BatchRow {
                    new,
                    key,
                    id,
                    routing,
                }) => {
                    // A savepoint per row: a row that fails leaves no trace and
                    // does not poison the rest of the batch.
                    let row_txn = txn.begin().await?;
                    match create_in(
                        &row_txn,
                        org_id,
                        actor_id,
                        &new,
                        key.as_deref(),
                        id.clone(),
                        &routing,
                    )
                    .await
                    {
                        Ok(lead) => {
                            row_txn.commit().await?;
                            Ok(lead)
                        }
                        Err(e) => {
                            row_txn.rollback().await?;
                            if let Some(release) = release_unused_pick(&id, &routing) {
                                enqueue(&txn, org_id, vec![release]).await?;
                            }
                            Err(e)
                        }
                    }
                }
            };
            results.push(result);
        }
        txn.commit().await?;
        Ok(results)
    }

    pub async fn lead(&self, org_id: &str, lead_id: &str) -> Result<Option<Lead>, LeadsError> {
        lead::Entity::find_by_id(lead_id.to_owned())
            .filter(lead::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await?
            .map(Lead::try_from)
            .transpose()
    }

    /// One page of leads, plus how many match in all.
    pub async fn list_leads(
        &self,
        org_id: &str,
        scope: &LeadScope,
        query: &LeadQuery,
        order: SortOrder,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<(Vec<Lead>, u64), LeadsError> {
        let matching = lead_condition(org_id, scope, query);
        let total = lead::Entity::find()
            .filter(matching.clone())
            .count(&self.db)
            .await?;
        let mut select = lead::Entity::find().filter(matching);
        if let Some(cursor) = after {
            select = select.filter(after_cursor(order, cursor));
        }
        select = match order {
            SortOrder::CreatedAsc => select
                .order_by_asc(lead::Column::CreatedAtUs)
                .order_by_asc(lead::Column::Id),
            SortOrder::CreatedDesc => select
                .order_by_desc(lead::Column::CreatedAtUs)
                .order_by_desc(lead::Column::Id),
        };
        let leads = select
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Lead::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((leads, total))
    }

    /// Takes an unassigned lead for `user_id`: one conditional UPDATE, so of
    /// any number of simultaneous claims exactly one wins.
    pub async fn claim(
        &self,
        org_id: &str,
        lead_id: &str,
        user_id: &str,
    ) -> Result<ClaimOutcome, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = now();
        let updated = take_unassigned(
            &txn,
            org_id,
            lead_id,
            user_id,
            user_id,
            AssignmentMethod::Claim,
            at,
        )
        .await?;
        let current = lead::Entity::find_by_id(lead_id.to_owned())
            .filter(lead::Column::OrgId.eq(org_id))
            .one(&txn)
            .await?
            .map(Lead::try_from)
            .transpose()?;
        let Some(current) = current else {
            return Ok(ClaimOutcome::NotFound);
        };
        if updated == 0 {
            return Ok(if current.owner_id.as_deref() == Some(user_id) {
                ClaimOutcome::AlreadyYours(current)
            } else {
                ClaimOutcome::Taken
            });
        }
        EventDraft {
            org_id,
            lead_id,
            kind: EventKind::Claimed,
            actor_id: user_id,
            method: Some(AssignmentMethod::Claim),
            from_owner_id: None,
            to_owner_id: Some(user_id),
            from_status: None,
            to_status: None,
            batch_id: None,
            explanation: None,
            at,
        }
        .into_active_model()
        .insert(&txn)
        .await?;
        enqueue(
            &txn,
            org_id,
            vec![OutboxEvent::Ownership {
                changes: vec![OwnershipFact::of(&current)],
            }],
        )
        .await?;
        txn.commit().await?;
        Ok(ClaimOutcome::Claimed(current))
    }

    /// Sends a lead back to the unassigned pool, if it is still owned by
    /// `expected_owner`. `None`: it changed in the meantime.
    pub async fn unassign(
        &self,
        org_id: &str,
        lead_id: &str,
        actor_id: &str,
        expected_owner: &str,
    ) -> Result<Option<Lead>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = now();
        let updated = lead::Entity::update_many()
            .col_expr(lead::Column::OwnerId, Expr::value(Option::<String>::None))
            .col_expr(
                lead::Column::AssignedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                lead::Column::AssignedBy,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                lead::Column::AssignmentMethod,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                lead::Column::Version,
                Expr::col(lead::Column::Version).add(1),
            )
            .col_expr(lead::Column::UpdatedAt, Expr::value(at))
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.eq(lead_id))
            .filter(lead::Column::OwnerId.eq(expected_owner))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        EventDraft {
            org_id,
            lead_id,
            kind: EventKind::Unassigned,
            actor_id,
            method: None,
            from_owner_id: Some(expected_owner),
            to_owner_id: None,
            from_status: None,
            to_status: None,
            batch_id: None,
            explanation: None,
            at,
        }
        .into_active_model()
        .insert(&txn)
        .await?;
        report_and_commit(txn, org_id, lead_id).await
    }

    /// Changes a lead's status if it is still at `expected_version`. `None`:
    /// it changed in the meantime.
    pub async fn update_status(
        &self,
        org_id: &str,
        lead: &Lead,
        actor_id: &str,
        status: LeadStatus,
    ) -> Result<Option<Lead>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = now();
        let updated = lead::Entity::update_many()
            .col_expr(lead::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                lead::Column::Version,
                Expr::col(lead::Column::Version).add(1),
            )
            .col_expr(lead::Column::UpdatedAt, Expr::value(at))
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.eq(lead.id.as_str()))
            .filter(lead::Column::Version.eq(lead.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        EventDraft {
            org_id,
            lead_id: &lead.id,
            kind: EventKind::StatusChanged,
            actor_id,
            method: None,
            from_owner_id: lead.owner_id.as_deref(),
            to_owner_id: lead.owner_id.as_deref(),
            from_status: Some(lead.status),
            to_status: Some(status),
            batch_id: None,
            explanation: None,
            at,
        }
        .into_active_model()
        .insert(&txn)
        .await?;
        report_and_commit(txn, org_id, &lead.id).await
    }

    /// Assigns (or, with `allow_reassign`, reassigns) the selected leads to
    /// `assignee_id` in one transaction under one batch id.
    ///
    /// The chosen rows are locked (`FOR UPDATE`; SQLite holds the write lock)
    /// before anything is decided, so a lead claimed a moment ago is seen as
    /// owned and skipped, never taken.
    pub async fn assign(
        &self,
        org_id: &str,
        actor_id: &str,
        selection: &AssignSelection,
        assignee_id: &str,
        allow_reassign: bool,
    ) -> Result<AssignOutcome, LeadsError> {
        let batch_id = uuid::Uuid::now_v7().hyphenated().to_string();
        let txn = leadflow_db::begin_write(&self.db).await?;

        // 1. The chosen leads, locked, as (id, owner, status).
        let mut chosen: Vec<(String, Option<String>)> = Vec::new();
        let mut skipped = Vec::new();
        match selection {
            AssignSelection::Ids(ids) => {
                let mut found: HashMap<String, Option<String>> = HashMap::new();
                for chunk in ids.chunks(ID_CHUNK) {
                    let rows: Vec<(String, Option<String>)> = lead::Entity::find()
                        .select_only()
                        .column(lead::Column::Id)
                        .column(lead::Column::OwnerId)
                        .filter(lead::Column::OrgId.eq(org_id))
                        .filter(lead::Column::Id.is_in(chunk.iter().map(String::as_str)))
                        .order_by_asc(lead::Column::Id)
                        .lock_exclusive()
                        .into_tuple()
                        .all(&txn)
                        .await?;
                    found.extend(rows);
                }
                let mut seen = HashSet::new();
                for id in ids {
                    if !seen.insert(id.as_str()) {
                        continue;
                    }
                    match found.remove(id) {
                        Some(owner) => chosen.push((id.clone(), owner)),
                        None => skipped.push(AssignSkip {
                            lead_id: id.clone(),
                            reason: SkipReason::NotFound,
                            owner_id: None,
                        }),
                    }
                }
            }
            AssignSelection::Filter(query) => {
                chosen = lead::Entity::find()
                    .select_only()
                    .column(lead::Column::Id)
                    .column(lead::Column::OwnerId)
                    .filter(lead_condition(org_id, &LeadScope::All, query))
                    .order_by_asc(lead::Column::CreatedAtUs)
                    .order_by_asc(lead::Column::Id)
                    .lock_exclusive()
                    .into_tuple()
                    .all(&txn)
                    .await?;
            }
        }

        // 2. Decide per lead.
        let mut fresh: Vec<String> = Vec::new();
        let mut taken_over: Vec<(String, String)> = Vec::new();
        for (id, owner) in chosen {
            match owner {
                None => fresh.push(id),
                Some(owner) if owner == assignee_id => skipped.push(AssignSkip {
                    lead_id: id,
                    reason: if allow_reassign {
                        SkipReason::AlreadyOwnedByAssignee
                    } else {
                        SkipReason::AlreadyAssigned
                    },
                    owner_id: Some(owner),
                }),
                Some(owner) if !allow_reassign => skipped.push(AssignSkip {
                    lead_id: id,
                    reason: SkipReason::AlreadyAssigned,
                    owner_id: Some(owner),
                }),
                Some(owner) => taken_over.push((id, owner)),
            }
        }

        // 3. Write: set-based updates, then one history row per lead.
        let single = matches!(selection, AssignSelection::Ids(ids) if ids.len() == 1);
        let method = if single {
            AssignmentMethod::Manual
        } else {
            AssignmentMethod::Bulk
        };
        let at = now();
        let set_owner = |ids: &[&str]| {
            lead::Entity::update_many()
                .col_expr(lead::Column::OwnerId, Expr::value(assignee_id))
                .col_expr(lead::Column::AssignedAt, Expr::value(at))
                .col_expr(lead::Column::AssignedBy, Expr::value(actor_id))
                .col_expr(lead::Column::AssignmentMethod, Expr::value(method.as_str()))
                .col_expr(
                    lead::Column::Version,
                    Expr::col(lead::Column::Version).add(1),
                )
                .col_expr(lead::Column::UpdatedAt, Expr::value(at))
                .filter(lead::Column::OrgId.eq(org_id))
                .filter(lead::Column::Id.is_in(ids.iter().copied()))
        };
        for chunk in fresh.chunks(ID_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let result = set_owner(&ids)
                .filter(lead::Column::OwnerId.is_null())
                .exec(&txn)
                .await?;
            if result.rows_affected != ids.len() as u64 {
                return Err(LeadsError::Aborted(
                    "leads changed during assignment; retry".into(),
                ));
            }
        }
        for chunk in taken_over.chunks(ID_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let result = set_owner(&ids).exec(&txn).await?;
            if result.rows_affected != ids.len() as u64 {
                return Err(LeadsError::Aborted(
                    "leads changed during assignment; retry".into(),
                ));
            }
        }
        let events = fresh
            .iter()
            .map(|id| (id.as_str(), None, EventKind::Assigned))
            .chain(
                taken_over
                    .iter()
                    .map(|(id, from)| (id.as_str(), Some(from.as_str()), EventKind::Reassigned)),
            )
            .map(|(lead_id, from, kind)| {
                EventDraft {
                    org_id,
                    lead_id,
                    kind,
                    actor_id,
                    method: Some(method),
                    from_owner_id: from,
                    to_owner_id: Some(assignee_id),
                    from_status: None,
                    to_status: None,
                    batch_id: Some(&batch_id),
                    explanation: None,
                    at,
                }
                .into_active_model()
            })
            .collect();
        insert_events(&txn, events).await?;

        // Routing learns every new owner (with the lead's new version); the
        // assignee hears of it once, however many leads it was.
        let changed: Vec<&str> = fresh
            .iter()
            .chain(taken_over.iter().map(|(id, _)| id))
            .map(String::as_str)
            .collect();
        let mut facts = Vec::with_capacity(changed.len());
        let mut mentions = Vec::new();
        for chunk in changed.chunks(ID_CHUNK) {
            let rows = lead::Entity::find()
                .filter(lead::Column::OrgId.eq(org_id))
                .filter(lead::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(lead::Column::CreatedAtUs)
                .all(&txn)
                .await?;
            for row in rows {
                let lead = Lead::try_from(row)?;
                facts.push(OwnershipFact::of(&lead));
                if mentions.len() < BATCH_PREVIEW {
                    mentions.push(LeadMention::of(&lead));
                }
            }
        }
        let mut outbox = Vec::new();
        if !facts.is_empty() {
            outbox.push(OutboxEvent::Ownership { changes: facts });
            if assignee_id != actor_id {
                let (kind, batch) = if single {
                    (
                        if taken_over.is_empty() {
                            NotifyKind::Assigned
                        } else {
                            NotifyKind::Reassigned
                        },
                        None,
                    )
                } else {
                    (
                        NotifyKind::BulkAssigned,
                        Some((batch_id.clone(), changed.len() as i32)),
                    )
                };
                outbox.push(OutboxEvent::Notify {
                    recipient_id: assignee_id.to_owned(),
                    kind,
                    actor_id: actor_id.to_owned(),
                    leads: mentions,
                    batch,
                });
            }
        }
        enqueue(&txn, org_id, outbox).await?;
        txn.commit().await?;

        let mut assigned = fresh;
        assigned.extend(taken_over.into_iter().map(|(id, _)| id));
        Ok(AssignOutcome {
            batch_id,
            assigned,
            skipped,
        })
    }

    /// A lead's history, oldest first.
    pub async fn history(&self, org_id: &str, lead_id: &str) -> Result<Vec<LeadEvent>, LeadsError> {
        lead_event::Entity::find()
            .filter(lead_event::Column::OrgId.eq(org_id))
            .filter(lead_event::Column::LeadId.eq(lead_id))
            .order_by_asc(lead_event::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(LeadEvent::try_from)
            .collect()
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

impl Store {
    /// The lead an idempotency key already created: `Some` for the same body,
    /// ALREADY_EXISTS for another body, `None` if the key is unused.
    pub async fn replay(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Lead>, LeadsError> {
        let Some(existing) =
            idempotency_key::Entity::find_by_id((org_id.to_owned(), key.to_owned()))
                .one(&self.db)
                .await?
        else {
            return Ok(None);
        };
        if existing.request_hash != fingerprint {
            return Err(LeadsError::AlreadyExists(
                "idempotency_key was already used for a different lead".into(),
            ));
        }
        replayed_lead(&self.db, existing).await
    }

    /// Gives a lead that was created while routing was away its routed owner,
    /// if it is still unassigned (a claim in the meantime wins). `None`: it
    /// was not.
    pub async fn route_late(
        &self,
        org_id: &str,
        lead_id: &str,
        assignee: &str,
        explanation: &str,
    ) -> Result<Option<Lead>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let at = now();
        let updated = take_unassigned(
            &txn,
            org_id,
            lead_id,
            assignee,
            ROUTING_ACTOR,
            AssignmentMethod::Routing,
            at,
        )
        .await?;
        if updated == 0 {
            return Ok(None);
        }
        EventDraft::routed(org_id, lead_id, assignee, explanation, at)
            .into_active_model()
            .insert(&txn)
            .await?;
        let lead = lead::Entity::find_by_id(lead_id.to_owned())
            .one(&txn)
            .await?
            .map(Lead::try_from)
            .transpose()?;
        if let Some(lead) = &lead {
            enqueue(
                &txn,
                org_id,
                vec![
                    OutboxEvent::Ownership {
                        changes: vec![OwnershipFact::of(lead)],
                    },
                    OutboxEvent::Notify {
                        recipient_id: assignee.to_owned(),
                        kind: NotifyKind::Routed,
                        actor_id: ROUTING_ACTOR.to_owned(),
                        leads: vec![LeadMention::of(lead)],
                        batch: None,
                    },
                ],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(lead)
    }

    /// Notes in a lead's history why a late routing attempt left it alone.
    pub async fn note_routing(
        &self,
        org_id: &str,
        lead_id: &str,
        explanation: &str,
    ) -> Result<(), LeadsError> {
        EventDraft {
            org_id,
            lead_id,
            kind: EventKind::Routed,
            actor_id: ROUTING_ACTOR,
            method: None,
            from_owner_id: None,
            to_owner_id: None,
            from_status: None,
            to_status: None,
            batch_id: None,
            explanation: Some(explanation),
            at: now(),
        }
        .into_active_model()
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The truth routing reconciles against: every lead of the org as an
    /// ownership fact, in id order, after `after_id`.
    pub async fn ownership_truth(
        &self,
        org_id: &str,
        after_id: &str,
        limit: u64,
    ) -> Result<Vec<OwnershipFact>, LeadsError> {
        let rows: Vec<(String, Option<String>, String, i64)> = lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .column(lead::Column::OwnerId)
            .column(lead::Column::Status)
            .column(lead::Column::Version)
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.gt(after_id))
            .order_by_asc(lead::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(lead_id, owner_id, status, version)| OwnershipFact {
                lead_id,
                owner_id,
                open: LeadStatus::parse_stored(&status).is_none_or(LeadStatus::is_open),
                version,
            })
            .collect())
    }

    /// Every organisation with leads (for the periodic reconcile).
    pub async fn organisations(&self) -> Result<Vec<String>, LeadsError> {
        Ok(lead::Entity::find()
            .select_only()
            .column(lead::Column::OrgId)
            .distinct()
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }
}
