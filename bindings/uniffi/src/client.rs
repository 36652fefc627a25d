//! The async client: `gotrue_session_tokio::AuthClient` on a tokio runtime of its own.

use crate::error::AuthError;
use crate::foreign::{AuthEventListener, HttpTransport, SessionStorage, StorageAdapter, TransportAdapter};
use crate::types::{
    AuthEvent, Diagnostic, Lifecycle, OtpRecipient, Reachability, RetryPolicy, Session, SessionNotFoundPolicy,
    SignOutScope, User,
};
use gotrue_session as core;
use gotrue_session_io as io;
use gotrue_session_tokio as shell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How a client is set up. Only `url` and `anon_key` are needed; the rest defaults to
/// auth-js's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientOptions {
    /// The project URL (`https://<ref>.supabase.co`) or its auth URL (`.../auth/v1`).
    pub url: String,
    /// The project's anon (publishable) key.
    pub anon_key: String,
    /// The storage key; `None` gives auth-js's `sb-<ref>-auth-token`.
    #[uniffi(default = None)]
    pub storage_key: Option<String>,
    /// Refresh before expiry in the background.
    #[uniffi(default = true)]
    pub auto_refresh: bool,
    /// Keep the session in storage (off: memory only).
    #[uniffi(default = true)]
    pub persist_session: bool,
    /// What a `/user` suspicion leads to; `None` means `Verify`.
    #[uniffi(default = None)]
    pub session_not_found: Option<SessionNotFoundPolicy>,
    /// Spread refresh retries with full jitter.
    #[uniffi(default = true)]
    pub jitter: bool,
    /// How long one HTTP request of the built-in transport may take, connect to last byte.
    #[uniffi(default = 10000)]
    pub request_timeout_ms: u64,
    /// The refresh retry schedule; `None` means auth-js's.
    #[uniffi(default = None)]
    pub retry: Option<RetryPolicy>,
    /// At most one verify refresh per this many ms: a `/user` suspicion sooner than this after
    /// the last verify refresh that succeeded fails with `SessionUnconfirmed` at once, without
    /// a request. `None` means 30 000 (30 s); 0 verifies every suspicion. Negative or over
    /// 600 000 (10 minutes) makes the constructor fail with `InvalidInput`.
    #[uniffi(default = None)]
    pub verify_cooldown_ms: Option<i64>,
}

impl ClientOptions {
    /// The shell's options; an unusable value is an `InvalidInput` error that says why.
    fn to_io(&self) -> Result<io::ClientOptions, AuthError> {
        let mut o = io::ClientOptions::new(self.url.clone(), self.anon_key.clone());
        if let Some(key) = &self.storage_key {
            o.storage_key = key.clone();
        }
        o.auto_refresh = self.auto_refresh;
        o.persist_session = self.persist_session;
        o.session_not_found = self.session_not_found.unwrap_or_default().into();
        o.jitter = self.jitter;
        o.request_timeout = Duration::from_millis(self.request_timeout_ms);
        o.retry = self.retry.unwrap_or_default().into();
        // Milliseconds from another language may be negative: `from_ms` checks the whole range.
        if let Some(ms) = self.verify_cooldown_ms {
            o.verify_cooldown = core::VerifyCooldown::from_ms(ms)?;
        }
        Ok(o)
    }
}

/// A Supabase Auth client. Every decision (when to refresh, when a session is really gone,
/// what to store, which event to announce) is the core's; this object carries it out on a
/// runtime of its own, so its async methods can be awaited from any executor (Kotlin
/// coroutines, Swift concurrency).
///
/// Call `initialize` first (other calls wait for it on their own), and `shutdown` (or drop the
/// object) when done.
#[derive(uniffi::Object)]
pub struct AuthClient {
    inner: Arc<shell::AuthClient>,
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
    storage_key: String,
}

impl Drop for AuthClient {
    fn drop(&mut self) {
        // May run on any thread, even one of the runtime's own: never block here.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(feature = "ureq")]
fn builtin_transport(opts: &io::ClientOptions) -> Result<Arc<dyn io::Transport>, AuthError> {
    Ok(Arc::new(io::UreqTransport::new(opts.request_timeout)))
}

#[cfg(not(feature = "ureq"))]
fn builtin_transport(_: &io::ClientOptions) -> Result<Arc<dyn io::Transport>, AuthError> {
    Err(AuthError::invalid_input("this library was built without the built-in transport: pass an HttpTransport"))
}

fn shut_down() -> AuthError {
    io::shut_down().into()
}

fn session(s: Option<core::Session>) -> Option<Session> {
    s.as_ref().map(Session::from)
}

#[uniffi::export]
impl AuthClient {
    /// A client over `storage`. Requests go through `transport` when given, else through the
    /// built-in transport (ureq with rustls; a library built without the `ureq` feature fails
    /// with `InvalidInput` instead). Options that cannot be used (a `verify_cooldown_ms` out of
    /// range) fail with `InvalidInput`, saying why.
    #[uniffi::constructor(default(transport = None))]
    pub fn new(
        options: ClientOptions,
        storage: Arc<dyn SessionStorage>,
        transport: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Arc<Self>, AuthError> {
        // Checked first: a rejected configuration starts no runtime thread.
        let opts = options.to_io()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gotrue-session")
            .enable_all()
            .build()
            .map_err(|e| AuthError::invalid_input(format!("cannot start the client's runtime: {e}")))?;
        let storage_key = opts.storage_key.clone();
        let transport: Arc<dyn io::Transport> = match transport {
            Some(t) => Arc::new(TransportAdapter(t)),
            None => builtin_transport(&opts)?,
        };
        let inner = {
            let _entered = runtime.enter();
            shell::AuthClient::with_transport(opts, Arc::new(StorageAdapter(storage)), transport)
        };
        let handle = runtime.handle().clone();
        Ok(Arc::new(AuthClient { inner: Arc::new(inner), handle, runtime: Some(runtime), storage_key }))
    }

    /// The storage key this client reads and writes.
    pub fn storage_key(&self) -> String {
        self.storage_key.clone()
    }

    /// Reads storage and announces INITIAL_SESSION. Other calls wait for it on their own.
    pub async fn initialize(&self) -> Result<(), AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.initialize().await }).await
    }

    /// The current session, refreshed first when due; `None` when signed out.
    pub async fn get_session(&self) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.get_session().await.map(session) }).await
    }

    /// The user, from the server. A `session_not_found` is verified with a refresh before
    /// anything is removed.
    pub async fn get_user(&self) -> Result<User, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.get_user().await.map(|u| User::from(&u)) }).await
    }

    /// The user of an access token you supply; the stored session is never touched.
    pub async fn get_user_with_jwt(&self, jwt: String) -> Result<User, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.get_user_with_jwt(&jwt).await.map(|u| User::from(&u)) }).await
    }

    /// Rotates the tokens now.
    pub async fn refresh_session(&self) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.refresh_session().await.map(session) }).await
    }

    /// Adopts a session from tokens obtained elsewhere.
    pub async fn set_session(&self, access_token: String, refresh_token: String) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.set_session(&access_token, &refresh_token).await.map(session) }).await
    }

    /// Signs in with email and password.
    pub async fn sign_in_with_password(&self, email: String, password: String) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.sign_in_with_password(&email, &password).await.map(session) }).await
    }

    /// Signs in with an OpenID Connect ID token (Sign in with Apple, Google, ...).
    #[uniffi::method(default(nonce = None))]
    pub async fn sign_in_with_id_token(
        &self,
        provider: String,
        token: String,
        nonce: Option<String>,
    ) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.sign_in_with_id_token(&provider, &token, nonce.as_deref()).await.map(session) }).await
    }

    /// Creates an anonymous user and signs in.
    pub async fn sign_in_anonymously(&self) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.sign_in_anonymously().await.map(session) }).await
    }

    /// Verifies an OTP (`otp_type`: `email`, `sms`, `magiclink`, `recovery`, ...).
    pub async fn verify_otp(
        &self,
        recipient: OtpRecipient,
        token: String,
        otp_type: String,
    ) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.verify_otp(recipient.into(), &token, &otp_type).await.map(session) }).await
    }

    /// Starts a PKCE flow: stores a fresh verifier and returns its S256 challenge, to send
    /// with the authorize (or OTP) request.
    #[uniffi::method(default(recovery = false))]
    pub async fn start_pkce(&self, recovery: bool) -> Result<String, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.start_pkce(recovery).await }).await
    }

    /// Exchanges the `code` of a PKCE redirect for a session.
    pub async fn exchange_code_for_session(&self, auth_code: String) -> Result<Option<Session>, AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.exchange_code_for_session(&auth_code).await.map(session) }).await
    }

    /// Signs out. `Local` works offline; `Global` revokes every session of the user;
    /// `Others` every other one.
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        let c = Arc::clone(&self.inner);
        self.run(async move { c.sign_out(scope.into()).await }).await
    }

    /// The session as the client holds it now, without I/O (no refresh).
    pub async fn current_session(&self) -> Option<Session> {
        let c = Arc::clone(&self.inner);
        self.handle.spawn(async move { session(c.current_session().await) }).await.ok().flatten()
    }

    /// Recent diagnostics (removal reasons, storage failures, server headers), oldest first.
    pub async fn diagnostics(&self) -> Vec<Diagnostic> {
        let c = Arc::clone(&self.inner);
        let list = self.handle.spawn(async move { c.diagnostics().await }).await.unwrap_or_default();
        list.iter().map(Diagnostic::from).collect()
    }

    /// Delivers every auth event to `listener`, one call per event, in order, from a thread of
    /// the client's. A subscriber that arrives after initialization gets INITIAL_SESSION first.
    /// Delivery goes on until [`EventSubscription::cancel`] or the client shuts down, then
    /// `on_end` is called once; dropping the subscription object does not stop it.
    ///
    /// Events caused by calls made after `subscribe` returns are always delivered to it.
    pub fn subscribe(&self, listener: Arc<dyn AuthEventListener>) -> Arc<EventSubscription> {
        let mut stream = self.inner.subscribe();
        let (tx, rx) = std::sync::mpsc::channel::<core::AuthEvent>();
        // A signal only `cancel` gives: the subscription object going away (a foreign garbage
        // collector freeing it at any moment) must not end delivery.
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        self.handle.spawn(async move {
            loop {
                tokio::select! {
                    event = stream.recv() => {
                        let Some(e) = event else { break };
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                    () = stopped.notified() => break,
                }
            }
        });
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancelled);
        self.handle.spawn_blocking(move || {
            for e in rx {
                if flag.load(Ordering::Acquire) {
                    break;
                }
                let event = AuthEvent::from(&e);
                // A listener that throws loses that event, not the ones after it.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_event(event)));
            }
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_end()));
        });
        Arc::new(EventSubscription { cancelled, stop })
    }

    /// Turns auto refresh on.
    pub fn start_auto_refresh(&self) {
        self.inner.start_auto_refresh();
    }

    /// Turns auto refresh off.
    pub fn stop_auto_refresh(&self) {
        self.inner.stop_auto_refresh();
    }

    /// Tells the client the app went to the foreground or the background (no auto refresh
    /// in the background; a refresh burst paused there resumes in the foreground).
    pub fn set_lifecycle(&self, state: Lifecycle) {
        self.inner.set_lifecycle(state.into());
    }

    /// Tells the client the network came or went.
    pub fn set_reachability(&self, state: Reachability) {
        self.inner.set_reachability(state.into());
    }

    /// Tells the client another process changed the stored session: it reads and adopts it.
    pub fn storage_changed(&self) {
        self.inner.storage_changed();
    }

    /// Stops the client: calls still waiting fail with `InvalidInput` ("shut down"), requests
    /// in flight finish without effect, event deliveries end.
    pub async fn shutdown(&self) {
        let c = Arc::clone(&self.inner);
        let _ = self.handle.spawn(async move { c.shutdown().await }).await;
    }
}

impl AuthClient {
    /// Runs `f` on the client's runtime and waits for it from whatever executor polls us.
    async fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, core::AuthError>> + Send + 'static,
    ) -> Result<T, AuthError> {
        match self.handle.spawn(f).await {
            Ok(result) => result.map_err(AuthError::from),
            Err(_) => Err(shut_down()),
        }
    }
}

/// A running event delivery, from [`AuthClient::subscribe`].
#[derive(uniffi::Object)]
pub struct EventSubscription {
    cancelled: Arc<AtomicBool>,
    stop: Arc<Notify>,
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivery: no event starts being delivered after this returns (one being delivered
    /// at this moment on the delivery thread finishes), then `on_end` is called. Cancelling
    /// twice is fine.
    pub fn cancel(&self) {
        // The first cancel wakes the delivery task (or leaves it a permit if it is not waiting).
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.stop.notify_one();
        }
    }

    /// Whether [`EventSubscription::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{StorageError, TransportError};
    use crate::types::{EventKind, HttpRequest, HttpResponse};
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::Mutex;

    /// A JWT that expires in 2100 (the core reads `exp`; nobody checks the signature here).
    const ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6NDEwMjQ0NDgwMCwic2Vzc2lvbl9pZCI6IjExMTExMTExLTIyMjItNDMzMy04NDQ0LTU1NTU1NTU1NTU1NSIsImF1ZCI6ImF1dGhlbnRpY2F0ZWQifQ.c2lnbmF0dXJl";

    /// A store holding one valid session: `initialize` restores it without a request.
    struct OneSession(Mutex<Option<String>>);

    impl OneSession {
        fn new() -> Self {
            let session = serde_json::json!({
                "access_token": ACCESS_TOKEN,
                "token_type": "bearer",
                "expires_in": 3600,
                "expires_at": 4_102_444_800_u64,
                "refresh_token": "r1",
                "user": { "id": "u1", "aud": "authenticated", "role": "authenticated", "email": "ada@example.com" },
            });
            OneSession(Mutex::new(Some(session.to_string())))
        }
    }

    impl SessionStorage for OneSession {
        fn get(&self, _: String) -> Result<Option<String>, StorageError> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn set(&self, _: String, value: String) -> Result<(), StorageError> {
            *self.0.lock().unwrap() = Some(value);
            Ok(())
        }
        fn remove(&self, _: String) -> Result<(), StorageError> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    /// No network in these tests: any request is a failure.
    struct NoNetwork;

    impl HttpTransport for NoNetwork {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
            Err(TransportError::Failed { reason: "no network in this test".into() })
        }
    }

    /// What a listener heard: `Some(kind)` per event, `None` for the end.
    struct Heard(Mutex<Sender<Option<EventKind>>>);

    impl AuthEventListener for Heard {
        fn on_event(&self, event: AuthEvent) {
            let _ = self.0.lock().unwrap().send(Some(event.kind));
        }
        fn on_end(&self) {
            let _ = self.0.lock().unwrap().send(None);
        }
    }

    fn options() -> ClientOptions {
        ClientOptions {
            url: "http://127.0.0.1:9/auth/v1".into(),
            anon_key: "anon".into(),
            storage_key: Some("sb-test-auth-token".into()),
            auto_refresh: false,
            persist_session: true,
            session_not_found: None,
            jitter: false,
            request_timeout_ms: 1_000,
            retry: None,
            verify_cooldown_ms: None,
        }
    }

    fn client() -> Arc<AuthClient> {
        AuthClient::new(options(), Arc::new(OneSession::new()), Some(Arc::new(NoNetwork))).unwrap()
    }

    fn listener() -> (Arc<Heard>, Receiver<Option<EventKind>>) {
        let (tx, rx) = mpsc::channel();
        (Arc::new(Heard(Mutex::new(tx))), rx)
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    // Bounded waits: delivery runs on the client's threads. Generous, since they only cost time
    // when the test is failing.
    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_verify_cooldown_out_of_range_fails_construction_with_invalid_input() {
        for ms in [-1, 600_001, i64::MIN, i64::MAX] {
            let options = ClientOptions { verify_cooldown_ms: Some(ms), ..options() };
            match AuthClient::new(options, Arc::new(OneSession::new()), Some(Arc::new(NoNetwork))) {
                Err(AuthError::InvalidInput { detail, .. }) => {
                    assert!(detail.contains("verify_cooldown must be between 0"), "{ms}: {detail}")
                }
                Err(e) => panic!("{ms}: {e:?}"),
                Ok(_) => panic!("{ms}: accepted"),
            }
        }
        for ms in [0, 30_000, 600_000] {
            let options = ClientOptions { verify_cooldown_ms: Some(ms), ..options() };
            let c = AuthClient::new(options, Arc::new(OneSession::new()), Some(Arc::new(NoNetwork)));
            assert!(c.is_ok(), "{ms}");
        }
    }

    #[test]
    fn dropping_the_subscription_object_keeps_delivery_going() {
        // A foreign garbage collector frees the subscription object whenever it likes; an app
        // that did not keep it must still hear every event.
        let c = client();
        let (heard, rx) = listener();
        drop(c.subscribe(heard));
        block_on(c.initialize()).unwrap();
        assert_eq!(rx.recv_timeout(WAIT), Ok(Some(EventKind::InitialSession)));
        block_on(c.sign_out(SignOutScope::Local)).unwrap();
        assert_eq!(rx.recv_timeout(WAIT), Ok(Some(EventKind::SignedOut)));
        block_on(c.shutdown());
        assert_eq!(rx.recv_timeout(WAIT), Ok(None), "the end, after the last event");
    }

    #[test]
    fn cancel_ends_delivery_once_with_on_end() {
        let c = client();
        let (heard, rx) = listener();
        let sub = c.subscribe(heard);
        sub.cancel();
        sub.cancel();
        assert!(sub.is_cancelled());
        assert_eq!(rx.recv_timeout(WAIT), Ok(None), "on_end, and no event before it");
        block_on(c.initialize()).unwrap();
        block_on(c.shutdown());
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "nothing after the end");
    }
}
