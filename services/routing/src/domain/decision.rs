//! Who may get this lead, and who gets it: the one routing decision, as
//! plain functions of settings, team snapshot, lead and routing state.
//!
//! A decision has two halves, each written once here:
//! - [`plan`] turns settings, the team snapshot and the lead into the eligible
//!   pool in rotation order (ascending user id) plus who was skipped and why
//!   (rule matching, eligibility, fallback);
//! - [`choose`] picks the rep of that pool from the pool's cursor and the
//!   open-lead counts (round robin or balanced by workload).
//!
//! [`decide`] is both halves over a [`Snapshot`] of the state: SimulateRouting
//! calls it (through [`dry_run`]) and the memory state store calls
//! [`choose`]. Live RouteLead calls [`plan`] and hands the pool to the state
//! store, which must choose atomically with moving the cursor: the memory
//! store with [`choose`], Redis in `scripts/pick.lua` (the same rule in Lua;
//! a conformance suite checks that both agree).
//!
//! The order of precedence, from the guides:
//! 1. routing off → nobody (ROUTING_OFF);
//! 2. the first rule matching the lead's source/tags, over its eligible people;
//! 3. a matching rule with nobody eligible falls through to the default pool:
//!    the rotation, or the whole team when the rotation is empty;
//! 4. a rotation with nobody eligible falls back to the whole eligible team
//!    (`fallback_used`);
//! 5. nobody eligible at all → NO_CANDIDATES.
//!
//! Eligible means active, available and sales-capable. Accounting never is.

use std::collections::HashMap;

use leadflow_auth::Role;
use leadflow_proto::common::v1::LeadSource;

use caps::caps_of;
pub use caps::{cap_note, held_by_caps, routed_today};
pub use choice::{
    Cap, CapHit, CappedChoice, Choice, PoolState, choose, choose_in, choose_under_caps,
    next_round_robin, pick_balanced, smooth_weighted,
};
#[cfg(test)]
use explain::some_of;
pub use explain::{EXPLAINED_PEOPLE, explain};

use chrono::{DateTime, Utc};
use leadflow_schedule::{Availability, Schedule};

use super::settings::{Settings, Sla, Strategy, Weights};

/// One team member as the leads service saw them when it asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidate {
    /// Who this is: what a decision assigns and a rule or rotation lists.
    pub user_id: String,
    /// `None`: a role routing does not know (treated as not sales-capable).
    pub role: Option<Role>,
    /// Deactivated members (`false`) are never routed a lead.
    pub active: bool,
    /// Members marked away (`false`) are skipped until they are back.
    pub available: bool,
    /// Their working hours and time off, from the directory (`None`: any
    /// time); read only when the settings respect working hours.
    pub schedule: Option<Schedule>,
    /// They held this lead earlier in its SLA chain, so it does not go back
    /// to them (RouteLeadRequest.exclude_user_ids).
    pub already_held: bool,
}

impl Candidate {
    fn sales_capable(&self) -> bool {
        self.role.is_some_and(Role::is_sales_capable)
    }

    /// Why this person cannot take a lead now, if they cannot.
    fn ineligibility(&self) -> Option<SkipReason> {
        if !self.sales_capable() {
            Some(SkipReason::NotSalesCapable)
        } else if !self.active {
            Some(SkipReason::Inactive)
        } else if !self.available {
            Some(SkipReason::Unavailable)
        } else {
            None
        }
    }

    /// Why this eligible person cannot take a lead at `at` (off shift, on
    /// time off), and when they next can.
    fn held_back(&self, at: DateTime<Utc>) -> Option<HeldBack> {
        let schedule = self.schedule.as_ref()?;
        let (reason, next) = match schedule.availability(at) {
            Availability::On { .. } => return None,
            Availability::OffShift { next } => (SkipReason::OffShift, next),
            Availability::TimeOff { next } => (SkipReason::TimeOff, next),
        };
        let note = match next {
            Some(next) => format!(
                "{} {} until {}",
                self.user_id,
                reason.label(),
                schedule.local_clock(next)
            ),
            None => format!("{} {} for the next year", self.user_id, reason.label()),
        };
        Some(HeldBack { reason, next, note })
    }
}

/// Someone who could take the lead, but not at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldBack {
    /// Off shift or on time off.
    reason: SkipReason,
    /// When they may next take a lead (`None`: not within the horizon).
    next: Option<DateTime<Utc>>,
    /// For the explanation: "ana off shift until 09:00 America/New_York".
    note: String,
}

/// Why someone in a pool was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Deactivated.
    Inactive,
    /// Marked away.
    Unavailable,
    /// Accounting, or a role routing does not know.
    NotSalesCapable,
    /// Picked in the settings but not in the team snapshot.
    NotAMember,
    /// At their cap of open leads or of routed leads today.
    Capped,
    /// Outside their working hours (only when the settings respect them).
    OffShift,
    /// On time off (only when the settings respect working hours).
    TimeOff,
    /// Held the lead earlier in its SLA chain.
    AlreadyHeld,
}

impl SkipReason {
    fn label(self) -> &'static str {
        match self {
            SkipReason::Inactive => "inactive",
            SkipReason::Unavailable => "away",
            SkipReason::NotSalesCapable => "not sales-capable",
            SkipReason::NotAMember => "not on the team",
            SkipReason::Capped => "at their cap",
            SkipReason::OffShift => "off shift",
            SkipReason::TimeOff => "on time off",
            SkipReason::AlreadyHeld => "held it before",
        }
    }
}

/// The pool a pick comes from. Each pool keeps its own round-robin cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The people of the named rule.
    Rule(String),
    /// The saved rotation.
    Rotation,
    /// The whole active, available, sales-capable team.
    Team,
}

impl Pool {
    /// The stable key of the pool's cursor.
    pub fn key(&self) -> String {
        match self {
            Pool::Rule(name) => format!("rule:{name}"),
            Pool::Rotation => "rotation".into(),
            Pool::Team => "team".into(),
        }
    }

    /// The rule name a decision reports: the rule's, or `default`.
    pub fn rule_name(&self) -> &str {
        match self {
            Pool::Rule(name) => name,
            Pool::Rotation | Pool::Team => "default",
        }
    }
}

/// What routing will do with a lead, before the state store picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Routing is off: the lead stays unassigned.
    Off,
    /// Nobody can take the lead now.
    NoCandidates {
        /// Everyone passed over, and why, for the explanation.
        skipped: Vec<(String, SkipReason)>,
        /// How routing got here, for the explanation.
        notes: Vec<String>,
    },
    /// Someone of this pool gets the lead.
    Pick(PoolPlan),
    /// Someone of this pool could take the lead, but nobody now: it waits.
    Held {
        /// The pool that holds it.
        pool: Pool,
        /// The earliest moment someone of the pool may take it.
        retry_at: Option<DateTime<Utc>>,
        /// Everyone passed over, and why.
        skipped: Vec<(String, SkipReason)>,
        /// How routing got here, and when each held-back rep is back.
        notes: Vec<String>,
    },
}

impl Plan {
    /// The plan once the state store checked the caps: held when everyone
    /// on shift was capped (`picked` false), otherwise the same pick with
    /// the capped reps among the skipped and named in the explanation.
    pub fn after_caps(self, capped: &[(&str, CapHit)], picked: bool) -> Plan {
        match self {
            Plan::Pick(pool) if !picked => held_by_caps(&pool, capped),
            Plan::Pick(mut pool) if !capped.is_empty() => {
                let caps = pool.caps.clone().unwrap_or_default();
                for &(id, hit) in capped {
                    let cap = pool
                        .eligible
                        .iter()
                        .position(|e| e == id)
                        .and_then(|i| caps.get(i));
                    pool.notes.push(cap_note(id, hit, cap));
                    pool.skipped.push((id.to_owned(), SkipReason::Capped));
                }
                Plan::Pick(pool)
            }
            other => other,
        }
    }

    /// The same plan with `note` first in its explanation (a returning
    /// contact's owner passed over, say).
    pub fn with_note(mut self, note: String) -> Plan {
        match &mut self {
            Plan::Pick(pool) => pool.notes.insert(0, note),
            Plan::Held { notes, .. } | Plan::NoCandidates { notes, .. } => notes.insert(0, note),
            Plan::Off => {}
        }
        self
    }

    /// The pool to pick from, if anyone can take the lead.
    pub fn pool(&self) -> Option<&PoolPlan> {
        match self {
            Plan::Pick(pool) => Some(pool),
            Plan::Off | Plan::NoCandidates { .. } | Plan::Held { .. } => None,
        }
    }
}

/// A non-empty pool to pick from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    /// Which pool, and so which round-robin cursor.
    pub pool: Pool,
    /// How the pool's rep is chosen (the rule's, or the settings' strategy).
    pub strategy: Strategy,
    /// Eligible user ids, ascending (the rotation order).
    pub eligible: Vec<String>,
    /// Each eligible rep's weight, in `eligible`'s order; `None` when the
    /// pool has no weights (plain round robin, plain balancing).
    pub weights: Option<Vec<u32>>,
    /// Each eligible rep's caps, in `eligible`'s order; `None` when the
    /// settings cap nobody (no cap check at all).
    pub caps: Option<Vec<Cap>>,
    /// When the first of the pool's off-shift reps is back (for a HELD
    /// answer's `retry_at` when everyone on shift is capped).
    pub back_at: Option<DateTime<Utc>>,
    /// People of the pools considered who were passed over.
    pub skipped: Vec<(String, SkipReason)>,
    /// The rotation had nobody eligible, so the whole team was used.
    pub fallback_used: bool,
    /// How the pool was reached, for the explanation.
    pub notes: Vec<String>,
    /// The SLA of leads routed from this pool, if one runs.
    pub sla: Option<Sla>,
    /// A returning contact's own rep ([`sticky`]): a one-rep pool with a
    /// cursor of its own, so no pool's cursor moves.
    pub preferred_owner: bool,
}

/// A pool's people at one moment: who can take the lead now, and who could
/// but not now.
struct Standing {
    /// Eligible now, ascending.
    eligible: Vec<String>,
    /// Eligible but off shift or on time off.
    held_back: Vec<HeldBack>,
}

impl Standing {
    /// When the first held-back rep is back.
    fn back_at(&self) -> Option<DateTime<Utc>> {
        self.held_back.iter().filter_map(|h| h.next).min()
    }

    /// Nobody now, but someone later: the lead waits for the first of them.
    fn hold(self, pool: Pool, skipped: Vec<(String, SkipReason)>, mut notes: Vec<String>) -> Plan {
        let retry_at = self.held_back.iter().filter_map(|h| h.next).min();
        notes.extend(self.held_back.into_iter().map(|h| h.note));
        Plan::Held {
            pool,
            retry_at,
            skipped,
            notes,
        }
    }
}

/// Splits `people` into the eligible now (ascending), the held back (when
/// `hours` gives the moment working hours are checked at) and the skipped.
fn standing_among<'a>(
    people: impl IntoIterator<Item = &'a str>,
    team: &HashMap<&str, &Candidate>,
    hours: Option<DateTime<Utc>>,
    skipped: &mut Vec<(String, SkipReason)>,
) -> Standing {
    let mut eligible = Vec::new();
    let mut held_back = Vec::new();
    for id in people {
        let Some(candidate) = team.get(id) else {
            skipped.push((id.to_owned(), SkipReason::NotAMember));
            continue;
        };
        if let Some(reason) = candidate.ineligibility() {
            skipped.push((id.to_owned(), reason));
        } else if candidate.already_held {
            // Not a reason to fall through to another pool: an SLA chain
            // that ran out of its pool's people escalates instead.
            skipped.push((id.to_owned(), SkipReason::AlreadyHeld));
            held_back.push(HeldBack {
                reason: SkipReason::AlreadyHeld,
                next: None,
                note: format!("{id} held it earlier in its SLA chain"),
            });
        } else if let Some(held) = hours.and_then(|at| candidate.held_back(at)) {
            skipped.push((id.to_owned(), held.reason));
            held_back.push(held);
        } else {
            eligible.push(id.to_owned());
        }
    }
    eligible.sort();
    eligible.dedup();
    Standing {
        eligible,
        held_back,
    }
}

/// The weights of `eligible` from `weights` (1 for anyone not listed);
/// `None` when the pool has none.
fn weights_of(weights: &Weights, eligible: &[String]) -> Option<Vec<u32>> {
    (!weights.is_empty()).then(|| {
        eligible
            .iter()
            .map(|id| weights.get(id).copied().unwrap_or(1))
            .collect()
    })
}

/// Decides which pool a lead goes to, at the instant `at` (working hours and
/// time off are checked then, when the settings respect them).
///
/// Off shift and on time off hold a pool; they never fall through to the
/// next pool, which would break the rule's or the rotation's intent. Only a
/// pool with nobody who could take the lead at all (inactive, away, not
/// sales-capable) falls through, as without working hours.
pub fn plan(
    settings: &Settings,
    candidates: &[Candidate],
    source: LeadSource,
    tags: &[String],
    at: DateTime<Utc>,
) -> Plan {
    if !settings.enabled {
        return Plan::Off;
    }
    let hours = settings.respect_working_hours.then_some(at);
    let default_strategy = settings.strategy.unwrap_or(Strategy::RoundRobin);
    let team: HashMap<&str, &Candidate> =
        candidates.iter().map(|c| (c.user_id.as_str(), c)).collect();
    let mut skipped = Vec::new();
    let mut notes = Vec::new();

    if let Some(rule) = settings.rules.iter().find(|r| r.matches(source, tags)) {
        let people = rule.user_ids.iter().map(String::as_str);
        let standing = standing_among(people, &team, hours, &mut skipped);
        let pool = Pool::Rule(rule.name.clone());
        if !standing.eligible.is_empty() {
            notes.push(format!("rule {:?} matched", rule.name));
            return Plan::Pick(PoolPlan {
                pool,
                strategy: rule.strategy.unwrap_or(default_strategy),
                weights: weights_of(&rule.weights, &standing.eligible),
                caps: caps_of(settings, &team, &standing.eligible, at),
                back_at: standing.back_at(),
                eligible: standing.eligible,
                skipped,
                fallback_used: false,
                notes,
                sla: settings.sla_of(Some(&rule.name)),
                preferred_owner: false,
            });
        }
        if !standing.held_back.is_empty() {
            notes.push(format!(
                "rule {:?} matched but nobody in it can take leads right now",
                rule.name
            ));
            return standing.hold(pool, skipped, notes);
        }
        notes.push(format!(
            "rule {:?} matched but nobody in it can take leads now, so the default rotation applies",
            rule.name
        ));
    }

    if !settings.rotation_user_ids.is_empty() {
        let people = settings.rotation_user_ids.iter().map(String::as_str);
        let standing = standing_among(people, &team, hours, &mut skipped);
        if !standing.eligible.is_empty() {
            return Plan::Pick(PoolPlan {
                pool: Pool::Rotation,
                strategy: default_strategy,
                weights: weights_of(&settings.weights, &standing.eligible),
                caps: caps_of(settings, &team, &standing.eligible, at),
                back_at: standing.back_at(),
                eligible: standing.eligible,
                skipped,
                fallback_used: false,
                notes,
                sla: settings.sla_of(None),
                preferred_owner: false,
            });
        }
        if !standing.held_back.is_empty() {
            notes.push("nobody in the rotation can take leads right now".into());
            return standing.hold(Pool::Rotation, skipped, notes);
        }
        notes.push("nobody in the rotation can take leads now, so the whole team is used".into());
    }

    // The whole team: sales-capable members only; accounting never appears.
    let capable = candidates
        .iter()
        .filter(|c| c.sales_capable())
        .map(|c| c.user_id.as_str());
    let mut team_skipped = Vec::new();
    let standing = standing_among(capable, &team, hours, &mut team_skipped);
    for entry in team_skipped {
        if !skipped.contains(&entry) {
            skipped.push(entry);
        }
    }
    if standing.eligible.is_empty() {
        if !standing.held_back.is_empty() {
            notes.push("nobody on the sales team can take leads right now".into());
            return standing.hold(Pool::Team, skipped, notes);
        }
        notes.push("no sales-capable team member is active and available".into());
        return Plan::NoCandidates { skipped, notes };
    }
    Plan::Pick(PoolPlan {
        pool: Pool::Team,
        strategy: default_strategy,
        weights: weights_of(&settings.weights, &standing.eligible),
        caps: caps_of(settings, &team, &standing.eligible, at),
        back_at: standing.back_at(),
        eligible: standing.eligible,
        skipped,
        fallback_used: !settings.rotation_user_ids.is_empty(),
        notes,
        sla: settings.sla_of(None),
        preferred_owner: false,
    })
}

/// The part of the routing state a decision reads: every pool's cursor,
/// every rep's open-lead count and the weighted pools' current weights (a
/// copy for a dry run, the memory store's own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Pool key ([`Pool::key`]) -> the last user id assigned from it.
    pub cursors: HashMap<String, String>,
    /// User id -> open leads; reps with none are absent.
    pub load: HashMap<String, i64>,
    /// Pool key -> user id -> smooth-weighted current weight.
    pub current: HashMap<String, HashMap<String, i64>>,
    /// [`Cap::daily_key`] -> leads routed to that rep on that local day.
    pub daily: HashMap<String, i64>,
}

impl Snapshot {
    /// The cursor of the pool `key`, if it assigned anyone yet.
    pub fn cursor(&self, key: &str) -> Option<&str> {
        self.cursors.get(key).map(String::as_str)
    }

    /// What a choice from the pool `key` reads.
    pub fn pool(&self, key: &str) -> PoolState<'_> {
        PoolState {
            cursor: self.cursor(key),
            load: &self.load,
            current: self.current.get(key),
            daily: Some(&self.daily),
        }
    }

    /// Counts a routed lead for `user_id` on their local `day`.
    pub fn count_day(&mut self, user_id: &str, day: &str) {
        *self.daily.entry(Cap::daily_key(user_id, day)).or_default() += 1;
    }

    /// Moves the pool's cursor to the rep just assigned.
    pub fn advance(&mut self, key: &str, assignee: &str) {
        self.cursors.insert(key.to_owned(), assignee.to_owned());
    }

    /// Records a choice from the pool `key`: its cursor and current weights.
    pub fn record(&mut self, key: &str, choice: &Choice<'_>) {
        self.advance(key, choice.assignee);
        if !choice.current.is_empty() {
            let pool = self.current.entry(key.to_owned()).or_default();
            for &(id, weight) in &choice.current {
                pool.insert(id.to_owned(), weight);
            }
        }
    }

    /// Changes a rep's open-lead count; one at zero is forgotten.
    pub fn count(&mut self, user_id: &str, delta: i64) {
        let count = self.load.entry(user_id.to_owned()).or_default();
        *count += delta;
        if *count <= 0 {
            self.load.remove(user_id);
        }
    }
}

/// The lead a decision is about: what rules match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// Where the lead came from (rules match on it).
    pub source: LeadSource,
    /// The lead's tags, trimmed (rules match on any of them).
    pub tags: Vec<String>,
}

/// A whole routing decision: the plan and, when it has a pool, its rep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Which pool, who was skipped and why; what the explanation tells.
    pub plan: Plan,
    /// Who gets the lead: `Some` exactly when the plan is [`Plan::Pick`].
    pub assignee: Option<String>,
}

impl Decision {
    /// A decision whose rep (if any) was chosen elsewhere: by the state store,
    /// atomically with moving its cursor.
    pub fn new(plan: Plan, assignee: Option<String>) -> Self {
        Decision { plan, assignee }
    }
}

/// The routing decision for `lead`, given the routing state `state`:
/// [`plan`], then [`choose_in`] from the pool's state.
pub fn decide(
    settings: &Settings,
    candidates: &[Candidate],
    lead: &Lead,
    state: &Snapshot,
    at: DateTime<Utc>,
) -> Decision {
    decide_and_record(settings, candidates, lead, &mut state.clone(), at)
}

/// [`decide`], recording the pick in `state` (cursor, count, current
/// weights) as the live state would.
fn decide_and_record(
    settings: &Settings,
    candidates: &[Candidate],
    lead: &Lead,
    state: &mut Snapshot,
    at: DateTime<Utc>,
) -> Decision {
    let plan = plan(settings, candidates, lead.source, &lead.tags, at);
    let Some(p) = plan.pool() else {
        return Decision {
            plan,
            assignee: None,
        };
    };
    let key = p.pool.key();
    let caps = p.caps.as_deref();
    let capped = choose_under_caps(
        p.strategy,
        &p.eligible,
        p.weights.as_deref(),
        caps,
        state.pool(&key),
    );
    let hits: Vec<(String, CapHit)> = capped
        .capped
        .iter()
        .map(|&(id, hit)| (id.to_owned(), hit))
        .collect();
    let assignee = capped.choice.map(|choice| {
        let assignee = choice.assignee.to_owned();
        let day = caps.and_then(|c| {
            p.eligible
                .iter()
                .position(|e| *e == assignee)
                .map(|i| c[i].day.clone())
        });
        state.record(&key, &choice);
        state.count(&assignee, 1);
        if let Some(day) = day {
            state.count_day(&assignee, &day);
        }
        assignee
    });
    let hits: Vec<(&str, CapHit)> = hits.iter().map(|(id, hit)| (id.as_str(), *hit)).collect();
    let picked = assignee.is_some();
    Decision {
        plan: plan.after_caps(&hits, picked),
        assignee,
    }
}

/// Decides `leads` one after the other over the scratch state `state`, each
/// pick moving its pool's cursor (and current weights) and counting one open
/// lead, as the live state would: what SimulateRouting shows.
pub fn dry_run(
    settings: &Settings,
    candidates: &[Candidate],
    leads: &[Lead],
    state: &mut Snapshot,
    at: DateTime<Utc>,
) -> Vec<Decision> {
    leads
        .iter()
        .map(|lead| decide_and_record(settings, candidates, lead, state, at))
        .collect()
}

mod caps;
mod choice;
mod explain;
pub mod sticky;
#[cfg(test)]
mod tests;
