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
}

impl Config {
    /// The defaults for a storage key and API key: 90 s margin, auto refresh on, sessions
    /// persisted, jitter on, the `verify` policy, auth-js's retry schedule.
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
}
