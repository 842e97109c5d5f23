//! The outbox dispatcher.
//!
//! The dispatcher delivers every outbox event at least once: ownership
//! changes to routing, notifications to the notifier, and late routing of
//! leads created while routing was away. It is woken right after a commit and
//! polls as a backstop; it leases rows, so replicas share the work, and it
//! never holds a row lock across a call. Failures back off; an event that
//! keeps failing becomes a dead letter.
//!
//! The held-lead timers have a worker of their own ([`crate::held`]), and
//! the workload reconciler a module of its own ([`crate::reconcile`]).

use std::sync::Arc;
use std::time::Duration;

use leadflow_server::Shutdown;
use rand::Rng;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::domain::events::{OutboxEvent, OwnershipFact};
use crate::peers::{Notification, Peers, notify_request};
use crate::store::{Delivery, OutboxRow, Store};
use crate::usecase::{LateRouting, Leads};

/// Events taken per round.
const BATCH: u64 = 128;
/// Rounds in flight in one dispatcher: while one waits for the receivers,
/// the next batch is already claimed and on its way. Leases keep them apart
/// as they keep replicas apart, and every receiver accepts events in any
/// order (routing applies ownership by version; notifications are separate).
const ROUNDS_AT_ONCE: usize = 2;
pub use crate::reconcile::Reconciler;
pub use crate::store::outbox::MAX_ATTEMPTS;
/// The longest wait between two attempts, so a peer coming back is noticed
/// within seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Why an event was not delivered.
#[derive(Debug, Clone)]
struct Failure {
    /// What went wrong, for the dead letter.
    error: String,
    /// Retrying cannot help (the receiver refused the event itself, or our
    /// credentials): it goes to the dead letters at once, for an operator.
    permanent: bool,
}

impl Failure {
    fn from_status(status: tonic::Status) -> Self {
        let permanent = !leadflow_server::error::ErrorCode::from_grpc(status.code()).is_retryable();
        Failure {
            error: format!("{:?}: {}", status.code(), status.message()),
            permanent,
        }
    }

    fn local(error: crate::error::LeadsError) -> Self {
        Failure {
            error: error.to_string(),
            permanent: false,
        }
    }
}

/// Members by (organisation, user id), looked up once per round.
type Recipients = std::collections::HashMap<(String, String), crate::domain::member::Member>;

/// Delivers the outbox.
pub struct Dispatcher {
    /// Where the outbox is.
    pub store: Store,
    /// Where its events go.
    pub peers: Arc<Peers>,
    /// The use cases late routing goes through.
    pub leads: Leads,
    /// Woken by every commit that wrote an event.
    pub wake: Arc<Notify>,
    /// How often to look anyway, when nobody wakes it.
    pub poll: Duration,
    /// The database's identity, read once (see [`Store::instance_id`]).
    pub instance: tokio::sync::OnceCell<String>,
    /// Wakes the timer worker once routing has applied ownership changes,
    /// which may have freed capacity for held leads.
    pub held_wake: Arc<Notify>,
}

/// The wait after `attempts` failed tries in a row: 200 ms doubling, at
/// most [`MAX_BACKOFF`], jittered so retries of many rows spread out. The
/// outbox and the held-lead timers both back off by it.
pub fn retry_backoff(attempts: i32) -> Duration {
    let step = Duration::from_millis(200)
        .saturating_mul(2u32.saturating_pow(attempts.clamp(0, 10) as u32))
        .min(MAX_BACKOFF);
    step.mul_f64(0.5 + rand::thread_rng().r#gen::<f64>() / 2.0)
}

fn backoff(attempts: i32) -> chrono::Duration {
    chrono::Duration::from_std(retry_backoff(attempts)).unwrap_or(chrono::Duration::seconds(30))
}

impl Dispatcher {
    async fn instance(&self) -> Result<&str, crate::error::LeadsError> {
        self.instance
            .get_or_try_init(|| self.store.instance_id())
            .await
            .map(String::as_str)
    }

    /// Delivers until `shutdown`, with [`ROUNDS_AT_ONCE`] rounds in flight.
    pub async fn run(self, shutdown: Shutdown) {
        futures::future::join_all((0..ROUNDS_AT_ONCE).map(|_| self.rounds(shutdown.clone()))).await;
    }

    /// One loop of rounds: claim a batch, deliver it, record the outcomes.
    async fn rounds(&self, mut shutdown: Shutdown) {
        loop {
            if shutdown.is_stopping() {
                return;
            }
            let rows = match self.store.claim_outbox(BATCH).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(%error, "claiming outbox events failed");
                    Vec::new()
                }
            };
            // A full batch: there may be more right away. Otherwise wait; a
            // commit made meanwhile has already stored a wake-up.
            let full = rows.len() as u64 == BATCH;
            if let Some(token) = rows.first().map(|r| r.lease) {
                // The leases stay ours while the round is in flight, and only
                // while this process lives.
                tokio::select! {
                    () = self.round(rows) => {}
                    () = self.store.keep_outbox_lease(token) => {}
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                () = shutdown.wait() => {}
            }
        }
    }

    /// Delivers one claimed batch and records its outcomes.
    async fn round(&self, rows: Vec<OutboxRow>) {
        // Ownership facts of one organisation travel together: one
        // ApplyOwnershipChanges per organisation and round instead of one
        // per event (routing applies them by version, in any order).
        let (ownership, others): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| matches!(row.event, OutboxEvent::Ownership { .. }));
        let mut by_org: std::collections::BTreeMap<String, Vec<OutboxRow>> =
            std::collections::BTreeMap::new();
        for row in ownership {
            by_org.entry(row.org_id.clone()).or_default().push(row);
        }
        let recipients = self.recipients(&others).await;
        let (merged, single) = tokio::join!(
            futures::future::join_all(
                by_org
                    .into_values()
                    .map(|group| self.deliver_ownership(group))
            ),
            futures::future::join_all(others.into_iter().map(|row| self.deliver(row, &recipients))),
        );
        let outcomes: Vec<(OutboxRow, Delivery)> =
            merged.into_iter().flatten().chain(single).collect();
        if let Err(error) = self.store.finish_outbox_many(&outcomes).await {
            tracing::warn!(%error, "recording outbox outcomes failed; the leases expire and they are retried");
        }
        self.wake_held(&outcomes).await;
    }

    /// Routing has applied these ownership changes: capacity may have freed
    /// in their organisations, so their held leads' heads are due now (on
    /// every replica, through the database) and this replica's worker looks.
    async fn wake_held(&self, outcomes: &[(OutboxRow, Delivery)]) {
        let mut orgs: Vec<&str> = outcomes
            .iter()
            .filter(|(row, outcome)| {
                matches!(row.event, OutboxEvent::Ownership { .. })
                    && matches!(outcome, Delivery::Delivered)
            })
            .map(|(row, _)| row.org_id.as_str())
            .collect();
        if orgs.is_empty() {
            return;
        }
        orgs.sort_unstable();
        orgs.dedup();
        match self.store.wake_held(&orgs).await {
            Ok(()) => self.held_wake.notify_one(),
            Err(error) => {
                tracing::warn!(%error, "waking held leads failed; their next probe routes them")
            }
        }
    }

    /// The recipients of a round's notifications, one query per organisation.
    /// A failed lookup only means each event looks its recipient up alone.
    async fn recipients(&self, rows: &[OutboxRow]) -> Recipients {
        let mut wanted: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for row in rows {
            if let OutboxEvent::Notify { recipient_id, .. } = &row.event {
                wanted.entry(&row.org_id).or_default().push(recipient_id);
            }
        }
        let mut found = Recipients::new();
        for (org, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            match self.store.members_among(org, &ids).await {
                Ok(members) => found.extend(
                    members
                        .into_iter()
                        .map(|(id, member)| ((org.to_owned(), id), member)),
                ),
                Err(error) => tracing::warn!(%error, "looking up notification recipients failed"),
            }
        }
        found
    }

    /// One attempt; the outcome is recorded with the rest of the batch.
    async fn deliver(&self, row: OutboxRow, recipients: &Recipients) -> (OutboxRow, Delivery) {
        let span = tracing::info_span!(
            "outbox deliver",
            outbox.id = row.id,
            kind = row.event.kind(),
            attempt = row.attempts + 1
        );
        if let Some(traceparent) = &row.traceparent {
            // The delivery belongs to the trace of the change that caused it
            // (the parent is set before the span is first entered).
            leadflow_telemetry::parent_from_traceparent(&span, traceparent);
        }
        self.deliver_in_span(row, recipients).instrument(span).await
    }

    /// The ownership events of one organisation, as one call to routing.
    async fn deliver_ownership(&self, group: Vec<OutboxRow>) -> Vec<(OutboxRow, Delivery)> {
        if group.len() == 1 {
            return vec![
                self.deliver(
                    group.into_iter().next().expect("one row"),
                    &Recipients::new(),
                )
                .await,
            ];
        }
        let span = tracing::info_span!(
            "outbox deliver",
            outbox.id = group[0].id,
            outbox.events = group.len(),
            kind = "ownership"
        );
        if let Some(traceparent) = &group[0].traceparent {
            leadflow_telemetry::parent_from_traceparent(&span, traceparent);
        }
        async {
            let org = group[0].org_id.clone();
            let changes: Vec<OwnershipFact> = group
                .iter()
                .flat_map(|row| match &row.event {
                    OutboxEvent::Ownership { changes } => changes.clone(),
                    _ => Vec::new(),
                })
                .collect();
            let result = self
                .peers
                .apply(&org, &changes)
                .await
                .map_err(Failure::from_status);
            group
                .into_iter()
                .map(|row| {
                    let outcome = Self::outcome(&row, result.clone());
                    (row, outcome)
                })
                .collect()
        }
        .instrument(span)
        .await
    }

    async fn deliver_in_span(
        &self,
        row: OutboxRow,
        recipients: &Recipients,
    ) -> (OutboxRow, Delivery) {
        let result = self.send(&row, recipients).await;
        let outcome = Self::outcome(&row, result);
        (row, outcome)
    }

    /// What an attempt's result means for the event.
    fn outcome(row: &OutboxRow, result: Result<(), Failure>) -> Delivery {
        match result {
            Ok(()) => Delivery::Delivered,
            Err(Failure {
                error,
                permanent: true,
            }) => {
                tracing::warn!(%error, "outbox event refused for good; it is now a dead letter");
                Delivery::Dead(error)
            }
            Err(Failure { error, .. }) if row.attempts + 1 >= MAX_ATTEMPTS => {
                tracing::warn!(%error, "outbox event is now a dead letter");
                Delivery::Dead(error)
            }
            Err(Failure { error, .. }) => {
                tracing::debug!(%error, "outbox event will be retried");
                Delivery::Retry {
                    error,
                    at: crate::store::wall_now() + backoff(row.attempts),
                }
            }
        }
    }

    async fn send(&self, row: &OutboxRow, recipients: &Recipients) -> Result<(), Failure> {
        let org = row.org_id.as_str();
        match &row.event {
            OutboxEvent::Ownership { changes } => self
                .peers
                .apply(org, changes)
                .await
                .map_err(Failure::from_status),
            OutboxEvent::Notify { recipient_id, .. } => {
                if !self.peers.notifies() {
                    return Ok(());
                }
                let member = match recipients.get(&(org.to_owned(), recipient_id.clone())) {
                    Some(member) => Some(member.clone()),
                    None => self
                        .store
                        .member(org, recipient_id)
                        .await
                        .map_err(Failure::local)?,
                };
                let instance = self.instance().await.map_err(Failure::local)?;
                let Some(message) = notify_message(instance, row.id, &row.event, member.as_ref())
                else {
                    return Ok(());
                };
                self.peers
                    .notify(org, message)
                    .await
                    .map_err(Failure::from_status)
            }
            OutboxEvent::Directory { members } => self
                .peers
                .apply_directory(org, members)
                .await
                .map_err(Failure::from_status),
            OutboxEvent::Route { lead_id } => match self.leads.route_late(org, lead_id).await {
                Ok(()) => Ok(()),
                Err(LateRouting::Peer(status)) => Err(Failure::from_status(status)),
                Err(LateRouting::Local(error)) => Err(Failure::local(error)),
            },
        }
    }
}

/// The Notify call for the outbox notification `row_id` of the database
/// `instance`, whoever sends it (the dispatcher, or the fast path): the
/// same idempotency key either way, so the notifier stores it once. The
/// event id, within this database: a redelivered event is the same
/// notification, and a re-created database (ids from 1 again) never reuses
/// an old key. `None` for an event that is no notification or names no lead.
pub fn notify_message(
    instance: &str,
    row_id: i64,
    event: &OutboxEvent,
    member: Option<&crate::domain::member::Member>,
) -> Option<leadflow_proto::notifier::v1::NotifyRequest> {
    let OutboxEvent::Notify {
        recipient_id,
        kind,
        actor_id,
        leads,
        batch,
        moved_to,
    } = event
    else {
        return None;
    };
    let notification = Notification {
        recipient_id,
        kind: *kind,
        actor_id,
        leads,
        batch: batch.as_ref(),
        moved_to: moved_to.as_deref(),
    };
    notify_request(
        format!("leads-outbox:{instance}:{row_id}"),
        notification,
        member,
    )
}

/// Outbox gauges (backlog, oldest age, dead letters), refreshed every few
/// seconds from the database; SREs alert on them and the HPA can scale on them.
pub async fn publish_outbox_gauges(store: Store, every: Duration, mut shutdown: Shutdown) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let backlog = Arc::new(AtomicU64::new(0));
    let oldest_ms = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(AtomicU64::new(0));
    let meter = leadflow_telemetry::meter();
    let (b, o, d) = (backlog.clone(), oldest_ms.clone(), dead.clone());
    let _backlog = meter
        .u64_observable_gauge("leadflow.outbox.backlog")
        .with_description("outbox events not yet delivered")
        .with_callback(move |g| g.observe(b.load(Ordering::Relaxed), &[]))
        .build();
    let _oldest = meter
        .f64_observable_gauge("leadflow.outbox.oldest_age")
        .with_unit("s")
        .with_description("age of the oldest undelivered outbox event")
        .with_callback(move |g| g.observe(o.load(Ordering::Relaxed) as f64 / 1000.0, &[]))
        .build();
    let _dead = meter
        .u64_observable_gauge("leadflow.outbox.dead_letters")
        .with_description("outbox events that became dead letters")
        .with_callback(move |g| g.observe(d.load(Ordering::Relaxed), &[]))
        .build();
    loop {
        if let Ok((pending, oldest, dead_letters)) = store.outbox_stats().await {
            backlog.store(pending, Ordering::Relaxed);
            oldest_ms.store((oldest * 1000.0) as u64, Ordering::Relaxed);
            dead.store(dead_letters, Ordering::Relaxed);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => return,
        }
    }
}
