//! The simulated world of the session machine, shared by the property-based simulation
//! (`core/tests/simulation.rs`, `mod sim;`) and the `machine` fuzz target
//! (`fuzz/fuzz_targets/machine.rs`, `#[path = "../../core/tests/sim/mod.rs"] mod sim;`). It uses
//! only crates both have (gotrue-session, serde_json, base64): no proptest here; the strategies
//! stay in `simulation.rs`.
//!
//! A simulated world (a key-value store, a virtual clock, requests in flight, another process
//! sharing the store) drives one `SessionMachine` through random interleavings of app calls,
//! server answers in any order, storage failures, time jumps, lifecycle and network changes. After
//! every input (and within the drain of its outputs) these invariants are checked; a failure
//! names its number:
//!
//! 1. storage in sync: when `storage_in_sync()`, the stored session is the machine's view;
//! 2. a transient answer (transport failure, 5xx, 408, 409, 429, a body that is not GoTrue's, a
//!    2xx that is not what the protocol promises) never removes a session; nor does a hostile
//!    one ([`Hostile`]: an HTML page, truncated JSON, bytes that are not UTF-8, an empty body, a
//!    user whose `user_metadata` nests 100 000 arrays, 2 MiB, a token answer missing a token, or
//!    arbitrary bytes; with a 2xx or another status), which proves nothing either: with a non-2xx
//!    status its body is no JSON object with one of GoTrue's error fields, and with a 2xx it is
//!    no valid token answer or user (a 2xx to `/logout` needs no body: it is a success);
//! 3. SIGNED_OUT is never emitted twice without a session announced in between, and always follows
//!    a StorageRemove of the session key in the same drain (unless another process removed it,
//!    or nothing is persisted);
//! 4. at most one refresh request is in flight per refresh token; a refresh request spends the
//!    session's refresh token (or one the app handed to set_session), never one already rotated;
//! 5. after a SIGNED_OUT, no session of the signed-out lineage (its refresh token or one issued
//!    for it, transitively) is written to storage or announced again;
//! 6. INITIAL_SESSION exactly once, and only TOKEN_REFRESHED or SIGNED_OUT precede it;
//! 7. every operation completes exactly once (checked at every step, and at the end of a case
//!    after failing every request and letting time run);
//! 8. once INITIAL_SESSION is out, the last announced session is the machine's session;
//! 9. `get_user_with_jwt` never touches the session; `get_session` never answers `null` while
//!    the machine holds a session;
//! 10. no diagnostic or error message carries a token, a password or a PKCE verifier; the machine
//!     never panics and never spins without the clock moving;
//! 11. the store's cross-process lock (exclusive reads) is released exactly once, and is never
//!     held with no refresh in flight and no timer pending;
//! 12. with `persist_session` off, the machine touches no storage;
//! 13. persist before emit: a session is written to storage before the event announcing it, and
//!     a call answers only a session that was announced;
//! 14. no SIGNED_OUT follows a successful refresh of the same session (the signed-out session is
//!     the refreshed one or a successor) unless, in between, the refresh endpoint rejected a
//!     refresh of that lineage (a session-dead signal or an api error, POLICY.md section 3), the
//!     app called sign_out (or one was still under way), another process changed the stored
//!     session, or `/user` answered a suspicion under the `remove` policy. Tracked from what the
//!     simulated server answered and what the app and the other process did: a `/user` suspicion
//!     after a successful verify refresh is not a verdict;
//! 15. at most one verify refresh per `verify_cooldown`: a verify refresh is a refresh request sent
//!     in the drain of a `/user` suspicion answer; one that spends the token a successful verify
//!     refresh issued (or a later token of that lineage) less than `verify_cooldown` after that
//!     success, by the machine's clock, is a violation. A SIGNED_IN, PASSWORD_RECOVERY or
//!     SIGNED_OUT starts a new session and the count anew;
//! 16. nothing hostile becomes a session: no session whose tokens came only in a stored value that
//!     is not a session (garbage, truncated JSON, a session whose user nests 100 000 levels deep:
//!     [`Stored::Garbage`], [`HostileStored`], left at start or written by another process) or in
//!     a hostile answer (invariant 2's) is written to storage, announced, answered by a call or
//!     held by the machine. No value with tokens is hostile by its size alone, and the deep ones
//!     nest 100 000 levels, far beyond any limit: the model does not depend on where exactly the
//!     core's size and depth limits are.
//!
//! A case is a [`Setup`] and a list of [`Action`]s; [`run_case`] plays it and returns the first
//! violation's message. A step is one action applied to the machine ([`Sim::act`]: the inputs it
//! makes, and the timeouts that fall due, each followed by the checks).
//!
//! Knobs (environment variables): `SIM_TRACE=1` appends every input and output of a failing case
//! to its message; `SIM_SKIP=5,11` ignores invariants by number (to look past one bug for the
//! next).
//!
//! Files: `mod.rs` the case and how it is played; `world.rs` the world's state and the invariant
//! checks; `drive.rs` the inputs and actions; `server.rs` what the simulated server answers;
//! `bits.rs` the decoder that turns random numbers into actions.

mod bits;
mod drive;
mod server;
mod world;

pub use bits::{splitmix64, Bits};
pub use world::Sim;

use gotrue_session::Command;

pub const START_MS: u64 = 1_767_225_600_000;
pub const KEY: &str = "sb-sim-auth-token";
/// More outputs than this for one input, or more timeouts than this at one instant, is a loop.
pub const MAX_OUTPUTS_PER_INPUT: usize = 20_000;
pub const MAX_TIMEOUTS_PER_ADVANCE: usize = 20_000;

pub type Check = Result<(), String>;

/// Substrings every token and password the simulation hands out contains (PKCE verifiers, 43
/// base64url characters, are checked one by one).
pub const SECRET_MARKERS: &[&str] = &["eyJhbGci", "rt-sim-", "rt-set-", "pw-secret-", "idtoken-secret-"];

// ---- the case: a machine configuration, what storage holds at start, and actions ------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Verify,
    Remove,
    Defer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Empty,
    Valid,
    Due,
    Expired,
    Garbage,
    /// A value that is not a session though it carries tokens (invariant 16).
    Hostile(HostileStored),
}

/// A stored value that is not a session but carries tokens of its own, as a broken writer, a
/// restored backup or another process with a bug may leave: never to be announced (invariant 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileStored {
    /// A session value cut short (`n` picks where; never whole).
    Truncated(u8),
    /// A session value whose user's `user_metadata` nests 100 000 arrays.
    DeepUser,
}

#[derive(Debug, Clone)]
pub struct Setup {
    pub persist: bool,
    pub auto_refresh: bool,
    pub policy: Policy,
    pub jitter_seed: Option<u64>,
    /// The server's clock minus the device's, in seconds.
    pub skew_s: i64,
    /// `expires_in` of every token the server issues.
    pub lifetime_s: i64,
    pub stored: Stored,
    /// The first reads fail (a keychain locked before first unlock).
    pub init_read_failures: u8,
    /// Initialize comes after this many actions (calls before it wait for it).
    pub init_after: u8,
    /// `Config.verify_cooldown`: 0, a short one a few actions cross, or the default.
    pub verify_cooldown_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    FreshValid,
    FreshExpired,
    CurrentValid,
    CurrentExpired,
    NotJwt,
    EmptyRefresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Initialize,
    GetSession,
    /// Several get_session calls at the same instant.
    GetSessionBurst(u8),
    GetUser,
    GetUserWithJwt,
    RefreshSession,
    SetSession(SetKind),
    SignOut(Scope),
    Password,
    Anonymous,
    IdToken,
    VerifyOtp {
        recovery: bool,
    },
    StartPkce {
        short: bool,
        recovery: bool,
    },
    ExchangeCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Local,
    Global,
    Others,
}

/// How the server (or the network) answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ans {
    /// 2xx with what the endpoint promises (fresh tokens, the user, 204 for logout).
    Ok,
    /// 2xx whose body is not what the protocol promises.
    OkGarbage(u8),
    ServerError(u8),
    Timeout408,
    Conflict409,
    RateLimited {
        retry_after_s: u8,
    },
    ProxyHtml(u8),
    EmptyBody(u8),
    RefreshTokenNotFound,
    RefreshTokenAlreadyUsed,
    SessionNotFound,
    UserNotFound,
    SessionExpired,
    BadJwt {
        expired: bool,
    },
    Validation422,
    LegacyInvalidGrant,
    Transport,
    /// A hostile body with any status (invariant 2): it proves nothing.
    Hostile {
        body: Hostile,
        status: u16,
    },
}

/// A body that proves nothing, whatever its status: what a proxy, a captive portal, a broken
/// server or a hostile network may answer instead of GoTrue. None is a JSON object with one of
/// GoTrue's error fields (`code`, `error_code`, `msg`, `message`, `error`, `error_description`),
/// nor a valid token answer or user; so with a non-2xx status it is not a GoTrue error, and with a
/// 2xx it is not what the protocol promises (unless the request is `/logout`, whose 2xx needs no
/// body). Bodies that are hostile only by their size carry no tokens: the model does not depend on
/// where the core's size limits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A proxy's HTML error page.
    Html,
    /// A token answer (`n` even) or a GoTrue error (`n` odd) cut short (`n` picks where).
    Truncated(u8),
    /// Bytes that are not UTF-8.
    NotUtf8(u8),
    /// Nothing at all.
    Empty,
    /// A `{"id":...}`-looking user (`n` even), or a token answer (`n` odd), whose
    /// `user_metadata` nests 100 000 arrays.
    DeepUser(u8),
    /// 2 MiB: an HTML page, a JSON array, or a JSON object with a single `padding` field.
    Huge(u8),
    /// A token answer without an access token, without a refresh token, with a number for the
    /// refresh token, or with an empty access token.
    MissingFields(u8),
    /// Random bytes: the fuzzer's (`Sim::bodies[n % len]`) or, when it gave none, bytes drawn from
    /// `n`. One that might mean something (it spells one of the fields above, or has an escape
    /// that could) is sent behind a `<`, which no JSON text starts with.
    Bytes(u16),
}

/// The statuses hostile bodies come with (a fuzzer may use any from 200 to 599).
pub const HOSTILE_STATUSES: [u16; 16] =
    [200, 200, 201, 204, 301, 400, 401, 403, 403, 404, 410, 413, 422, 500, 502, 503];

impl Ans {
    /// Classes that may never remove a session (POLICY.md section 2), for any endpoint.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Ans::ServerError(_)
                | Ans::Timeout408
                | Ans::Conflict409
                | Ans::RateLimited { .. }
                | Ans::ProxyHtml(_)
                | Ans::EmptyBody(_)
                | Ans::Transport
        )
    }

    /// What `/user` may answer that is a suspicion, not a verdict (POLICY.md section 5).
    pub fn is_suspicion(self) -> bool {
        matches!(self, Ans::SessionNotFound | Ans::UserNotFound | Ans::SessionExpired | Ans::BadJwt { .. })
    }

    /// Whether this answer to a request for `path` proves nothing about the session (invariant 2):
    /// a 2xx answer to `/logout` needs no body, so any is a success.
    pub fn proves_nothing(self, path: &str) -> bool {
        match self {
            Ans::OkGarbage(_) => path != "/logout",
            Ans::Hostile { status, .. } => !(200..300).contains(&status) || path != "/logout",
            _ => self.is_transient(),
        }
    }

    /// The refresh endpoint refusing the token: a session-dead signal or an api error, the two
    /// answers POLICY.md section 3 lets remove a session.
    pub fn rejects_refresh(self) -> bool {
        !self.is_transient() && !matches!(self, Ans::Ok | Ans::OkGarbage(_) | Ans::Hostile { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Valid,
    Due,
    Expired,
}

/// What another process does to the shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    /// Signs in (the same user as the stored session, or another one).
    Fresh {
        same_user: bool,
        expiry: Expiry,
    },
    /// Refreshes the stored session and stores its successor.
    Rotate,
    Garbage(u8),
    /// Stores a value that is not a session though it carries tokens (invariant 16).
    Hostile(HostileStored),
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Read = 0,
    Write = 1,
    Remove = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cmd(Cmd),
    /// Answer the pending request at `pick % pending.len()`.
    Answer {
        pick: u16,
        ans: Ans,
    },
    /// Answer a pending `GET /user` (the suspicions of POLICY.md section 5), if any.
    AnswerUser {
        pick: u16,
        ans: Ans,
    },
    /// Answer a pending refresh request, if any (mostly with new tokens: a verify refresh that
    /// succeeds is what lets `/user` doubt a live session, invariants 14 and 15).
    AnswerRefresh {
        pick: u16,
        ans: Ans,
    },
    /// A get_user whose `/user` answers `ans` (a suspicion) at once; a verify refresh it sends
    /// succeeds at once, and the retry is answered `ans` again when `doubt_again`, else 200.
    /// Each step is an input of its own, checked as usual: this only makes the path of POLICY.md
    /// section 5 common enough for the verify cooldown to be crossed, and held, within a case.
    DoubtedGetUser {
        ans: Ans,
        doubt_again: bool,
    },
    Advance(u64),
    FailStorage {
        op: StoreOp,
        times: u8,
    },
    External {
        change: Ext,
        notify: bool,
    },
    AutoRefresh(bool),
    Foreground(bool),
    Online(bool),
}

/// Plays a case on a fresh world: `Err` is the first violation's message.
// Used by simulation.rs only: the fuzz target hands the world its bodies first (`run_case_with`).
#[allow(dead_code)]
pub fn run_case(setup: &Setup, actions: &[Action]) -> Check {
    run_case_with(Sim::new(setup), setup, actions).map(drop)
}

/// Plays a case on `sim` (made from `setup`, perhaps with a knob turned), and hands it back.
pub fn run_case_with(mut sim: Sim, setup: &Setup, actions: &[Action]) -> Result<Sim, String> {
    sim.fail[StoreOp::Read as usize] = u32::from(setup.init_read_failures);
    sim.count(|| format!("case with verify_cooldown {} ms", setup.verify_cooldown_ms));
    let init_at = usize::from(setup.init_after).min(actions.len());
    for (i, a) in actions.iter().enumerate() {
        if i == init_at {
            sim.command(Command::Initialize)?;
            sim.settle_until(sim.now)?;
        }
        sim.step = i + 1;
        sim.log(|| format!("-- step {} {a:?}", i + 1));
        sim.act(*a)?;
    }
    if init_at == actions.len() {
        sim.command(Command::Initialize)?;
    }
    sim.finish(true)?;
    Ok(sim)
}
