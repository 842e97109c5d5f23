//! The timer worker: it works the due timers ([`crate::store::timers`]),
//! today held leads' retries, on every leads replica. Leases keep replicas
//! apart; each retry goes through [`Leads::retry_held`].

use std::sync::Arc;
use std::time::Duration;

use leadflow_server::Shutdown;
use tokio::sync::Notify;

use crate::store::{DueTimer, Store};
use crate::usecase::Leads;

/// Timers taken per claim.
const TIMER_BATCH: u64 = 32;

/// Works the due timers ([`crate::store::timers`]): held leads' retries.
pub struct TimerWorker {
    /// Where the timers are.
    pub store: Store,
    /// The use case a retry goes through.
    pub leads: Leads,
    /// Woken when capacity may have freed (ownership delivered to routing).
    pub wake: Arc<Notify>,
    /// How often to look for due timers anyway; well under a second, since
    /// a pool's oldest held lead is due every 500 ms.
    pub poll: Duration,
}

impl TimerWorker {
    /// Works due timers until `shutdown`, oldest hold first. A claim's
    /// timers are worked one after the other, so a pool's queue moves in
    /// order; its leases stay alive while it does.
    pub async fn run(self, mut shutdown: Shutdown) {
        loop {
            if shutdown.is_stopping() {
                return;
            }
            let timers = match self.store.claim_timers(TIMER_BATCH).await {
                Ok(timers) => timers,
                Err(error) => {
                    tracing::warn!(%error, "claiming due timers failed");
                    Vec::new()
                }
            };
            // Anything worked on may have made the next held lead due (a
            // routed head promotes its successor): look again at once.
            let more = !timers.is_empty();
            if let Some(token) = timers.first().map(|t| t.token) {
                // Each pool's timers in order, the pools side by side: one slow
                // organisation does not hold the others' heads back.
                let mut pools: Vec<Vec<&DueTimer>> = Vec::new();
                for timer in &timers {
                    match pools
                        .iter_mut()
                        .find(|p| p[0].org_id == timer.org_id && p[0].pool == timer.pool)
                    {
                        Some(pool) => pool.push(timer),
                        None => pools.push(vec![timer]),
                    }
                }
                let leads = &self.leads;
                let work = futures::future::join_all(pools.into_iter().map(|pool| async move {
                    for timer in pool {
                        if let Err(error) = leads.retry_held(timer).await {
                            tracing::warn!(%error, lead = %timer.lead_id, "a held lead's retry failed; its lease expires and it is retried");
                        }
                    }
                }));
                let work = async {
                    work.await;
                };
                tokio::select! {
                    () = work => {}
                    () = self.store.keep_timer_lease(token) => {}
                }
            }
            if more {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                () = shutdown.wait() => {}
            }
        }
    }
}
