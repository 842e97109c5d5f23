//! Conversions between routing wire types and domain types.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use prost_types::Timestamp;

use crate::domain::decision::{Candidate, SkipReason};
use crate::domain::settings::{RuleInput, Settings, SettingsInput, Strategy, VersionedSettings};
use crate::error::RoutingError;
use crate::store::{AuditEntry, Ownership};

/// Most candidates in one RouteLead / SimulateRouting call.
pub const MAX_CANDIDATES: usize = 50_000;
/// Most facts in one ApplyOwnershipChanges / ReconcileWorkload call.
pub const MAX_FACTS: usize = 10_000;

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn strategy_to_pb(strategy: Option<Strategy>) -> i32 {
    match strategy {
        None => pb::Strategy::Unspecified as i32,
        Some(Strategy::RoundRobin) => pb::Strategy::RoundRobin as i32,
        Some(Strategy::BalancedWorkload) => pb::Strategy::BalancedWorkload as i32,
    }
}

pub fn settings_to_pb(v: &VersionedSettings) -> pb::RoutingSettings {
    let s = &v.settings;
    pb::RoutingSettings {
        enabled: s.enabled,
        strategy: strategy_to_pb(s.strategy),
        rotation_user_ids: s.rotation_user_ids.clone(),
        rules: s
            .rules
            .iter()
            .map(|r| pb::RoutingRule {
                name: r.name.clone(),
                sources: r.sources.iter().map(|&s| s as i32).collect(),
                tags: r.tags.clone(),
                user_ids: r.user_ids.clone(),
                strategy: strategy_to_pb(r.strategy),
            })
            .collect(),
        version: v.version,
        updated_by: v.updated_by.clone(),
        updated_at: v.updated_at.map(timestamp),
    }
}

pub fn settings_from_pb(s: pb::RoutingSettings) -> Result<Settings, RoutingError> {
    Settings::parse(SettingsInput {
        enabled: s.enabled,
        strategy: s.strategy,
        rotation_user_ids: s.rotation_user_ids,
        rules: s
            .rules
            .into_iter()
            .map(|r| RuleInput {
                name: r.name,
                sources: r.sources,
                tags: r.tags,
                user_ids: r.user_ids,
                strategy: r.strategy,
            })
            .collect(),
    })
}

pub fn audit_to_pb(entry: AuditEntry) -> pb::RoutingAuditEntry {
    pb::RoutingAuditEntry {
        id: entry.id.to_string(),
        actor_id: entry.actor_id,
        time: Some(timestamp(entry.at)),
        before: entry.before.as_ref().map(settings_to_pb),
        after: Some(settings_to_pb(&entry.after)),
    }
}

pub fn role_from_pb(raw: i32) -> Option<Role> {
    match common::Role::try_from(raw).ok()? {
        common::Role::Owner => Some(Role::Owner),
        common::Role::Admin => Some(Role::Admin),
        common::Role::Manager => Some(Role::Manager),
        common::Role::Sales => Some(Role::Sales),
        common::Role::Accounting => Some(Role::Accounting),
        common::Role::Unspecified => None,
    }
}

pub fn check_id(field: &str, id: &str) -> Result<(), RoutingError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RoutingError::invalid(
            field,
            "must be 1 to 128 printable characters without spaces",
        ));
    }
    Ok(())
}

pub fn candidates_from_pb(candidates: Vec<pb::Candidate>) -> Result<Vec<Candidate>, RoutingError> {
    if candidates.len() > MAX_CANDIDATES {
        return Err(RoutingError::invalid(
            "candidates",
            format!("at most {MAX_CANDIDATES}"),
        ));
    }
    candidates
        .into_iter()
        .map(|c| {
            check_id("candidates.user_id", &c.user_id)?;
            Ok(Candidate {
                role: role_from_pb(c.role),
                user_id: c.user_id,
                active: c.active,
                available: c.available,
            })
        })
        .collect()
}

pub fn source_from_pb(field: &str, raw: i32) -> Result<common::LeadSource, RoutingError> {
    match common::LeadSource::try_from(raw) {
        Ok(common::LeadSource::Unspecified) => Err(RoutingError::invalid(field, "is required")),
        Ok(source) => Ok(source),
        Err(_) => Err(RoutingError::invalid(field, format!("unknown value {raw}"))),
    }
}

pub fn tags_from_pb(field: &str, tags: Vec<String>) -> Result<Vec<String>, RoutingError> {
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 50) {
        return Err(RoutingError::invalid(
            field,
            "at most 20 tags of at most 50 characters",
        ));
    }
    Ok(tags.into_iter().map(|t| t.trim().to_owned()).collect())
}

/// The most attempts at routing one lead (creation, then SLA re-routes).
pub const MAX_ATTEMPT: i32 = 1_000;

/// Which question about a lead a RouteLead is: 0 and 1 are both the first.
pub fn attempt_from_pb(attempt: i32) -> Result<u32, RoutingError> {
    if !(0..=MAX_ATTEMPT).contains(&attempt) {
        return Err(RoutingError::invalid(
            "attempt",
            format!("must be between 0 and {MAX_ATTEMPT}"),
        ));
    }
    Ok(attempt.max(1) as u32)
}

pub fn lead_id(id: &str) -> Result<(), RoutingError> {
    check_id("lead_id", id)
}

pub fn facts_from_pb(
    field: &str,
    changes: Vec<pb::OwnershipChange>,
) -> Result<Vec<Ownership>, RoutingError> {
    if changes.len() > MAX_FACTS {
        return Err(RoutingError::invalid(
            field,
            format!("at most {MAX_FACTS} per call; send chunks"),
        ));
    }
    changes
        .into_iter()
        .map(|c| {
            check_id(&format!("{field}.lead_id"), &c.lead_id)?;
            if !c.owner_id.is_empty() {
                check_id(&format!("{field}.owner_id"), &c.owner_id)?;
            }
            if c.version < 1 {
                return Err(RoutingError::invalid(
                    &format!("{field}.version"),
                    "must be at least 1",
                ));
            }
            Ok(Ownership {
                lead_id: c.lead_id,
                owner_id: (!c.owner_id.is_empty()).then_some(c.owner_id),
                open: c.open,
                version: c.version,
            })
        })
        .collect()
}

pub fn skip_reason_to_pb(reason: SkipReason) -> i32 {
    (match reason {
        SkipReason::Inactive => pb::SkipReason::Inactive,
        SkipReason::Unavailable => pb::SkipReason::Unavailable,
        SkipReason::NotSalesCapable => pb::SkipReason::NotSalesCapable,
        SkipReason::NotAMember => pb::SkipReason::NotAMember,
    }) as i32
}
