//! The C API called the way a C program calls it: through the `extern "C"` functions, with raw
//! pointers and C strings. (The scenario corpus runs through it from C in `run-tests.sh`.)

use gotrue_session_c::*;
use serde_json::{json, Value};
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

const NOW: u64 = 1_767_225_600_000;
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJhdXRoZW50aWNhdGVkIiwicm9sZSI6ImF1dGhlbnRpY2F0ZWQiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTYwMCwic2Vzc2lvbl9pZCI6InNlc3MtMSIsInJlZiI6ImEifQ.c2lnLSR7dGFnfQ";

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

fn new_error() -> GsError {
    GsError { code: GsErrorCode::Ok, message: null_mut() }
}

fn message(err: &GsError) -> String {
    assert!(!err.message.is_null(), "no message for {:?}", err.code);
    // SAFETY: a failure leaves a NUL-terminated message.
    unsafe { CStr::from_ptr(err.message) }.to_str().expect("messages are UTF-8").to_owned()
}

/// A machine for the tests: no jitter, auto refresh off.
fn machine() -> *mut GsMachine {
    let cfg = c(r#"{"storage_key":"sb-test-auth-token","api_key":"anon","jitter":false,"auto_refresh":false}"#);
    let mut err = new_error();
    // SAFETY: valid string and error.
    let m = unsafe { gs_machine_new(cfg.as_ptr(), &mut err) };
    assert!(!m.is_null(), "{}", message(&err));
    assert_eq!(err.code, GsErrorCode::Ok);
    m
}

/// Takes a string the library returned, freeing it.
fn take(s: *mut c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: `s` came from the library, NUL-terminated, and is freed once, here.
    let text = unsafe { CStr::from_ptr(s) }.to_str().expect("outputs are UTF-8").to_owned();
    // SAFETY: as above.
    unsafe { gs_string_free(s) };
    Some(text)
}

fn poll(m: *mut GsMachine) -> Option<Value> {
    let mut err = new_error();
    // SAFETY: `m` is live; `err` is valid.
    let out = take(unsafe { gs_machine_poll_output(m, &mut err) });
    assert_eq!(err.code, GsErrorCode::Ok);
    out.map(|t| serde_json::from_str(&t).expect("outputs are JSON"))
}

fn command(m: *mut GsMachine, json: &str) -> u64 {
    let (cmd, mut op, mut err) = (c(json), 0u64, new_error());
    // SAFETY: all pointers valid for the call.
    let rc = unsafe { gs_machine_command(m, NOW, cmd.as_ptr(), &mut op, &mut err) };
    assert_eq!(rc, GsErrorCode::Ok, "{}", if err.message.is_null() { String::new() } else { message(&err) });
    op
}

#[test]
fn initialize_sign_in_and_drain_outputs() {
    let m = machine();
    let init = command(m, r#"{"call":"initialize"}"#);
    let read = poll(m).unwrap();
    assert_eq!(read["type"], "storage_read");
    assert_eq!(read["key"], "sb-test-auth-token");
    let mut err = new_error();
    // SAFETY: `m` is live; NULL value and failure mean "absent".
    let rc = unsafe { gs_machine_handle_storage_read(m, NOW, read["id"].as_u64().unwrap(), null(), null(), &mut err) };
    assert_eq!(rc, GsErrorCode::Ok);
    let event = poll(m).unwrap();
    assert_eq!(
        event,
        json!({"type":"event","kind":"INITIAL_SESSION","access_token":null,"expired":false,"reason":null,"session":null})
    );
    let done = poll(m).unwrap();
    assert_eq!(done, json!({"type":"complete","op":init,"ok":true,"error":null,"value":{"kind":"done"}}));
    assert_eq!(poll(m), None);

    let op = command(m, r#"{"call":"sign_in_with_password","email":"ada@example.com","password":"pw"}"#);
    let req = poll(m).unwrap();
    assert_eq!(
        (req["type"].as_str(), req["method"].as_str(), req["path"].as_str()),
        (Some("http"), Some("POST"), Some("/token"))
    );
    assert_eq!(req["path_and_query"], "/token?grant_type=password");
    assert!(req["headers"].as_array().unwrap().iter().any(|h| h[0] == "apikey" && h[1] == "anon"));
    let body: Value = serde_json::from_str(req["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["email"], "ada@example.com");

    let answer = json!({"access_token":TOKEN,"token_type":"bearer","expires_in":3600,"expires_at":1767229200,
                        "refresh_token":"rt-a","user":{"id":"user-1","email":"ada@example.com"}})
    .to_string();
    let headers = c(r#"[["content-type","application/json"]]"#);
    // SAFETY: all pointers valid for the call; the body is `answer.len()` bytes.
    let rc = unsafe {
        gs_machine_handle_response(
            m,
            NOW,
            req["id"].as_u64().unwrap(),
            200,
            headers.as_ptr(),
            answer.as_ptr(),
            answer.len(),
            &mut err,
        )
    };
    assert_eq!(rc, GsErrorCode::Ok);

    // The rest in one batch.
    // SAFETY: `m` is live; `err` is valid.
    let all: Value = serde_json::from_str(&take(unsafe { gs_machine_poll_outputs(m, &mut err) }).unwrap()).unwrap();
    let types: Vec<&str> = all.as_array().unwrap().iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"storage_write"), "{types:?}");
    let write = all.as_array().unwrap().iter().find(|o| o["type"] == "storage_write").unwrap();
    let stored: Value = serde_json::from_str(write["value"].as_str().unwrap()).unwrap();
    assert_eq!(stored["refresh_token"], "rt-a");
    let signed_in = all.as_array().unwrap().iter().find(|o| o["type"] == "event").unwrap();
    assert_eq!((signed_in["kind"].as_str(), signed_in["access_token"].as_str()), (Some("SIGNED_IN"), Some(TOKEN)));
    assert_eq!(signed_in["session"]["user"]["id"], "user-1");
    let complete = all.as_array().unwrap().iter().find(|o| o["type"] == "complete").unwrap();
    assert_eq!(complete["op"], op);
    assert_eq!(complete["value"]["kind"], "session");
    assert_eq!(complete["value"]["access_token"], TOKEN);
    assert_eq!(complete["value"]["session"]["refresh_token"], "rt-a");

    // SAFETY: `m` is live; the write succeeded.
    let rc = unsafe { gs_machine_handle_storage_done(m, NOW, write["id"].as_u64().unwrap(), null(), &mut err) };
    assert_eq!(rc, GsErrorCode::Ok);
    // SAFETY: `m` is live.
    assert_eq!(take(unsafe { gs_machine_poll_outputs(m, &mut err) }).as_deref(), Some("[]"));

    // Auto refresh on: the machine wants a timeout before expiry.
    // SAFETY: `m` is live.
    assert_eq!(unsafe { gs_machine_set_auto_refresh(m, NOW, true, &mut err) }, GsErrorCode::Ok);
    let mut at = 0u64;
    // SAFETY: `m` is live, `at` writable.
    assert!(unsafe { gs_machine_poll_timeout(m, &mut at) });
    assert!(at > NOW && at < 1_767_229_200_000, "{at}");
    // SAFETY: `m` came from gs_machine_new and is freed once.
    unsafe { gs_machine_free(m) };
}

#[test]
fn every_input_function_accepts_its_input() {
    let m = machine();
    let mut err = new_error();
    let fail = c("locked");
    // SAFETY: `m` is live; all strings valid. Unknown ids are ignored by the machine.
    unsafe {
        assert_eq!(gs_machine_handle_transport_failure(m, NOW, 99, fail.as_ptr(), &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_transport_failure(m, NOW, 99, null(), &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_storage_read(m, NOW, 99, null(), fail.as_ptr(), &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_storage_done(m, NOW, 99, fail.as_ptr(), &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_storage_changed(m, NOW, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_timeout(m, NOW, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_lifecycle(m, NOW, false, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_lifecycle(m, NOW, true, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_network(m, NOW, false, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_network(m, NOW, true, &mut err), GsErrorCode::Ok);
        assert_eq!(gs_machine_handle_response(m, NOW, 99, 500, null(), null(), 0, &mut err), GsErrorCode::Ok);
        let entropy = [7u8; 32];
        let mut op = 0;
        let rc = gs_machine_start_pkce(m, NOW, entropy.as_ptr(), entropy.len(), false, &mut op, &mut err);
        assert_eq!(rc, GsErrorCode::Ok);
        assert!(op > 0);
        gs_machine_free(m);
    }
}

#[test]
fn pkce_answers_a_challenge() {
    let m = machine();
    command(m, r#"{"call":"initialize"}"#);
    let mut err = new_error();
    let read = poll(m).unwrap();
    // SAFETY: `m` is live.
    unsafe { gs_machine_handle_storage_read(m, NOW, read["id"].as_u64().unwrap(), null(), null(), &mut err) };
    while poll(m).is_some() {}
    let entropy: Vec<u8> = (0..32).collect();
    let mut op = 0;
    // SAFETY: `m` is live; `entropy` is 32 bytes.
    let rc = unsafe { gs_machine_start_pkce(m, NOW, entropy.as_ptr(), entropy.len(), true, &mut op, &mut err) };
    assert_eq!(rc, GsErrorCode::Ok);
    let mut challenge = None;
    while let Some(out) = poll(m) {
        if out["type"] == "storage_write" {
            assert_eq!(out["key"], "sb-test-auth-token-code-verifier");
            // SAFETY: `m` is live.
            unsafe { gs_machine_handle_storage_done(m, NOW, out["id"].as_u64().unwrap(), null(), &mut err) };
        }
        if out["type"] == "complete" && out["op"] == op {
            challenge = Some(out["value"].clone());
        }
    }
    let challenge = challenge.expect("start_pkce completes");
    assert_eq!(challenge["kind"], "pkce_challenge");
    assert_eq!(challenge["method"], "s256");
    assert!(!challenge["challenge"].as_str().unwrap().is_empty());
    // SAFETY: freed once.
    unsafe { gs_machine_free(m) };
}

#[test]
fn errors_are_codes_with_messages_and_never_quote_secrets() {
    let mut err = new_error();
    // SAFETY: NULL and valid pointers only; each message is released by the next call or
    // by gs_error_clear.
    unsafe {
        assert!(gs_machine_new(null(), &mut err).is_null());
        assert_eq!(err.code, GsErrorCode::NullArgument);
        assert!(message(&err).contains("config_json"));
        let bad = c(r#"{"storage_key":"k"}"#);
        assert!(gs_machine_new(bad.as_ptr(), &mut err).is_null());
        assert_eq!(err.code, GsErrorCode::InvalidArgument);
        assert!(message(&err).contains("api_key"));
        let not_json = c("{");
        assert!(gs_machine_new(not_json.as_ptr(), &mut err).is_null());
        assert_eq!(err.code, GsErrorCode::InvalidJson);
        // Without a GsError, the return value alone tells.
        assert!(gs_machine_new(not_json.as_ptr(), null_mut()).is_null());

        let m = machine();
        let mut op = 0;
        let secret = c(r#"{"call":"set_session","access_token":"eyJsecret","refresh_token":42}"#);
        assert_eq!(gs_machine_command(m, NOW, secret.as_ptr(), &mut op, &mut err), GsErrorCode::InvalidArgument);
        let msg = message(&err);
        assert!(msg.contains("refresh_token") && !msg.contains("eyJ") && !msg.contains("42"), "{msg}");
        assert_eq!(gs_machine_command(m, NOW, null(), &mut op, &mut err), GsErrorCode::NullArgument);
        let utf8 = [0xffu8, 0];
        assert_eq!(gs_machine_command(m, NOW, utf8.as_ptr().cast(), &mut op, &mut err), GsErrorCode::InvalidUtf8);
        let unknown = c(r#"{"call":"fly"}"#);
        assert_eq!(gs_machine_command(m, NOW, unknown.as_ptr(), &mut op, &mut err), GsErrorCode::InvalidArgument);
        let v = c("{}");
        assert_eq!(
            gs_machine_handle_storage_read(m, NOW, 1, v.as_ptr(), v.as_ptr(), &mut err),
            GsErrorCode::InvalidArgument
        );
        assert_eq!(gs_machine_handle_response(m, NOW, 1, 200, null(), null(), 5, &mut err), GsErrorCode::NullArgument);
        let headers = c(r#"{"a":1}"#);
        assert_eq!(
            gs_machine_handle_response(m, NOW, 1, 200, headers.as_ptr(), null(), 0, &mut err),
            GsErrorCode::InvalidArgument
        );
        // A success resets the error.
        assert_eq!(gs_machine_handle_timeout(m, NOW, &mut err), GsErrorCode::Ok);
        assert_eq!(err.code, GsErrorCode::Ok);
        assert!(err.message.is_null());

        // A NULL machine is an error, not a crash.
        assert_eq!(gs_machine_handle_timeout(null_mut(), NOW, &mut err), GsErrorCode::NullArgument);
        assert!(gs_machine_poll_output(null_mut(), &mut err).is_null());
        assert_eq!(err.code, GsErrorCode::NullArgument);
        let mut at = 5;
        assert!(!gs_machine_poll_timeout(null(), &mut at));
        assert_eq!(at, 5);

        gs_error_clear(&mut err);
        assert!(err.message.is_null());
        gs_error_clear(null_mut());
        gs_string_free(null_mut());
        gs_machine_free(null_mut());
        gs_machine_free(m);
    }
}

#[test]
fn version_is_static() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(gs_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}
