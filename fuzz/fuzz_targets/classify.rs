//! Error answers with their headers (the classifier): any status, headers and body get a class,
//! and the table's promises hold: an answer over the header limits or a 5xx never removes a
//! session, a `Retry-After` never parks the client over an hour, diagnostics stay short.
#![no_main]

use gotrue_session::classify::{classify_response, diagnostic_headers, over_limits, Class};
use gotrue_session::{ErrorKind, HttpResponse};
use gotrue_session_fuzz::http_answer;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let (status, headers, body) = http_answer(data);
    let resp = HttpResponse { status, headers, body };
    let failure = classify_response(&resp, NOW);
    if over_limits(&resp) {
        assert_eq!(failure.class, Class::Transient);
        assert_eq!(failure.error.kind, ErrorKind::InvalidResponse);
    } else if (500..600).contains(&status) || [408, 409, 429].contains(&status) {
        assert_eq!(failure.class, Class::Transient);
    }
    if failure.class == Class::Transient {
        assert!(failure.proves_nothing());
    }
    if let Some(at) = failure.error.retry_after_ms {
        assert!(at >= NOW && at - NOW <= 3_600_000, "Retry-After parks the client for {} ms", at - NOW);
    }
    let _ = failure.user_suspicion();
    assert!(diagnostic_headers(&resp).iter().all(|(_, v)| v.len() <= 200));
    assert_eq!(failure.error.status, Some(status));
});
