//! Exponential backoff with full jitter and a bounded budget, for the work
//! the SDK's own retry does not cover (unprocessed batch items).

use std::time::Duration;

use rand::Rng;

/// A retry budget: at most `max_retries` waits, each a random duration in
/// `[0, min(cap, base * 2^n)]` (full jitter).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_retries: u32,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(25), Duration::from_secs(2), 10)
    }
}

impl Backoff {
    /// A budget of `max_retries` waits growing from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration, max_retries: u32) -> Self {
        Backoff {
            base,
            cap,
            max_retries,
            attempt: 0,
        }
    }

    /// The next wait, or `None` once the budget is spent.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.attempt >= self.max_retries {
            return None;
        }
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt += 1;
        let ms = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(rand::thread_rng().gen_range(0..=ms)))
    }

    /// Sleeps the next wait; `false` (without sleeping) once the budget is spent.
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(d) => {
                tokio::time::sleep(d).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_capped() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 6);
        let mut n = 0;
        while let Some(d) = b.next_delay() {
            assert!(d <= Duration::from_millis(50));
            n += 1;
        }
        assert_eq!(n, 6);
    }
}
