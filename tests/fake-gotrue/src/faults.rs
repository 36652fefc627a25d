//! Fault injection: a queue of faults, each for one endpoint (or all of them) and a number of
//! requests, consumed in order.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::Response;

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every GoTrue route (never the admin routes).
    Any,
    /// `POST /token`, any grant type.
    Token,
    /// `POST /token?grant_type=refresh_token`.
    Refresh,
    /// `POST /token?grant_type=password`.
    Password,
    /// `POST /token?grant_type=pkce`.
    Pkce,
    /// `POST /token?grant_type=id_token`.
    IdToken,
    /// `POST /signup`.
    Signup,
    /// `POST /verify`.
    Verify,
    /// `GET /user`.
    User,
    /// `POST /logout`.
    Logout,
}

/// The GoTrue endpoint a request was for (counters, logs and fault matching use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Token(Grant),
    Signup,
    Verify,
    User,
    Logout,
    Health,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Grant {
    RefreshToken,
    Password,
    Pkce,
    IdToken,
    Other,
}

impl Endpoint {
    /// The name used in counters and logs: `token:refresh_token`, `user`, ...
    pub(crate) fn key(self) -> &'static str {
        match self {
            Endpoint::Token(Grant::RefreshToken) => "token:refresh_token",
            Endpoint::Token(Grant::Password) => "token:password",
            Endpoint::Token(Grant::Pkce) => "token:pkce",
            Endpoint::Token(Grant::IdToken) => "token:id_token",
            Endpoint::Token(Grant::Other) => "token:other",
            Endpoint::Signup => "signup",
            Endpoint::Verify => "verify",
            Endpoint::User => "user",
            Endpoint::Logout => "logout",
            Endpoint::Health => "health",
            Endpoint::Other => "other",
        }
    }
}

impl Target {
    pub(crate) fn matches(self, e: Endpoint) -> bool {
        match self {
            Target::Any => true,
            Target::Token => matches!(e, Endpoint::Token(_)),
            Target::Refresh => e == Endpoint::Token(Grant::RefreshToken),
            Target::Password => e == Endpoint::Token(Grant::Password),
            Target::Pkce => e == Endpoint::Token(Grant::Pkce),
            Target::IdToken => e == Endpoint::Token(Grant::IdToken),
            Target::Signup => e == Endpoint::Signup,
            Target::Verify => e == Endpoint::Verify,
            Target::User => e == Endpoint::User,
            Target::Logout => e == Endpoint::Logout,
        }
    }
}

/// One thing that goes wrong with a request.
///
/// In admin JSON a fault is an object with `kind` and the variant's fields, e.g.
/// `{"kind":"rate_limited","retry_after_secs":3}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Wait `ms`, then answer normally.
    Latency {
        /// Delay in milliseconds.
        ms: u64,
    },
    /// A server error: GoTrue's JSON `unexpected_failure` body, or (with `html`) a gateway's HTML
    /// error page. The request is not processed.
    ServerError {
        /// The status (500, 502, 503, 504, ...).
        #[serde(default = "default_500")]
        status: u16,
        /// An HTML page instead of JSON.
        #[serde(default)]
        html: bool,
    },
    /// 429 `over_request_rate_limit`, with `Retry-After` when given.
    RateLimited {
        /// Seconds for the `Retry-After` header.
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// 409 `conflict` (GoTrue's answer when concurrent refreshes of one session time out).
    Conflict,
    /// The connection is reset (RST, SO_LINGER 0) before any answer; nothing is processed.
    Reset,
    /// The request is processed (a refresh rotates), then the connection is reset instead of
    /// answering: the client loses the answer of a committed change.
    ResetAfterCommit,
    /// The request is processed, then the answer is cut in the middle of its body.
    Truncated,
    /// An HTML page from a proxy or CDN (403 by default); the request never reaches GoTrue.
    ProxyPage {
        /// The status.
        #[serde(default = "default_403")]
        status: u16,
    },
    /// An answer with no body at all.
    EmptyBody {
        /// The status.
        #[serde(default = "default_502")]
        status: u16,
    },
    /// Any answer, as given.
    Raw {
        /// The status.
        status: u16,
        /// `Content-Type`, if any.
        #[serde(default)]
        content_type: Option<String>,
        /// The body.
        #[serde(default)]
        body: String,
    },
}

fn default_500() -> u16 {
    500
}
fn default_403() -> u16 {
    403
}
fn default_502() -> u16 {
    502
}

impl Fault {
    /// A short name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::ServerError { .. } => "server_error",
            Fault::RateLimited { .. } => "rate_limited",
            Fault::Conflict => "conflict",
            Fault::Reset => "reset",
            Fault::ResetAfterCommit => "reset_after_commit",
            Fault::Truncated => "truncated",
            Fault::ProxyPage { .. } => "proxy_page",
            Fault::EmptyBody { .. } => "empty_body",
            Fault::Raw { .. } => "raw",
        }
    }

    /// The canned answer of a fault that replaces the server's answer (`None` for the others).
    /// `versioned`: the client asked for API version 2024-01-01 (GoTrue errors differ).
    pub(crate) fn canned(&self, versioned: bool) -> Option<Response> {
        match self {
            Fault::ServerError { status, html: false } => Some(
                crate::error::ApiError::http(
                    *status,
                    "unexpected_failure",
                    "Unexpected failure, please check server logs for more information",
                )
                .to_response(versioned),
            ),
            Fault::ServerError { status, html: true } => Some(Response::html(*status, &gateway_page(*status))),
            Fault::RateLimited { retry_after_secs } => {
                let mut r = crate::error::ApiError::http(429, "over_request_rate_limit", "Request rate limit reached")
                    .to_response(versioned);
                if let Some(s) = retry_after_secs {
                    r.set_header("Retry-After", &s.to_string());
                }
                Some(r)
            }
            Fault::Conflict => Some(
                crate::error::ApiError::http(
                    409,
                    "conflict",
                    "Too many concurrent token refresh requests on the same session or refresh token",
                )
                .to_response(versioned),
            ),
            Fault::ProxyPage { status } => Some(Response::html(*status, PROXY_PAGE).header("Server", "cloudflare")),
            Fault::EmptyBody { status } => Some(Response::new(*status)),
            Fault::Raw { status, content_type, body } => {
                let mut r = Response::new(*status).body(body.clone().into_bytes());
                if let Some(ct) = content_type {
                    r.set_header("Content-Type", ct);
                }
                Some(r)
            }
            Fault::Latency { .. } | Fault::Reset | Fault::ResetAfterCommit | Fault::Truncated => None,
        }
    }
}

fn gateway_page(status: u16) -> String {
    let reason = crate::http::reason(status);
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

const PROXY_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>Attention Required! | Cloudflare</title></head>\n<body>\n<div id=\"cf-wrapper\"><h1>Sorry, you have been blocked</h1>\n<p>You are unable to access supabase.co</p></div>\n</body>\n</html>\n";

/// A fault queued for a number of requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The requests it applies to.
    #[serde(default = "default_target")]
    pub target: Target,
    /// What goes wrong.
    pub fault: Fault,
    /// How many matching requests it still applies to.
    #[serde(default = "default_count")]
    pub count: u32,
}

fn default_target() -> Target {
    Target::Any
}
fn default_count() -> u32 {
    1
}

/// The queue: the first rule that matches a request is used once.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    rules: Vec<FaultRule>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, rule: FaultRule) {
        if rule.count > 0 {
            self.rules.push(rule);
        }
    }

    pub(crate) fn take(&mut self, e: Endpoint) -> Option<Fault> {
        let i = self.rules.iter().position(|r| r.target.matches(e))?;
        let fault = self.rules[i].fault.clone();
        self.rules[i].count -= 1;
        if self.rules[i].count == 0 {
            self.rules.remove(i);
        }
        Some(fault)
    }

    pub(crate) fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }
}

/// The JSON an admin route answers for the queue.
pub(crate) fn queue_json(rules: &[FaultRule]) -> serde_json::Value {
    json!({ "faults": rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_per_target() {
        let mut q = FaultQueue::default();
        q.push(FaultRule { target: Target::User, fault: Fault::Conflict, count: 1 });
        q.push(FaultRule { target: Target::Refresh, fault: Fault::Reset, count: 2 });
        q.push(FaultRule { target: Target::Any, fault: Fault::EmptyBody { status: 502 }, count: 1 });
        let refresh = Endpoint::Token(Grant::RefreshToken);
        assert_eq!(q.take(refresh), Some(Fault::Reset));
        assert_eq!(q.take(refresh), Some(Fault::Reset));
        assert_eq!(q.take(refresh), Some(Fault::EmptyBody { status: 502 }));
        assert_eq!(q.take(refresh), None);
        assert_eq!(q.take(Endpoint::User), Some(Fault::Conflict));
        assert!(q.list().is_empty());
    }

    #[test]
    fn faults_read_from_admin_json() {
        let r: FaultRule = serde_json::from_str(
            r#"{"target":"refresh","fault":{"kind":"rate_limited","retry_after_secs":3},"count":2}"#,
        )
        .unwrap();
        assert_eq!(r.fault, Fault::RateLimited { retry_after_secs: Some(3) });
        let d: FaultRule = serde_json::from_str(r#"{"fault":{"kind":"server_error"}}"#).unwrap();
        assert_eq!((d.target, d.count, d.fault), (Target::Any, 1, Fault::ServerError { status: 500, html: false }));
    }
}
