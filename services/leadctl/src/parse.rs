//! Reading what people type: enum values in any case (`website`, `WEBSITE`,
//! `ai-assistant`), times as RFC 3339 or a plain date.

use leadflow_proto::common::v1::{LeadSource, Role};
use leadflow_proto::leads::v1::LeadStatus;
use leadflow_proto::routing::v1::Strategy;

fn normalise(text: &str) -> String {
    text.trim().to_ascii_uppercase().replace('-', "_")
}

fn one_of(what: &str, text: &str, names: &[&str]) -> String {
    format!(
        "`{text}` is not a {what}; use one of: {}",
        names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn source(text: &str) -> Result<LeadSource, String> {
    LeadSource::from_str_name(&normalise(text))
        .filter(|s| *s != LeadSource::Unspecified)
        .ok_or_else(|| {
            one_of(
                "lead source",
                text,
                &[
                    "team",
                    "ai_assistant",
                    "website",
                    "facebook",
                    "google",
                    "csv_import",
                    "other",
                ],
            )
        })
}

pub fn status(text: &str) -> Result<LeadStatus, String> {
    LeadStatus::from_str_name(&normalise(text))
        .filter(|s| *s != LeadStatus::Unspecified)
        .ok_or_else(|| {
            one_of(
                "lead status",
                text,
                &["new", "contacted", "qualified", "won", "lost", "dormant"],
            )
        })
}

pub fn role(text: &str) -> Result<Role, String> {
    Role::from_str_name(&normalise(text))
        .filter(|r| *r != Role::Unspecified)
        .ok_or_else(|| {
            one_of(
                "role",
                text,
                &["owner", "admin", "manager", "sales", "accounting"],
            )
        })
}

pub fn strategy(text: &str) -> Result<Strategy, String> {
    match normalise(text).as_str() {
        "RR" | "ROUND_ROBIN" => Ok(Strategy::RoundRobin),
        "BALANCED" | "BALANCED_WORKLOAD" => Ok(Strategy::BalancedWorkload),
        _ => Err(one_of("strategy", text, &["round_robin", "balanced"])),
    }
}

pub fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "available" => Ok(true),
        "off" | "false" | "no" | "unavailable" => Ok(false),
        _ => Err(format!("`{text}` is not on or off")),
    }
}

/// RFC 3339 (`2026-11-01T09:00:00Z`) or a date (`2026-11-01`, midnight UTC).
pub fn time(text: &str) -> Result<prost_types::Timestamp, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| format!("`{text}` is not a time; use 2026-11-01 or 2026-11-01T09:00:00Z"))?;
    Ok(prost_types::Timestamp {
        seconds: parsed.timestamp(),
        nanos: parsed.timestamp_subsec_nanos() as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_are_read_in_any_case() {
        assert_eq!(source("website"), Ok(LeadSource::Website));
        assert_eq!(source("AI-assistant"), Ok(LeadSource::AiAssistant));
        assert!(source("fax").unwrap_err().contains("website"));
        assert!(source("lead_source_unspecified").is_err());
        assert_eq!(status("Won"), Ok(LeadStatus::Won));
        assert_eq!(role("sales"), Ok(Role::Sales));
        assert_eq!(strategy("balanced"), Ok(Strategy::BalancedWorkload));
        assert_eq!(strategy("rr"), Ok(Strategy::RoundRobin));
        assert_eq!(on_off("off"), Ok(false));
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(time("2026-11-01").unwrap().seconds, 1_793_491_200);
        assert_eq!(time("2026-11-01T00:00:01Z").unwrap().seconds, 1_793_491_201);
        assert!(time("yesterday").is_err());
    }
}
