//! The replay trace's lines, typed, and printed exactly as the scenario format shows them.
//!
//! A replay builds these values and nothing else: no JSON tree, no text. Printing serializes them
//! straight to text; checking expectations reads them as JSON values (`to_value`).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::rc::Rc;

/// One trace line: the step during which it happened, and what happened.
pub struct Line {
    /// The index of the step.
    pub step: usize,
    /// What happened.
    pub body: Body,
}

/// What a trace line records.
pub enum Body {
    /// A request was sent.
    Request(Request),
    /// Storage was written.
    StorageSet(StorageSet),
    /// A storage key was removed.
    StorageRemove {
        /// The key.
        key: String,
        /// Whether it held a value.
        existed: bool,
    },
    /// A storage operation failed (injected).
    StorageError {
        /// `read`, `write` or `remove`.
        op: &'static str,
        /// The key.
        key: String,
    },
    /// An auth event, with the access token of the session it carries.
    Event {
        /// The event's name.
        kind: &'static str,
        /// The access token of its session, if it carries one.
        access_token: Option<String>,
    },
    /// An operation completed.
    Result(CallResult),
    /// The last line: what storage holds at the end, by key (sorted).
    End(Vec<(String, Summary)>),
}

/// A request as the trace shows it.
#[derive(Serialize)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path under the auth URL.
    pub path: String,
    /// The query parameters, in the request's order.
    #[serde(serialize_with = "as_map")]
    pub query: Vec<(String, String)>,
    /// The bearer token, if any.
    pub bearer: Option<String>,
    /// The body: JSON as sent, or text when it is not JSON.
    pub body: Option<RequestBody>,
}

/// A request body.
#[derive(Serialize)]
#[serde(untagged)]
pub enum RequestBody {
    /// Valid JSON, kept as its text.
    Json(Box<RawValue>),
    /// Anything else, as a string.
    Text(String),
}

impl RequestBody {
    /// The body as the trace shows it.
    pub fn new(text: &str) -> RequestBody {
        match serde_json::from_str::<Box<RawValue>>(text) {
            Ok(raw) => RequestBody::Json(raw),
            Err(_) => RequestBody::Text(text.to_owned()),
        }
    }
}

/// A storage write: the key, and the tokens written (none for code-verifier keys).
#[derive(Serialize)]
pub struct StorageSet {
    /// The key.
    pub key: String,
    /// The tokens of the value written (shared with the store's summary of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Rc<Tokens>>,
}

/// The two tokens of a stored value, as JSON values, or the mark of a value that is not JSON.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Tokens {
    /// `{"access_token", "refresh_token"}` (null where absent).
    Found {
        /// The `access_token` field.
        access_token: Value,
        /// The `refresh_token` field.
        refresh_token: Value,
    },
    /// `{"unparsable": true}`.
    Unparsable {
        /// Always true.
        unparsable: bool,
    },
}

impl Tokens {
    /// The tokens of a stored value.
    pub fn of(raw: &str) -> Tokens {
        /// Only the two tokens: serde skips the rest (the user object) without building it.
        #[derive(serde::Deserialize)]
        struct Two {
            #[serde(default)]
            access_token: Value,
            #[serde(default)]
            refresh_token: Value,
        }
        // (Objects only: serde would read the struct from an array too, by position.)
        if raw.trim_start().starts_with('{') {
            if let Ok(t) = serde_json::from_str::<Two>(raw) {
                return Tokens::Found { access_token: t.access_token, refresh_token: t.refresh_token };
            }
        }
        // Not an object with those fields: JSON of another shape has no tokens; non-JSON is
        // unparsable.
        match serde_json::from_str::<Value>(raw) {
            Ok(v) => Tokens::Found {
                access_token: v.get("access_token").cloned().unwrap_or(Value::Null),
                refresh_token: v.get("refresh_token").cloned().unwrap_or(Value::Null),
            },
            Err(_) => Tokens::Unparsable { unparsable: true },
        }
    }
}

/// What the last line shows for a stored key.
#[derive(Clone, Serialize)]
#[serde(untagged)]
pub enum Summary {
    /// A session (or anything else): its tokens.
    Tokens(Rc<Tokens>),
    /// A code verifier: `{"present": true}`, its value never shown.
    Present {
        /// Always true.
        present: bool,
    },
}

/// A completed operation.
#[derive(Serialize)]
pub struct CallResult {
    /// The call's name.
    pub call: String,
    /// The step that made the call.
    pub call_step: usize,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its error, if it failed.
    pub error: Option<ErrorLine>,
    /// For calls that yield a session: its access token (null for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Option<String>>,
    /// For `get_user` and `get_user_with_jwt`: the user's id (null for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Option<String>>,
}

/// A failed operation's error.
#[derive(Serialize)]
pub struct ErrorLine {
    /// The error kind.
    pub kind: &'static str,
    /// The HTTP status behind it, if any.
    pub status: Option<u16>,
    /// The GoTrue error code, if any.
    pub code: Option<String>,
}

impl Serialize for Line {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("step", &self.step)?;
        match &self.body {
            Body::Request(r) => m.serialize_entry("request", r)?,
            Body::StorageSet(set) => m.serialize_entry("storage_set", set)?,
            Body::StorageRemove { key, existed } => {
                m.serialize_entry("storage_remove", &KeyExisted { key, existed: *existed })?
            }
            Body::StorageError { op, key } => m.serialize_entry("storage_error", &OpKey { op, key })?,
            Body::Event { kind, access_token } => {
                m.serialize_entry("event", kind)?;
                m.serialize_entry("access_token", access_token)?;
            }
            Body::Result(r) => m.serialize_entry("result", r)?,
            Body::End(storage) => m.serialize_entry("end", &End { storage: Pairs(storage) })?,
        }
        m.end()
    }
}

#[derive(Serialize)]
struct KeyExisted<'a> {
    key: &'a str,
    existed: bool,
}

#[derive(Serialize)]
struct OpKey<'a> {
    op: &'a str,
    key: &'a str,
}

#[derive(Serialize)]
struct End<'a> {
    storage: Pairs<'a, Summary>,
}

/// Key-value pairs serialized as a JSON object, in their order.
struct Pairs<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn as_map<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    Pairs(pairs).serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(step: usize, body: Body) -> String {
        serde_json::to_string(&Line { step, body }).unwrap()
    }

    #[test]
    fn lines_print_as_the_format_shows_them() {
        let request = Request {
            method: "POST",
            path: "/token".into(),
            query: vec![("grant_type".into(), "refresh_token".into())],
            bearer: None,
            body: Some(RequestBody::new(r#"{"refresh_token":"rt-a"}"#)),
        };
        assert_eq!(
            text(1, Body::Request(request)),
            r#"{"step":1,"request":{"method":"POST","path":"/token","query":{"grant_type":"refresh_token"},"bearer":null,"body":{"refresh_token":"rt-a"}}}"#
        );
        let set = StorageSet {
            key: "k".into(),
            tokens: Some(Rc::new(Tokens::of(r#"{"refresh_token":"r","x":[1],"access_token":"a"}"#))),
        };
        assert_eq!(
            text(2, Body::StorageSet(set)),
            r#"{"step":2,"storage_set":{"key":"k","tokens":{"access_token":"a","refresh_token":"r"}}}"#
        );
        let verifier = StorageSet { key: "k-code-verifier".into(), tokens: None };
        assert_eq!(text(2, Body::StorageSet(verifier)), r#"{"step":2,"storage_set":{"key":"k-code-verifier"}}"#);
        assert_eq!(
            text(3, Body::StorageRemove { key: "k".into(), existed: true }),
            r#"{"step":3,"storage_remove":{"key":"k","existed":true}}"#
        );
        assert_eq!(
            text(3, Body::StorageError { op: "write", key: "k".into() }),
            r#"{"step":3,"storage_error":{"op":"write","key":"k"}}"#
        );
        assert_eq!(
            text(4, Body::Event { kind: "SIGNED_OUT", access_token: None }),
            r#"{"step":4,"event":"SIGNED_OUT","access_token":null}"#
        );
        let result = CallResult {
            call: "get_user".into(),
            call_step: 1,
            ok: false,
            error: Some(ErrorLine {
                kind: "session_missing",
                status: Some(403),
                code: Some("session_not_found".into()),
            }),
            access_token: None,
            user_id: Some(None),
        };
        assert_eq!(
            text(5, Body::Result(result)),
            r#"{"step":5,"result":{"call":"get_user","call_step":1,"ok":false,"error":{"kind":"session_missing","status":403,"code":"session_not_found"},"user_id":null}}"#
        );
        let end = vec![
            ("a".to_owned(), Summary::Tokens(Rc::new(Tokens::of("not json")))),
            ("a-code-verifier".to_owned(), Summary::Present { present: true }),
            ("b".to_owned(), Summary::Tokens(Rc::new(Tokens::of("[1]")))),
        ];
        assert_eq!(
            text(9, Body::End(end)),
            r#"{"step":9,"end":{"storage":{"a":{"unparsable":true},"a-code-verifier":{"present":true},"b":{"access_token":null,"refresh_token":null}}}}"#
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_a_string() {
        let r = Request {
            method: "POST",
            path: "/x".into(),
            query: vec![],
            bearer: Some("t".into()),
            body: Some(RequestBody::new("a=b")),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"method":"POST","path":"/x","query":{},"bearer":"t","body":"a=b"}"#
        );
    }
}
