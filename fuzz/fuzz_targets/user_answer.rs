//! `GET /user` answers: any body is a user within the limits, kept as sent, or an error.
#![no_main]

use gotrue_session::limits::JsonLimits;
use gotrue_session::wire::parse_user;
use gotrue_session::User;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(user) = parse_user(data) else { return };
    assert!(!user.id.is_empty());
    JsonLimits::USER.check(user.json().as_bytes()).expect("a user over the limits was accepted");
    // Read again from its own text, it is the same user; serialized, it is that text.
    assert!(User::from_json_text(user.json()).as_ref() == Some(&user));
    assert_eq!(serde_json::to_string(&user).expect("a user serializes"), user.json());
});
