//! Scenario files, read strictly: a garbage file gets an error naming the problem.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The default scenario clock: 2026-01-01T00:00:00Z.
pub const DEFAULT_START_MS: u64 = 1_767_225_600_000;

/// A scenario: options, starting storage, scripted server, steps and expectations.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    /// The wall clock at the start, Unix ms.
    #[serde(default = "default_start")]
    pub start_ms: u64,
    /// Client options.
    #[serde(default)]
    pub options: Options,
    /// What storage holds at the start.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
    /// One answer queue per route, `"METHOD /path"`.
    #[serde(default)]
    pub server: BTreeMap<String, Vec<Answer>>,
    /// Windows (ms after the start) during which every request fails.
    #[serde(default)]
    pub offline_ms: Vec<(u64, u64)>,
    /// The script.
    pub steps: Vec<Map<String, Value>>,
    /// What the replay must show.
    #[serde(default)]
    pub expect: Option<Expect>,
}

fn default_start() -> u64 {
    DEFAULT_START_MS
}

/// Client options (unknown ones are an error).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The storage key.
    #[serde(default = "default_key")]
    pub storage_key: String,
    /// Auto refresh on or off.
    #[serde(default)]
    pub auto_refresh_token: bool,
    /// Persist the session in storage.
    #[serde(default = "yes")]
    pub persist_session: bool,
    /// A server-side client. Accepted for the shared format; it changes nothing here, since the
    /// core never assumes a browser.
    #[serde(default)]
    #[allow(dead_code)]
    pub is_server: bool,
    /// This project's extension: `verify` (default), `remove` or `defer`.
    #[serde(default)]
    pub session_not_found: Option<String>,
    /// This project's extension: the verify cooldown in ms (POLICY.md section 5; default 30 000,
    /// 0 turns it off).
    #[serde(default)]
    pub verify_cooldown_ms: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            storage_key: default_key(),
            auto_refresh_token: false,
            persist_session: true,
            is_server: false,
            session_not_found: None,
            verify_cooldown_ms: None,
        }
    }
}

fn default_key() -> String {
    "sb-test-auth-token".to_owned()
}

fn yes() -> bool {
    true
}

/// One scripted answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// A body sent as is.
    #[serde(default)]
    pub raw_body: Option<String>,
    /// Hold the answer back this long.
    #[serde(default)]
    pub delay_ms: u64,
    /// The connection fails.
    #[serde(default)]
    pub network_error: bool,
}

/// Expectations (each optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// All event names, in order.
    pub events: Option<Vec<String>>,
    /// Every request, `METHOD /path?query`, in order.
    pub requests: Option<Vec<String>>,
    /// Results by call step.
    pub results: Option<BTreeMap<String, String>>,
    /// The final store, key to tag.
    pub storage: Option<BTreeMap<String, String>>,
    /// Events that must not occur.
    pub never: Option<Vec<String>>,
    /// The last event.
    pub last_event: Option<String>,
    /// The tag of the session INITIAL_SESSION carries.
    pub initial_session: Option<String>,
}

/// Reads and checks a scenario file.
pub fn load(text: &str) -> Result<Scenario, String> {
    let sc: Scenario = serde_json::from_str(text).map_err(|e| format!("not a scenario: {e}"))?;
    for route in sc.server.keys() {
        let ok = route
            .split_once(' ')
            .is_some_and(|(m, p)| matches!(m, "GET" | "POST" | "PUT" | "DELETE") && p.starts_with('/'));
        if !ok {
            return Err(format!("server route {route:?} is not \"METHOD /path\""));
        }
    }
    for (i, (from, to)) in sc.offline_ms.iter().enumerate() {
        if from > to {
            return Err(format!("offline_ms window {i} ends before it starts"));
        }
    }
    if let Some(p) = &sc.options.session_not_found {
        if !matches!(p.as_str(), "verify" | "remove" | "defer") {
            return Err(format!("options.session_not_found must be verify, remove or defer, not {p:?}"));
        }
    }
    Ok(sc)
}
