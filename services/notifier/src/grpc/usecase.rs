//! What each call does, in the domain's terms: the handlers in
//! [`super`] parse a request, call one of these and convert the answer. No
//! wire types here beyond the page token, which is the chassis' own.

use leadflow_auth::Caller;
use leadflow_db::directory::DirectoryFact;
use leadflow_server::page;
use tokio::sync::mpsc;

use super::NotifierApi;
use super::convert::InboxPage;
use crate::domain::notification::Notification;
use crate::domain::push::NewSubscription;
use crate::error::NotifierError;
use crate::hub::HubEvent;
use crate::store::{DeliveryView, Subscription};
use crate::watcher::{self, WatchEvent};

impl NotifierApi {
    /// One page of the caller's inbox, newest first, and the token of the
    /// next page (empty on the last).
    pub async fn list_inbox(
        &self,
        caller: &Caller,
        page: InboxPage,
    ) -> Result<(Vec<Notification>, String), NotifierError> {
        let rows = self
            .store
            .list(
                &caller.org_id,
                &caller.user_id,
                page.unread_only,
                page.before,
                page.limit + 1,
            )
            .await?;
        Ok(page::cut(rows, page.limit, &page.fingerprint, |n| n.id))
    }

    /// Marks the caller's notifications among `ids` read; returns the unread
    /// count after.
    pub async fn mark_as_read(&self, caller: &Caller, ids: &[i64]) -> Result<i64, NotifierError> {
        self.mark(caller, Some(ids)).await?;
        self.store
            .unread_count(&caller.org_id, &caller.user_id)
            .await
    }

    /// Marks every notification of the caller read.
    pub async fn mark_all_as_read(&self, caller: &Caller) -> Result<(), NotifierError> {
        self.mark(caller, None).await
    }

    /// Marks read and, if that changed anything, tells the caller's streams
    /// on every replica.
    async fn mark(&self, caller: &Caller, ids: Option<&[i64]>) -> Result<(), NotifierError> {
        if self
            .store
            .mark_read(&caller.org_id, &caller.user_id, ids)
            .await?
            > 0
        {
            self.hub
                .publish(HubEvent::count_changed(&caller.org_id, &caller.user_id))
                .await;
        }
        Ok(())
    }

    /// Opens a live stream of the caller's notifications after `after`.
    pub async fn watch(
        &self,
        caller: Caller,
        after: Option<i64>,
    ) -> Result<mpsc::Receiver<WatchEvent>, NotifierError> {
        watcher::start(
            self.store.clone(),
            &self.hub,
            self.shutdown.clone(),
            caller.org_id,
            caller.user_id,
            after,
        )
        .await
    }

    /// Registers a browser of the caller for Web Push.
    pub async fn add_subscription(
        &self,
        caller: &Caller,
        new: NewSubscription,
    ) -> Result<Subscription, NotifierError> {
        self.store
            .add_subscription(
                &caller.org_id,
                &caller.user_id,
                &new.endpoint,
                &new.p256dh,
                &new.auth,
            )
            .await
    }

    /// A notification's deliveries, NOT_FOUND unless it is in the caller's
    /// organisation.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        notification_id: i64,
    ) -> Result<Vec<DeliveryView>, NotifierError> {
        self.store
            .deliveries(&caller.org_id, notification_id)
            .await?
            .ok_or_else(|| NotifierError::NotFound("notification not found".into()))
    }

    /// Keeps what the leads directory says about the caller's organisation.
    pub async fn apply_directory(
        &self,
        caller: &Caller,
        facts: &[DirectoryFact],
    ) -> Result<(), NotifierError> {
        Ok(self.directory.apply(&caller.org_id, facts).await?)
    }
}
