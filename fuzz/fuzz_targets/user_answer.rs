//! `GET /user` answers: any body is a user within the limits, kept as sent, or an error. The
//! nesting bound the core checks before parsing agrees with the depth serde_json finds.
#![no_main]

use gotrue_session::limits::{JsonLimits, LimitError, MAX_DEPTH};
use gotrue_session::wire::parse_user;
use gotrue_session::User;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The nesting of a JSON value, the value itself being level 1 (iteratively: no recursion).
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(fields) => {
                deepest = deepest.max(d);
                stack.extend(fields.values().map(|i| (i, d + 1)));
            }
            _ => deepest = deepest.max(d - 1),
        }
    }
    deepest
}

fuzz_target!(|data: &[u8]| {
    // serde_json reads up to 128 levels: within that, the bound and serde agree exactly.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let too_deep = matches!(JsonLimits::USER_ANSWER.check(data), Err(LimitError::TooDeep { .. }));
        assert_eq!(too_deep, depth(&value) > MAX_DEPTH, "the nesting bound disagrees with serde_json");
    }
    let Ok(user) = parse_user(data) else { return };
    assert!(!user.id.is_empty());
    JsonLimits::USER.check(user.json().as_bytes()).expect("a user over the limits was accepted");
    // Read again from its own text, it is the same user; serialized, it is that text.
    assert!(User::from_json_text(user.json()).as_ref() == Some(&user));
    assert_eq!(serde_json::to_string(&user).expect("a user serializes"), user.json());
});
