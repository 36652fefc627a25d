//! What the simulated server (or the network) answers.

use super::world::{jwt, refresh_token_of};
use super::*;
use gotrue_session::{HttpRequest, HttpResponse, TransportFailure};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// How deep a hostile `user_metadata` nests: far beyond any parser's recursion limit.
const DEEP: usize = 100_000;

/// The size of a huge body: twice the largest answer GoTrue has any reason to send.
const HUGE_BYTES: usize = 2 << 20;

/// The user of hostile session values.
const PLAIN_USER: &str = r#"{"id":"user-hostile","aud":"authenticated"}"#;

/// A GoTrue error that would remove a session, whole (a hostile body only ever has it cut short).
const DEAD_ERROR: &str = r#"{"code":"refresh_token_not_found","msg":"Invalid Refresh Token: Refresh Token Not Found"}"#;

/// A `{"id":...}`-looking user whose `user_metadata` nests [`DEEP`] arrays (made once).
fn deep_user() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            r#"{{"id":"user-hostile","aud":"authenticated","user_metadata":{}{}}}"#,
            "[".repeat(DEEP),
            "]".repeat(DEEP)
        )
    })
}

/// A 2 MiB body with no token in it: an HTML page, a JSON array, a JSON object whose only field
/// is `padding` (made once).
fn huge(n: u8) -> &'static [u8] {
    static BODIES: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    let bodies = BODIES.get_or_init(|| {
        let pad = |unit: &str| unit.repeat(HUGE_BYTES / unit.len());
        [
            format!("<html><body>{}</body></html>", pad("<p>Service unavailable</p>")).into_bytes(),
            format!("[{}0]", pad("0,")).into_bytes(),
            format!(r#"{{"padding":"{}"}}"#, pad("x")).into_bytes(),
        ]
    });
    &bodies[usize::from(n) % 3]
}

/// `full` cut short: `n` picks where, never at its end (so a JSON object is never whole).
fn cut(full: &str, n: u8) -> &str {
    &full[..(full.len() - 1) * usize::from(n) / 255]
}

/// Up to 159 bytes drawn from `seed`: JSON-looking characters and any byte, mixed.
fn random_bytes(seed: u16) -> Vec<u8> {
    const JSONISH: &[u8] = b"{}[]\":,.- 0123456789eEtruefalsnul\"{\"";
    let mut next = splitmix64(u64::from(seed));
    let len = next() % 160;
    (0..len)
        .map(|_| {
            let r = next();
            if r.is_multiple_of(3) {
                (r >> 8) as u8
            } else {
                JSONISH[(r >> 8) as usize % JSONISH.len()]
            }
        })
        .collect()
}

/// `raw` as a hostile body for `status`: itself, unless it might mean something (it spells one
/// of the fields a GoTrue error, for a non-2xx, or a token answer or user, for a 2xx, is made of,
/// or has an escape that could spell one); then behind a `<`, which no JSON text starts with.
/// A textual test, so that it depends on no parser (nor on its recursion or size limits).
fn meaningless(raw: Vec<u8>, status: u16) -> Vec<u8> {
    const ERROR_FIELDS: &[&str] =
        &["\"code\"", "\"error_code\"", "\"msg\"", "\"message\"", "\"error\"", "\"error_description\""];
    const ANSWER_FIELDS: &[&str] = &["\"access_token\"", "\"refresh_token\"", "\"user\"", "\"id\""];
    let fields = if (200..300).contains(&status) { ANSWER_FIELDS } else { ERROR_FIELDS };
    let spells = |field: &str| raw.windows(field.len()).any(|w| w == field.as_bytes());
    if raw.contains(&b'\\') || fields.iter().any(|f| spells(f)) {
        let mut quoted = b"<".to_vec();
        quoted.extend_from_slice(&raw);
        quoted
    } else {
        raw
    }
}

impl Sim {
    pub fn response(&mut self, req: &HttpRequest, ans: Ans) -> Result<HttpResponse, TransportFailure> {
        fn gotrue(status: u16, code: &str, msg: &str) -> HttpResponse {
            HttpResponse {
                status,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("x-supabase-api-version".into(), "2024-01-01".into()),
                    ("x-sb-error-code".into(), code.into()),
                    ("sb-auth-session-id".into(), "6f1c2e0a-sim".into()),
                ],
                body: json!({ "code": code, "msg": msg }).to_string().into_bytes(),
            }
        }
        fn raw(status: u16, content_type: &str, body: &str) -> HttpResponse {
            HttpResponse {
                status,
                headers: vec![("content-type".into(), content_type.into())],
                body: body.as_bytes().to_vec(),
            }
        }
        Ok(match ans {
            Ans::Ok => self.success(req),
            Ans::OkGarbage(n) => {
                let body = ["<html>ok</html>", "{}", r#"{"access_token":5}"#, "", "[1,2]"][n as usize % 5];
                raw(200, "application/json", body)
            }
            Ans::ServerError(n) => {
                let status = [500, 502, 503, 504][n as usize % 4];
                if n.is_multiple_of(2) {
                    gotrue(status, "unexpected_failure", "Unexpected failure")
                } else {
                    raw(status, "text/plain", "upstream connect error")
                }
            }
            Ans::Timeout408 => gotrue(408, "request_timeout", "Processing this request timed out"),
            Ans::Conflict409 => gotrue(409, "conflict", "Refresh token lock held by another request"),
            Ans::RateLimited { retry_after_s } => {
                let mut r = gotrue(429, "over_request_rate_limit", "Request rate limit reached");
                r.headers.push(("Retry-After".into(), retry_after_s.to_string()));
                r
            }
            Ans::ProxyHtml(n) => {
                raw([400, 401, 403, 502][n as usize % 4], "text/html", "<html><body>Access denied</body></html>")
            }
            Ans::EmptyBody(n) => raw([400, 401, 403, 404][n as usize % 4], "application/json", ""),
            Ans::RefreshTokenNotFound => gotrue(400, "refresh_token_not_found", "Invalid Refresh Token"),
            Ans::RefreshTokenAlreadyUsed => {
                let mut r = gotrue(400, "refresh_token_already_used", "Already Used");
                r.headers.push(("sb-auth-refresh-token-reuse".into(), "true".into()));
                r.headers.push(("sb-auth-refresh-token-reuse-cause".into(), "concurrent".into()));
                r
            }
            Ans::SessionNotFound => gotrue(403, "session_not_found", "Session from session_id claim does not exist"),
            Ans::UserNotFound => gotrue(403, "user_not_found", "User from sub claim in JWT does not exist"),
            Ans::SessionExpired => gotrue(403, "session_expired", "Session has expired"),
            Ans::BadJwt { expired } => gotrue(
                401,
                "bad_jwt",
                if expired {
                    "invalid JWT: unable to parse or verify signature, token is expired"
                } else {
                    "invalid JWT"
                },
            ),
            Ans::Validation422 => gotrue(422, "validation_failed", "Unable to validate request"),
            Ans::LegacyInvalidGrant => raw(
                400,
                "application/json",
                r#"{"error":"invalid_grant","error_description":"Invalid Refresh Token: Refresh Token Not Found"}"#,
            ),
            Ans::Transport => return Err(TransportFailure::new("connection reset")),
            Ans::Hostile { body, status } => {
                let content_type = match body {
                    Hostile::Html | Hostile::NotUtf8(_) => "text/html",
                    _ => "application/json",
                };
                HttpResponse {
                    status,
                    headers: vec![("content-type".into(), content_type.into())],
                    body: self.hostile_body(body, status),
                }
            }
        })
    }

    /// A session value as the server would issue it, with `user`, but whose tokens are hostile:
    /// they come only where it is cut short, malformed or too deep (invariant 16), and are secrets.
    fn hostile_session_json(&mut self, user: &str) -> String {
        let n = self.next();
        let refresh = format!("rt-sim-{n:06}-hostile");
        let exp = self.server_now_s() + self.lifetime_s;
        let access = jwt(exp, "user-hostile", n, &format!("sess-hostile-{n:06}"));
        for token in [&access, &refresh] {
            self.secrets.push(token.clone());
            self.hostile.insert(token.clone());
        }
        format!(
            r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_in":{},"expires_at":{exp},"token_type":"bearer","user":{user}}}"#,
            self.lifetime_s
        )
    }

    /// The value of a hostile stored session.
    pub fn hostile_stored(&mut self, h: HostileStored) -> String {
        match h {
            HostileStored::Truncated(n) => cut(&self.hostile_session_json(PLAIN_USER), n).to_owned(),
            HostileStored::DeepUser => self.hostile_session_json(deep_user()),
        }
    }

    /// The bytes of a hostile body.
    fn hostile_body(&mut self, body: Hostile, status: u16) -> Vec<u8> {
        match body {
            Hostile::Html => {
                b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
                    .to_vec()
            }
            Hostile::Truncated(n) if n.is_multiple_of(2) => cut(&self.hostile_session_json(PLAIN_USER), n).into(),
            Hostile::Truncated(n) => cut(DEAD_ERROR, n).into(),
            Hostile::NotUtf8(n) => match n % 3 {
                // UTF-16 with a byte-order mark, Latin-1, and bytes after one no UTF-8 text has.
                0 => b"\xff\xfe<\0h\0t\0m\0l\0>\0".to_vec(),
                1 => b"<p>Zugriff verweigert: \xfcberlastet</p>".to_vec(),
                _ => std::iter::once(0xff).chain((0..64u8).map(|i| 0x80 | (n ^ i))).collect(),
            },
            Hostile::Empty => Vec::new(),
            Hostile::DeepUser(n) if n.is_multiple_of(2) => deep_user().as_bytes().to_vec(),
            Hostile::DeepUser(_) => self.hostile_session_json(deep_user()).into_bytes(),
            Hostile::Huge(n) => huge(n).to_vec(),
            Hostile::MissingFields(n) => {
                let text = self.hostile_session_json(PLAIN_USER);
                let mut v: Value = serde_json::from_str(&text).expect("a session value is JSON");
                match n % 4 {
                    0 => drop(v.as_object_mut().and_then(|o| o.remove("access_token"))),
                    1 => drop(v.as_object_mut().and_then(|o| o.remove("refresh_token"))),
                    2 => v["refresh_token"] = json!(12345),
                    _ => v["access_token"] = json!(""),
                }
                v.to_string().into_bytes()
            }
            Hostile::Bytes(n) => {
                let raw = match self.bodies.len() {
                    0 => random_bytes(n),
                    len => self.bodies[usize::from(n) % len].clone(),
                };
                meaningless(raw, status)
            }
        }
    }

    pub fn success(&mut self, req: &HttpRequest) -> HttpResponse {
        let ok = |status: u16, body: String| HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        };
        if let Some(old) = refresh_token_of(req) {
            self.spent.insert(old.clone());
            let user = self.user_of.get(&old).cloned().unwrap_or_else(|| "user-unknown".to_owned());
            let (body, refresh) = self.session_json(&user, Expiry::Valid, Some(&old));
            // The refresh endpoint accepted the lineage: invariant 14 holds from here.
            let t = self.tick();
            self.confirmed.insert(refresh.clone(), t);
            self.issued = Some(refresh.clone());
            self.parent.insert(refresh, old);
            let mut r = ok(200, body);
            r.headers.push(("sb-auth-refresh-token-counter".into(), self.counter.to_string()));
            r.headers.push(("sb-auth-refresh-token-rotated".into(), "true".into()));
            return r;
        }
        match req.path.as_str() {
            "/user" => {
                let sub = req
                    .bearer()
                    .and_then(|t| gotrue_session::jwt::decode_claims(t).ok())
                    .and_then(|c| c.sub)
                    .unwrap_or_else(|| "user-unknown".to_owned());
                ok(200, json!({ "id": sub, "aud": "authenticated", "email": format!("{sub}@example.com") }).to_string())
            }
            "/logout" => ok(204, String::new()),
            // `/verify` may confirm without a session (an email change, say).
            "/verify" if self.next().is_multiple_of(4) => {
                ok(200, json!({ "user": { "id": "user-0", "aud": "authenticated" } }).to_string())
            }
            _ => {
                let user = format!("user-{}", self.counter % 3);
                ok(200, self.session_json(&user, Expiry::Valid, None).0)
            }
        }
    }
}
