//! Errors returned to the app: one kind, plus the server's status and code whenever there was one.

use std::fmt;

/// What kind of failure an operation ended with. The names are the trace's `error.kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// There is no session, or the server said the session is gone.
    SessionMissing,
    /// The auth server answered a well-formed error (status and code kept).
    Api,
    /// A network failure, a 5xx, a 429 or anything else worth retrying later.
    RetryableFetch,
    /// The server answered something that is not what the protocol promises.
    InvalidResponse,
    /// A refresh result was dropped because the session changed while it was in flight.
    RefreshDiscarded,
    /// The caller passed something unusable (a token that is not a JWT, a missing verifier).
    InvalidInput,
    /// The session store failed.
    Storage,
    /// The session is alive (the refresh endpoint just accepted it) but `/user` still answered
    /// a suspicion, typically from a replica that lags behind: the session is kept, nothing is
    /// announced. Retryable: ask again later (POLICY.md section 5).
    SessionUnconfirmed,
}

impl ErrorKind {
    /// The kind's name as the trace prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::SessionMissing => "session_missing",
            ErrorKind::Api => "api",
            ErrorKind::RetryableFetch => "retryable_fetch",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::RefreshDiscarded => "refresh_discarded",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Storage => "storage",
            ErrorKind::SessionUnconfirmed => "session_unconfirmed",
        }
    }

    /// Every kind, in declaration order (for bindings and tests that must cover them all).
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::SessionMissing,
        ErrorKind::Api,
        ErrorKind::RetryableFetch,
        ErrorKind::InvalidResponse,
        ErrorKind::RefreshDiscarded,
        ErrorKind::InvalidInput,
        ErrorKind::Storage,
        ErrorKind::SessionUnconfirmed,
    ];

    /// Whether a call that failed with this kind may succeed if made again later, unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::RetryableFetch | ErrorKind::SessionUnconfirmed)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation's failure. It never carries a token or a password in its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(), code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default())]
pub struct AuthError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The HTTP status of the answer behind the error, if there was one.
    pub status: Option<u16>,
    /// The GoTrue error code (`session_not_found`, `over_request_rate_limit`, ...), if known.
    pub code: Option<String>,
    /// A human-readable explanation, free of secrets.
    pub message: String,
    /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
    pub retry_after_ms: Option<u64>,
}

impl AuthError {
    /// An error of `kind` with a message and no server details.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AuthError { kind, status: None, code: None, message: message.into(), retry_after_ms: None }
    }

    /// No session is stored.
    pub fn session_missing() -> Self {
        Self::new(ErrorKind::SessionMissing, "no session")
    }

    /// The same error with another kind, keeping status, code and message.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether the app may retry the same call later with a chance of success.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl AuthError {
    /// The same error with the HTTP status of the answer behind it.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}
