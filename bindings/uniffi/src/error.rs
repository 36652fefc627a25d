//! Errors that cross the boundary.

use gotrue_session as core;

/// An operation's failure: one variant per kind, each keeping the HTTP status and the GoTrue
/// error code of the answer behind it, when there was one. Never carries a token or a password.
///
/// In Kotlin this is the sealed class `AuthException`; in Swift the enum `AuthError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthError {
    /// There is no session, or the server said the session is gone.
    #[error("session_missing{}: {detail}", suffix(status, code))]
    SessionMissing {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer behind the error, if there was one.
        status: Option<u16>,
        /// The GoTrue error code (`session_not_found`, ...), if known.
        code: Option<String>,
        /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
        retry_after_ms: Option<u64>,
    },
    /// The auth server answered a well-formed error (wrong password, code already used, ...).
    #[error("api{}: {detail}", suffix(status, code))]
    Api {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer.
        status: Option<u16>,
        /// The GoTrue error code, if known.
        code: Option<String>,
        /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
        retry_after_ms: Option<u64>,
    },
    /// A network failure, a 5xx, a 429 or anything else worth retrying later. The session is kept.
    #[error("retryable_fetch{}: {detail}", suffix(status, code))]
    RetryableFetch {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer behind the error, if there was one.
        status: Option<u16>,
        /// The GoTrue error code, if known.
        code: Option<String>,
        /// The earliest time (Unix ms) a retry is worth making, when the server said.
        retry_after_ms: Option<u64>,
    },
    /// The server answered something that is not what the protocol promises.
    #[error("invalid_response{}: {detail}", suffix(status, code))]
    InvalidResponse {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer behind the error, if there was one.
        status: Option<u16>,
        /// The GoTrue error code, if known.
        code: Option<String>,
        /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
        retry_after_ms: Option<u64>,
    },
    /// A refresh result was dropped because the session changed while it was in flight.
    #[error("refresh_discarded{}: {detail}", suffix(status, code))]
    RefreshDiscarded {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer behind the error, if there was one.
        status: Option<u16>,
        /// The GoTrue error code, if known.
        code: Option<String>,
        /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
        retry_after_ms: Option<u64>,
    },
    /// The caller passed something unusable (a token that is not a JWT, a missing verifier),
    /// or called a client that was shut down.
    #[error("invalid_input{}: {detail}", suffix(status, code))]
    InvalidInput {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the answer behind the error, if there was one.
        status: Option<u16>,
        /// The GoTrue error code, if known.
        code: Option<String>,
        /// For retryable errors: the earliest time (Unix ms) a retry is worth making.
        retry_after_ms: Option<u64>,
    },
    /// The session store failed.
    #[error("storage{}: {detail}", suffix(status, code))]
    Storage {
        /// A human-readable explanation.
        detail: String,
        /// Always `None`.
        status: Option<u16>,
        /// Always `None`.
        code: Option<String>,
        /// Always `None`.
        retry_after_ms: Option<u64>,
    },
    /// The session is alive (the refresh endpoint just accepted it) but `/user` still answered
    /// a suspicion (`session_not_found`, `user_not_found`, `session_expired`, `bad_jwt`),
    /// typically from a read replica lagging behind. The session is kept and no SIGNED_OUT is
    /// announced. Retryable: ask again later. Also the answer, without any request, to a
    /// suspicion that arrives within the verify cooldown of the last verify refresh that succeeded.
    #[error("session_unconfirmed{}: {detail}", suffix(status, code))]
    SessionUnconfirmed {
        /// A human-readable explanation.
        detail: String,
        /// The HTTP status of the last `/user` answer (403 or 401).
        status: Option<u16>,
        /// The GoTrue error code of the last `/user` answer (`session_not_found`, ...).
        code: Option<String>,
        /// The earliest time (Unix ms) a retry is worth making, when known.
        retry_after_ms: Option<u64>,
    },
}

/// ` (HTTP 400) [code]`, as the core's errors show them; empty without either.
fn suffix(status: &Option<u16>, code: &Option<String>) -> String {
    let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    let code = code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default();
    status + &code
}

impl AuthError {
    /// An `InvalidInput` error with a message and no server details.
    pub(crate) fn invalid_input(detail: impl Into<String>) -> Self {
        AuthError::InvalidInput { detail: detail.into(), status: None, code: None, retry_after_ms: None }
    }

    /// The core's kind of this error.
    pub fn kind(&self) -> core::ErrorKind {
        match self {
            AuthError::SessionMissing { .. } => core::ErrorKind::SessionMissing,
            AuthError::Api { .. } => core::ErrorKind::Api,
            AuthError::RetryableFetch { .. } => core::ErrorKind::RetryableFetch,
            AuthError::InvalidResponse { .. } => core::ErrorKind::InvalidResponse,
            AuthError::RefreshDiscarded { .. } => core::ErrorKind::RefreshDiscarded,
            AuthError::InvalidInput { .. } => core::ErrorKind::InvalidInput,
            AuthError::Storage { .. } => core::ErrorKind::Storage,
            AuthError::SessionUnconfirmed { .. } => core::ErrorKind::SessionUnconfirmed,
        }
    }

    /// Whether the same call may succeed if made again later, unchanged (`RetryableFetch` and
    /// `SessionUnconfirmed`); the core decides which kinds are.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

impl From<core::ConfigError> for AuthError {
    // A configuration the core cannot use is the caller's input: `InvalidInput`, saying why.
    fn from(e: core::ConfigError) -> Self {
        AuthError::invalid_input(e.to_string())
    }
}

impl From<&core::AuthError> for AuthError {
    fn from(e: &core::AuthError) -> Self {
        let detail = e.message.clone();
        let (status, code, retry_after_ms) = (e.status, e.code.clone(), e.retry_after_ms);
        match e.kind {
            core::ErrorKind::SessionMissing => AuthError::SessionMissing { detail, status, code, retry_after_ms },
            core::ErrorKind::Api => AuthError::Api { detail, status, code, retry_after_ms },
            core::ErrorKind::RetryableFetch => AuthError::RetryableFetch { detail, status, code, retry_after_ms },
            core::ErrorKind::InvalidResponse => AuthError::InvalidResponse { detail, status, code, retry_after_ms },
            core::ErrorKind::RefreshDiscarded => AuthError::RefreshDiscarded { detail, status, code, retry_after_ms },
            core::ErrorKind::InvalidInput => AuthError::InvalidInput { detail, status, code, retry_after_ms },
            core::ErrorKind::Storage => AuthError::Storage { detail, status, code, retry_after_ms },
            core::ErrorKind::SessionUnconfirmed => {
                AuthError::SessionUnconfirmed { detail, status, code, retry_after_ms }
            }
        }
    }
}

impl From<core::AuthError> for AuthError {
    fn from(e: core::AuthError) -> Self {
        AuthError::from(&e)
    }
}

/// A session store that failed. "Absent" is not an error: `get` returns `None` for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StorageError {
    /// The store cannot be used now (an I/O error, a locked keychain, a full disk). The client
    /// decides nothing from an unavailable store: it never signs out because of one.
    #[error("storage unavailable: {reason}")]
    Unavailable {
        /// What went wrong (no secrets).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StorageError {
    // An exception the app's store did not declare is still "unavailable", never "absent".
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        StorageError::Unavailable { reason: format!("the store threw: {}", e.reason) }
    }
}

/// A request that failed before any answer arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// Refused, reset, timed out, DNS failure, TLS failure, ...: the client treats it as
    /// retryable and keeps the session.
    #[error("transport failed: {reason}")]
    Failed {
        /// A short description (no URL query, no headers: they can carry secrets).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Failed { reason: format!("the transport threw: {}", e.reason) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_status_code_and_retry_time() {
        let mut e = core::AuthError::new(core::ErrorKind::Api, "bad").with_status(400);
        e.code = Some("invalid_credentials".into());
        e.retry_after_ms = Some(7);
        let AuthError::Api { detail, status, code, retry_after_ms } = AuthError::from(&e) else { panic!() };
        assert_eq!(
            (detail.as_str(), status, code.as_deref(), retry_after_ms),
            ("bad", Some(400), Some("invalid_credentials"), Some(7))
        );
        assert_eq!(AuthError::from(&e).to_string(), "api (HTTP 400) [invalid_credentials]: bad");
        for kind in core::ErrorKind::ALL {
            let error = AuthError::from(core::AuthError::new(kind, "m"));
            let shown = error.to_string();
            assert!(shown.starts_with(kind.as_str()), "{shown}");
            assert_eq!(error.kind(), kind, "{shown}");
            assert_eq!(error.is_retryable(), kind.is_retryable(), "{shown}");
        }
    }

    #[test]
    fn session_unconfirmed_is_its_own_retryable_case_with_status_and_code() {
        let mut e = core::AuthError::new(core::ErrorKind::SessionUnconfirmed, "not confirmed").with_status(403);
        e.code = Some("session_not_found".into());
        let error = AuthError::from(&e);
        let AuthError::SessionUnconfirmed { status, code, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*status, code.as_deref()), (Some(403), Some("session_not_found")));
        assert!(error.is_retryable());
        assert_eq!(error.to_string(), "session_unconfirmed (HTTP 403) [session_not_found]: not confirmed");
    }

    #[test]
    fn an_unusable_config_is_invalid_input_that_says_why() {
        let e = AuthError::from(core::VerifyCooldown::from_ms(-1).unwrap_err());
        let AuthError::InvalidInput { detail, status: None, code: None, .. } = &e else { panic!("{e:?}") };
        assert!(detail.contains("verify_cooldown must be between 0"), "{detail}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn an_undeclared_foreign_exception_is_unavailable_storage() {
        let e = StorageError::from(uniffi::UnexpectedUniFFICallbackError { reason: "boom".into() });
        assert!(matches!(e, StorageError::Unavailable { .. }));
    }
}
