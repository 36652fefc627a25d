//! The refresh retry schedule (POLICY.md section 3), as pure functions of time.

/// The first retry waits this long; each further one twice as long.
pub const BASE_DELAY_MS: u64 = 200;
/// A burst keeps retrying while the next attempt starts within this window of the first.
pub const BURST_WINDOW_MS: u64 = 30_000;
/// After a failed burst, the same refresh token is not tried again for this long.
pub const COOLDOWN_MS: u64 = 60_000;

/// When to make the attempt after `failed_attempts` failures (1 after the first), or `None`
/// when the burst is over. `jitter` is a uniform draw in `[0, 1)` for full jitter, or `None`.
/// A server's `Retry-After` (absolute, Unix ms) pushes the attempt later, never earlier.
pub fn next_attempt_at(
    first_attempt_at: u64,
    failed_attempts: u32,
    now: u64,
    retry_after_at: Option<u64>,
    jitter: Option<f64>,
) -> Option<u64> {
    let exponent = failed_attempts.saturating_sub(1).min(20);
    let backoff = BASE_DELAY_MS << exponent;
    let delay = match jitter {
        Some(u) => (backoff as f64 * u.clamp(0.0, 1.0)) as u64,
        None => backoff,
    };
    let at = (now + delay).max(retry_after_at.unwrap_or(0));
    (at - first_attempt_at < BURST_WINDOW_MS).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_like_authjs() {
        // Instant failures: attempts at 0, 200, 600, 1400, 3000, 6200, 12600, 25400.
        let mut now = 0;
        let mut starts = vec![0];
        let mut failed = 1;
        while let Some(at) = next_attempt_at(0, failed, now, None, None) {
            starts.push(at);
            now = at;
            failed += 1;
        }
        assert_eq!(starts, vec![0, 200, 600, 1400, 3000, 6200, 12600, 25400]);
    }

    #[test]
    fn slow_answers_shorten_the_burst() {
        // Each answer takes 10 s: attempts at 0, 10 200, and 20 600; the next would start at 31 400.
        assert_eq!(next_attempt_at(0, 1, 10_000, None, None), Some(10_200));
        assert_eq!(next_attempt_at(0, 2, 20_200, None, None), Some(20_600));
        assert_eq!(next_attempt_at(0, 3, 30_600, None, None), None);
    }

    #[test]
    fn retry_after_pushes_later_or_ends_the_burst() {
        assert_eq!(next_attempt_at(0, 1, 0, Some(5_000), None), Some(5_000));
        assert_eq!(next_attempt_at(0, 1, 0, Some(100), None), Some(200));
        assert_eq!(next_attempt_at(0, 1, 0, Some(40_000), None), None);
    }

    #[test]
    fn full_jitter_stays_within_the_backoff() {
        assert_eq!(next_attempt_at(0, 3, 1000, None, Some(0.0)), Some(1000));
        assert_eq!(next_attempt_at(0, 3, 1000, None, Some(0.5)), Some(1400));
    }
}
