//! Routing the machine's outputs, the part every shell shares: storage is carried out at once
//! (in output order), completions are kept for their callers, events go to subscribers, and
//! requests are handed back for the shell to send however it sends things.

use crate::exec::StorageExecutor;
use crate::storage::SessionStorage;
use gotrue_session::{AuthError, AuthEvent, Diagnostic, EventKind, HttpRequest, OpId, OpValue, Output, SessionMachine};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// How many recent diagnostics a shell keeps for `diagnostics()`.
const KEPT_DIAGNOSTICS: usize = 64;

/// Somewhere events go. `false` means the subscriber is gone and can be dropped.
pub trait EventSink: Send {
    /// Delivers one event.
    fn deliver(&mut self, event: AuthEvent) -> bool;
}

impl EventSink for std::sync::mpsc::Sender<AuthEvent> {
    fn deliver(&mut self, event: AuthEvent) -> bool {
        self.send(event).is_ok()
    }
}

/// Output routing shared by the shells.
pub struct Pump {
    exec: StorageExecutor,
    results: HashMap<OpId, Result<OpValue, AuthError>>,
    sinks: Vec<Box<dyn EventSink>>,
    initialized: bool,
    diagnostics: VecDeque<Diagnostic>,
}

impl Pump {
    /// A pump over `storage`.
    pub fn new(storage: Arc<dyn SessionStorage>) -> Self {
        Pump {
            exec: StorageExecutor::new(storage),
            results: HashMap::new(),
            sinks: Vec::new(),
            initialized: false,
            diagnostics: VecDeque::new(),
        }
    }

    /// Drains every output of `machine`: storage is carried out and fed back at once, events
    /// are delivered, completions kept. Returns the requests to send.
    pub fn drain(&mut self, machine: &mut SessionMachine, now: u64) -> Vec<HttpRequest> {
        let mut requests = Vec::new();
        while let Some(out) = machine.poll_output() {
            match out {
                Output::Http(req) => requests.push(req),
                Output::Event(e) => {
                    self.initialized |= e.kind == EventKind::InitialSession;
                    self.sinks.retain_mut(|s| s.deliver(e.clone()));
                }
                Output::Complete { op, result } => {
                    self.results.insert(op, result);
                }
                Output::Diagnostic(d) => {
                    if self.diagnostics.len() == KEPT_DIAGNOSTICS {
                        self.diagnostics.pop_front();
                    }
                    self.diagnostics.push_back(d);
                }
                storage => self.exec.execute(&storage).apply(machine, now),
            }
        }
        requests
    }

    /// The result of `op`, once it completed (taken: each result is handed out once).
    pub fn take_result(&mut self, op: OpId) -> Option<Result<OpValue, AuthError>> {
        self.results.remove(&op)
    }

    /// Adds a subscriber. Once INITIAL_SESSION has been emitted, a late subscriber gets its own
    /// INITIAL_SESSION with the current session first, as auth-js's listeners do.
    pub fn subscribe(&mut self, mut sink: Box<dyn EventSink>, machine: &SessionMachine) {
        if self.initialized {
            let e = AuthEvent {
                kind: EventKind::InitialSession,
                session: machine.session().cloned(),
                expired: false,
                reason: None,
            };
            if !sink.deliver(e) {
                return;
            }
        }
        self.sinks.push(sink);
    }

    /// The most recent diagnostics, oldest first.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics.iter().cloned().collect()
    }

    /// Releases storage locks (on shutdown).
    pub fn release_locks(&mut self) {
        self.exec.release_all();
    }
}

/// The session an operation yielded (`None` for operations that yield none).
pub fn session_of(value: OpValue) -> Option<gotrue_session::Session> {
    match value {
        OpValue::Session(s) => s,
        _ => None,
    }
}

/// The user an operation yielded.
pub fn user_of(value: OpValue) -> Result<gotrue_session::User, AuthError> {
    match value {
        OpValue::User(u) => Ok(u),
        _ => Err(unexpected_value()),
    }
}

/// The PKCE challenge an operation yielded.
pub fn challenge_of(value: OpValue) -> Result<String, AuthError> {
    match value {
        OpValue::PkceChallenge { challenge, .. } => Ok(challenge),
        _ => Err(unexpected_value()),
    }
}

fn unexpected_value() -> AuthError {
    AuthError::new(
        gotrue_session::ErrorKind::InvalidResponse,
        "the core answered an operation with an unexpected value",
    )
}

/// What a call on a client that was shut down gets.
pub fn shut_down() -> AuthError {
    AuthError::new(gotrue_session::ErrorKind::InvalidInput, "the client was shut down")
}

/// A jitter seed from the operating system's entropy.
pub fn jitter_seed() -> u64 {
    crate::entropy(8).iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}
