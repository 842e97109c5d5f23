//! Writing changes of owner and status: a change decided in
//! [`crate::domain::change`] or [`crate::domain::assign`], applied whole in
//! one transaction with its history rows and outbox events, or not at all.
//!
//! Races are settled here by the database, not by reading first: a take is
//! a conditional UPDATE (`owner_id IS NULL`), a release checks the owner, a
//! status change checks the version, and a bulk assignment locks the rows it
//! chose (`FOR UPDATE`; SQLite holds the write lock) before it decides.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::Store;
use super::entities::{lead, lead_event, lead_tag};
use super::outbox::enqueue;
use super::queries::{fetch_all, find_lead, lead_condition, name_of};
use super::timers::{end_sla, end_slas, queue_hold, start_sla};
use crate::domain::assign::{
    AssignPlan, AssignRequest, AssignSelection, AssignSkip, Held, SkipReason,
};
use crate::domain::change::{HistoryRow, LeadChange, LeadWrite, NewLeadPlan, ROUTING_ACTOR};
use crate::domain::contact;
use crate::domain::lead::{AssignmentMethod, Lead, LeadStatus, NewLead};
use crate::domain::permissions::LeadScope;
use crate::error::LeadsError;

/// Rows per multi-row INSERT: well under the bind-parameter limits of both
/// Postgres and SQLite.
const CHUNK: usize = 500;
/// Ids per `id IN (…)` statement of a bulk assignment. One big list beats
/// many small ones: Postgres hashes a long constant list, and each statement
/// may scan the organisation's leads once (right after an import the
/// statistics make it pick that plan), so 20 chunks of 500 cost 20 scans
/// (2.6 s for 10,000 leads in make bench) where one costs one (0.2 s).
const ID_CHUNK: usize = 10_000;

/// How [`Store::apply`] ended.
#[derive(Debug)]
pub enum Applied {
    /// The write landed; the lead as it is now.
    Changed(Lead),
    /// The guard did not hold (someone else got there first); the lead as it
    /// is now, if it exists. Nothing was written.
    Unchanged(Option<Lead>),
}

/// A history row as a database row.
fn history_model(
    org_id: &str,
    lead_id: &str,
    at: DateTime<Utc>,
    row: &HistoryRow,
) -> lead_event::ActiveModel {
    lead_event::ActiveModel {
        org_id: Set(org_id.to_owned()),
        lead_id: Set(lead_id.to_owned()),
        kind: Set(row.kind.as_str().to_owned()),
        actor_id: Set(row.actor_id.clone()),
        method: Set(name_of(row.method)),
        from_owner_id: Set(row.from_owner_id.clone()),
        to_owner_id: Set(row.to_owner_id.clone()),
        from_status: Set(name_of(row.from_status)),
        to_status: Set(name_of(row.to_status)),
        batch_id: Set(row.batch_id.clone()),
        explanation: Set(row.explanation.clone()),
        at: Set(at),
        ..Default::default()
    }
}

/// Inserts history rows, [`CHUNK`] per statement.
async fn insert_history(
    db: &impl ConnectionTrait,
    rows: Vec<lead_event::ActiveModel>,
) -> Result<(), LeadsError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        lead_event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A NULL timestamp, for clearing a column.
const NO_TIME: Option<DateTime<Utc>> = None;

/// The guarded UPDATE of one lead. Returns how many rows changed (0 or 1).
/// Every change of owner or status ends a hold; a hold itself changes
/// neither, so it leaves the version alone.
async fn write(
    txn: &DatabaseTransaction,
    org_id: &str,
    lead_id: &str,
    write: &LeadWrite,
    at: DateTime<Utc>,
) -> Result<u64, LeadsError> {
    if let LeadWrite::Hold(_) = write {
        let hold = lead::Entity::update_many()
            .col_expr(lead::Column::HeldAt, Expr::value(at))
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.eq(lead_id))
            .filter(lead::Column::OwnerId.is_null())
            .filter(lead::Column::Status.eq(LeadStatus::New.as_str()));
        return Ok(hold.exec(txn).await?.rows_affected);
    }
    // Neither owner nor status changes: the version stays.
    if let LeadWrite::Escalate { holder } = write {
        let escalate = lead::Entity::update_many()
            .col_expr(lead::Column::AcceptBy, Expr::value(NO_TIME))
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.eq(lead_id))
            .filter(lead::Column::OwnerId.eq(holder.as_str()))
            .filter(lead::Column::Status.eq(LeadStatus::New.as_str()));
        return Ok(escalate.exec(txn).await?.rows_affected);
    }
    let update = lead::Entity::update_many()
        .col_expr(lead::Column::HeldAt, Expr::value(NO_TIME))
        .col_expr(lead::Column::AcceptBy, Expr::value(NO_TIME))
        .col_expr(
            lead::Column::Version,
            Expr::col(lead::Column::Version).add(1),
        )
        .col_expr(lead::Column::UpdatedAt, Expr::value(at))
        .filter(lead::Column::OrgId.eq(org_id))
        .filter(lead::Column::Id.eq(lead_id));
    let update = match write {
        LeadWrite::HistoryOnly => return Ok(1),
        LeadWrite::Hold(_) | LeadWrite::Escalate { .. } => {
            unreachable!("holds and escalations are written above")
        }
        LeadWrite::TakeUnassigned {
            owner,
            assigned_by,
            method,
        } => update
            .col_expr(lead::Column::OwnerId, Expr::value(owner.as_str()))
            .col_expr(lead::Column::AssignedAt, Expr::value(at))
            .col_expr(lead::Column::AssignedBy, Expr::value(assigned_by.as_str()))
            .col_expr(lead::Column::AssignmentMethod, Expr::value(method.as_str()))
            .col_expr(lead::Column::AcceptedAt, Expr::value(NO_TIME))
            .filter(lead::Column::OwnerId.is_null()),
        LeadWrite::TakeHeld { owner } => update
            .col_expr(lead::Column::OwnerId, Expr::value(owner.as_str()))
            .col_expr(lead::Column::AssignedAt, Expr::value(at))
            .col_expr(lead::Column::AssignedBy, Expr::value(ROUTING_ACTOR))
            .col_expr(
                lead::Column::AssignmentMethod,
                Expr::value(AssignmentMethod::Routing.as_str()),
            )
            .col_expr(lead::Column::AcceptedAt, Expr::value(NO_TIME))
            .filter(lead::Column::OwnerId.is_null())
            .filter(lead::Column::Status.eq(LeadStatus::New.as_str()))
            .filter(lead::Column::HeldAt.is_not_null()),
        LeadWrite::Reroute { from, to } => update
            .col_expr(lead::Column::OwnerId, Expr::value(to.as_str()))
            .col_expr(lead::Column::AssignedAt, Expr::value(at))
            .col_expr(lead::Column::AssignedBy, Expr::value(ROUTING_ACTOR))
            .col_expr(
                lead::Column::AssignmentMethod,
                Expr::value(AssignmentMethod::SlaReroute.as_str()),
            )
            .col_expr(lead::Column::AcceptedAt, Expr::value(NO_TIME))
            .filter(lead::Column::OwnerId.eq(from.as_str()))
            .filter(lead::Column::Status.eq(LeadStatus::New.as_str())),
        LeadWrite::Accept { owner } => update
            .col_expr(lead::Column::AcceptedAt, Expr::value(at))
            .filter(lead::Column::OwnerId.eq(owner.as_str())),
        LeadWrite::Release { expected_owner } => update
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
            .col_expr(lead::Column::AcceptedAt, Expr::value(NO_TIME))
            .filter(lead::Column::OwnerId.eq(expected_owner.as_str())),
        LeadWrite::SetStatus {
            status,
            expected_version,
        } => update
            .col_expr(lead::Column::Status, Expr::value(status.as_str()))
            .filter(lead::Column::Version.eq(*expected_version)),
    };
    Ok(update.exec(txn).await?.rows_affected)
}

/// [`Store::apply`] inside `txn`. Nothing is written unless the change
/// landed ([`Applied::Changed`]), so the caller may commit either way (the
/// timer worker does, to end the timer).
pub(super) async fn apply_in(
    txn: &DatabaseTransaction,
    org_id: &str,
    change: &LeadChange,
    at: DateTime<Utc>,
) -> Result<Applied, LeadsError> {
    let landed = write(txn, org_id, &change.lead_id, &change.write, at).await? > 0;
    if !landed {
        return Ok(Applied::Unchanged(
            find_lead(txn, org_id, &change.lead_id).await?,
        ));
    }
    let history = change
        .history
        .iter()
        .map(|row| history_model(org_id, &change.lead_id, at, row))
        .collect();
    insert_history(txn, history).await?;
    // The row just written is there; should it not be, fail (the caller's
    // transaction rolls back) rather than report an unchanged lead.
    let Some(lead) = find_lead(txn, org_id, &change.lead_id).await? else {
        return Err(LeadsError::lead_not_found());
    };
    enqueue(txn, org_id, change.events(&lead)).await?;
    if let LeadWrite::Hold(hold) = &change.write {
        queue_hold(txn, org_id, &change.lead_id, hold, at).await?;
    }
    if change.write.ends_sla() {
        end_sla(txn, org_id, &change.lead_id).await?;
    }
    let mut lead = lead;
    if let Some(timer) = &change.sla {
        start_sla(txn, org_id, &change.lead_id, timer, at).await?;
        lead.accept_by = Some(timer.due);
    }
    Ok(Applied::Changed(lead))
}

/// Inserts a new lead with its tags, history and outbox events. `id` is fresh.
pub(super) async fn insert_lead(
    txn: &DatabaseTransaction,
    org_id: &str,
    actor_id: &str,
    id: &str,
    new: &NewLead,
    plan: &NewLeadPlan,
    at: DateTime<Utc>,
) -> Result<lead::Model, LeadsError> {
    let model = lead::Model {
        id: id.to_owned(),
        org_id: org_id.to_owned(),
        name: new.name.clone(),
        email: new.email.clone(),
        phone: new.phone.clone(),
        company: new.company.clone(),
        source: new.source.as_str().to_owned(),
        tags: serde_json::to_string(&new.tags).expect("tags serialise"),
        status: LeadStatus::New.as_str().to_owned(),
        owner_id: plan.owner_id.clone(),
        assigned_at: plan.owner_id.as_ref().map(|_| at),
        assigned_by: plan.assigned_by.clone(),
        assignment_method: name_of(plan.method),
        version: 1,
        created_by: actor_id.to_owned(),
        created_at_us: at.timestamp_micros(),
        created_at: at,
        updated_at: at,
        held_at: plan.hold.as_ref().map(|_| at),
        accept_by: None,
        accepted_at: None,
        email_key: contact::match_email(&new.email),
        email_domain: contact::company_domain(&new.email),
    };
    lead::Entity::insert(lead::ActiveModel::from(model.clone()))
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
    let history = plan
        .history
        .iter()
        .map(|row| history_model(org_id, id, at, row))
        .collect();
    insert_history(txn, history).await?;
    let lead = Lead::try_from(model.clone())?;
    let events = plan.tell.iter().map(|tell| tell.event(&lead)).collect();
    enqueue(txn, org_id, events).await?;
    if let Some(hold) = &plan.hold {
        queue_hold(txn, org_id, id, hold, at).await?;
    }
    if let Some(timer) = &plan.sla {
        start_sla(txn, org_id, id, timer, at).await?;
        return Ok(lead::Model {
            accept_by: Some(timer.due),
            ..model
        });
    }
    Ok(model)
}

impl Store {
    /// Applies one change of one lead in one transaction: the guarded write,
    /// then (only if it landed) the history rows and the outbox events made
    /// from the lead as written.
    pub async fn apply(&self, org_id: &str, change: &LeadChange) -> Result<Applied, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let applied = apply_in(&txn, org_id, change, self.now()).await?;
        if let Applied::Changed(_) = applied {
            txn.commit().await?;
        }
        Ok(applied)
    }

    /// Assigns the selected leads in one transaction under one batch id: the
    /// chosen rows are locked, `decide` (the domain's [`crate::domain::assign::plan`])
    /// decides on what is locked, and the plan is written with one history
    /// row per lead and its outbox events.
    pub async fn assign(
        &self,
        org_id: &str,
        selection: &AssignSelection,
        request: &AssignRequest,
        decide: impl FnOnce(Vec<Held>, Vec<AssignSkip>) -> AssignPlan,
    ) -> Result<AssignPlan, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let (chosen, missing) = lock_chosen(&txn, org_id, selection).await?;
        let plan = decide(chosen, missing);
        let at = self.now();
        let set_owner = |ids: &[&str]| {
            lead::Entity::update_many()
                .col_expr(
                    lead::Column::OwnerId,
                    Expr::value(request.assignee_id.as_str()),
                )
                .col_expr(lead::Column::AssignedAt, Expr::value(at))
                .col_expr(
                    lead::Column::AssignedBy,
                    Expr::value(request.actor_id.as_str()),
                )
                .col_expr(
                    lead::Column::AssignmentMethod,
                    Expr::value(plan.method.as_str()),
                )
                .col_expr(
                    lead::Column::Version,
                    Expr::col(lead::Column::Version).add(1),
                )
                .col_expr(lead::Column::UpdatedAt, Expr::value(at))
                .col_expr(lead::Column::HeldAt, Expr::value(NO_TIME))
                .col_expr(lead::Column::AcceptBy, Expr::value(NO_TIME))
                .col_expr(lead::Column::AcceptedAt, Expr::value(NO_TIME))
                .filter(lead::Column::OrgId.eq(org_id))
                .filter(lead::Column::Id.is_in(ids.iter().copied()))
        };
        let fresh: Vec<&str> = plan.fresh.iter().map(String::as_str).collect();
        let taken: Vec<&str> = plan.taken_over.iter().map(|(id, _)| id.as_str()).collect();
        for (ids, only_unassigned) in [(&fresh, true), (&taken, false)] {
            for chunk in ids.chunks(ID_CHUNK) {
                let mut update = set_owner(chunk);
                if only_unassigned {
                    update = update.filter(lead::Column::OwnerId.is_null());
                }
                if update.exec(&txn).await?.rows_affected != chunk.len() as u64 {
                    return Err(LeadsError::Aborted(
                        "leads changed during assignment; retry".into(),
                    ));
                }
            }
        }
        let history = plan
            .history(request)
            .map(|(lead_id, row)| history_model(org_id, lead_id, at, &row))
            .collect();
        insert_history(&txn, history).await?;
        let changed: Vec<&str> = plan.changed().collect();
        // A manual assignment ends every SLA chain it touches.
        for chunk in changed.chunks(ID_CHUNK) {
            end_slas(&txn, org_id, chunk).await?;
        }
        let mut written = Vec::with_capacity(changed.len());
        for chunk in changed.chunks(ID_CHUNK) {
            let rows = lead::Entity::find()
                .filter(lead::Column::OrgId.eq(org_id))
                .filter(lead::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(lead::Column::CreatedAtUs);
            written.extend(fetch_all::<_, Lead>(&txn, rows).await?);
        }
        enqueue(&txn, org_id, plan.events(request, &written)).await?;
        txn.commit().await?;
        Ok(plan)
    }
}

/// The chosen leads, locked, as (id, owner), and the ids that do not exist.
async fn lock_chosen(
    txn: &DatabaseTransaction,
    org_id: &str,
    selection: &AssignSelection,
) -> Result<(Vec<Held>, Vec<AssignSkip>), LeadsError> {
    let locked = || {
        lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .column(lead::Column::OwnerId)
            .lock_exclusive()
    };
    match selection {
        AssignSelection::Filter(query) => Ok((
            locked()
                .filter(lead_condition(org_id, &LeadScope::All, query))
                .order_by_asc(lead::Column::CreatedAtUs)
                .order_by_asc(lead::Column::Id)
                .into_tuple()
                .all(txn)
                .await?,
            Vec::new(),
        )),
        AssignSelection::Ids(ids) => {
            let mut found: HashMap<String, Option<String>> = HashMap::new();
            for chunk in ids.chunks(ID_CHUNK) {
                let rows: Vec<Held> = locked()
                    .filter(lead::Column::OrgId.eq(org_id))
                    .filter(lead::Column::Id.is_in(chunk.iter().map(String::as_str)))
                    .order_by_asc(lead::Column::Id)
                    .into_tuple()
                    .all(txn)
                    .await?;
                found.extend(rows);
            }
            let mut seen = HashSet::new();
            let (mut chosen, mut missing) = (Vec::new(), Vec::new());
            for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
                match found.remove(id) {
                    Some(owner) => chosen.push((id.clone(), owner)),
                    None => missing.push(AssignSkip {
                        lead_id: id.clone(),
                        reason: SkipReason::NotFound,
                        owner_id: None,
                    }),
                }
            }
            Ok((chosen, missing))
        }
    }
}
