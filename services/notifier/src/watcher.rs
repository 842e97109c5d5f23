//! The task behind one WatchNotifications stream.
//!
//! Each open stream gets its own task, so a slow client only ever slows its
//! own task: the [`Hub`] never waits. The hub only says "something changed
//! for user X"; the task then reads the database from its floor and sends
//! what it has not sent yet (see [`crate::domain::sent_window`] for why it
//! re-reads below the newest id it sent), and the unread count when it
//! changed. A dropped or lagging hub event therefore never leaves a gap.
//!
//! Each wake-up reads only ids in the window (from the inbox index) and
//! fetches the rows of those not sent yet, so its cost does not grow with how
//! many arrived in the last seconds.

use leadflow_server::Shutdown;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use crate::domain::notification::Notification;
use crate::domain::sent_window::SentWindow;
use crate::error::NotifierError;
use crate::hub::{Hub, HubEvent};
use crate::store::Store;

/// Events a stream may queue before its task waits for the client.
const BUFFER: usize = 64;
/// Ids read per query while catching up.
const IDS_PER_READ: u64 = 1_000;
/// Rows fetched per query while catching up.
const ROWS_PER_READ: usize = 100;

/// What a stream tells its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A new notification for the recipient.
    Notification(Notification),
    /// The recipient's unread count changed (or, first, what it is now).
    UnreadCount(i64),
}

/// Starts a stream of `user`'s notifications after the id `after` (`None`:
/// from now on), first with the unread count. The stream ends when the
/// client goes, when `shutdown` turns true (so clients reconnect elsewhere),
/// or when a read fails (the client reconnects with its last id).
pub async fn start(
    store: Store,
    hub: &Hub,
    shutdown: Shutdown,
    org: String,
    user: String,
    after: Option<i64>,
) -> Result<mpsc::Receiver<WatchEvent>, NotifierError> {
    // Subscribe before reading anything, so nothing falls in between.
    let events = hub.subscribe();
    let floor = match after {
        Some(id) => id,
        None => store.latest_id(&org, &user).await?,
    };
    let count = store.unread_count(&org, &user).await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let watcher = Watcher {
        store,
        org,
        user,
        tx,
        floor,
        sent: SentWindow::default(),
        last_count: count,
    };
    tokio::spawn(watcher.run(events, shutdown));
    Ok(rx)
}

/// The watcher is done: its client left or a read failed.
struct Ended;

impl From<NotifierError> for Ended {
    fn from(_: NotifierError) -> Self {
        Ended
    }
}

/// One stream's state.
struct Watcher {
    /// Where the notifications are read from.
    store: Store,
    /// The recipient's organisation.
    org: String,
    /// The recipient.
    user: String,
    /// The client's end of the stream.
    tx: mpsc::Sender<WatchEvent>,
    /// Every id at or below it was sent, or committed too late to be.
    floor: i64,
    /// What was sent above the floor.
    sent: SentWindow,
    /// The unread count the client last heard, so an unchanged one stays quiet.
    last_count: i64,
}

impl Watcher {
    async fn run(mut self, mut events: broadcast::Receiver<HubEvent>, mut shutdown: Shutdown) {
        if self
            .send(WatchEvent::UnreadCount(self.last_count))
            .await
            .is_err()
            || self.catch_up().await.is_err()
        {
            return;
        }
        loop {
            let event = tokio::select! {
                () = shutdown.wait() => return,
                _ = self.tx.closed() => return,
                event = events.recv() => event,
            };
            let (notifications, count) = match event {
                Ok(e) if e.is_resync() => (true, true),
                Ok(e) if e.org == self.org && e.user == self.user => (e.what == "new", true),
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => (true, true),
                Err(RecvError::Closed) => return,
            };
            if notifications && self.catch_up().await.is_err() {
                return;
            }
            if count && self.send_count_if_changed().await.is_err() {
                return;
            }
        }
    }

    /// Sends every notification above the floor not sent yet, oldest first.
    async fn catch_up(&mut self) -> Result<(), Ended> {
        self.sent.expire(&mut self.floor);
        let mut cursor = self.floor;
        loop {
            let ids = self
                .store
                .ids_after(&self.org, &self.user, cursor, IDS_PER_READ)
                .await?;
            let Some(&newest) = ids.last() else {
                return Ok(());
            };
            cursor = newest;
            let unsent = self.sent.unsent(ids);
            for chunk in unsent.chunks(ROWS_PER_READ) {
                for n in self.store.by_ids(&self.org, &self.user, chunk).await? {
                    let id = n.id;
                    self.send(WatchEvent::Notification(n)).await?;
                    self.sent.record(id, &mut self.floor);
                }
            }
        }
    }

    /// Only real changes: an event that changed nothing stays quiet.
    async fn send_count_if_changed(&mut self) -> Result<(), Ended> {
        let now = self.store.unread_count(&self.org, &self.user).await?;
        if now != self.last_count {
            self.last_count = now;
            self.send(WatchEvent::UnreadCount(now)).await?;
        }
        Ok(())
    }

    async fn send(&self, event: WatchEvent) -> Result<(), Ended> {
        self.tx.send(event).await.map_err(|_| Ended)
    }
}
