//! Closed-loop load: `callers` tasks each calling as fast as answers come,
//! for a fixed time. Every call's outcome is checked: errors are counted and
//! the first one kept, never dropped, so a run with errors says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One measured point.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figure {
    pub callers: usize,
    /// Successful calls.
    pub ok: usize,
    /// Failed calls (any error, including a wrong answer).
    pub errors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// What each call cost the machine, where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::costs::Cost>,
}

/// Latency quantiles of `samples` (sorted in place), in milliseconds.
pub fn quantiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    (
        at(0.50),
        at(0.99),
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    )
}

/// Runs `op` from `callers` concurrent tasks for `duration`.
pub async fn measure<F, Fut>(callers: usize, duration: Duration, op: F) -> Figure
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (op, stop) = (op.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0, None);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match op(caller).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut figure = Figure {
        callers,
        ..Figure::default()
    };
    let mut all = Vec::new();
    for task in tasks {
        match task.await {
            Ok((latencies, errors, first_error)) => {
                all.extend(latencies);
                figure.errors += errors;
                if figure.first_error.is_none() {
                    figure.first_error = first_error;
                }
            }
            Err(panic) => {
                figure.errors += 1;
                figure
                    .first_error
                    .get_or_insert_with(|| format!("a caller panicked: {panic}"));
            }
        }
    }
    figure.seconds = started.elapsed().as_secs_f64();
    figure.ok = all.len();
    figure.per_second = figure.ok as f64 / figure.seconds;
    (figure.p50_ms, figure.p99_ms, figure.max_ms) = quantiles(&mut all);
    figure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_are_counted_not_dropped() {
        let figure = measure(2, Duration::from_millis(50), |caller| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if caller == 1 {
                anyhow::bail!("wrong answer")
            }
            Ok(())
        })
        .await;
        assert!(figure.ok > 0);
        assert!(figure.errors > 0);
        assert_eq!(figure.first_error.as_deref(), Some("wrong answer"));
    }

    #[test]
    fn quantiles_of_a_known_sample() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let (p50, p99, max) = quantiles(&mut samples);
        assert_eq!((p50, p99, max), (51.0, 100.0, 100.0));
    }
}
