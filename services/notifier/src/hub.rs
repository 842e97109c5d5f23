//! Live fan-out to WatchNotifications streams, across notifier replicas.
//!
//! Every replica keeps one in-process broadcast channel. On Postgres, events
//! travel through `NOTIFY leadflow_notifier` and each replica holds exactly
//! one `LISTEN` connection that feeds its channel (not one per watcher); on
//! SQLite (one process) events go straight into the channel.
//!
//! Events only say "something changed for user X"; watchers then read the
//! database from the last id they sent, so a dropped or lagging event never
//! leaves a gap.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The Postgres channel the replicas share.
const CHANNEL: &str = "leadflow_notifier";

/// What changed for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubEvent {
    /// The recipient's organisation (empty for `resync`).
    pub org: String,
    /// The recipient whose watchers should re-read (empty for `resync`).
    pub user: String,
    /// `new` (a notification arrived) or `count` (the unread count changed);
    /// `resync` (org and user empty) asks every watcher to re-read.
    pub what: String,
}

impl HubEvent {
    pub fn new_notification(org: &str, user: &str) -> Self {
        HubEvent {
            org: org.into(),
            user: user.into(),
            what: "new".into(),
        }
    }

    pub fn count_changed(org: &str, user: &str) -> Self {
        HubEvent {
            org: org.into(),
            user: user.into(),
            what: "count".into(),
        }
    }

    fn resync() -> Self {
        HubEvent {
            org: String::new(),
            user: String::new(),
            what: "resync".into(),
        }
    }

    pub fn is_resync(&self) -> bool {
        self.what == "resync"
    }
}

/// The fan-out of one replica.
#[derive(Debug, Clone)]
pub struct Hub {
    /// This replica's fan-out to its watchers; never waits for a slow one.
    tx: broadcast::Sender<HubEvent>,
    /// Set on Postgres: events go through NOTIFY.
    postgres: Option<DatabaseConnection>,
}

impl Hub {
    /// An in-process hub (SQLite, one replica).
    pub fn local() -> Hub {
        Hub {
            tx: broadcast::channel(1024).0,
            postgres: None,
        }
    }

    /// A hub that fans out through Postgres, listening on one connection
    /// (reconnecting, and telling watchers to re-read after a gap).
    pub fn postgres(db: DatabaseConnection, url: &str) -> Hub {
        let hub = Hub {
            tx: broadcast::channel(1024).0,
            postgres: Some(db),
        };
        tokio::spawn(listen(url.to_owned(), hub.tx.clone()));
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }

    /// Tells every replica's watchers of `user` that something changed.
    pub async fn publish(&self, event: HubEvent) {
        let events = vec![event];
        match (&self.postgres, notify_statement(&events)) {
            (Some(db), Some(statement)) => {
                if let Err(error) = db.execute_raw(statement).await {
                    // Watchers of this replica still learn of it; others catch
                    // up on their next event or reconnect.
                    tracing::warn!(%error, "pg_notify failed");
                    self.send_here(events);
                }
            }
            _ => self.send_here(events),
        }
    }

    /// For new notifications stored in a transaction that has not committed
    /// yet: on Postgres, the NOTIFY to run inside it (sent at commit, and only
    /// if it commits; one per distinct recipient). `None` in process: call
    /// [`Hub::after_commit`] instead.
    pub fn announcement(&self, recipients: &[(String, String)]) -> Option<Statement> {
        self.postgres.as_ref()?;
        notify_statement(&Self::new_notifications(recipients))
    }

    /// After the commit of new notifications: tells this process's watchers
    /// when there is no Postgres to carry the announcement.
    pub fn after_commit(&self, recipients: &[(String, String)]) {
        if self.postgres.is_none() {
            self.send_here(Self::new_notifications(recipients));
        }
    }

    fn new_notifications(recipients: &[(String, String)]) -> Vec<HubEvent> {
        let mut seen = std::collections::HashSet::new();
        recipients
            .iter()
            .filter(|r| seen.insert(*r))
            .map(|(org, user)| HubEvent::new_notification(org, user))
            .collect()
    }

    fn send_here(&self, events: Vec<HubEvent>) {
        for event in events {
            let _ = self.tx.send(event);
        }
    }
}

/// One statement that NOTIFYs every event.
fn notify_statement(events: &[HubEvent]) -> Option<Statement> {
    if events.is_empty() {
        return None;
    }
    let placeholders: Vec<String> = (0..events.len()).map(|i| format!("(${})", i + 2)).collect();
    let sql = format!(
        "SELECT pg_notify($1, payload) FROM (VALUES {}) AS events(payload)",
        placeholders.join(", ")
    );
    let values = std::iter::once(CHANNEL.into()).chain(
        events
            .iter()
            .map(|e| serde_json::to_string(e).expect("event serialises").into()),
    );
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

async fn listen(url: String, tx: broadcast::Sender<HubEvent>) {
    let mut backoff = Duration::from_millis(100);
    let mut reconnecting = false;
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    if reconnecting {
                        // Anything sent while we were away: everyone re-reads.
                        let _ = tx.send(HubEvent::resync());
                    }
                    reconnecting = true;
                    loop {
                        match listener.recv().await {
                            Ok(n) => {
                                if let Ok(event) = serde_json::from_str::<HubEvent>(n.payload()) {
                                    let _ = tx.send(event);
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%error, "LISTEN connection lost; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "LISTEN failed"),
            },
            Err(error) => tracing::warn!(%error, "LISTEN connection failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
