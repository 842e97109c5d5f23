//! `leadctl routing …`: settings (show, set), their audit log, a dry run
//! (simulate) and the workload counters.

use std::collections::HashMap;

use clap::Subcommand;
use leadflow_proto::common::v1::LeadSource;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::routing::v1 as pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;

use crate::client::{Api, Failure, Service};
use crate::output::{self, Format, enum_value, or_dash, time, yes_no};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum RoutingCommand {
    /// The organisation's routing settings.
    Show,
    /// Change the settings (owner, admin, manager). Flags not given keep their value.
    Set {
        /// on or off.
        #[arg(long, value_parser = parse::on_off)]
        enabled: Option<bool>,
        /// round_robin or balanced.
        #[arg(long, value_parser = parse::strategy)]
        strategy: Option<pb::Strategy>,
        /// The rotation, in order: comma-separated user ids.
        #[arg(long, value_delimiter = ',')]
        rotation: Option<Vec<String>>,
        /// A rule, replacing all rules when given (repeat for more, in order):
        /// 'name=web;sources=website,facebook;tags=vip;users=ana,ben;strategy=balanced'.
        #[arg(long = "rule", value_parser = parse_rule)]
        rules: Vec<pb::RoutingRule>,
        /// Remove every rule.
        #[arg(long, conflicts_with = "rules")]
        clear_rules: bool,
        /// A rep's weight in the default pool, 1 to 100 (repeat for more;
        /// replaces all weights when given): `ana=3`.
        #[arg(long = "weight", value_parser = parse_weight)]
        weights: Vec<(String, i32)>,
        /// Remove every weight of the default pool (everyone weighs 1).
        #[arg(long, conflicts_with = "weights")]
        clear_weights: bool,
        /// A rep's caps (repeat for more; replaces every rep's caps when
        /// given): `ben=open:20,day:10` (open leads at once, new routed leads
        /// per local day; 0 or absent is unlimited).
        #[arg(long = "limit", value_parser = parse_member_limit)]
        limits: Vec<pb::MemberLimit>,
        /// Remove every rep's own caps (the default limit still applies).
        #[arg(long, conflicts_with = "limits")]
        clear_limits: bool,
        /// The caps of everyone without their own: `open:20,day:10`, or
        /// `none`.
        #[arg(long, value_parser = parse_default_limit)]
        default_limit: Option<DefaultLimit>,
        /// Skip reps outside their working hours or on time off (on), or
        /// route around the clock (off).
        #[arg(long, value_parser = parse::on_off)]
        respect_working_hours: Option<bool>,
        /// The default pool's SLA: `15m,hops=2` (the holder has 15 minutes
        /// to accept or move the lead on, then it goes to the next rep, at
        /// most twice before the managers and owners are told); add
        /// `,working-hours` to count only the holder's working hours; `off`.
        #[arg(long, value_parser = parse_sla)]
        sla: Option<SlaFlag>,
        /// Sticky ownership: `email`, `email,domain` (add `,days=90` to
        /// match only recent leads), or `off`.
        #[arg(long, value_parser = parse_sticky)]
        sticky: Option<StickyFlag>,
    },
    /// Who changed the settings, when, and from what to what.
    Audit {
        /// At most this many entries, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i32,
    },
    /// Where the next leads would go with the saved settings and the current
    /// team, without assigning anything.
    Simulate {
        /// The leads' source.
        #[arg(long, value_parser = parse::source)]
        source: LeadSource,
        /// A tag of the leads (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// How many leads.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Decide as at this moment (RFC 3339 or a date): working hours, time
        /// off and local days as they would be then. Default: now.
        #[arg(long, value_parser = parse::time)]
        at: Option<prost_types::Timestamp>,
    },
    /// Open leads per member, as routing counts them.
    Workload,
}

/// The generated client of the routing service.
type RoutingClient = RoutingServiceClient<tonic::transport::Channel>;
/// The generated client of the leads service's team API.
type TeamClient = TeamServiceClient<tonic::transport::Channel>;

/// Runs one `routing` command.
pub async fn run(api: &Api, format: Format, command: RoutingCommand) -> anyhow::Result<()> {
    let mut routing = api.client(Service::Routing, false, RoutingClient::new)?;
    match command {
        RoutingCommand::Show => {
            let request = pb::GetRoutingSettingsRequest {};
            let settings = routing
                .call(request, RoutingClient::get_routing_settings)
                .await?;
            print_settings(format, &settings);
        }
        RoutingCommand::Set {
            enabled,
            strategy,
            rotation,
            rules,
            clear_rules,
            weights,
            clear_weights,
            limits,
            clear_limits,
            default_limit,
            respect_working_hours,
            sla,
            sticky,
        } => {
            let request = pb::GetRoutingSettingsRequest {};
            let mut settings = routing
                .call(request, RoutingClient::get_routing_settings)
                .await?;
            let expected_version = settings.version;
            if let Some(enabled) = enabled {
                settings.enabled = enabled;
            }
            if let Some(strategy) = strategy {
                settings.strategy = strategy as i32;
            }
            if let Some(rotation) = rotation {
                settings.rotation_user_ids = rotation;
            }
            if clear_rules {
                settings.rules.clear();
            } else if !rules.is_empty() {
                settings.rules = rules;
            }
            if clear_weights {
                settings.weights.clear();
            } else if !weights.is_empty() {
                settings.weights = weights.into_iter().collect();
            }
            if clear_limits {
                settings.limits.clear();
            } else if !limits.is_empty() {
                settings.limits = limits;
            }
            if let Some(DefaultLimit(default_limit)) = default_limit {
                settings.default_limit = default_limit;
            }
            if let Some(respect) = respect_working_hours {
                settings.respect_working_hours = respect;
            }
            if let Some(SlaFlag(sla)) = sla {
                settings.sla = sla;
            }
            if let Some(StickyFlag(sticky)) = sticky {
                settings.sticky = sticky;
            }
            let request = pb::UpdateRoutingSettingsRequest {
                settings: Some(settings),
                expected_version,
            };
            let saved = routing
                .call(request, RoutingClient::update_routing_settings)
                .await?;
            print_settings(format, &saved);
        }
        RoutingCommand::Audit { limit } => {
            let request = pb::ListRoutingAuditRequest {
                page_size: limit,
                page_token: String::new(),
            };
            let audit = routing
                .call(request, RoutingClient::list_routing_audit)
                .await?;
            let ids = audit.entries.iter().map(|e| &e.id);
            output::print(format, &audit, ids, || {
                let header = ["TIME", "BY", "VERSION", "CHANGE"];
                output::print_table(&header, audit.entries.iter().map(audit_row));
            });
        }
        RoutingCommand::Simulate {
            source,
            tags,
            count,
            at,
        } => {
            if count == 0 || count > 1_000 {
                return Err(Failure("--count must be between 1 and 1000".into()).into());
            }
            // Routing decides among the candidates it is given; the team
            // lives in the leads service.
            let request = leads_pb::ListMembersRequest {
                sales_capable_only: false,
                include_inactive: true,
            };
            let members = api
                .client(Service::Leads, false, TeamClient::new)?
                .call(request, TeamClient::list_members)
                .await?
                .members;
            let candidates = members
                .into_iter()
                .map(|m| pb::Candidate {
                    user_id: m.user_id,
                    role: m.role,
                    active: m.active,
                    available: m.available,
                })
                .collect();
            let lead = pb::SimulatedLead {
                source: source as i32,
                tags,
            };
            let request = pb::SimulateRoutingRequest {
                settings: None,
                leads: vec![lead; count],
                candidates,
                at,
            };
            let simulated = routing
                .call(request, RoutingClient::simulate_routing)
                .await?;
            let decisions = &simulated.decisions;
            let ids = decisions.iter().map(|d| &d.assignee_id);
            output::print(format, &simulated, ids, || {
                let header = ["#", "ASSIGNEE", "RULE", "EXPLANATION"];
                output::print_table(&header, decisions.iter().enumerate().map(decision_row));
            });
        }
        RoutingCommand::Workload => {
            let request = pb::GetWorkloadRequest {};
            let workload = routing.call(request, RoutingClient::get_workload).await?;
            let members = &workload.members;
            let ids = members.iter().map(|m| &m.user_id);
            output::print(format, &workload, ids, || {
                let rows = members
                    .iter()
                    .map(|m| vec![m.user_id.clone(), m.open_leads.to_string()]);
                output::print_table(&["USER", "OPEN LEADS"], rows);
            });
        }
    }
    Ok(())
}

/// A strategy, as people type it.
fn strategy(value: i32) -> String {
    enum_value(value, pb::Strategy::as_str_name)
}

/// The settings as a table, one setting a row.
fn print_settings(format: Format, s: &pb::RoutingSettings) {
    output::print(format, s, [s.version], || {
        let mut rows = vec![
            vec!["enabled".into(), yes_no(s.enabled)],
            vec!["strategy".into(), strategy(s.strategy)],
            vec!["rotation".into(), or_dash(&s.rotation_user_ids.join(", "))],
            vec![
                "weights".into(),
                or_dash(&weights_text(&s.weights, "=", ", ")),
            ],
        ];
        rows.push(vec![
            "limits".into(),
            or_dash(
                &s.limits
                    .iter()
                    .map(|l| format!("{}={}", l.user_id, limit_text(l)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]);
        rows.push(vec![
            "default limit".into(),
            or_dash(&s.default_limit.as_ref().map(limit_text).unwrap_or_default()),
        ]);
        rows.push(vec![
            "working hours".into(),
            if s.respect_working_hours {
                "respected".into()
            } else {
                "ignored (24/7)".into()
            },
        ]);
        rows.push(vec!["sla".into(), or_dash(&sla_text(s.sla.as_ref()))]);
        rows.push(vec![
            "sticky".into(),
            or_dash(&sticky_text(s.sticky.as_ref())),
        ]);
        for (i, rule) in s.rules.iter().enumerate() {
            rows.push(vec![format!("rule {}", i + 1), rule_text(rule)]);
        }
        rows.push(vec!["version".into(), s.version.to_string()]);
        rows.push(vec!["updated by".into(), or_dash(&s.updated_by)]);
        rows.push(vec![
            "updated at".into(),
            or_dash(&time(s.updated_at.as_ref())),
        ]);
        output::print_table(&["SETTING", "VALUE"], rows);
    });
}

/// An entry of `routing audit`: when, who, and what changed.
fn audit_row(entry: &pb::RoutingAuditEntry) -> Vec<String> {
    let before = entry.before.clone().unwrap_or_default();
    let after = entry.after.clone().unwrap_or_default();
    vec![
        time(entry.time.as_ref()),
        entry.actor_id.clone(),
        format!("{} → {}", before.version, after.version),
        describe_change(&before, &after),
    ]
}

/// The `i`th decision of `routing simulate`, counted from 1.
fn decision_row((i, d): (usize, &pb::RouteDecision)) -> Vec<String> {
    vec![
        (i + 1).to_string(),
        or_dash(&d.assignee_id),
        or_dash(&d.rule),
        d.explanation.clone(),
    ]
}

/// A rule the way `--rule` takes it.
fn rule_text(rule: &pb::RoutingRule) -> String {
    let sources: Vec<String> = rule
        .sources
        .iter()
        .map(|s| enum_value(*s, LeadSource::as_str_name))
        .collect();
    let mut parts = vec![format!("name={}", rule.name)];
    if !sources.is_empty() {
        parts.push(format!("sources={}", sources.join(",")));
    }
    if !rule.tags.is_empty() {
        parts.push(format!("tags={}", rule.tags.join(",")));
    }
    parts.push(format!("users={}", rule.user_ids.join(",")));
    if rule.strategy != pb::Strategy::Unspecified as i32 {
        parts.push(format!("strategy={}", strategy(rule.strategy)));
    }
    if !rule.weights.is_empty() {
        parts.push(format!("weights={}", weights_text(&rule.weights, ":", ",")));
    }
    parts.join(";")
}

/// Weights in user id order: `ana=3, ben=2` (or `ana:3,ben:2` in a rule).
fn weights_text(weights: &HashMap<String, i32>, pair: &str, between: &str) -> String {
    let mut sorted: Vec<_> = weights.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted
        .into_iter()
        .map(|(id, w)| format!("{id}{pair}{w}"))
        .collect();
    parts.join(between)
}

/// `ana=3` (or `ana:3` inside a rule): a user id and a whole-number weight.
fn parse_weight(text: &str) -> Result<(String, i32), String> {
    let (id, weight) = text
        .split_once(['=', ':'])
        .ok_or_else(|| format!("`{text}` is not user=weight"))?;
    let weight = weight
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: the weight must be a whole number (1 to 100)"))?;
    Ok((id.trim().to_owned(), weight))
}

/// A limit as the flag takes it: `open:20,day:10` (unlimited parts left out;
/// `unlimited` when both are).
fn limit_text(limit: &pb::MemberLimit) -> String {
    let mut parts = Vec::new();
    if limit.max_open_leads > 0 {
        parts.push(format!("open:{}", limit.max_open_leads));
    }
    if limit.max_new_per_day > 0 {
        parts.push(format!("day:{}", limit.max_new_per_day));
    }
    if parts.is_empty() {
        "unlimited".into()
    } else {
        parts.join(",")
    }
}

/// `open:20,day:10` (either part may be left out): the caps of one limit.
fn parse_limit_parts(text: &str) -> Result<pb::MemberLimit, String> {
    let mut limit = pb::MemberLimit::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}` is not open:N or day:N"))?;
        let value: i32 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: the cap must be a whole number (0 is unlimited)"))?;
        match key.trim() {
            "open" => limit.max_open_leads = value,
            "day" => limit.max_new_per_day = value,
            other => return Err(format!("`{other}` is not a cap (use open or day)")),
        }
    }
    Ok(limit)
}

/// `ben=open:20,day:10`: a rep and their caps.
fn parse_member_limit(text: &str) -> Result<pb::MemberLimit, String> {
    let (id, caps) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not user=open:N,day:N"))?;
    Ok(pb::MemberLimit {
        user_id: id.trim().to_owned(),
        ..parse_limit_parts(caps)?
    })
}

/// `--default-limit`: the caps, or none (a type of its own, since clap
/// reads `Option<Option<_>>` as a flag whose value may be left out).
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultLimit(Option<pb::MemberLimit>);

/// `open:20,day:10`, or `none` to remove the default limit.
fn parse_default_limit(text: &str) -> Result<DefaultLimit, String> {
    match text.trim() {
        "none" => Ok(DefaultLimit(None)),
        caps => parse_limit_parts(caps).map(|l| DefaultLimit(Some(l))),
    }
}

/// `--sla`: the policy to save (`None`: no SLA).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlaFlag(Option<pb::SlaPolicy>);

/// `--sticky`: the policy to save (`None`: off).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StickyFlag(Option<pb::StickyPolicy>);

/// `15m,hops=2[,working-hours]` (also `2h`, `90`), or `off`.
fn parse_sla(text: &str) -> Result<SlaFlag, String> {
    let text = text.trim();
    if text == "off" || text == "none" {
        return Ok(SlaFlag(None));
    }
    let mut parts = text.split(',').map(str::trim);
    let window = parts.next().unwrap_or_default();
    let (number, unit) = match window.strip_suffix('h') {
        Some(hours) => (hours, 60),
        None => (window.strip_suffix('m').unwrap_or(window), 1),
    };
    let minutes = number
        .parse::<i32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{window:?} is not a time like 15m or 2h"))?;
    let mut policy = pb::SlaPolicy {
        accept_within_minutes: minutes,
        max_hops: 0,
        count_working_hours_only: false,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("hops", n)) => {
                policy.max_hops = n
                    .parse()
                    .map_err(|_| format!("hops={n} is not a whole number"))?;
            }
            None if part == "working-hours" => policy.count_working_hours_only = true,
            _ => return Err(format!("{part:?}: expected hops=N or working-hours")),
        }
    }
    Ok(SlaFlag(Some(policy)))
}

/// How `--sla` reads back.
fn sla_text(sla: Option<&pb::SlaPolicy>) -> String {
    match sla.filter(|s| s.accept_within_minutes > 0) {
        None => String::new(),
        Some(sla) => format!(
            "{}m,hops={}{}",
            sla.accept_within_minutes,
            sla.max_hops,
            if sla.count_working_hours_only {
                ",working-hours"
            } else {
                ""
            }
        ),
    }
}

/// `email`, `domain`, `days=N`, comma-separated, or `off`.
fn parse_sticky(text: &str) -> Result<StickyFlag, String> {
    let text = text.trim();
    if text == "off" || text == "none" {
        return Ok(StickyFlag(None));
    }
    let mut policy = pb::StickyPolicy::default();
    for part in text.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("days", n)) => {
                policy.lookback_days = n
                    .parse()
                    .map_err(|_| format!("days={n} is not a whole number"))?;
            }
            None if part == "email" => policy.match_email = true,
            None if part == "domain" => policy.match_domain = true,
            _ => return Err(format!("{part:?}: expected email, domain or days=N")),
        }
    }
    Ok(StickyFlag(Some(policy)))
}

/// How `--sticky` reads back.
fn sticky_text(sticky: Option<&pb::StickyPolicy>) -> String {
    let Some(sticky) = sticky.filter(|s| s.match_email || s.match_domain) else {
        return String::new();
    };
    let mut parts = Vec::new();
    if sticky.match_email {
        parts.push("email".to_owned());
    }
    if sticky.match_domain {
        parts.push("domain".to_owned());
    }
    if sticky.lookback_days > 0 {
        parts.push(format!("days={}", sticky.lookback_days));
    }
    parts.join(",")
}

/// What an audit entry changed, in a few words.
fn describe_change(before: &pb::RoutingSettings, after: &pb::RoutingSettings) -> String {
    let mut changes = Vec::new();
    if before.enabled != after.enabled {
        changes.push(
            if after.enabled {
                "turned on"
            } else {
                "turned off"
            }
            .to_owned(),
        );
    }
    if before.strategy != after.strategy {
        changes.push(format!("strategy {}", strategy(after.strategy)));
    }
    if before.rotation_user_ids != after.rotation_user_ids {
        changes.push(format!(
            "rotation {}",
            or_dash(&after.rotation_user_ids.join(","))
        ));
    }
    if before.rules != after.rules {
        changes.push(format!("{} rule(s)", after.rules.len()));
    }
    if before.weights != after.weights {
        changes.push(format!(
            "weights {}",
            or_dash(&weights_text(&after.weights, "=", ","))
        ));
    }
    if before.limits != after.limits || before.default_limit != after.default_limit {
        changes.push("limits".into());
    }
    if before.respect_working_hours != after.respect_working_hours {
        changes.push(
            if after.respect_working_hours {
                "working hours respected"
            } else {
                "working hours ignored"
            }
            .into(),
        );
    }
    if before.sla != after.sla {
        changes.push(format!("sla {}", or_dash(&sla_text(after.sla.as_ref()))));
    }
    if before.sticky != after.sticky {
        changes.push(format!(
            "sticky {}",
            or_dash(&sticky_text(after.sticky.as_ref()))
        ));
    }
    if changes.is_empty() {
        "saved unchanged".into()
    } else {
        changes.join("; ")
    }
}

/// `name=web;sources=website,facebook;tags=vip;users=ana,ben;strategy=balanced`.
fn parse_rule(text: &str) -> Result<pb::RoutingRule, String> {
    let mut rule = pb::RoutingRule::default();
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not key=value"))?;
        match key.trim() {
            "name" => rule.name = value.trim().to_owned(),
            "sources" => {
                rule.sources = list(value)
                    .iter()
                    .map(|s| parse::source(s).map(|s| s as i32))
                    .collect::<Result<_, _>>()?
            }
            "tags" => rule.tags = list(value),
            "users" => rule.user_ids = list(value),
            "strategy" => rule.strategy = parse::strategy(value)? as i32,
            "weights" => {
                rule.weights = list(value)
                    .iter()
                    .map(|w| parse_weight(w))
                    .collect::<Result<_, _>>()?
            }
            other => {
                return Err(format!(
                    "unknown rule key `{other}`; use name, sources, tags, users, strategy, weights"
                ));
            }
        }
    }
    if rule.name.is_empty() {
        return Err("a rule needs name=…".into());
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_and_sticky_read_from_one_flag_and_print_back_the_same() {
        let SlaFlag(Some(sla)) = parse_sla("15m,hops=2").unwrap() else {
            panic!("an SLA")
        };
        assert_eq!((sla.accept_within_minutes, sla.max_hops), (15, 2));
        assert!(!sla.count_working_hours_only);
        assert_eq!(sla_text(Some(&sla)), "15m,hops=2");
        let SlaFlag(Some(hours)) = parse_sla("2h,hops=1,working-hours").unwrap() else {
            panic!("an SLA")
        };
        assert_eq!(hours.accept_within_minutes, 120);
        assert_eq!(sla_text(Some(&hours)), "120m,hops=1,working-hours");
        assert_eq!(parse_sla("off"), Ok(SlaFlag(None)));
        assert!(parse_sla("soon").unwrap_err().contains("15m"));
        assert!(parse_sla("15m,tries=2").unwrap_err().contains("hops=N"));
        let StickyFlag(Some(sticky)) = parse_sticky("email,domain").unwrap() else {
            panic!("a policy")
        };
        assert!(sticky.match_email && sticky.match_domain);
        assert_eq!(sticky_text(Some(&sticky)), "email,domain");
        let StickyFlag(Some(recent)) = parse_sticky("email,days=90").unwrap() else {
            panic!("a policy")
        };
        assert_eq!(sticky_text(Some(&recent)), "email,days=90");
        assert_eq!(parse_sticky("off"), Ok(StickyFlag(None)));
        assert!(parse_sticky("phone").unwrap_err().contains("email, domain"));
    }

    #[test]
    fn limits_read_from_one_flag_and_print_back_the_same() {
        let ben = parse_member_limit("ben=open:20,day:10").unwrap();
        assert_eq!(
            (
                ben.user_id.as_str(),
                ben.max_open_leads,
                ben.max_new_per_day
            ),
            ("ben", 20, 10)
        );
        assert_eq!(limit_text(&ben), "open:20,day:10");
        let day_only = parse_member_limit("ana=day:5").unwrap();
        assert_eq!((day_only.max_open_leads, day_only.max_new_per_day), (0, 5));
        assert_eq!(limit_text(&day_only), "day:5");
        assert_eq!(parse_default_limit("none"), Ok(DefaultLimit(None)));
        assert!(
            parse_member_limit("ben=week:3")
                .unwrap_err()
                .contains("week")
        );
        assert!(parse_member_limit("ben").unwrap_err().contains("user=open"));
        assert!(
            parse_member_limit("ben=open:lots")
                .unwrap_err()
                .contains("whole number")
        );
    }

    #[test]
    fn rules_read_from_one_flag_and_print_back_the_same() {
        let text = "name=web;sources=website,facebook;tags=vip;users=ana,ben;strategy=balanced";
        let rule = parse_rule(text).unwrap();
        assert_eq!(rule.user_ids, ["ana", "ben"]);
        assert_eq!(
            rule.sources,
            [LeadSource::Website as i32, LeadSource::Facebook as i32]
        );
        assert_eq!(rule.strategy, pb::Strategy::BalancedWorkload as i32);
        assert_eq!(
            rule_text(&rule),
            "name=web;sources=website,facebook;tags=vip;users=ana,ben;strategy=balanced_workload"
        );
        assert!(parse_rule("sources=website").unwrap_err().contains("name"));
        let weighted = parse_rule("name=fb;users=ana,ben;weights=ana:3,ben:1").unwrap();
        assert_eq!(
            weighted.weights,
            HashMap::from([("ana".into(), 3), ("ben".into(), 1)])
        );
        assert_eq!(
            rule_text(&weighted),
            "name=fb;users=ana,ben;weights=ana:3,ben:1"
        );
        assert_eq!(parse_weight("ana=3"), Ok(("ana".into(), 3)));
        assert!(
            parse_weight("ana=lots")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            parse_rule("name=x;colour=red")
                .unwrap_err()
                .contains("colour")
        );
    }
}
