//! Conversions between the wire types (leadflow-proto) and domain types.

use chrono::{DateTime, Utc};
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use prost_types::Timestamp;

use crate::domain::assign::{AssignOutcome, AssignSelection, SkipReason};
use crate::domain::filter::{LeadQuery, LeadQueryInput, PageCursor, SortOrder, page_size};
use crate::domain::lead::{AssignmentMethod, EventKind, Lead, LeadEvent, LeadStatus};
use crate::domain::lead::{
    NewLead, NewLeadInput, parse_idempotency_key, parse_lead_id, parse_user_id,
};
use crate::domain::member::{Member, MemberUpsert};
use crate::error::LeadsError;
use crate::usecase::{AssignInput, BatchInput, CreateInput};
pub use crate::wire::{role_from_pb, role_to_pb, source_from_pb, source_to_pb};

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_timestamp(field: &'static str, t: &Timestamp) -> Result<DateTime<Utc>, LeadsError> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| LeadsError::invalid(field, "is not a valid timestamp"))
}

pub fn status_to_pb(status: LeadStatus) -> pb::LeadStatus {
    match status {
        LeadStatus::New => pb::LeadStatus::New,
        LeadStatus::Contacted => pb::LeadStatus::Contacted,
        LeadStatus::Qualified => pb::LeadStatus::Qualified,
        LeadStatus::Won => pb::LeadStatus::Won,
        LeadStatus::Lost => pb::LeadStatus::Lost,
        LeadStatus::Dormant => pb::LeadStatus::Dormant,
    }
}

pub fn status_from_pb(raw: i32) -> Option<LeadStatus> {
    Some(match pb::LeadStatus::try_from(raw).ok()? {
        pb::LeadStatus::Unspecified => return None,
        pb::LeadStatus::New => LeadStatus::New,
        pb::LeadStatus::Contacted => LeadStatus::Contacted,
        pb::LeadStatus::Qualified => LeadStatus::Qualified,
        pb::LeadStatus::Won => LeadStatus::Won,
        pb::LeadStatus::Lost => LeadStatus::Lost,
        pb::LeadStatus::Dormant => LeadStatus::Dormant,
    })
}

fn method_to_pb(method: AssignmentMethod) -> pb::AssignmentMethod {
    match method {
        AssignmentMethod::Manual => pb::AssignmentMethod::Manual,
        AssignmentMethod::Claim => pb::AssignmentMethod::Claim,
        AssignmentMethod::Routing => pb::AssignmentMethod::Routing,
        AssignmentMethod::Bulk => pb::AssignmentMethod::Bulk,
        AssignmentMethod::ExplicitOwner => pb::AssignmentMethod::ExplicitOwner,
        AssignmentMethod::SlaReroute => pb::AssignmentMethod::SlaReroute,
    }
}

fn kind_to_pb(kind: EventKind) -> pb::LeadEventKind {
    match kind {
        EventKind::Created => pb::LeadEventKind::Created,
        EventKind::Routed => pb::LeadEventKind::Routed,
        EventKind::Assigned => pb::LeadEventKind::Assigned,
        EventKind::Reassigned => pb::LeadEventKind::Reassigned,
        EventKind::Claimed => pb::LeadEventKind::Claimed,
        EventKind::Unassigned => pb::LeadEventKind::Unassigned,
        EventKind::StatusChanged => pb::LeadEventKind::StatusChanged,
        EventKind::Held => pb::LeadEventKind::Held,
        EventKind::Accepted => pb::LeadEventKind::Accepted,
        EventKind::Escalated => pb::LeadEventKind::Escalated,
    }
}

pub fn member_to_pb(m: Member) -> pb::Member {
    pb::Member {
        sales_capable: m.role.is_sales_capable(),
        role: role_to_pb(m.role) as i32,
        user_id: m.user_id,
        display_name: m.display_name,
        email: m.email,
        active: m.active,
        available: m.available,
        created_at: Some(timestamp(m.created_at)),
        updated_at: Some(timestamp(m.updated_at)),
        schedule: m
            .schedule
            .as_ref()
            .map(leadflow_db::directory::schedule_to_wire),
    }
}

/// A SetSchedule call, validated: whose schedule, and the schedule (`None`:
/// cleared, any time). Errors name the request field.
pub fn schedule_input(
    req: pb::SetScheduleRequest,
) -> Result<(String, Option<leadflow_schedule::Schedule>), LeadsError> {
    let user_id = req.user_id.trim().to_owned();
    crate::domain::lead::parse_user_id("user_id", &user_id)?;
    let wire = common::Schedule {
        time_zone: req.time_zone,
        working_hours: req.working_hours,
        time_off: req.time_off,
    };
    let schedule = leadflow_db::directory::schedule_from_wire(wire)
        .map_err(|e| LeadsError::invalid(e.field, e.message))?;
    Ok((user_id, schedule))
}

pub fn lead_to_pb(l: Lead) -> pb::Lead {
    pb::Lead {
        id: l.id,
        name: l.name,
        email: l.email,
        phone: l.phone,
        company: l.company,
        source: source_to_pb(l.source) as i32,
        tags: l.tags,
        status: status_to_pb(l.status) as i32,
        owner_id: l.owner_id.unwrap_or_default(),
        assigned_at: l.assigned_at.map(timestamp),
        assigned_by: l.assigned_by.unwrap_or_default(),
        assignment_method: l.assignment_method.map_or(0, |m| method_to_pb(m) as i32),
        created_at: Some(timestamp(l.created_at)),
        updated_at: Some(timestamp(l.updated_at)),
        version: l.version,
        created_by: l.created_by,
        held_since: l.held_since.map(timestamp),
        accept_by: l.accept_by.map(timestamp),
        accepted_at: l.accepted_at.map(timestamp),
    }
}

pub fn event_to_pb(e: LeadEvent) -> pb::LeadEvent {
    pb::LeadEvent {
        id: e.id.to_string(),
        lead_id: e.lead_id,
        kind: kind_to_pb(e.kind) as i32,
        actor_id: e.actor_id,
        method: e.method.map_or(0, |m| method_to_pb(m) as i32),
        from_owner_id: e.from_owner_id.unwrap_or_default(),
        to_owner_id: e.to_owner_id.unwrap_or_default(),
        time: Some(timestamp(e.at)),
        batch_id: e.batch_id.unwrap_or_default(),
        routing_explanation: e.explanation.unwrap_or_default(),
        from_status: e.from_status.map_or(0, |s| status_to_pb(s) as i32),
        to_status: e.to_status.map_or(0, |s| status_to_pb(s) as i32),
    }
}

/// The raw parts of a filter, ready for [`crate::domain::filter::LeadQuery::parse`].
pub fn filter_input(filter: Option<pb::LeadFilter>) -> Result<LeadQueryInput, LeadsError> {
    let Some(f) = filter else {
        return Ok(LeadQueryInput::default());
    };
    Ok(LeadQueryInput {
        owner: f.owner,
        statuses: f
            .statuses
            .iter()
            .map(|&raw| (raw, status_from_pb(raw)))
            .collect(),
        sources: f
            .sources
            .iter()
            .map(|&raw| (raw, source_from_pb(raw)))
            .collect(),
        tags: f.tags,
        created_after: f
            .created_after
            .as_ref()
            .map(|t| from_timestamp("filter.created_after", t))
            .transpose()?,
        created_before: f
            .created_before
            .as_ref()
            .map(|t| from_timestamp("filter.created_before", t))
            .transpose()?,
        query: f.query,
    })
}

/// Most rows in one BatchCreateLeads call.
pub const MAX_BATCH_ROWS: usize = 1_000;
/// Most ids in one AssignLeads call; beyond that, select with a filter.
pub const MAX_ASSIGN_IDS: usize = 10_000;

/// A CreateLead body, validated; each failure names its field.
pub fn create_input(req: pb::CreateLeadRequest) -> Result<CreateInput, LeadsError> {
    let key = parse_idempotency_key(&req.idempotency_key)?;
    let new = NewLead::parse(NewLeadInput {
        source: source_from_pb(req.source),
        source_raw: req.source,
        name: req.name,
        email: req.email,
        phone: req.phone,
        company: req.company,
        tags: req.tags,
        owner_id: req.owner_id,
    })?;
    Ok(CreateInput { new, key })
}

/// A BatchCreateLeads call: the batch's size is checked; each row parses on its own.
pub fn batch_input(req: pb::BatchCreateLeadsRequest) -> Result<BatchInput, LeadsError> {
    if req.requests.is_empty() {
        return Err(LeadsError::invalid(
            "requests",
            "must hold at least one lead",
        ));
    }
    if req.requests.len() > MAX_BATCH_ROWS {
        return Err(LeadsError::invalid(
            "requests",
            format!("at most {MAX_BATCH_ROWS} leads per batch"),
        ));
    }
    Ok(BatchInput {
        rows: req.requests.into_iter().map(create_input).collect(),
        route: req.route,
    })
}

/// Each row's lead, or its error in gRPC status terms.
pub fn batch_response(results: Vec<Result<Lead, LeadsError>>) -> pb::BatchCreateLeadsResponse {
    let results = results
        .into_iter()
        .map(|result| pb::BatchCreateLeadResult {
            outcome: Some(match result {
                Ok(lead) => pb::batch_create_lead_result::Outcome::Lead(lead_to_pb(lead)),
                Err(error) => pb::batch_create_lead_result::Outcome::Error(row_error(error)),
            }),
        })
        .collect();
    pb::BatchCreateLeadsResponse { results }
}

/// One failed row of a batch, in gRPC status terms.
fn row_error(error: LeadsError) -> pb::RowError {
    let field = match &error {
        LeadsError::InvalidArgument { field, .. } => (*field).to_owned(),
        _ => String::new(),
    };
    let status = tonic::Status::from(error);
    pb::RowError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        field,
    }
}

/// An UpdateLeadStatus call: the lead's id and the new status.
pub fn status_input(req: &pb::UpdateLeadStatusRequest) -> Result<(String, LeadStatus), LeadsError> {
    let id = parse_lead_id("id", &req.id)?;
    let status = status_from_pb(req.status).ok_or_else(|| {
        LeadsError::invalid(
            "status",
            if req.status == 0 {
                "is required".to_owned()
            } else {
                format!("unknown value {}", req.status)
            },
        )
    })?;
    Ok((id, status))
}

/// An AssignLeads call: the assignee, and either ids or a filter.
pub fn assign_input(req: pb::AssignLeadsRequest) -> Result<AssignInput, LeadsError> {
    let assignee_id = req.assignee_id.trim().to_owned();
    parse_user_id("assignee_id", &assignee_id)?;
    let selection = match (req.lead_ids.is_empty(), req.filter) {
        (false, None) => {
            if req.lead_ids.len() > MAX_ASSIGN_IDS {
                return Err(LeadsError::invalid(
                    "lead_ids",
                    format!("at most {MAX_ASSIGN_IDS} ids; use a filter for more"),
                ));
            }
            let ids = req
                .lead_ids
                .iter()
                .map(|id| parse_lead_id("lead_ids", id))
                .collect::<Result<Vec<_>, _>>()?;
            AssignSelection::Ids(ids)
        }
        (true, Some(filter)) => {
            AssignSelection::Filter(LeadQuery::parse(filter_input(Some(filter))?)?)
        }
        (false, Some(_)) => {
            return Err(LeadsError::invalid(
                "lead_ids",
                "give either lead_ids or filter, not both",
            ));
        }
        (true, None) => return Err(LeadsError::invalid("lead_ids", "give lead_ids or a filter")),
    };
    Ok(AssignInput {
        assignee_id,
        selection,
        allow_reassign: req.allow_reassign,
    })
}

/// What the caller of AssignLeads is told.
pub fn assign_response(outcome: AssignOutcome) -> pb::AssignLeadsResponse {
    pb::AssignLeadsResponse {
        assigned: outcome.assigned.len() as i32,
        skipped: outcome
            .skipped
            .into_iter()
            .map(|s| pb::AssignSkip {
                lead_id: s.lead_id,
                reason: match s.reason {
                    SkipReason::AlreadyAssigned => pb::AssignSkipReason::AlreadyAssigned,
                    SkipReason::AlreadyOwnedByAssignee => {
                        pb::AssignSkipReason::AlreadyOwnedByAssignee
                    }
                    SkipReason::NotFound => pb::AssignSkipReason::LeadNotFound,
                } as i32,
                owner_id: s.owner_id.unwrap_or_default(),
            })
            .collect(),
        batch_id: outcome.batch_id,
        assigned_lead_ids: outcome.assigned,
    }
}

/// An UpsertMember call, validated.
pub fn member_upsert(req: pb::UpsertMemberRequest) -> Result<MemberUpsert, LeadsError> {
    MemberUpsert::parse(
        &req.user_id,
        &req.display_name,
        &req.email,
        role_from_pb(req.role),
        req.role,
        req.active,
    )
}

/// A parsed ListLeads call.
#[derive(Debug)]
pub struct ListQuery {
    /// The filter.
    pub query: LeadQuery,
    /// The order.
    pub order: SortOrder,
    /// The page size.
    pub limit: u64,
    /// Where the page starts (empty: the first page).
    pub page_token: String,
}

/// A ListLeads call, validated.
pub fn list_query(req: pb::ListLeadsRequest) -> Result<ListQuery, LeadsError> {
    Ok(ListQuery {
        query: LeadQuery::parse(filter_input(req.filter)?)?,
        order: SortOrder::parse(&req.order_by)?,
        limit: page_size(req.page_size)?,
        page_token: req.page_token,
    })
}

impl ListQuery {
    /// One page of `leads` (fetched with `limit + 1`), its next token and the total.
    pub fn response(
        &self,
        leads: Vec<Lead>,
        total: u64,
        fingerprint: &[u8; 32],
    ) -> pb::ListLeadsResponse {
        let (page, next_page_token) =
            leadflow_server::page::cut(leads, self.limit, fingerprint, PageCursor::of);
        pb::ListLeadsResponse {
            leads: page.into_iter().map(lead_to_pb).collect(),
            next_page_token,
            total_size: total.min(i32::MAX as u64) as i32,
        }
    }
}
