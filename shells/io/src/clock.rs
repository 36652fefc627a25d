//! The shells' wall clock and entropy: the core takes both as inputs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `n` bytes from the operating system's CSPRNG (PKCE verifiers, retry jitter).
pub fn entropy(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The OS source does not fail on supported platforms; if it ever did, a zeroed buffer
    // would make a guessable PKCE verifier, so fail loudly instead.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}
