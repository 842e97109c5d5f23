//! The wire and the domain, both ways: requests become validated domain
//! values (every refusal naming the field at fault), domain values become
//! the messages callers see. Nothing here reads the database.

use leadflow_auth::Caller;
use leadflow_db::directory::DirectoryFact;
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1 as pb;
use leadflow_server::page::{self, PageLimits};

use crate::domain::fanout::{Channel, Preferences};
use crate::domain::notification::{
    Kind, LeadRef, MAX_BATCH_LEADS, MAX_BODY_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_KEY_CHARS,
    MAX_NAME_CHARS, MAX_TITLE_CHARS, NewNotification, Notification, Recipient, Subject,
    check_email, check_id, check_text,
};
use crate::error::NotifierError;
use crate::store::{DeliveryView, Status as DeliveryStatus, Subscription};
use crate::watcher::WatchEvent;

/// Longest push endpoint URL.
pub const MAX_ENDPOINT_BYTES: usize = 2_048;
/// Most ids in one MarkRead call.
pub const MAX_MARK_READ_IDS: usize = 1_000;

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn lead_to_pb(l: &LeadRef) -> pb::LeadRef {
    pb::LeadRef {
        id: l.id.clone(),
        name: l.name.clone(),
        source: common::LeadSource::from_str_name(&l.source).unwrap_or(common::LeadSource::Other)
            as i32,
    }
}

fn kind_to_pb(kind: Kind) -> i32 {
    (match kind {
        Kind::LeadRouted => pb::NotificationKind::LeadRouted,
        Kind::LeadAssigned => pb::NotificationKind::LeadAssigned,
        Kind::LeadReassigned => pb::NotificationKind::LeadReassigned,
        Kind::LeadsAssigned => pb::NotificationKind::LeadsAssigned,
        Kind::LeadMoved => pb::NotificationKind::LeadMoved,
        Kind::LeadEscalated => pb::NotificationKind::LeadEscalated,
    }) as i32
}

pub fn notification_to_pb(n: &Notification) -> pb::Notification {
    pb::Notification {
        id: n.id.to_string(),
        recipient_id: n.recipient_id.clone(),
        kind: kind_to_pb(n.kind),
        title: n.title.clone(),
        body: n.body.clone(),
        subject: Some(match &n.subject {
            Subject::Lead(l) => pb::notification::Subject::Lead(lead_to_pb(l)),
            Subject::Batch {
                batch_id,
                count,
                leads,
            } => pb::notification::Subject::Batch(pb::LeadBatch {
                batch_id: batch_id.clone(),
                count: *count,
                leads: leads.iter().map(lead_to_pb).collect(),
            }),
        }),
        actor_id: n.actor_id.clone(),
        read: n.read_at.is_some(),
        created_at: Some(timestamp(n.created_at)),
        read_at: n.read_at.map(timestamp),
    }
}

pub fn event_to_pb(event: WatchEvent) -> pb::NotificationEvent {
    pb::NotificationEvent {
        event: Some(match event {
            WatchEvent::Notification(n) => {
                pb::notification_event::Event::Notification(notification_to_pb(&n))
            }
            WatchEvent::UnreadCount(count) => {
                pb::notification_event::Event::UnreadCount(pb::UnreadCount { count })
            }
        }),
    }
}

fn lead_from_pb(field: &str, l: pb::LeadRef) -> Result<LeadRef, NotifierError> {
    check_id(&format!("{field}.id"), &l.id)?;
    let name = check_text(&format!("{field}.name"), l.name, MAX_NAME_CHARS, true)?;
    let source = match common::LeadSource::try_from(l.source) {
        Ok(common::LeadSource::Unspecified) | Err(_) => {
            return Err(NotifierError::invalid(
                &format!("{field}.source"),
                "unknown source",
            ));
        }
        Ok(s) => s.as_str_name().to_owned(),
    };
    Ok(LeadRef {
        id: l.id,
        name,
        source,
    })
}

fn kind_from_pb(kind: i32) -> Result<Kind, NotifierError> {
    match pb::NotificationKind::try_from(kind) {
        Ok(pb::NotificationKind::LeadRouted) => Ok(Kind::LeadRouted),
        Ok(pb::NotificationKind::LeadAssigned) => Ok(Kind::LeadAssigned),
        Ok(pb::NotificationKind::LeadReassigned) => Ok(Kind::LeadReassigned),
        Ok(pb::NotificationKind::LeadsAssigned) => Ok(Kind::LeadsAssigned),
        Ok(pb::NotificationKind::LeadMoved) => Ok(Kind::LeadMoved),
        Ok(pb::NotificationKind::LeadEscalated) => Ok(Kind::LeadEscalated),
        _ => Err(NotifierError::invalid(
            "kind",
            format!("unknown or missing kind {kind}"),
        )),
    }
}

fn subject_from_pb(subject: Option<pb::notify_request::Subject>) -> Result<Subject, NotifierError> {
    match subject {
        Some(pb::notify_request::Subject::Lead(l)) => Ok(Subject::Lead(lead_from_pb("lead", l)?)),
        Some(pb::notify_request::Subject::Batch(b)) => {
            check_id("batch.batch_id", &b.batch_id)?;
            if b.count < 1 {
                return Err(NotifierError::invalid("batch.count", "must be at least 1"));
            }
            if b.leads.len() > MAX_BATCH_LEADS {
                return Err(NotifierError::invalid(
                    "batch.leads",
                    format!("at most {MAX_BATCH_LEADS} (the first few)"),
                ));
            }
            Ok(Subject::Batch {
                batch_id: b.batch_id,
                count: b.count,
                leads: b
                    .leads
                    .into_iter()
                    .map(|l| lead_from_pb("batch.leads", l))
                    .collect::<Result<_, _>>()?,
            })
        }
        None => Err(NotifierError::invalid(
            "lead",
            "a lead or a batch is required",
        )),
    }
}

impl TryFrom<pb::NotifyRequest> for NewNotification {
    type Error = NotifierError;

    /// Checks every field in the order the API documents them.
    fn try_from(req: pb::NotifyRequest) -> Result<Self, NotifierError> {
        if req.idempotency_key.trim().is_empty()
            || req.idempotency_key.chars().count() > MAX_KEY_CHARS
            || req.idempotency_key.chars().any(char::is_control)
        {
            return Err(NotifierError::invalid(
                "idempotency_key",
                format!("must be 1 to {MAX_KEY_CHARS} printable characters"),
            ));
        }
        let recipient = req
            .recipient
            .ok_or_else(|| NotifierError::invalid("recipient", "is required"))?;
        check_id("recipient.user_id", &recipient.user_id)?;
        if !recipient.email.is_empty() {
            check_email("recipient.email", &recipient.email)?;
        }
        let display_name = check_text(
            "recipient.display_name",
            recipient.display_name,
            MAX_DISPLAY_NAME_CHARS,
            false,
        )?;
        let kind = kind_from_pb(req.kind)?;
        if req.title.contains('\n') {
            return Err(NotifierError::invalid(
                "title",
                "may not contain line breaks",
            ));
        }
        if !req.actor_id.is_empty() {
            check_id("actor_id", &req.actor_id)?;
        }
        let title = check_text("title", req.title, MAX_TITLE_CHARS, true)?;
        let body = check_text("body", req.body, MAX_BODY_CHARS, false)?;
        let subject = subject_from_pb(req.subject)?;
        Ok(NewNotification {
            idempotency_key: req.idempotency_key,
            recipient: Recipient {
                user_id: recipient.user_id,
                email: recipient.email,
                display_name,
            },
            kind,
            title,
            body,
            subject,
            actor_id: req.actor_id,
        })
    }
}

/// A notification id as the API writes it (a positive integer).
pub fn parse_id(field: &str, id: &str) -> Result<i64, NotifierError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| NotifierError::invalid(field, "is not a notification id"))
}

/// WatchNotifications' `after_id`: empty means "from now on".
pub fn parse_after_id(after_id: &str) -> Result<Option<i64>, NotifierError> {
    match after_id {
        "" => Ok(None),
        id => parse_id("after_id", id).map(Some),
    }
}

/// MarkRead's ids, at most [`MAX_MARK_READ_IDS`].
pub fn parse_mark_read_ids(ids: &[String]) -> Result<Vec<i64>, NotifierError> {
    if ids.len() > MAX_MARK_READ_IDS {
        return Err(NotifierError::invalid(
            "ids",
            format!("at most {MAX_MARK_READ_IDS} per call (MarkAllRead marks every one)"),
        ));
    }
    ids.iter().map(|id| parse_id("ids", id)).collect()
}

/// RemovePushSubscription's endpoint: any URL-sized printable text (one
/// that was never registered simply removes nothing).
pub fn parse_endpoint_to_remove(endpoint: String) -> Result<String, NotifierError> {
    if endpoint.is_empty()
        || endpoint.len() > MAX_ENDPOINT_BYTES
        || endpoint.chars().any(char::is_control)
    {
        return Err(NotifierError::invalid(
            "endpoint",
            format!("must be a URL of at most {MAX_ENDPOINT_BYTES} bytes"),
        ));
    }
    Ok(endpoint)
}

/// ApplyDirectoryChanges' members, as routing reads them too.
pub fn directory_facts(
    members: Vec<common::DirectoryFact>,
) -> Result<Vec<DirectoryFact>, NotifierError> {
    Ok(leadflow_db::directory::facts_from_wire(members)?)
}

impl From<pb::UpdatePreferencesRequest> for Preferences {
    fn from(req: pb::UpdatePreferencesRequest) -> Self {
        Preferences {
            email_enabled: req.email_enabled,
            push_enabled: req.push_enabled,
        }
    }
}

pub fn preferences_to_pb(p: Preferences) -> pb::Preferences {
    pb::Preferences {
        email_enabled: p.email_enabled,
        push_enabled: p.push_enabled,
        in_app_enabled: true,
    }
}

pub fn subscription_to_pb(sub: Subscription) -> pb::PushSubscription {
    pb::PushSubscription {
        endpoint: sub.endpoint,
        user_id: sub.user_id,
        created_at: Some(timestamp(sub.created_at)),
    }
}

pub fn delivery_to_pb(d: DeliveryView) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        channel: (match d.channel {
            Channel::WebPush => pb::Channel::WebPush,
            Channel::Email => pb::Channel::Email,
        }) as i32,
        target: match d.channel {
            // An endpoint URL is a bearer capability: show only its host.
            Channel::WebPush => d
                .target
                .parse::<http::Uri>()
                .ok()
                .and_then(|u| u.host().map(str::to_owned))
                .unwrap_or_default(),
            Channel::Email => d.target,
        },
        status: (match d.status {
            DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
            DeliveryStatus::Retrying => pb::DeliveryStatus::Retrying,
            DeliveryStatus::Delivered => pb::DeliveryStatus::Delivered,
            DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
            DeliveryStatus::Dead => pb::DeliveryStatus::Dead,
        }) as i32,
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        delivered_at: d.delivered_at.map(timestamp),
        next_attempt_at: Some(timestamp(d.next_attempt_at)),
        attempt_log: d
            .log
            .into_iter()
            .map(|(number, at, outcome)| pb::DeliveryAttempt {
                number,
                time: Some(timestamp(at)),
                outcome,
            })
            .collect(),
    }
}

/// The page sizes of ListNotifications.
pub const INBOX_PAGES: PageLimits = PageLimits {
    default_size: 20,
    max_size: 100,
};

/// One page of ListNotifications, as the request asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    /// Only notifications not read yet.
    pub unread_only: bool,
    /// How many notifications the page holds at most.
    pub limit: u64,
    /// The last id of the previous page (`None`: the first page).
    pub before: Option<i64>,
    /// What the page token is bound to: this list, this caller, this filter.
    pub fingerprint: [u8; 32],
}

impl InboxPage {
    /// Reads the page size, then the page token, of `caller`'s request.
    pub fn parse(
        caller: &Caller,
        req: &pb::ListNotificationsRequest,
    ) -> Result<Self, NotifierError> {
        let limit = INBOX_PAGES.size(req.page_size)?;
        let fingerprint = page::fingerprint(
            "notifications",
            &(&caller.org_id, &caller.user_id, req.unread_only),
        );
        let before = page::decode_token::<i64>(&req.page_token, &fingerprint)?;
        Ok(InboxPage {
            unread_only: req.unread_only,
            limit,
            before,
            fingerprint,
        })
    }
}
