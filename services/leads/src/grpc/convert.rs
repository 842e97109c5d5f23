//! Conversions between the wire types (leadflow-proto) and domain types.

use chrono::{DateTime, Utc};
use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use prost_types::Timestamp;

use crate::domain::filter::LeadQueryInput;
use crate::domain::lead::{AssignmentMethod, EventKind, Lead, LeadEvent, LeadSource, LeadStatus};
use crate::domain::member::Member;
use crate::error::LeadsError;

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

pub fn role_to_pb(role: Role) -> common::Role {
    match role {
        Role::Owner => common::Role::Owner,
        Role::Admin => common::Role::Admin,
        Role::Manager => common::Role::Manager,
        Role::Sales => common::Role::Sales,
        Role::Accounting => common::Role::Accounting,
        Role::Integration | Role::Service => common::Role::Unspecified,
    }
}

/// `None` for an unspecified or unknown value.
pub fn role_from_pb(raw: i32) -> Option<Role> {
    match common::Role::try_from(raw).ok()? {
        common::Role::Unspecified => None,
        common::Role::Owner => Some(Role::Owner),
        common::Role::Admin => Some(Role::Admin),
        common::Role::Manager => Some(Role::Manager),
        common::Role::Sales => Some(Role::Sales),
        common::Role::Accounting => Some(Role::Accounting),
    }
}

pub fn source_to_pb(source: LeadSource) -> common::LeadSource {
    match source {
        LeadSource::Team => common::LeadSource::Team,
        LeadSource::AiAssistant => common::LeadSource::AiAssistant,
        LeadSource::Website => common::LeadSource::Website,
        LeadSource::Facebook => common::LeadSource::Facebook,
        LeadSource::Google => common::LeadSource::Google,
        LeadSource::CsvImport => common::LeadSource::CsvImport,
        LeadSource::Other => common::LeadSource::Other,
    }
}

pub fn source_from_pb(raw: i32) -> Option<LeadSource> {
    Some(match common::LeadSource::try_from(raw).ok()? {
        common::LeadSource::Unspecified => return None,
        common::LeadSource::Team => LeadSource::Team,
        common::LeadSource::AiAssistant => LeadSource::AiAssistant,
        common::LeadSource::Website => LeadSource::Website,
        common::LeadSource::Facebook => LeadSource::Facebook,
        common::LeadSource::Google => LeadSource::Google,
        common::LeadSource::CsvImport => LeadSource::CsvImport,
        common::LeadSource::Other => LeadSource::Other,
    })
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
    }
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
