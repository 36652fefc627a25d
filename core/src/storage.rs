//! The stored form of a session: auth-js's keys and JSON, read strictly.

use crate::limits::{JsonLimits, LimitError, MAX_TOKEN_BYTES};
use crate::wire::{read_object, session_from_object, Session, TokenAnswerError, User};
use serde_json::Value;

/// The storage keys one machine owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKeys {
    /// The session itself: `sb-<project-ref>-auth-token` by default.
    pub session: String,
    /// The PKCE verifier of a sign-in in progress: `<key>-code-verifier`.
    pub code_verifier: String,
    /// The user, when an app stores it apart: `<key>-user`.
    pub user: String,
}

impl StorageKeys {
    /// The keys derived from the session key.
    pub fn new(session_key: &str) -> Self {
        StorageKeys {
            session: session_key.to_owned(),
            code_verifier: format!("{session_key}-code-verifier"),
            user: format!("{session_key}-user"),
        }
    }
}

/// Why a stored value is no session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStoredValue {
    /// Not JSON at all (a truncated write, another app's data).
    #[error("the stored value is not JSON")]
    NotJson,
    /// JSON, but not an object.
    #[error("the stored value is not a JSON object")]
    NotObject,
    /// A required field is missing or has the wrong type.
    #[error("the stored value lacks {0}")]
    Missing(&'static str),
    /// The value, or a value in it, exceeds a limit ([`crate::limits`]).
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Parses a stored session strictly: a JSON object with string `access_token` and
/// `refresh_token` and a numeric `expires_at`, within the limits of [`crate::limits`]. Anything
/// else is no session.
pub fn parse_stored_session(raw: &str) -> Result<Session, InvalidStoredValue> {
    JsonLimits::STORED_SESSION.check(raw.as_bytes())?;
    let object = read_object(raw).map_err(|e| match e {
        TokenAnswerError::Missing(_) => InvalidStoredValue::NotObject,
        other => stored_error(other),
    })?;
    session_from_object(object, None).map_err(stored_error)
}

fn stored_error(e: TokenAnswerError) -> InvalidStoredValue {
    match e {
        TokenAnswerError::NotJson => InvalidStoredValue::NotJson,
        TokenAnswerError::Missing(what) => InvalidStoredValue::Missing(what),
        TokenAnswerError::Limit(limit) => InvalidStoredValue::Limit(limit),
    }
}

/// The JSON auth-js writes for a session: the same text as `serde_json::to_string(session)`,
/// with the user's text (checked when it was read) spliced in rather than checked again.
pub fn serialize_session(session: &Session) -> String {
    /// The fields before the user, in `Session`'s order.
    #[derive(serde::Serialize)]
    struct Head<'a> {
        access_token: &'a str,
        token_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_in: Option<i64>,
        expires_at: i64,
        refresh_token: &'a str,
    }
    let head = Head {
        access_token: &session.access_token,
        token_type: &session.token_type,
        expires_in: session.expires_in,
        expires_at: session.expires_at,
        refresh_token: &session.refresh_token,
    };
    let user = session.user.as_deref().map(User::json);
    let extra = (!session.extra.is_empty()).then(|| serde_json::to_string(&session.extra).unwrap_or_default());
    // One allocation: the tokens (and a little for the keys) plus the user and the rest.
    let size = 128
        + session.access_token.len()
        + session.refresh_token.len()
        + session.token_type.len()
        + user.map_or(0, str::len)
        + extra.as_ref().map_or(0, String::len);
    let mut out = Vec::with_capacity(size);
    // Writing strings, numbers and JSON values to memory cannot fail.
    let _ = serde_json::to_writer(&mut out, &head);
    out.pop(); // the closing brace
    if let Some(user) = user {
        out.extend_from_slice(b",\"user\":");
        out.extend_from_slice(user.as_bytes());
    }
    if let Some(extra) = &extra {
        out.push(b',');
        out.extend_from_slice(extra.as_bytes().get(1..extra.len() - 1).unwrap_or_default());
    }
    out.push(b'}');
    // Every piece is text, so the whole is.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A stored PKCE verifier: auth-js writes the JSON string `"verifier"`, or for a password
/// recovery `"verifier/recovery"` (older releases wrote `"verifier/PASSWORD_RECOVERY"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVerifier {
    /// The verifier to send with the code.
    pub verifier: String,
    /// Whether the flow was a password recovery.
    pub recovery: bool,
}

/// Reads a stored PKCE verifier; `None` for an empty or unreadable value, or one longer than
/// [`MAX_TOKEN_BYTES`].
pub fn parse_stored_verifier(raw: &str) -> Option<StoredVerifier> {
    if raw.len() > MAX_TOKEN_BYTES {
        return None;
    }
    // auth-js stores it JSON-encoded; a bare string (written by other SDKs) is accepted too.
    let text = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned());
    let (verifier, kind) = match text.split_once('/') {
        Some((v, k)) => (v, Some(k)),
        None => (text.as_str(), None),
    };
    let recovery = matches!(kind, Some("recovery" | "PASSWORD_RECOVERY"));
    (!verifier.is_empty()).then(|| StoredVerifier { verifier: verifier.to_owned(), recovery })
}

/// The stored form of a PKCE verifier.
pub fn serialize_verifier(verifier: &str, recovery: bool) -> String {
    let text = if recovery { format!("{verifier}/recovery") } else { verifier.to_owned() };
    Value::String(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHJS: &str = r#"{"access_token":"a.b.c","token_type":"bearer","expires_in":3600,"expires_at":1767229200,"refresh_token":"rt-a","user":{"id":"user-1","aud":"authenticated","email":"ada@example.com","app_metadata":{"provider":"email"},"user_metadata":{}},"provider_token":"pt"}"#;

    #[test]
    fn reads_what_authjs_writes_and_writes_it_back() {
        let s = parse_stored_session(AUTHJS).unwrap();
        assert_eq!(s.refresh_token, "rt-a");
        assert_eq!(s.expires_at, 1767229200);
        let back: Value = serde_json::from_str(&serialize_session(&s)).unwrap();
        let orig: Value = serde_json::from_str(AUTHJS).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn accepts_float_expiry_and_placeholder_user() {
        let s = parse_stored_session(
            r#"{"access_token":"a","refresh_token":"r","expires_at":1767229200.5,"user":{"__isUserNotAvailableProxy":true}}"#,
        )
        .unwrap();
        assert_eq!(s.expires_at, 1767229200);
        assert!(s.user.is_none());
    }

    #[test]
    fn rejects_invalid_values_with_a_reason() {
        assert_eq!(parse_stored_session("{\"access_token\":"), Err(InvalidStoredValue::NotJson));
        assert_eq!(parse_stored_session("null"), Err(InvalidStoredValue::NotObject));
        assert_eq!(parse_stored_session("\"a string\""), Err(InvalidStoredValue::NotObject));
        assert_eq!(
            parse_stored_session(r#"{"refresh_token":"r","expires_at":1}"#),
            Err(InvalidStoredValue::Missing("access_token"))
        );
        assert_eq!(
            parse_stored_session(r#"{"access_token":"a","refresh_token":null,"expires_at":1}"#),
            Err(InvalidStoredValue::Missing("refresh_token"))
        );
        assert_eq!(
            parse_stored_session(r#"{"access_token":"a","refresh_token":"r","expires_at":"soon"}"#),
            Err(InvalidStoredValue::Missing("a numeric expires_at"))
        );
        assert_eq!(
            parse_stored_session(r#"{"access_token":"a","refresh_token":"r","expires_in":3600}"#),
            Err(InvalidStoredValue::Missing("a numeric expires_at"))
        );
    }

    #[test]
    fn stored_values_over_a_limit_are_invalid_with_the_limit() {
        use crate::limits::{MAX_STORED_BYTES, MAX_TOKEN_BYTES, MAX_USER_BYTES};
        let with_user =
            |user: &str| format!(r#"{{"access_token":"a","refresh_token":"r","expires_at":5,"user":{user}}}"#);
        let deep = with_user(&format!(r#"{{"id":"u","m":{}{}}}"#, "[".repeat(200_000), "]".repeat(200_000)));
        assert_eq!(
            parse_stored_session(&deep).unwrap_err().to_string(),
            "the stored value is nested deeper than 33 levels"
        );
        let big_user = with_user(&format!(r#"{{"id":"u","m":"{}"}}"#, "x".repeat(MAX_USER_BYTES)));
        assert_eq!(
            parse_stored_session(&big_user).unwrap_err().to_string(),
            "the user object is larger than 1048576 bytes"
        );
        let huge = with_user(&format!(r#"{{"id":"u"}},"pad":"{}""#, "x".repeat(MAX_STORED_BYTES)));
        assert_eq!(
            parse_stored_session(&huge).unwrap_err().to_string(),
            "the stored value is larger than 8388608 bytes"
        );
        let long_token =
            format!(r#"{{"access_token":"{}","refresh_token":"r","expires_at":5}}"#, "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            parse_stored_session(&long_token).unwrap_err().to_string(),
            "access_token is larger than 16384 bytes"
        );
        assert_eq!(parse_stored_verifier(&serialize_verifier(&"v".repeat(MAX_TOKEN_BYTES), false)), None);
    }

    #[test]
    fn numbers_in_unknown_fields_survive_a_round_trip_exactly() {
        // Found by the stored_session fuzz target (fuzz/regressions/stored_session): without
        // correctly rounded float parsing, an integer beyond i64 moved by a unit in the last
        // place each time the session was written and read back.
        let raw = r#"{"access_token":"a.b.c","refresh_token":"r","expires_at":-1e300,"x":-9223372036875745809,"y":[0.1,1E15,-0.0,1e-400]}"#;
        let s = parse_stored_session(raw).unwrap();
        let again = parse_stored_session(&serialize_session(&s)).unwrap();
        assert_eq!(again, s);
        assert_eq!(serialize_session(&again), serialize_session(&s));
    }

    #[test]
    fn verifier_round_trip() {
        assert_eq!(
            parse_stored_verifier(&serialize_verifier("abc", true)),
            Some(StoredVerifier { verifier: "abc".into(), recovery: true })
        );
        assert_eq!(parse_stored_verifier("\"abc\""), Some(StoredVerifier { verifier: "abc".into(), recovery: false }));
        assert_eq!(parse_stored_verifier("\"\""), None);
        assert!(parse_stored_verifier("\"abc/PASSWORD_RECOVERY\"").is_some_and(|v| v.recovery));
        assert_eq!(serialize_verifier("abc", true), "\"abc/recovery\"");
    }
}
