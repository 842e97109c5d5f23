//! Requests from the wire into the use cases' inputs: every bound and every
//! field check of the RoutingService API, each error naming its field, in
//! the order the API has always checked them.

use leadflow_auth::Role;
use leadflow_db::directory::{self, DirectoryFact};
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use leadflow_server::page::decode_token;

use crate::app::{
    AUDIT_PAGES, AuditPage, Reconcile, RouteLead, SettingsUpdate, Simulation, audit_fingerprint,
};
use crate::domain::decision::sticky::{MatchKind, PreferredOwner};
use crate::domain::decision::{Candidate, Lead};
use crate::domain::settings::{
    LimitInput, RuleInput, Settings, SettingsInput, SlaInput, StickyInput,
};
use crate::error::RoutingError;
use crate::store::Ownership;

/// Most candidates in one RouteLead / SimulateRouting call.
pub const MAX_CANDIDATES: usize = 50_000;
/// Most reps one RouteLead may exclude (an SLA chain's earlier holders:
/// at most 11 with the 10-hop limit).
pub const MAX_EXCLUDED: usize = 50;
/// Most preferred owners in one RouteLead (the leads service sends two: the
/// newest same-email and the newest same-domain match).
pub const MAX_PREFERRED: usize = 10;
/// Most facts in one ApplyOwnershipChanges / ReconcileWorkload call.
pub const MAX_FACTS: usize = 10_000;
/// Most leads in one SimulateRouting call.
pub const MAX_SIMULATED_LEADS: usize = 1_000;
/// The most attempts at routing one lead (creation, then SLA re-routes).
pub const MAX_ATTEMPT: i32 = 1_000;

impl TryFrom<pb::UpdateRoutingSettingsRequest> for SettingsUpdate {
    type Error = RoutingError;

    fn try_from(req: pb::UpdateRoutingSettingsRequest) -> Result<Self, RoutingError> {
        let settings = req
            .settings
            .ok_or_else(|| RoutingError::invalid("settings", "is required"))?;
        let settings = settings_from_pb(settings)?;
        if req.expected_version < 0 {
            return Err(RoutingError::invalid(
                "expected_version",
                "may not be negative",
            ));
        }
        Ok(SettingsUpdate {
            settings,
            expected_version: req.expected_version,
        })
    }
}

/// A ListRoutingAudit page of `org_id`'s audit (tokens are bound to it).
pub fn audit_page(
    req: pb::ListRoutingAuditRequest,
    org_id: &str,
) -> Result<AuditPage, RoutingError> {
    let size = AUDIT_PAGES.size(req.page_size)?;
    let fingerprint = audit_fingerprint(org_id);
    let before_id = decode_token::<i64>(&req.page_token, &fingerprint)?;
    Ok(AuditPage {
        size,
        before_id,
        fingerprint,
    })
}

impl TryFrom<pb::RouteLeadRequest> for RouteLead {
    type Error = RoutingError;

    fn try_from(req: pb::RouteLeadRequest) -> Result<Self, RoutingError> {
        check_id("lead_id", &req.lead_id)?;
        // Recorded as soon as it is known to be an id, so the trace of a
        // request refused for a later field still names its lead.
        tracing::Span::current().record("lead.id", req.lead_id.as_str());
        let lead = lead_from_pb(["source", "tags"], req.source, req.tags)?;
        let mut candidates = candidates_from_pb(req.candidates)?;
        if req.exclude_user_ids.len() > MAX_EXCLUDED {
            return Err(RoutingError::invalid(
                "exclude_user_ids",
                format!("at most {MAX_EXCLUDED}"),
            ));
        }
        for id in &req.exclude_user_ids {
            check_id("exclude_user_ids", id)?;
        }
        for candidate in &mut candidates {
            candidate.already_held = req.exclude_user_ids.contains(&candidate.user_id);
        }
        Ok(RouteLead {
            attempt: attempt_from_pb(req.attempt)?,
            preferred: preferred_from_pb(req.preferred_owners)?,
            lead_id: req.lead_id,
            lead,
            candidates,
        })
    }
}

impl TryFrom<pb::SimulateRoutingRequest> for Simulation {
    type Error = RoutingError;

    fn try_from(req: pb::SimulateRoutingRequest) -> Result<Self, RoutingError> {
        let draft = req.settings.map(settings_from_pb).transpose()?;
        if req.leads.len() > MAX_SIMULATED_LEADS {
            return Err(RoutingError::invalid(
                "leads",
                format!("at most {MAX_SIMULATED_LEADS}"),
            ));
        }
        let candidates = candidates_from_pb(req.candidates)?;
        let leads = req
            .leads
            .into_iter()
            .map(|lead| lead_from_pb(["leads.source", "leads.tags"], lead.source, lead.tags))
            .collect::<Result<_, RoutingError>>()?;
        let at = match req.at {
            Some(t) => Some(
                chrono::DateTime::from_timestamp(
                    t.seconds,
                    u32::try_from(t.nanos).unwrap_or(u32::MAX),
                )
                .ok_or_else(|| RoutingError::invalid("at", "is not a valid time"))?,
            ),
            None => None,
        };
        Ok(Simulation {
            draft,
            leads,
            candidates,
            at,
        })
    }
}

impl TryFrom<pb::ReconcileWorkloadRequest> for Reconcile {
    type Error = RoutingError;

    fn try_from(req: pb::ReconcileWorkloadRequest) -> Result<Self, RoutingError> {
        let truth = facts_from_pb("leads", req.leads)?;
        let forget = facts_from_pb("forget", req.forget)?;
        if req.finish && req.epoch < 1 {
            return Err(RoutingError::invalid(
                "epoch",
                "finish needs the epoch begin returned",
            ));
        }
        Ok(Reconcile {
            truth,
            forget,
            begin: req.begin,
            finish: req.finish,
            epoch: req.epoch,
            routed: routed_from_pb(req.routed)?,
        })
    }
}

/// ReconcileWorkload's routed counts, checked.
fn routed_from_pb(
    routed: Vec<pb::RoutedCount>,
) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>, i64)>, RoutingError> {
    if routed.len() > MAX_FACTS {
        return Err(RoutingError::invalid(
            "routed",
            format!("at most {MAX_FACTS} per call; send chunks"),
        ));
    }
    routed
        .into_iter()
        .map(|r| {
            check_id("routed.user_id", &r.user_id)?;
            let since = r
                .since
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .ok_or_else(|| RoutingError::invalid("routed.since", "is required"))?;
            if r.count < 0 {
                return Err(RoutingError::invalid(
                    "routed.count",
                    "must not be negative",
                ));
            }
            Ok((r.user_id, since, i64::from(r.count)))
        })
        .collect()
}

/// ApplyOwnershipChanges' facts.
pub fn ownership_changes(
    req: pb::ApplyOwnershipChangesRequest,
) -> Result<Vec<Ownership>, RoutingError> {
    facts_from_pb("changes", req.changes)
}

/// ApplyDirectoryChanges' facts, as the notifier reads them too.
pub fn directory_from_pb(
    req: common::ApplyDirectoryChangesRequest,
) -> Result<Vec<DirectoryFact>, RoutingError> {
    Ok(directory::facts_from_wire(req.members)?)
}

/// Settings from the wire, validated by [`Settings::parse`].
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
                weights: r.weights.into_iter().collect(),
                sla: r.sla.map(sla_input),
            })
            .collect(),
        weights: s.weights.into_iter().collect(),
        respect_working_hours: s.respect_working_hours,
        limits: s.limits.into_iter().map(limit_input).collect(),
        default_limit: s.default_limit.map(limit_input),
        sla: s.sla.map(sla_input),
        sticky: s.sticky.map(|s| StickyInput {
            match_email: s.match_email,
            match_domain: s.match_domain,
            lookback_days: s.lookback_days,
        }),
    })
}

fn sla_input(s: pb::SlaPolicy) -> SlaInput {
    SlaInput {
        accept_within_minutes: s.accept_within_minutes,
        max_hops: s.max_hops,
        count_working_hours_only: s.count_working_hours_only,
    }
}

fn limit_input(l: pb::MemberLimit) -> LimitInput {
    LimitInput {
        user_id: l.user_id,
        max_open_leads: l.max_open_leads,
        max_new_per_day: l.max_new_per_day,
    }
}

/// A wire role; `None` for one routing does not know.
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

/// A user or lead id: 1 to 128 printable characters without spaces.
pub fn check_id(field: &str, id: &str) -> Result<(), RoutingError> {
    match leadflow_text::is_id(id) {
        true => Ok(()),
        false => Err(RoutingError::invalid(field, leadflow_text::ID_RULE)),
    }
}

fn candidates_from_pb(candidates: Vec<pb::Candidate>) -> Result<Vec<Candidate>, RoutingError> {
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
                schedule: None,
                already_held: false,
            })
        })
        .collect()
}

/// The routed facts of a lead; `fields` name its source and tags in the
/// request (`source`, `tags` in RouteLead; `leads.source`, `leads.tags` in
/// SimulateRouting).
fn lead_from_pb(fields: [&str; 2], source: i32, tags: Vec<String>) -> Result<Lead, RoutingError> {
    Ok(Lead {
        source: source_from_pb(fields[0], source)?,
        tags: tags_from_pb(fields[1], tags)?,
    })
}

fn source_from_pb(field: &str, raw: i32) -> Result<common::LeadSource, RoutingError> {
    match common::LeadSource::try_from(raw) {
        Ok(common::LeadSource::Unspecified) => Err(RoutingError::invalid(field, "is required")),
        Ok(source) => Ok(source),
        Err(_) => Err(RoutingError::invalid(field, format!("unknown value {raw}"))),
    }
}

fn tags_from_pb(field: &str, tags: Vec<String>) -> Result<Vec<String>, RoutingError> {
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 50) {
        return Err(RoutingError::invalid(
            field,
            "at most 20 tags of at most 50 characters",
        ));
    }
    Ok(tags.into_iter().map(|t| t.trim().to_owned()).collect())
}

/// RouteLead's preferred owners (sticky ownership), each field checked.
fn preferred_from_pb(owners: Vec<pb::PreferredOwner>) -> Result<Vec<PreferredOwner>, RoutingError> {
    if owners.len() > MAX_PREFERRED {
        return Err(RoutingError::invalid(
            "preferred_owners",
            format!("at most {MAX_PREFERRED}"),
        ));
    }
    owners
        .into_iter()
        .map(|o| {
            check_id("preferred_owners.user_id", &o.user_id)?;
            check_id("preferred_owners.lead_id", &o.lead_id)?;
            let by = match pb::ContactMatch::try_from(o.r#match) {
                Ok(pb::ContactMatch::SameEmail) => MatchKind::Email,
                Ok(pb::ContactMatch::SameDomain) => MatchKind::Domain,
                _ => {
                    return Err(RoutingError::invalid(
                        "preferred_owners.match",
                        "must be SAME_EMAIL or SAME_DOMAIN",
                    ));
                }
            };
            let lead_created_at = o
                .lead_created_at
                .and_then(|t| {
                    chrono::DateTime::from_timestamp(
                        t.seconds,
                        t.nanos.clamp(0, 999_999_999) as u32,
                    )
                })
                .ok_or_else(|| {
                    RoutingError::invalid("preferred_owners.lead_created_at", "is required")
                })?;
            Ok(PreferredOwner {
                user_id: o.user_id,
                by,
                lead_id: o.lead_id,
                lead_created_at,
            })
        })
        .collect()
}

/// Which question about a lead a RouteLead is: 0 and 1 are both the first.
fn attempt_from_pb(attempt: i32) -> Result<u32, RoutingError> {
    if !(0..=MAX_ATTEMPT).contains(&attempt) {
        return Err(RoutingError::invalid(
            "attempt",
            format!("must be between 0 and {MAX_ATTEMPT}"),
        ));
    }
    Ok(attempt.max(1) as u32)
}

fn facts_from_pb(
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
