//! Answers from the use cases onto the wire: settings, audit entries,
//! decisions and workload as the RoutingService API shapes them.

use leadflow_proto::routing::v1 as pb;
use prost_types::Timestamp;

use crate::app::Routed;
use crate::domain::decision::{Decision, Plan, SkipReason, explain};
use crate::domain::settings::{Limit, Sla, Strategy, VersionedSettings, Weights};
use crate::store::AuditEntry;

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

/// A limit as the wire shows it.
fn limit_to_pb(user_id: &str, limit: &Limit) -> pb::MemberLimit {
    pb::MemberLimit {
        user_id: user_id.to_owned(),
        max_open_leads: limit.max_open_leads as i32,
        max_new_per_day: limit.max_new_per_day as i32,
    }
}

/// An SLA as the wire shows it.
pub fn sla_to_pb(sla: &Sla) -> pb::SlaPolicy {
    pb::SlaPolicy {
        accept_within_minutes: sla.accept_within_minutes as i32,
        max_hops: sla.max_hops as i32,
        count_working_hours_only: sla.count_working_hours_only,
    }
}

/// Weights as the wire's map.
fn weights_to_pb(weights: &Weights) -> std::collections::HashMap<String, i32> {
    weights
        .iter()
        .map(|(id, &w)| (id.clone(), w as i32))
        .collect()
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
                weights: weights_to_pb(&r.weights),
                sla: r.sla.as_ref().map(sla_to_pb),
            })
            .collect(),
        weights: weights_to_pb(&s.weights),
        respect_working_hours: s.respect_working_hours,
        limits: s.limits.iter().map(|(id, l)| limit_to_pb(id, l)).collect(),
        default_limit: s.default_limit.as_ref().map(|l| limit_to_pb("", l)),
        sla: s.sla.as_ref().map(sla_to_pb),
        sticky: s.sticky.map(|s| pb::StickyPolicy {
            match_email: s.match_email,
            match_domain: s.match_domain,
            lookback_days: s.lookback_days as i32,
        }),
        version: v.version,
        updated_by: v.updated_by.clone(),
        updated_at: v.updated_at.map(timestamp),
    }
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

/// One ListRoutingAudit page and its next token.
pub fn audit_page_to_pb(
    (entries, next_page_token): (Vec<AuditEntry>, String),
) -> pb::ListRoutingAuditResponse {
    pb::ListRoutingAuditResponse {
        entries: entries.into_iter().map(audit_to_pb).collect(),
        next_page_token,
    }
}

/// The wire decision for a lead.
pub fn decision_to_pb(decision: &Decision, lead_id: &str) -> pb::RouteDecision {
    let (plan, assignee) = (&decision.plan, decision.assignee.as_deref());
    let mut out = pb::RouteDecision {
        lead_id: lead_id.to_owned(),
        explanation: explain(plan, assignee),
        ..Default::default()
    };
    match plan {
        Plan::Off => out.reason = pb::DecisionReason::RoutingOff as i32,
        Plan::NoCandidates { skipped, .. } => {
            out.reason = pb::DecisionReason::NoCandidates as i32;
            out.skipped = skipped_to_pb(skipped);
        }
        Plan::Held {
            pool,
            retry_at,
            skipped,
            ..
        } => {
            out.reason = pb::DecisionReason::Held as i32;
            out.rule = pool.rule_name().to_owned();
            out.retry_at = retry_at.map(timestamp);
            out.skipped = skipped_to_pb(skipped);
        }
        Plan::Pick(p) => {
            out.reason = pb::DecisionReason::Routed as i32;
            out.assignee_id = assignee.unwrap_or_default().to_owned();
            out.strategy = strategy_to_pb(Some(p.strategy));
            out.rule = p.pool.rule_name().to_owned();
            out.fallback_used = p.fallback_used;
            out.skipped = skipped_to_pb(&p.skipped);
            out.sla = p.sla.as_ref().map(sla_to_pb);
            out.preferred_owner_used = p.preferred_owner;
        }
    }
    out
}

/// RouteLead's answer: the decision, whether it was replayed, and the
/// state's generation.
pub fn routed_to_pb(routed: Routed, lead_id: String) -> pb::RouteDecision {
    let mut out = decision_to_pb(&routed.decision, "");
    if routed.replayed {
        out.explanation
            .push_str(" (a retry: the decision made earlier for this lead)");
    }
    if let Some(generation) = routed.generation {
        out.state_generation = generation.id;
        out.state_reset = generation.reset;
    }
    out.lead_id = lead_id;
    out
}

/// SimulateRouting's answer (simulated leads have no id).
pub fn simulated_to_pb(decisions: Vec<Decision>) -> pb::SimulateRoutingResponse {
    pb::SimulateRoutingResponse {
        decisions: decisions.iter().map(|d| decision_to_pb(d, "")).collect(),
    }
}

/// GetWorkload's answer.
pub fn workload_to_pb(members: Vec<(String, i64)>) -> pb::GetWorkloadResponse {
    pb::GetWorkloadResponse {
        members: members
            .into_iter()
            .map(|(user_id, open_leads)| pb::MemberWorkload {
                user_id,
                open_leads,
            })
            .collect(),
    }
}

fn skipped_to_pb(skipped: &[(String, SkipReason)]) -> Vec<pb::SkippedCandidate> {
    skipped
        .iter()
        .map(|(id, reason)| pb::SkippedCandidate {
            user_id: id.clone(),
            reason: skip_reason_to_pb(*reason),
        })
        .collect()
}

pub fn skip_reason_to_pb(reason: SkipReason) -> i32 {
    (match reason {
        SkipReason::Inactive => pb::SkipReason::Inactive,
        SkipReason::Unavailable => pb::SkipReason::Unavailable,
        SkipReason::NotSalesCapable => pb::SkipReason::NotSalesCapable,
        SkipReason::NotAMember => pb::SkipReason::NotAMember,
        SkipReason::Capped => pb::SkipReason::Capped,
        SkipReason::OffShift => pb::SkipReason::OffShift,
        SkipReason::TimeOff => pb::SkipReason::TimeOff,
        SkipReason::AlreadyHeld => pb::SkipReason::AlreadyHeld,
    }) as i32
}
