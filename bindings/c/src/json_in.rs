//! JSON arguments: the configuration, commands and response headers.
//!
//! Fields are read by hand rather than with serde's derive, so that an error message names the
//! field that is wrong and never quotes the value (a password, a token).

use crate::boundary::Failure;
use crate::GsErrorCode;
use gotrue_session::retry::RetryPolicy;
use gotrue_session::{Command, Config, OtpRecipient, SessionNotFoundPolicy, SignOutScope, VerifyCooldown};
use serde_json::{Map, Value};

/// Parses JSON text into an object; `what` names the argument in messages.
fn object(json: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Failure::invalid(format!("`{what}` must be a JSON object"))),
        // serde_json's syntax errors say where, never what: safe to pass on.
        Err(e) => Err(Failure::new(GsErrorCode::InvalidJson, format!("`{what}` is not JSON: {e}"))),
    }
}

/// An object's fields, each taken at most once; whatever is left over is an unknown field.
struct Fields {
    map: Map<String, Value>,
    context: String,
}

impl Fields {
    fn new(map: Map<String, Value>, context: impl Into<String>) -> Self {
        Fields { map, context: context.into() }
    }

    fn wrong(&self, key: &str, want: &str) -> Failure {
        Failure::invalid(format!("{}: `{key}` must be {want}", self.context))
    }

    /// A field that is absent or null: `None`.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn opt_string(&mut self, key: &str) -> Result<Option<String>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn string(&mut self, key: &str) -> Result<String, Failure> {
        self.opt_string(key)?.ok_or_else(|| self.wrong(key, "a string"))
    }

    fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.wrong(key, "true or false")),
        }
    }

    fn opt_u64(&mut self, key: &str) -> Result<Option<u64>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.wrong(key, "a whole number >= 0")),
        }
    }

    /// A verify cooldown in ms, checked by the core's own rule ([`VerifyCooldown::from_ms`]).
    /// A wrong type and a value out of range get the same message, which gives the range: the
    /// caller learns what to pass either way, and the value is never quoted.
    fn verify_cooldown(&mut self, key: &str) -> Result<Option<VerifyCooldown>, Failure> {
        let Some(v) = self.take(key) else { return Ok(None) };
        // A whole number too large for i64 is out of range, not of the wrong type.
        let ms = v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX));
        match ms.map(VerifyCooldown::from_ms) {
            Some(Ok(c)) => Ok(Some(c)),
            _ => {
                Err(self
                    .wrong(key, &format!("a whole number of ms from 0 (no cooldown) to {}", VerifyCooldown::MAX_MS)))
            }
        }
    }

    /// Fails on the first field nobody took.
    fn finish(self) -> Result<(), Failure> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(Failure::invalid(format!("{}: unknown field `{k}`", self.context))),
        }
    }
}

/// A machine's configuration and the jitter seed, if one was given.
pub(crate) fn config(json: &str) -> Result<(Config, Option<u64>), Failure> {
    let mut f = Fields::new(object(json, "config_json")?, "config");
    let mut cfg = Config::new(f.string("storage_key")?, f.string("api_key")?);
    if let Some(v) = f.opt_u64("margin_ms")? {
        cfg.margin_ms = v;
    }
    if let Some(v) = f.opt_bool("auto_refresh")? {
        cfg.auto_refresh = v;
    }
    if let Some(v) = f.opt_bool("persist_session")? {
        cfg.persist_session = v;
    }
    if let Some(v) = f.opt_bool("jitter")? {
        cfg.jitter = v;
    }
    let seed = f.opt_u64("jitter_seed")?;
    if let Some(v) = f.opt_string("session_not_found")? {
        cfg.session_not_found = match v.as_str() {
            "verify" => SessionNotFoundPolicy::Verify,
            "remove" => SessionNotFoundPolicy::Remove,
            "defer" => SessionNotFoundPolicy::Defer,
            _ => return Err(f.wrong("session_not_found", "\"verify\", \"remove\" or \"defer\"")),
        };
    }
    if let Some(v) = f.verify_cooldown("verify_cooldown_ms")? {
        cfg.verify_cooldown = v;
    }
    if let Some(v) = f.opt_string("client_info")? {
        cfg.client_info = v;
    }
    match f.take("retry") {
        None => {}
        Some(Value::Object(m)) => cfg.retry = retry(m)?,
        Some(_) => return Err(f.wrong("retry", "an object")),
    }
    f.finish()?;
    Ok((cfg, seed))
}

fn retry(map: Map<String, Value>) -> Result<RetryPolicy, Failure> {
    let mut f = Fields::new(map, "config.retry");
    let mut p = RetryPolicy::default();
    if let Some(v) = f.opt_u64("base_delay_ms")? {
        p.base_delay_ms = v;
    }
    if let Some(v) = f.opt_u64("burst_window_ms")? {
        p.burst_window_ms = v;
    }
    if let Some(v) = f.opt_u64("cooldown_ms")? {
        p.cooldown_ms = v;
    }
    f.finish()?;
    Ok(p)
}

/// A command, spelled as a scenario file's `call` step: `{"call": NAME, ...arguments}`.
pub(crate) fn command(json: &str) -> Result<Command, Failure> {
    let mut map = object(json, "command_json")?;
    let name = match map.remove("call") {
        Some(Value::String(s)) => s,
        _ => return Err(Failure::invalid("command: `call` must be a string naming the operation")),
    };
    let mut f = Fields::new(map, format!("command {name:?}"));
    let cmd = match name.as_str() {
        "initialize" => Command::Initialize,
        "get_session" => Command::GetSession,
        "get_user" => Command::GetUser,
        "get_user_with_jwt" => Command::GetUserWithJwt { jwt: f.string("jwt")? },
        "refresh_session" => Command::RefreshSession,
        "set_session" => {
            Command::SetSession { access_token: f.string("access_token")?, refresh_token: f.string("refresh_token")? }
        }
        "sign_out" => Command::SignOut(match f.opt_string("scope")?.as_deref() {
            None | Some("global") => SignOutScope::Global,
            Some("local") => SignOutScope::Local,
            Some("others") => SignOutScope::Others,
            Some(_) => return Err(f.wrong("scope", "\"global\", \"local\" or \"others\"")),
        }),
        "sign_in_with_password" => Command::SignInWithPassword {
            email: f.opt_string("email")?,
            phone: f.opt_string("phone")?,
            password: f.string("password")?,
        },
        "sign_in_with_id_token" => Command::SignInWithIdToken {
            provider: f.string("provider")?,
            token: f.string("token")?,
            nonce: f.opt_string("nonce")?,
            access_token: f.opt_string("access_token")?,
        },
        // Present (even null) is passed on as given, as the replay command does.
        "sign_in_anonymously" => Command::SignInAnonymously { data: f.map.remove("data") },
        "verify_otp" => {
            let recipient = match (f.opt_string("email")?, f.opt_string("phone")?) {
                (Some(e), _) => OtpRecipient::Email(e),
                (None, Some(p)) => OtpRecipient::Phone(p),
                (None, None) => OtpRecipient::TokenHash,
            };
            Command::VerifyOtp {
                recipient,
                token: f.string("token")?,
                otp_type: f.opt_string("type")?.unwrap_or_else(|| "email".into()),
            }
        }
        "exchange_code" => Command::ExchangeCode { auth_code: f.string("auth_code")? },
        "start_pkce" => {
            return Err(Failure::invalid("command \"start_pkce\" takes bytes: call gs_machine_start_pkce instead"));
        }
        "start_auto_refresh" | "stop_auto_refresh" | "lifecycle" | "network" => {
            return Err(Failure::invalid(format!(
                "command {name:?} is not an operation: call gs_machine_set_auto_refresh, \
                 gs_machine_handle_lifecycle or gs_machine_handle_network"
            )));
        }
        _ => return Err(Failure::invalid(format!("unknown command {name:?}"))),
    };
    f.finish()?;
    Ok(cmd)
}

/// Response headers: an object `{"name": "value"}` or an array of `["name", "value"]` pairs
/// (which keeps repeated headers); `None` (a NULL pointer) is no headers.
pub(crate) fn headers(json: Option<&str>) -> Result<Vec<(String, String)>, Failure> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Failure::new(GsErrorCode::InvalidJson, format!("`headers_json` is not JSON: {e}")))?;
    let wrong =
        || Failure::invalid("`headers_json` must be {\"name\": \"value\", ...} or [[\"name\", \"value\"], ...]");
    match value {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(wrong()),
            })
            .collect(),
        Value::Array(pairs) => pairs
            .into_iter()
            .map(|p| match p {
                Value::Array(kv) => match <[Value; 2]>::try_from(kv) {
                    Ok([Value::String(k), Value::String(v)]) => Ok((k, v)),
                    _ => Err(wrong()),
                },
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_overrides() {
        let (c, seed) = config(r#"{"storage_key":"k","api_key":"a"}"#).unwrap();
        assert_eq!(c, Config::new("k", "a"));
        assert_eq!(seed, None);
        let (c, seed) = config(
            r#"{"storage_key":"k","api_key":"a","auto_refresh":false,"persist_session":false,"jitter":false,
                "jitter_seed":7,"session_not_found":"defer","margin_ms":5,"client_info":"x",
                "retry":{"base_delay_ms":1,"burst_window_ms":2,"cooldown_ms":3}}"#,
        )
        .unwrap();
        assert!(!c.auto_refresh && !c.persist_session && !c.jitter);
        assert_eq!(seed, Some(7));
        assert_eq!(c.session_not_found, SessionNotFoundPolicy::Defer);
        assert_eq!((c.margin_ms, c.client_info.as_str()), (5, "x"));
        assert_eq!(c.retry, RetryPolicy { base_delay_ms: 1, burst_window_ms: 2, cooldown_ms: 3 });
    }

    #[test]
    fn verify_cooldown_in_range_is_taken() {
        let cooldown = |json: &str| config(json).map(|(c, _)| c.verify_cooldown.as_ms());
        assert_eq!(cooldown(r#"{"storage_key":"k","api_key":"a"}"#), Ok(30_000));
        assert_eq!(cooldown(r#"{"storage_key":"k","api_key":"a","verify_cooldown_ms":null}"#), Ok(30_000));
        assert_eq!(cooldown(r#"{"storage_key":"k","api_key":"a","verify_cooldown_ms":0}"#), Ok(0));
        assert_eq!(cooldown(r#"{"storage_key":"k","api_key":"a","verify_cooldown_ms":5000}"#), Ok(5_000));
        assert_eq!(cooldown(r#"{"storage_key":"k","api_key":"a","verify_cooldown_ms":600000}"#), Ok(600_000));
    }

    #[test]
    fn verify_cooldown_out_of_range_or_of_the_wrong_type_names_field_and_range() {
        let want = "config: `verify_cooldown_ms` must be a whole number of ms from 0 (no cooldown) to 600000";
        for bad in ["-1", "600001", "18446744073709551615", "-9223372036854775808", "1.5", "\"30000\"", "true", "[]"] {
            let json = format!(r#"{{"storage_key":"k","api_key":"a","verify_cooldown_ms":{bad}}}"#);
            let e = config(&json).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (GsErrorCode::InvalidArgument, want), "{bad}");
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = config(r#"{"storage_key":"k"}"#).unwrap_err();
        assert_eq!(e.code, GsErrorCode::InvalidArgument);
        assert!(e.message.contains("`api_key`"), "{}", e.message);
        let e = config(r#"{"storage_key":"k","api_key":"a","margin":1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `margin`"), "{}", e.message);
        let e = config(r#"{"storage_key":"k","api_key":"a","retry":{"cool":1}}"#).unwrap_err();
        assert!(e.message.contains("unknown field `cool`"), "{}", e.message);
        assert_eq!(config("{").unwrap_err().code, GsErrorCode::InvalidJson);
        assert_eq!(config("[]").unwrap_err().code, GsErrorCode::InvalidArgument);
    }

    #[test]
    fn commands_as_scenario_steps_spell_them() {
        assert_eq!(command(r#"{"call":"get_session"}"#).unwrap(), Command::GetSession);
        assert_eq!(command(r#"{"call":"sign_out"}"#).unwrap(), Command::SignOut(SignOutScope::Global));
        assert_eq!(command(r#"{"call":"sign_out","scope":"others"}"#).unwrap(), Command::SignOut(SignOutScope::Others));
        assert_eq!(
            command(r#"{"call":"verify_otp","token":"t"}"#).unwrap(),
            Command::VerifyOtp { recipient: OtpRecipient::TokenHash, token: "t".into(), otp_type: "email".into() }
        );
        assert_eq!(
            command(r#"{"call":"sign_in_anonymously","data":{"a":1}}"#).unwrap(),
            Command::SignInAnonymously { data: Some(serde_json::json!({"a": 1})) }
        );
    }

    #[test]
    fn command_errors_never_quote_values() {
        let e = command(r#"{"call":"sign_in_with_password","email":"e","password":12345678}"#).unwrap_err();
        assert!(e.message.contains("`password`") && !e.message.contains("12345678"), "{}", e.message);
        let e = command(r#"{"call":"get_session","extra":"secret"}"#).unwrap_err();
        assert!(e.message.contains("unknown field `extra`") && !e.message.contains("secret"), "{}", e.message);
        assert!(command(r#"{"call":"nope"}"#).is_err());
        assert!(command(r#"{"call":"start_pkce"}"#).unwrap_err().message.contains("gs_machine_start_pkce"));
        assert!(command(r#"{"nocall":1}"#).is_err());
    }

    #[test]
    fn headers_as_object_or_pairs() {
        assert_eq!(headers(None).unwrap(), vec![]);
        let want = vec![("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())];
        assert_eq!(headers(Some(r#"{"a":"1","b":"2"}"#)).unwrap(), want);
        assert_eq!(headers(Some(r#"[["a","1"],["b","2"]]"#)).unwrap(), want);
        assert!(headers(Some(r#"[["a"]]"#)).is_err());
        assert!(headers(Some(r#"{"a":1}"#)).is_err());
    }
}
