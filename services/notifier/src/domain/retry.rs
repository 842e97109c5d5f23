//! When a failed delivery is tried again: exponential backoff with full
//! jitter, the receiver's Retry-After when it gave one, and a last attempt
//! after which the delivery is DEAD.

use std::time::Duration;

/// The retry policy of the delivery queue.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait; each retry doubles it (with full jitter).
    pub base: Duration,
    /// The longest wait, for the backoff and for a Retry-After alike.
    pub cap: Duration,
    /// Attempts in all; after the last failed one the delivery is DEAD.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(600),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempts + 1`, given `attempts` made so far.
    /// `jitter` is uniform in [0, 1). A Retry-After wins (capped).
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.cap);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)));
        let ceiling = exp.min(self.cap);
        // Full jitter, but never less than half the step, so retries do not stampede.
        ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// Whether another attempt is allowed after `attempts` failed ones.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_attempts: 5,
        };
        assert_eq!(p.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_secs(4));
        assert_eq!(p.delay(10, None, 1.0), Duration::from_secs(30));
        assert!(p.delay(3, None, 0.0) >= Duration::from_secs(2));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7)), 0.3),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(700)), 0.3),
            Duration::from_secs(30)
        );
        assert!(!p.exhausted(4) && p.exhausted(5));
    }
}
