//! The workload reconciler: it sends routing the truth from this database
//! in chunks, so workload counts (and the per-day counters of caps) cannot
//! drift forever: periodically, and at once when routing reports that it
//! lost its state.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use leadflow_server::Shutdown;

use crate::peers::Peers;
use crate::store::Store;

/// Facts per reconcile chunk.
const RECONCILE_CHUNK: u64 = 500;

/// Sends routing the truth, one organisation at a time, never twice at once.
pub struct Reconciler {
    /// The truth routing is brought to: the directory and every lead's ownership.
    store: Store,
    /// Routing (and the notifier, for the directory).
    peers: Arc<Peers>,
    /// Organisations being reconciled now, so one never runs twice at once.
    running: Mutex<HashSet<String>>,
}

impl Reconciler {
    pub fn new(store: Store, peers: Arc<Peers>) -> Arc<Self> {
        Arc::new(Reconciler {
            store,
            peers,
            running: Mutex::new(HashSet::new()),
        })
    }

    /// Starts a reconcile of `org_id` in the background (unless one runs).
    pub fn trigger(self: &Arc<Self>, org_id: &str) {
        if !self.peers.routes()
            || !self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(org_id.to_owned())
        {
            return;
        }
        let (this, org) = (self.clone(), org_id.to_owned());
        tokio::spawn(async move {
            match this.reconcile(&org).await {
                Ok(corrected) => tracing::info!(org = %org, corrected, "workload reconciled"),
                Err(error) => {
                    tracing::warn!(org = %org, %error, "reconcile failed; the next one will retry")
                }
            }
            this.running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&org);
        });
    }

    /// Brings routing to this database's truth about the org, as one
    /// authoritative session: begin; every lead, in chunks; the closed leads
    /// routing may forget; finish, which removes what no chunk confirmed (a
    /// pick for a lead that was never stored). Returns entries corrected.
    pub async fn reconcile(&self, org_id: &str) -> anyhow::Result<i64> {
        use crate::peers::ReconcileStep;
        // The directory first: every service learns who is (still) active,
        // members created before the feed existed included.
        let directory = self.store.directory_facts(org_id).await?;
        self.peers.apply_directory(org_id, &directory).await?;
        let (mut corrected, epoch) = self
            .peers
            .reconcile(
                org_id,
                ReconcileStep {
                    begin: true,
                    ..Default::default()
                },
            )
            .await?;
        // Routed leads of the last two days (any zone's today lies within
        // them): routing's per-day counters, should it have lost them. Each
        // rep's buckets stay in one request.
        let since = self.store.now() - chrono::Duration::hours(48);
        let routed = self.store.routed_counts(org_id, since).await?;
        for chunk in chunks_by_rep(&routed, RECONCILE_CHUNK as usize * 10) {
            let (fixed, _) = self
                .peers
                .reconcile(
                    org_id,
                    ReconcileStep {
                        routed: chunk,
                        ..Default::default()
                    },
                )
                .await?;
            corrected += fixed;
        }
        let mut after = String::new();
        let mut closed = Vec::new();
        loop {
            let chunk = self
                .store
                .ownership_truth(org_id, &after, RECONCILE_CHUNK)
                .await?;
            let Some(last) = chunk.last() else {
                break;
            };
            after = last.lead_id.clone();
            closed.extend(chunk.iter().filter(|f| !f.open).cloned());
            let (fixed, _) = self
                .peers
                .reconcile(
                    org_id,
                    ReconcileStep {
                        truth: &chunk,
                        ..Default::default()
                    },
                )
                .await?;
            corrected += fixed;
        }
        // Read after the truth: an ownership event still pending (or dead,
        // and retried some day) could carry an older open state; routing
        // keeps those leads' entries so such a retry stays stale. Events
        // written after this read are newer than the truth sent.
        let busy = self.store.leads_with_undelivered_ownership(org_id).await?;
        closed.retain(|f| !busy.contains(&f.lead_id));
        for forget in closed.chunks(RECONCILE_CHUNK as usize) {
            let (fixed, _) = self
                .peers
                .reconcile(
                    org_id,
                    ReconcileStep {
                        forget,
                        ..Default::default()
                    },
                )
                .await?;
            corrected += fixed;
        }
        let (fixed, _) = self
            .peers
            .reconcile(
                org_id,
                ReconcileStep {
                    finish: true,
                    epoch,
                    ..Default::default()
                },
            )
            .await?;
        corrected += fixed;
        DRIFT_CORRECTED.add(corrected.max(0) as u64, &[]);
        Ok(corrected)
    }

    /// Reconciles every organisation every `every`.
    pub async fn run_periodically(self: Arc<Self>, every: Duration, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                () = shutdown.wait() => return,
            }
            match self.store.organisations().await {
                Ok(orgs) => orgs.iter().for_each(|org| self.trigger(org)),
                Err(error) => tracing::warn!(%error, "listing organisations for reconcile failed"),
            }
        }
    }
}

/// `counts` (sorted by rep) in chunks of about `size`, never splitting one
/// rep's buckets (routing adds a rep's buckets up within one request).
fn chunks_by_rep<T>(counts: &[(String, T, i64)], size: usize) -> Vec<&[(String, T, i64)]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for i in 1..=counts.len() {
        let rep_ends = i == counts.len() || counts[i].0 != counts[i - 1].0;
        if rep_ends && (i - start >= size || i == counts.len()) {
            chunks.push(&counts[start..i]);
            start = i;
        }
    }
    chunks
}

/// Workload entries reconcile had to correct: drift between routing's counts
/// and the leads database (should stay near zero).
static DRIFT_CORRECTED: LazyLock<opentelemetry::metrics::Counter<u64>> = LazyLock::new(|| {
    leadflow_telemetry::counter(
        "leadflow.reconcile.corrected",
        "workload entries corrected by reconcile (drift)",
    )
});

#[cfg(test)]
mod tests {
    use super::chunks_by_rep;

    #[test]
    fn routed_counts_are_chunked_without_splitting_a_rep() {
        let counts: Vec<(String, (), i64)> = ["ana", "ana", "ana", "ben", "cy", "cy"]
            .iter()
            .map(|u| (u.to_string(), (), 1))
            .collect();
        let sizes: Vec<usize> = chunks_by_rep(&counts, 2).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [3, 3]);
        let sizes: Vec<usize> = chunks_by_rep(&counts, 100)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [6]);
        assert!(chunks_by_rep::<()>(&[], 2).is_empty());
    }
}
