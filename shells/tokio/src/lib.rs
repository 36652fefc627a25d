//! An async Supabase Auth client over the gotrue-session core, for tokio.
//!
//! One driver task owns the core. Calls reach it over a channel and wait for their operation
//! on a oneshot; requests run in blocking tasks (the default transport is ureq) and their
//! answers come back over the same channel; the core's next deadline is a tokio timer. Storage
//! is carried out by the driver in output order. Events reach subscribers as an
//! [`EventStream`], a late subscriber getting INITIAL_SESSION first.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gotrue_session::AuthError> {
//! use gotrue_session_io::{ClientOptions, MemoryStorage};
//! use gotrue_session_tokio::AuthClient;
//! use std::sync::Arc;
//!
//! let client = AuthClient::new(ClientOptions::new("https://abcd.supabase.co", "<anon key>"), Arc::new(MemoryStorage::new()));
//! let mut events = client.subscribe();
//! client.initialize().await?;
//! client.sign_in_with_password("ada@example.com", "correct horse").await?;
//! while let Some(event) = events.recv().await {
//!     println!("{:?}", event.kind);
//! #   break;
//! }
//! client.shutdown().await;
//! # Ok(()) }
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

use futures_core::Stream;
use gotrue_session::{
    AuthError, AuthEvent, Command, Diagnostic, HttpResponse, Lifecycle, OpId, OpValue, OtpRecipient, Reachability,
    RequestId, Session, SessionMachine, SignOutScope, TransportFailure, User,
};
use gotrue_session_io::{
    challenge_of, entropy, now_ms, session_of, shut_down, user_of, ClientOptions, EventSink, Pump, SessionStorage,
    Transport,
};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Reply<T> = oneshot::Sender<T>;

enum Msg {
    Command(Command, Reply<Result<OpValue, AuthError>>),
    Answer(RequestId, Result<HttpResponse, TransportFailure>),
    Subscribe(mpsc::UnboundedSender<AuthEvent>),
    Lifecycle(Lifecycle),
    Network(Reachability),
    AutoRefresh(bool),
    StorageChanged,
    Session(Reply<Option<Session>>),
    Diagnostics(Reply<Vec<Diagnostic>>),
    Shutdown,
}

/// An async auth client. Create it inside a tokio runtime; share it behind an `Arc`.
pub struct AuthClient {
    tx: mpsc::UnboundedSender<Msg>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

/// Auth events, as they happen.
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<AuthEvent>,
}

impl EventStream {
    /// The next event; `None` once the client has shut down.
    pub async fn recv(&mut self) -> Option<AuthEvent> {
        self.rx.recv().await
    }
}

impl Stream for EventStream {
    type Item = AuthEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AuthEvent>> {
        self.rx.poll_recv(cx)
    }
}

struct UnboundedSink(mpsc::UnboundedSender<AuthEvent>);

impl EventSink for UnboundedSink {
    fn deliver(&mut self, event: AuthEvent) -> bool {
        self.0.send(event).is_ok()
    }
}

impl AuthClient {
    /// A client with the built-in ureq transport. Must be called within a tokio runtime.
    #[cfg(feature = "ureq")]
    pub fn new(options: ClientOptions, storage: Arc<dyn SessionStorage>) -> Self {
        let transport = options.default_transport();
        Self::with_transport(options, storage, transport)
    }

    /// A client sending requests through `transport` (called from blocking tasks).
    pub fn with_transport(
        options: ClientOptions,
        storage: Arc<dyn SessionStorage>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let machine = options.new_machine();
        let driver = Driver {
            machine,
            pump: Pump::new(storage),
            waiting: HashMap::new(),
            transport,
            auth_url: options.auth_url.clone(),
            tx: tx.downgrade(),
        };
        let handle = tokio::spawn(driver.run(rx));
        AuthClient { tx, driver: Mutex::new(Some(handle)) }
    }

    async fn run(&self, cmd: Command) -> Result<OpValue, AuthError> {
        let (reply, wait) = oneshot::channel();
        self.tx.send(Msg::Command(cmd, reply)).map_err(|_| shut_down())?;
        wait.await.map_err(|_| shut_down())?
    }

    async fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Option<T> {
        let (reply, wait) = oneshot::channel();
        self.tx.send(msg(reply)).ok()?;
        wait.await.ok()
    }

    fn tell(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    /// Reads storage and announces INITIAL_SESSION. Other calls wait for it on their own.
    pub async fn initialize(&self) -> Result<(), AuthError> {
        self.run(Command::Initialize).await.map(|_| ())
    }

    /// The current session, refreshed first when due.
    pub async fn get_session(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::GetSession).await.map(session_of)
    }

    /// The user, from the server. A `/user` answer that doubts the session (403
    /// `session_not_found` and the like) is verified with a refresh before anything is removed:
    /// if the refresh endpoint says the session is dead, it is removed, SIGNED_OUT announced,
    /// and the error is `session_missing`; if the refresh works but `/user` still doubts it,
    /// the session is kept and the error is `session_unconfirmed` (retryable). Within the
    /// verify cooldown ([`ClientOptions::verify_cooldown`]) after such a refresh, a doubt
    /// is answered `session_unconfirmed` without refreshing again.
    pub async fn get_user(&self) -> Result<User, AuthError> {
        self.run(Command::GetUser).await.and_then(user_of)
    }

    /// The user of an access token you supply; the stored session is never touched.
    pub async fn get_user_with_jwt(&self, jwt: &str) -> Result<User, AuthError> {
        self.run(Command::GetUserWithJwt { jwt: jwt.to_owned() }).await.and_then(user_of)
    }

    /// Rotates the tokens now.
    pub async fn refresh_session(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::RefreshSession).await.map(session_of)
    }

    /// Adopts a session from tokens obtained elsewhere.
    pub async fn set_session(&self, access_token: &str, refresh_token: &str) -> Result<Option<Session>, AuthError> {
        let cmd =
            Command::SetSession { access_token: access_token.to_owned(), refresh_token: refresh_token.to_owned() };
        self.run(cmd).await.map(session_of)
    }

    /// Signs in with email and password.
    pub async fn sign_in_with_password(&self, email: &str, password: &str) -> Result<Option<Session>, AuthError> {
        let cmd =
            Command::SignInWithPassword { email: Some(email.to_owned()), phone: None, password: password.to_owned() };
        self.run(cmd).await.map(session_of)
    }

    /// Signs in with an OpenID Connect ID token.
    pub async fn sign_in_with_id_token(
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
        self.run(cmd).await.map(session_of)
    }

    /// Creates an anonymous user and signs in.
    pub async fn sign_in_anonymously(&self) -> Result<Option<Session>, AuthError> {
        self.run(Command::SignInAnonymously { data: None }).await.map(session_of)
    }

    /// Verifies an OTP (`otp_type`: `email`, `sms`, `magiclink`, `recovery`, ...).
    pub async fn verify_otp(
        &self,
        recipient: OtpRecipient,
        token: &str,
        otp_type: &str,
    ) -> Result<Option<Session>, AuthError> {
        let cmd = Command::VerifyOtp { recipient, token: token.to_owned(), otp_type: otp_type.to_owned() };
        self.run(cmd).await.map(session_of)
    }

    /// Starts a PKCE flow: stores a fresh verifier and returns its S256 challenge.
    pub async fn start_pkce(&self, recovery: bool) -> Result<String, AuthError> {
        self.run(Command::StartPkce { entropy: entropy(32), recovery }).await.and_then(challenge_of)
    }

    /// Exchanges the `code` of a PKCE redirect for a session.
    pub async fn exchange_code_for_session(&self, auth_code: &str) -> Result<Option<Session>, AuthError> {
        self.run(Command::ExchangeCode { auth_code: auth_code.to_owned() }).await.map(session_of)
    }

    /// Signs out (`Local` works offline; `Global` revokes every session of the user).
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        self.run(Command::SignOut(scope)).await.map(|_| ())
    }

    /// A stream of auth events. A subscriber that arrives after initialization gets
    /// INITIAL_SESSION first.
    pub fn subscribe(&self) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tell(Msg::Subscribe(tx));
        EventStream { rx }
    }

    /// Turns auto refresh on.
    pub fn start_auto_refresh(&self) {
        self.tell(Msg::AutoRefresh(true));
    }

    /// Turns auto refresh off.
    pub fn stop_auto_refresh(&self) {
        self.tell(Msg::AutoRefresh(false));
    }

    /// Tells the client the app went to the foreground or background.
    pub fn set_lifecycle(&self, state: Lifecycle) {
        self.tell(Msg::Lifecycle(state));
    }

    /// Tells the client the network came or went.
    pub fn set_reachability(&self, state: Reachability) {
        self.tell(Msg::Network(state));
    }

    /// Tells the client another process changed the stored session.
    pub fn storage_changed(&self) {
        self.tell(Msg::StorageChanged);
    }

    /// The session as the client holds it now, without I/O.
    pub async fn current_session(&self) -> Option<Session> {
        self.ask(Msg::Session).await.flatten()
    }

    /// Recent diagnostics (removal reasons, storage failures, server headers), oldest first.
    pub async fn diagnostics(&self) -> Vec<Diagnostic> {
        self.ask(Msg::Diagnostics).await.unwrap_or_default()
    }

    /// Stops the driver: calls still waiting fail, requests in flight finish without effect,
    /// storage locks are released, event streams end.
    pub async fn shutdown(&self) {
        self.tell(Msg::Shutdown);
        let handle = self.driver.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

impl Drop for AuthClient {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

struct Driver {
    machine: SessionMachine,
    pump: Pump,
    waiting: HashMap<OpId, Reply<Result<OpValue, AuthError>>>,
    transport: Arc<dyn Transport>,
    auth_url: String,
    /// Weak, so the driver ends when every client handle is gone.
    tx: mpsc::WeakUnboundedSender<Msg>,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let deadline = self.machine.poll_timeout();
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                () = sleep_until_unix_ms(deadline) => {
                    let now = now_ms();
                    self.machine.handle_timeout(now);
                    self.after_input(now);
                    continue;
                }
            };
            let now = now_ms();
            match msg {
                None | Some(Msg::Shutdown) => break,
                Some(Msg::Command(cmd, reply)) => {
                    let op = self.machine.handle_command(now, cmd);
                    self.waiting.insert(op, reply);
                }
                Some(Msg::Answer(id, Ok(resp))) => self.machine.handle_response(now, id, resp),
                Some(Msg::Answer(id, Err(failure))) => self.machine.handle_transport_failure(now, id, failure),
                Some(Msg::Subscribe(tx)) => self.pump.subscribe(Box::new(UnboundedSink(tx)), &self.machine),
                Some(Msg::Lifecycle(l)) => self.machine.handle_lifecycle(now, l),
                Some(Msg::Network(n)) => self.machine.handle_network(now, n),
                Some(Msg::AutoRefresh(on)) => self.machine.set_auto_refresh(now, on),
                Some(Msg::StorageChanged) => self.machine.handle_storage_changed(now),
                Some(Msg::Session(reply)) => {
                    let _ = reply.send(self.machine.session().cloned());
                }
                Some(Msg::Diagnostics(reply)) => {
                    let _ = reply.send(self.pump.diagnostics());
                }
            }
            self.after_input(now);
        }
        self.pump.release_locks();
        // Waiting callers see their reply dropped: "shut down".
        self.waiting.clear();
    }

    /// Carries out the outputs of the last input and answers the callers whose operation ended.
    fn after_input(&mut self, now: u64) {
        let requests = self.pump.drain(&mut self.machine, now);
        for req in requests {
            let transport = Arc::clone(&self.transport);
            let url = self.auth_url.clone();
            let tx = self.tx.clone();
            tokio::task::spawn_blocking(move || {
                let answer = transport.send(&url, &req);
                if let Some(tx) = tx.upgrade() {
                    let _ = tx.send(Msg::Answer(req.id, answer));
                }
            });
        }
        let done: Vec<OpId> = self.waiting.keys().copied().collect();
        for op in done {
            if let Some(result) = self.pump.take_result(op) {
                if let Some(reply) = self.waiting.remove(&op) {
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// Sleeps until a Unix time in ms (forever for `None`), on tokio's timer.
async fn sleep_until_unix_ms(deadline: Option<u64>) {
    match deadline {
        None => std::future::pending().await,
        Some(at) => {
            let wait = at.saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}
