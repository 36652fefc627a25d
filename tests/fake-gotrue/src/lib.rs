//! # gotrue-fake
//!
//! A fake Supabase Auth (GoTrue) server on loopback, for testing session clients against the
//! server's real rules instead of canned answers: a sessions table, refresh-token rotation, the
//! reuse interval, the one-behind allowance, `refresh_token_already_used` reuse detection,
//! signed HS256 access tokens with `exp` and `session_id`, GoTrue's error bodies (in both API
//! versions) and diagnostic headers, and the Supabase gateway's API-key check.
//!
//! On top of that, fault injection: latency, 5xx (JSON or HTML), 429 with `Retry-After`, 409,
//! connection resets (before or after the server committed the change), answers cut mid-body,
//! proxy pages, empty bodies, a lagging read replica, and a server that is down. Everything is
//! driven in-process through [`FakeGoTrue`]'s methods or over HTTP through the `/admin/...`
//! routes (see the crate's README).
//!
//! ```
//! use gotrue_fake::{FakeGoTrue, Fault, Options, Target};
//!
//! let server = FakeGoTrue::start(Options::default())?;
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! assert!(server.url().ends_with("/auth/v1"));
//! // The next refresh request is answered 503.
//! server.inject(Target::Refresh, Fault::ServerError { status: 503, html: false }, 1);
//! assert_eq!(server.counters().refresh_requests(), 0);
//! server.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```

mod admin;
mod clock;
mod error;
mod faults;
mod http;
mod jwt;
mod model;
mod routes;
mod server;
mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use admin::Otp;
pub use clock::Clock;
pub use error::ControlError;
pub use faults::{Fault, FaultRule, Target};
pub use model::{RefreshTokenAlgorithm, SessionInfo};
pub use routes::{pkce_challenge, ReplicaLag};
pub use server::{Counters, RequestRecord};

use routes::Config;
use server::Shared;

/// The JWT secret of a local Supabase stack (`supabase start`).
pub const DEFAULT_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// A user that exists when the server starts (email confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedUser {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

impl SeedUser {
    /// A user with this email and password.
    pub fn new(email: &str, password: &str) -> SeedUser {
        SeedUser { email: email.to_owned(), password: password.to_owned() }
    }
}

/// How the server is set up. Start from `Options::default()` and change what a test needs:
/// `Options { reuse_interval: Duration::ZERO, ..Options::default() }`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Lifetime of access tokens (GoTrue's `JWT_EXP`). Default 3600 s.
    pub access_token_lifetime: Duration,
    /// The refresh-token reuse interval. Default 10 s.
    pub reuse_interval: Duration,
    /// The HS256 secret that signs access tokens. Default [`DEFAULT_JWT_SECRET`].
    pub jwt_secret: String,
    /// The key the `apikey` header must carry; `None` derives one from the secret (the local
    /// stack's anon key for the default secret). See [`FakeGoTrue::anon_key`].
    pub anon_key: Option<String>,
    /// A second accepted key; `None` derives one from the secret.
    pub service_role_key: Option<String>,
    /// Users that exist at start. Default: `ada@example.com` / `correct horse`.
    pub users: Vec<SeedUser>,
    /// The server's time source. Keep a clone to move time in a test.
    pub clock: Clock,
    /// The refresh-token algorithm of new sessions. Default v2 (counter-based).
    pub refresh_token_algorithm: RefreshTokenAlgorithm,
    /// Reuse detection (`refresh_token_rotation_enabled`): off, reuse outside the interval is
    /// refused but destroys nothing. Default on.
    pub rotation_enabled: bool,
    /// `refresh_token_allow_reuse`: v2 accepts any old token. Default off.
    pub allow_reuse: bool,
    /// Sessions end this long after creation (`session_expired` on refresh). Default none.
    pub session_timebox: Option<Duration>,
    /// Sessions end after this long without a refresh. Default none.
    pub inactivity_timeout: Option<Duration>,
    /// The status of `bad_jwt` (a bad or expired bearer token). GoTrue answers 403 since
    /// March 2024 (401 before); default 403.
    pub bad_jwt_status: u16,
    /// Whether `POST /signup` without email or phone creates an anonymous user. Default on.
    pub anonymous_sign_ins: bool,
    /// Replica lag from the start (can be changed later). Default none.
    pub replica_lag: ReplicaLag,
    /// Largest request body accepted (413 beyond). Default 64 KiB.
    pub max_body_bytes: usize,
    /// Connections served at once; more are reset. Default 256.
    pub max_connections: usize,
    /// Time a client has to send a whole request, from its first byte (or, on a new connection,
    /// from the connect): beyond it the connection is closed, with a 408 if part of a request
    /// arrived. Bounds slow clients (slowloris). Default 5 s.
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            access_token_lifetime: Duration::from_secs(3600),
            reuse_interval: Duration::from_secs(10),
            jwt_secret: DEFAULT_JWT_SECRET.to_owned(),
            anon_key: None,
            service_role_key: None,
            users: vec![SeedUser::new("ada@example.com", "correct horse")],
            clock: Clock::system(),
            refresh_token_algorithm: RefreshTokenAlgorithm::V2,
            rotation_enabled: true,
            allow_reuse: false,
            session_timebox: None,
            inactivity_timeout: None,
            bad_jwt_status: 403,
            anonymous_sign_ins: true,
            replica_lag: ReplicaLag::default(),
            max_body_bytes: 64 * 1024,
            max_connections: 256,
            request_timeout: Duration::from_secs(5),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn derived_key(secret: &str, role: &str) -> String {
    // Key order as in the local stack's keys, so the default secret gives its exact anon key.
    jwt::sign_raw(secret.as_bytes(), &format!(r#"{{"iss":"supabase-demo","role":"{role}","exp":1983812996}}"#))
}

/// A running fake GoTrue server. Dropping it stops it (and joins its threads).
pub struct FakeGoTrue {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeGoTrue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoTrue").field("addr", &self.shared.addr).finish_non_exhaustive()
    }
}

impl FakeGoTrue {
    /// Binds 127.0.0.1 and starts serving.
    pub fn start(options: Options) -> io::Result<FakeGoTrue> {
        let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
        if options.jwt_secret.is_empty() {
            return Err(invalid("the JWT secret is empty"));
        }
        if !(400..=599).contains(&options.bad_jwt_status) {
            return Err(invalid("bad_jwt_status must be a 4xx or 5xx status"));
        }
        let listener = server::bind(options.port)?;
        let addr = listener.local_addr()?;
        let access_token_ttl_secs = i64::try_from(options.access_token_lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        let cfg = Config {
            secret: options.jwt_secret.as_bytes().to_vec(),
            anon_key: options.anon_key.clone().unwrap_or_else(|| derived_key(&options.jwt_secret, "anon")),
            service_role_key: options
                .service_role_key
                .clone()
                .unwrap_or_else(|| derived_key(&options.jwt_secret, "service_role")),
            access_token_ttl_secs: access_token_ttl_secs.max(1),
            rules: model::Rules {
                algorithm: options.refresh_token_algorithm,
                reuse_interval_ms: ms(options.reuse_interval),
                rotation_enabled: options.rotation_enabled,
                allow_reuse: options.allow_reuse,
                timebox_ms: options.session_timebox.map(ms),
                inactivity_timeout_ms: options.inactivity_timeout.map(ms),
            },
            bad_jwt_status: options.bad_jwt_status,
            anonymous_sign_ins: options.anonymous_sign_ins,
            issuer: format!("http://{addr}/auth/v1"),
        };
        let limits = http::Limits {
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
            ..http::Limits::default()
        };
        let shared = Arc::new(Shared::new(cfg, options.clock.clone(), limits, options.max_connections.max(1), addr));
        for u in &options.users {
            shared.add_user(&u.email, &u.password).map_err(|e| invalid(&e.to_string()))?;
        }
        shared.set_replica_lag(options.replica_lag);
        let accept = server::spawn_accept(Arc::clone(&shared), listener)?;
        Ok(FakeGoTrue { shared, accept: Some(accept) })
    }

    /// The GoTrue base URL: `http://127.0.0.1:PORT/auth/v1` (paths without `/auth/v1` work too).
    pub fn url(&self) -> String {
        format!("http://{}/auth/v1", self.shared.addr)
    }

    /// The server root, where the admin routes live: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The key clients must send in the `apikey` header.
    pub fn anon_key(&self) -> &str {
        &self.shared.cfg.anon_key
    }

    /// The other accepted key.
    pub fn service_role_key(&self) -> &str {
        &self.shared.cfg.service_role_key
    }

    /// The server's clock (shared with [`Options::clock`]).
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Sets the server clock's offset from its base, in milliseconds.
    pub fn set_clock_offset(&self, offset_ms: i64) {
        self.shared.clock.set_offset_ms(offset_ms);
    }

    /// Moves the server clock forward.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Queues `fault` for the next `count` requests that `target` matches.
    pub fn inject(&self, target: Target, fault: Fault, count: u32) {
        self.shared.inject(FaultRule { target, fault, count });
    }

    /// Queues a fault rule.
    pub fn inject_rule(&self, rule: FaultRule) {
        self.shared.inject(rule);
    }

    /// The faults still queued.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults()
    }

    /// Empties the fault queue.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Sets the replica lag (`ReplicaLag::default()` turns it off).
    pub fn set_replica_lag(&self, lag: ReplicaLag) {
        self.shared.set_replica_lag(lag);
    }

    /// Down: every GoTrue request is answered with a connection reset (admin routes still work).
    pub fn set_down(&self, down: bool) {
        self.shared.set_down(down);
    }

    /// Adds a confirmed email user; returns the user id.
    pub fn add_user(&self, email: &str, password: &str) -> Result<String, ControlError> {
        self.shared.add_user(email, password)
    }

    /// Signs a user out everywhere from another device: deletes all their sessions. Takes an
    /// email address or a user id; returns how many sessions went.
    pub fn revoke_user_sessions(&self, email_or_id: &str) -> Result<usize, ControlError> {
        self.shared.revoke_user_sessions(email_or_id)
    }

    /// Deletes one session.
    pub fn revoke_session(&self, session_id: &str) -> Result<(), ControlError> {
        self.shared.revoke_session(session_id)
    }

    /// Deletes every session; returns how many.
    pub fn revoke_all_sessions(&self) -> usize {
        self.shared.revoke_all_sessions()
    }

    /// Bans (or unbans) a user: refreshes answer 400 `user_banned`, `/user` 403 `user_banned`.
    pub fn set_banned(&self, email_or_id: &str, banned: bool) -> Result<(), ControlError> {
        self.shared.set_banned(email_or_id, banned)
    }

    /// Deletes a user with their sessions: `/user` then answers 403 `user_not_found`.
    pub fn delete_user(&self, email_or_id: &str) -> Result<(), ControlError> {
        self.shared.delete_user(email_or_id)
    }

    /// The sessions table.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.sessions()
    }

    /// One session, if it exists.
    pub fn session(&self, session_id: &str) -> Option<SessionInfo> {
        self.sessions().into_iter().find(|s| s.id == session_id)
    }

    /// The request counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Zeroes the counters and empties the request log.
    pub fn reset_counters(&self) {
        self.shared.reset_counters();
    }

    /// The request log (the last 10,000 GoTrue requests).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// Issues a PKCE auth code for a user, as if they had finished a magic-link or OAuth flow
    /// started with this S256 `code_challenge`. Exchange it with `POST /token?grant_type=pkce`.
    pub fn issue_pkce_code(&self, email_or_id: &str, code_challenge: &str) -> Result<String, ControlError> {
        self.shared.issue_pkce_code(email_or_id, code_challenge, "s256", "magiclink")
    }

    /// [`FakeGoTrue::issue_pkce_code`] with the challenge method (`s256` or `plain`) and the
    /// authentication method the session will carry (`magiclink`, `recovery`, `oauth`, ...).
    pub fn issue_pkce_code_with(
        &self,
        email_or_id: &str,
        code_challenge: &str,
        code_challenge_method: &str,
        authentication_method: &str,
    ) -> Result<String, ControlError> {
        self.shared.issue_pkce_code(email_or_id, code_challenge, code_challenge_method, authentication_method)
    }

    /// Issues an email OTP of `otp_type` (`email`, `magiclink`, `signup`, `invite`, `recovery`,
    /// `email_change`) for `POST /verify`.
    pub fn issue_otp(&self, email_or_id: &str, otp_type: &str) -> Result<Otp, ControlError> {
        self.shared.issue_otp(email_or_id, otp_type)
    }

    /// Issues an ID token from `provider` for `email`, accepted (for an hour) by
    /// `POST /token?grant_type=id_token`; the user is created on first use.
    pub fn issue_id_token(&self, email: &str, provider: &str) -> Result<String, ControlError> {
        self.shared.issue_id_token(email, provider)
    }

    /// Creates a session for a user without a request (as a sign-in would) and returns the
    /// token answer (`access_token`, `refresh_token`, `expires_at`, `user`, ...).
    pub fn issue_session(&self, email_or_id: &str) -> Result<serde_json::Value, ControlError> {
        self.shared.issue_session(email_or_id)
    }

    /// Blocks until the server is stopped by `POST /admin/shutdown`, then joins its threads.
    pub fn wait(mut self) {
        self.shared.wait_for_stop();
        self.stop_and_join();
    }

    /// Stops the server and joins its threads (open connections are closed).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.request_stop();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for FakeGoTrue {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
