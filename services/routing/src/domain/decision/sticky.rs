//! Sticky ownership: a returning contact goes to the rep who already owns
//! their open lead, before any pool is consulted.
//!
//! The leads service finds the matches (its index of normalized emails and
//! company domains) and sends their owners with RouteLead; the rules here
//! decide which match the settings allow and whether its owner can take the
//! lead now. Caps are checked by the state store in the same atomic pick
//! that counts the lead, from a one-rep pool with a cursor of its own, so
//! no pool's cursor moves. An owner passed over is named, with the reason,
//! in the explanation of the pool's decision instead.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::caps::caps_of;
use super::{Candidate, CapHit, Plan, PoolPlan};
use crate::domain::settings::{Settings, Sticky, Strategy};

/// The cursor key of sticky picks: never a pool's, so none moves.
pub const STICKY_POOL_KEY: &str = "sticky";
/// Added to a RouteLead's attempt for its sticky pick, so the decision the
/// state store remembers for it never answers the pool's pick (or the
/// other way round). Attempts on the wire stop at 1,000.
pub const STICKY_ATTEMPT_OFFSET: u32 = 1_000_000;

/// How a new lead matched an open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The same email.
    Email,
    /// The same company email domain.
    Domain,
}

impl MatchKind {
    fn label(self) -> &'static str {
        match self {
            MatchKind::Email => "the same email",
            MatchKind::Domain => "the same email domain",
        }
    }
}

/// The owner of an open lead the new lead matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredOwner {
    /// Who owns the matching lead.
    pub user_id: String,
    /// How it matched.
    pub by: MatchKind,
    /// The matching lead.
    pub lead_id: String,
    /// When the matching lead was created.
    pub lead_created_at: DateTime<Utc>,
}

impl PreferredOwner {
    /// "ana owns open lead 0190… with the same email".
    fn describe(&self) -> String {
        format!(
            "returning contact: {} owns open lead {} with {}",
            self.user_id,
            self.lead_id,
            self.by.label()
        )
    }
}

/// The match the policy allows: of those of an allowed kind created within
/// `lookback_days` of `at` (0: any age), the newest. `None` with sticky
/// ownership off.
pub fn preferred<'a>(
    policy: Option<&Sticky>,
    owners: &'a [PreferredOwner],
    at: DateTime<Utc>,
) -> Option<&'a PreferredOwner> {
    let policy = policy.filter(|p| p.is_on())?;
    let since =
        (policy.lookback_days > 0).then(|| at - Duration::days(policy.lookback_days.into()));
    owners
        .iter()
        .filter(|o| match o.by {
            MatchKind::Email => policy.match_email,
            MatchKind::Domain => policy.match_domain,
        })
        .filter(|o| since.is_none_or(|since| o.lead_created_at >= since))
        .max_by_key(|o| o.lead_created_at)
}

/// The one-rep pool of `owner`, if they can take the lead at `at` apart
/// from their caps (which the pick checks); otherwise why not, for the
/// explanation of `regular`, the decision the pools make instead (its pool
/// and SLA are the sticky pick's too).
pub fn sticky_pool(
    settings: &Settings,
    candidates: &[Candidate],
    owner: &PreferredOwner,
    regular: &Plan,
    at: DateTime<Utc>,
) -> Result<PoolPlan, String> {
    let passed_over = |why: &str| format!("{}, but {} {why}", owner.describe(), owner.user_id);
    let Some(candidate) = candidates.iter().find(|c| c.user_id == owner.user_id) else {
        return Err(passed_over("is not on the team"));
    };
    if let Some(reason) = candidate.ineligibility() {
        return Err(passed_over(&format!("is {}", reason.label())));
    }
    if candidate.already_held {
        return Err(passed_over("held it earlier in its SLA chain"));
    }
    if settings.respect_working_hours
        && let Some(held) = candidate.held_back(at)
    {
        return Err(format!("{}, but {}", owner.describe(), held.note));
    }
    let team: HashMap<&str, &Candidate> =
        candidates.iter().map(|c| (c.user_id.as_str(), c)).collect();
    let eligible = vec![owner.user_id.clone()];
    let (pool, sla) = match regular {
        Plan::Pick(p) => (p.pool.clone(), p.sla),
        Plan::Held { pool, .. } => (pool.clone(), settings.sla_of(rule_of(pool))),
        Plan::Off | Plan::NoCandidates { .. } => (super::Pool::Rotation, settings.sla_of(None)),
    };
    Ok(PoolPlan {
        pool,
        strategy: Strategy::RoundRobin,
        weights: None,
        caps: caps_of(settings, &team, &eligible, at),
        back_at: None,
        eligible,
        skipped: Vec::new(),
        fallback_used: false,
        notes: vec![owner.describe()],
        sla,
        preferred_owner: true,
    })
}

/// The rule name of a pool, for its SLA.
fn rule_of(pool: &super::Pool) -> Option<&str> {
    match pool {
        super::Pool::Rule(name) => Some(name),
        super::Pool::Rotation | super::Pool::Team => None,
    }
}

/// The sentence that says the owner was at a cap (`None`: the state store
/// did not say which).
pub fn capped_note(owner: &PreferredOwner, hit: Option<CapHit>) -> String {
    let which = match hit {
        Some(CapHit::Open { open, max }) => format!(": {open} of {max} open leads"),
        Some(CapHit::Day { today, max }) => format!(": {today} of {max} new leads today"),
        None => String::new(),
    };
    format!(
        "{}, but {} is at their cap{which}",
        owner.describe(),
        owner.user_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn owner(user: &str, by: MatchKind, created: &str) -> PreferredOwner {
        PreferredOwner {
            user_id: user.into(),
            by,
            lead_id: format!("lead-of-{user}"),
            lead_created_at: utc(created),
        }
    }

    #[test]
    fn the_newest_allowed_match_within_the_lookback_wins() {
        let at = utc("2026-06-01T12:00:00Z");
        let owners = [
            owner("ana", MatchKind::Email, "2026-05-01T00:00:00Z"),
            owner("ben", MatchKind::Domain, "2026-05-30T00:00:00Z"),
        ];
        let both = Sticky {
            match_email: true,
            match_domain: true,
            lookback_days: 0,
        };
        assert_eq!(preferred(Some(&both), &owners, at).unwrap().user_id, "ben");
        let email_only = Sticky {
            match_domain: false,
            ..both
        };
        assert_eq!(
            preferred(Some(&email_only), &owners, at).unwrap().user_id,
            "ana"
        );
        let recent = Sticky {
            lookback_days: 10,
            ..email_only
        };
        assert_eq!(
            preferred(Some(&recent), &owners, at),
            None,
            "ana's is 31 days old"
        );
        assert_eq!(preferred(None, &owners, at), None);
        assert_eq!(preferred(Some(&Sticky::default()), &owners, at), None);
    }
}
