//! Finding leads: the ListLeads / AssignLeads filter, ordering, and the opaque
//! page token.
//!
//! Paging is keyset paging on `(created_at, id)`: both are immutable, so a
//! lead is never seen twice or skipped while someone pages, even as new leads
//! arrive. The page token carries the last key seen plus a checksum that binds
//! it to the same filter and order; a token that was altered, or replayed with
//! another filter, is INVALID_ARGUMENT.

use chrono::{DateTime, Utc};

use super::lead::{LeadSource, LeadStatus, parse_tags, parse_user_id};
use super::stored::StoredName;
use crate::error::LeadsError;

/// Default ListLeads page size.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest ListLeads page.
pub const MAX_PAGE_SIZE: u64 = 500;
/// Longest free-text query.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most entries in `filter.statuses` or `filter.sources` (each enum has
/// fewer values; repeats are dropped).
pub const MAX_ENUM_FILTER: usize = 32;

/// Whose leads to match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OwnerFilter {
    #[default]
    Any,
    Unassigned,
    /// Unassigned leads routing holds (everyone capped or off shift).
    Held,
    User(String),
}

/// A validated lead filter. Every part is optional; all parts must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadQuery {
    /// Whose leads.
    pub owner: OwnerFilter,
    /// Any of these (empty: any status).
    pub statuses: Vec<LeadStatus>,
    /// Any of these (empty: any source).
    pub sources: Vec<LeadSource>,
    /// Carries any of these tags (empty: no tag condition).
    pub tags: Vec<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant (later than `created_after`).
    pub created_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of name, email or company.
    pub text: Option<String>,
}

/// The raw filter fields, before validation. Enum lists hold `None` for a
/// value the server does not know.
#[derive(Debug, Clone, Default)]
pub struct LeadQueryInput {
    /// Empty (anyone's), `unassigned`, or a user id.
    pub owner: String,
    /// (raw wire number, the status it names), to report unknown numbers.
    pub statuses: Vec<(i32, Option<LeadStatus>)>,
    /// (raw wire number, the source it names), likewise.
    pub sources: Vec<(i32, Option<LeadSource>)>,
    /// The tags as sent.
    pub tags: Vec<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// The free-text query as sent.
    pub query: String,
}

impl LeadQuery {
    pub fn parse(input: LeadQueryInput) -> Result<LeadQuery, LeadsError> {
        let owner = match input.owner.trim() {
            "" => OwnerFilter::Any,
            "unassigned" => OwnerFilter::Unassigned,
            "held" => OwnerFilter::Held,
            user => {
                parse_user_id("filter.owner", user)?;
                OwnerFilter::User(user.to_owned())
            }
        };
        for (field, len) in [
            ("filter.statuses", input.statuses.len()),
            ("filter.sources", input.sources.len()),
        ] {
            if len > MAX_ENUM_FILTER {
                return Err(LeadsError::invalid(
                    field,
                    format!("at most {MAX_ENUM_FILTER} values"),
                ));
            }
        }
        let statuses = known_values("filter.statuses", input.statuses)?;
        let sources = known_values("filter.sources", input.sources)?;
        let tags = parse_tags(&input.tags).map_err(|e| match e {
            LeadsError::InvalidArgument { message, .. } => {
                LeadsError::invalid("filter.tags", message)
            }
            other => other,
        })?;
        if let (Some(after), Some(before)) = (input.created_after, input.created_before)
            && after >= before
        {
            return Err(LeadsError::invalid(
                "filter.created_before",
                "must be later than created_after",
            ));
        }
        let text = input.query.trim();
        if text.chars().count() > MAX_QUERY_CHARS || text.chars().any(char::is_control) {
            return Err(LeadsError::invalid(
                "filter.query",
                format!("must be at most {MAX_QUERY_CHARS} printable characters"),
            ));
        }
        Ok(LeadQuery {
            owner,
            statuses,
            sources,
            tags,
            created_after: input.created_after,
            created_before: input.created_before,
            text: (!text.is_empty()).then(|| text.to_lowercase()),
        })
    }
}

/// The values of one enum list of the filter, in stored-name order without
/// repeats; a value the server does not know is refused.
fn known_values<T: StoredName + PartialEq>(
    field: &'static str,
    values: Vec<(i32, Option<T>)>,
) -> Result<Vec<T>, LeadsError> {
    let mut known = values
        .into_iter()
        .map(|(raw, value)| value.ok_or_else(|| unknown(field, raw)))
        .collect::<Result<Vec<_>, _>>()?;
    known.sort_by_key(|value| value.as_str());
    known.dedup();
    Ok(known)
}

fn unknown(field: &'static str, raw: i32) -> LeadsError {
    if raw == 0 {
        LeadsError::invalid(field, "the unspecified value is not a filter")
    } else {
        LeadsError::invalid(field, format!("unknown value {raw}"))
    }
}

/// The only orders ListLeads offers: by the immutable creation time, with the
/// id as tie-break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    CreatedAsc,
    CreatedDesc,
}

impl SortOrder {
    pub fn parse(order_by: &str) -> Result<SortOrder, LeadsError> {
        let normalised: Vec<&str> = order_by.split_whitespace().collect();
        match normalised.as_slice() {
            [] | ["created_at"] | ["created_at", "asc"] => Ok(SortOrder::CreatedAsc),
            ["created_at", "desc"] => Ok(SortOrder::CreatedDesc),
            _ => Err(LeadsError::invalid(
                "order_by",
                "must be `created_at` or `created_at desc`",
            )),
        }
    }
}

/// ListLeads' page sizes.
pub const PAGE_LIMITS: leadflow_server::page::PageLimits = leadflow_server::page::PageLimits {
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
};

/// Clamps a requested page size: 0 means the default, above the maximum is an error.
pub fn page_size(requested: i32) -> Result<u64, LeadsError> {
    Ok(PAGE_LIMITS.size(requested)?)
}

/// The last lead of a page: where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageCursor {
    /// `created_at` in microseconds since the epoch.
    #[serde(rename = "t")]
    pub created_at_us: i64,
    /// The lead's id, which breaks ties between leads created together.
    #[serde(rename = "i")]
    pub id: String,
}

/// Everything a page token must agree with: the caller's view, filter and order.
pub fn query_fingerprint(
    scope: &impl std::fmt::Debug,
    query: &LeadQuery,
    order: SortOrder,
) -> [u8; 32] {
    leadflow_server::page::fingerprint("leads", &(scope, query, order))
}

impl PageCursor {
    /// The cursor of `lead`, the last of a page.
    pub fn of(lead: &super::lead::Lead) -> PageCursor {
        PageCursor {
            created_at_us: lead.created_at.timestamp_micros(),
            id: lead.id.clone(),
        }
    }

    pub fn encode(&self, fingerprint: &[u8; 32]) -> String {
        leadflow_server::page::encode_token(self, fingerprint)
    }

    /// Reads a page token back; anything altered or foreign is INVALID_ARGUMENT.
    pub fn decode(token: &str, fingerprint: &[u8; 32]) -> Result<PageCursor, LeadsError> {
        match leadflow_server::page::decode_token(token, fingerprint)? {
            Some(cursor) => Ok(cursor),
            None => Err(LeadsError::invalid("page_token", "is empty")),
        }
    }

    /// [`PageCursor::decode`], with `None` for the first page (no token).
    pub fn decode_optional(
        token: &str,
        fingerprint: &[u8; 32],
    ) -> Result<Option<PageCursor>, LeadsError> {
        Ok(leadflow_server::page::decode_token(token, fingerprint)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn a_page_token_round_trips_for_the_same_query_only() {
        let query = LeadQuery::default();
        let fp = query_fingerprint(&"all", &query, SortOrder::CreatedAsc);
        let cursor = PageCursor {
            created_at_us: 42,
            id: "abc".into(),
        };
        let token = cursor.encode(&fp);
        assert_eq!(PageCursor::decode(&token, &fp).unwrap(), cursor);

        let other = query_fingerprint(&"all", &query, SortOrder::CreatedDesc);
        assert!(PageCursor::decode(&token, &other).is_err());
    }

    #[test]
    fn an_altered_page_token_is_refused() {
        let fp = query_fingerprint(&"all", &LeadQuery::default(), SortOrder::CreatedAsc);
        let token = PageCursor {
            created_at_us: 42,
            id: "abc".into(),
        }
        .encode(&fp);
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"t":0,"i":"abc"}"#);
        let (_, sum) = token.split_once('.').unwrap();
        for bad in [
            format!("{forged_payload}.{sum}"),
            "garbage".into(),
            format!("{token}x"),
        ] {
            assert!(
                matches!(
                    PageCursor::decode(&bad, &fp),
                    Err(LeadsError::InvalidArgument {
                        field: "page_token",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(500).unwrap(), 500);
        assert!(page_size(501).is_err());
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn only_creation_order_is_offered() {
        assert_eq!(SortOrder::parse("").unwrap(), SortOrder::CreatedAsc);
        assert_eq!(
            SortOrder::parse("created_at  desc").unwrap(),
            SortOrder::CreatedDesc
        );
        assert!(SortOrder::parse("name").is_err());
    }
}
