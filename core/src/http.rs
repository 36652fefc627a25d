//! HTTP requests the core asks for and the answers that come back. The core builds every
//! request completely (method, path, query, headers, body), so each shell sends the same bytes.

use std::fmt;

/// Names one request; its answer comes back with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The two methods GoTrue's session endpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request to send to the auth server.
#[derive(Clone, PartialEq)]
pub struct HttpRequest {
    /// Answer with this id.
    pub id: RequestId,
    /// GET or POST.
    pub method: Method,
    /// The path relative to the auth URL, e.g. `/token`.
    pub path: String,
    /// Query parameters, in order (not yet percent-encoded).
    pub query: Vec<(String, String)>,
    /// Every header to send, `Authorization` included.
    pub headers: Vec<(String, String)>,
    /// The JSON body, serialized.
    pub body: Option<String>,
}

impl HttpRequest {
    /// The bearer token this request carries, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.strip_prefix("Bearer "))
    }

    /// The full URL: `base` (the auth URL, e.g. `https://x.supabase.co/auth/v1`) joined with the
    /// path and the percent-encoded query.
    pub fn url(&self, base: &str) -> String {
        let mut url = format!("{}{}", base.trim_end_matches('/'), self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(k));
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        url
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for HttpRequest {
    // Bodies and Authorization carry secrets: show only their presence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("bearer", &self.bearer().map(|_| "<redacted>"))
            .field("body", &self.body.as_ref().map(|b| format!("<{} bytes>", b.len())))
            .finish()
    }
}

/// An answer from the auth server (or from whatever stands in front of it).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in any case.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body", &format!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

/// How a request failed before any answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// A short description (no secrets: shells pass the error kind, not the URL's query).
    pub message: String,
}

impl TransportFailure {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        TransportFailure { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_the_query() {
        let r = HttpRequest {
            id: RequestId(1),
            method: Method::Post,
            path: "/token".into(),
            query: vec![("grant_type".into(), "refresh_token".into()), ("redirect_to".into(), "a b&c".into())],
            headers: vec![],
            body: None,
        };
        assert_eq!(
            r.url("https://x/auth/v1/"),
            "https://x/auth/v1/token?grant_type=refresh_token&redirect_to=a%20b%26c"
        );
    }
}
