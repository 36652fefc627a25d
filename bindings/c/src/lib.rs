//! # gotrue-session-c
//!
//! The C API of the gotrue-session machine: an opaque [`GsMachine`] handle, one function per
//! input, outputs drained one at a time as JSON strings, errors as a [`GsErrorCode`] plus a
//! message in the caller's [`GsError`]. No policy lives here, only conversion; the header
//! `include/gotrue_session.h` is generated from this file by cbindgen (see `build.rs`), so the
//! documentation below is what C programmers read.
//!
//! Ownership, for every function:
//! - Pointers passed in are borrowed for the duration of the call only; the library keeps none.
//! - Strings passed in are NUL-terminated UTF-8 (storage values read back are taken lossily).
//! - Strings returned (`char *`) are owned by the caller and freed with [`gs_string_free`].
//! - A `GsError` is owned by the caller, zero-initialized before its first use
//!   (`GsError err = {0};`); each call that takes it first releases what it held, then fills it
//!   on failure; [`gs_error_clear`] releases its message at the end.
//! - A `GsMachine` is created by [`gs_machine_new`], freed by [`gs_machine_free`], and used by
//!   one thread at a time (it may move between threads).
//!
//! No panic crosses the boundary: each function catches it, reports [`GsErrorCode::Panic`] and
//! marks the machine poisoned (every later call on it reports [`GsErrorCode::Poisoned`]).

mod boundary;
mod json_in;
mod json_out;

use boundary::{bytes, opt_text, run, status, text, with_machine, Failure};
use gotrue_session::{
    Command, HttpResponse, Lifecycle, Reachability, RequestId, SessionMachine, StorageFailure, StorageOpId,
    TransportFailure,
};
use std::ffi::c_char;

/// What a call ended with. Every function that can fail returns one, and writes the same code
/// (and a message) into its `GsError` argument when that is not NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsErrorCode {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A string argument is not UTF-8.
    InvalidUtf8 = 2,
    /// A JSON argument is not JSON.
    InvalidJson = 3,
    /// An argument is well-formed but unusable: an unknown command or field, a wrong type, a
    /// missing field. The message names the field, never its value.
    InvalidArgument = 4,
    /// The machine panicked in an earlier call and can no longer be used: free it.
    Poisoned = 5,
    /// An internal error (a Rust panic) was caught at the boundary. The machine is poisoned.
    Panic = 6,
}

/// An error report, owned by the caller.
///
/// Zero-initialize it before its first use (`GsError err = {0};`). Each function that takes a
/// `GsError *` first releases the message it holds and resets `code` to `GS_ERROR_CODE_OK`, then
/// on failure sets `code` and `message`. Release the last message with `gs_error_clear`. Passing
/// NULL instead of a `GsError *` is allowed: only the return value then tells what happened.
#[repr(C)]
#[derive(Debug)]
pub struct GsError {
    /// What happened (`GS_ERROR_CODE_OK` on success).
    pub code: GsErrorCode,
    /// NULL on success; otherwise a NUL-terminated UTF-8 explanation, free of secrets, owned
    /// by the library until `gs_error_clear` (or the next call given this `GsError`) frees it.
    /// Never free it with `free` or `gs_string_free`.
    pub message: *mut c_char,
}

/// A session machine (opaque). Create it with `gs_machine_new`, free it with `gs_machine_free`.
/// Not thread-safe: use it from one thread at a time.
pub struct GsMachine {
    machine: SessionMachine,
    /// Set while a call runs; still set after a panic, which poisons the machine.
    poisoned: bool,
}

/// The library's version (`"0.1.0"`): a static string, never freed.
#[no_mangle]
pub extern "C" fn gs_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Creates a machine from a JSON configuration.
///
/// `config_json` (borrowed) is an object: `storage_key` and `api_key` (strings, required);
/// optional `auto_refresh` (default true), `persist_session` (default true), `jitter` (default
/// true: spread retries; pass entropy in `jitter_seed`), `jitter_seed` (integer),
/// `session_not_found` (`"verify"` (default), `"remove"` or `"defer"`), `verify_cooldown_ms`
/// (default 30000: a `/user` suspicion sooner than this after a verify refresh that succeeded
/// is answered `session_unconfirmed` without another refresh; 0 turns the cooldown off; a whole
/// number from 0 to 600000, anything else is an error), `margin_ms` (default 90000),
/// `client_info` (the `X-Client-Info` header), and `retry`: `{"base_delay_ms": 200,
/// "burst_window_ms": 30000, "cooldown_ms": 60000}` (each optional). Unknown fields are errors.
///
/// Returns a machine owned by the caller (free it with `gs_machine_free`), or NULL with the
/// reason in `err`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `err` is NULL or a valid `GsError`.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_new(config_json: *const c_char, err: *mut GsError) -> *mut GsMachine {
    // SAFETY: `err` is NULL or a valid, unshared GsError, as the caller guarantees.
    let err = unsafe { err.as_mut() };
    let made = run(err, || {
        // SAFETY: `config_json` is NULL or NUL-terminated, as the caller guarantees.
        let (cfg, seed) = json_in::config(unsafe { text(config_json, "config_json") }?)?;
        let mut machine = SessionMachine::new(cfg);
        if let Some(seed) = seed {
            machine.seed_jitter(seed);
        }
        Ok(Box::into_raw(Box::new(GsMachine { machine, poisoned: false })))
    });
    made.unwrap_or(std::ptr::null_mut())
}

/// Frees a machine and everything it holds. NULL is ignored. Outputs not yet polled are
/// dropped; strings already returned stay valid (the caller owns them).
///
/// # Safety
/// `machine` is NULL or a pointer from `gs_machine_new` not freed before; it is invalid after.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_free(machine: *mut GsMachine) {
    if machine.is_null() {
        return;
    }
    // Dropping plain data does not panic; catch anyway so that nothing can cross.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `machine` came from `Box::into_raw` in `gs_machine_new` and is freed once.
        drop(unsafe { Box::from_raw(machine) });
    }));
}

/// Starts an operation described by `command_json` (borrowed), spelled like a scenario step:
/// `{"call": NAME, ...arguments}`. Names and arguments: `initialize`, `get_session`, `get_user`,
/// `get_user_with_jwt` (`jwt`), `refresh_session`, `set_session` (`access_token`,
/// `refresh_token`), `sign_out` (`scope`: `"global"` (default), `"local"` or `"others"`),
/// `sign_in_with_password` (`email` or `phone`, `password`), `sign_in_with_id_token`
/// (`provider`, `token`, optional `nonce`, `access_token`), `sign_in_anonymously` (optional
/// `data`), `verify_otp` (`email` or `phone` or neither for a token hash, `token`, `type`
/// (default `"email"`)), `exchange_code` (`auth_code`). PKCE starts with `gs_machine_start_pkce`.
///
/// The operation completes later with a `complete` output carrying the id written to `op_out`
/// (when not NULL).
///
/// # Safety
/// `machine` is NULL or live; `command_json` is NULL or NUL-terminated; `op_out` is NULL or
/// writable; `err` is NULL or a valid `GsError`.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_command(
    machine: *mut GsMachine,
    now_ms: u64,
    command_json: *const c_char,
    op_out: *mut u64,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: the pointers are as the caller guarantees.
    let (m, err, op_out) = unsafe { (machine.as_mut(), err.as_mut(), op_out.as_mut()) };
    start(m, err, op_out, |m| {
        // SAFETY: `command_json` is NULL or NUL-terminated, as the caller guarantees.
        let cmd = json_in::command(unsafe { text(command_json, "command_json") }?)?;
        Ok(m.handle_command(now_ms, cmd).0)
    })
}

/// Starts a PKCE flow: stores a verifier made from `entropy` (`entropy_len` bytes, at least 32,
/// borrowed; fresh randomness from the platform) and completes with a `pkce_challenge` value to
/// send with the authorize or OTP request. `recovery` marks a password-recovery flow. The
/// operation id is written to `op_out` (when not NULL).
///
/// # Safety
/// `machine` is NULL or live; `entropy` is NULL (with `entropy_len` 0) or points to
/// `entropy_len` readable bytes; `op_out` is NULL or writable; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_start_pkce(
    machine: *mut GsMachine,
    now_ms: u64,
    entropy: *const u8,
    entropy_len: usize,
    recovery: bool,
    op_out: *mut u64,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: the pointers are as the caller guarantees.
    let (m, err, op_out) = unsafe { (machine.as_mut(), err.as_mut(), op_out.as_mut()) };
    start(m, err, op_out, |m| {
        // SAFETY: `entropy` is NULL or points to `entropy_len` bytes, as the caller guarantees.
        let entropy = unsafe { bytes(entropy, entropy_len, "entropy") }?.to_vec();
        Ok(m.handle_command(now_ms, Command::StartPkce { entropy, recovery }).0)
    })
}

/// Runs a command starter and writes its operation id.
fn start(
    m: Option<&mut GsMachine>,
    err: Option<&mut GsError>,
    op_out: Option<&mut u64>,
    body: impl FnOnce(&mut SessionMachine) -> Result<u64, Failure>,
) -> GsErrorCode {
    let r = with_machine(m, err, body);
    if let (Ok(op), Some(out)) = (&r, op_out) {
        *out = *op;
    }
    status(r.map(|_| ()))
}

/// Feeds an input that cannot fail (beyond a NULL or poisoned machine).
fn input(m: Option<&mut GsMachine>, err: Option<&mut GsError>, feed: impl FnOnce(&mut SessionMachine)) -> GsErrorCode {
    status(with_machine(m, err, |m| {
        feed(m);
        Ok(())
    }))
}

/// The answer to the `http` output with id `request_id`: the status, the headers as JSON
/// (borrowed; `{"name": "value", ...}` or `[["name", "value"], ...]`, NULL for none) and the
/// body (`body_len` bytes, borrowed; NULL with `body_len` 0 for an empty body).
///
/// # Safety
/// `machine` is NULL or live; `headers_json` is NULL or NUL-terminated; `body` is NULL (with
/// `body_len` 0) or points to `body_len` readable bytes; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_response(
    machine: *mut GsMachine,
    now_ms: u64,
    request_id: u64,
    status_code: u16,
    headers_json: *const c_char,
    body: *const u8,
    body_len: usize,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    status(with_machine(m, err, |m| {
        // SAFETY: the pointer is NULL or valid for the call, as the caller guarantees.
        let headers = json_in::headers(unsafe { opt_text(headers_json, "headers_json") }?)?;
        // SAFETY: the pointer is NULL or valid for the call, as the caller guarantees.
        let body = unsafe { bytes(body, body_len, "body") }?.to_vec();
        m.handle_response(now_ms, RequestId(request_id), HttpResponse { status: status_code, headers, body });
        Ok(())
    }))
}

/// The request with id `request_id` failed without an answer (refused, reset, timed out, DNS).
/// `message` (borrowed, may be NULL) says how, without secrets (not the URL's query).
///
/// # Safety
/// `machine` is NULL or live; `message` is NULL or NUL-terminated; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_transport_failure(
    machine: *mut GsMachine,
    now_ms: u64,
    request_id: u64,
    message: *const c_char,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    status(with_machine(m, err, |m| {
        // SAFETY: the pointer is NULL or valid for the call, as the caller guarantees.
        let message = unsafe { opt_text(message, "message") }?.unwrap_or("transport failure");
        m.handle_transport_failure(now_ms, RequestId(request_id), TransportFailure::new(message));
        Ok(())
    }))
}

/// The result of the `storage_read` output with id `storage_op_id`. Exactly one of three:
/// - found: `value` is the stored string, `failure` is NULL;
/// - absent: both are NULL;
/// - failed: `failure` says why (no secrets), `value` is NULL.
///
/// Both borrowed. A stored value that is not UTF-8 is passed on with U+FFFD in place of the bad
/// bytes (the machine then finds it is no session).
///
/// # Safety
/// `machine` is NULL or live; `value` and `failure` are NULL or NUL-terminated; `err` is NULL
/// or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_storage_read(
    machine: *mut GsMachine,
    now_ms: u64,
    storage_op_id: u64,
    value: *const c_char,
    failure: *const c_char,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    status(with_machine(m, err, |m| {
        // SAFETY: the pointer is NULL or valid for the call, as the caller guarantees.
        let failure = unsafe { opt_text(failure, "failure") }?;
        let result = match (value.is_null(), failure) {
            (false, Some(_)) => return Err(Failure::invalid("pass either `value` or `failure`, not both")),
            (true, Some(f)) => Err(StorageFailure::new(f)),
            (true, None) => Ok(None),
            // SAFETY: `value` is not NULL and NUL-terminated, as the caller guarantees.
            (false, None) => Ok(Some(unsafe { std::ffi::CStr::from_ptr(value) }.to_string_lossy().into_owned())),
        };
        m.handle_storage_read(now_ms, StorageOpId(storage_op_id), result);
        Ok(())
    }))
}

/// The outcome of the `storage_write` or `storage_remove` output with id `storage_op_id`:
/// `failure` NULL for success, else why it failed (borrowed, no secrets).
///
/// # Safety
/// `machine` is NULL or live; `failure` is NULL or NUL-terminated; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_storage_done(
    machine: *mut GsMachine,
    now_ms: u64,
    storage_op_id: u64,
    failure: *const c_char,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    status(with_machine(m, err, |m| {
        // SAFETY: the pointer is NULL or valid for the call, as the caller guarantees.
        let result = match unsafe { opt_text(failure, "failure") }? {
            None => Ok(()),
            Some(f) => Err(StorageFailure::new(f)),
        };
        m.handle_storage_done(now_ms, StorageOpId(storage_op_id), result);
        Ok(())
    }))
}

/// Another process changed the stored session (a storage change notification): the machine
/// reads it again and adopts what it holds.
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_storage_changed(
    machine: *mut GsMachine,
    now_ms: u64,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    input(m, err, |m| m.handle_storage_changed(now_ms))
}

/// The time asked for by `gs_machine_poll_timeout` has come.
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_timeout(
    machine: *mut GsMachine,
    now_ms: u64,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    input(m, err, |m| m.handle_timeout(now_ms))
}

/// The app went to the foreground (`foreground` true) or the background (false).
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_lifecycle(
    machine: *mut GsMachine,
    now_ms: u64,
    foreground: bool,
    err: *mut GsError,
) -> GsErrorCode {
    let state = if foreground { Lifecycle::Foreground } else { Lifecycle::Background };
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    input(m, err, |m| m.handle_lifecycle(now_ms, state))
}

/// The platform says the network came back (`online` true) or went away (false).
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_handle_network(
    machine: *mut GsMachine,
    now_ms: u64,
    online: bool,
    err: *mut GsError,
) -> GsErrorCode {
    let state = if online { Reachability::Online } else { Reachability::Offline };
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    input(m, err, |m| m.handle_network(now_ms, state))
}

/// Turns auto refresh on or off (`start_auto_refresh` / `stop_auto_refresh`).
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_set_auto_refresh(
    machine: *mut GsMachine,
    now_ms: u64,
    on: bool,
    err: *mut GsError,
) -> GsErrorCode {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    input(m, err, |m| m.set_auto_refresh(now_ms, on))
}

/// The next output as a JSON object, or NULL when there is none (then `err->code` is
/// `GS_ERROR_CODE_OK`) or on error (then it is not; pass a `GsError` to tell the two apart:
/// errors here are only a NULL or poisoned machine). The string is the caller's: free it with
/// `gs_string_free`. Call it until NULL after every input, and carry out each output in order.
///
/// Every output has a `type`; numbers are integers, absent values are `null`:
/// - `{"type":"http","id":N,"method":"GET"|"POST","path":"/token","query":[["k","v"],...],
///   "path_and_query":"/token?k=v","headers":[["name","value"],...],"body":"<JSON text>"|null}`:
///   send it (URL = auth URL + `path_and_query`, query percent-encoded there), then answer with
///   `gs_machine_handle_response` or `gs_machine_handle_transport_failure` and this `id`.
/// - `{"type":"storage_read","id":N,"key":"...","exclusive":bool}`: read the key, answer with
///   `gs_machine_handle_storage_read`. `exclusive`: take the store's cross-process lock for the
///   key first and hold it until the matching `storage_unlock` (stores without locks ignore it).
/// - `{"type":"storage_unlock","key":"..."}`: release that lock (no answer).
/// - `{"type":"storage_write","id":N,"key":"...","value":"<JSON text>"}` and
///   `{"type":"storage_remove","id":N,"key":"..."}`: do it, answer with
///   `gs_machine_handle_storage_done`.
/// - `{"type":"event","kind":"INITIAL_SESSION"|"SIGNED_IN"|"SIGNED_OUT"|"TOKEN_REFRESHED"|
///   "USER_UPDATED"|"PASSWORD_RECOVERY","access_token":"..."|null,"expired":bool,
///   "reason":"user_sign_out"|...|null,"session":SESSION|null}`: deliver to listeners.
/// - `{"type":"complete","op":N,"ok":bool,"error":ERROR|null,"value":VALUE|null}`: operation
///   `op` finished. ERROR is `{"kind":"session_missing"|"api"|"retryable_fetch"|
///   "invalid_response"|"refresh_discarded"|"invalid_input"|"storage"|"session_unconfirmed",
///   "status":N|null,"code":"..."|null,"message":"...","retry_after_ms":N|null,
///   "retryable":bool}`. `retryable`: whether the same call, made again later, may succeed
///   (retryable kinds: `retryable_fetch` and `session_unconfirmed`). `session_unconfirmed` comes
///   from `get_user`: `/user` doubted a session the refresh endpoint accepts (a lagging
///   replica: the verify refresh succeeded and `/user` still doubted it, or the doubt came
///   within `verify_cooldown_ms` of such a refresh), so the session is kept and no `SIGNED_OUT`
///   is sent; `status` and `code` are those of the last `/user` answer. VALUE is
///   `{"kind":"done"}`,
///   `{"kind":"session","access_token":"..."|null,"session":SESSION|null}`,
///   `{"kind":"user","user_id":"...","user":USER}` or
///   `{"kind":"pkce_challenge","challenge":"...","method":"s256"}`.
/// - `{"type":"diagnostic","kind":"session_removed"|...,"message":"...","removal":"..."|null,
///   "error":ERROR|null,"server_headers":[["name","value"],...]}`: for logs only.
///
/// SESSION is the session as auth-js stores it (`access_token`, `token_type`, `expires_in`,
/// `expires_at`, `refresh_token`, `user`, ...); USER is GoTrue's user object.
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_poll_output(machine: *mut GsMachine, err: *mut GsError) -> *mut c_char {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    let next = with_machine(m, err, |m| Ok(m.poll_output().map(|o| json_out::output(&o))));
    next.ok().flatten().map_or(std::ptr::null_mut(), boundary::c_string)
}

/// Every pending output at once, as a JSON array of the objects `gs_machine_poll_output`
/// describes (`[]` when there is none), in order; NULL only on error. The string is the
/// caller's: free it with `gs_string_free`. Carrying out one output can make new ones: poll
/// again until `[]`.
///
/// # Safety
/// `machine` is NULL or live; `err` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_poll_outputs(machine: *mut GsMachine, err: *mut GsError) -> *mut c_char {
    // SAFETY: `machine` and `err` are NULL or valid and unshared, as the caller guarantees.
    let (m, err) = unsafe { (machine.as_mut(), err.as_mut()) };
    let all = with_machine(m, err, |m| Ok(json_out::outputs(std::iter::from_fn(|| m.poll_output()))));
    all.map_or(std::ptr::null_mut(), boundary::c_string)
}

/// When the machine next wants `gs_machine_handle_timeout`: true with the time (Unix ms) in
/// `*out`, or false when it wants none (or `machine` is NULL or poisoned; `*out` is then left
/// as it was).
///
/// # Safety
/// `machine` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn gs_machine_poll_timeout(machine: *const GsMachine, out: *mut u64) -> bool {
    let at = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `machine` is NULL or live, as the caller guarantees.
        let gm = unsafe { machine.as_ref() }?;
        if gm.poisoned {
            return None;
        }
        gm.machine.poll_timeout()
    }));
    match (at, out.is_null()) {
        (Ok(Some(at)), false) => {
            // SAFETY: `out` is not NULL and writable, as the caller guarantees.
            unsafe { *out = at };
            true
        }
        _ => false,
    }
}

/// Frees a string returned by this library (`gs_machine_poll_output`, `gs_machine_poll_outputs`).
/// NULL is ignored.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not freed before.
#[no_mangle]
pub unsafe extern "C" fn gs_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in this library and is freed once.
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}

/// Releases the message of `err` and resets it to `GS_ERROR_CODE_OK`, ready for reuse. NULL is
/// ignored.
///
/// # Safety
/// `err` is NULL or a `GsError` that is zero-initialized or was filled by this library.
#[no_mangle]
pub unsafe extern "C" fn gs_error_clear(err: *mut GsError) {
    // SAFETY: `err` is NULL or a valid, unshared GsError, as the caller guarantees.
    if let Some(e) = unsafe { err.as_mut() } {
        boundary::clear(e);
    }
}
