//! UniFFI bindings of gotrue-session, for Kotlin and Swift.
//!
//! Two ways in:
//!
//! - [`AuthClient`]: the async client of `gotrue-session-tokio` on a runtime of its own. The
//!   app supplies a [`SessionStorage`] (Keychain, `SharedPreferences`, a file), optionally an
//!   [`HttpTransport`] (URLSession, OkHttp; the built-in ureq transport is the default), and
//!   listens with an [`AuthEventListener`].
//! - [`SessionMachine`]: the raw sans-IO machine, for apps that drive I/O themselves. Every
//!   input is one call returning a [`MachineStep`] with all the outputs it produced.
//!
//! This crate only converts: every decision is the core's. Errors are one enum, [`AuthError`],
//! with a variant per kind, each keeping the HTTP status and the GoTrue error code.
//!
//! Feature `ureq` (default): the built-in transport. Without it the library is about 1.2 MB
//! smaller and every [`AuthClient`] needs an [`HttpTransport`].
//!
//! Generate bindings with the in-repo bindgen, in library mode:
//!
//! ```text
//! cargo build -p gotrue-session-ffi --features bindgen
//! target/debug/uniffi-bindgen generate target/debug/libgotrue_session_ffi.so \
//!     --language kotlin --config uniffi.toml --no-format --out-dir build/kotlin
//! ```

// The workspace's `forbid(unsafe_code)` holds here too: the `unsafe` of uniffi's scaffolding is
// expanded from uniffi's macros, where rustc does not report this lint, and no line written here
// is unsafe.

mod client;
mod error;
mod foreign;
mod machine;
mod types;

pub use client::{AuthClient, ClientOptions, EventSubscription};
pub use error::{AuthError, StorageError, TransportError};
pub use foreign::{AuthEventListener, HttpTransport, SessionStorage};
pub use machine::{
    Command, MachineConfig, MachineOutput, MachineStep, OpOutcome, OpValue, SessionMachine, StorageReadResult,
};
pub use types::{
    AuthEvent, Diagnostic, DiagnosticKind, EventKind, HttpMethod, HttpRequest, HttpResponse, Lifecycle, NameValue,
    OtpRecipient, Reachability, RemovalReason, RetryPolicy, Session, SessionNotFoundPolicy, SignOutScope, User,
};

uniffi::setup_scaffolding!();
