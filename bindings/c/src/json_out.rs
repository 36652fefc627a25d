//! Outputs as JSON objects, one per output, tagged by `type`. The schema is in the crate docs
//! (and so in the header). Each is written straight to text from typed values; a session is the
//! text the core stores (`storage::serialize_session`), a user the text the server sent.

use gotrue_session::storage::serialize_session;
use gotrue_session::{AuthError, Diagnostic, OpValue, Output, Session, User};
use serde::Serialize;
use serde_json::value::RawValue;

/// Name/value pairs serialize as an array of two-element arrays (keeps order and repeated names).
type Pairs<'a> = &'a [(String, String)];

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    Http {
        id: u64,
        method: &'a str,
        path: &'a str,
        query: Pairs<'a>,
        path_and_query: String,
        headers: Pairs<'a>,
        body: Option<&'a str>,
    },
    StorageRead {
        id: u64,
        key: &'a str,
        exclusive: bool,
    },
    StorageUnlock {
        key: &'a str,
    },
    StorageWrite {
        id: u64,
        key: &'a str,
        value: &'a str,
    },
    StorageRemove {
        id: u64,
        key: &'a str,
    },
    Event {
        kind: &'a str,
        access_token: Option<&'a str>,
        expired: bool,
        reason: Option<&'a str>,
        session: Option<Box<RawValue>>,
    },
    Complete {
        op: u64,
        ok: bool,
        error: Option<ErrorOut<'a>>,
        value: Option<ValueOut<'a>>,
    },
    Diagnostic {
        kind: String,
        message: &'a str,
        removal: Option<&'a str>,
        error: Option<ErrorOut<'a>>,
        server_headers: Pairs<'a>,
    },
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    kind: &'a str,
    status: Option<u16>,
    code: Option<&'a str>,
    message: &'a str,
    retry_after_ms: Option<u64>,
    /// The core's own judgement ([`AuthError::is_retryable`]), so that a C program needs no
    /// list of kinds that a later kind would make stale.
    retryable: bool,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ValueOut<'a> {
    Done,
    Session { access_token: Option<&'a str>, session: Option<Box<RawValue>> },
    User { user_id: &'a str, user: Option<Box<RawValue>> },
    PkceChallenge { challenge: &'a str, method: &'a str },
}

/// JSON text the core has already checked, as a raw value. (Checking it again is the cost of
/// serde's raw values, far below building a tree of it.)
fn raw(text: String) -> Option<Box<RawValue>> {
    RawValue::from_string(text).ok()
}

fn session(s: Option<&Session>) -> Option<Box<RawValue>> {
    s.and_then(|s| raw(serialize_session(s)))
}

fn user(u: &User) -> Option<Box<RawValue>> {
    raw(u.json().to_owned())
}

fn error(e: &AuthError) -> ErrorOut<'_> {
    ErrorOut {
        kind: e.kind.as_str(),
        status: e.status,
        code: e.code.as_deref(),
        message: &e.message,
        retry_after_ms: e.retry_after_ms,
        retryable: e.is_retryable(),
    }
}

fn value(v: &OpValue) -> ValueOut<'_> {
    match v {
        OpValue::Done => ValueOut::Done,
        OpValue::Session(s) => ValueOut::Session {
            access_token: s.as_ref().map(|s| s.access_token.as_str()),
            session: session(s.as_ref()),
        },
        OpValue::User(u) => ValueOut::User { user_id: &u.id, user: user(u) },
        OpValue::PkceChallenge { challenge, method } => ValueOut::PkceChallenge { challenge, method },
    }
}

/// `SessionRemoved` -> `session_removed`: the variant's name in snake case, so a kind the core
/// adds later gets a name without a change here.
fn snake_case(debug_name: &str) -> String {
    let mut out = String::with_capacity(debug_name.len() + 4);
    for (i, c) in debug_name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn diagnostic(d: &Diagnostic) -> Out<'_> {
    Out::Diagnostic {
        kind: snake_case(&format!("{:?}", d.kind)),
        message: &d.message,
        removal: d.removal.map(|r| r.as_str()),
        error: d.error.as_ref().map(error),
        server_headers: &d.server_headers,
    }
}

fn typed(out: &Output) -> Out<'_> {
    match out {
        Output::Http(req) => Out::Http {
            id: req.id.0,
            method: req.method.as_str(),
            path: &req.path,
            query: &req.query,
            path_and_query: req.url(""),
            headers: &req.headers,
            body: req.body.as_deref(),
        },
        Output::StorageRead { id, key, exclusive } => Out::StorageRead { id: id.0, key, exclusive: *exclusive },
        Output::StorageUnlock { key } => Out::StorageUnlock { key },
        Output::StorageWrite { id, key, value } => Out::StorageWrite { id: id.0, key, value },
        Output::StorageRemove { id, key } => Out::StorageRemove { id: id.0, key },
        Output::Event(e) => Out::Event {
            kind: e.kind.as_str(),
            access_token: e.session.as_ref().map(|s| s.access_token.as_str()),
            expired: e.expired,
            reason: e.reason.map(|r| r.as_str()),
            session: session(e.session.as_ref()),
        },
        Output::Complete { op, result } => match result {
            Ok(v) => Out::Complete { op: op.0, ok: true, error: None, value: Some(value(v)) },
            Err(e) => Out::Complete { op: op.0, ok: false, error: Some(error(e)), value: None },
        },
        Output::Diagnostic(d) => diagnostic(d),
    }
}

/// One output as a JSON object's text.
pub(crate) fn output(out: &Output) -> String {
    // Strings, numbers and checked raw JSON: writing them to memory cannot fail.
    serde_json::to_string(&typed(out)).unwrap_or_default()
}

/// Outputs as a JSON array's text.
pub(crate) fn outputs(all: impl Iterator<Item = Output>) -> String {
    let mut text = String::from("[");
    for (i, out) in all.enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&output(&out));
    }
    text.push(']');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use gotrue_session::{ErrorKind, HttpRequest, Method, OpId, RequestId};

    #[test]
    fn keys_keep_their_order() {
        let req = HttpRequest {
            id: RequestId(3),
            method: Method::Post,
            path: "/token".into(),
            query: vec![("grant_type".into(), "refresh_token".into())],
            headers: vec![("apikey".into(), "k".into())],
            body: Some(r#"{"refresh_token":"rt"}"#.into()),
        };
        assert_eq!(
            output(&Output::Http(req)),
            r#"{"type":"http","id":3,"method":"POST","path":"/token","query":[["grant_type","refresh_token"]],"path_and_query":"/token?grant_type=refresh_token","headers":[["apikey","k"]],"body":"{\"refresh_token\":\"rt\"}"}"#
        );
    }

    #[test]
    fn completions() {
        let err = AuthError::new(ErrorKind::Api, "m").with_status(400);
        let out = Output::Complete { op: OpId(9), result: Err(err) };
        assert_eq!(
            output(&out),
            r#"{"type":"complete","op":9,"ok":false,"error":{"kind":"api","status":400,"code":null,"message":"m","retry_after_ms":null,"retryable":false},"value":null}"#
        );
        let out = Output::Complete { op: OpId(1), result: Ok(OpValue::Session(None)) };
        assert_eq!(
            output(&out),
            r#"{"type":"complete","op":1,"ok":true,"error":null,"value":{"kind":"session","access_token":null,"session":null}}"#
        );
    }

    #[test]
    fn session_unconfirmed_is_retryable_and_keeps_status_and_code() {
        let mut err = AuthError::new(ErrorKind::SessionUnconfirmed, "m").with_status(403);
        err.code = Some("session_not_found".into());
        let out = Output::Complete { op: OpId(4), result: Err(err) };
        assert_eq!(
            output(&out),
            r#"{"type":"complete","op":4,"ok":false,"error":{"kind":"session_unconfirmed","status":403,"code":"session_not_found","message":"m","retry_after_ms":null,"retryable":true},"value":null}"#
        );
    }

    /// Documentation text as words, whatever its line breaks and `///` markers.
    fn prose(text: &str) -> String {
        text.split_whitespace().filter(|w| *w != "///").collect::<Vec<_>>().join(" ")
    }

    /// The header (from lib.rs) and the README list every kind and say which are retryable: a
    /// kind the core adds fails here until both name it.
    #[test]
    fn every_error_kind_is_documented() {
        let (lib, readme) = (prose(include_str!("lib.rs")), prose(include_str!("../README.md")));
        for kind in ErrorKind::ALL {
            let err = output(&Output::Complete { op: OpId(1), result: Err(AuthError::new(kind, "m")) });
            let quoted = format!("\"{}\"", kind.as_str());
            assert!(err.contains(&format!("\"kind\":{quoted}")), "{err}");
            assert!(err.contains(&format!("\"retryable\":{}", kind.is_retryable())), "{err}");
            assert!(lib.contains(&quoted), "lib.rs does not list the error kind {quoted}");
            assert!(readme.contains(&format!("`{}`", kind.as_str())), "README.md does not list `{}`", kind.as_str());
        }
        let retryable: Vec<String> =
            ErrorKind::ALL.iter().filter(|k| k.is_retryable()).map(|k| format!("`{}`", k.as_str())).collect();
        let listed = format!("retryable kinds: {}", retryable.join(" and "));
        assert!(lib.contains(&listed), "lib.rs does not say \"{listed}\"");
        assert!(readme.contains(&listed), "README.md does not say \"{listed}\"");
    }

    #[test]
    fn diagnostic_kinds_in_snake_case() {
        assert_eq!(snake_case("SessionPreservedUntilExpiry"), "session_preserved_until_expiry");
        assert_eq!(snake_case("ClockSkew"), "clock_skew");
    }
}
