//! The shells' configuration, turned into the core's.

use gotrue_session::retry::RetryPolicy;
use gotrue_session::{Config, SessionNotFoundPolicy};
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
}
