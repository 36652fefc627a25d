//! The server's time source: the system clock (or a frozen instant) plus an offset that tests can
//! move, so token expiry, the reuse interval and replica lag can be crossed without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A shared, adjustable clock. Clones share the same offset, so a test can keep one handle and
/// move the server's time while it runs.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `Some(ms)`: a frozen clock at this Unix time (plus the offset). `None`: the system clock.
    frozen_at_ms: Option<i64>,
    offset_ms: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock, with no offset.
    pub fn system() -> Clock {
        Clock { inner: Arc::new(Inner { frozen_at_ms: None, offset_ms: AtomicI64::new(0) }) }
    }

    /// A clock frozen at `unix_ms`; only [`Clock::advance`] and [`Clock::set_offset_ms`] move it.
    pub fn frozen(unix_ms: i64) -> Clock {
        Clock { inner: Arc::new(Inner { frozen_at_ms: Some(unix_ms), offset_ms: AtomicI64::new(0) }) }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let base = self.inner.frozen_at_ms.unwrap_or_else(system_ms);
        base.saturating_add(self.offset_ms())
    }

    /// Now, in whole Unix seconds (rounded down).
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The current offset from the base clock, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::SeqCst)
    }

    /// Sets the offset from the base clock (negative moves time back).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.inner.offset_ms.store(offset_ms, Ordering::SeqCst);
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

fn system_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let c = Clock::frozen(1_000_000);
        assert_eq!(c.now_ms(), 1_000_000);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 1_002_000);
        assert_eq!(c.now_secs(), 1002);
        c.set_offset_ms(-500);
        assert_eq!(c.now_ms(), 999_500);
        let shared = c.clone();
        shared.advance(Duration::from_millis(500));
        assert_eq!(c.now_ms(), 1_000_000);
    }

    #[test]
    fn system_clock_is_near_now() {
        let c = Clock::system();
        assert!((c.now_ms() - system_ms()).abs() < 5_000);
    }
}
