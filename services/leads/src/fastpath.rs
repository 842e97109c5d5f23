//! The bell's fast path: right after a change commits (CreateLead, a claim,
//! an assignment), its notifications are sent to the notifier directly,
//! instead of waiting for the outbox dispatcher's next round.
//!
//! The outbox stays the guarantee. Each notification is an outbox row like
//! any other, due [`crate::store::outbox::FAST_PATH_GRACE`] after its commit;
//! the fast path sends it with the row's own idempotency key and, once the
//! notifier has it, marks the row delivered, so most bells cost one Notify.
//! Whatever the fast path does not deliver (a failure, a full queue, a
//! shutdown, a crash) the dispatcher delivers after the grace period, and
//! the notifier stores the same key once: no bell is lost or doubled.
//!
//! It never adds to the change's latency: the use case hands the rows over
//! with a non-blocking send to a bounded queue; one worker sends them, at
//! most [`IN_FLIGHT`] at once, each bounded by [`SEND_TIMEOUT`], and drops
//! what is left on shutdown. It keeps its own cost down: recipients come
//! from a short-lived cache ([`RECIPIENT_TTL`]), and the delivered marks of
//! many bells are written together in one non-durable statement.

use std::sync::Arc;
use std::time::Duration;

use leadflow_server::Shutdown;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::domain::member::Member;
use crate::peers::Peers;
use crate::store::Store;
use crate::store::outbox::Written;

/// Changes waiting for the worker; past this the fast path is skipped (the
/// outbox delivers them after the grace period).
const QUEUE: usize = 4_096;
/// Notify calls in flight at once.
const IN_FLIGHT: usize = 64;
/// The longest one fast Notify may take; well under the grace period, so a
/// slow notifier leaves the row to the dispatcher rather than race it.
const SEND_TIMEOUT: Duration = Duration::from_millis(800);
/// How long a recipient's directory entry (email, name) is reused: a
/// change to it reaches the fast path's bells within this, and the
/// dispatcher's at once.
const RECIPIENT_TTL: Duration = Duration::from_secs(10);
/// Recipients cached at most (the cache is emptied past it).
const RECIPIENTS_CACHED: usize = 10_000;
/// Delivered marks written per statement at most.
const MARKS_PER_STATEMENT: usize = 512;

/// Recipients by (organisation, user), with when they were read.
type RecipientCache = std::sync::Mutex<
    std::collections::HashMap<(String, String), (std::time::Instant, Option<Member>)>,
>;

/// The use cases' end of the fast path.
#[derive(Clone)]
pub struct FastPath {
    /// `None`: no fast path (no notifier configured); the outbox does it all.
    queue: Option<mpsc::Sender<Vec<Written>>>,
}

impl FastPath {
    /// No fast path: every notification goes through the dispatcher.
    pub fn off() -> Self {
        FastPath { queue: None }
    }

    /// Hands the notifications a change just committed to the worker,
    /// without waiting. `false`: not taken (off, or the queue is full).
    pub fn send(&self, written: Vec<Written>) -> bool {
        if written.is_empty() {
            return true;
        }
        match &self.queue {
            Some(queue) => queue.try_send(written).is_ok(),
            None => false,
        }
    }
}

/// The worker that sends what [`FastPath::send`] queued.
pub struct FastPathWorker {
    /// The queue's receiving end.
    queue: mpsc::Receiver<Vec<Written>>,
    /// The notifier.
    peers: Arc<Peers>,
    /// Where the outbox rows are (their recipient, their delivered mark).
    store: Store,
}

/// A fast path and its worker; `None` worker when the fast path is off.
pub fn fast_path(peers: Arc<Peers>, store: Store) -> (FastPath, Option<FastPathWorker>) {
    if !peers.notifies() {
        return (FastPath::off(), None);
    }
    let (sender, receiver) = mpsc::channel(QUEUE);
    let worker = FastPathWorker {
        queue: receiver,
        peers,
        store,
    };
    (
        FastPath {
            queue: Some(sender),
        },
        Some(worker),
    )
}

impl FastPathWorker {
    /// Sends queued notifications until `shutdown`; what is in flight then
    /// is dropped (the outbox has it).
    pub async fn run(mut self, mut shutdown: Shutdown) {
        let instance = loop {
            match self.store.instance_id().await {
                Ok(instance) => break instance,
                Err(error) => {
                    tracing::warn!(%error, "the fast path cannot read the database identity; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.wait() => return,
                    }
                }
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let cache: Arc<RecipientCache> = Arc::default();
        let (marks, marked) = mpsc::unbounded_channel::<i64>();
        let mut sending = tokio::task::JoinSet::new();
        sending.spawn(write_marks(self.store.clone(), marked));
        loop {
            let batch = tokio::select! {
                batch = self.queue.recv() => batch,
                () = shutdown.wait() => None,
            };
            let Some(batch) = batch else {
                sending.abort_all();
                return;
            };
            while sending.try_join_next().is_some() {}
            for written in batch {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // Busy: the dispatcher sends it after the grace period.
                    continue;
                };
                let send = FastSend {
                    peers: self.peers.clone(),
                    store: self.store.clone(),
                    instance: instance.clone(),
                    cache: cache.clone(),
                    marks: marks.clone(),
                };
                let span = tracing::info_span!("notify fast path", outbox.id = written.id);
                if let Some(traceparent) = &written.traceparent {
                    // The bell belongs to the trace of the change that rang it.
                    leadflow_telemetry::parent_from_traceparent(&span, traceparent);
                }
                sending.spawn(
                    async move {
                        send.one(written).await;
                        drop(slot);
                    }
                    .instrument(span),
                );
            }
        }
    }
}

/// Writes the delivered marks of bells sent, many per statement.
async fn write_marks(store: Store, mut marked: mpsc::UnboundedReceiver<i64>) {
    while let Some(first) = marked.recv().await {
        let mut ids = vec![first];
        while ids.len() < MARKS_PER_STATEMENT {
            match marked.try_recv() {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
        }
        if let Err(error) = store.mark_fast_delivered(&ids).await {
            tracing::debug!(%error, "fast path: marking events delivered failed; the outbox sends them again (deduplicated)");
        }
    }
}

/// What one fast Notify needs.
struct FastSend {
    /// The notifier.
    peers: Arc<Peers>,
    /// Where recipients are looked up.
    store: Store,
    /// The database's identity, part of every idempotency key.
    instance: String,
    /// Recipients read lately.
    cache: Arc<RecipientCache>,
    /// Where the ids of bells sent go, to be marked delivered.
    marks: mpsc::UnboundedSender<i64>,
}

impl FastSend {
    /// The recipient's directory entry, from the cache while fresh.
    async fn recipient(&self, org_id: &str, user_id: &str) -> Result<Option<Member>, ()> {
        let key = (org_id.to_owned(), user_id.to_owned());
        if let Some((read, member)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && read.elapsed() < RECIPIENT_TTL
        {
            return Ok(member.clone());
        }
        let member = self.store.member(org_id, user_id).await.map_err(|error| {
            tracing::debug!(%error, "fast path: recipient lookup failed; the outbox sends it");
        })?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= RECIPIENTS_CACHED {
            cache.clear();
        }
        cache.insert(key, (std::time::Instant::now(), member.clone()));
        Ok(member)
    }

    /// One fast Notify; its row is marked delivered if it went through.
    async fn one(&self, written: Written) {
        let crate::domain::events::OutboxEvent::Notify { recipient_id, .. } = &written.event else {
            return;
        };
        let Ok(member) = self.recipient(&written.org_id, recipient_id).await else {
            return;
        };
        let Some(message) = crate::dispatch::notify_message(
            &self.instance,
            written.id,
            &written.event,
            member.as_ref(),
        ) else {
            return;
        };
        match tokio::time::timeout(SEND_TIMEOUT, self.peers.notify(&written.org_id, message)).await
        {
            Ok(Ok(())) => {
                let _ = self.marks.send(written.id);
            }
            Ok(Err(status)) => {
                tracing::debug!(code = ?status.code(), "fast path: Notify failed; the outbox sends it")
            }
            Err(_) => tracing::debug!("fast path: Notify timed out; the outbox sends it"),
        }
    }
}
