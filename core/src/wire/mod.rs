//! Wire types: the session as GoTrue sends it and auth-js stores it, the user, and error bodies.

mod read;

use crate::limits::{self, JsonLimits, LimitError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub(crate) use read::{read_object, SessionObject};

/// A signed-in user, as `GET /user` and token answers carry it. The core reads four fields; the
/// object itself is kept as the server sent it (`json`), so a session written back to storage
/// loses nothing, and no tree of its fields is built (a user is most of a session's size). Its
/// text is read once: the four fields are taken as it goes by (see `read`).
#[derive(Clone)]
pub struct User {
    /// The user's id (a UUID).
    pub id: String,
    /// Email address, if any.
    pub email: Option<String>,
    /// Phone number, if any.
    pub phone: Option<String>,
    /// Whether this is an anonymous user.
    pub is_anonymous: Option<bool>,
    /// The object's JSON text, checked when it was read.
    pub(super) raw: Box<str>,
}

impl User {
    /// A user from its JSON text. `None` when it is not JSON, exceeds the limits on a user object
    /// ([`crate::limits`]), is not an object with a non-empty string `id`, or a field the core
    /// reads has the wrong type (or is given twice).
    pub fn from_json_text(text: &str) -> Option<User> {
        JsonLimits::USER.check(text.as_bytes()).ok()?;
        read::read_user(text).ok().flatten()
    }

    /// The user object as the server sent it.
    pub fn json(&self) -> &str {
        &self.raw
    }
}

impl PartialEq for User {
    fn eq(&self, other: &User) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for User {
    /// The text as it was read. (Writing a stored session splices it in without this check:
    /// `storage::serialize_session`.)
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.raw.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<User, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        User::from_json_text(raw.get()).ok_or_else(|| serde::de::Error::custom("not a user object with a string id"))
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("email", &self.email).finish_non_exhaustive()
    }
}

/// A session: the tokens, when the access token expires, and the user.
///
/// `Debug` shows tokens as short hashes only (POLICY.md section 11).
#[derive(Clone, PartialEq, Serialize)]
pub struct Session {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds, as the server said when it issued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Expiry of the access token, Unix seconds.
    pub expires_at: i64,
    /// The refresh token.
    pub refresh_token: String,
    /// The user, when known. Shared: a session is copied into every event and result, and the
    /// user is most of its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Arc<User>>,
    /// Every other field (provider tokens, weak_password, ...), unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn bearer() -> String {
    "bearer".to_owned()
}

impl<'de> Deserialize<'de> for Session {
    /// Read as strictly as stored values are (see `storage::parse_stored_session`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Session, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        crate::storage::parse_stored_session(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// A short, non-secret label for a token: `#` and the first 6 hex digits of its SHA-256, so
/// two tokens can be told apart in logs without revealing either (JWTs share their prefix).
pub fn redact(token: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(token.as_bytes());
    format!("#{:02x}{:02x}{:02x}", d[0], d[1], d[2])
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("access_token", &redact(&self.access_token))
            .field("refresh_token", &redact(&self.refresh_token))
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Expiry in Unix milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at.saturating_mul(1000)
    }

    /// The user id, from the user object or else the token's `sub`.
    pub fn user_id(&self) -> Option<String> {
        self.user
            .as_ref()
            .map(|u| u.id.clone())
            .or_else(|| crate::jwt::decode_claims(&self.access_token).ok().and_then(|c| c.sub))
    }
}

/// A GoTrue error body. Old servers send `error` / `error_description`, newer ones `code`,
/// `error_code`, `msg` or `message`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// Error code (API version 2024-01-01 and later).
    #[serde(default)]
    pub code: Option<Value>,
    /// Error code (older servers).
    #[serde(default)]
    pub error_code: Option<String>,
    /// Message.
    #[serde(default)]
    pub msg: Option<String>,
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
    /// OAuth-style error name (`invalid_grant`).
    #[serde(default)]
    pub error: Option<String>,
    /// OAuth-style description.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl ErrorBody {
    /// Parses `body` as a GoTrue error: a JSON object with at least one error field.
    /// Anything else (an HTML page from a proxy, an empty body) is `None`.
    /// A body over the limits on an answer ([`crate::limits`]) is not read either.
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        JsonLimits::ERROR_BODY.check(body).ok()?;
        let b: ErrorBody = serde_json::from_slice(body).ok()?;
        let has_any = b.code.is_some()
            || b.error_code.is_some()
            || b.msg.is_some()
            || b.message.is_some()
            || b.error.is_some()
            || b.error_description.is_some();
        has_any.then_some(b)
    }

    /// The message to show, first of `msg`, `message`, `error_description`, `error`.
    pub fn text(&self) -> String {
        self.msg
            .clone()
            .or_else(|| self.message.clone())
            .or_else(|| self.error_description.clone())
            .or_else(|| self.error.clone())
            .unwrap_or_default()
    }

    /// `code` as a string, when it is one (some servers send a numeric `code` with the status).
    pub fn code_str(&self) -> Option<&str> {
        self.code.as_ref().and_then(Value::as_str)
    }
}

/// Why a token answer is not a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenAnswerError {
    /// The body is not JSON.
    #[error("the body is not JSON")]
    NotJson,
    /// A field the protocol requires is missing or of the wrong type.
    #[error("the answer lacks {0}")]
    Missing(&'static str),
    /// The answer, or a value in it, exceeds a limit ([`crate::limits`]).
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Parses a token answer (`POST /token`, `/verify`, `/signup`) into a session.
///
/// `Ok(None)` is an answer that is valid but carries no session (a sign-up that awaits email
/// confirmation, say), which only sign-in intake accepts. `now_ms` fills `expires_at` when the
/// server left it out, as auth-js does.
pub fn parse_token_answer(body: &[u8], now_ms: i64) -> Result<Option<Session>, TokenAnswerError> {
    JsonLimits::TOKEN_ANSWER.check(body)?;
    let text = std::str::from_utf8(body).map_err(|_| TokenAnswerError::NotJson)?;
    let object = read_object(text)?;
    // `/verify` may answer a user without a session (an email change, say).
    if !object.fields.contains_key("access_token") && !object.fields.contains_key("refresh_token") {
        return Ok(None);
    }
    session_from_object(object, Some(now_ms)).map(Some)
}

/// Builds a session from a JSON object. `expires_at` is required unless `now_ms` is given, in
/// which case a missing one is `now + expires_in`.
pub(crate) fn session_from_object(object: SessionObject<'_>, now_ms: Option<i64>) -> Result<Session, TokenAnswerError> {
    let SessionObject { fields: mut object, user } = object;
    let access_token = take_string(&mut object, "access_token")?;
    let refresh_token = take_string(&mut object, "refresh_token")?;
    // Whole seconds: an integer as it is (through f64, one past 2^53 would change), a fraction
    // (auth-js may store one) rounded toward zero, one out of range saturated.
    let number = |raw: Option<&RawValue>| {
        let text = raw?.get();
        serde_json::from_str::<i64>(text).ok().or_else(|| serde_json::from_str::<f64>(text).ok().map(|f| f as i64))
    };
    let expires_in = number(object.remove("expires_in"));
    let expires_at = match (number(object.remove("expires_at")), now_ms, expires_in) {
        (Some(at), _, _) => at,
        // Saturating: a hostile `expires_in` (1e300 reads as i64::MAX) must not overflow.
        (None, Some(now_ms), Some(secs)) => now_ms.div_euclid(1000).saturating_add(secs),
        (None, _, _) => return Err(TokenAnswerError::Missing("a numeric expires_at")),
    };
    let token_type =
        object.remove("token_type").and_then(|r| serde_json::from_str::<String>(r.get()).ok()).unwrap_or_else(bearer);
    // A stored user that is not a user object (auth-js's "user not available" placeholder, say)
    // is no reason to lose the session: it reads as "user unknown". One too large to hand on is.
    let user = user.flatten().map(Arc::new);
    if user.as_ref().is_some_and(|u| u.raw.len() > limits::MAX_USER_BYTES) {
        return Err(LimitError::TooLarge { what: "the user object", limit: limits::MAX_USER_BYTES }.into());
    }
    // The rest (provider tokens, weak_password, ...) is small: kept as JSON values.
    let extra = object
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_str(v.get()).ok().map(|v| (k.into_owned(), v)))
        .collect();
    Ok(Session { access_token, token_type, expires_in, expires_at, refresh_token, user, extra })
}

fn take_string(object: &mut BTreeMap<Cow<'_, str>, &RawValue>, key: &'static str) -> Result<String, TokenAnswerError> {
    match object.remove(key).map(|r| serde_json::from_str::<String>(r.get())) {
        Some(Ok(s)) if !s.is_empty() => {
            limits::check_token(key, &s)?;
            Ok(s)
        }
        _ => Err(TokenAnswerError::Missing(key)),
    }
}

/// Parses a `GET /user` answer.
pub fn parse_user(body: &[u8]) -> Result<User, TokenAnswerError> {
    JsonLimits::USER_ANSWER.check(body)?;
    let text = std::str::from_utf8(body).map_err(|_| TokenAnswerError::NotJson)?;
    read::read_user(text)?.ok_or(TokenAnswerError::Missing("id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answer_fills_expires_at_from_expires_in() {
        let s = parse_token_answer(br#"{"access_token":"a","refresh_token":"r","expires_in":3600}"#, 1_000_000)
            .unwrap()
            .unwrap();
        assert_eq!(s.expires_at, 1000 + 3600);
        assert_eq!(s.token_type, "bearer");
    }

    #[test]
    fn token_answer_keeps_unknown_fields() {
        let s = parse_token_answer(
            br#"{"access_token":"a","refresh_token":"r","expires_at":5,"provider_token":"p","user":{"id":"u","x":1}}"#,
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.extra.get("provider_token").and_then(Value::as_str), Some("p"));
        assert_eq!(s.user.as_ref().map(|u| u.id.as_str()), Some("u"));
        let again: Session = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn token_answer_rejects_garbage() {
        assert_eq!(parse_token_answer(b"<html>", 0), Err(TokenAnswerError::NotJson));
        assert_eq!(parse_token_answer(b"[]", 0), Err(TokenAnswerError::Missing("a JSON object")));
        assert_eq!(
            parse_token_answer(br#"{"access_token":"a","refresh_token":7,"expires_in":1}"#, 0),
            Err(TokenAnswerError::Missing("refresh_token"))
        );
        assert_eq!(
            parse_token_answer(br#"{"access_token":"a","refresh_token":"r"}"#, 0),
            Err(TokenAnswerError::Missing("a numeric expires_at"))
        );
        assert_eq!(parse_token_answer(br#"{"user":{"id":"u"}}"#, 0), Ok(None));
    }

    #[test]
    fn a_user_is_kept_as_the_server_sent_it() {
        let text = r#"{"id":"u","email":"a@b","identities":[{"provider":"google"}],"user_metadata":{"z":1,"a":2}}"#;
        let u = User::from_json_text(text).unwrap();
        assert_eq!((u.id.as_str(), u.email.as_deref(), u.json()), ("u", Some("a@b"), text));
        assert_eq!(serde_json::to_string(&u).unwrap(), text);
        assert!(User::from_json_text(r#"["u"]"#).is_none());
        assert!(User::from_json_text(r#"{"id":""}"#).is_none());
        assert!(User::from_json_text(r#"{"id":"u","email":7}"#).is_none());
    }

    #[test]
    fn user_answer_needs_an_id() {
        assert!(parse_user(br#"{"id":"u","email":"a@b"}"#).is_ok());
        assert_eq!(parse_user(br#"{"email":"a@b"}"#), Err(TokenAnswerError::Missing("id")));
        assert_eq!(parse_user(b"oops"), Err(TokenAnswerError::NotJson));
    }

    #[test]
    fn debug_never_shows_tokens() {
        let s = parse_token_answer(
            br#"{"access_token":"secret-access","refresh_token":"secret-refresh","expires_at":5}"#,
            0,
        )
        .unwrap()
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret-access") && !shown.contains("secret-refresh"), "{shown}");
    }

    #[test]
    fn an_absurd_expires_in_saturates_instead_of_overflowing() {
        // Found by the token_answer fuzz target (fuzz/regressions/token_answer).
        for (expires_in, expected) in [("1e300", i64::MAX), ("-1e300", 1_767_225_600 + i64::MIN)] {
            let body = format!(r#"{{"access_token":"a.b.c","refresh_token":"r","expires_in":{expires_in}}}"#);
            let s = parse_token_answer(body.as_bytes(), 1_767_225_600_000).unwrap().unwrap();
            assert_eq!(s.expires_at, expected);
        }
        // And the expiry it makes is stored and read back exactly, though f64 cannot hold it.
        let body = br#"{"access_token":"a.b.c","refresh_token":"r","expires_in":-9223372036854775808}"#;
        let s = parse_token_answer(body, 1_767_225_600_000).unwrap().unwrap();
        let stored = crate::storage::parse_stored_session(&crate::storage::serialize_session(&s)).unwrap();
        assert_eq!((stored.expires_at, stored.expires_in), (1_767_225_600 + i64::MIN, Some(i64::MIN)));
    }

    #[test]
    fn answers_over_a_limit_are_refused_with_the_limit() {
        use crate::limits::{LimitError, MAX_ANSWER_BYTES, MAX_DEPTH};
        let nested = |n: usize| format!(r#"{{"id":"u","m":{}{}}}"#, "[".repeat(n), "]".repeat(n));
        // The user is level 1: `m` may nest 31 levels, not 32.
        assert!(parse_user(nested(MAX_DEPTH - 1).as_bytes()).is_ok());
        let too_deep = TokenAnswerError::Limit(LimitError::TooDeep { what: "the answer", limit: MAX_DEPTH });
        assert_eq!(parse_user(nested(MAX_DEPTH).as_bytes()), Err(too_deep.clone()));
        assert_eq!(parse_user(nested(200_000).as_bytes()), Err(too_deep));
        assert!(User::from_json_text(&nested(MAX_DEPTH)).is_none());
        let session =
            |user: &str| format!(r#"{{"access_token":"a","refresh_token":"r","expires_at":5,"user":{user}}}"#);
        assert!(parse_token_answer(session(&nested(MAX_DEPTH - 1)).as_bytes(), 0).is_ok());
        assert_eq!(
            parse_token_answer(session(&nested(MAX_DEPTH)).as_bytes(), 0).unwrap_err().to_string(),
            "the answer is nested deeper than 33 levels"
        );
        let big = format!(r#"{{"id":"u","m":"{}"}}"#, "x".repeat(MAX_ANSWER_BYTES));
        assert_eq!(parse_user(big.as_bytes()).unwrap_err().to_string(), "the answer is larger than 1048576 bytes");
        assert!(ErrorBody::parse(format!(r#"{{"code":"c","m":{}{}}}"#, "[".repeat(40), "]".repeat(40)).as_bytes())
            .is_none());
    }

    #[test]
    fn error_body_needs_an_error_field() {
        assert!(ErrorBody::parse(br#"{"code":"session_not_found"}"#).is_some());
        assert!(ErrorBody::parse(br#"{"error":"invalid_grant"}"#).is_some());
        assert!(ErrorBody::parse(br#"{"hello":1}"#).is_none());
        assert!(ErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ErrorBody::parse(b"").is_none());
    }
}
