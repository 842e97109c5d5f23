//! Who may get this lead, and who gets it: routing decisions as plain functions.
//!
//! [`plan`] turns settings, the team snapshot and the lead into the eligible
//! pool in rotation order (ascending user id) plus who was skipped and why.
//! The state store then picks from that pool atomically ([`next_round_robin`]
//! and [`pick_balanced`] are the rules; the Redis Lua scripts implement the
//! same rules, and a conformance suite checks that both agree).
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

use super::settings::{Settings, Strategy};

/// One team member as the leads service saw them when it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: String,
    /// `None`: a role routing does not know (treated as not sales-capable).
    pub role: Option<Role>,
    pub active: bool,
    pub available: bool,
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
}

/// Why someone in a pool was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    Inactive,
    Unavailable,
    NotSalesCapable,
    /// Picked in the settings but not in the team snapshot.
    NotAMember,
}

impl SkipReason {
    fn label(self) -> &'static str {
        match self {
            SkipReason::Inactive => "inactive",
            SkipReason::Unavailable => "away",
            SkipReason::NotSalesCapable => "not sales-capable",
            SkipReason::NotAMember => "not on the team",
        }
    }
}

/// The pool a pick comes from. Each pool keeps its own round-robin cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pool {
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
    Off,
    NoCandidates {
        skipped: Vec<(String, SkipReason)>,
        notes: Vec<String>,
    },
    Pick(PoolPlan),
}

/// A non-empty pool to pick from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    pub pool: Pool,
    pub strategy: Strategy,
    /// Eligible user ids, ascending (the rotation order).
    pub eligible: Vec<String>,
    /// People of the pools considered who were passed over.
    pub skipped: Vec<(String, SkipReason)>,
    pub fallback_used: bool,
    /// How the pool was reached, for the explanation.
    pub notes: Vec<String>,
}

/// Splits `people` into the eligible (ascending) and the skipped.
fn eligible_among<'a>(
    people: impl IntoIterator<Item = &'a str>,
    team: &HashMap<&str, &Candidate>,
    skipped: &mut Vec<(String, SkipReason)>,
) -> Vec<String> {
    let mut eligible = Vec::new();
    for id in people {
        match team.get(id).map(|c| c.ineligibility()) {
            Some(None) => eligible.push(id.to_owned()),
            Some(Some(reason)) => skipped.push((id.to_owned(), reason)),
            None => skipped.push((id.to_owned(), SkipReason::NotAMember)),
        }
    }
    eligible.sort();
    eligible.dedup();
    eligible
}

/// Decides which pool a lead goes to.
pub fn plan(
    settings: &Settings,
    candidates: &[Candidate],
    source: LeadSource,
    tags: &[String],
) -> Plan {
    if !settings.enabled {
        return Plan::Off;
    }
    let default_strategy = settings.strategy.unwrap_or(Strategy::RoundRobin);
    let team: HashMap<&str, &Candidate> =
        candidates.iter().map(|c| (c.user_id.as_str(), c)).collect();
    let mut skipped = Vec::new();
    let mut notes = Vec::new();

    if let Some(rule) = settings.rules.iter().find(|r| r.matches(source, tags)) {
        let eligible = eligible_among(
            rule.user_ids.iter().map(String::as_str),
            &team,
            &mut skipped,
        );
        if !eligible.is_empty() {
            notes.push(format!("rule {:?} matched", rule.name));
            return Plan::Pick(PoolPlan {
                pool: Pool::Rule(rule.name.clone()),
                strategy: rule.strategy.unwrap_or(default_strategy),
                eligible,
                skipped,
                fallback_used: false,
                notes,
            });
        }
        notes.push(format!(
            "rule {:?} matched but nobody in it can take leads now, so the default rotation applies",
            rule.name
        ));
    }

    if !settings.rotation_user_ids.is_empty() {
        let eligible = eligible_among(
            settings.rotation_user_ids.iter().map(String::as_str),
            &team,
            &mut skipped,
        );
        if !eligible.is_empty() {
            return Plan::Pick(PoolPlan {
                pool: Pool::Rotation,
                strategy: default_strategy,
                eligible,
                skipped,
                fallback_used: false,
                notes,
            });
        }
        notes.push("nobody in the rotation can take leads now, so the whole team is used".into());
    }

    // The whole team: sales-capable members only; accounting never appears.
    let capable = candidates
        .iter()
        .filter(|c| c.sales_capable())
        .map(|c| c.user_id.as_str());
    let mut team_skipped = Vec::new();
    let eligible = eligible_among(capable, &team, &mut team_skipped);
    for entry in team_skipped {
        if !skipped.contains(&entry) {
            skipped.push(entry);
        }
    }
    if eligible.is_empty() {
        notes.push("no sales-capable team member is active and available".into());
        return Plan::NoCandidates { skipped, notes };
    }
    Plan::Pick(PoolPlan {
        pool: Pool::Team,
        strategy: default_strategy,
        eligible,
        skipped,
        fallback_used: !settings.rotation_user_ids.is_empty(),
        notes,
    })
}

/// Round robin: the smallest eligible id after the pool's cursor (the last
/// assigned id), wrapping around. Because the cursor is an id, not an index,
/// people joining or leaving (even the one it names) skip or repeat no one.
/// `eligible` must be ascending and non-empty.
pub fn next_round_robin<'a>(eligible: &'a [String], cursor: Option<&str>) -> &'a str {
    cursor
        .and_then(|last| eligible.iter().find(|id| id.as_str() > last))
        .unwrap_or(&eligible[0])
}

/// Balanced by workload: the fewest open leads wins; ties go to the first in
/// rotation order after the pool's cursor, so the same rep is not always
/// favoured. `eligible` must be ascending and non-empty.
pub fn pick_balanced<'a>(
    eligible: &'a [String],
    load: &HashMap<String, i64>,
    cursor: Option<&str>,
) -> &'a str {
    let start = cursor
        .and_then(|last| eligible.iter().position(|id| id.as_str() > last))
        .unwrap_or(0);
    let count = |id: &String| load.get(id).copied().unwrap_or(0);
    let min = eligible.iter().map(count).min().unwrap_or(0);
    (0..eligible.len())
        .map(|i| &eligible[(start + i) % eligible.len()])
        .find(|id| count(id) == min)
        .expect("a non-empty pool has a least-loaded rep")
}

/// A sentence an operator can read: why this lead went (or did not go) to whom.
pub fn explain(plan: &Plan, assignee: Option<&str>) -> String {
    match plan {
        Plan::Off => "routing is off, so the lead stays unassigned".into(),
        Plan::NoCandidates { skipped, notes } => {
            let mut text = format!("nobody could take the lead: {}", notes.join("; "));
            append_skipped(&mut text, skipped);
            text
        }
        Plan::Pick(p) => {
            let pool = match &p.pool {
                Pool::Rule(name) => format!("rule {name:?}"),
                Pool::Rotation => "the rotation".into(),
                Pool::Team => "the whole sales team".into(),
            };
            let mut text = format!(
                "{} over {} ({}): assigned to {}",
                p.strategy.label(),
                pool,
                some_of(p.eligible.iter().cloned(), p.eligible.len()),
                assignee.unwrap_or("nobody")
            );
            if !p.notes.is_empty() {
                text = format!("{}; {text}", p.notes.join("; "));
            }
            if p.fallback_used {
                text.push_str(" (fallback to the whole team)");
            }
            append_skipped(&mut text, &p.skipped);
            text
        }
    }
}

/// People an explanation names at most; the rest are counted. The
/// explanation is stored in each lead's history, and a team of thousands
/// must not make every history row hundreds of kilobytes.
pub const EXPLAINED_PEOPLE: usize = 20;

/// "a, b, c" or "a, b, … and 980 more".
fn some_of(items: impl Iterator<Item = String>, total: usize) -> String {
    let shown: Vec<String> = items.take(EXPLAINED_PEOPLE).collect();
    match total.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn append_skipped(text: &mut String, skipped: &[(String, SkipReason)]) {
    if !skipped.is_empty() {
        let list = some_of(
            skipped
                .iter()
                .map(|(id, r)| format!("{id} ({})", r.label())),
            skipped.len(),
        );
        text.push_str(&format!("; skipped {list}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::Rule;

    #[test]
    fn an_explanation_names_twenty_people_and_counts_the_rest() {
        let many = (0..1_000).map(|i| format!("u{i:04}"));
        let text = some_of(many, 1_000);
        assert!(text.starts_with("u0000, u0001,"));
        assert!(text.ends_with("u0019 and 980 more"), "{text}");
        assert_eq!(some_of(["a".to_owned()].into_iter(), 1), "a");
    }

    fn rep(id: &str) -> Candidate {
        Candidate {
            user_id: id.into(),
            role: Some(Role::Sales),
            active: true,
            available: true,
        }
    }

    fn team() -> Vec<Candidate> {
        vec![
            rep("ana"),
            rep("ben"),
            Candidate {
                active: false,
                ..rep("carl")
            },
            Candidate {
                available: false,
                ..rep("dora")
            },
            Candidate {
                role: Some(Role::Accounting),
                ..rep("eve")
            },
            Candidate {
                role: Some(Role::Manager),
                ..rep("mia")
            },
        ]
    }

    fn on(strategy: Strategy) -> Settings {
        Settings {
            enabled: true,
            strategy: Some(strategy),
            ..Settings::default()
        }
    }

    fn pool(plan: &Plan) -> &PoolPlan {
        match plan {
            Plan::Pick(p) => p,
            other => panic!("expected a pool, got {other:?}"),
        }
    }

    #[test]
    fn routing_off_routes_nothing() {
        assert_eq!(
            plan(&Settings::default(), &team(), LeadSource::Website, &[]),
            Plan::Off
        );
    }

    #[test]
    fn an_empty_rotation_is_the_whole_active_sales_capable_team_without_accounting() {
        let p = plan(&on(Strategy::RoundRobin), &team(), LeadSource::Website, &[]);
        let p = pool(&p);
        assert_eq!(p.pool, Pool::Team);
        assert_eq!(p.eligible, ["ana", "ben", "mia"]);
        assert!(!p.fallback_used);
        assert!(
            p.skipped.iter().all(|(id, _)| id != "eve"),
            "accounting never appears"
        );
        assert!(p.skipped.contains(&("carl".into(), SkipReason::Inactive)));
        assert!(
            p.skipped
                .contains(&("dora".into(), SkipReason::Unavailable))
        );
    }

    #[test]
    fn inactive_and_away_picks_are_skipped() {
        let settings = Settings {
            rotation_user_ids: vec!["carl".into(), "ben".into(), "dora".into()],
            ..on(Strategy::RoundRobin)
        };
        let p = plan(&settings, &team(), LeadSource::Website, &[]);
        let p = pool(&p);
        assert_eq!(
            (p.pool.clone(), p.eligible.clone()),
            (Pool::Rotation, vec!["ben".to_owned()])
        );
        assert_eq!(
            p.skipped,
            [
                ("carl".into(), SkipReason::Inactive),
                ("dora".into(), SkipReason::Unavailable)
            ]
        );
    }

    #[test]
    fn when_every_pick_is_inactive_routing_falls_back_to_the_whole_team() {
        let settings = Settings {
            rotation_user_ids: vec!["carl".into(), "gone".into()],
            ..on(Strategy::RoundRobin)
        };
        let p = plan(&settings, &team(), LeadSource::Website, &[]);
        let p = pool(&p);
        assert_eq!(p.pool, Pool::Team);
        assert!(p.fallback_used);
        assert_eq!(p.eligible, ["ana", "ben", "mia"]);
        assert!(p.skipped.contains(&("gone".into(), SkipReason::NotAMember)));
    }

    #[test]
    fn source_rules_send_facebook_to_a_and_google_to_b() {
        let rule = |name: &str, source, who: &str| Rule {
            name: name.into(),
            sources: vec![source],
            tags: vec![],
            user_ids: vec![who.into()],
            strategy: None,
        };
        let settings = Settings {
            rules: vec![
                rule("facebook", LeadSource::Facebook, "ana"),
                rule("google", LeadSource::Google, "ben"),
            ],
            ..on(Strategy::RoundRobin)
        };
        let fb = plan(&settings, &team(), LeadSource::Facebook, &[]);
        assert_eq!(
            (pool(&fb).pool.rule_name(), pool(&fb).eligible.clone()),
            ("facebook", vec!["ana".to_owned()])
        );
        let g = plan(&settings, &team(), LeadSource::Google, &[]);
        assert_eq!(pool(&g).eligible, ["ben"]);
        let web = plan(&settings, &team(), LeadSource::Website, &[]);
        assert_eq!(pool(&web).pool.rule_name(), "default");
    }

    #[test]
    fn the_first_matching_rule_wins_and_an_empty_rule_falls_through_to_the_default() {
        let settings = Settings {
            rules: vec![
                Rule {
                    name: "vip".into(),
                    sources: vec![],
                    tags: vec!["vip".into()],
                    user_ids: vec!["carl".into()],
                    strategy: None,
                },
                Rule {
                    name: "all".into(),
                    sources: vec![],
                    tags: vec![],
                    user_ids: vec!["ana".into()],
                    strategy: None,
                },
            ],
            rotation_user_ids: vec!["ben".into()],
            ..on(Strategy::RoundRobin)
        };
        // vip matches first, but carl is inactive: the default rotation, not rule "all".
        let p = plan(&settings, &team(), LeadSource::Website, &["vip".into()]);
        assert_eq!(
            (pool(&p).pool.clone(), pool(&p).eligible.clone()),
            (Pool::Rotation, vec!["ben".to_owned()])
        );
        assert!(explain(&p, Some("ben")).contains("rule \"vip\" matched but nobody"));
    }

    #[test]
    fn nobody_eligible_is_no_candidates() {
        let team = vec![
            Candidate {
                active: false,
                ..rep("carl")
            },
            Candidate {
                role: Some(Role::Accounting),
                ..rep("eve")
            },
        ];
        assert!(matches!(
            plan(&on(Strategy::RoundRobin), &team, LeadSource::Website, &[]),
            Plan::NoCandidates { .. }
        ));
        assert!(matches!(
            plan(&on(Strategy::RoundRobin), &[], LeadSource::Website, &[]),
            Plan::NoCandidates { .. }
        ));
    }

    #[test]
    fn round_robin_follows_the_cursor_and_survives_people_joining_and_leaving() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pool = ids(&["ana", "ben", "dora"]);
        assert_eq!(next_round_robin(&pool, None), "ana");
        assert_eq!(next_round_robin(&pool, Some("ana")), "ben");
        assert_eq!(next_round_robin(&pool, Some("dora")), "ana", "wraps around");
        // ben (the cursor) left: the next after him is still dora, nobody repeats.
        assert_eq!(
            next_round_robin(&ids(&["ana", "dora"]), Some("ben")),
            "dora"
        );
        // carl joined after ben: he is next, nobody is skipped.
        assert_eq!(
            next_round_robin(&ids(&["ana", "ben", "carl", "dora"]), Some("ben")),
            "carl"
        );
    }

    #[test]
    fn balanced_picks_the_least_loaded_and_breaks_ties_after_the_cursor() {
        let pool: Vec<String> = ["ana", "ben", "carl"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let load: HashMap<String, i64> =
            [("ana".into(), 2), ("ben".into(), 1), ("carl".into(), 1)].into();
        assert_eq!(pick_balanced(&pool, &load, None), "ben");
        assert_eq!(
            pick_balanced(&pool, &load, Some("ben")),
            "carl",
            "tie broken after the cursor"
        );
        assert_eq!(pick_balanced(&pool, &HashMap::new(), Some("carl")), "ana");
    }
}
