//! The shells' configuration, turned into the core's.

use gotrue_session::retry::RetryPolicy;
use gotrue_session::{Config, SessionNotFoundPolicy, VerifyCooldown};
use std::time::Duration;

/// How a shell's client is set up. `ClientOptions::new(url, anon_key)` gives auth-js's defaults.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The auth URL, e.g. `https://<ref>.supabase.co/auth/v1`.
    pub auth_url: String,
    /// The project's anon (publishable) key.
    pub anon_key: String,
    /// The storage key; default `sb-<ref>-auth-token` from the URL.
    pub storage_key: String,
    /// Refresh before expiry in the background (default on).
    pub auto_refresh: bool,
    /// Keep the session in storage (default on).
    pub persist_session: bool,
    /// What a `/user` suspicion leads to (default `Verify`).
    pub session_not_found: SessionNotFoundPolicy,
    /// Spread refresh retries with full jitter (default on).
    pub jitter: bool,
    /// How long one HTTP request may take, connect to last byte (default 10 s).
    pub request_timeout: Duration,
    /// The refresh retry schedule (default auth-js's: 200 ms doubling within 30 s, then a
    /// 60 s cooldown).
    pub retry: RetryPolicy,
    /// At most one verify refresh per this long (default 30 s; docs/policy.md, section 5): after
    /// a verify refresh that succeeded, a `/user` suspicion (403 `session_not_found` and the
    /// like) that comes sooner is answered `session_unconfirmed` at once, without another
    /// refresh; the first one after it verifies again, so a session revoked meanwhile is still
    /// found out and removed. A [`VerifyCooldown`] is valid by construction: build it with
    /// [`VerifyCooldown::from_duration`] (longer than 10 minutes is an error; `Duration::ZERO`
    /// turns the cooldown off) or [`VerifyCooldown::from_ms`].
    ///
    /// ```
    /// # use gotrue_session::VerifyCooldown;
    /// # use gotrue_session_io::ClientOptions;
    /// # use std::time::Duration;
    /// let mut options = ClientOptions::new("https://abcd.supabase.co", "<anon key>");
    /// options.verify_cooldown = VerifyCooldown::from_duration(Duration::from_secs(5))?;
    /// assert!(VerifyCooldown::from_duration(Duration::from_secs(3_600)).is_err());
    /// # Ok::<(), gotrue_session::ConfigError>(())
    /// ```
    pub verify_cooldown: VerifyCooldown,
}

impl ClientOptions {
    /// Options for a project: `auth_url` is the project URL with `/auth/v1`, or the project URL
    /// itself (then `/auth/v1` is added).
    pub fn new(auth_url: impl Into<String>, anon_key: impl Into<String>) -> Self {
        let mut auth_url: String = auth_url.into();
        let trimmed = auth_url.trim_end_matches('/').to_owned();
        auth_url = if trimmed.ends_with("/auth/v1") { trimmed } else { format!("{trimmed}/auth/v1") };
        ClientOptions {
            storage_key: Config::default_storage_key(&auth_url),
            auth_url,
            anon_key: anon_key.into(),
            auto_refresh: true,
            persist_session: true,
            session_not_found: SessionNotFoundPolicy::Verify,
            jitter: true,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            verify_cooldown: VerifyCooldown::DEFAULT,
        }
    }

    /// A machine for these options, its retry jitter seeded from the operating system.
    pub fn new_machine(&self) -> gotrue_session::SessionMachine {
        let mut machine = gotrue_session::SessionMachine::new(self.core_config());
        machine.seed_jitter(crate::jitter_seed());
        machine
    }

    /// The built-in transport, with these options' request timeout.
    #[cfg(feature = "ureq")]
    pub fn default_transport(&self) -> std::sync::Arc<dyn crate::Transport> {
        std::sync::Arc::new(crate::UreqTransport::new(self.request_timeout))
    }

    /// The core's configuration.
    pub fn core_config(&self) -> Config {
        let mut cfg = Config::new(self.storage_key.clone(), self.anon_key.clone());
        cfg.auto_refresh = self.auto_refresh;
        cfg.persist_session = self.persist_session;
        cfg.session_not_found = self.session_not_found;
        cfg.jitter = self.jitter;
        cfg.retry = self.retry;
        cfg.verify_cooldown = self.verify_cooldown;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_url_and_storage_key() {
        let o = ClientOptions::new("https://abcd.supabase.co", "k");
        assert_eq!(o.auth_url, "https://abcd.supabase.co/auth/v1");
        assert_eq!(o.storage_key, "sb-abcd-auth-token");
        let o = ClientOptions::new("http://127.0.0.1:9999/auth/v1/", "k");
        assert_eq!(o.auth_url, "http://127.0.0.1:9999/auth/v1");
        assert_eq!(o.storage_key, "sb-127-auth-token");
    }

    #[test]
    fn verify_cooldown_reaches_the_core_config() {
        let mut o = ClientOptions::new("https://abcd.supabase.co", "k");
        assert_eq!(o.verify_cooldown, VerifyCooldown::DEFAULT);
        assert_eq!(o.core_config().verify_cooldown, VerifyCooldown::DEFAULT);
        o.verify_cooldown = VerifyCooldown::from_duration(Duration::ZERO).expect("0 turns the cooldown off");
        assert_eq!(o.core_config().verify_cooldown, VerifyCooldown::NONE);
        o.verify_cooldown = VerifyCooldown::from_duration(Duration::from_millis(250)).expect("a short cooldown");
        let err = VerifyCooldown::from_duration(Duration::from_millis(600_001)).expect_err("over 10 minutes");
        assert_eq!(err.to_string(), "verify_cooldown must be between 0 (no cooldown) and 600000 ms, got 600001 ms");
        assert!(VerifyCooldown::from_duration(Duration::MAX).is_err());
        // A rejected value never reaches the options.
        assert_eq!(o.core_config().verify_cooldown.as_ms(), 250);
        o.verify_cooldown = VerifyCooldown::from_ms(600_000).expect("the maximum");
        assert_eq!(o.core_config().verify_cooldown.as_ms(), 600_000);
    }
}
