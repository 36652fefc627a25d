//! One end-to-end suite for both shells: the tests are written against [`Client`], which the
//! blocking client implements directly and the tokio client implements on a runtime of its own.

use gotrue_fake::{FakeGoTrue, Options};
use gotrue_session::retry::RetryPolicy;
use gotrue_session::{AuthError, AuthEvent, EventKind, Session, SignOutScope, User};
use gotrue_session_io::{ClientOptions, SessionStorage, StorageError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the tests need of a client, blocking.
pub trait Client: Send + Sync + Sized + 'static {
    /// Which shell (for messages).
    const NAME: &'static str;
    /// A client over `storage`.
    fn build(options: ClientOptions, storage: Arc<dyn SessionStorage>) -> Self;
    /// `initialize`.
    fn initialize(&self) -> Result<(), AuthError>;
    /// `get_session`.
    fn get_session(&self) -> Result<Option<Session>, AuthError>;
    /// `get_user`.
    fn get_user(&self) -> Result<User, AuthError>;
    /// `refresh_session`.
    fn refresh_session(&self) -> Result<Option<Session>, AuthError>;
    /// `sign_in_with_password`.
    fn sign_in(&self, email: &str, password: &str) -> Result<Option<Session>, AuthError>;
    /// `sign_out`.
    fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError>;
    /// Events, as a channel.
    fn events(&self) -> Receiver<AuthEvent>;
    /// The session held now.
    fn current_session(&self) -> Option<Session>;
    /// Stops the client.
    fn shutdown(&self);
}

impl Client for gotrue_session_blocking::AuthClient {
    const NAME: &'static str = "blocking";
    fn build(options: ClientOptions, storage: Arc<dyn SessionStorage>) -> Self {
        Self::new(options, storage)
    }
    fn initialize(&self) -> Result<(), AuthError> {
        self.initialize()
    }
    fn get_session(&self) -> Result<Option<Session>, AuthError> {
        self.get_session()
    }
    fn get_user(&self) -> Result<User, AuthError> {
        self.get_user()
    }
    fn refresh_session(&self) -> Result<Option<Session>, AuthError> {
        self.refresh_session()
    }
    fn sign_in(&self, email: &str, password: &str) -> Result<Option<Session>, AuthError> {
        self.sign_in_with_password(email, password)
    }
    fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        self.sign_out(scope)
    }
    fn events(&self) -> Receiver<AuthEvent> {
        self.subscribe()
    }
    fn current_session(&self) -> Option<Session> {
        self.current_session()
    }
    fn shutdown(&self) {
        self.shutdown()
    }
}

/// The tokio client, driven from blocking test code through a runtime of its own.
pub struct TokioClient {
    rt: tokio::runtime::Runtime,
    client: gotrue_session_tokio::AuthClient,
}

impl Client for TokioClient {
    const NAME: &'static str = "tokio";
    fn build(options: ClientOptions, storage: Arc<dyn SessionStorage>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let client = {
            let _guard = rt.enter();
            gotrue_session_tokio::AuthClient::new(options, storage)
        };
        TokioClient { rt, client }
    }
    fn initialize(&self) -> Result<(), AuthError> {
        self.rt.block_on(self.client.initialize())
    }
    fn get_session(&self) -> Result<Option<Session>, AuthError> {
        self.rt.block_on(self.client.get_session())
    }
    fn get_user(&self) -> Result<User, AuthError> {
        self.rt.block_on(self.client.get_user())
    }
    fn refresh_session(&self) -> Result<Option<Session>, AuthError> {
        self.rt.block_on(self.client.refresh_session())
    }
    fn sign_in(&self, email: &str, password: &str) -> Result<Option<Session>, AuthError> {
        self.rt.block_on(self.client.sign_in_with_password(email, password))
    }
    fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        self.rt.block_on(self.client.sign_out(scope))
    }
    fn events(&self) -> Receiver<AuthEvent> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stream = self.client.subscribe();
        self.rt.spawn(async move {
            while let Some(e) = stream.recv().await {
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        rx
    }
    fn current_session(&self) -> Option<Session> {
        self.rt.block_on(self.client.current_session())
    }
    fn shutdown(&self) {
        self.rt.block_on(self.client.shutdown())
    }
}

/// The seeded user of the fake server.
pub const EMAIL: &str = "ada@example.com";
/// Its password.
pub const PASSWORD: &str = "correct horse";

/// A fake server with its defaults and `tweak` applied.
pub fn fake(tweak: impl FnOnce(&mut Options)) -> FakeGoTrue {
    let mut o = Options::default();
    tweak(&mut o);
    FakeGoTrue::start(o).expect("the fake server starts on loopback")
}

/// Client options for `server`: a short retry schedule so bursts end within a second,
/// no jitter, short request timeouts.
pub fn options(server: &FakeGoTrue, auto_refresh: bool) -> ClientOptions {
    let mut o = ClientOptions::new(server.url(), server.anon_key());
    o.storage_key = "sb-e2e-auth-token".into();
    o.auto_refresh = auto_refresh;
    o.jitter = false;
    o.request_timeout = Duration::from_secs(5);
    o.retry = RetryPolicy { base_delay_ms: 20, burst_window_ms: 300, cooldown_ms: 1_000 };
    o
}

/// Every event that arrives within `within` (stops early after `quiet` with none).
pub fn collect(events: &Receiver<AuthEvent>, within: Duration) -> Vec<AuthEvent> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(e) => out.push(e),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !out.is_empty() => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    out
}

/// The kinds of some events.
pub fn kinds(events: &[AuthEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

/// Rewrites the stored session's `expires_at` to `now + secs` (negative: expired), as if time
/// had passed, without touching the tokens.
pub fn age_stored_session(storage: &dyn SessionStorage, key: &str, expires_in_secs: i64) {
    let raw = storage.get(key).expect("readable").expect("a stored session");
    let mut v: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    let now = (gotrue_session_io::now_ms() / 1000) as i64;
    v["expires_at"] = serde_json::json!(now + expires_in_secs);
    storage.set(key, &v.to_string()).expect("writable");
}

/// A store that fails the next `n` writes of a key when armed (a full disk, a kill before the
/// write landed).
pub struct FlakyStorage {
    inner: Arc<dyn SessionStorage>,
    failing_writes: AtomicU32,
}

impl FlakyStorage {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStorage>) -> Self {
        FlakyStorage { inner, failing_writes: AtomicU32::new(0) }
    }
    /// The next `n` writes fail.
    pub fn fail_writes(&self, n: u32) {
        self.failing_writes.store(n, Ordering::SeqCst);
    }
}

impl SessionStorage for FlakyStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let failing =
            self.failing_writes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if failing {
            return Err(StorageError::Unavailable("injected write failure".into()));
        }
        self.inner.set(key, value)
    }
    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.inner.remove(key)
    }
    fn lock(&self, key: &str) -> Result<(), StorageError> {
        self.inner.lock(key)
    }
    fn unlock(&self, key: &str) {
        self.inner.unlock(key)
    }
}
