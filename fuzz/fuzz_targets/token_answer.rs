//! Token answers (`/token`, `/verify`, `/signup`, the PKCE exchange): any body is a session that
//! passes `check_accepted`, no session, or an error; the clock (the first 8 bytes) never matters
//! to whether it is accepted.
#![no_main]

use gotrue_session::wire::parse_token_answer;
use gotrue_session_fuzz::check_accepted;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (clock, body) = data.split_at(data.len().min(8));
    let mut now = [0u8; 8];
    now[..clock.len()].copy_from_slice(clock);
    let now_ms = i64::from_le_bytes(now);
    match parse_token_answer(body, now_ms) {
        Ok(Some(session)) => {
            check_accepted(&session);
            assert!(parse_token_answer(body, 1_767_225_600_000).is_ok_and(|s| s.is_some()));
        }
        Ok(None) => {}
        Err(why) => assert!(!why.to_string().is_empty()),
    }
});
