//! # gotrue-session
//!
//! One sans-IO state machine that makes every decision about a Supabase Auth (GoTrue) session:
//! when to refresh, when a session is really gone, what to store, which event to announce.
//! Shells (async, blocking, Swift, Kotlin, C) carry out its outputs; every platform then follows
//! the same policy.
//!
//! ```
//! use gotrue_session::{Command, Config, Output, SessionMachine};
//!
//! let mut m = SessionMachine::new(Config::new("sb-demo-auth-token", "anon-key"));
//! let now = 1_767_225_600_000;
//! let init = m.handle_command(now, Command::Initialize);
//! // The machine asks to read storage; answer it (here: nothing stored).
//! let Some(Output::StorageRead { id, .. }) = m.poll_output() else { unreachable!() };
//! m.handle_storage_read(now, id, Ok(None));
//! let mut done = false;
//! while let Some(out) = m.poll_output() {
//!     if let Output::Complete { op, result } = out {
//!         done = op == init && result.is_ok();
//!     }
//! }
//! assert!(done);
//! ```

mod api;
pub mod classify;
mod config;
mod error;
pub mod http;
pub mod jwt;
pub mod limits;
mod machine;
pub mod pkce;
pub mod requests;
pub mod retry;
pub mod storage;
pub mod wire;

pub use api::{
    AuthEvent, Command, Diagnostic, DiagnosticKind, EventKind, Lifecycle, OpId, OpValue, OtpRecipient, Output,
    Reachability, RemovalReason, SignOutScope, StorageFailure, StorageOpId,
};
pub use config::{Config, ConfigError, SessionNotFoundPolicy, VerifyCooldown};
pub use error::{AuthError, ErrorKind};
pub use http::{HttpRequest, HttpResponse, Method, RequestId, TransportFailure};
pub use machine::SessionMachine;
pub use wire::{Session, User};
