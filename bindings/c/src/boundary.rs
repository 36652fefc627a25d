//! The boundary itself: errors as codes plus a message, panics caught, C strings in and out.
//!
//! Every `extern "C"` function runs its body through [`run`] (or [`with_machine`]), so no panic
//! crosses into C and every failure lands in the caller's `GsError`.

use crate::{GsError, GsErrorCode, GsMachine};
use gotrue_session::SessionMachine;
use std::any::Any;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure to report: a code and a message free of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The code.
    pub code: GsErrorCode,
    /// The message (never quotes a value the caller passed, only names it).
    pub message: String,
}

impl Failure {
    /// A failure of `code` described by `message`.
    pub fn new(code: GsErrorCode, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    /// A required pointer was NULL.
    pub fn null(what: &str) -> Self {
        Self::new(GsErrorCode::NullArgument, format!("`{what}` is NULL"))
    }

    /// An argument is well-formed but unusable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(GsErrorCode::InvalidArgument, message)
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        // Only a literal panic message is shown: a formatted one (an index or a slice out of
        // range, say) may quote a token.
        let detail = match payload.downcast_ref::<&'static str>() {
            Some(s) => format!(": {s}"),
            None => String::new(),
        };
        Self::new(
            GsErrorCode::Panic,
            format!("internal error in gotrue-session{detail}; this machine can no longer be used, free it"),
        )
    }
}

/// Releases the message `e` holds and marks it OK.
pub(crate) fn clear(e: &mut GsError) {
    if !e.message.is_null() {
        // SAFETY: a `GsError` reference exists only where the caller promised that the struct is
        // zero-initialized or filled by this library, so a non-NULL message was made by
        // `CString::into_raw` (in `run`, through `c_string`) and not freed since (freeing goes through here, which
        // sets it to NULL).
        drop(unsafe { CString::from_raw(e.message) });
    }
    e.code = GsErrorCode::Ok;
    e.message = std::ptr::null_mut();
}

/// Runs `body` with panics caught; `Err(code)` when it failed or panicked, the reason in `err`
/// (which is first cleared).
pub(crate) fn run<T>(
    mut err: Option<&mut GsError>,
    body: impl FnOnce() -> Result<T, Failure>,
) -> Result<T, GsErrorCode> {
    if let Some(e) = err.as_deref_mut() {
        clear(e);
    }
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(f)) => f,
        Err(payload) => Failure::panic(payload.as_ref()),
    };
    let code = failure.code;
    if let Some(e) = err {
        e.code = code;
        e.message = c_string(failure.message);
    }
    Err(code)
}

/// [`run`] over a machine: a NULL (`None`) or poisoned machine is refused, and a panic
/// poisons it.
pub(crate) fn with_machine<T>(
    m: Option<&mut GsMachine>,
    err: Option<&mut GsError>,
    body: impl FnOnce(&mut SessionMachine) -> Result<T, Failure>,
) -> Result<T, GsErrorCode> {
    run(err, || {
        let gm = m.ok_or_else(|| Failure::null("machine"))?;
        if gm.poisoned {
            return Err(Failure::new(
                GsErrorCode::Poisoned,
                "this machine panicked earlier and can no longer be used; free it",
            ));
        }
        // Set while the body runs: a panic unwinds past the reset and leaves it set.
        gm.poisoned = true;
        let result = body(&mut gm.machine);
        gm.poisoned = false;
        result
    })
}

/// The status code of a `run` result.
pub(crate) fn status(r: Result<(), GsErrorCode>) -> GsErrorCode {
    r.err().unwrap_or(GsErrorCode::Ok)
}

/// A heap C string the caller frees with `gs_string_free`. NUL bytes (which JSON text never
/// holds) are dropped rather than truncating the string.
pub(crate) fn c_string(s: String) -> *mut c_char {
    let s = if s.contains('\0') { s.replace('\0', "") } else { s };
    CString::new(s).map(CString::into_raw).unwrap_or(std::ptr::null_mut())
}

/// A required UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that stays valid for the call.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from the caller.
    unsafe { opt_text(p, what) }?.ok_or_else(|| Failure::null(what))
}

/// An optional UTF-8 string argument (NULL: `None`).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: `p` is not NULL and, as the caller guarantees, NUL-terminated and valid.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map(Some).map_err(|_| Failure::new(GsErrorCode::InvalidUtf8, format!("`{what}` is not UTF-8")))
}

/// A byte buffer argument: NULL is allowed only with length 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that stay valid for the call.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Failure::null(what)) };
    }
    // SAFETY: `p` is not NULL and, as the caller guarantees, points to `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_poisons_the_machine() {
        let mut err = GsError { code: GsErrorCode::Ok, message: std::ptr::null_mut() };
        let cfg = gotrue_session::Config::new("k", "a");
        let mut m = GsMachine { machine: SessionMachine::new(cfg), poisoned: false };
        let r: Result<(), _> = with_machine(Some(&mut m), Some(&mut err), |_| panic!("boom"));
        assert_eq!(r, Err(GsErrorCode::Panic));
        assert_eq!(err.code, GsErrorCode::Panic);
        // SAFETY: a failure leaves a NUL-terminated message.
        let msg = unsafe { CStr::from_ptr(err.message) }.to_str().unwrap().to_owned();
        assert!(msg.contains("boom"), "{msg}");
        let r = with_machine(Some(&mut m), Some(&mut err), |_| Ok(()));
        assert_eq!(r, Err(GsErrorCode::Poisoned));
        clear(&mut err);
        assert!(err.message.is_null());
    }

    #[test]
    fn formatted_panic_messages_are_withheld() {
        let mut err = GsError { code: GsErrorCode::Ok, message: std::ptr::null_mut() };
        let secret = String::from("eyJsecret");
        let r: Result<(), _> = run(Some(&mut err), || panic!("token {secret}"));
        assert_eq!(r, Err(GsErrorCode::Panic));
        // SAFETY: a failure leaves a NUL-terminated message.
        let msg = unsafe { CStr::from_ptr(err.message) }.to_str().unwrap().to_owned();
        assert!(!msg.contains("eyJ"), "{msg}");
        clear(&mut err);
    }

    #[test]
    fn nul_bytes_never_truncate_a_string() {
        let p = c_string("a\0b".into());
        // SAFETY: `p` was just made by `c_string`.
        unsafe {
            assert_eq!(CStr::from_ptr(p).to_str().unwrap(), "ab");
            drop(CString::from_raw(p));
        }
    }
}
