//! The replay command's scenario reader: any file is replayed or refused with a reason; never a
//! panic, never a hang (libFuzzer's `-timeout` reports one).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(prepared) = gotrue_session_cli::prepare(text) else { return };
    if let Ok(replayed) = gotrue_session_cli::replay(&prepared) {
        assert!(!replayed.lines.is_empty(), "a replay ends with its end line");
    }
});
