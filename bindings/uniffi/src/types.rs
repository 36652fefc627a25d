//! Records and enums that cross the boundary, and their conversions from the core's types.
//!
//! Every conversion here is a plain copy: no decision is made in this crate.

use gotrue_session as core;

/// A name and a value: an HTTP header or a query parameter, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NameValue {
    /// The name.
    pub name: String,
    /// The value (query values are not yet percent-encoded).
    pub value: String,
}

fn pairs(list: &[(String, String)]) -> Vec<NameValue> {
    list.iter().map(|(name, value)| NameValue { name: name.clone(), value: value.clone() }).collect()
}

/// A signed-in user. The typed fields are the ones every app needs; `json` is the whole user
/// object as the server sent it (metadata, identities, factors, ...).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct User {
    /// The user's id (a UUID).
    pub id: String,
    /// Email address, if any.
    pub email: Option<String>,
    /// Phone number, if any.
    pub phone: Option<String>,
    /// Whether this is an anonymous user, when the server said.
    pub is_anonymous: Option<bool>,
    /// The whole user object, as JSON text.
    pub json: String,
}

impl From<&core::User> for User {
    fn from(u: &core::User) -> Self {
        User {
            id: u.id.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            is_anonymous: u.is_anonymous,
            json: serde_json::to_string(u).unwrap_or_default(),
        }
    }
}

/// A session: the tokens, when the access token expires, and the user.
///
/// `json` is the session in the form auth-js stores it (provider tokens and every other field
/// included), the same text the client writes to storage.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Session {
    /// The access token (a JWT).
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds, as the server said when it issued it.
    pub expires_in: Option<i64>,
    /// Expiry of the access token, Unix seconds.
    pub expires_at: i64,
    /// The user, when known.
    pub user: Option<User>,
    /// The whole session as JSON text (auth-js's stored form).
    pub json: String,
}

impl std::fmt::Debug for Session {
    // Tokens stay out of logs, as in the core.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user.as_ref().map(|u| &u.id))
            .finish_non_exhaustive()
    }
}

impl From<&core::Session> for Session {
    fn from(s: &core::Session) -> Self {
        Session {
            access_token: s.access_token.clone(),
            refresh_token: s.refresh_token.clone(),
            token_type: s.token_type.clone(),
            expires_in: s.expires_in,
            expires_at: s.expires_at,
            user: s.user.as_deref().map(User::from),
            json: core::storage::serialize_session(s),
        }
    }
}

/// The scope of a sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SignOutScope {
    /// This device only: the session is removed even offline.
    Local,
    /// Every session of the user.
    Global,
    /// Every other session of the user; this one stays.
    Others,
}

impl From<SignOutScope> for core::SignOutScope {
    fn from(s: SignOutScope) -> Self {
        match s {
            SignOutScope::Local => core::SignOutScope::Local,
            SignOutScope::Global => core::SignOutScope::Global,
            SignOutScope::Others => core::SignOutScope::Others,
        }
    }
}

/// Who an OTP was sent to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum OtpRecipient {
    /// An email address.
    Email {
        /// The address.
        email: String,
    },
    /// A phone number.
    Phone {
        /// The number.
        phone: String,
    },
    /// A token hash from an email link (no address needed).
    TokenHash,
}

impl From<OtpRecipient> for core::OtpRecipient {
    fn from(r: OtpRecipient) -> Self {
        match r {
            OtpRecipient::Email { email } => core::OtpRecipient::Email(email),
            OtpRecipient::Phone { phone } => core::OtpRecipient::Phone(phone),
            OtpRecipient::TokenHash => core::OtpRecipient::TokenHash,
        }
    }
}

/// The app's state, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Lifecycle {
    /// Visible and active.
    Foreground,
    /// In the background: no auto refresh.
    Background,
}

impl From<Lifecycle> for core::Lifecycle {
    fn from(l: Lifecycle) -> Self {
        match l {
            Lifecycle::Foreground => core::Lifecycle::Foreground,
            Lifecycle::Background => core::Lifecycle::Background,
        }
    }
}

/// Network reachability, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Reachability {
    /// The network is back.
    Online,
    /// The network is gone: background refresh attempts pause.
    Offline,
}

impl From<Reachability> for core::Reachability {
    fn from(r: Reachability) -> Self {
        match r {
            Reachability::Online => core::Reachability::Online,
            Reachability::Offline => core::Reachability::Offline,
        }
    }
}

/// What a `/user` answer of `session_not_found` (or a like suspicion) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Enum)]
pub enum SessionNotFoundPolicy {
    /// Refresh at once to find out: a dead refresh removes the session, a live one keeps it.
    #[default]
    Verify,
    /// Remove the session at once (what auth-js does).
    Remove,
    /// Keep the session, return the error and let the next refresh decide.
    Defer,
}

impl From<SessionNotFoundPolicy> for core::SessionNotFoundPolicy {
    fn from(p: SessionNotFoundPolicy) -> Self {
        match p {
            SessionNotFoundPolicy::Verify => core::SessionNotFoundPolicy::Verify,
            SessionNotFoundPolicy::Remove => core::SessionNotFoundPolicy::Remove,
            SessionNotFoundPolicy::Defer => core::SessionNotFoundPolicy::Defer,
        }
    }
}

/// The refresh retry schedule. The defaults are auth-js's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RetryPolicy {
    /// The first retry waits this long; each further one twice as long.
    #[uniffi(default = 200)]
    pub base_delay_ms: u64,
    /// A burst keeps retrying while the next attempt starts within this window of the first.
    #[uniffi(default = 30000)]
    pub burst_window_ms: u64,
    /// After a failed burst, the same refresh token is not tried again for this long.
    #[uniffi(default = 60000)]
    pub cooldown_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        core::retry::RetryPolicy::default().into()
    }
}

impl From<core::retry::RetryPolicy> for RetryPolicy {
    fn from(p: core::retry::RetryPolicy) -> Self {
        RetryPolicy { base_delay_ms: p.base_delay_ms, burst_window_ms: p.burst_window_ms, cooldown_ms: p.cooldown_ms }
    }
}

impl From<RetryPolicy> for core::retry::RetryPolicy {
    fn from(p: RetryPolicy) -> Self {
        core::retry::RetryPolicy {
            base_delay_ms: p.base_delay_ms,
            burst_window_ms: p.burst_window_ms,
            cooldown_ms: p.cooldown_ms,
        }
    }
}

/// The auth events apps listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EventKind {
    /// The first event, once, after initialize (and first for every late subscriber).
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

impl From<core::EventKind> for EventKind {
    fn from(k: core::EventKind) -> Self {
        match k {
            core::EventKind::InitialSession => EventKind::InitialSession,
            core::EventKind::SignedIn => EventKind::SignedIn,
            core::EventKind::SignedOut => EventKind::SignedOut,
            core::EventKind::TokenRefreshed => EventKind::TokenRefreshed,
            core::EventKind::UserUpdated => EventKind::UserUpdated,
            core::EventKind::PasswordRecovery => EventKind::PasswordRecovery,
        }
    }
}

/// Why a session was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RemovalReason {
    /// The user signed out.
    UserSignOut,
    /// `/user` doubted the session and a refresh confirmed it is gone.
    VerifiedRevocation,
    /// `/user` said the session is gone and the `Remove` policy is in force.
    RemovedByPolicy,
    /// The refresh token was rejected and the access token had expired.
    RefreshRejectedAtExpiry,
    /// Another process removed the stored session.
    RemovedElsewhere,
}

impl From<core::RemovalReason> for RemovalReason {
    fn from(r: core::RemovalReason) -> Self {
        match r {
            core::RemovalReason::UserSignOut => RemovalReason::UserSignOut,
            core::RemovalReason::VerifiedRevocation => RemovalReason::VerifiedRevocation,
            core::RemovalReason::RemovedByPolicy => RemovalReason::RemovedByPolicy,
            core::RemovalReason::RefreshRejectedAtExpiry => RemovalReason::RefreshRejectedAtExpiry,
            core::RemovalReason::RemovedElsewhere => RemovalReason::RemovedElsewhere,
        }
    }
}

/// An auth event and the session it carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<&core::AuthEvent> for AuthEvent {
    fn from(e: &core::AuthEvent) -> Self {
        AuthEvent {
            kind: e.kind.into(),
            session: e.session.as_ref().map(Session::from),
            expired: e.expired,
            reason: e.reason.map(RemovalReason::from),
        }
    }
}

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
    /// Another process stored a session and this client adopted it.
    AdoptedStoredSession,
    /// The server's clock differs from the device's.
    ClockSkew,
    /// An answer carried the server's diagnostic headers (`sb-auth-session-id`, ...), kept in
    /// `server_headers`.
    ServerHeaders,
}

impl From<core::DiagnosticKind> for DiagnosticKind {
    fn from(k: core::DiagnosticKind) -> Self {
        use core::DiagnosticKind as K;
        match k {
            K::InvalidStoredValue => DiagnosticKind::InvalidStoredValue,
            K::StorageReadFailed => DiagnosticKind::StorageReadFailed,
            K::StorageWriteFailed => DiagnosticKind::StorageWriteFailed,
            K::StorageRemoveFailed => DiagnosticKind::StorageRemoveFailed,
            K::SessionRemoved => DiagnosticKind::SessionRemoved,
            K::RefreshFailed => DiagnosticKind::RefreshFailed,
            K::SessionPreservedUntilExpiry => DiagnosticKind::SessionPreservedUntilExpiry,
            K::RefreshDiscarded => DiagnosticKind::RefreshDiscarded,
            K::AdoptedStoredSession => DiagnosticKind::AdoptedStoredSession,
            K::ClockSkew => DiagnosticKind::ClockSkew,
            K::ServerHeaders => DiagnosticKind::ServerHeaders,
        }
    }
}

/// A report for logs and "why was I logged out" questions. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Diagnostic {
    /// What happened.
    pub kind: DiagnosticKind,
    /// A readable explanation.
    pub message: String,
    /// For removals: why.
    pub removal: Option<RemovalReason>,
    /// The error behind it, if any.
    pub error: Option<crate::AuthError>,
    /// The server's diagnostic headers (`sb-auth-session-id`, ...).
    pub server_headers: Vec<NameValue>,
}

impl From<&core::Diagnostic> for Diagnostic {
    fn from(d: &core::Diagnostic) -> Self {
        Diagnostic {
            kind: d.kind.into(),
            message: d.message.clone(),
            removal: d.removal.map(RemovalReason::from),
            error: d.error.as_ref().map(crate::AuthError::from),
            server_headers: pairs(&d.server_headers),
        }
    }
}

/// GET or POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
}

/// A request to send to the auth server, built completely by the core.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// Answer with this id (the raw machine's `handle_response`); transports can ignore it.
    pub id: u64,
    /// GET or POST.
    pub method: HttpMethod,
    /// The full URL: the auth URL, the path and the percent-encoded query.
    pub url: String,
    /// The path relative to the auth URL, e.g. `/token`.
    pub path: String,
    /// Query parameters, in order (not percent-encoded; `url` has them encoded).
    pub query: Vec<NameValue>,
    /// Every header to send, `Authorization` included.
    pub headers: Vec<NameValue>,
    /// The JSON body, serialized, if any.
    pub body: Option<String>,
}

impl std::fmt::Debug for HttpRequest {
    // Bodies and headers carry secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// The request, with its full URL under `auth_url`.
    pub(crate) fn from_core(r: &core::HttpRequest, auth_url: &str) -> Self {
        HttpRequest {
            id: r.id.0,
            method: match r.method {
                core::Method::Get => HttpMethod::Get,
                core::Method::Post => HttpMethod::Post,
            },
            url: r.url(auth_url),
            path: r.path.clone(),
            query: pairs(&r.query),
            headers: pairs(&r.headers),
            body: r.body.clone(),
        }
    }
}

/// An answer from the auth server (or whatever stands in front of it), whatever its status.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in any case.
    pub headers: Vec<NameValue>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse").field("status", &self.status).finish_non_exhaustive()
    }
}

impl From<HttpResponse> for core::HttpResponse {
    fn from(r: HttpResponse) -> Self {
        core::HttpResponse {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        }
    }
}
