//! Outputs as JSON objects, one per output, tagged by `type`. The schema is in the crate docs
//! (and so in the header).

use gotrue_session::{AuthError, Diagnostic, OpValue, Output, Session};
use serde_json::{json, Value};

/// Name/value pairs as an array of two-element arrays (keeps order and repeated names).
fn pairs(p: &[(String, String)]) -> Value {
    Value::Array(p.iter().map(|(k, v)| json!([k, v])).collect())
}

fn session(s: Option<&Session>) -> Value {
    // A session is strings, numbers and JSON values: serializing it cannot fail.
    s.and_then(|s| serde_json::to_value(s).ok()).unwrap_or(Value::Null)
}

fn error(e: &AuthError) -> Value {
    json!({
        "kind": e.kind.as_str(),
        "status": e.status,
        "code": e.code,
        "message": e.message,
        "retry_after_ms": e.retry_after_ms,
    })
}

fn value(v: &OpValue) -> Value {
    match v {
        OpValue::Done => json!({ "kind": "done" }),
        OpValue::Session(s) => json!({
            "kind": "session",
            "access_token": s.as_ref().map(|s| s.access_token.as_str()),
            "session": session(s.as_ref()),
        }),
        OpValue::User(u) => json!({
            "kind": "user",
            "user_id": u.id,
            "user": serde_json::to_value(u).unwrap_or(Value::Null),
        }),
        OpValue::PkceChallenge { challenge, method } => {
            json!({ "kind": "pkce_challenge", "challenge": challenge, "method": method })
        }
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

fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "type": "diagnostic",
        "kind": snake_case(&format!("{:?}", d.kind)),
        "message": d.message,
        "removal": d.removal.map(|r| r.as_str()),
        "error": d.error.as_ref().map(error),
        "server_headers": pairs(&d.server_headers),
    })
}

/// One output as a JSON object.
pub(crate) fn output(out: &Output) -> Value {
    match out {
        Output::Http(req) => json!({
            "type": "http",
            "id": req.id.0,
            "method": req.method.as_str(),
            "path": req.path,
            "query": pairs(&req.query),
            "path_and_query": req.url(""),
            "headers": pairs(&req.headers),
            "body": req.body,
        }),
        Output::StorageRead { id, key, exclusive } => {
            json!({ "type": "storage_read", "id": id.0, "key": key, "exclusive": exclusive })
        }
        Output::StorageUnlock { key } => json!({ "type": "storage_unlock", "key": key }),
        Output::StorageWrite { id, key, value } => {
            json!({ "type": "storage_write", "id": id.0, "key": key, "value": value })
        }
        Output::StorageRemove { id, key } => json!({ "type": "storage_remove", "id": id.0, "key": key }),
        Output::Event(e) => json!({
            "type": "event",
            "kind": e.kind.as_str(),
            "access_token": e.session.as_ref().map(|s| s.access_token.as_str()),
            "expired": e.expired,
            "reason": e.reason.map(|r| r.as_str()),
            "session": session(e.session.as_ref()),
        }),
        Output::Complete { op, result } => match result {
            Ok(v) => json!({ "type": "complete", "op": op.0, "ok": true, "error": null, "value": value(v) }),
            Err(e) => json!({ "type": "complete", "op": op.0, "ok": false, "error": error(e), "value": null }),
        },
        Output::Diagnostic(d) => diagnostic(d),
    }
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
            output(&Output::Http(req)).to_string(),
            r#"{"type":"http","id":3,"method":"POST","path":"/token","query":[["grant_type","refresh_token"]],"path_and_query":"/token?grant_type=refresh_token","headers":[["apikey","k"]],"body":"{\"refresh_token\":\"rt\"}"}"#
        );
    }

    #[test]
    fn completions() {
        let err = AuthError::new(ErrorKind::Api, "m").with_status(400);
        let out = Output::Complete { op: OpId(9), result: Err(err) };
        assert_eq!(
            output(&out).to_string(),
            r#"{"type":"complete","op":9,"ok":false,"error":{"kind":"api","status":400,"code":null,"message":"m","retry_after_ms":null},"value":null}"#
        );
        let out = Output::Complete { op: OpId(1), result: Ok(OpValue::Session(None)) };
        assert_eq!(
            output(&out).to_string(),
            r#"{"type":"complete","op":1,"ok":true,"error":null,"value":{"kind":"session","access_token":null,"session":null}}"#
        );
    }

    #[test]
    fn diagnostic_kinds_in_snake_case() {
        assert_eq!(snake_case("SessionPreservedUntilExpiry"), "session_preserved_until_expiry");
        assert_eq!(snake_case("ClockSkew"), "clock_skew");
    }
}
