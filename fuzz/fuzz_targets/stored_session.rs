//! Stored session values (another process, a restored backup, a shared keychain item): any text
//! is a session that passes `check_accepted`, or an invalid stored value with a reason.
#![no_main]

use gotrue_session::storage::parse_stored_session;
use gotrue_session_fuzz::check_accepted;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The C API and the bindings hand on non-UTF-8 values with U+FFFD in place of bad bytes.
    let text = String::from_utf8_lossy(data);
    match parse_stored_session(&text) {
        Ok(session) => check_accepted(&session),
        Err(why) => assert!(!why.to_string().is_empty()),
    }
});
