//! `leadctl routing …`: settings (show, set), their audit log, a dry run
//! (simulate) and the workload counters.

use clap::Subcommand;
use leadflow_proto::common::v1::LeadSource;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::routing::v1 as pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;

use crate::client::{Api, Failure, Service};
use crate::output::{self, Format, Table, enum_name, or_dash, time};
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
    },
    /// Who changed the settings, when, and from what to what.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: i32,
    },
    /// Where the next leads would go with the saved settings and the current
    /// team, without assigning anything.
    Simulate {
        /// The leads' source.
        #[arg(long, value_parser = parse::source)]
        source: LeadSource,
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// How many leads.
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Open leads per member, as routing counts them.
    Workload,
}

pub async fn run(api: &Api, format: Format, command: RoutingCommand) -> anyhow::Result<()> {
    let mut routing = RoutingServiceClient::new(api.channel(Service::Routing, false)?);
    let fail = |status| api.failure(Service::Routing, status);
    match command {
        RoutingCommand::Show => {
            let settings = routing
                .get_routing_settings(api.request(pb::GetRoutingSettingsRequest {})?)
                .await
                .map_err(fail)?
                .into_inner();
            print_settings(format, &settings);
        }
        RoutingCommand::Set {
            enabled,
            strategy,
            rotation,
            rules,
            clear_rules,
        } => {
            let mut settings = routing
                .get_routing_settings(api.request(pb::GetRoutingSettingsRequest {})?)
                .await
                .map_err(fail)?
                .into_inner();
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
            let saved = routing
                .update_routing_settings(api.request(pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_settings(format, &saved);
        }
        RoutingCommand::Audit { limit } => {
            let audit = routing
                .list_routing_audit(api.request(pb::ListRoutingAuditRequest {
                    page_size: limit,
                    page_token: String::new(),
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&audit),
                Format::Id => audit.entries.iter().for_each(|e| println!("{}", e.id)),
                Format::Table => {
                    let mut table = Table::new(&["TIME", "BY", "VERSION", "CHANGE"]);
                    for entry in &audit.entries {
                        let before = entry.before.clone().unwrap_or_default();
                        let after = entry.after.clone().unwrap_or_default();
                        table.row(vec![
                            time(entry.time.as_ref()),
                            entry.actor_id.clone(),
                            format!("{} → {}", before.version, after.version),
                            describe_change(&before, &after),
                        ]);
                    }
                    table.print();
                }
            }
        }
        RoutingCommand::Simulate {
            source,
            tags,
            count,
        } => {
            if count == 0 || count > 1_000 {
                return Err(Failure("--count must be between 1 and 1000".into()).into());
            }
            // Routing decides among the candidates it is given; the team
            // lives in the leads service.
            let members = TeamServiceClient::new(api.channel(Service::Leads, false)?)
                .list_members(api.request(leads_pb::ListMembersRequest {
                    sales_capable_only: false,
                    include_inactive: true,
                })?)
                .await
                .map_err(|status| api.failure(Service::Leads, status))?
                .into_inner()
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
            let simulated = routing
                .simulate_routing(api.request(pb::SimulateRoutingRequest {
                    settings: None,
                    leads: vec![lead; count],
                    candidates,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&simulated),
                Format::Id => simulated
                    .decisions
                    .iter()
                    .for_each(|d| println!("{}", d.assignee_id)),
                Format::Table => {
                    let mut table = Table::new(&["#", "ASSIGNEE", "RULE", "EXPLANATION"]);
                    for (i, d) in simulated.decisions.iter().enumerate() {
                        table.row(vec![
                            (i + 1).to_string(),
                            or_dash(&d.assignee_id),
                            or_dash(&d.rule),
                            d.explanation.clone(),
                        ]);
                    }
                    table.print();
                }
            }
        }
        RoutingCommand::Workload => {
            let workload = routing
                .get_workload(api.request(pb::GetWorkloadRequest {})?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&workload),
                Format::Id => workload
                    .members
                    .iter()
                    .for_each(|m| println!("{}", m.user_id)),
                Format::Table => {
                    let mut table = Table::new(&["USER", "OPEN LEADS"]);
                    for m in &workload.members {
                        table.row(vec![m.user_id.clone(), m.open_leads.to_string()]);
                    }
                    table.print();
                }
            }
        }
    }
    Ok(())
}

fn strategy(value: i32) -> String {
    enum_name(pb::Strategy::try_from(value).ok().map(|s| s.as_str_name()))
}

fn print_settings(format: Format, s: &pb::RoutingSettings) {
    match format {
        Format::Json => output::print_json(s),
        Format::Id => println!("{}", s.version),
        Format::Table => {
            let mut table = Table::new(&["SETTING", "VALUE"]);
            table.row(vec![
                "enabled".into(),
                if s.enabled { "yes" } else { "no" }.into(),
            ]);
            table.row(vec!["strategy".into(), strategy(s.strategy)]);
            table.row(vec![
                "rotation".into(),
                or_dash(&s.rotation_user_ids.join(", ")),
            ]);
            for (i, rule) in s.rules.iter().enumerate() {
                table.row(vec![format!("rule {}", i + 1), rule_text(rule)]);
            }
            table.row(vec!["version".into(), s.version.to_string()]);
            table.row(vec!["updated by".into(), or_dash(&s.updated_by)]);
            table.row(vec![
                "updated at".into(),
                or_dash(&time(s.updated_at.as_ref())),
            ]);
            table.print();
        }
    }
}

fn rule_text(rule: &pb::RoutingRule) -> String {
    let sources: Vec<String> = rule
        .sources
        .iter()
        .map(|s| enum_name(LeadSource::try_from(*s).ok().map(|s| s.as_str_name())))
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
    parts.join(";")
}

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
            other => {
                return Err(format!(
                    "unknown rule key `{other}`; use name, sources, tags, users, strategy"
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
        assert!(
            parse_rule("name=x;colour=red")
                .unwrap_err()
                .contains("colour")
        );
    }
}
