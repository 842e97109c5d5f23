//! The timer worker: it works the due timers ([`crate::store::timers`]) on
//! every leads replica: held leads' retries ([`Leads::retry_held`]) and SLA
//! deadlines ([`Leads::expire_sla`]). Leases keep replicas apart.

use std::sync::Arc;
use std::time::Duration;

use leadflow_server::Shutdown;
use tokio::sync::Notify;

use crate::store::timers::{HELD_RETRY, SLA};
use crate::store::{DueTimer, Store};
use crate::usecase::Leads;

/// Timers taken per claim.
const TIMER_BATCH: u64 = 32;

/// Works the due timers ([`crate::store::timers`]): held leads' retries and
/// SLA deadlines.
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
                // Each pool's held leads in order, the pools side by side: one
                // slow organisation does not hold the others' heads back. SLA
                // deadlines are independent of each other: each on its own.
                let mut pools: Vec<Vec<&DueTimer>> = Vec::new();
                for timer in &timers {
                    match pools.iter_mut().find(|p| {
                        timer.kind == HELD_RETRY
                            && p[0].kind == HELD_RETRY
                            && p[0].org_id == timer.org_id
                            && p[0].pool == timer.pool
                    }) {
                        Some(pool) => pool.push(timer),
                        None => pools.push(vec![timer]),
                    }
                }
                let leads = &self.leads;
                let work = futures::future::join_all(pools.into_iter().map(|pool| async move {
                    for timer in pool {
                        let worked = if timer.kind == SLA {
                            leads.expire_sla(timer).await
                        } else {
                            leads.retry_held(timer).await
                        };
                        if let Err(error) = worked {
                            tracing::warn!(%error, lead = %timer.lead_id, kind = %timer.kind, "a timer failed; its lease expires and it is retried");
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
