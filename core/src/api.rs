//! What goes into the machine (commands) and what comes out of it (outputs).

use crate::error::AuthError;
use crate::http::HttpRequest;
use crate::wire::{Session, User};
use std::fmt;

/// Names one operation; its completion carries the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Names one storage operation; its result comes back with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageOpId(pub u64);

/// The scope of a sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutScope {
    /// This device only: the session is removed even offline.
    Local,
    /// Every session of the user.
    Global,
    /// Every other session of the user; this one stays.
    Others,
}

impl SignOutScope {
    /// `local`, `global` or `others`, as the server's `scope` query spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignOutScope::Local => "local",
            SignOutScope::Global => "global",
            SignOutScope::Others => "others",
        }
    }
}

/// Who an OTP was sent to.
#[derive(Clone, PartialEq, Eq)]
pub enum OtpRecipient {
    /// An email address.
    Email(String),
    /// A phone number.
    Phone(String),
    /// A token hash from an email link (no address needed).
    TokenHash,
}

/// An operation the app asks for. Each one completes exactly once, with an [`Output::Complete`].
#[derive(Clone, PartialEq)]
pub enum Command {
    /// Read storage and announce INITIAL_SESSION.
    Initialize,
    /// The current session, refreshed first when due.
    GetSession,
    /// The user of the current session, from the server (`GET /user`).
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
    /// Sign in with an OpenID Connect ID token (Apple, Google, ...).
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
        /// User metadata, a JSON object or `None`.
        data: Option<serde_json::Value>,
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
        /// Whether the flow is a password recovery (the exchange then announces
        /// PASSWORD_RECOVERY).
        recovery: bool,
    },
    /// Exchange a PKCE auth code (with the stored verifier) for a session.
    ExchangeCode {
        /// The `code` from the redirect.
        auth_code: String,
    },
    /// Sign out.
    SignOut(SignOutScope),
}

impl fmt::Debug for Command {
    // Passwords, tokens and entropy stay out of logs (POLICY.md section 11).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Command {
    /// The operation's name, as the replay trace prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Initialize => "initialize",
            Command::GetSession => "get_session",
            Command::GetUser => "get_user",
            Command::GetUserWithJwt { .. } => "get_user_with_jwt",
            Command::RefreshSession => "refresh_session",
            Command::SetSession { .. } => "set_session",
            Command::SignInWithPassword { .. } => "sign_in_with_password",
            Command::SignInWithIdToken { .. } => "sign_in_with_id_token",
            Command::SignInAnonymously { .. } => "sign_in_anonymously",
            Command::VerifyOtp { .. } => "verify_otp",
            Command::StartPkce { .. } => "start_pkce",
            Command::ExchangeCode { .. } => "exchange_code",
            Command::SignOut(_) => "sign_out",
        }
    }
}

/// What a successful operation yields.
#[derive(Debug, Clone, PartialEq)]
pub enum OpValue {
    /// Nothing (initialize, sign_out).
    Done,
    /// A session, or none.
    Session(Option<Session>),
    /// A user.
    User(User),
    /// A PKCE challenge to send with the authorize or OTP request.
    PkceChallenge {
        /// `BASE64URL(SHA256(verifier))`.
        challenge: String,
        /// Always `s256`.
        method: &'static str,
    },
}

/// The auth events apps listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The first event, once, after initialize.
    InitialSession,
    /// A new session from a sign-in or set_session.
    SignedIn,
    /// A session was removed.
    SignedOut,
    /// The tokens were rotated.
    TokenRefreshed,
    /// The user object changed.
    UserUpdated,
    /// A sign-in from a password-recovery link.
    PasswordRecovery,
}

impl EventKind {
    /// The name auth-js uses (`INITIAL_SESSION`, `SIGNED_IN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::InitialSession => "INITIAL_SESSION",
            EventKind::SignedIn => "SIGNED_IN",
            EventKind::SignedOut => "SIGNED_OUT",
            EventKind::TokenRefreshed => "TOKEN_REFRESHED",
            EventKind::UserUpdated => "USER_UPDATED",
            EventKind::PasswordRecovery => "PASSWORD_RECOVERY",
        }
    }
}

/// Why a session was removed (POLICY.md section 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    /// The user signed out.
    UserSignOut,
    /// `/user` doubted the session and a refresh confirmed it is gone.
    VerifiedRevocation,
    /// `/user` said the session is gone and the `remove` policy is in force.
    RemovedByPolicy,
    /// The refresh token was rejected and the access token had expired.
    RefreshRejectedAtExpiry,
    /// Another process removed the stored session.
    RemovedElsewhere,
}

impl RemovalReason {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::UserSignOut => "user_sign_out",
            RemovalReason::VerifiedRevocation => "verified_revocation",
            RemovalReason::RemovedByPolicy => "removed_by_policy",
            RemovalReason::RefreshRejectedAtExpiry => "refresh_rejected_at_expiry",
            RemovalReason::RemovedElsewhere => "removed_elsewhere",
        }
    }
}

/// An auth event and the session it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthEvent {
    /// Which event.
    pub kind: EventKind,
    /// The session after the event (`None` for SIGNED_OUT or no session).
    pub session: Option<Session>,
    /// INITIAL_SESSION only: the session carried is expired and a refresh is under way.
    pub expired: bool,
    /// SIGNED_OUT only: why.
    pub reason: Option<RemovalReason>,
}

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagnosticKind {
    /// A stored value was no session and was removed.
    InvalidStoredValue,
    /// A storage read failed; nothing was decided from it.
    StorageReadFailed,
    /// A storage write failed; it will be retried.
    StorageWriteFailed,
    /// A storage removal failed; it will be retried.
    StorageRemoveFailed,
    /// The session was removed (see `removal`).
    SessionRemoved,
    /// A refresh failed (the error and the server's headers say how).
    RefreshFailed,
    /// A refresh was rejected while the access token is still valid: it is kept until expiry.
    SessionPreservedUntilExpiry,
    /// A refresh answer arrived for a session that had been removed or replaced: dropped.
    RefreshDiscarded,
    /// Another process stored a session and this machine adopted it.
    AdoptedStoredSession,
    /// The server's clock differs from the device's.
    ClockSkew,
    /// An answer carried the server's diagnostic headers (`sb-auth-session-id`,
    /// `sb-auth-refresh-token-counter`, `x-sb-error-code`, ...), kept in `server_headers`.
    ServerHeaders,
}

/// A report for logs and "why was I logged out" questions. Never carries a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// What happened.
    pub kind: DiagnosticKind,
    /// A readable explanation.
    pub message: String,
    /// For removals: why.
    pub removal: Option<RemovalReason>,
    /// The error behind it, if any.
    pub error: Option<AuthError>,
    /// The server's diagnostic headers (`sb-auth-session-id`, `sb-auth-refresh-token-counter`, ...).
    pub server_headers: Vec<(String, String)>,
}

/// Something the shell must do or deliver, drained with `poll_output`.
///
/// `Debug` never shows a stored value (it holds the tokens): only its length.
#[derive(Clone, PartialEq)]
pub enum Output {
    /// Send a request; answer with `handle_response` or `handle_transport_failure`.
    Http(HttpRequest),
    /// Read a key; answer with `handle_storage_read`.
    StorageRead {
        /// Answer with this id.
        id: StorageOpId,
        /// The key.
        key: String,
        /// Take the store's cross-process lock for `key` before reading, and hold it until
        /// [`Output::StorageUnlock`]: a refresh is about to spend the stored refresh token, and
        /// another process sharing the store must wait for its result instead of spending it too.
        /// Stores without locking ignore this; the lock is re-entrant within one machine.
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
        id: StorageOpId,
        /// The key.
        key: String,
        /// The value (JSON text).
        value: String,
    },
    /// Remove a key; report the outcome with `handle_storage_done`.
    StorageRemove {
        /// Report with this id.
        id: StorageOpId,
        /// The key.
        key: String,
    },
    /// Deliver an event to listeners.
    Event(AuthEvent),
    /// An operation finished.
    Complete {
        /// The operation.
        op: OpId,
        /// Its result.
        result: Result<OpValue, AuthError>,
    },
    /// Something worth logging.
    Diagnostic(Diagnostic),
}

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    /// What went wrong (no secrets).
    pub message: String,
}

impl StorageFailure {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        StorageFailure { message: message.into() }
    }
}

/// The app's state, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Visible and active.
    Foreground,
    /// In the background: no auto refresh.
    Background,
}

/// Network reachability, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// The network is back.
    Online,
    /// The network is gone: background refresh attempts pause.
    Offline,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Http(r) => f.debug_tuple("Http").field(r).finish(),
            Output::StorageRead { id, key, exclusive } => {
                f.debug_struct("StorageRead").field("id", id).field("key", key).field("exclusive", exclusive).finish()
            }
            Output::StorageWrite { id, key, value } => f
                .debug_struct("StorageWrite")
                .field("id", id)
                .field("key", key)
                .field("value", &format_args!("<{} bytes>", value.len()))
                .finish(),
            Output::StorageRemove { id, key } => {
                f.debug_struct("StorageRemove").field("id", id).field("key", key).finish()
            }
            Output::StorageUnlock { key } => f.debug_struct("StorageUnlock").field("key", key).finish(),
            Output::Event(e) => f.debug_tuple("Event").field(e).finish(),
            Output::Complete { op, result } => {
                f.debug_struct("Complete").field("op", op).field("result", result).finish()
            }
            Output::Diagnostic(d) => f.debug_tuple("Diagnostic").field(d).finish(),
        }
    }
}
