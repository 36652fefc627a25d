//! One pass over a session object's text (a token answer, a stored session) or a user's.
//!
//! The session's fields stay raw text, borrowed from the input, until they are needed. The user,
//! most of a session's size, is read as it goes by: its four fields are taken from their raw
//! values, and its exact text is the stretch of the input from its `{` to its `}`, found from where
//! its first key and its last value lie (serde hands both out as slices of the input). Capturing the
//! user's text and then reading its fields would scan it twice.

use super::{TokenAnswerError, User};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// A JSON object read one level deep, the user read in the same pass.
pub(crate) struct SessionObject<'a> {
    /// Every field but `user`, as raw text; keys borrowed unless they had escapes.
    pub fields: BTreeMap<Cow<'a, str>, &'a RawValue>,
    /// The `user` field: `Some(None)` when present but not a user object.
    pub user: Option<Option<User>>,
}

/// Reads a JSON object one level deep (a token answer, a stored session).
pub(crate) fn read_object(text: &str) -> Result<SessionObject<'_>, TokenAnswerError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let read = ObjectSeed { input: text }.deserialize(&mut de).and_then(|o| de.end().map(|()| o));
    read.map_err(|_| match serde_json::from_str::<IgnoredAny>(text) {
        Ok(_) => TokenAnswerError::Missing("a JSON object"),
        Err(_) => TokenAnswerError::NotJson,
    })
}

/// Reads a user from its text: `Ok(None)` for JSON that is not a user object (no string `id`, a
/// field the core reads of the wrong type or given twice).
pub(crate) fn read_user(text: &str) -> Result<Option<User>, TokenAnswerError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let read = UserSeed { input: text }.deserialize(&mut de).and_then(|u| de.end().map(|()| u));
    read.map_err(|_| TokenAnswerError::NotJson)
}

struct ObjectSeed<'a> {
    input: &'a str,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'de> {
    type Value = SessionObject<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SessionObject<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'de> {
    type Value = SessionObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<SessionObject<'de>, M::Error> {
        let mut object = SessionObject { fields: BTreeMap::new(), user: None };
        // A key given twice: the last one counts, as it did when this was a map.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.as_str() == "user" {
                object.user = Some(map.next_value_seed(UserSeed { input: self.input })?);
            } else {
                object.fields.insert(key.into_cow(), map.next_value()?);
            }
        }
        Ok(object)
    }
}

/// Reads a user value: any JSON value, of which only an object with a string `id` is a user.
struct UserSeed<'a> {
    input: &'a str,
}

impl<'de> DeserializeSeed<'de> for UserSeed<'de> {
    type Value = Option<User>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<User>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UserSeed<'de> {
    type Value = Option<User>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Option<User>, M::Error> {
        let mut known = KnownSlots::default();
        // Where the text starts (the first key's offset), or the text rebuilt when the first key
        // is not a slice of the input (it had escapes, which serde decodes into a copy).
        let mut first_key: Option<usize> = None;
        let mut rebuilt: Option<String> = None;
        let mut last_value: Option<&'de str> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            match (&mut rebuilt, last_value) {
                (None, None) => match key.offset_in(self.input) {
                    Some(at) => first_key = Some(at),
                    None => rebuilt = Some(String::from("{")),
                },
                (Some(text), _) => text.push(','),
                (None, Some(_)) => {}
            }
            if let Some(text) = &mut rebuilt {
                text.push_str(&serde_json::to_string(key.as_str()).unwrap_or_default());
                text.push(':');
                text.push_str(value.get());
            }
            known.take(key.as_str(), value.get());
            last_value = Some(value.get());
        }
        let text: Option<Box<str>> = match (rebuilt, first_key, last_value) {
            (Some(mut text), _, _) => {
                text.push('}');
                Some(text.into())
            }
            (None, Some(at), Some(last)) => object_span(self.input, at, last).map(Into::into),
            // `{}`: no id, no user.
            _ => None,
        };
        Ok(text.and_then(|raw| known.into_user(raw)))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Option<User>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<User>, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<User>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<User>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<User>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<User>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<User>, E> {
        Ok(None)
    }
}

/// The text of an object in `input`, from the offset of its first key (just past the quote) to
/// the end of its last value: back over the quote and whitespace to `{`, on over whitespace to
/// `}`. serde has checked the object, so both are there.
fn object_span<'a>(input: &'a str, first_key: usize, last_value: &str) -> Option<&'a str> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let quote = first_key.checked_sub(1).filter(|q| input.as_bytes().get(*q) == Some(&b'"'))?;
    let start = input.get(..quote)?.trim_end_matches(is_space).strip_suffix('{')?.len();
    let after_last = offset_in(input, last_value)? + last_value.len();
    let rest = input.get(after_last..)?;
    let end = input.len() - rest.trim_start_matches(is_space).strip_prefix('}')?.len();
    input.get(start..end)
}

/// Where `part` starts in `input`, when it is a slice of it.
fn offset_in(input: &str, part: &str) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    (at + part.len() <= input.len()).then_some(at)
}

/// A key: a slice of the input when it had no escapes, else a decoded copy.
enum Key<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> Key<'a> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    fn into_cow(self) -> Cow<'a, str> {
        match self {
            Key::Borrowed(s) => Cow::Borrowed(s),
            Key::Owned(s) => Cow::Owned(s),
        }
    }

    fn offset_in(&self, input: &str) -> Option<usize> {
        match self {
            Key::Borrowed(s) => offset_in(input, s),
            Key::Owned(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The four fields as they go by. serde would refuse a user whose field has the wrong type or
/// comes twice; such a user is no user here either.
#[derive(Default)]
struct KnownSlots {
    id: Option<Option<String>>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    is_anonymous: Option<Option<bool>>,
    refused: bool,
}

impl KnownSlots {
    fn take(&mut self, key: &str, raw: &str) {
        fn once<T: serde::de::DeserializeOwned>(slot: &mut Option<Option<T>>, raw: &str) -> bool {
            if slot.is_some() {
                return false;
            }
            match serde_json::from_str::<Option<T>>(raw) {
                Ok(v) => {
                    *slot = Some(v);
                    true
                }
                Err(_) => false,
            }
        }
        let ok = match key {
            "id" => once(&mut self.id, raw),
            "email" => once(&mut self.email, raw),
            "phone" => once(&mut self.phone, raw),
            "is_anonymous" => once(&mut self.is_anonymous, raw),
            _ => true,
        };
        self.refused |= !ok;
    }

    fn into_user(self, raw: Box<str>) -> Option<User> {
        if self.refused {
            return None;
        }
        let id = self.id.flatten().filter(|id| !id.is_empty())?;
        Some(User {
            id,
            email: self.email.flatten(),
            phone: self.phone.flatten(),
            is_anonymous: self.is_anonymous.flatten(),
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{parse_stored_session, serialize_session};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// The fields of a user the core reads, as serde's derive reads them: the reference the
    /// one-pass reader is checked against.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Known {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        phone: Option<String>,
        #[serde(default)]
        is_anonymous: Option<bool>,
    }

    /// What reading a user meant before this one-pass reader: capture the text, then let serde
    /// read the four fields (a struct from an object only).
    fn two_pass(text: &str) -> Result<Option<(Known, String)>, ()> {
        let raw: Box<RawValue> = serde_json::from_str(text).map_err(|_| ())?;
        if !raw.get().starts_with('{') {
            return Ok(None);
        }
        Ok(serde_json::from_str::<Known>(raw.get())
            .ok()
            .filter(|k| k.id.as_deref().is_some_and(|id| !id.is_empty()))
            .map(|k| (k, raw.get().to_owned())))
    }

    fn one_pass(text: &str) -> Result<Option<(Known, String)>, ()> {
        let user = read_user(text).map_err(|_| ())?;
        Ok(user.map(|u| {
            let known = Known {
                id: Some(u.id.clone()),
                email: u.email.clone(),
                phone: u.phone.clone(),
                is_anonymous: u.is_anonymous,
            };
            (known, u.json().to_owned())
        }))
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("id".to_owned()),
            Just("email".to_owned()),
            Just("phone".to_owned()),
            Just("is_anonymous".to_owned()),
            "[a-z\\\\\"{}\\[\\], :\\u{e9}]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "[a-z0-9\"\\\\{}\\[\\],: \\n\\u{e9}\\u{1F600}]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A user-like object's text: compact or spaced, a field maybe given twice, the first key
    /// maybe written with an escape.
    fn user_text() -> impl Strategy<Value = String> {
        let fields = prop::collection::vec((key(), value()), 0..6);
        (fields, any::<bool>(), any::<bool>(), any::<bool>(), "[a-f0-9]{1,8}").prop_map(
            |(mut fields, spaced, twice, escaped, id)| {
                if !fields.iter().any(|(k, _)| k == "id") {
                    fields.insert(0, ("id".to_owned(), json!(id)));
                }
                let (sep, colon) = if spaced { (" ,\n ", " : ") } else { (",", ":") };
                let mut parts: Vec<String> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (k, v))| {
                        let key = if escaped && i == 0 {
                            format!("\"\\u0078{}", &json!(k).to_string()[1..])
                        } else {
                            json!(k).to_string()
                        };
                        let value = if spaced { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
                        format!("{key}{colon}{value}")
                    })
                    .collect();
                if twice {
                    let again = parts[parts.len() - 1].clone();
                    parts.push(again);
                }
                let pad = if spaced { " \n" } else { "" };
                format!("{pad}{{{pad}{}{pad}}}{pad}", parts.join(sep))
            },
        )
    }

    proptest! {
        // A fixed seed: every run is the same run.
        #![proptest_config(ProptestConfig {
            cases: 2000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_206),
            ..ProptestConfig::default()
        })]

        /// One pass reads what capturing the text and reading it again read: the same fields,
        /// and the same text (or, when the first key had an escape, the same JSON).
        #[test]
        fn one_pass_reads_what_two_passes_read(text in user_text()) {
            let (one, two) = (one_pass(&text), two_pass(&text));
            match (&one, &two) {
                (Ok(Some((k1, t1))), Ok(Some((k2, t2)))) if t1 != t2 => {
                    prop_assert_eq!(k1, k2);
                    // Only a first key with an escape (`\u0078`, `\"`) is rebuilt rather than sliced.
                    prop_assert!(text.contains('\\'), "text differs without an escaped key: {}", text);
                    let (v1, v2): (Value, Value) = (serde_json::from_str(t1).unwrap(), serde_json::from_str(t2).unwrap());
                    prop_assert_eq!(v1, v2);
                }
                _ => prop_assert_eq!(one, two, "{}", text),
            }
        }

        /// Any JSON value at all: only objects with an id are users.
        #[test]
        fn values_that_are_not_users(v in value()) {
            let text = v.to_string();
            prop_assert_eq!(one_pass(&text), two_pass(&text), "{}", text);
        }

        /// A session with that user: read, written back, read again, it is the same session, and
        /// what is written is what serde would write.
        #[test]
        fn sessions_round_trip(user in user_text(), extra in prop::collection::vec((key(), value()), 0..3)) {
            let mut object = format!(r#"{{"access_token":"a","refresh_token":"r","expires_at":5,"user":{user}"#);
            for (k, v) in &extra {
                if !["access_token", "refresh_token", "expires_at", "expires_in", "token_type", "user"].contains(&k.as_str()) {
                    object.push_str(&format!(",{}:{}", json!(k), v));
                }
            }
            object.push('}');
            let session = parse_stored_session(&object).unwrap();
            prop_assert_eq!(session.user.as_deref().map(|u| u.json().to_owned()), one_pass(&user).unwrap().map(|(_, t)| t));
            let written = serialize_session(&session);
            prop_assert_eq!(&written, &serde_json::to_string(&session).unwrap());
            prop_assert_eq!(parse_stored_session(&written).unwrap(), session);
        }
    }

    #[test]
    fn the_user_text_is_the_exact_stretch_of_the_input() {
        let user = "{ \"id\" : \"u\",\n \"m\": {\"a\" : [1, \"}\"]} }";
        let session = format!(r#"{{"access_token":"a","user": {user} ,"refresh_token":"r","expires_at":5}}"#);
        let s = parse_stored_session(&session).unwrap();
        assert_eq!(s.user.as_ref().unwrap().json(), user);
        assert_eq!(read_user(user).unwrap().unwrap().json(), user);
    }

    #[test]
    fn escaped_first_key_is_rebuilt_as_the_same_json() {
        let u = read_user(r#"{"\u0069d":"u", "a" : 1}"#).unwrap().unwrap();
        assert_eq!((u.id.as_str(), u.json()), ("u", r#"{"id":"u","a":1}"#));
    }

    #[test]
    fn not_users() {
        for text in [
            "[]",
            "null",
            "1",
            "\"s\"",
            "{}",
            r#"{"id":""}"#,
            r#"{"id":1}"#,
            r#"{"id":"u","id":"v"}"#,
            r#"{"id":"u","email":7}"#,
        ] {
            assert!(read_user(text).unwrap().is_none(), "{text}");
        }
        assert!(read_user("{").is_err());
        assert!(read_user(r#"{"id":"u"} x"#).is_err());
    }
}
