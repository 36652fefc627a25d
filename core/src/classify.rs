//! What the server said, and what it allows: POLICY.md section 2 as one table.
//!
//! Every answer (or transport failure) is classified here and nowhere else. The machine then
//! decides by class, never by status code.

use crate::error::{AuthError, ErrorKind};
use crate::http::{HttpResponse, TransportFailure};
use crate::wire::ErrorBody;

/// The class of a non-success answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth retrying later; never a reason to remove a session.
    Transient,
    /// The server says the session (or its refresh token) is gone.
    SessionDead,
    /// Any other well-formed GoTrue 4xx.
    Api,
}

/// Whether an answer of a class may remove a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MayRemove {
    /// Never.
    Never,
    /// Yes, under the refresh and verify rules.
    Yes,
    /// Only when it rejects the refresh token of an expired session.
    OnlyRefreshOfExpired,
}

/// What an answer must look like for a rule to apply.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// The connection failed (refused, reset, timeout, DNS).
    TransportFailure,
    /// Any answer, 2xx included, with more headers than [`crate::limits::MAX_HEADERS`] or one
    /// longer than [`crate::limits::MAX_HEADER_BYTES`]: not read at all.
    OverLimits,
    /// One of these statuses.
    Status(&'static [u16]),
    /// A status in this range (inclusive).
    StatusRange(u16, u16),
    /// A non-2xx whose body is not a GoTrue error (a proxy's HTML page, empty, not JSON).
    NotGoTrueError,
    /// A GoTrue error with one of these codes.
    Code(&'static [&'static str]),
    /// The legacy `{"error":"invalid_grant"}` with status 400.
    LegacyInvalidGrant,
    /// Any other well-formed GoTrue 4xx.
    AnyGoTrueError,
}

/// One row of the classification table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// What the answer looks like.
    pub when: When,
    /// Its class.
    pub class: Class,
    /// Whether it may remove a session.
    pub may_remove: MayRemove,
}

/// The codes that say a session is dead.
pub const SESSION_DEAD_CODES: &[&str] = &[
    "refresh_token_not_found",
    "refresh_token_already_used",
    "session_not_found",
    "session_expired",
    "user_not_found",
    "user_banned",
];

/// POLICY.md section 2, first match wins.
pub const TABLE: &[Rule] = &[
    Rule { when: When::TransportFailure, class: Class::Transient, may_remove: MayRemove::Never },
    Rule { when: When::OverLimits, class: Class::Transient, may_remove: MayRemove::Never },
    Rule { when: When::StatusRange(500, 599), class: Class::Transient, may_remove: MayRemove::Never },
    Rule { when: When::Status(&[408, 409, 429]), class: Class::Transient, may_remove: MayRemove::Never },
    Rule { when: When::NotGoTrueError, class: Class::Transient, may_remove: MayRemove::Never },
    Rule { when: When::Code(SESSION_DEAD_CODES), class: Class::SessionDead, may_remove: MayRemove::Yes },
    Rule { when: When::LegacyInvalidGrant, class: Class::SessionDead, may_remove: MayRemove::Yes },
    Rule { when: When::AnyGoTrueError, class: Class::Api, may_remove: MayRemove::OnlyRefreshOfExpired },
];

/// What `GET /user` may answer that makes the session *suspect* (POLICY.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspicion {
    /// The server does not know the session: verify with a refresh (or as the policy says).
    SessionGone,
    /// The server thinks the token expired while the local clock does not: one refresh and one
    /// retry, whatever the policy (clock skew, section 10).
    TokenExpired,
}

/// `/user` answers that are a suspicion, not a verdict: (status, code). GoTrue answers `bad_jwt`
/// with 403 since March 2024 and with 401 before; both mean the same.
pub const USER_SUSPICIONS: &[(u16, &str)] = &[
    (403, "session_not_found"),
    (403, "user_not_found"),
    (401, "bad_jwt"),
    (403, "bad_jwt"),
    (403, "session_expired"),
];

/// A classified failure: its class and the error to hand to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class of the answer.
    pub class: Class,
    /// The error, with status and code kept.
    pub error: AuthError,
}

impl Failure {
    /// Whether `/user` answered with a suspicion, and which.
    pub fn user_suspicion(&self) -> Option<Suspicion> {
        let status = self.error.status?;
        let code = self.error.code.as_deref()?;
        if !USER_SUSPICIONS.iter().any(|(s, c)| *s == status && *c == code) {
            return None;
        }
        let expired = code == "bad_jwt" && self.error.message.to_ascii_lowercase().contains("expired");
        Some(if expired { Suspicion::TokenExpired } else { Suspicion::SessionGone })
    }

    /// Whether the answer proves nothing about the session (sign-out must keep it).
    pub fn proves_nothing(&self) -> bool {
        self.class == Class::Transient || self.error.code.as_deref() == Some("bad_jwt")
    }
}

/// The headers GoTrue adds to explain a token answer or an error; kept in diagnostics so that
/// "I was logged out" reports can be explained (POLICY.md section 12).
pub const DIAGNOSTIC_HEADERS: &[&str] = &[
    "x-sb-error-code",
    "sb-auth-session-id",
    "sb-auth-refresh-token-counter",
    "sb-auth-refresh-token-reuse",
    "sb-auth-refresh-token-reuse-cause",
    "sb-auth-refresh-token-rotated",
];

/// The diagnostic headers an answer carries, lower-cased, in the order of
/// [`DIAGNOSTIC_HEADERS`]. Values are capped at 200 bytes (a hostile header cannot flood logs).
pub fn diagnostic_headers(resp: &HttpResponse) -> Vec<(String, String)> {
    DIAGNOSTIC_HEADERS
        .iter()
        .filter_map(|name| {
            let value = resp.header(name)?;
            let mut end = value.len().min(200);
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            Some(((*name).to_owned(), value[..end].to_owned()))
        })
        .collect()
}

/// The most a `Retry-After` may push a retry (a hostile header must not park the client).
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// Classifies a transport failure.
pub fn classify_transport(failure: &TransportFailure) -> Failure {
    let rule = TABLE.iter().find(|r| matches!(r.when, When::TransportFailure)).copied();
    Failure {
        class: rule.map_or(Class::Transient, |r| r.class),
        error: AuthError::new(ErrorKind::RetryableFetch, format!("network failure: {}", failure.message)),
    }
}

/// Whether an answer's headers exceed the limits ([`When::OverLimits`]): such an answer, even a
/// 2xx, is classified rather than read.
pub fn over_limits(resp: &HttpResponse) -> bool {
    crate::limits::check_headers(&resp.headers).is_err()
}

/// Classifies a non-2xx answer, or one [`over_limits`].
pub fn classify_response(resp: &HttpResponse, now_ms: u64) -> Failure {
    let over = crate::limits::check_headers(&resp.headers).err();
    // An answer over the limits is not read further.
    let body = if over.is_some() { None } else { ErrorBody::parse(&resp.body) };
    let code = body.as_ref().and_then(|b| error_code(resp, b));
    let rule = TABLE.iter().find(|r| rule_applies(r.when, resp, over.is_some(), body.as_ref(), code.as_deref()));
    let class = rule.map_or(Class::Api, |r| r.class);
    let message = match (&over, &body) {
        (Some(limit), _) => format!("the server's answer (HTTP {}) was not read: {limit}", resp.status),
        (None, Some(b)) => b.text(),
        (None, None) => format!("the server answered HTTP {} without a GoTrue error body", resp.status),
    };
    let kind = match class {
        Class::Transient if over.is_some() => ErrorKind::InvalidResponse,
        Class::Transient => ErrorKind::RetryableFetch,
        // auth-js reports session_not_found as "session missing"; we keep status and code too.
        _ if code.as_deref() == Some("session_not_found") => ErrorKind::SessionMissing,
        _ => ErrorKind::Api,
    };
    let retry_after_ms = match class {
        Class::Transient if over.is_none() => retry_after(resp).map(|d| now_ms.saturating_add(d)),
        _ => None,
    };
    Failure { class, error: AuthError { kind, status: Some(resp.status), code, message, retry_after_ms } }
}

/// Whether a row applies to `resp`, whose headers were found `over` the limits or not.
fn rule_applies(when: When, resp: &HttpResponse, over: bool, body: Option<&ErrorBody>, code: Option<&str>) -> bool {
    match when {
        When::TransportFailure => false,
        When::OverLimits => over,
        When::Status(list) => list.contains(&resp.status),
        When::StatusRange(lo, hi) => (lo..=hi).contains(&resp.status),
        When::NotGoTrueError => body.is_none(),
        When::Code(codes) => code.is_some_and(|c| codes.contains(&c)),
        When::LegacyInvalidGrant => {
            resp.status == 400 && body.is_some_and(|b| b.error.as_deref() == Some("invalid_grant"))
        }
        When::AnyGoTrueError => body.is_some(),
    }
}

/// The error code: the body's `code` when the answer says API version 2024-01-01 or later,
/// else `error_code`, else the `x-sb-error-code` header.
fn error_code(resp: &HttpResponse, body: &ErrorBody) -> Option<String> {
    let versioned = resp.header("x-supabase-api-version").is_some_and(|v| is_api_version_at_least(v, "2024-01-01"));
    let from_code = versioned.then(|| body.code_str()).flatten();
    from_code.or(body.error_code.as_deref()).or_else(|| resp.header("x-sb-error-code")).map(str::to_owned)
}

/// Compares `YYYY-MM-DD` versions; anything else is not a version.
fn is_api_version_at_least(v: &str, min: &str) -> bool {
    let v = v.trim();
    let well_formed = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    well_formed && v >= min
}

/// `Retry-After` in delta-seconds, capped. (An HTTP-date is rare from GoTrue and is ignored:
/// the regular backoff applies.)
fn retry_after(resp: &HttpResponse) -> Option<u64> {
    let secs: u64 = resp.header("retry-after")?.trim().parse().ok()?;
    Some(secs.saturating_mul(1000).min(MAX_RETRY_AFTER_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }
    const V: (&str, &str) = ("x-supabase-api-version", "2024-01-01");

    #[test]
    fn transport_failures_are_transient() {
        let f = classify_transport(&TransportFailure::new("connection reset"));
        assert_eq!(f.class, Class::Transient);
        assert_eq!(f.error.kind, ErrorKind::RetryableFetch);
    }

    #[test]
    fn server_errors_throttling_and_conflicts_are_transient() {
        for status in [500, 502, 503, 504, 520, 599, 408, 409, 429] {
            let f = classify_response(&resp(status, &[V], r#"{"code":"x","msg":"m"}"#), 0);
            assert_eq!(f.class, Class::Transient, "{status}");
            assert_eq!(f.error.status, Some(status));
        }
        let f = classify_response(&resp(429, &[V], r#"{"code":"over_request_rate_limit","msg":"slow"}"#), 0);
        assert_eq!(f.error.code.as_deref(), Some("over_request_rate_limit"));
    }

    #[test]
    fn a_session_dead_code_on_a_5xx_is_still_transient() {
        let f = classify_response(&resp(503, &[V], r#"{"code":"session_not_found"}"#), 0);
        assert_eq!(f.class, Class::Transient);
    }

    #[test]
    fn proxy_pages_and_empty_bodies_are_transient() {
        for body in ["<html><body>Forbidden</body></html>", "", "not json", "{\"hello\":1}", "[]"] {
            let f = classify_response(&resp(403, &[], body), 0);
            assert_eq!(f.class, Class::Transient, "{body:?}");
            assert_eq!(f.error.kind, ErrorKind::RetryableFetch);
        }
    }

    #[test]
    fn session_dead_codes() {
        for code in SESSION_DEAD_CODES {
            let f = classify_response(&resp(400, &[V], &format!(r#"{{"code":"{code}","msg":"m"}}"#)), 0);
            assert_eq!(f.class, Class::SessionDead, "{code}");
            assert_eq!(f.error.code.as_deref(), Some(*code));
        }
        let f = classify_response(&resp(400, &[], r#"{"error":"invalid_grant","error_description":"bad"}"#), 0);
        assert_eq!(f.class, Class::SessionDead);
        assert_eq!(f.error.message, "bad");
    }

    #[test]
    fn other_goture_errors_are_api_errors() {
        let f = classify_response(&resp(422, &[V], r#"{"code":"validation_failed","msg":"m"}"#), 0);
        assert_eq!((f.class, f.error.kind), (Class::Api, ErrorKind::Api));
        let f = classify_response(&resp(400, &[], r#"{"error":"invalid_request"}"#), 0);
        assert_eq!(f.class, Class::Api);
    }

    #[test]
    fn code_source_depends_on_the_api_version() {
        // Without the version header, `code` is the HTTP status on old servers: use error_code.
        let f = classify_response(&resp(403, &[], r#"{"code":403,"error_code":"session_not_found","msg":"m"}"#), 0);
        assert_eq!(f.error.code.as_deref(), Some("session_not_found"));
        let f = classify_response(&resp(403, &[("x-sb-error-code", "user_banned")], r#"{"msg":"m"}"#), 0);
        assert_eq!((f.class, f.error.code.as_deref()), (Class::SessionDead, Some("user_banned")));
        let f = classify_response(
            &resp(403, &[("x-supabase-api-version", "2023-12-31")], r#"{"code":"session_not_found","msg":"m"}"#),
            0,
        );
        assert_eq!(f.class, Class::Api);
        let f = classify_response(
            &resp(403, &[("x-supabase-api-version", "garbage!!!")], r#"{"code":"session_not_found","msg":"m"}"#),
            0,
        );
        assert_eq!(f.error.code, None);
    }

    #[test]
    fn session_not_found_is_reported_as_session_missing_with_status_and_code() {
        let f = classify_response(&resp(403, &[V], r#"{"code":"session_not_found","msg":"m"}"#), 0);
        assert_eq!(f.error.kind, ErrorKind::SessionMissing);
        assert_eq!((f.error.status, f.error.code.as_deref()), (Some(403), Some("session_not_found")));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let f = classify_response(&resp(429, &[("Retry-After", "7")], ""), 1000);
        assert_eq!(f.error.retry_after_ms, Some(8000));
        let f = classify_response(&resp(503, &[("retry-after", "99999999999")], ""), 0);
        assert_eq!(f.error.retry_after_ms, Some(MAX_RETRY_AFTER_MS));
        let f = classify_response(&resp(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], ""), 0);
        assert_eq!(f.error.retry_after_ms, None);
    }

    #[test]
    fn diagnostic_headers_are_kept_and_capped() {
        let long = "x".repeat(500);
        let r = resp(
            400,
            &[
                ("SB-Auth-Session-Id", "s-1"),
                ("x-sb-error-code", "refresh_token_already_used"),
                ("sb-auth-refresh-token-reuse-cause", &long),
                ("other", "no"),
            ],
            "",
        );
        let h = diagnostic_headers(&r);
        assert_eq!(h[0], ("x-sb-error-code".to_owned(), "refresh_token_already_used".to_owned()));
        assert_eq!(h[1], ("sb-auth-session-id".to_owned(), "s-1".to_owned()));
        assert_eq!(h[2].1.len(), 200);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn user_suspicions() {
        let gone = classify_response(&resp(403, &[V], r#"{"code":"session_not_found","msg":"m"}"#), 0);
        assert_eq!(gone.user_suspicion(), Some(Suspicion::SessionGone));
        let exp = classify_response(&resp(401, &[V], r#"{"code":"bad_jwt","msg":"invalid JWT: token is expired"}"#), 0);
        assert_eq!(exp.user_suspicion(), Some(Suspicion::TokenExpired));
        let other = classify_response(&resp(400, &[V], r#"{"code":"session_not_found","msg":"m"}"#), 0);
        assert_eq!(other.user_suspicion(), None);
        let plain = classify_response(&resp(403, &[V], r#"{"code":"not_admin","msg":"m"}"#), 0);
        assert_eq!(plain.user_suspicion(), None);
    }

    #[test]
    fn every_rule_can_match() {
        // The table has no dead rows: each one is the first match for some answer.
        let samples: Vec<Failure> = vec![
            classify_transport(&TransportFailure::new("x")),
            classify_response(&resp(200, &[("x", "y"); 101], ""), 0),
            classify_response(&resp(500, &[], ""), 0),
            classify_response(&resp(429, &[], r#"{"msg":"m"}"#), 0),
            classify_response(&resp(403, &[], "<html>"), 0),
            classify_response(&resp(400, &[V], r#"{"code":"refresh_token_not_found"}"#), 0),
            classify_response(&resp(400, &[], r#"{"error":"invalid_grant"}"#), 0),
            classify_response(&resp(400, &[V], r#"{"code":"validation_failed"}"#), 0),
        ];
        let classes: Vec<Class> = samples.iter().map(|f| f.class).collect();
        let table: Vec<Class> = TABLE.iter().map(|r| r.class).collect();
        assert_eq!(classes, table);
    }
}
