//! A readable timeline for the demo: every request and answer, storage write and event, with
//! the time since the start. Tokens are shown as short prefixes only.

use gotrue_session::wire::redact;
use gotrue_session::{AuthEvent, HttpRequest, HttpResponse, TransportFailure};
use gotrue_session_io::{SessionStorage, StorageError, Transport};
use std::sync::Arc;
use std::time::Instant;

/// Prints timestamped lines.
pub struct Timeline {
    start: Instant,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Timeline { start: Instant::now() })
    }

    /// Prints one line.
    pub fn line(&self, what: &str) {
        println!("  {:>8.3}s  {what}", self.start.elapsed().as_secs_f64());
    }

    /// Prints an event.
    pub fn event(&self, e: &AuthEvent) {
        let session = match &e.session {
            Some(s) => format!(" (session {})", redact(&s.access_token)),
            None if e.kind == gotrue_session::EventKind::InitialSession => " (no session)".to_owned(),
            None => String::new(),
        };
        let reason = e.reason.map(|r| format!(" because {}", r.as_str())).unwrap_or_default();
        let expired = if e.expired { " [expired]" } else { "" };
        self.line(&format!("event {}{session}{expired}{reason}", e.kind.as_str()));
    }
}

/// A transport that reports what it sends and receives.
pub struct LoggedTransport {
    pub inner: Arc<dyn Transport>,
    pub timeline: Arc<Timeline>,
}

impl Transport for LoggedTransport {
    fn send(&self, base_url: &str, req: &HttpRequest) -> Result<HttpResponse, TransportFailure> {
        let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let label = if query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, query.join("&")) };
        self.timeline.line(&format!("-> {} {label}", req.method.as_str()));
        let answer = self.inner.send(base_url, req);
        match &answer {
            Ok(resp) => {
                let code = serde_json::from_slice::<serde_json::Value>(&resp.body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(|c| c.as_str().map(str::to_owned)));
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                self.timeline.line(&format!("<- {} {label}: HTTP {}{code}", req.method.as_str(), resp.status));
            }
            Err(f) => self.timeline.line(&format!("<- {} {label}: {}", req.method.as_str(), f.message)),
        }
        answer
    }
}

/// A store that reports its writes and removals.
pub struct LoggedStorage {
    pub inner: Arc<dyn SessionStorage>,
    pub timeline: Arc<Timeline>,
}

impl SessionStorage for LoggedStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let token = serde_json::from_str::<serde_json::Value>(value)
            .ok()
            .and_then(|v| v.get("access_token").and_then(|t| t.as_str().map(redact)));
        let what = token.map(|t| format!(" (session {t})")).unwrap_or_default();
        self.timeline.line(&format!("storage write {key}{what}"));
        self.inner.set(key, value)
    }
    fn remove(&self, key: &str) -> Result<(), StorageError> {
        let existed = self.inner.get(key).ok().flatten().is_some();
        if existed {
            self.timeline.line(&format!("storage remove {key}"));
        }
        self.inner.remove(key)
    }
    fn lock(&self, key: &str) -> Result<(), StorageError> {
        self.inner.lock(key)
    }
    fn unlock(&self, key: &str) {
        self.inner.unlock(key)
    }
}

/// Prints events the moment the client emits them.
pub struct EventPrinter(pub Arc<Timeline>);

impl gotrue_session_io::EventSink for EventPrinter {
    fn deliver(&mut self, event: AuthEvent) -> bool {
        self.0.event(&event);
        true
    }
}
