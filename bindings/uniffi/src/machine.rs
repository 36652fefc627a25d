//! The raw sans-IO session machine, for apps that drive I/O themselves.
//!
//! Each input is one call that returns everything the machine wants done next, as a
//! [`MachineStep`]: carry out its outputs in order (answering storage outputs at once), and
//! call `handle_timeout` at `next_timeout_ms`. One crossing per step.

use crate::error::AuthError;
use crate::types::{AuthEvent, Diagnostic, HttpRequest, HttpResponse, Lifecycle, Reachability, RetryPolicy};
use crate::types::{OtpRecipient, Session, SessionNotFoundPolicy, SignOutScope, User};
use gotrue_session as core;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a machine behaves. The defaults are auth-js's, as in the core's `Config::new`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MachineConfig {
    /// The storage key holding the session (`sb-<project-ref>-auth-token`).
    pub storage_key: String,
    /// The project's anon (publishable) key, sent as `apikey`.
    pub api_key: String,
    /// The auth URL (`https://<ref>.supabase.co/auth/v1`); it only fills `HttpRequest.url`.
    pub auth_url: String,
    /// How long before expiry a session counts as due, in ms.
    #[uniffi(default = 90000)]
    pub margin_ms: u64,
    /// Refresh automatically before expiry.
    #[uniffi(default = true)]
    pub auto_refresh: bool,
    /// Keep the session in storage (off: no storage outputs for the session).
    #[uniffi(default = true)]
    pub persist_session: bool,
    /// Spread retries with full jitter (seeded with `seed_jitter`).
    #[uniffi(default = true)]
    pub jitter: bool,
    /// What a `/user` suspicion leads to; `None` means `Verify`.
    #[uniffi(default = None)]
    pub session_not_found: Option<SessionNotFoundPolicy>,
    /// Sent as `X-Client-Info`; `None` gives `gotrue-session/<version>`.
    #[uniffi(default = None)]
    pub client_info: Option<String>,
    /// The refresh retry schedule; `None` means auth-js's.
    #[uniffi(default = None)]
    pub retry: Option<RetryPolicy>,
    /// At most one verify refresh per this many ms: a `/user` suspicion sooner than this after
    /// the last verify refresh that succeeded completes with `SessionUnconfirmed` at once,
    /// without a request. `None` means 30 000 (30 s); 0 verifies every suspicion. Negative or
    /// over 600 000 (10 minutes) makes the constructor fail with `InvalidInput`.
    #[uniffi(default = None)]
    pub verify_cooldown_ms: Option<i64>,
}

impl MachineConfig {
    /// The core's configuration; an unusable value is an `InvalidInput` error that says why.
    fn to_core(&self) -> Result<core::Config, AuthError> {
        let mut cfg = core::Config::new(self.storage_key.clone(), self.api_key.clone());
        cfg.margin_ms = self.margin_ms;
        cfg.auto_refresh = self.auto_refresh;
        cfg.persist_session = self.persist_session;
        cfg.jitter = self.jitter;
        cfg.session_not_found = self.session_not_found.unwrap_or_default().into();
        if let Some(info) = &self.client_info {
            cfg.client_info = info.clone();
        }
        cfg.retry = self.retry.unwrap_or_default().into();
        if let Some(ms) = self.verify_cooldown_ms {
            cfg.verify_cooldown = core::VerifyCooldown::from_ms(ms)?;
        }
        Ok(cfg)
    }
}

/// An operation to start. Each one completes exactly once, with a `Complete` output carrying
/// the op id `handle_command` returned.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Command {
    /// Read storage and announce INITIAL_SESSION.
    Initialize,
    /// The current session, refreshed first when due.
    GetSession,
    /// The user of the current session, from the server.
    GetUser,
    /// The user of a token the caller supplies; the stored session is never touched.
    GetUserWithJwt {
        /// The access token to ask about.
        jwt: String,
    },
    /// Rotate the tokens now.
    RefreshSession,
    /// Adopt a session from tokens obtained elsewhere.
    SetSession {
        /// The access token (must be a JWT).
        access_token: String,
        /// The refresh token.
        refresh_token: String,
    },
    /// Sign in with a password (`email` or `phone`).
    SignInWithPassword {
        /// Email address, or `None` when signing in by phone.
        email: Option<String>,
        /// Phone number, when signing in by phone.
        phone: Option<String>,
        /// The password.
        password: String,
    },
    /// Sign in with an OpenID Connect ID token.
    SignInWithIdToken {
        /// The provider name.
        provider: String,
        /// The ID token.
        token: String,
        /// The nonce, when the ID token carries one.
        nonce: Option<String>,
        /// The provider's access token, when it must be checked too.
        access_token: Option<String>,
    },
    /// Create an anonymous user.
    SignInAnonymously {
        /// User metadata as JSON text (an object), or `None`.
        data_json: Option<String>,
    },
    /// Verify a one-time password (or a token hash from an email link).
    VerifyOtp {
        /// Who the OTP was sent to.
        recipient: OtpRecipient,
        /// The OTP or token hash.
        token: String,
        /// `email`, `sms`, `magiclink`, `recovery`, `signup`, `invite`, `email_change`, ...
        otp_type: String,
    },
    /// Start a PKCE flow: store a verifier made from `entropy`, answer its S256 challenge.
    StartPkce {
        /// At least 32 random bytes.
        entropy: Vec<u8>,
        /// Whether the flow is a password recovery.
        recovery: bool,
    },
    /// Exchange a PKCE auth code (with the stored verifier) for a session.
    ExchangeCode {
        /// The `code` from the redirect.
        auth_code: String,
    },
    /// Sign out.
    SignOut {
        /// Which sessions.
        scope: SignOutScope,
    },
}

impl std::fmt::Debug for Command {
    // Passwords, tokens and entropy stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command { .. }")
    }
}

impl TryFrom<Command> for core::Command {
    type Error = AuthError;
    fn try_from(c: Command) -> Result<Self, AuthError> {
        Ok(match c {
            Command::Initialize => core::Command::Initialize,
            Command::GetSession => core::Command::GetSession,
            Command::GetUser => core::Command::GetUser,
            Command::GetUserWithJwt { jwt } => core::Command::GetUserWithJwt { jwt },
            Command::RefreshSession => core::Command::RefreshSession,
            Command::SetSession { access_token, refresh_token } => {
                core::Command::SetSession { access_token, refresh_token }
            }
            Command::SignInWithPassword { email, phone, password } => {
                core::Command::SignInWithPassword { email, phone, password }
            }
            Command::SignInWithIdToken { provider, token, nonce, access_token } => {
                core::Command::SignInWithIdToken { provider, token, nonce, access_token }
            }
            Command::SignInAnonymously { data_json } => {
                let data = match data_json {
                    None => None,
                    Some(text) => Some(
                        serde_json::from_str(&text)
                            .map_err(|_| AuthError::invalid_input("sign_in_anonymously: data_json is not JSON"))?,
                    ),
                };
                core::Command::SignInAnonymously { data }
            }
            Command::VerifyOtp { recipient, token, otp_type } => {
                core::Command::VerifyOtp { recipient: recipient.into(), token, otp_type }
            }
            Command::StartPkce { entropy, recovery } => core::Command::StartPkce { entropy, recovery },
            Command::ExchangeCode { auth_code } => core::Command::ExchangeCode { auth_code },
            Command::SignOut { scope } => core::Command::SignOut(scope.into()),
        })
    }
}

/// What a successful operation yields.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum OpValue {
    /// Nothing (initialize, sign_out).
    Done,
    /// A session, or none.
    Session {
        /// The session.
        session: Option<Session>,
    },
    /// A user.
    User {
        /// The user.
        user: User,
    },
    /// A PKCE challenge to send with the authorize or OTP request.
    PkceChallenge {
        /// `BASE64URL(SHA256(verifier))`.
        challenge: String,
        /// Always `s256`.
        method: String,
    },
}

impl From<&core::OpValue> for OpValue {
    fn from(v: &core::OpValue) -> Self {
        match v {
            core::OpValue::Done => OpValue::Done,
            core::OpValue::Session(s) => OpValue::Session { session: s.as_ref().map(Session::from) },
            core::OpValue::User(u) => OpValue::User { user: User::from(u) },
            core::OpValue::PkceChallenge { challenge, method } => {
                OpValue::PkceChallenge { challenge: challenge.clone(), method: (*method).to_owned() }
            }
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum OpOutcome {
    /// It succeeded.
    Success {
        /// What it yields.
        value: OpValue,
    },
    /// It failed.
    Failure {
        /// Why.
        error: AuthError,
    },
}

/// Something the app must do or deliver, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum MachineOutput {
    /// Send a request; answer with `handle_response` or `handle_transport_failure`.
    Http {
        /// The request (`url` is under the configured auth URL).
        request: HttpRequest,
    },
    /// Read a key; answer with `handle_storage_read`.
    StorageRead {
        /// Answer with this id.
        id: u64,
        /// The key.
        key: String,
        /// Take the store's cross-process lock for `key` before reading and hold it until
        /// `StorageUnlock` (stores without locking ignore this; re-entrant within one machine).
        exclusive: bool,
    },
    /// Release the lock an exclusive read took.
    StorageUnlock {
        /// The key.
        key: String,
    },
    /// Write a key; report the outcome with `handle_storage_done`.
    StorageWrite {
        /// Report with this id.
        id: u64,
        /// The key.
        key: String,
        /// The value (JSON text).
        value: String,
    },
    /// Remove a key; report the outcome with `handle_storage_done`.
    StorageRemove {
        /// Report with this id.
        id: u64,
        /// The key.
        key: String,
    },
    /// Deliver an event to listeners.
    Event {
        /// The event.
        event: AuthEvent,
    },
    /// An operation finished.
    Complete {
        /// The operation's id, as `handle_command` returned it.
        op: u64,
        /// Its outcome.
        outcome: OpOutcome,
    },
    /// Something worth logging.
    Diagnostic {
        /// The report.
        diagnostic: Diagnostic,
    },
}

impl MachineOutput {
    fn from_core(out: core::Output, auth_url: &str) -> Self {
        match out {
            core::Output::Http(r) => MachineOutput::Http { request: HttpRequest::from_core(&r, auth_url) },
            core::Output::StorageRead { id, key, exclusive } => MachineOutput::StorageRead { id: id.0, key, exclusive },
            core::Output::StorageUnlock { key } => MachineOutput::StorageUnlock { key },
            core::Output::StorageWrite { id, key, value } => MachineOutput::StorageWrite { id: id.0, key, value },
            core::Output::StorageRemove { id, key } => MachineOutput::StorageRemove { id: id.0, key },
            core::Output::Event(e) => MachineOutput::Event { event: AuthEvent::from(&e) },
            core::Output::Complete { op, result } => MachineOutput::Complete {
                op: op.0,
                outcome: match &result {
                    Ok(v) => OpOutcome::Success { value: v.into() },
                    Err(e) => OpOutcome::Failure { error: e.into() },
                },
            },
            core::Output::Diagnostic(d) => MachineOutput::Diagnostic { diagnostic: Diagnostic::from(&d) },
        }
    }
}

/// Everything one input produced.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MachineStep {
    /// `handle_command` only: the id the operation's `Complete` output will carry.
    pub op: Option<u64>,
    /// The outputs, in order. Carry them out in this order; a storage output's answer (fed
    /// back with `handle_storage_read` / `handle_storage_done`) yields outputs that come after
    /// the rest of this list.
    pub outputs: Vec<MachineOutput>,
    /// When the machine next wants `handle_timeout` (Unix ms), if ever.
    pub next_timeout_ms: Option<u64>,
}

/// The result of a storage read, for `handle_storage_read`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum StorageReadResult {
    /// The key holds this value.
    Found {
        /// The raw stored text.
        value: String,
    },
    /// The key is absent.
    Absent,
    /// The store could not be read (nothing is decided from this).
    Failed {
        /// What went wrong (no secrets).
        reason: String,
    },
}

/// The session state machine of the core, unchanged: it makes every decision and does no I/O.
/// Times are Unix milliseconds, passed with every input. Safe to share between threads (calls
/// are serialized).
#[derive(uniffi::Object)]
pub struct SessionMachine {
    inner: Mutex<core::SessionMachine>,
    auth_url: String,
}

impl SessionMachine {
    fn lock(&self) -> MutexGuard<'_, core::SessionMachine> {
        // A panic inside the core leaves nothing half-done that a later call could observe
        // wrongly, so a poisoned lock is taken over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn step(&self, op: Option<u64>, input: impl FnOnce(&mut core::SessionMachine)) -> MachineStep {
        let mut m = self.lock();
        input(&mut m);
        let mut outputs = Vec::new();
        while let Some(out) = m.poll_output() {
            outputs.push(MachineOutput::from_core(out, &self.auth_url));
        }
        MachineStep { op, outputs, next_timeout_ms: m.poll_timeout() }
    }
}

#[uniffi::export]
impl SessionMachine {
    /// A machine for `config`. Nothing happens until the first input. A configuration that
    /// cannot be used (a `verify_cooldown_ms` out of range) fails with `InvalidInput`, saying why.
    #[uniffi::constructor]
    pub fn new(config: MachineConfig) -> Result<Arc<Self>, AuthError> {
        Ok(Arc::new(SessionMachine {
            inner: Mutex::new(core::SessionMachine::new(config.to_core()?)),
            auth_url: config.auth_url.trim_end_matches('/').to_owned(),
        }))
    }

    /// Seeds the retry jitter with platform entropy. Without a seed, or with `jitter` off,
    /// retries follow the exact schedule.
    pub fn seed_jitter(&self, seed: u64) {
        self.lock().seed_jitter(seed);
    }

    /// Starts an operation; `MachineStep.op` is its id.
    pub fn handle_command(&self, now_ms: u64, command: Command) -> Result<MachineStep, AuthError> {
        let cmd = core::Command::try_from(command)?;
        let mut op = None;
        let mut step = self.step(None, |m| op = Some(m.handle_command(now_ms, cmd).0));
        step.op = op;
        Ok(step)
    }

    /// The HTTP answer to request `request_id`, whatever its status.
    pub fn handle_response(&self, now_ms: u64, request_id: u64, response: HttpResponse) -> MachineStep {
        self.step(None, |m| m.handle_response(now_ms, core::RequestId(request_id), response.into()))
    }

    /// Request `request_id` failed without an answer (refused, reset, timed out, ...).
    pub fn handle_transport_failure(&self, now_ms: u64, request_id: u64, reason: String) -> MachineStep {
        self.step(None, |m| {
            m.handle_transport_failure(now_ms, core::RequestId(request_id), core::TransportFailure::new(reason))
        })
    }

    /// The result of storage read `id`.
    pub fn handle_storage_read(&self, now_ms: u64, id: u64, result: StorageReadResult) -> MachineStep {
        let result = match result {
            StorageReadResult::Found { value } => Ok(Some(value)),
            StorageReadResult::Absent => Ok(None),
            StorageReadResult::Failed { reason } => Err(core::StorageFailure::new(reason)),
        };
        self.step(None, |m| m.handle_storage_read(now_ms, core::StorageOpId(id), result))
    }

    /// The outcome of storage write or removal `id`: `failure` is `None` when it succeeded.
    pub fn handle_storage_done(&self, now_ms: u64, id: u64, failure: Option<String>) -> MachineStep {
        let result = match failure {
            None => Ok(()),
            Some(reason) => Err(core::StorageFailure::new(reason)),
        };
        self.step(None, |m| m.handle_storage_done(now_ms, core::StorageOpId(id), result))
    }

    /// Another process changed the stored session.
    pub fn handle_storage_changed(&self, now_ms: u64) -> MachineStep {
        self.step(None, |m| m.handle_storage_changed(now_ms))
    }

    /// The time came (see `next_timeout_ms`).
    pub fn handle_timeout(&self, now_ms: u64) -> MachineStep {
        self.step(None, |m| m.handle_timeout(now_ms))
    }

    /// Turns auto refresh on or off.
    pub fn set_auto_refresh(&self, now_ms: u64, on: bool) -> MachineStep {
        self.step(None, |m| m.set_auto_refresh(now_ms, on))
    }

    /// The app went to the foreground or the background.
    pub fn handle_lifecycle(&self, now_ms: u64, state: Lifecycle) -> MachineStep {
        self.step(None, |m| m.handle_lifecycle(now_ms, state.into()))
    }

    /// The platform says the network came or went.
    pub fn handle_network(&self, now_ms: u64, state: Reachability) -> MachineStep {
        self.step(None, |m| m.handle_network(now_ms, state.into()))
    }

    /// When the machine next wants `handle_timeout` (Unix ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.lock().poll_timeout()
    }

    /// The session as the machine sees it now (no I/O, no refresh).
    pub fn session(&self) -> Option<Session> {
        self.lock().session().map(Session::from)
    }

    /// Whether storage is known to hold exactly the machine's view.
    pub fn storage_in_sync(&self) -> bool {
        self.lock().storage_in_sync()
    }

    /// The estimated server-minus-device clock offset, in ms.
    pub fn clock_skew_ms(&self) -> i64 {
        self.lock().clock_skew_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NameValue;

    const NOW: u64 = 1_767_225_600_000;

    fn config() -> MachineConfig {
        MachineConfig {
            storage_key: "sb-t-auth-token".into(),
            api_key: "anon".into(),
            auth_url: "http://127.0.0.1:1/auth/v1/".into(),
            margin_ms: 90_000,
            auto_refresh: false,
            persist_session: true,
            jitter: false,
            session_not_found: None,
            client_info: None,
            retry: None,
            verify_cooldown_ms: None,
        }
    }

    fn machine() -> Arc<SessionMachine> {
        SessionMachine::new(config()).unwrap()
    }

    #[test]
    fn one_step_returns_every_output_of_the_input() {
        let m = machine();
        let start = m.handle_command(NOW, Command::Initialize).unwrap();
        let op = start.op.unwrap();
        let [MachineOutput::StorageRead { id, key, .. }] = start.outputs.as_slice() else { panic!("{start:?}") };
        assert_eq!(key, "sb-t-auth-token");
        let done = m.handle_storage_read(NOW, *id, StorageReadResult::Absent);
        match done.outputs.as_slice() {
            [MachineOutput::Event { event }, MachineOutput::Complete { op: completed, outcome }] => {
                assert_eq!(event.kind, crate::EventKind::InitialSession);
                assert_eq!(*completed, op);
                assert_eq!(*outcome, OpOutcome::Success { value: OpValue::Done });
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(done.next_timeout_ms, None);
    }

    #[test]
    fn requests_carry_their_full_url_and_failures_their_kind() {
        let m = machine();
        m.handle_command(NOW, Command::Initialize).unwrap();
        let cmd = Command::SignInWithPassword { email: Some("a@b.c".into()), phone: None, password: "pw".into() };
        let step = m.handle_command(NOW, cmd).unwrap();
        let request = step.outputs.iter().find_map(|o| match o {
            MachineOutput::Http { request } => Some(request.clone()),
            _ => None,
        });
        // Initialize's storage read is still unanswered: the sign-in waits for it.
        assert!(request.is_none(), "{step:?}");
        let m = machine();
        let init = m.handle_command(NOW, Command::Initialize).unwrap();
        let MachineOutput::StorageRead { id, .. } = &init.outputs[0] else { panic!() };
        m.handle_storage_read(NOW, *id, StorageReadResult::Absent);
        let cmd = Command::SignInWithPassword { email: Some("a@b.c".into()), phone: None, password: "pw".into() };
        let step = m.handle_command(NOW, cmd).unwrap();
        let [MachineOutput::Http { request }] = step.outputs.as_slice() else { panic!("{step:?}") };
        assert_eq!(request.url, "http://127.0.0.1:1/auth/v1/token?grant_type=password");
        let failed = m.handle_transport_failure(NOW, request.id, "refused".into());
        let [MachineOutput::Complete { outcome: OpOutcome::Failure { error }, .. }] = failed.outputs.as_slice() else {
            panic!("{failed:?}")
        };
        assert!(matches!(error, AuthError::RetryableFetch { .. }), "{error:?}");
    }

    #[test]
    fn anonymous_data_must_be_json() {
        let m = machine();
        let bad = Command::SignInAnonymously { data_json: Some("{not json".into()) };
        assert!(matches!(m.handle_command(NOW, bad), Err(AuthError::InvalidInput { .. })));
    }

    #[test]
    fn a_verify_cooldown_out_of_range_fails_construction_with_invalid_input() {
        for ms in [-1, 600_001, i64::MIN, i64::MAX] {
            match SessionMachine::new(MachineConfig { verify_cooldown_ms: Some(ms), ..config() }) {
                Err(AuthError::InvalidInput { detail, .. }) => {
                    assert!(detail.contains("verify_cooldown must be between 0"), "{ms}: {detail}")
                }
                Err(e) => panic!("{ms}: {e:?}"),
                Ok(_) => panic!("{ms}: accepted"),
            }
        }
        for ms in [0, 1, 600_000] {
            assert!(SessionMachine::new(MachineConfig { verify_cooldown_ms: Some(ms), ..config() }).is_ok(), "{ms}");
        }
    }

    /// Tokens of one session (`sess-1`, expiring one hour after `NOW`), before and after a refresh.
    const ACCESS_A: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJhdXRoZW50aWNhdGVkIiwicm9sZSI6ImF1dGhlbnRpY2F0ZWQiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTYwMCwic2Vzc2lvbl9pZCI6InNlc3MtMSIsInJlZiI6ImEifQ.c2lnLWE";
    const ACCESS_B: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJhdXRoZW50aWNhdGVkIiwicm9sZSI6ImF1dGhlbnRpY2F0ZWQiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTYwMCwic2Vzc2lvbl9pZCI6InNlc3MtMSIsInJlZiI6ImIifQ.c2lnLWI";

    fn session_json(access: &str, refresh: &str) -> String {
        serde_json::json!({
            "access_token": access, "token_type": "bearer", "expires_in": 3600, "expires_at": 1_767_229_200_u64,
            "refresh_token": refresh,
            "user": { "id": "user-1", "aud": "authenticated", "role": "authenticated" },
        })
        .to_string()
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        // The API version header makes GoTrue's `code` field the error code.
        let version = NameValue { name: "x-supabase-api-version".into(), value: "2024-01-01".into() };
        HttpResponse { status, headers: vec![version], body: body.as_bytes().to_vec() }
    }

    const SESSION_NOT_FOUND: &str =
        r#"{"code":"session_not_found","message":"Session from session_id claim in JWT does not exist"}"#;

    /// What the app saw while a step was carried out (storage answered at once, as it must be).
    #[derive(Default)]
    struct Seen {
        requests: Vec<HttpRequest>,
        events: Vec<crate::EventKind>,
        outcomes: Vec<OpOutcome>,
    }

    fn carry_out(m: &SessionMachine, step: MachineStep, stored: &mut Option<String>, seen: &mut Seen) {
        let mut queue: std::collections::VecDeque<MachineOutput> = step.outputs.into();
        while let Some(out) = queue.pop_front() {
            let next = match out {
                MachineOutput::StorageRead { id, .. } => Some(m.handle_storage_read(
                    NOW,
                    id,
                    match stored.clone() {
                        Some(value) => StorageReadResult::Found { value },
                        None => StorageReadResult::Absent,
                    },
                )),
                MachineOutput::StorageWrite { id, value, .. } => {
                    *stored = Some(value);
                    Some(m.handle_storage_done(NOW, id, None))
                }
                MachineOutput::StorageRemove { id, .. } => {
                    *stored = None;
                    Some(m.handle_storage_done(NOW, id, None))
                }
                MachineOutput::Http { request } => {
                    seen.requests.push(request);
                    None
                }
                MachineOutput::Event { event } => {
                    seen.events.push(event.kind);
                    None
                }
                MachineOutput::Complete { outcome, .. } => {
                    seen.outcomes.push(outcome);
                    None
                }
                MachineOutput::StorageUnlock { .. } | MachineOutput::Diagnostic { .. } => None,
            };
            if let Some(next) = next {
                queue.extend(next.outputs);
            }
        }
    }

    #[test]
    fn a_suspicion_after_a_successful_verify_refresh_keeps_the_session_as_session_unconfirmed() {
        let m = machine();
        let mut stored = Some(session_json(ACCESS_A, "rt-a"));
        let mut seen = Seen::default();
        let init = m.handle_command(NOW, Command::Initialize).unwrap();
        carry_out(&m, init, &mut stored, &mut seen);
        let step = m.handle_command(NOW, Command::GetUser).unwrap();
        carry_out(&m, step, &mut stored, &mut seen);
        let user = seen.requests.pop().expect("GET /user");
        assert_eq!(user.path, "/user");
        let step = m.handle_response(NOW, user.id, answer(403, SESSION_NOT_FOUND));
        carry_out(&m, step, &mut stored, &mut seen);
        let refresh = seen.requests.pop().expect("the verify refresh");
        assert_eq!(refresh.path, "/token");
        let step = m.handle_response(NOW, refresh.id, answer(200, &session_json(ACCESS_B, "rt-b")));
        carry_out(&m, step, &mut stored, &mut seen);
        let retry = seen.requests.pop().expect("GET /user again, with the new token");
        assert_eq!(retry.path, "/user");
        let step = m.handle_response(NOW, retry.id, answer(403, SESSION_NOT_FOUND));
        carry_out(&m, step, &mut stored, &mut seen);

        let [_, OpOutcome::Failure { error }] = seen.outcomes.as_slice() else { panic!("{:?}", seen.outcomes) };
        let AuthError::SessionUnconfirmed { status, code, .. } = error else { panic!("{error:?}") };
        assert_eq!((*status, code.as_deref()), (Some(403), Some("session_not_found")));
        assert!(error.is_retryable());
        use crate::EventKind::{InitialSession, TokenRefreshed};
        assert_eq!(seen.events, [InitialSession, TokenRefreshed], "no SIGNED_OUT");
        assert_eq!(m.session().map(|s| s.refresh_token), Some("rt-b".to_owned()), "the session is kept");
        assert!(stored.as_deref().is_some_and(|s| s.contains("rt-b")));

        // Within the cooldown: the next suspicion is answered at once, without a refresh.
        let step = m.handle_command(NOW + 1_000, Command::GetUser).unwrap();
        carry_out(&m, step, &mut stored, &mut seen);
        let user = seen.requests.pop().expect("GET /user");
        let step = m.handle_response(NOW + 1_000, user.id, answer(403, SESSION_NOT_FOUND));
        carry_out(&m, step, &mut stored, &mut seen);
        assert!(seen.requests.is_empty(), "no refresh within the cooldown");
        let Some(OpOutcome::Failure { error: AuthError::SessionUnconfirmed { .. } }) = seen.outcomes.last() else {
            panic!("{:?}", seen.outcomes)
        };
        assert_eq!(seen.events.len(), 2, "nothing announced");
    }
}
