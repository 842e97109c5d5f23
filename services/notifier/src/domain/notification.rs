//! What a notification is, what a valid Notify request is, and how it reads.

use leadflow_proto::common::v1::LeadSource;
use serde::{Deserialize, Serialize};

use crate::error::NotifierError;

pub use leadflow_text::notify::{
    MAX_BODY_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_NAME_CHARS, MAX_TITLE_CHARS,
};
/// Longest idempotency key. A key is an identifier, not text: it is refused
/// when too long, never shortened (two keys cut alike would merge).
pub const MAX_KEY_CHARS: usize = 200;
/// Most leads carried in a batch notification.
pub const MAX_BATCH_LEADS: usize = 20;

/// Why the rep is being told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    LeadRouted,
    LeadAssigned,
    LeadReassigned,
    LeadsAssigned,
    /// A lead the recipient did not accept in time went to the next rep.
    LeadMoved,
    /// A lead ran out of SLA hops or reps (to managers and owners).
    LeadEscalated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LeadRouted => "lead_routed",
            Kind::LeadAssigned => "lead_assigned",
            Kind::LeadReassigned => "lead_reassigned",
            Kind::LeadsAssigned => "leads_assigned",
            Kind::LeadMoved => "lead_moved",
            Kind::LeadEscalated => "lead_escalated",
        }
    }

    pub fn parse_stored(s: &str) -> Option<Kind> {
        [
            Kind::LeadRouted,
            Kind::LeadAssigned,
            Kind::LeadReassigned,
            Kind::LeadsAssigned,
            Kind::LeadMoved,
            Kind::LeadEscalated,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A lead as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRef {
    /// The lead's id in the leads service, for the link.
    pub id: String,
    /// The lead's name, as the rep reads it.
    pub name: String,
    /// The proto name, e.g. "WEBSITE".
    pub source: String,
}

impl LeadRef {
    /// "Jane Doe (Website)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, source_label(&self.source))
    }
}

/// How a person reads a source.
pub fn source_label(source: &str) -> &'static str {
    match LeadSource::from_str_name(source) {
        Some(LeadSource::Team) => "Team",
        Some(LeadSource::AiAssistant) => "AI assistant",
        Some(LeadSource::Website) => "Website",
        Some(LeadSource::Facebook) => "Facebook",
        Some(LeadSource::Google) => "Google",
        Some(LeadSource::CsvImport) => "CSV import",
        Some(LeadSource::Other) | Some(LeadSource::Unspecified) | None => "Other",
    }
}

/// One lead, or a batch ("12 leads assigned to you").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Lead(LeadRef),
    Batch {
        /// The assignment batch, for the link to its leads.
        batch_id: String,
        /// How many leads the batch holds (more than `leads` may name).
        count: i32,
        /// The first few leads, at most MAX_BATCH_LEADS.
        leads: Vec<LeadRef>,
    },
}

/// Who is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Whose inbox it lands in.
    pub user_id: String,
    /// Empty: no email can be sent.
    pub email: String,
    /// How an email greets the recipient.
    pub display_name: String,
}

/// A validated Notify request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// One key, one notification: a retried Notify finds the first.
    pub idempotency_key: String,
    /// Who is told, and where email can reach them.
    pub recipient: Recipient,
    /// Why the rep is told.
    pub kind: Kind,
    /// The one line the bell, the push and the email subject show.
    pub title: String,
    /// The text below the title.
    pub body: String,
    /// The lead or batch it is about, for the link.
    pub subject: Subject,
    /// Who caused it (a user or `routing`); empty when nobody did.
    pub actor_id: String,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Increasing: the order of the inbox and of the live stream.
    pub id: i64,
    /// Whose inbox it is in.
    pub recipient_id: String,
    /// Why the rep is told.
    pub kind: Kind,
    /// The one line the bell, the push and the email subject show.
    pub title: String,
    /// The text below the title.
    pub body: String,
    /// The lead or batch it is about, for the link.
    pub subject: Subject,
    /// Who caused it; empty when nobody did.
    pub actor_id: String,
    /// When the recipient read it; `None` while it counts as unread.
    pub read_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was stored.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Notification {
    /// Where the rep opens it in the CRM (relative; the web app resolves it).
    pub fn url(&self) -> String {
        match &self.subject {
            Subject::Lead(lead) => format!("/leads/{}", lead.id),
            Subject::Batch { batch_id, .. } => format!("/leads?batch={batch_id}"),
        }
    }

    pub fn lead_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Lead(lead) => Some(&lead.id),
            Subject::Batch { .. } => None,
        }
    }
}

/// Text that may end up in a header or a terminal: printable, and at most
/// `max` characters. Too long is never an error: the text is shortened on a
/// grapheme-cluster boundary with an ellipsis (a valid lead always produces
/// a bell, whatever its name).
pub fn check_text(
    field: &str,
    value: String,
    max: usize,
    required: bool,
) -> Result<String, NotifierError> {
    if required && value.trim().is_empty() {
        return Err(NotifierError::invalid(field, "is required"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NotifierError::invalid(
            field,
            "may not contain control characters",
        ));
    }
    Ok(match leadflow_text::fit(&value, max) {
        std::borrow::Cow::Borrowed(_) => value,
        std::borrow::Cow::Owned(shortened) => shortened,
    })
}

/// Ids: printable, no whitespace, at most 128 bytes.
pub fn check_id(field: &str, value: &str) -> Result<(), NotifierError> {
    match leadflow_text::is_id(value) {
        true => Ok(()),
        false => Err(NotifierError::invalid(field, leadflow_text::ID_RULE)),
    }
}

/// A minimal email syntax check (one @, a dotted domain, no spaces).
pub fn check_email(field: &str, value: &str) -> Result<(), NotifierError> {
    let ok = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(NotifierError::invalid(
            field,
            "is not a valid email address",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_reads_with_its_source() {
        let lead = LeadRef {
            id: "1".into(),
            name: "Jane Doe".into(),
            source: "WEBSITE".into(),
        };
        assert_eq!(lead.label(), "Jane Doe (Website)");
    }

    #[test]
    fn long_text_is_shortened_never_refused() {
        let title = check_text("title", "山".repeat(300), MAX_TITLE_CHARS, true).unwrap();
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(
            check_text("title", "Jane".into(), 200, true).unwrap(),
            "Jane"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(check_text("title", "New lead\r\nBcc: x@y.z".into(), 200, true).is_err());
        assert!(check_text("title", "".into(), 200, true).is_err());
        assert!(check_text("body", "line one\nline two".into(), 200, false).is_ok());
        assert!(check_email("recipient.email", "a@b.co").is_ok());
        assert!(check_email("recipient.email", "a@b").is_err());
    }
}
