//! The C API's JSON inputs: a configuration, a command, response headers, a body and a stored
//! value, each from the fuzz input (NUL-separated, in that order). Every call returns a code and
//! frees what it allocated; none may panic (the API catches panics and reports `GS_ERROR_CODE_PANIC`,
//! which would hide a bug from the fuzzer, so that code fails the run).
#![no_main]

use gotrue_session_c::*;
use libfuzzer_sys::fuzz_target;
use std::ffi::CString;

const NOW: u64 = 1_767_225_600_000;

fn check(what: &str, code: GsErrorCode, err: &mut GsError) {
    assert!(!matches!(code, GsErrorCode::Panic | GsErrorCode::Poisoned), "{what}: {code:?}");
    assert!(!matches!(err.code, GsErrorCode::Panic | GsErrorCode::Poisoned), "{what}: {:?}", err.code);
    // SAFETY: `err` is a valid GsError the library filled (or left empty).
    unsafe { gs_error_clear(err) };
}

/// Drains the outputs, freeing each string the library returns.
fn drain(m: *mut GsMachine, err: &mut GsError) {
    for _ in 0..10_000 {
        // SAFETY: `m` is live; `err` is valid.
        let out = unsafe { gs_machine_poll_output(m, err) };
        check("poll_output", err.code, err);
        if out.is_null() {
            return;
        }
        // SAFETY: `out` came from the library and is freed once.
        unsafe { gs_string_free(out) };
    }
    panic!("the machine produced 10 000 outputs for one input");
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let mut next = || CString::new(parts.next().unwrap_or_default()).unwrap_or_default();
    let (config, command, headers, body, stored) = (next(), next(), next(), next(), next());
    let mut err = GsError { code: GsErrorCode::Ok, message: std::ptr::null_mut() };
    // SAFETY: the strings are NUL-terminated and outlive the calls; `err` is valid.
    unsafe {
        let m = gs_machine_new(config.as_ptr(), &mut err);
        check("machine_new", err.code, &mut err);
        if m.is_null() {
            return;
        }
        let code = gs_machine_command(m, NOW, c"{\"call\":\"initialize\"}".as_ptr(), std::ptr::null_mut(), &mut err);
        check("initialize", code, &mut err);
        // The first storage read is answered with the fuzzed stored value.
        let code = gs_machine_handle_storage_read(m, NOW, 1, stored.as_ptr(), std::ptr::null(), &mut err);
        check("storage_read", code, &mut err);
        drain(m, &mut err);
        let mut op = 0u64;
        let code = gs_machine_command(m, NOW, command.as_ptr(), &mut op, &mut err);
        check("command", code, &mut err);
        drain(m, &mut err);
        // Answer the first few request ids (unknown ones are ignored by the machine).
        for id in 1..=3 {
            let body = body.as_bytes();
            let code = gs_machine_handle_response(
                m,
                NOW,
                id,
                200 + (id as u16 % 3) * 100,
                headers.as_ptr(),
                body.as_ptr(),
                body.len(),
                &mut err,
            );
            check("handle_response", code, &mut err);
            drain(m, &mut err);
        }
        let code = gs_machine_handle_timeout(m, NOW + 3_600_000, &mut err);
        check("handle_timeout", code, &mut err);
        drain(m, &mut err);
        gs_machine_free(m);
    }
});
