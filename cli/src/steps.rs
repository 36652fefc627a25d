//! Scenario steps, parsed before anything runs so a bad step is reported with its index.

use gotrue_session::{Command, Lifecycle, OtpRecipient, Reachability, SignOutScope};
use serde_json::{Map, Value};

/// What a `call` step asks of the client.
#[derive(Debug, Clone)]
pub enum CallInput {
    /// An operation of the machine.
    Command(Command),
    /// start_auto_refresh / stop_auto_refresh.
    AutoRefresh(bool),
    /// lifecycle.
    Lifecycle(Lifecycle),
    /// network.
    Network(Reachability),
}

/// Which storage operation `storage_fail` breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOp {
    /// Reads.
    Read,
    /// Writes.
    Write,
    /// Removals.
    Remove,
}

impl StorageOp {
    /// `read`, `write` or `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageOp::Read => "read",
            StorageOp::Write => "write",
            StorageOp::Remove => "remove",
        }
    }
}

/// One step of the script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Start a call (its result is printed when it completes).
    Call {
        /// The call's name, as the trace prints it.
        name: String,
        /// What it does.
        input: CallInput,
    },
    /// Move the clock forward.
    Advance(u64),
    /// Another process writes storage.
    StorageSet {
        /// The key.
        key: String,
        /// The raw value.
        value: String,
    },
    /// The next `times` operations of a kind fail.
    StorageFail {
        /// Which kind.
        op: StorageOp,
        /// How many.
        times: u32,
    },
    /// The app is killed.
    Restart,
}

fn text(m: &Map<String, Value>, key: &str) -> Result<String, String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("needs a string `{key}`"))
}

fn opt_text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Parses step `i`.
pub fn parse(i: usize, m: &Map<String, Value>) -> Result<Step, String> {
    let at = |e: String| format!("step {i}: {e}");
    if let Some(name) = m.get("call") {
        let name = name.as_str().ok_or_else(|| at("`call` must be a string".into()))?;
        let input = call(name, m).map_err(|e| at(format!("{name}: {e}")))?;
        return Ok(Step::Call { name: name.to_owned(), input });
    }
    if let Some(v) = m.get("advance_ms") {
        return v.as_u64().map(Step::Advance).ok_or_else(|| at("advance_ms must be a whole number of ms".into()));
    }
    if let Some(v) = m.get("storage_set") {
        let o = v.as_object().ok_or_else(|| at("storage_set must be an object".into()))?;
        return Ok(Step::StorageSet { key: text(o, "key").map_err(at)?, value: text(o, "value").map_err(at)? });
    }
    if let Some(v) = m.get("storage_fail") {
        let o = v.as_object().ok_or_else(|| at("storage_fail must be an object".into()))?;
        let op = match o.get("op").and_then(Value::as_str) {
            Some("read") => StorageOp::Read,
            Some("write") => StorageOp::Write,
            Some("remove") => StorageOp::Remove,
            _ => return Err(at("storage_fail.op must be read, write or remove".into())),
        };
        let times = match o.get("times") {
            None => 1,
            Some(t) => t
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| at("storage_fail.times must be a count".into()))?,
        };
        return Ok(Step::StorageFail { op, times });
    }
    if m.get("restart").is_some() {
        return Ok(Step::Restart);
    }
    Err(at(format!("unknown step {}", Value::Object(m.clone()))))
}

fn call(name: &str, m: &Map<String, Value>) -> Result<CallInput, String> {
    use CallInput::Command as C;
    Ok(match name {
        "initialize" => C(Command::Initialize),
        "get_session" => C(Command::GetSession),
        "get_user" => C(Command::GetUser),
        "get_user_with_jwt" => C(Command::GetUserWithJwt { jwt: text(m, "jwt")? }),
        "refresh_session" => C(Command::RefreshSession),
        "set_session" => {
            C(Command::SetSession { access_token: text(m, "access_token")?, refresh_token: text(m, "refresh_token")? })
        }
        "sign_out" => C(Command::SignOut(match opt_text(m, "scope").as_deref() {
            None | Some("global") => SignOutScope::Global,
            Some("local") => SignOutScope::Local,
            Some("others") => SignOutScope::Others,
            Some(other) => return Err(format!("unknown scope {other:?}")),
        })),
        "sign_in_with_password" => C(Command::SignInWithPassword {
            email: opt_text(m, "email"),
            phone: opt_text(m, "phone"),
            password: text(m, "password")?,
        }),
        "exchange_code" => C(Command::ExchangeCode { auth_code: text(m, "auth_code")? }),
        "sign_in_with_id_token" => C(Command::SignInWithIdToken {
            provider: text(m, "provider")?,
            token: text(m, "token")?,
            nonce: opt_text(m, "nonce"),
            access_token: opt_text(m, "access_token"),
        }),
        "sign_in_anonymously" => C(Command::SignInAnonymously { data: m.get("data").cloned() }),
        "verify_otp" => {
            let recipient = match (opt_text(m, "email"), opt_text(m, "phone")) {
                (Some(e), _) => OtpRecipient::Email(e),
                (None, Some(p)) => OtpRecipient::Phone(p),
                (None, None) => OtpRecipient::TokenHash,
            };
            C(Command::VerifyOtp {
                recipient,
                token: text(m, "token")?,
                otp_type: opt_text(m, "type").unwrap_or_else(|| "email".into()),
            })
        }
        "start_auto_refresh" => CallInput::AutoRefresh(true),
        "stop_auto_refresh" => CallInput::AutoRefresh(false),
        "lifecycle" => CallInput::Lifecycle(match text(m, "state")?.as_str() {
            "foreground" => Lifecycle::Foreground,
            "background" => Lifecycle::Background,
            other => return Err(format!("unknown state {other:?}")),
        }),
        "network" => CallInput::Network(match text(m, "state")?.as_str() {
            "online" => Reachability::Online,
            "offline" => Reachability::Offline,
            other => return Err(format!("unknown state {other:?}")),
        }),
        other => return Err(format!("unknown call {other:?}")),
    })
}
