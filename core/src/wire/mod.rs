//! Wire types: the session as GoTrue sends it and auth-js stores it, the user, and error bodies.

mod read;

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
    /// A user from its JSON text. `None` when it is not JSON, not an object with a non-empty
    /// string `id`, or a field the core reads has the wrong type (or is given twice).
    pub fn from_json_text(text: &str) -> Option<User> {
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
        let object = read_object(raw.get()).map_err(serde::de::Error::custom)?;
        session_from_object(object, None).map_err(serde::de::Error::custom)
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
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
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
}

/// Parses a token answer (`POST /token`, `/verify`, `/signup`) into a session.
///
/// `Ok(None)` is an answer that is valid but carries no session (a sign-up that awaits email
/// confirmation, say), which only sign-in intake accepts. `now_ms` fills `expires_at` when the
/// server left it out, as auth-js does.
pub fn parse_token_answer(body: &[u8], now_ms: i64) -> Result<Option<Session>, TokenAnswerError> {
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
    let number = |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str::<f64>(r.get()).ok());
    let expires_in = number(object.remove("expires_in")).map(|f| f as i64);
    let expires_at = match (number(object.remove("expires_at")), now_ms, expires_in) {
        (Some(at), _, _) => at as i64,
        (None, Some(now_ms), Some(secs)) => now_ms.div_euclid(1000) + secs,
        (None, _, _) => return Err(TokenAnswerError::Missing("a numeric expires_at")),
    };
    let token_type =
        object.remove("token_type").and_then(|r| serde_json::from_str::<String>(r.get()).ok()).unwrap_or_else(bearer);
    // A stored user that is not a user object (auth-js's "user not available" placeholder, say)
    // is no reason to lose the session: it reads as "user unknown".
    let user = user.flatten().map(Arc::new);
    // The rest (provider tokens, weak_password, ...) is small: kept as JSON values.
    let extra = object
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_str(v.get()).ok().map(|v| (k.into_owned(), v)))
        .collect();
    Ok(Session { access_token, token_type, expires_in, expires_at, refresh_token, user, extra })
}

fn take_string(object: &mut BTreeMap<Cow<'_, str>, &RawValue>, key: &'static str) -> Result<String, TokenAnswerError> {
    match object.remove(key).map(|r| serde_json::from_str::<String>(r.get())) {
        Some(Ok(s)) if !s.is_empty() => Ok(s),
        _ => Err(TokenAnswerError::Missing(key)),
    }
}

/// Parses a `GET /user` answer.
pub fn parse_user(body: &[u8]) -> Result<User, TokenAnswerError> {
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
    fn error_body_needs_an_error_field() {
        assert!(ErrorBody::parse(br#"{"code":"session_not_found"}"#).is_some());
        assert!(ErrorBody::parse(br#"{"error":"invalid_grant"}"#).is_some());
        assert!(ErrorBody::parse(br#"{"hello":1}"#).is_none());
        assert!(ErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ErrorBody::parse(b"").is_none());
    }
}
