//! JWT payloads (access tokens from answers, storage and `set_session`): any text is claims or
//! an error, and only a token within the length limit is read.
#![no_main]

use gotrue_session::jwt::decode_claims;
use gotrue_session::limits::MAX_TOKEN_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if decode_claims(&text).is_ok() {
        assert!(text.len() <= MAX_TOKEN_BYTES);
        assert_eq!(text.split('.').count(), 3);
    }
});
