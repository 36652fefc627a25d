//! A blocking Supabase Auth client over the gotrue-session core.
//!
//! Every method runs the core until its operation completes: storage is carried out on the
//! calling thread, each request is sent on a thread of its own (so a slow `/user` never holds up
//! a refresh), and timers (retry backoff, the expiry of a doomed session) are waited for on a
//! condition variable. With auto refresh on, a background thread keeps the session fresh
//! between calls. Listeners receive events over a channel: [`AuthClient::subscribe`].
//!
//! ```no_run
//! use gotrue_session_blocking::AuthClient;
//! use gotrue_session_io::{ClientOptions, FileStorage};
//! use std::sync::Arc;
//!
//! let options = ClientOptions::new("https://abcd.supabase.co", "<anon key>");
//! let storage = Arc::new(FileStorage::new("/tmp/my-app-session").unwrap());
//! let client = AuthClient::new(options, storage);
//! client.initialize().unwrap();
//! let session = client.sign_in_with_password("ada@example.com", "correct horse").unwrap();
//! println!("signed in: {:?}", session.map(|s| s.user));
//! ```
//!
//! # Errors
//!
//! Calls fail with the core's [`AuthError`]: a kind, plus the server's status and code when
//! there was an answer. Two kinds are retryable ([`AuthError::is_retryable`]), and with both
//! the session is kept, no SIGNED_OUT:
//!
//! - `retryable_fetch`: the server could not be reached, or answered a 5xx, a 429 or a page
//!   that is not GoTrue's;
//! - `session_unconfirmed`: the session is alive (the refresh endpoint just accepted it) but
//!   `GET /user` still answered `session_not_found` or the like, as a read replica that lags
//!   behind does; `get_user` may succeed when asked again a little later.
//!
//! The others are not: `session_missing` (no session, or the refresh endpoint said it is gone:
//! then it was removed and SIGNED_OUT announced), `api`, `invalid_response`,
//! `refresh_discarded`, `invalid_input`, `storage`.

use gotrue_session::{
    AuthError, AuthEvent, Command, Diagnostic, HttpRequest, Lifecycle, OpValue, OtpRecipient, Reachability, Session,
    SessionMachine, SignOutScope, User,
};
use gotrue_session_io::{
    challenge_of, entropy, now_ms, session_of, shut_down, user_of, ClientOptions, EventSink, Pump, SessionStorage,
    Transport,
};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The longest a waiting thread sleeps without looking at the clock again.
const MAX_WAIT: Duration = Duration::from_secs(60);

struct State {
    machine: SessionMachine,
    pump: Pump,
    shutdown: bool,
    auto_thread: bool,
}

struct Shared {
    state: Mutex<State>,
    progress: Condvar,
    transport: Arc<dyn Transport>,
    auth_url: String,
}

/// A blocking auth client. Cheap to share across threads behind an `Arc`; all methods take
/// `&self`.
pub struct AuthClient {
    shared: Arc<Shared>,
}

impl AuthClient {
    /// A client with the built-in ureq transport.
    #[cfg(feature = "ureq")]
    pub fn new(options: ClientOptions, storage: Arc<dyn SessionStorage>) -> Self {
        let transport = options.default_transport();
        Self::with_transport(options, storage, transport)
    }

    /// A client sending its requests through `transport`.
    pub fn with_transport(
        options: ClientOptions,
        storage: Arc<dyn SessionStorage>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let machine = options.new_machine();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { machine, pump: Pump::new(storage), shutdown: false, auto_thread: false }),
            progress: Condvar::new(),
            transport,
            auth_url: options.auth_url.clone(),
        });
        let client = AuthClient { shared };
        if options.auto_refresh {
            client.spawn_auto_refresh_thread();
        }
        client
    }

    /// Reads storage and announces INITIAL_SESSION. Other calls wait for it on their own.
    pub fn initialize(&self) -> Result<(), AuthError> {
        self.run(Command::Initialize).map(|_| ())
    }

    /// The current session, refreshed first when due.
    pub fn get_session(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::GetSession).map(session_of)
    }

    /// The user, from the server. A `/user` answer that doubts the session (403
    /// `session_not_found` and the like) is verified with a refresh before anything is removed:
    /// if the refresh endpoint says the session is dead, it is removed, SIGNED_OUT announced,
    /// and the error is `session_missing`; if the refresh works but `/user` still doubts it,
    /// the session is kept and the error is `session_unconfirmed` (retryable). Within the
    /// verify cooldown ([`ClientOptions::verify_cooldown`]) after such a refresh, a doubt
    /// is answered `session_unconfirmed` without refreshing again.
    pub fn get_user(&self) -> Result<User, AuthError> {
        self.run(Command::GetUser).and_then(user_of)
    }

    /// The user of an access token you supply; the stored session is never touched.
    pub fn get_user_with_jwt(&self, jwt: &str) -> Result<User, AuthError> {
        self.run(Command::GetUserWithJwt { jwt: jwt.to_owned() }).and_then(user_of)
    }

    /// Rotates the tokens now.
    pub fn refresh_session(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::RefreshSession).map(session_of)
    }

    /// Adopts a session from tokens obtained elsewhere.
    pub fn set_session(&self, access_token: &str, refresh_token: &str) -> Result<Option<Session>, AuthError> {
        let cmd =
            Command::SetSession { access_token: access_token.to_owned(), refresh_token: refresh_token.to_owned() };
        self.run(cmd).map(session_of)
    }

    /// Signs in with email and password.
    pub fn sign_in_with_password(&self, email: &str, password: &str) -> Result<Option<Session>, AuthError> {
        let cmd =
            Command::SignInWithPassword { email: Some(email.to_owned()), phone: None, password: password.to_owned() };
        self.run(cmd).map(session_of)
    }

    /// Signs in with an OpenID Connect ID token.
    pub fn sign_in_with_id_token(
        &self,
        provider: &str,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Option<Session>, AuthError> {
        let cmd = Command::SignInWithIdToken {
            provider: provider.to_owned(),
            token: token.to_owned(),
            nonce: nonce.map(str::to_owned),
            access_token: None,
        };
        self.run(cmd).map(session_of)
    }

    /// Creates an anonymous user and signs in.
    pub fn sign_in_anonymously(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::SignInAnonymously { data: None }).map(session_of)
    }

    /// Verifies an OTP (`otp_type`: `email`, `sms`, `magiclink`, `recovery`, ...).
    pub fn verify_otp(
        &self,
        recipient: OtpRecipient,
        token: &str,
        otp_type: &str,
    ) -> Result<Option<Session>, AuthError> {
        let cmd = Command::VerifyOtp { recipient, token: token.to_owned(), otp_type: otp_type.to_owned() };
        self.run(cmd).map(session_of)
    }

    /// Starts a PKCE flow: stores a fresh verifier and returns its S256 challenge, to put in the
    /// authorize URL or OTP request.
    pub fn start_pkce(&self, recovery: bool) -> Result<String, AuthError> {
        self.run(Command::StartPkce { entropy: entropy(32), recovery }).and_then(challenge_of)
    }

    /// Exchanges the `code` of a PKCE redirect for a session.
    pub fn exchange_code_for_session(&self, auth_code: &str) -> Result<Option<Session>, AuthError> {
        self.run(Command::ExchangeCode { auth_code: auth_code.to_owned() }).map(session_of)
    }

    /// Signs out (`Local` works offline; `Global` revokes every session of the user).
    pub fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        self.run(Command::SignOut(scope)).map(|_| ())
    }

    /// A channel of auth events. A subscriber that arrives after initialization gets
    /// INITIAL_SESSION first.
    pub fn subscribe(&self) -> Receiver<AuthEvent> {
        let (tx, rx) = channel();
        let mut st = self.lock();
        let State { machine, pump, .. } = &mut *st;
        pump.subscribe(Box::new(tx), machine);
        rx
    }

    /// Delivers events to `sink` as they are emitted, in order with storage writes (the sink
    /// runs on the thread driving the client: keep it quick, and do not call the client from it).
    pub fn subscribe_with(&self, sink: Box<dyn EventSink>) {
        let mut st = self.lock();
        let State { machine, pump, .. } = &mut *st;
        pump.subscribe(sink, machine);
    }

    /// Turns auto refresh on, with its background thread.
    pub fn start_auto_refresh(&self) {
        self.with_machine(|m, now| m.set_auto_refresh(now, true));
        self.spawn_auto_refresh_thread();
    }

    /// Turns auto refresh off (the background thread ends).
    pub fn stop_auto_refresh(&self) {
        self.with_machine(|m, now| m.set_auto_refresh(now, false));
        self.lock().auto_thread = false;
        self.shared.progress.notify_all();
    }

    /// Tells the client the app went to the foreground or background.
    pub fn set_lifecycle(&self, state: Lifecycle) {
        self.with_machine(|m, now| m.handle_lifecycle(now, state));
    }

    /// Tells the client the network came or went.
    pub fn set_reachability(&self, state: Reachability) {
        self.with_machine(|m, now| m.handle_network(now, state));
    }

    /// Tells the client another process changed the stored session.
    pub fn storage_changed(&self) {
        self.with_machine(|m, now| m.handle_storage_changed(now));
    }

    /// The session as the client holds it now, without I/O.
    pub fn current_session(&self) -> Option<Session> {
        self.lock().machine.session().cloned()
    }

    /// Recent diagnostics (removal reasons, storage failures, server headers), oldest first.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.lock().pump.diagnostics()
    }

    /// Stops the background thread and fails calls still waiting; requests in flight finish
    /// without effect. Also done on drop.
    pub fn shutdown(&self) {
        let mut st = self.lock();
        st.shutdown = true;
        st.pump.release_locks();
        drop(st);
        self.shared.progress.notify_all();
    }

    // ---- the loop -------------------------------------------------------------------------

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    fn with_machine(&self, f: impl FnOnce(&mut SessionMachine, u64)) {
        let mut st = self.lock();
        let now = now_ms();
        f(&mut st.machine, now);
        pump(&self.shared, &mut st, now);
        drop(st);
        self.shared.progress.notify_all();
    }

    /// Starts `cmd` and drives the machine until it completes.
    fn run(&self, cmd: Command) -> Result<OpValue, AuthError> {
        let mut st = self.lock();
        if st.shutdown {
            return Err(shut_down());
        }
        let now = now_ms();
        let op = st.machine.handle_command(now, cmd);
        pump(&self.shared, &mut st, now);
        loop {
            if let Some(result) = st.pump.take_result(op) {
                drop(st);
                self.shared.progress.notify_all();
                return result;
            }
            if st.shutdown {
                return Err(shut_down());
            }
            st = wait_and_fire_timers(&self.shared, st);
        }
    }

    fn spawn_auto_refresh_thread(&self) {
        let mut st = self.lock();
        if st.auto_thread || st.shutdown {
            return;
        }
        st.auto_thread = true;
        drop(st);
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name("gotrue-session-auto-refresh".into())
            .spawn(move || {
                let mut st = lock(&shared);
                while st.auto_thread && !st.shutdown {
                    st = wait_and_fire_timers(&shared, st);
                }
                st.auto_thread = false;
            })
            .ok();
    }
}

impl Drop for AuthClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic elsewhere must not wedge every other caller: the state stays consistent because
    // the machine is only touched through whole inputs.
    shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drains outputs and sends each request on its own thread.
fn pump(shared: &Arc<Shared>, st: &mut State, now: u64) {
    let State { machine, pump, .. } = st;
    for req in pump.drain(machine, now) {
        send(shared, req);
    }
}

fn send(shared: &Arc<Shared>, req: HttpRequest) {
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        let answer = shared.transport.send(&shared.auth_url, &req);
        let mut st = lock(&shared);
        if st.shutdown {
            return;
        }
        let now = now_ms();
        match answer {
            Ok(resp) => st.machine.handle_response(now, req.id, resp),
            Err(failure) => st.machine.handle_transport_failure(now, req.id, failure),
        }
        pump(&shared, &mut st, now);
        drop(st);
        shared.progress.notify_all();
    });
}

/// Waits for progress or the machine's next deadline, and fires the deadline when it comes.
fn wait_and_fire_timers<'a>(shared: &'a Arc<Shared>, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    let now = now_ms();
    let wait = match st.machine.poll_timeout() {
        Some(at) if at <= now => Duration::ZERO,
        Some(at) => Duration::from_millis(at - now).min(MAX_WAIT),
        None => MAX_WAIT,
    };
    let mut st = if wait.is_zero() {
        st
    } else {
        shared.progress.wait_timeout(st, wait).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0)
    };
    let now = now_ms();
    if st.machine.poll_timeout().is_some_and(|at| at <= now) {
        st.machine.handle_timeout(now);
        pump(shared, &mut st, now);
        shared.progress.notify_all();
    }
    st
}
