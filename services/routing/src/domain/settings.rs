//! Routing settings: on or off, the strategy, who is in the rotation, and
//! rules by source or tag. Versioned; every change is audited.

use std::collections::{BTreeMap, HashSet};

use leadflow_proto::common::v1::LeadSource;
use serde::{Deserialize, Serialize};

use crate::error::RoutingError;

mod policies;
pub use policies::{
    MAX_LOOKBACK_DAYS, MAX_SLA_HOPS, MAX_SLA_MINUTES, Sla, SlaInput, Sticky, StickyInput,
    parse_sla, parse_sticky,
};

/// Most rules in one organisation's settings.
pub const MAX_RULES: usize = 50;
/// Most people in a rotation or a rule.
pub const MAX_PEOPLE: usize = 1_000;
/// Most tags a rule matches on.
pub const MAX_RULE_TAGS: usize = 20;
/// Most sources one rule lists (there are seven; repeats are harmless).
pub const MAX_RULE_SOURCES: usize = 32;
/// The largest weight a rep may have (the smallest is 1, the default).
pub const MAX_WEIGHT: i32 = 100;

/// User id -> weight (1 to [`MAX_WEIGHT`]); a rep not listed weighs 1.
pub type Weights = BTreeMap<String, u32>;

/// A rep's caps; 0 is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Routing sends no more while they own this many open leads.
    pub max_open_leads: u32,
    /// Routing gives them at most this many leads per local day.
    pub max_new_per_day: u32,
}

impl Limit {
    /// Whether the limit caps anything.
    pub fn is_unlimited(&self) -> bool {
        self.max_open_leads == 0 && self.max_new_per_day == 0
    }
}

/// A limit as it arrived on the wire.
#[derive(Debug, Clone, Default)]
pub struct LimitInput {
    /// The rep, unchecked (ignored for the default limit).
    pub user_id: String,
    /// Raw open-lead cap.
    pub max_open_leads: i32,
    /// Raw daily cap.
    pub max_new_per_day: i32,
}

/// How a pool's next rep is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One rep after another, in ascending user id order.
    RoundRobin,
    /// Whoever has the fewest open leads right now.
    BalancedWorkload,
}

impl Strategy {
    pub fn label(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round robin",
            Strategy::BalancedWorkload => "balanced by workload",
        }
    }
}

/// Leads matching a rule go to its people before the default rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique within the settings; decisions report it (never `default`).
    pub name: String,
    /// Empty: any source. Stored by their proto names (e.g. "FACEBOOK").
    #[serde(with = "source_names")]
    pub sources: Vec<LeadSource>,
    /// Empty: no tag condition; otherwise the lead must carry one of them.
    pub tags: Vec<String>,
    /// Who gets the matching leads (the eligible ones among them).
    pub user_ids: Vec<String>,
    /// `None`: the settings' strategy.
    pub strategy: Option<Strategy>,
    /// Sales ops' shares within the rule's people; empty: everyone weighs 1
    /// (and round robin is the plain rotation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: Weights,
    /// `None`: the settings' SLA; an SLA of 0 minutes: none for this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
}

impl Rule {
    /// Whether a lead with this source and these tags falls under the rule.
    pub fn matches(&self, source: LeadSource, tags: &[String]) -> bool {
        (self.sources.is_empty() || self.sources.contains(&source))
            && (self.tags.is_empty() || self.tags.iter().any(|t| tags.contains(t)))
    }
}

/// An organisation's routing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Off: every lead stays unassigned (a new organisation's default).
    pub enabled: bool,
    /// Required when enabled.
    pub strategy: Option<Strategy>,
    /// Empty: the whole active sales-capable team.
    pub rotation_user_ids: Vec<String>,
    /// First match wins.
    pub rules: Vec<Rule>,
    /// Shares within the default pool (the rotation, or the whole team when
    /// the rotation is empty); empty: everyone weighs 1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: Weights,
    /// Skip reps off shift or on time off (their directory schedules), and
    /// hold a pool's lead while nobody in it is on shift. Off: 24/7.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub respect_working_hours: bool,
    /// Per-rep caps (reps listed); others have `default_limit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Limit>,
    /// The caps of everyone not in `limits`; `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_limit: Option<Limit>,
    /// The SLA of routed leads whose rule has none of its own; `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    /// Returning contacts to their own rep; `None`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

impl Settings {
    /// The SLA of leads routed from `rule` (`None`: the default pool), if
    /// one runs: the rule's own, else the settings'.
    pub fn sla_of(&self, rule: Option<&str>) -> Option<Sla> {
        let own = rule
            .and_then(|name| self.rules.iter().find(|r| r.name == name))
            .and_then(|r| r.sla);
        own.or(self.sla).filter(Sla::is_on)
    }

    /// The caps that apply to `user_id` (unlimited when nothing caps them).
    pub fn limit_of(&self, user_id: &str) -> Limit {
        self.limits
            .get(user_id)
            .copied()
            .or(self.default_limit)
            .unwrap_or_default()
    }

    /// Whether any cap is set at all (routing skips the cap check otherwise).
    pub fn has_limits(&self) -> bool {
        self.limits.values().any(|l| !l.is_unlimited())
            || self.default_limit.is_some_and(|l| !l.is_unlimited())
    }
}

impl Default for Settings {
    /// A new organisation: routing off, leads stay unassigned.
    fn default() -> Self {
        Settings {
            enabled: false,
            strategy: None,
            rotation_user_ids: Vec::new(),
            rules: Vec::new(),
            weights: Weights::new(),
            respect_working_hours: false,
            limits: BTreeMap::new(),
            default_limit: None,
            sla: None,
            sticky: None,
        }
    }
}

/// Settings as stored, with their version and who changed them last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSettings {
    /// The settings themselves.
    pub settings: Settings,
    /// 0 for an organisation that never saved settings.
    pub version: i64,
    /// Who saved this version ("" before the first save).
    pub updated_by: String,
    /// When this version was saved (`None` before the first save).
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A rule as it arrived on the wire, enums still raw.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    /// The rule's name, untrimmed.
    pub name: String,
    /// Raw `LeadSource` values.
    pub sources: Vec<i32>,
    /// Tags, untrimmed.
    pub tags: Vec<String>,
    /// User ids, unchecked and possibly repeated.
    pub user_ids: Vec<String>,
    /// A raw `Strategy` value (0: the settings' strategy).
    pub strategy: i32,
    /// Raw user id -> weight pairs.
    pub weights: Vec<(String, i32)>,
    /// The rule's own SLA, if given.
    pub sla: Option<SlaInput>,
}

/// Settings as they arrived on the wire.
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    /// Routing on or off.
    pub enabled: bool,
    /// A raw `Strategy` value (0: not given).
    pub strategy: i32,
    /// User ids, unchecked and possibly repeated.
    pub rotation_user_ids: Vec<String>,
    /// The rules, in order.
    pub rules: Vec<RuleInput>,
    /// Raw user id -> weight pairs for the default pool.
    pub weights: Vec<(String, i32)>,
    /// Skip reps off shift or on time off.
    pub respect_working_hours: bool,
    /// Per-rep caps.
    pub limits: Vec<LimitInput>,
    /// Everyone else's caps.
    pub default_limit: Option<LimitInput>,
    /// The SLA, if given.
    pub sla: Option<SlaInput>,
    /// Sticky ownership, if given.
    pub sticky: Option<StickyInput>,
}

/// Reads a strategy enum; 0 is "not given", anything unknown is an error.
pub fn parse_strategy(field: &str, raw: i32) -> Result<Option<Strategy>, RoutingError> {
    match raw {
        0 => Ok(None),
        1 => Ok(Some(Strategy::RoundRobin)),
        2 => Ok(Some(Strategy::BalancedWorkload)),
        other => Err(RoutingError::invalid(
            field,
            format!("unknown strategy {other}"),
        )),
    }
}

fn parse_people(field: &str, ids: &[String]) -> Result<Vec<String>, RoutingError> {
    if ids.len() > MAX_PEOPLE {
        return Err(RoutingError::invalid(
            field,
            format!("at most {MAX_PEOPLE} people"),
        ));
    }
    let mut seen = HashSet::new();
    let mut people = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim();
        if id.is_empty()
            || id.len() > 128
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(RoutingError::invalid(
                field,
                format!("{id:?} is not a user id"),
            ));
        }
        if seen.insert(id.to_owned()) {
            people.push(id.to_owned());
        }
    }
    Ok(people)
}

/// Reads weights: each 1 to [`MAX_WEIGHT`], for a user id of `pool` when
/// the pool is an explicit list (`None`: the whole team, any id).
fn parse_weights(
    field: &str,
    raw: &[(String, i32)],
    pool: Option<&[String]>,
) -> Result<Weights, RoutingError> {
    if raw.len() > MAX_PEOPLE {
        return Err(RoutingError::invalid(
            field,
            format!("at most {MAX_PEOPLE} weights"),
        ));
    }
    let mut weights = Weights::new();
    for (id, weight) in raw {
        let id = id.trim();
        if !leadflow_text::is_id(id) {
            return Err(RoutingError::invalid(
                field,
                format!("{id:?} is not a user id"),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(weight) {
            return Err(RoutingError::invalid(
                field,
                format!("the weight of {id} must be 1 to {MAX_WEIGHT}, not {weight}"),
            ));
        }
        if pool.is_some_and(|people| !people.iter().any(|p| p == id)) {
            return Err(RoutingError::invalid(
                field,
                format!("{id} has a weight but is not in this pool's people"),
            ));
        }
        weights.insert(id.to_owned(), *weight as u32);
    }
    Ok(weights)
}

/// Reads one limit: no negative caps.
fn parse_limit(field: &'static str, raw: &LimitInput) -> Result<Limit, RoutingError> {
    let cap = |value: i32, what: &str| {
        u32::try_from(value).map_err(|_| {
            RoutingError::invalid(
                field,
                format!("{what} may not be negative (0 is unlimited), not {value}"),
            )
        })
    };
    Ok(Limit {
        max_open_leads: cap(raw.max_open_leads, "max_open_leads")?,
        max_new_per_day: cap(raw.max_new_per_day, "max_new_per_day")?,
    })
}

/// Reads the per-rep limits: valid user ids, each once, at most [`MAX_PEOPLE`].
fn parse_limits(raw: &[LimitInput]) -> Result<BTreeMap<String, Limit>, RoutingError> {
    const FIELD: &str = "settings.limits";
    if raw.len() > MAX_PEOPLE {
        return Err(RoutingError::invalid(
            FIELD,
            format!("at most {MAX_PEOPLE} limits"),
        ));
    }
    let mut limits = BTreeMap::new();
    for limit in raw {
        let id = limit.user_id.trim();
        if !leadflow_text::is_id(id) {
            return Err(RoutingError::invalid(
                "settings.limits.user_id",
                format!("{id:?} is not a user id"),
            ));
        }
        let parsed = parse_limit(FIELD, limit)?;
        if limits.insert(id.to_owned(), parsed).is_some() {
            return Err(RoutingError::invalid(
                "settings.limits.user_id",
                format!("{id} has two limits"),
            ));
        }
    }
    Ok(limits)
}

impl Settings {
    /// Validates settings from the wire. Every error names its field.
    pub fn parse(input: SettingsInput) -> Result<Settings, RoutingError> {
        let strategy = parse_strategy("settings.strategy", input.strategy)?;
        if input.enabled && strategy.is_none() {
            return Err(RoutingError::invalid(
                "settings.strategy",
                "turning routing on needs a strategy (ROUND_ROBIN or BALANCED_WORKLOAD)",
            ));
        }
        let rotation_user_ids =
            parse_people("settings.rotation_user_ids", &input.rotation_user_ids)?;
        if input.rules.len() > MAX_RULES {
            return Err(RoutingError::invalid(
                "settings.rules",
                format!("at most {MAX_RULES} rules"),
            ));
        }
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(input.rules.len());
        for rule in input.rules {
            let name = rule.name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(RoutingError::invalid(
                    "settings.rules.name",
                    "each rule needs a name of at most 100 printable characters",
                ));
            }
            if name == "default" {
                return Err(RoutingError::invalid(
                    "settings.rules.name",
                    "\"default\" names the default rotation",
                ));
            }
            if !names.insert(name.clone()) {
                return Err(RoutingError::invalid(
                    "settings.rules.name",
                    format!("duplicate rule name {name:?}"),
                ));
            }
            if rule.sources.len() > MAX_RULE_SOURCES {
                return Err(RoutingError::invalid(
                    "settings.rules.sources",
                    format!("at most {MAX_RULE_SOURCES} sources"),
                ));
            }
            let sources = rule
                .sources
                .iter()
                .map(|&raw| match LeadSource::try_from(raw) {
                    Ok(LeadSource::Unspecified) | Err(_) => Err(RoutingError::invalid(
                        "settings.rules.sources",
                        format!("unknown source {raw}"),
                    )),
                    Ok(source) => Ok(source),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if rule.tags.len() > MAX_RULE_TAGS
                || rule
                    .tags
                    .iter()
                    .any(|t| t.trim().is_empty() || t.chars().count() > 50)
            {
                return Err(RoutingError::invalid(
                    "settings.rules.tags",
                    format!("at most {MAX_RULE_TAGS} non-empty tags of at most 50 characters"),
                ));
            }
            let user_ids = parse_people("settings.rules.user_ids", &rule.user_ids)?;
            if user_ids.is_empty() {
                return Err(RoutingError::invalid(
                    "settings.rules.user_ids",
                    format!("rule {name:?} routes to nobody"),
                ));
            }
            let weights = parse_weights("settings.rules.weights", &rule.weights, Some(&user_ids))?;
            rules.push(Rule {
                name,
                sources,
                tags: rule.tags.iter().map(|t| t.trim().to_owned()).collect(),
                user_ids,
                strategy: parse_strategy("settings.rules.strategy", rule.strategy)?,
                weights,
                sla: rule
                    .sla
                    .as_ref()
                    .map(|sla| parse_sla("settings.rules.sla", sla))
                    .transpose()?,
            });
        }
        let explicit = (!rotation_user_ids.is_empty()).then_some(rotation_user_ids.as_slice());
        let weights = parse_weights("settings.weights", &input.weights, explicit)?;
        Ok(Settings {
            enabled: input.enabled,
            strategy,
            rotation_user_ids,
            rules,
            weights,
            respect_working_hours: input.respect_working_hours,
            limits: parse_limits(&input.limits)?,
            default_limit: input
                .default_limit
                .as_ref()
                .map(|l| parse_limit("settings.default_limit", l))
                .transpose()?,
            sla: input
                .sla
                .as_ref()
                .map(|sla| parse_sla("settings.sla", sla))
                .transpose()?
                .filter(Sla::is_on),
            sticky: input
                .sticky
                .as_ref()
                .map(parse_sticky)
                .transpose()?
                .filter(Sticky::is_on),
        })
    }
}

mod source_names {
    //! `#[serde(with)]` helpers: sources as their proto names.

    use leadflow_proto::common::v1::LeadSource;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(sources: &[LeadSource], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(sources.iter().map(|src| src.as_str_name()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LeadSource>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|name| {
                LeadSource::from_str_name(&name)
                    .ok_or_else(|| D::Error::custom(format!("unknown source {name}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! Validation names its field; settings survive their stored form.

    use super::*;

    fn field(result: Result<Settings, RoutingError>) -> String {
        match result {
            Err(RoutingError::InvalidArgument { field, .. }) => field,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    fn rule(name: &str) -> RuleInput {
        RuleInput {
            name: name.into(),
            user_ids: vec!["a".into()],
            ..Default::default()
        }
    }

    #[test]
    fn turning_routing_on_without_a_strategy_is_refused() {
        let input = SettingsInput {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(field(Settings::parse(input)), "settings.strategy");
        // Off, the strategy may stay unset (greyed out in the UI).
        assert!(Settings::parse(SettingsInput::default()).is_ok());
    }

    #[test]
    fn duplicate_rule_names_and_unknown_enums_are_refused() {
        let dup = SettingsInput {
            rules: vec![rule("fb"), rule("fb")],
            ..Default::default()
        };
        assert_eq!(field(Settings::parse(dup)), "settings.rules.name");
        let bad_strategy = SettingsInput {
            enabled: true,
            strategy: 9,
            ..Default::default()
        };
        assert_eq!(field(Settings::parse(bad_strategy)), "settings.strategy");
        let bad_source = SettingsInput {
            rules: vec![RuleInput {
                sources: vec![99],
                ..rule("x")
            }],
            ..Default::default()
        };
        assert_eq!(field(Settings::parse(bad_source)), "settings.rules.sources");
        let bad_rule_strategy = SettingsInput {
            rules: vec![RuleInput {
                strategy: 5,
                ..rule("x")
            }],
            ..Default::default()
        };
        assert_eq!(
            field(Settings::parse(bad_rule_strategy)),
            "settings.rules.strategy"
        );
    }

    #[test]
    fn settings_round_trip_through_json() {
        let settings = Settings::parse(SettingsInput {
            enabled: true,
            strategy: 1,
            rotation_user_ids: vec!["b".into(), "a".into(), "b".into()],
            rules: vec![RuleInput {
                sources: vec![LeadSource::Facebook as i32],
                ..rule("fb")
            }],
            weights: vec![],
            respect_working_hours: false,
            limits: vec![],
            default_limit: None,
            sla: Some(SlaInput {
                accept_within_minutes: 15,
                max_hops: 2,
                count_working_hours_only: true,
            }),
            sticky: Some(StickyInput {
                match_email: true,
                match_domain: true,
                lookback_days: 90,
            }),
        })
        .unwrap();
        assert_eq!(
            settings.rotation_user_ids,
            ["b", "a"],
            "duplicates dropped, order kept"
        );
        let json = serde_json::to_string(&settings).unwrap();
        assert!(json.contains("\"FACEBOOK\""));
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), settings);
    }

    #[test]
    fn weights_are_one_to_a_hundred_for_people_of_their_pool() {
        let with = |weights: Vec<(String, i32)>, rotation: &[&str]| SettingsInput {
            enabled: true,
            strategy: 1,
            rotation_user_ids: rotation.iter().map(|s| s.to_string()).collect(),
            weights,
            ..Default::default()
        };
        for bad in [0, 101, -1] {
            let input = with(vec![("a".into(), bad)], &[]);
            assert_eq!(field(Settings::parse(input)), "settings.weights");
        }
        let outside = with(vec![("c".into(), 2)], &["a", "b"]);
        assert_eq!(field(Settings::parse(outside)), "settings.weights");
        let rule_outside = SettingsInput {
            rules: vec![RuleInput {
                weights: vec![("z".into(), 2)],
                ..rule("x")
            }],
            ..Default::default()
        };
        assert_eq!(
            field(Settings::parse(rule_outside)),
            "settings.rules.weights"
        );
        let team =
            Settings::parse(with(vec![("anyone".into(), 100), ("b".into(), 1)], &[])).unwrap();
        assert_eq!(
            team.weights,
            [("anyone".to_owned(), 100), ("b".to_owned(), 1)].into()
        );
        let json = serde_json::to_string(&team).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), team);
        // Settings stored before weights existed still read.
        let old = r#"{"enabled":true,"strategy":"round_robin","rotation_user_ids":[],"rules":[]}"#;
        assert!(
            serde_json::from_str::<Settings>(old)
                .unwrap()
                .weights
                .is_empty()
        );
    }
}
