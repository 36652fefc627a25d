//! Traits the app implements (storage, transport, event listener), and their adapters to the
//! shells' traits.

use crate::error::{StorageError, TransportError};
use crate::types::{AuthEvent, HttpRequest, HttpResponse};
use gotrue_session as core;
use gotrue_session_io as io;
use std::sync::Arc;

/// Where the session is kept: the Keychain, `SharedPreferences`, a file, ...
///
/// Called from the client's own threads, one call at a time, in the order the core decided.
/// "Absent" (`get` returning `None`) and "unavailable" (an error) are different answers: an
/// unavailable store never makes the client sign out.
#[uniffi::export(with_foreign)]
pub trait SessionStorage: Send + Sync {
    /// The value stored under `key`, or `None` when there is none.
    fn get(&self, key: String) -> Result<Option<String>, StorageError>;
    /// Stores `value` under `key`, replacing what was there.
    fn set(&self, key: String, value: String) -> Result<(), StorageError>;
    /// Removes `key`; removing an absent key succeeds.
    fn remove(&self, key: String) -> Result<(), StorageError>;
}

/// Sends HTTP requests, for apps that want their own stack (OkHttp, URLSession, ...).
///
/// Called from a pool of blocking threads, possibly several requests at once. Return the
/// server's answer whatever its status; only a failure before any answer is a
/// [`TransportError`]. Follow no redirects and give each request a timeout.
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` (its `url` is complete) and returns the answer.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Receives auth events, one call per event, in order, from a thread of the client's own.
/// Its methods should return quickly and must not throw.
#[uniffi::export(with_foreign)]
pub trait AuthEventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: AuthEvent);
    /// Delivery ended: the subscription was cancelled or the client shut down. Called once,
    /// after the last event.
    fn on_end(&self);
}

/// The app's store as the shells' [`io::SessionStorage`] (no cross-process lock).
pub(crate) struct StorageAdapter(pub(crate) Arc<dyn SessionStorage>);

fn unavailable(e: StorageError) -> io::StorageError {
    match e {
        StorageError::Unavailable { reason } => io::StorageError::Unavailable(reason),
    }
}

impl io::SessionStorage for StorageAdapter {
    fn get(&self, key: &str) -> Result<Option<String>, io::StorageError> {
        self.0.get(key.to_owned()).map_err(unavailable)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), io::StorageError> {
        self.0.set(key.to_owned(), value.to_owned()).map_err(unavailable)
    }
    fn remove(&self, key: &str) -> Result<(), io::StorageError> {
        self.0.remove(key.to_owned()).map_err(unavailable)
    }
}

/// The app's transport as the shells' [`io::Transport`].
pub(crate) struct TransportAdapter(pub(crate) Arc<dyn HttpTransport>);

impl io::Transport for TransportAdapter {
    fn send(&self, base_url: &str, request: &core::HttpRequest) -> Result<core::HttpResponse, core::TransportFailure> {
        match self.0.send(HttpRequest::from_core(request, base_url)) {
            Ok(resp) => Ok(resp.into()),
            Err(TransportError::Failed { reason }) => Err(core::TransportFailure::new(reason)),
        }
    }
}
