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
        let kinds = [
            core::ErrorKind::SessionMissing,
            core::ErrorKind::Api,
            core::ErrorKind::RetryableFetch,
            core::ErrorKind::InvalidResponse,
            core::ErrorKind::RefreshDiscarded,
            core::ErrorKind::InvalidInput,
            core::ErrorKind::Storage,
        ];
        assert_eq!(AuthError::from(&e).to_string(), "api (HTTP 400) [invalid_credentials]: bad");
        for kind in kinds {
            let shown = AuthError::from(core::AuthError::new(kind, "m")).to_string();
            assert!(shown.starts_with(kind.as_str()), "{shown}");
        }
    }

    #[test]
    fn an_undeclared_foreign_exception_is_unavailable_storage() {
        let e = StorageError::from(uniffi::UnexpectedUniFFICallbackError { reason: "boom".into() });
        assert!(matches!(e, StorageError::Unavailable { .. }));
    }
}
