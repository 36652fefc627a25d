//! Error answers, shaped the way GoTrue and the Supabase gateway shape them, and the error type
//! of the control methods.

use serde_json::{json, Value};

use crate::http::Response;

/// The API version GoTrue answers errors in when the client asks for it.
pub(crate) const API_VERSION: &str = "2024-01-01";

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// GoTrue's `HTTPError`: a status, an error code and a message.
    Http { status: u16, code: String, msg: String },
    /// GoTrue's `OAuthError` (always 400): `{"error": ..., "error_description": ...}`.
    OAuth { error: String, description: String },
    /// An answer from the API gateway in front of GoTrue (no API key, a bad one).
    Gateway { status: u16, body: Value },
}

impl ApiError {
    pub(crate) fn http(status: u16, code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::Http { status, code: code.to_owned(), msg: msg.into() }
    }

    pub(crate) fn bad_request(code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::http(400, code, msg)
    }

    pub(crate) fn forbidden(code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::http(403, code, msg)
    }

    pub(crate) fn unprocessable(code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::http(422, code, msg)
    }

    pub(crate) fn oauth(error: &str, description: &str) -> ApiError {
        ApiError::OAuth { error: error.to_owned(), description: description.to_owned() }
    }

    pub(crate) fn internal(msg: &str) -> ApiError {
        ApiError::http(500, "unexpected_failure", msg)
    }

    /// The error code, if it has one.
    #[cfg(test)]
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            ApiError::Http { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The answer. With `versioned` (the request carried `X-Supabase-Api-Version` of 2024-01-01
    /// or later) GoTrue echoes the version and answers `{"code","message"}`; without it, the
    /// older `{"code": <status>, "error_code", "msg"}`. Both carry `x-sb-error-code`.
    pub(crate) fn to_response(&self, versioned: bool) -> Response {
        let mut r = match self {
            ApiError::Http { status, code, msg } => {
                let body = if versioned {
                    json!({ "code": code, "message": msg })
                } else {
                    json!({ "code": status, "error_code": code, "msg": msg })
                };
                Response::json(*status, &body).header("x-sb-error-code", code)
            }
            ApiError::OAuth { error, description } => {
                Response::json(400, &json!({ "error": error, "error_description": description }))
            }
            ApiError::Gateway { status, body } => return Response::json(*status, body),
        };
        if versioned {
            r.set_header("X-Supabase-Api-Version", API_VERSION);
        }
        r
    }
}

/// Whether a request's `X-Supabase-Api-Version` selects the 2024-01-01 error format (a valid
/// `YYYY-MM-DD` date on or after 2024-01-01; anything else is the initial version).
pub(crate) fn is_versioned(header: Option<&str>) -> bool {
    let Some(v) = header.map(str::trim) else { return false };
    let b = v.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return false;
    }
    let (month, day): (u32, u32) = (v[5..7].parse().unwrap_or(0), v[8..10].parse().unwrap_or(0));
    (1..=12).contains(&month) && (1..=31).contains(&day) && v >= API_VERSION
}

/// Why a control method (or its admin route) refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No user has this email address (or id).
    #[error("no user {0}")]
    UnknownUser(String),
    /// No session has this id.
    #[error("no session {0}")]
    UnknownSession(String),
    /// A user with this email address already exists.
    #[error("a user with email {0} already exists")]
    UserExists(String),
    /// An argument is not acceptable.
    #[error("invalid input: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation() {
        assert!(is_versioned(Some("2024-01-01")));
        assert!(is_versioned(Some("2025-06-30")));
        assert!(!is_versioned(Some("2023-12-31")));
        assert!(!is_versioned(Some("garbage!!!")));
        assert!(!is_versioned(Some("2024-13-01")));
        assert!(!is_versioned(None));
    }

    #[test]
    fn error_bodies_follow_the_version() {
        let e = ApiError::forbidden("session_not_found", "gone");
        let v = e.to_response(true);
        assert_eq!(v.status, 403);
        let body: Value = serde_json::from_slice(&v.body).unwrap();
        assert_eq!(body, json!({"code": "session_not_found", "message": "gone"}));
        assert!(v.headers.contains(&("X-Supabase-Api-Version".into(), "2024-01-01".into())));
        assert!(v.headers.contains(&("x-sb-error-code".into(), "session_not_found".into())));
        let old: Value = serde_json::from_slice(&e.to_response(false).body).unwrap();
        assert_eq!(old, json!({"code": 403, "error_code": "session_not_found", "msg": "gone"}));
    }
}
