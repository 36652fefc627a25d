//! What the fuzz targets share: reading an HTTP answer out of fuzz input, and the checks every
//! session the core accepts must pass.

use gotrue_session::limits::{JsonLimits, MAX_STORED_BYTES, MAX_TOKEN_BYTES};
use gotrue_session::storage::{parse_stored_session, serialize_session};
use gotrue_session::Session;

/// An answer written as text: the status on the first line, then `name: value` header lines, an
/// empty line, and the body (the seeds are written this way, so libFuzzer mutates real answers).
pub fn http_answer(data: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], data[at + 2..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let status = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(200);
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect();
    (status, headers, body)
}

/// What holds for every session the core accepts, from an answer or from storage: its tokens
/// and user are within the limits, and its stored form reads back as the same session.
pub fn check_accepted(session: &Session) {
    assert!(session.access_token.len() <= MAX_TOKEN_BYTES, "an access token over the limit was accepted");
    assert!(session.refresh_token.len() <= MAX_TOKEN_BYTES, "a refresh token over the limit was accepted");
    if let Some(user) = &session.user {
        JsonLimits::USER.check(user.json().as_bytes()).expect("a user over the limits was accepted");
    }
    let stored = serialize_session(session);
    assert!(stored.len() <= MAX_STORED_BYTES, "the stored form ({} bytes) is over the stored limit", stored.len());
    let again = parse_stored_session(&stored).expect("the stored form of an accepted session reads back");
    assert!(&again == session, "the stored form reads back as another session");
}

/// The storage key the drivers use.
pub const KEY: &str = "sb-fuzz-auth-token";

/// A machine with an in-memory store that answers storage at once, and a record of what it said.
pub struct Driver {
    /// The machine.
    pub machine: gotrue_session::SessionMachine,
    /// The store.
    pub store: std::collections::HashMap<String, String>,
    /// The clock handed to the machine.
    pub now: u64,
    /// Every request sent, in order.
    pub requests: Vec<gotrue_session::HttpRequest>,
    /// Every event, in order.
    pub events: Vec<gotrue_session::AuthEvent>,
    /// Every completion, in order.
    pub completions: Vec<(gotrue_session::OpId, Result<gotrue_session::OpValue, gotrue_session::AuthError>)>,
}

impl Driver {
    /// A machine over `store`, auto refresh off, with no jitter.
    pub fn new(store: std::collections::HashMap<String, String>) -> Driver {
        let mut cfg = gotrue_session::Config::new(KEY, "anon");
        cfg.auto_refresh = false;
        cfg.jitter = false;
        Driver {
            machine: gotrue_session::SessionMachine::new(cfg),
            store,
            now: 1_767_225_600_000,
            requests: Vec::new(),
            events: Vec::new(),
            completions: Vec::new(),
        }
    }

    /// Carries out every output; a machine that never stops producing them is a bug.
    pub fn drain(&mut self) {
        use gotrue_session::Output;
        for _ in 0..100_000 {
            let Some(out) = self.machine.poll_output() else { return };
            match out {
                Output::StorageRead { id, key, .. } => {
                    let value = self.store.get(&key).cloned();
                    self.machine.handle_storage_read(self.now, id, Ok(value));
                }
                Output::StorageWrite { id, key, value } => {
                    self.store.insert(key, value);
                    self.machine.handle_storage_done(self.now, id, Ok(()));
                }
                Output::StorageRemove { id, key } => {
                    self.store.remove(&key);
                    self.machine.handle_storage_done(self.now, id, Ok(()));
                }
                Output::Http(r) => self.requests.push(r),
                Output::Event(e) => self.events.push(e),
                Output::Complete { op, result } => self.completions.push((op, result)),
                Output::StorageUnlock { .. } | Output::Diagnostic(_) => {}
            }
        }
        panic!("the machine produced 100 000 outputs for one input");
    }

    /// Runs a command and carries out its outputs.
    pub fn command(&mut self, cmd: gotrue_session::Command) -> gotrue_session::OpId {
        let op = self.machine.handle_command(self.now, cmd);
        self.drain();
        op
    }

    /// Answers the last request sent.
    pub fn answer_last(&mut self, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) {
        let id = self.requests.last().expect("a request to answer").id;
        self.machine.handle_response(self.now, id, gotrue_session::HttpResponse { status, headers, body });
        self.drain();
    }

    /// The results `op` completed with (exactly one, unless something is wrong).
    pub fn results_of(
        &self,
        op: gotrue_session::OpId,
    ) -> Vec<&Result<gotrue_session::OpValue, gotrue_session::AuthError>> {
        self.completions.iter().filter(|(done, _)| *done == op).map(|(_, r)| r).collect()
    }
}
