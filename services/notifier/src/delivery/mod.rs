//! The delivery worker: takes due deliveries from the durable queue (with a
//! lease, so replicas never send the same delivery at the same time), sends
//! them, and records every attempt. Woken at once by Notify; polls as a
//! backstop, which is also how deliveries left pending by a crash resume.

use std::sync::Arc;
use std::time::Duration;

use leadflow_server::Shutdown;
use rand::Rng;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::channels::email::{Email, EmailResult};
use crate::channels::webpush::{PushResult, WebPush};
use crate::domain::push;
use crate::domain::retry::RetryPolicy;
use crate::store::{Channel, DueDelivery, Outcome, Store};

/// Deliveries taken per round.
const BATCH: u64 = 32;
/// How long a taken delivery stays ours without a heartbeat: a dead worker's
/// deliveries move to a live one within it plus a poll.
const LEASE: Duration = Duration::from_secs(2);

/// The delivery queue (see [`leadflow_db::queue`]).
pub fn queue(policy: &RetryPolicy) -> leadflow_db::queue::LeasedQueue {
    leadflow_db::queue::LeasedQueue {
        table: "deliveries",
        due: &["pending", "retrying"],
        dead: "dead",
        lease: LEASE,
        max_attempts: policy.max_attempts.min(i32::MAX as u32) as i32,
        order: &["next_attempt_at", "id"],
    }
}

/// Sends queued deliveries.
pub struct Worker {
    /// The durable queue the deliveries are claimed from and recorded in.
    pub store: Store,
    /// Sends push deliveries; `None` when Web Push is off (they fail).
    pub webpush: Option<Arc<WebPush>>,
    /// Sends email deliveries; `None` when email is off (they fail).
    pub email: Option<Arc<Email>>,
    /// When a failed delivery is tried again, and when it is DEAD.
    pub policy: RetryPolicy,
    /// Rung by the intake after a commit that queued deliveries, so they go at once.
    pub wake: Arc<Notify>,
    /// The backstop: how often to look for due deliveries unprompted.
    pub poll: Duration,
}

impl Worker {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: Shutdown) {
        let queue = queue(&self.policy);
        loop {
            if shutdown.is_stopping() {
                return;
            }
            let due = match self.store.claim_due(&queue, BATCH).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "claiming deliveries failed; will retry");
                    Vec::new()
                }
            };
            let busy = !due.is_empty();
            if let Some(token) = due.first().map(|d| d.lease) {
                let sends = futures::future::join_all(due.into_iter().map(|d| self.deliver(d)));
                tokio::select! {
                    _ = sends => {}
                    () = self.store.keep_lease(&queue, token) => {}
                }
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                () = shutdown.wait() => {}
            }
        }
    }

    async fn deliver(&self, due: DueDelivery) {
        let span = tracing::info_span!(
            "deliver",
            delivery.id = due.id,
            channel = due.channel.as_str(),
            attempt = due.attempts + 1
        );
        if let Some(traceparent) = &due.traceparent {
            // Each attempt joins the trace of the Notify that queued it.
            leadflow_telemetry::parent_from_traceparent(&span, traceparent);
        }
        self.deliver_in_span(due).instrument(span).await
    }

    async fn deliver_in_span(&self, due: DueDelivery) {
        let outcome = self.attempt(&due).await;
        let outcome = match outcome {
            Outcome::Retry { error, .. } if self.policy.exhausted(due.attempts as u32 + 1) => {
                Outcome::Dead(format!("{error} (after {} attempts)", due.attempts + 1))
            }
            other => other,
        };
        tracing::info!(outcome = ?outcome, "delivery attempt");
        match self.store.record(&due, &outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "lease lost before the outcome was recorded; another worker will retry"
            ),
            Err(error) => {
                tracing::warn!(%error, "recording the outcome failed; the lease expires and it is retried")
            }
        }
    }

    fn retry_at(
        &self,
        due: &DueDelivery,
        retry_after: Option<Duration>,
    ) -> chrono::DateTime<chrono::Utc> {
        let jitter: f64 = rand::thread_rng().r#gen();
        let delay = self
            .policy
            .delay(due.attempts as u32 + 1, retry_after, jitter);
        crate::store::now()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60))
    }

    async fn attempt(&self, due: &DueDelivery) -> Outcome {
        let n = &due.notification;
        match due.channel {
            Channel::WebPush => {
                let Some(webpush) = &self.webpush else {
                    return Outcome::Failed("web push is not configured (no VAPID key)".into());
                };
                let Some((p256dh, auth)) = &due.keys else {
                    return Outcome::Failed("the push subscription was removed".into());
                };
                let payload = push::payload(&n.title, &n.body, n.lead_id(), &n.url());
                match webpush.send(&due.target, p256dh, auth, &payload).await {
                    PushResult::Delivered => Outcome::Delivered,
                    PushResult::Gone => {
                        if let Err(error) = self.store.forget_subscription(&due.target).await {
                            tracing::warn!(%error, "forgetting a gone subscription failed");
                        }
                        Outcome::Failed(
                            "the push service says the subscription is gone; removed it".into(),
                        )
                    }
                    PushResult::Retry { error, retry_after } => Outcome::Retry {
                        at: self.retry_at(due, retry_after),
                        error,
                    },
                    PushResult::Failed(error) => Outcome::Failed(error),
                }
            }
            Channel::Email => {
                let Some(email) = &self.email else {
                    return Outcome::Failed("email is not configured".into());
                };
                match email.send(&due.target, n).await {
                    EmailResult::Delivered => Outcome::Delivered,
                    EmailResult::Transient(error) => Outcome::Retry {
                        at: self.retry_at(due, None),
                        error,
                    },
                    EmailResult::Permanent(error) => Outcome::Failed(error),
                }
            }
        }
    }
}

/// Delivery gauges (backlog, DEAD count), refreshed from the database.
pub async fn publish_delivery_gauges(store: Store, every: Duration, mut shutdown: Shutdown) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let backlog = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(AtomicU64::new(0));
    let meter = leadflow_telemetry::meter();
    let (b, d) = (backlog.clone(), dead.clone());
    let _backlog = meter
        .u64_observable_gauge("leadflow.deliveries.backlog")
        .with_description("push and email deliveries still to be made")
        .with_callback(move |g| g.observe(b.load(Ordering::Relaxed), &[]))
        .build();
    let _dead = meter
        .u64_observable_gauge("leadflow.deliveries.dead")
        .with_description("deliveries that ran out of attempts")
        .with_callback(move |g| g.observe(d.load(Ordering::Relaxed), &[]))
        .build();
    loop {
        if let (Ok(pending), Ok(dead_count)) = (
            store.pending_deliveries().await,
            store.dead_deliveries().await,
        ) {
            backlog.store(pending, Ordering::Relaxed);
            dead.store(dead_count, Ordering::Relaxed);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => return,
        }
    }
}
