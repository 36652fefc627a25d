//! What the gotrue-session shells share, so each of them stays a thin carrier of the core's
//! decisions:
//!
//! - [`SessionStorage`] with an in-memory store and an atomic, locked file store;
//! - [`Transport`] with a ureq transport (feature `ureq`, on by default);
//! - [`StorageExecutor`], which carries out the core's storage outputs and turns their results
//!   into the core's inputs;
//! - [`Pump`], which routes every output: storage at once, results to callers, events to
//!   subscribers, requests back to the shell;
//! - [`ClientOptions`], the shells' configuration, and a wall clock and entropy source.

mod clock;
mod exec;
mod options;
mod pump;
mod storage;
mod transport;

pub use clock::{entropy, now_ms};
pub use exec::{StorageExecutor, StorageInput};
pub use options::ClientOptions;
pub use pump::{challenge_of, jitter_seed, session_of, shut_down, user_of, EventSink, Pump};
pub use storage::{FileStorage, MemoryStorage, SessionStorage, StorageError};
pub use transport::Transport;
#[cfg(feature = "ureq")]
pub use transport::UreqTransport;
