//! The routing SLA, as the leads service runs it: a routed lead must be
//! acted on by its holder (AcceptLead, or a status change away from NEW)
//! before its deadline, or it moves to the next rep of its pool, hop after
//! hop, until the policy's `max_hops` or nobody eligible is left; then the
//! managers and owners are told once and the lead stays where it is.
//!
//! A chain is one durable timer ([`crate::store::timers`]) whose detail is
//! a [`SlaChain`]: who holds the lead now, who held it before (routing
//! skips them), and which hop this is. Any other change of owner or status
//! (a claim, an assignment, an unassignment, a status change, an accept)
//! ends the chain in the same transaction. The rules here are plain
//! functions; the timer worker asks them what an expiry means.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::lead::{Lead, LeadStatus};

/// A pool's SLA, as routing named it in its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// Minutes the holder has to act; 0: no SLA.
    pub minutes: u32,
    /// Re-routes before the chain escalates (0: escalate at the first expiry).
    pub max_hops: u32,
    /// The clock runs only during the holder's working hours, when they
    /// have a schedule.
    pub working_hours_only: bool,
}

impl SlaPolicy {
    /// The policy routing sent, if it times anything (negative numbers,
    /// which routing never sends, count as none).
    pub fn from_wire(minutes: i32, max_hops: i32, working_hours_only: bool) -> Option<SlaPolicy> {
        let minutes = u32::try_from(minutes).ok().filter(|m| *m > 0)?;
        Some(SlaPolicy {
            minutes,
            max_hops: u32::try_from(max_hops).unwrap_or(0),
            working_hours_only,
        })
    }

    /// "15 min", or "15 working min" when only working hours count.
    fn window(&self) -> String {
        if self.working_hours_only {
            format!("{} working min", self.minutes)
        } else {
            format!("{} min", self.minutes)
        }
    }
}

/// A running SLA chain: the detail of its timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaChain {
    /// The pool's policy when the chain started (a later settings change
    /// applies to the next chain).
    pub policy: SlaPolicy,
    /// The pool that routed the lead (the rule's name, or `default`).
    pub pool: String,
    /// Re-routes so far: 0 for the first holder.
    pub hop: u32,
    /// Who has the lead now and must act.
    pub holder: String,
    /// Who held it earlier in this chain, oldest first: routing skips them.
    pub earlier: Vec<String>,
}

/// An SLA timer a change starts: its chain and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaTimer {
    /// The chain.
    pub chain: SlaChain,
    /// When it runs out.
    pub due: DateTime<Utc>,
}

/// When a holder given the lead at `start` must have acted: `minutes`
/// later, or that much of their working time later when the policy counts
/// working hours only and they have a schedule (16:55 with 15 minutes and a
/// 17:00 shift end: 09:10 on their next working day).
pub fn deadline(
    policy: &SlaPolicy,
    start: DateTime<Utc>,
    holder_schedule: Option<&leadflow_schedule::Schedule>,
) -> DateTime<Utc> {
    let window = Duration::minutes(i64::from(policy.minutes));
    match holder_schedule.filter(|_| policy.working_hours_only) {
        Some(schedule) => schedule
            .after_working(start, window)
            .unwrap_or(start + window),
        None => start + window,
    }
}

/// The chain a routed lead starts: `holder` got it from `pool` at `start`.
pub fn start(
    policy: SlaPolicy,
    pool: &str,
    holder: &str,
    start: DateTime<Utc>,
    holder_schedule: Option<&leadflow_schedule::Schedule>,
) -> SlaTimer {
    SlaTimer {
        due: deadline(&policy, start, holder_schedule),
        chain: SlaChain {
            policy,
            pool: pool.to_owned(),
            hop: 0,
            holder: holder.to_owned(),
            earlier: Vec::new(),
        },
    }
}

/// The chain's next hop: `next` got the lead at `at`.
pub fn next_hop(
    chain: &SlaChain,
    next: &str,
    at: DateTime<Utc>,
    next_schedule: Option<&leadflow_schedule::Schedule>,
) -> SlaTimer {
    let mut earlier = chain.earlier.clone();
    earlier.push(chain.holder.clone());
    SlaTimer {
        due: deadline(&chain.policy, at, next_schedule),
        chain: SlaChain {
            policy: chain.policy,
            pool: chain.pool.clone(),
            hop: chain.hop + 1,
            holder: next.to_owned(),
            earlier,
        },
    }
}

/// What a chain's expiry means for the lead as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// The holder acted, or the lead moved on some other way: nothing to do.
    Met,
    /// No re-route left: tell the managers and owners.
    Escalate,
    /// Ask routing for the next rep, skipping everyone in the chain.
    Reroute {
        /// The chain's holders so far, the current one last.
        exclude: Vec<String>,
        /// RouteLead's attempt for this hop: routing remembers one decision
        /// per (lead, attempt), so a hop's retried question is replayed and
        /// an earlier hop's decision never answers a later one.
        attempt: i32,
    },
}

/// What the expiry of `chain` means for `lead` (absent: deleted).
pub fn on_expiry(chain: &SlaChain, lead: Option<&Lead>) -> Expiry {
    let still_waiting = lead.is_some_and(|lead| {
        lead.owner_id.as_deref() == Some(chain.holder.as_str()) && lead.status == LeadStatus::New
    });
    if !still_waiting {
        return Expiry::Met;
    }
    if chain.hop >= chain.policy.max_hops {
        return Expiry::Escalate;
    }
    let mut exclude = chain.earlier.clone();
    exclude.push(chain.holder.clone());
    Expiry::Reroute {
        exclude,
        attempt: reroute_attempt(chain.hop),
    }
}

/// RouteLead's attempt for the re-route after hop `hop`: creation asks
/// with [`crate::peers::FIRST_ATTEMPT`], each re-route with the next number.
pub fn reroute_attempt(hop: u32) -> i32 {
    crate::peers::FIRST_ATTEMPT
        .saturating_add(i32::try_from(hop).unwrap_or(i32::MAX))
        .saturating_add(1)
}

/// The history's explanation of a re-route: "ana did not accept within
/// 15 min; next in rotation: ben", with routing's own words after it.
pub fn moved_explanation(chain: &SlaChain, next: &str, routing: &str) -> String {
    format!(
        "{} did not accept within {}; next in rotation: {next} (hop {} of {}; routing: {routing})",
        chain.holder,
        chain.policy.window(),
        chain.hop + 1,
        chain.policy.max_hops
    )
}

/// Why a chain escalates, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationReason {
    /// `max_hops` re-routes were made.
    OutOfHops,
    /// Routing found nobody eligible who has not held the lead yet.
    NobodyLeft {
        /// Routing's explanation.
        routing: String,
    },
}

/// The history's explanation of an escalation.
pub fn escalation_explanation(chain: &SlaChain, reason: &EscalationReason) -> String {
    let why = match reason {
        EscalationReason::OutOfHops => format!(
            "the SLA allows {} re-route{}",
            chain.policy.max_hops,
            if chain.policy.max_hops == 1 { "" } else { "s" }
        ),
        EscalationReason::NobodyLeft { routing } => {
            format!("nobody else in the pool can take it ({routing})")
        }
    };
    format!(
        "{} did not accept within {}, and {why}: the managers and owners were told; \
         the lead stays with {}",
        chain.holder,
        chain.policy.window(),
        chain.holder
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadSource;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn policy(minutes: u32, max_hops: u32) -> SlaPolicy {
        SlaPolicy {
            minutes,
            max_hops,
            working_hours_only: false,
        }
    }

    fn lead(owner: &str, status: LeadStatus) -> Lead {
        Lead {
            id: "l1".into(),
            name: "Jane".into(),
            email: String::new(),
            phone: String::new(),
            company: String::new(),
            source: LeadSource::Website,
            tags: Vec::new(),
            status,
            owner_id: Some(owner.into()),
            assigned_at: None,
            assigned_by: None,
            assignment_method: None,
            version: 2,
            created_by: "web".into(),
            held_since: None,
            accept_by: None,
            accepted_at: None,
            created_at: utc("2026-01-14T10:00:00Z"),
            updated_at: utc("2026-01-14T10:00:00Z"),
        }
    }

    #[test]
    fn no_minutes_is_no_sla() {
        assert_eq!(SlaPolicy::from_wire(0, 2, false), None);
        assert_eq!(SlaPolicy::from_wire(-5, 2, false), None);
        assert_eq!(
            SlaPolicy::from_wire(15, 2, true).map(|p| p.max_hops),
            Some(2)
        );
    }

    #[test]
    fn a_chain_hops_to_max_hops_then_escalates() {
        let at = utc("2026-01-14T10:00:00Z");
        let first = start(policy(15, 2), "default", "ana", at, None);
        assert_eq!(first.due, utc("2026-01-14T10:15:00Z"));
        assert_eq!(
            on_expiry(&first.chain, Some(&lead("ana", LeadStatus::New))),
            Expiry::Reroute {
                exclude: vec!["ana".into()],
                attempt: 2
            }
        );
        let second = next_hop(&first.chain, "ben", first.due, None);
        assert_eq!(second.chain.hop, 1);
        assert_eq!(second.due, utc("2026-01-14T10:30:00Z"));
        assert_eq!(
            on_expiry(&second.chain, Some(&lead("ben", LeadStatus::New))),
            Expiry::Reroute {
                exclude: vec!["ana".into(), "ben".into()],
                attempt: 3
            }
        );
        let third = next_hop(&second.chain, "cara", second.due, None);
        assert_eq!(
            on_expiry(&third.chain, Some(&lead("cara", LeadStatus::New))),
            Expiry::Escalate
        );
    }

    #[test]
    fn an_acted_on_or_moved_lead_has_met_its_sla() {
        let chain = start(
            policy(15, 2),
            "default",
            "ana",
            utc("2026-01-14T10:00:00Z"),
            None,
        )
        .chain;
        assert_eq!(
            on_expiry(&chain, Some(&lead("ana", LeadStatus::Contacted))),
            Expiry::Met
        );
        assert_eq!(
            on_expiry(&chain, Some(&lead("ben", LeadStatus::New))),
            Expiry::Met
        );
        assert_eq!(on_expiry(&chain, None), Expiry::Met);
        // No hops at all: the first expiry escalates.
        let strict = start(
            policy(15, 0),
            "default",
            "ana",
            utc("2026-01-14T10:00:00Z"),
            None,
        );
        assert_eq!(
            on_expiry(&strict.chain, Some(&lead("ana", LeadStatus::New))),
            Expiry::Escalate
        );
    }

    #[test]
    fn working_hours_only_counts_the_holders_shift() {
        let schedule = leadflow_schedule::Schedule::parse(leadflow_schedule::ScheduleInput {
            time_zone: "Europe/Berlin".into(),
            working_hours: (1..=5)
                .map(|day| leadflow_schedule::BlockInput {
                    day_of_week: day,
                    start: "09:00".into(),
                    end: "17:00".into(),
                })
                .collect(),
            time_off: vec![],
        })
        .unwrap();
        let hours = SlaPolicy {
            working_hours_only: true,
            ..policy(15, 2)
        };
        // Friday 16:55 in Berlin -> Monday 09:10.
        let friday = utc("2026-01-16T15:55:00Z");
        assert_eq!(
            deadline(&hours, friday, Some(&schedule)),
            utc("2026-01-19T08:10:00Z")
        );
        // Without a schedule, or with the wall clock policy: 15 minutes.
        assert_eq!(deadline(&hours, friday, None), utc("2026-01-16T16:10:00Z"));
        assert_eq!(
            deadline(&policy(15, 2), friday, Some(&schedule)),
            utc("2026-01-16T16:10:00Z")
        );
    }

    #[test]
    fn the_history_says_who_did_not_accept_and_who_is_next() {
        let chain = start(
            policy(15, 2),
            "default",
            "ana",
            utc("2026-01-14T10:00:00Z"),
            None,
        )
        .chain;
        let text = moved_explanation(&chain, "ben", "round robin");
        assert!(
            text.starts_with("ana did not accept within 15 min; next in rotation: ben"),
            "{text}"
        );
        let text = escalation_explanation(&chain, &EscalationReason::OutOfHops);
        assert!(text.contains("the SLA allows 2 re-routes"), "{text}");
    }
}
