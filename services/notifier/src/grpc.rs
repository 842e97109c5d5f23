//! The gRPC face of the notifier: thin handlers over the store, the hub and
//! the delivery queue.

use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leadflow_auth::{Caller, Role};
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1::{self as pb, notifier_service_server::NotifierService};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::channels::webpush::WebPush;
use crate::domain::notification::{
    Kind, LeadRef, MAX_BATCH_LEADS, MAX_BODY_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_KEY_CHARS,
    MAX_NAME_CHARS, MAX_TITLE_CHARS, NewNotification, Notification, Recipient, Subject,
    check_email, check_id, check_text,
};
use crate::domain::push::{PushPolicy, check_auth, check_p256dh};
use crate::error::NotifierError;
use crate::hub::{Hub, HubEvent};
use crate::intake::Intake;
use crate::store::{Channel, Preferences, Status as DeliveryStatus, Store};

/// How long a watcher keeps re-reading below the newest id it sent, for a
/// notification whose transaction took an older id but committed later.
const LATE_COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest push endpoint URL.
pub const MAX_ENDPOINT_BYTES: usize = 2_048;
/// Most ids in one MarkRead call.
pub const MAX_MARK_READ_IDS: usize = 1_000;
/// Most sent ids a watcher remembers within that window.
const MAX_RECENT: usize = 1_000;

/// What a watcher sent within the late-commit window: ids re-read there are
/// skipped, and the floor moves past an id once it leaves the window.
#[derive(Default)]
struct SentWindow {
    recent: std::collections::VecDeque<(i64, std::time::Instant)>,
    ids: std::collections::HashSet<i64>,
}

impl SentWindow {
    fn has(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }

    /// Remembers a sent id; past [`MAX_RECENT`] (a flood) the oldest leaves
    /// the window early.
    fn record(&mut self, id: i64, floor: &mut i64) {
        self.recent.push_back((id, std::time::Instant::now()));
        self.ids.insert(id);
        while self.recent.len() > MAX_RECENT {
            self.forget_oldest(floor);
        }
    }

    /// Lets go of the ids sent longer than [`LATE_COMMIT_WINDOW`] ago.
    fn expire(&mut self, floor: &mut i64) {
        while self
            .recent
            .front()
            .is_some_and(|(_, at)| at.elapsed() > LATE_COMMIT_WINDOW)
        {
            self.forget_oldest(floor);
        }
    }

    fn forget_oldest(&mut self, floor: &mut i64) {
        if let Some((id, _)) = self.recent.pop_front() {
            self.ids.remove(&id);
            *floor = (*floor).max(id);
        }
    }
}

/// The NotifierService handlers.
#[derive(Clone)]
pub struct NotifierApi {
    pub store: Store,
    pub hub: Hub,
    /// Where Notify writes go: batched into shared transactions.
    pub intake: Intake,
    pub webpush: Option<Arc<WebPush>>,
    pub push_policy: PushPolicy,
    /// Turns true at shutdown: open streams end so clients reconnect elsewhere.
    pub shutdown: watch::Receiver<bool>,
    /// Who is still active, as the leads directory last said.
    pub directory: Arc<leadflow_db::directory::Directory>,
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
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

fn parse_notify(req: pb::NotifyRequest) -> Result<NewNotification, NotifierError> {
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
    let kind = match pb::NotificationKind::try_from(req.kind) {
        Ok(pb::NotificationKind::LeadRouted) => Kind::LeadRouted,
        Ok(pb::NotificationKind::LeadAssigned) => Kind::LeadAssigned,
        Ok(pb::NotificationKind::LeadReassigned) => Kind::LeadReassigned,
        Ok(pb::NotificationKind::LeadsAssigned) => Kind::LeadsAssigned,
        _ => {
            return Err(NotifierError::invalid(
                "kind",
                format!("unknown or missing kind {}", req.kind),
            ));
        }
    };
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
    let subject = match req.subject {
        Some(pb::notify_request::Subject::Lead(l)) => Subject::Lead(lead_from_pb("lead", l)?),
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
            Subject::Batch {
                batch_id: b.batch_id,
                count: b.count,
                leads: b
                    .leads
                    .into_iter()
                    .map(|l| lead_from_pb("batch.leads", l))
                    .collect::<Result<_, _>>()?,
            }
        }
        None => {
            return Err(NotifierError::invalid(
                "lead",
                "a lead or a batch is required",
            ));
        }
    };
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

fn parse_id(field: &str, id: &str) -> Result<i64, NotifierError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| NotifierError::invalid(field, "is not a notification id"))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::NotificationEvent, Status>> + Send>>;

impl NotifierApi {
    /// A person reading their own inbox (machines have none), still active
    /// as far as the directory knows.
    async fn recipient<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = Caller::from_request(request)?;
        if !caller.role.is_person() {
            return Err(
                NotifierError::PermissionDenied("only people have notifications".into()).into(),
            );
        }
        self.refuse_deactivated(&caller).await?;
        Ok(caller)
    }

    /// PERMISSION_DENIED for a member the leads directory deactivated.
    async fn refuse_deactivated(&self, caller: &Caller) -> Result<(), Status> {
        if self
            .directory
            .is_deactivated(&caller.org_id, &caller.user_id)
            .await
            .map_err(NotifierError::from)?
        {
            return Err(NotifierError::PermissionDenied(
                "your membership of this organisation was deactivated".into(),
            )
            .into());
        }
        Ok(())
    }

    async fn count_event(
        &self,
        org: &str,
        user: &str,
    ) -> Result<pb::NotificationEvent, NotifierError> {
        let count = self.store.unread_count(org, user).await?;
        Ok(pb::NotificationEvent {
            event: Some(pb::notification_event::Event::UnreadCount(
                pb::UnreadCount { count },
            )),
        })
    }
}

#[tonic::async_trait]
impl NotifierService for NotifierApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "Notify", notification.id, created))]
    async fn notify(
        &self,
        request: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let caller = Caller::from_request(&request)?;
        if caller.role != Role::Service {
            return Err(NotifierError::PermissionDenied(
                "only leadflow's own services may notify".into(),
            )
            .into());
        }
        let new = parse_notify(request.into_inner())?;
        // Stored with whatever else is arriving; the intake wakes the
        // delivery worker and the watchers.
        let (notification, created) = self.intake.notify(&caller.org_id, new).await?;
        let span = tracing::Span::current();
        span.record("notification.id", notification.id);
        span.record("created", created);
        Ok(Response::new(notification_to_pb(&notification)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListNotifications"))]
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let caller = self.recipient(&request).await?;
        let req = request.into_inner();
        let limit = match req.page_size {
            0 => 20,
            n if (1..=100).contains(&n) => n as u64,
            _ => {
                return Err(
                    NotifierError::invalid("page_size", "must be between 1 and 100").into(),
                );
            }
        };
        let before = match req.page_token.as_str() {
            "" => None,
            token => Some(
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.strip_prefix("n:").and_then(|n| n.parse::<i64>().ok()))
                    .ok_or_else(|| {
                        NotifierError::invalid("page_token", "is not a page token of this list")
                    })?,
            ),
        };
        let page = self
            .store
            .list(
                &caller.org_id,
                &caller.user_id,
                req.unread_only,
                before,
                limit + 1,
            )
            .await?;
        let more = page.len() as u64 > limit;
        let page: Vec<_> = page.into_iter().take(limit as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if more => URL_SAFE_NO_PAD.encode(format!("n:{}", last.id)),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page.iter().map(notification_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = self.recipient(&request).await?;
        let count = self
            .store
            .unread_count(&caller.org_id, &caller.user_id)
            .await?;
        Ok(Response::new(pb::UnreadCount { count }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "MarkRead"))]
    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = self.recipient(&request).await?;
        if request.get_ref().ids.len() > MAX_MARK_READ_IDS {
            return Err(NotifierError::invalid(
                "ids",
                format!("at most {MAX_MARK_READ_IDS} per call (MarkAllRead marks every one)"),
            )
            .into());
        }
        let ids = request
            .into_inner()
            .ids
            .iter()
            .map(|id| parse_id("ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        if self
            .store
            .mark_read(&caller.org_id, &caller.user_id, Some(&ids))
            .await?
            > 0
        {
            self.hub
                .publish(HubEvent::count_changed(&caller.org_id, &caller.user_id))
                .await;
        }
        let count = self
            .store
            .unread_count(&caller.org_id, &caller.user_id)
            .await?;
        Ok(Response::new(pb::UnreadCount { count }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "MarkAllRead"))]
    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = self.recipient(&request).await?;
        if self
            .store
            .mark_read(&caller.org_id, &caller.user_id, None)
            .await?
            > 0
        {
            self.hub
                .publish(HubEvent::count_changed(&caller.org_id, &caller.user_id))
                .await;
        }
        Ok(Response::new(pb::UnreadCount { count: 0 }))
    }

    type WatchNotificationsStream = EventStream;

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "WatchNotifications"))]
    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let caller = self.recipient(&request).await?;
        let req = request.into_inner();
        let (org, user) = (caller.org_id, caller.user_id);
        // Subscribe before reading anything, so nothing falls in between.
        let mut events = self.hub.subscribe();
        let mut last = match req.after_id.as_str() {
            "" => self.store.latest_id(&org, &user).await?,
            id => parse_id("after_id", id)?,
        };
        let first = self.count_event(&org, &user).await?;
        let (tx, rx) = mpsc::channel::<Result<pb::NotificationEvent, Status>>(64);
        let api = self.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            // A slow client only ever slows its own task: the hub never waits.
            //
            // Ids are taken when a transaction inserts, but transactions
            // commit in any order: id 11 can be visible before id 10. So the
            // watcher does not just read "after the last id sent"; it reads
            // again from `last` (the floor) and skips what it already sent,
            // and the floor only moves past an id once that id was sent
            // LATE_COMMIT_WINDOW ago. A notification committed late still
            // arrives (after a newer one), as long as it commits within the
            // window of a newer one, which a Notify transaction always does.
            //
            // Each wake-up reads only ids in the window (from the inbox index)
            // and fetches the rows of those not sent yet, so its cost does
            // not grow with how many arrived in the last seconds.
            let mut sent = SentWindow::default();
            let mut catch_up = async |last: &mut i64| -> Result<bool, NotifierError> {
                sent.expire(last);
                let mut any = false;
                let mut cursor = *last;
                loop {
                    let ids = api.store.ids_after(&org, &user, cursor, 1_000).await?;
                    let Some(&newest) = ids.last() else {
                        return Ok(any);
                    };
                    cursor = newest;
                    let unsent: Vec<i64> = ids.into_iter().filter(|id| !sent.has(*id)).collect();
                    for chunk in unsent.chunks(100) {
                        for n in api.store.by_ids(&org, &user, chunk).await? {
                            let event = pb::NotificationEvent {
                                event: Some(pb::notification_event::Event::Notification(
                                    notification_to_pb(&n),
                                )),
                            };
                            if tx.send(Ok(event)).await.is_err() {
                                return Err(NotifierError::Internal("watcher gone".into()));
                            }
                            sent.record(n.id, last);
                            any = true;
                        }
                    }
                }
            };
            let mut last_count = match &first.event {
                Some(pb::notification_event::Event::UnreadCount(c)) => c.count,
                _ => -1,
            };
            if tx.send(Ok(first)).await.is_err() || catch_up(&mut last).await.is_err() {
                return;
            }
            loop {
                let event = tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    _ = tx.closed() => return,
                    event = events.recv() => event,
                };
                let (notifications, count) = match event {
                    Ok(e) if e.is_resync() => (true, true),
                    Ok(e) if e.org == org && e.user == user => (e.what == "new", true),
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => (true, true),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if notifications && catch_up(&mut last).await.is_err() {
                    return;
                }
                if count {
                    // Only real changes: an event that changed nothing stays quiet.
                    let Ok(now) = api.store.unread_count(&org, &user).await else {
                        return;
                    };
                    if now != last_count {
                        last_count = now;
                        let event = pb::NotificationEvent {
                            event: Some(pb::notification_event::Event::UnreadCount(
                                pb::UnreadCount { count: now },
                            )),
                        };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = self.recipient(&request).await?;
        let p = self
            .store
            .preferences(&caller.org_id, &caller.user_id)
            .await?;
        Ok(Response::new(pb::Preferences {
            email_enabled: p.email_enabled,
            push_enabled: p.push_enabled,
            in_app_enabled: true,
        }))
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = self.recipient(&request).await?;
        let req = request.into_inner();
        let p = self
            .store
            .set_preferences(
                &caller.org_id,
                &caller.user_id,
                Preferences {
                    email_enabled: req.email_enabled,
                    push_enabled: req.push_enabled,
                },
            )
            .await?;
        Ok(Response::new(pb::Preferences {
            email_enabled: p.email_enabled,
            push_enabled: p.push_enabled,
            in_app_enabled: true,
        }))
    }

    async fn get_vapid_public_key(
        &self,
        _request: Request<pb::GetVapidPublicKeyRequest>,
    ) -> Result<Response<pb::VapidPublicKey>, Status> {
        match &self.webpush {
            Some(webpush) => Ok(Response::new(pb::VapidPublicKey {
                key: webpush.public_key().to_owned(),
            })),
            None => Err(Status::failed_precondition(
                "web push is not configured on this deployment (NOTIFIER_VAPID_PRIVATE_KEY)",
            )),
        }
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "AddPushSubscription"))]
    async fn add_push_subscription(
        &self,
        request: Request<pb::AddPushSubscriptionRequest>,
    ) -> Result<Response<pb::PushSubscription>, Status> {
        let caller = self.recipient(&request).await?;
        let req = request.into_inner();
        let endpoint = self.push_policy.check_endpoint(&req.endpoint)?;
        let p256dh = check_p256dh(&req.p256dh)?;
        let auth = check_auth(&req.auth)?;
        let sub = self
            .store
            .add_subscription(&caller.org_id, &caller.user_id, &endpoint, &p256dh, &auth)
            .await?;
        Ok(Response::new(pb::PushSubscription {
            endpoint: sub.endpoint,
            user_id: sub.user_id,
            created_at: Some(timestamp(sub.created_at)),
        }))
    }

    async fn remove_push_subscription(
        &self,
        request: Request<pb::RemovePushSubscriptionRequest>,
    ) -> Result<Response<pb::RemovePushSubscriptionResponse>, Status> {
        let caller = self.recipient(&request).await?;
        let endpoint = request.into_inner().endpoint;
        if endpoint.is_empty()
            || endpoint.len() > MAX_ENDPOINT_BYTES
            || endpoint.chars().any(char::is_control)
        {
            return Err(NotifierError::invalid(
                "endpoint",
                format!("must be a URL of at most {MAX_ENDPOINT_BYTES} bytes"),
            )
            .into());
        }
        let removed = self
            .store
            .remove_subscription(&caller.org_id, &caller.user_id, &endpoint)
            .await?;
        Ok(Response::new(pb::RemovePushSubscriptionResponse {
            removed,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ApplyDirectoryChanges"))]
    async fn apply_directory_changes(
        &self,
        request: Request<common::ApplyDirectoryChangesRequest>,
    ) -> Result<Response<common::ApplyDirectoryChangesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        if caller.role != Role::Service {
            return Err(NotifierError::PermissionDenied(
                "only leadflow's own services may publish the directory".into(),
            )
            .into());
        }
        let members = request.into_inner().members;
        if members.len() > leadflow_db::directory::MAX_FACTS {
            return Err(NotifierError::invalid(
                "members",
                format!("at most {} per call", leadflow_db::directory::MAX_FACTS),
            )
            .into());
        }
        let facts = members
            .into_iter()
            .map(|f| {
                check_id("members.user_id", &f.user_id)?;
                if f.version < 0 {
                    return Err(NotifierError::invalid(
                        "members.version",
                        "may not be negative",
                    ));
                }
                Ok(leadflow_db::directory::DirectoryFact {
                    role: common::Role::try_from(f.role)
                        .map_or("ROLE_UNSPECIFIED", |r| r.as_str_name())
                        .to_ascii_lowercase(),
                    user_id: f.user_id,
                    active: f.active,
                    available: f.available,
                    version: f.version,
                })
            })
            .collect::<Result<Vec<_>, NotifierError>>()?;
        self.directory
            .apply(&caller.org_id, &facts)
            .await
            .map_err(NotifierError::from)?;
        Ok(Response::new(common::ApplyDirectoryChangesResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListDeliveries"))]
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        if !matches!(caller.role, Role::Owner | Role::Admin) {
            return Err(NotifierError::PermissionDenied(
                "only an owner or admin may inspect deliveries".into(),
            )
            .into());
        }
        self.refuse_deactivated(&caller).await?;
        let id = parse_id("notification_id", &request.into_inner().notification_id)?;
        let deliveries = self
            .store
            .deliveries(&caller.org_id, id)
            .await?
            .ok_or_else(|| NotifierError::NotFound("notification not found".into()))?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: deliveries
                .into_iter()
                .map(|d| pb::Delivery {
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
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_skips_what_it_sent_and_a_flood_moves_the_floor_past_the_oldest() {
        let mut window = SentWindow::default();
        let mut floor = 10;
        window.record(12, &mut floor);
        window.record(11, &mut floor); // committed late, sent after 12
        assert!(window.has(11) && window.has(12) && !window.has(13));
        window.expire(&mut floor);
        assert_eq!(
            floor, 10,
            "within the window the floor stays, so late commits are re-read"
        );

        for id in 13..13 + MAX_RECENT as i64 {
            window.record(id, &mut floor);
        }
        // Two over the limit: the two sent first left the window.
        assert_eq!(floor, 12);
        assert!(!window.has(11) && !window.has(12) && window.has(13));
    }
}
