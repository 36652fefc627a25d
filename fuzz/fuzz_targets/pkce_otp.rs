//! PKCE and OTP answers, through the machine: a code exchange with a fuzzed stored verifier, or
//! an OTP verify, answered with fuzzed status, headers and body. The call completes exactly once;
//! a session it returns is stored, announced and reads back; a failure stores and announces
//! nothing.
#![no_main]

use gotrue_session::storage::parse_stored_session;
use gotrue_session::{Command, EventKind, OpValue, OtpRecipient};
use gotrue_session_fuzz::{check_accepted, http_answer, Driver, KEY};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Some((&flow, rest)) = data.split_first() else { return };
    // The stored verifier (PKCE flows), up to the first NUL; then the answer.
    let (verifier, answer) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let mut store = HashMap::new();
    let command = match flow % 4 {
        0 => {
            store.insert(format!("{KEY}-code-verifier"), String::from_utf8_lossy(verifier).into_owned());
            Command::ExchangeCode { auth_code: "code".into() }
        }
        1 => Command::VerifyOtp {
            recipient: OtpRecipient::Email("a@example.com".into()),
            token: "123456".into(),
            otp_type: "email".into(),
        },
        2 => {
            Command::VerifyOtp { recipient: OtpRecipient::TokenHash, token: "hash".into(), otp_type: "recovery".into() }
        }
        _ => Command::StartPkce { entropy: verifier.to_vec(), recovery: flow & 4 != 0 },
    };
    let mut d = Driver::new(store);
    d.command(Command::Initialize);
    let op = d.command(command);
    let pkce_started = flow % 4 == 3;
    let op = if pkce_started {
        // The challenge (or an entropy error) at once; then the exchange it prepared.
        assert_eq!(d.results_of(op).len(), 1, "start_pkce completes at once");
        d.command(Command::ExchangeCode { auth_code: "code".into() })
    } else {
        op
    };
    if d.results_of(op).is_empty() {
        let (status, headers, body) = http_answer(answer);
        d.answer_last(status, headers, body);
    }
    let results = d.results_of(op);
    assert_eq!(results.len(), 1, "the call completes exactly once");
    let announced = d.events.iter().any(|e| matches!(e.kind, EventKind::SignedIn | EventKind::PasswordRecovery));
    match results[0] {
        Ok(OpValue::Session(Some(session))) => {
            check_accepted(session);
            let stored = d.store.get(KEY).expect("a returned session is stored");
            assert!(parse_stored_session(stored).as_ref() == Ok(session), "the store holds the returned session");
            assert!(announced, "a returned session is announced");
        }
        _ => {
            assert!(!d.store.contains_key(KEY), "a failed or empty sign-in stores no session");
            assert!(!announced, "a failed or empty sign-in announces nothing");
        }
    }
});
