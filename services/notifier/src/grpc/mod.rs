//! The gRPC face of the notifier. Each handler checks who is calling,
//! parses the request ([`convert`]), calls one use case ([`usecase`], the
//! store or the intake) and converts the answer back. Nothing is decided
//! here: the rules live in [`crate::domain`], the live stream in
//! [`crate::watcher`].

pub mod convert;
mod usecase;

use std::pin::Pin;
use std::sync::Arc;

use leadflow_auth::{Caller, Role};
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1::{self as pb, notifier_service_server::NotifierService};
use leadflow_server::Shutdown;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::channels::webpush::WebPush;
use crate::domain::fanout::Preferences;
use crate::domain::notification::NewNotification;
use crate::domain::push::PushPolicy;
use crate::error::NotifierError;
use crate::hub::Hub;
use crate::intake::Intake;
use crate::store::Store;
use convert::{
    InboxPage, delivery_to_pb, directory_facts, event_to_pb, parse_after_id,
    parse_endpoint_to_remove, parse_id, parse_mark_read_ids, preferences_to_pb, subscription_to_pb,
};

pub use convert::{MAX_ENDPOINT_BYTES, MAX_MARK_READ_IDS, notification_to_pb};

/// The NotifierService handlers.
#[derive(Clone)]
pub struct NotifierApi {
    /// The inbox, preferences, subscriptions and deliveries.
    pub store: Store,
    /// Tells every replica's streams that a recipient's inbox changed.
    pub hub: Hub,
    /// Where Notify writes go: batched into shared transactions.
    pub intake: Intake,
    /// The VAPID key browsers subscribe with; `None` when Web Push is off.
    pub webpush: Option<Arc<WebPush>>,
    /// Which push endpoints a browser may register.
    pub push_policy: PushPolicy,
    /// Turns true at shutdown: open streams end so clients reconnect elsewhere.
    pub shutdown: Shutdown,
    /// Who is still active, as the leads directory last said.
    pub directory: Arc<leadflow_db::directory::Directory>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::NotificationEvent, Status>> + Send>>;

/// One of leadflow's own services; anyone else is refused with `refusal`.
fn service<T>(request: &Request<T>, refusal: &str) -> Result<Caller, Status> {
    let caller = Caller::from_request(request)?;
    if caller.role != Role::Service {
        return Err(NotifierError::PermissionDenied(refusal.into()).into());
    }
    Ok(caller)
}

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

    /// An owner or admin of the organisation, still active.
    async fn administrator<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = Caller::from_request(request)?;
        if !matches!(caller.role, Role::Owner | Role::Admin) {
            return Err(NotifierError::PermissionDenied(
                "only an owner or admin may inspect deliveries".into(),
            )
            .into());
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
}

#[tonic::async_trait]
impl NotifierService for NotifierApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "Notify", notification.id, created))]
    async fn notify(
        &self,
        request: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let caller = service(&request, "only leadflow's own services may notify")?;
        let new = NewNotification::try_from(request.into_inner())?;
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
        let page = InboxPage::parse(&caller, request.get_ref())?;
        let (notifications, next_page_token) = self.list_inbox(&caller, page).await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: notifications.iter().map(notification_to_pb).collect(),
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
        let ids = parse_mark_read_ids(&request.get_ref().ids)?;
        let count = self.mark_as_read(&caller, &ids).await?;
        Ok(Response::new(pb::UnreadCount { count }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "MarkAllRead"))]
    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = self.recipient(&request).await?;
        self.mark_all_as_read(&caller).await?;
        Ok(Response::new(pb::UnreadCount { count: 0 }))
    }

    type WatchNotificationsStream = EventStream;

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "WatchNotifications"))]
    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let caller = self.recipient(&request).await?;
        let after = parse_after_id(&request.get_ref().after_id)?;
        let events = self.watch(caller, after).await?;
        let stream = ReceiverStream::new(events).map(|event| Ok(event_to_pb(event)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = self.recipient(&request).await?;
        let prefs = self
            .store
            .preferences(&caller.org_id, &caller.user_id)
            .await?;
        Ok(Response::new(preferences_to_pb(prefs)))
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = self.recipient(&request).await?;
        let wanted = Preferences::from(request.into_inner());
        let prefs = self
            .store
            .set_preferences(&caller.org_id, &caller.user_id, wanted)
            .await?;
        Ok(Response::new(preferences_to_pb(prefs)))
    }

    async fn get_vapid_public_key(
        &self,
        _request: Request<pb::GetVapidPublicKeyRequest>,
    ) -> Result<Response<pb::VapidPublicKey>, Status> {
        let webpush = self.webpush.as_ref().ok_or_else(|| {
            NotifierError::FailedPrecondition(
                "web push is not configured on this deployment (NOTIFIER_VAPID_PRIVATE_KEY)".into(),
            )
        })?;
        let key = webpush.public_key().to_owned();
        Ok(Response::new(pb::VapidPublicKey { key }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "AddPushSubscription"))]
    async fn add_push_subscription(
        &self,
        request: Request<pb::AddPushSubscriptionRequest>,
    ) -> Result<Response<pb::PushSubscription>, Status> {
        let caller = self.recipient(&request).await?;
        let req = request.get_ref();
        let new = self
            .push_policy
            .check_subscription(&req.endpoint, &req.p256dh, &req.auth)?;
        let sub = self.add_subscription(&caller, new).await?;
        Ok(Response::new(subscription_to_pb(sub)))
    }

    async fn remove_push_subscription(
        &self,
        request: Request<pb::RemovePushSubscriptionRequest>,
    ) -> Result<Response<pb::RemovePushSubscriptionResponse>, Status> {
        let caller = self.recipient(&request).await?;
        let endpoint = parse_endpoint_to_remove(request.into_inner().endpoint)?;
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
        let refusal = "only leadflow's own services may publish the directory";
        let caller = service(&request, refusal)?;
        let facts = directory_facts(request.into_inner().members)?;
        self.apply_directory(&caller, &facts).await?;
        Ok(Response::new(common::ApplyDirectoryChangesResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListDeliveries"))]
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = self.administrator(&request).await?;
        let id = parse_id("notification_id", &request.get_ref().notification_id)?;
        let deliveries = self.deliveries(&caller, id).await?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: deliveries.into_iter().map(delivery_to_pb).collect(),
        }))
    }
}
