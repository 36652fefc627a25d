//! Configuration, with the defaults auth-js uses.

/// What `GET /user` answering `session_not_found` (or a like suspicion) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionNotFoundPolicy {
    /// Refresh at once to find out: a dead refresh removes the session, a live one keeps it.
    #[default]
    Verify,
    /// Remove the session at once (what auth-js does).
    Remove,
    /// Keep the session, return the error and let the next refresh decide.
    Defer,
}

/// How long after a verify refresh that succeeded a new `/user` suspicion is answered
/// `session_unconfirmed` at once, without another refresh (POLICY.md section 5).
///
/// The cooldown keeps a server whose `/user` keeps doubting a live session from making the client
/// rotate tokens in a loop; it ends soon enough that a session revoked meanwhile is still found
/// out by the next `get_user`. Only valid values can be built: 0 (no cooldown: every suspicion
/// verifies) up to [`VerifyCooldown::MAX_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyCooldown(u64);

impl VerifyCooldown {
    /// The default: 30 s.
    pub const DEFAULT: VerifyCooldown = VerifyCooldown(30_000);
    /// No cooldown: every suspicion is verified with a refresh.
    pub const NONE: VerifyCooldown = VerifyCooldown(0);
    /// The longest cooldown accepted: 10 minutes. A longer one would let a revoked session
    /// linger for a large part of an access token's life (one hour by default), the very
    /// failure verifying exists to prevent.
    pub const MAX_MS: u64 = 600_000;

    /// A cooldown of `ms` milliseconds: negative or longer than [`VerifyCooldown::MAX_MS`] is
    /// an error that says why.
    pub fn from_ms(ms: i64) -> Result<Self, ConfigError> {
        Self::checked(ms.into())
    }

    /// A cooldown given as a [`std::time::Duration`], to the millisecond (never negative; too
    /// long is an error).
    pub fn from_duration(d: std::time::Duration) -> Result<Self, ConfigError> {
        Self::checked(i128::try_from(d.as_millis()).unwrap_or(i128::MAX))
    }

    /// The one range check: the error carries the value as given, whatever its type's range.
    fn checked(ms: i128) -> Result<Self, ConfigError> {
        match u64::try_from(ms) {
            Ok(ms) if ms <= Self::MAX_MS => Ok(VerifyCooldown(ms)),
            _ => Err(ConfigError::VerifyCooldown { ms }),
        }
    }

    /// The cooldown in milliseconds.
    pub fn as_ms(self) -> u64 {
        self.0
    }
}

impl Default for VerifyCooldown {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `verify_cooldown` is negative or absurdly long.
    #[error(
        "verify_cooldown must be between 0 (no cooldown) and {max} ms, got {ms} ms",
        max = VerifyCooldown::MAX_MS
    )]
    VerifyCooldown {
        /// The value given, in ms.
        ms: i128,
    },
}

/// How one machine behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The storage key holding the session (`sb-<project-ref>-auth-token`).
    pub storage_key: String,
    /// The project's anon (publishable) key, sent as `apikey`.
    pub api_key: String,
    /// How long before expiry a session counts as due, in ms (auth-js: 90 s).
    pub margin_ms: u64,
    /// Refresh automatically before expiry.
    pub auto_refresh: bool,
    /// Keep the session in storage (off: memory only, no storage reads or writes).
    pub persist_session: bool,
    /// Spread retries with full jitter (the shell passes entropy); off in replays.
    pub jitter: bool,
    /// What a `/user` suspicion leads to.
    pub session_not_found: SessionNotFoundPolicy,
    /// Sent as `X-Client-Info`.
    pub client_info: String,
    /// The refresh retry schedule (auth-js's by default).
    pub retry: crate::retry::RetryPolicy,
    /// At most one verify refresh per this long (default 30 s).
    pub verify_cooldown: VerifyCooldown,
}

impl Config {
    /// The defaults for a storage key and API key: 90 s margin, auto refresh on, sessions
    /// persisted, jitter on, the `verify` policy with a 30 s verify cooldown, auth-js's retry
    /// schedule.
    pub fn new(storage_key: impl Into<String>, api_key: impl Into<String>) -> Self {
        Config {
            storage_key: storage_key.into(),
            api_key: api_key.into(),
            margin_ms: 90_000,
            auto_refresh: true,
            persist_session: true,
            jitter: true,
            session_not_found: SessionNotFoundPolicy::Verify,
            client_info: concat!("gotrue-session/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: crate::retry::RetryPolicy::default(),
            verify_cooldown: VerifyCooldown::DEFAULT,
        }
    }

    /// The storage key auth-js derives from a project URL such as `https://abcd.supabase.co`:
    /// `sb-abcd-auth-token`.
    pub fn default_storage_key(project_url: &str) -> String {
        let host = project_url.split("://").nth(1).unwrap_or(project_url);
        let reference = host.split(['.', ':', '/']).next().unwrap_or(host);
        format!("sb-{reference}-auth-token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_key_from_project_url() {
        assert_eq!(Config::default_storage_key("https://abcd.supabase.co"), "sb-abcd-auth-token");
        assert_eq!(Config::default_storage_key("http://localhost:54321"), "sb-localhost-auth-token");
    }

    #[test]
    fn verify_cooldown_is_validated() {
        assert_eq!(Config::new("k", "a").verify_cooldown.as_ms(), 30_000);
        assert_eq!(VerifyCooldown::from_ms(0), Ok(VerifyCooldown::NONE));
        assert_eq!(VerifyCooldown::from_ms(600_000).map(VerifyCooldown::as_ms), Ok(600_000));
        let negative = VerifyCooldown::from_ms(-1).unwrap_err();
        assert_eq!(negative.to_string(), "verify_cooldown must be between 0 (no cooldown) and 600000 ms, got -1 ms");
        assert!(VerifyCooldown::from_ms(600_001).is_err());
        assert!(VerifyCooldown::from_ms(i64::MAX).is_err());
        assert!(VerifyCooldown::from_ms(i64::MIN).is_err());
        use std::time::Duration;
        assert_eq!(VerifyCooldown::from_duration(Duration::from_secs(5)).map(VerifyCooldown::as_ms), Ok(5_000));
        assert!(VerifyCooldown::from_duration(Duration::from_secs(601)).is_err());
        assert!(VerifyCooldown::from_duration(Duration::MAX).is_err());
        assert_eq!(VerifyCooldown::from_duration(Duration::from_micros(1_500)).map(VerifyCooldown::as_ms), Ok(1));
    }
}
