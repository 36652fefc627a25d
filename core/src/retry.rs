//! The refresh retry schedule (POLICY.md section 3), as pure functions of time.

/// The refresh retry schedule. The defaults are auth-js's; tests of shells over real time
/// shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits this long; each further one twice as long (default 200 ms).
    pub base_delay_ms: u64,
    /// A burst keeps retrying while the next attempt starts within this window of the first
    /// (default 30 s).
    pub burst_window_ms: u64,
    /// After a failed burst, the same refresh token is not tried again for this long
    /// (default 60 s).
    pub cooldown_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_delay_ms: 200, burst_window_ms: 30_000, cooldown_ms: 60_000 }
    }
}

/// When to make the attempt after `failed_attempts` failures (1 after the first), or `None`
/// when the burst is over. `jitter` is a uniform draw in `[0, 1)` for full jitter, or `None`.
/// A server's `Retry-After` (absolute, Unix ms) pushes the attempt later, never earlier.
pub fn next_attempt_at(
    policy: &RetryPolicy,
    first_attempt_at: u64,
    failed_attempts: u32,
    now: u64,
    retry_after_at: Option<u64>,
    jitter: Option<f64>,
) -> Option<u64> {
    let exponent = failed_attempts.saturating_sub(1).min(20);
    let backoff = policy.base_delay_ms << exponent;
    let delay = match jitter {
        Some(u) => (backoff as f64 * u.clamp(0.0, 1.0)) as u64,
        None => backoff,
    };
    let at = now.saturating_add(delay).max(retry_after_at.unwrap_or(0));
    (at.saturating_sub(first_attempt_at) < policy.burst_window_ms).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy { base_delay_ms: 200, burst_window_ms: 30_000, cooldown_ms: 60_000 };

    #[test]
    fn eight_attempts_like_authjs() {
        // Instant failures: attempts at 0, 200, 600, 1400, 3000, 6200, 12600, 25400.
        let mut now = 0;
        let mut starts = vec![0];
        let mut failed = 1;
        while let Some(at) = next_attempt_at(&P, 0, failed, now, None, None) {
            starts.push(at);
            now = at;
            failed += 1;
        }
        assert_eq!(starts, vec![0, 200, 600, 1400, 3000, 6200, 12600, 25400]);
    }

    #[test]
    fn slow_answers_shorten_the_burst() {
        // Each answer takes 10 s: attempts at 0, 10 200, and 20 600; the next would start at 31 400.
        assert_eq!(next_attempt_at(&P, 0, 1, 10_000, None, None), Some(10_200));
        assert_eq!(next_attempt_at(&P, 0, 2, 20_200, None, None), Some(20_600));
        assert_eq!(next_attempt_at(&P, 0, 3, 30_600, None, None), None);
    }

    #[test]
    fn retry_after_pushes_later_or_ends_the_burst() {
        assert_eq!(next_attempt_at(&P, 0, 1, 0, Some(5_000), None), Some(5_000));
        assert_eq!(next_attempt_at(&P, 0, 1, 0, Some(100), None), Some(200));
        assert_eq!(next_attempt_at(&P, 0, 1, 0, Some(40_000), None), None);
    }

    #[test]
    fn the_default_is_authjs_schedule() {
        assert_eq!(RetryPolicy::default(), P);
    }

    #[test]
    fn full_jitter_stays_within_the_backoff() {
        assert_eq!(next_attempt_at(&P, 0, 3, 1000, None, Some(0.0)), Some(1000));
        assert_eq!(next_attempt_at(&P, 0, 3, 1000, None, Some(0.5)), Some(1400));
    }
}
