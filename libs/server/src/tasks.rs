//! The life of a service's background workers (the outbox dispatcher, the
//! delivery worker, pruners, gauges): started together, told together when
//! the process stops, and awaited within what is left of the grace period.
//!
//! A worker is handed a [`Shutdown`] and is expected to finish the unit of
//! work it holds (a send in flight, a transaction) and return once it fires.
//! Only a worker still running when the grace period ends is aborted, with a
//! warning naming it; its leases expire and another replica takes the work
//! over. Before this, workers were aborted after a fixed 5 s whatever the
//! grace period was, so a slow but healthy send was cut short and repeated.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Fires once, when the process begins to stop. Cheap to clone; every
/// clone sees the same signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// `true` once stopping has begun.
    signal: watch::Receiver<bool>,
}

impl Shutdown {
    /// Resolves when stopping has begun (at once if it already has).
    pub async fn wait(&mut self) {
        // An error means every sender is gone: nobody can stop us any more
        // than dropping already did, so treat it as the signal.
        let _ = self.signal.wait_for(|stopping| *stopping).await;
    }

    /// Whether stopping has begun.
    pub fn is_stopping(&self) -> bool {
        *self.signal.borrow()
    }

    /// A shutdown that never fires, for tools and tests that run one worker
    /// by hand.
    pub fn never() -> Shutdown {
        let (tx, signal) = watch::channel(false);
        // Kept alive for the life of the program so `wait` stays pending.
        std::mem::forget(tx);
        Shutdown { signal }
    }
}

/// A trigger and the [`Shutdown`]s it fires.
#[derive(Debug)]
pub struct Trigger {
    /// Sends `true` once.
    tx: watch::Sender<bool>,
}

impl Trigger {
    pub fn new() -> Trigger {
        let (tx, _) = watch::channel(false);
        Trigger { tx }
    }

    /// One more listener.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            signal: self.tx.subscribe(),
        }
    }

    /// Fires every listener (idempotent).
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger::new()
    }
}

/// A service's background workers.
#[derive(Debug, Default)]
pub struct Workers {
    /// What tells every worker to stop.
    stop: Trigger,
    /// The running workers, each returning its name when it ends.
    running: JoinSet<&'static str>,
    /// Names of everything spawned, to say which ones had to be aborted.
    names: Vec<&'static str>,
}

impl Workers {
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Starts `worker`, handing it the shutdown signal it must honour.
    pub fn spawn<F>(&mut self, name: &'static str, worker: impl FnOnce(Shutdown) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = worker(self.stop.subscribe());
        self.names.push(name);
        self.running.spawn(async move {
            task.await;
            name
        });
    }

    /// Tells every worker to stop and waits for them until `deadline`; any
    /// still running then is aborted. Returns the names of the aborted ones.
    pub async fn stop(mut self, deadline: Instant) -> Vec<&'static str> {
        self.stop.fire();
        let mut finished = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.running.join_next()).await {
                Ok(Some(Ok(name))) => finished.push(name),
                Ok(Some(Err(error))) => tracing::error!(%error, "a background worker failed"),
                Ok(None) => return Vec::new(),
                Err(_) => break,
            }
        }
        self.running.abort_all();
        let aborted: Vec<&'static str> = self
            .names
            .iter()
            .copied()
            .filter(|name| !finished.contains(name))
            .collect();
        tracing::warn!(
            ?aborted,
            "grace period over with workers still running; aborted"
        );
        aborted
    }

    /// [`Workers::stop`] with `grace` from now.
    pub async fn stop_within(self, grace: Duration) -> Vec<&'static str> {
        self.stop(Instant::now() + grace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A worker that needs `cleanup` after the signal to finish its unit of
    /// work, and says whether it got there.
    fn slow_worker(
        cleanup: Duration,
        done: Arc<AtomicBool>,
    ) -> impl FnOnce(Shutdown) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        move |mut shutdown| {
            Box::pin(async move {
                shutdown.wait().await;
                tokio::time::sleep(cleanup).await;
                done.store(true, Ordering::SeqCst);
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_slower_than_five_seconds_finishes_within_the_grace_period() {
        let done = Arc::new(AtomicBool::new(false));
        let mut workers = Workers::new();
        workers.spawn(
            "delivery",
            slow_worker(Duration::from_secs(12), done.clone()),
        );
        let started = Instant::now();
        let aborted = workers.stop_within(Duration::from_secs(20)).await;
        assert!(aborted.is_empty());
        assert!(done.load(Ordering::SeqCst), "the send in flight completed");
        assert_eq!(started.elapsed(), Duration::from_secs(12));
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_worker_past_the_grace_period_is_aborted() {
        let quick = Arc::new(AtomicBool::new(false));
        let stuck = Arc::new(AtomicBool::new(false));
        let mut workers = Workers::new();
        workers.spawn("pruner", slow_worker(Duration::ZERO, quick.clone()));
        workers.spawn(
            "dispatcher",
            slow_worker(Duration::from_secs(3600), stuck.clone()),
        );
        let started = Instant::now();
        let aborted = workers.stop_within(Duration::from_secs(20)).await;
        assert_eq!(aborted, ["dispatcher"]);
        assert!(quick.load(Ordering::SeqCst));
        assert!(!stuck.load(Ordering::SeqCst));
        assert_eq!(started.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn every_worker_gets_the_signal() {
        let mut workers = Workers::new();
        let flags: Vec<Arc<AtomicBool>> =
            (0..5).map(|_| Arc::new(AtomicBool::new(false))).collect();
        for flag in &flags {
            workers.spawn(
                "worker",
                slow_worker(Duration::from_millis(10), flag.clone()),
            );
        }
        assert!(workers.stop_within(Duration::from_secs(1)).await.is_empty());
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
    }
}
