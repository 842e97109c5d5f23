//! Group commit for Notify.
//!
//! Every Notify must be durable before it is acknowledged, and a durable
//! commit (a WAL flush) costs more than everything else Notify does. On a
//! busy system the calls come many at once: the leads outbox sends a whole
//! batch of events concurrently. So calls queue here, and a few writers each
//! take whatever is waiting (up to [`MAX_BATCH`]) and store it in one
//! transaction: one flush for the lot. A call that arrives alone is written
//! alone and at once; nothing ever waits on a timer.
//!
//! A call is answered only after its transaction committed, so an
//! acknowledged notification survives a crash; a call whose batch was lost
//! gets an error and its sender retries (Notify is idempotent). When a batch
//! fails, its notifications are tried again one per transaction, so one bad
//! notification fails only its own call.

use std::sync::Arc;

use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tracing::Instrument;

use crate::domain::notification::{NewNotification, Notification};
use crate::error::NotifierError;
use crate::hub::Hub;
use crate::store::{Notified, PendingNotify, Store};

/// Most notifications stored in one transaction.
const MAX_BATCH: usize = 128;
/// Writers taking batches at the same time: while one waits for its flush,
/// the next batch is already being written.
const WRITERS: usize = 4;
/// Calls that may wait for a writer before senders feel backpressure.
const QUEUE: usize = 4 * MAX_BATCH;

type Reply = oneshot::Sender<Result<(Notification, bool), NotifierError>>;

/// The front of the Notify write path (cheap to clone).
#[derive(Clone)]
pub struct Intake {
    /// Calls waiting for a writer, each with where its answer goes.
    queue: mpsc::Sender<(PendingNotify, Reply)>,
}

impl Intake {
    /// Starts the writers; they stop when the last clone of the intake is gone.
    pub fn start(store: Store, hub: Hub, wake: Arc<Notify>) -> Intake {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(
                waiting.clone(),
                store.clone(),
                hub.clone(),
                wake.clone(),
            ));
        }
        Intake { queue }
    }

    /// Stores a notification (once per key) and returns it with whether it
    /// is new, after its transaction committed.
    pub async fn notify(
        &self,
        org_id: &str,
        new: NewNotification,
    ) -> Result<(Notification, bool), NotifierError> {
        let pending = PendingNotify {
            org_id: org_id.to_owned(),
            new,
            traceparent: leadflow_telemetry::current_traceparent(),
        };
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((pending, reply))
            .await
            .map_err(|_| NotifierError::Unavailable("the notifier is shutting down".into()))?;
        answer
            .await
            .map_err(|_| NotifierError::Unavailable("the notifier is shutting down".into()))?
    }
}

/// One writer: takes what is waiting, stores it, answers, repeats.
async fn write_batches(
    waiting: Arc<Mutex<mpsc::Receiver<(PendingNotify, Reply)>>>,
    store: Store,
    hub: Hub,
    wake: Arc<Notify>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            if waiting.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // every sender is gone
            }
        }
        let span = tracing::info_span!("notify batch", notifications = batch.len());
        write(&store, &hub, &wake, batch).instrument(span).await;
    }
}

async fn write(store: &Store, hub: &Hub, wake: &Notify, batch: Vec<(PendingNotify, Reply)>) {
    let (pending, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let mut created = Vec::new();
    let mut deliveries = 0;
    let mut record = |notified: Notified| {
        created.extend(notified.created);
        deliveries += notified.deliveries;
        notified.stored
    };
    let announce = |recipients: &[(String, String)]| hub.announcement(recipients);
    let results: Vec<Result<(Notification, bool), NotifierError>> = match store
        .notify_many(&pending, announce)
        .await
    {
        Ok(notified) => record(notified).into_iter().map(Ok).collect(),
        Err(error) if pending.len() > 1 => {
            tracing::warn!(%error, notifications = pending.len(), "a Notify batch failed; storing them one by one");
            let mut results = Vec::with_capacity(pending.len());
            for p in &pending {
                results.push(
                    store
                        .notify_many(std::slice::from_ref(p), announce)
                        .await
                        .map(|notified| {
                            record(notified).pop().expect("one result per notification")
                        }),
                );
            }
            results
        }
        Err(error) => vec![Err(error)],
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // A caller that gave up does not undo its notification.
        let _ = reply.send(result);
    }
    hub.after_commit(&created);
    if deliveries > 0 {
        wake.notify_one();
    }
}
