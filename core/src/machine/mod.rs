//! The session machine: one per stored session key.
//!
//! Inputs arrive through `handle_*` methods, each with the current time; outputs leave through
//! [`SessionMachine::poll_output`], and [`SessionMachine::poll_timeout`] says when the machine next
//! wants [`SessionMachine::handle_timeout`]. Nothing here reads a clock, a random source, storage
//! or the network.
//!
//! The policy lives in three places, each readable on its own:
//! - `crate::classify`: what an answer means (the table of POLICY.md section 2);
//! - `flight`: refreshes, their retries, cooldown, and what a failed refresh does to the session;
//! - `suspicion`: what a `/user` suspicion leads to (POLICY.md section 5);
//! - `ops`: what each command does, step by step, and what it answers.
//!
//! `store` keeps storage and the machine's view of the session in step.

mod flight;
mod ops;
mod removals;
mod store;
mod suspicion;

use crate::api::{
    AuthEvent, Command, Diagnostic, DiagnosticKind, EventKind, Lifecycle, OpId, OpValue, Output, Reachability,
    RemovalReason, StorageFailure, StorageOpId,
};
use crate::config::Config;
use crate::error::AuthError;
use crate::http::{HttpResponse, RequestId, TransportFailure};
use crate::storage::StorageKeys;
use crate::wire::Session;
use flight::{Cooldown, Flight};
use ops::{Pending, Phase};
use std::collections::VecDeque;
use store::Store;

/// Skews smaller than this are noise (expiry times have one-second resolution, answers take
/// time to arrive) and are ignored.
const SKEW_NOISE_MS: i64 = 2_000;

/// The session state machine. See the module documentation.
///
/// `Debug` shows the machine's state without any token (POLICY.md section 11).
pub struct SessionMachine {
    cfg: Config,
    keys: StorageKeys,
    out: VecDeque<Output>,
    next_id: u64,
    phase: Phase,
    init_ops: Vec<OpId>,
    /// Calls made before INITIAL_SESSION, with when they were made.
    deferred: Vec<(OpId, Command, removals::Mark)>,
    /// The machine's view of the session.
    session: Option<Session>,
    /// Bumped whenever `session` is replaced or removed: a refresh started under an older epoch
    /// must not commit (the commit guard).
    epoch: u64,
    /// Proactive preserve: the refresh token was rejected while the access token was valid; the
    /// session is removed at this time (device clock, ms), with the error that doomed it.
    doomed: Option<(u64, AuthError)>,
    /// Server clock minus device clock, in ms.
    skew_ms: i64,
    /// The removals of the session (sign-outs, revocations, removals by another process), and the
    /// refresh tokens of the session held: what a set_session called before a removal yields to.
    removals: removals::Removals,
    /// The PKCE verifier of a memory-only machine (`persist_session` off), and whether its flow
    /// is a recovery.
    memory_verifier: Option<(String, bool)>,
    store: Store,
    /// Requests in flight, and what each is for. A machine has a handful at most: a list is
    /// cheaper than a hash map.
    requests: Vec<(RequestId, Pending)>,
    flights: Vec<Flight>,
    cooldown: Option<Cooldown>,
    /// The last verify refresh of this session that succeeded: a suspicion within
    /// `verify_cooldown` of it makes no second refresh.
    verified: Option<suspicion::Verified>,
    auto_refresh: bool,
    foreground: bool,
    online: bool,
    jitter_state: Option<u64>,
}

impl std::fmt::Debug for SessionMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionMachine")
            .field("storage_key", &self.cfg.storage_key)
            .field("phase", &self.phase)
            .field("session", &self.session)
            .field("epoch", &self.epoch)
            .field("doomed_at", &self.doomed.as_ref().map(|(at, _)| *at))
            .field("skew_ms", &self.skew_ms)
            .field("storage_in_sync", &self.store.in_sync())
            .field("requests_in_flight", &self.requests.len())
            .field("refreshes_in_flight", &self.flights.len())
            .field("cooling_down", &self.cooldown.is_some())
            .field("verified_at", &self.verified.as_ref().map(|v| v.at))
            .field("auto_refresh", &self.auto_refresh)
            .field("foreground", &self.foreground)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

impl SessionMachine {
    /// A machine for `cfg`. Nothing happens until the first input.
    pub fn new(cfg: Config) -> Self {
        SessionMachine {
            keys: StorageKeys::new(&cfg.storage_key),
            auto_refresh: cfg.auto_refresh,
            cfg,
            out: VecDeque::new(),
            next_id: 1,
            phase: Phase::Fresh,
            init_ops: Vec::new(),
            deferred: Vec::new(),
            session: None,
            epoch: 0,
            doomed: None,
            skew_ms: 0,
            removals: removals::Removals::default(),
            memory_verifier: None,
            store: Store::default(),
            requests: Vec::new(),
            flights: Vec::new(),
            cooldown: None,
            verified: None,
            foreground: true,
            online: true,
            jitter_state: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The storage keys this machine owns.
    pub fn keys(&self) -> &StorageKeys {
        &self.keys
    }

    /// The session as the machine sees it now (no I/O, no refresh).
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Whether storage is known to hold exactly the machine's view (no write or removal in
    /// flight or waiting for a retry).
    pub fn storage_in_sync(&self) -> bool {
        self.store.in_sync()
    }

    /// The estimated server-minus-device clock offset, in ms.
    pub fn clock_skew_ms(&self) -> i64 {
        self.skew_ms
    }

    /// Seeds the retry jitter (with entropy from the platform). Without a seed, or with
    /// `Config::jitter` off, retries follow the exact schedule.
    pub fn seed_jitter(&mut self, seed: u64) {
        self.jitter_state = Some(seed | 1);
    }

    /// Starts an operation; it completes with an [`Output::Complete`] carrying the returned id.
    pub fn handle_command(&mut self, now: u64, cmd: Command) -> OpId {
        let op = OpId(self.fresh_id());
        self.before_input(now);
        self.start_command(now, op, cmd);
        op
    }

    /// An HTTP answer to request `id`.
    pub fn handle_response(&mut self, now: u64, id: RequestId, response: HttpResponse) {
        self.before_input(now);
        self.on_answer(now, id, Ok(response));
    }

    /// Request `id` failed without an answer.
    pub fn handle_transport_failure(&mut self, now: u64, id: RequestId, failure: TransportFailure) {
        self.before_input(now);
        self.on_answer(now, id, Err(failure));
    }

    /// The result of a storage read: `Ok(None)` when the key is absent.
    pub fn handle_storage_read(&mut self, now: u64, id: StorageOpId, result: Result<Option<String>, StorageFailure>) {
        self.before_input(now);
        self.on_storage_read(now, id, result);
    }

    /// The outcome of a storage write or removal.
    pub fn handle_storage_done(&mut self, now: u64, id: StorageOpId, result: Result<(), StorageFailure>) {
        // Not `before_input`: retrying right after a failure report would spin on a broken store.
        self.on_storage_done(now, id, result);
    }

    /// Another process changed the stored session: read it and adopt what it holds.
    pub fn handle_storage_changed(&mut self, now: u64) {
        self.before_input(now);
        // A memory-only machine owns no storage: what another process stores is not its session.
        if self.phase == Phase::Ready && self.cfg.persist_session {
            self.request_session_read(ops::ReadWaiter::Absorb);
        }
    }

    /// The time came (see [`SessionMachine::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: u64) {
        self.before_input(now);
        if let Some((at, _)) = &self.doomed {
            if *at <= now {
                self.doomed = None;
                self.remove_session(RemovalReason::RefreshRejectedAtExpiry, None);
            }
        }
        self.fire_flight_timers(now);
        if self.auto_refresh_deadline().is_some_and(|at| at <= now) {
            self.auto_refresh_now(now);
        }
    }

    /// Turns auto refresh on or off (`start_auto_refresh` / `stop_auto_refresh`).
    pub fn set_auto_refresh(&mut self, now: u64, on: bool) {
        self.before_input(now);
        self.auto_refresh = on;
    }

    /// The app went to the foreground or the background.
    pub fn handle_lifecycle(&mut self, now: u64, state: Lifecycle) {
        self.before_input(now);
        self.foreground = state == Lifecycle::Foreground;
        if self.foreground {
            if self.phase == Phase::NeedsRead {
                self.start_init_read(now);
            }
            self.resume_paused_flights(now);
        }
    }

    /// The platform says the network came or went.
    pub fn handle_network(&mut self, now: u64, state: Reachability) {
        self.before_input(now);
        self.online = state == Reachability::Online;
        if self.online {
            // The network coming back is news: the cached failure no longer predicts anything.
            self.cooldown = None;
            self.resume_paused_flights(now);
        }
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the machine next wants [`SessionMachine::handle_timeout`] (Unix ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.store.retry_at(),
            self.doomed.as_ref().map(|(at, _)| *at),
            self.next_flight_timer(),
            self.auto_refresh_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- shared helpers -------------------------------------------------------------------

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Work owed on any input: storage writes or removals that failed are retried.
    fn before_input(&mut self, now: u64) {
        self.retry_storage(now);
    }

    /// The device time corrected by the estimated skew.
    fn server_now(&self, now: u64) -> i64 {
        // Saturating throughout: expiries and skews come from answers, which may be absurd.
        device_ms(now).saturating_add(self.skew_ms)
    }

    /// `expires_at - now < margin`, on the corrected clock.
    fn is_due(&self, s: &Session, now: u64) -> bool {
        s.expires_at_ms().saturating_sub(self.server_now(now)) < self.cfg.margin_ms as i64
    }

    /// `now >= expires_at`, on the corrected clock.
    fn is_expired(&self, s: &Session, now: u64) -> bool {
        self.server_now(now) >= s.expires_at_ms()
    }

    /// The device time at which a session's access token expires.
    fn expiry_on_device(&self, s: &Session) -> u64 {
        s.expires_at_ms().saturating_sub(self.skew_ms).max(0) as u64
    }

    /// Learns the server's clock from a token answer: `expires_at - expires_in` is its "now".
    fn observe_server_clock(&mut self, now: u64, s: &Session) {
        let Some(expires_in) = s.expires_in else { return };
        let estimate = s.expires_at.saturating_sub(expires_in).saturating_mul(1000).saturating_sub(device_ms(now));
        let skew = if estimate.unsigned_abs() < SKEW_NOISE_MS.unsigned_abs() { 0 } else { estimate };
        if skew != self.skew_ms {
            self.skew_ms = skew;
            if skew != 0 {
                self.diagnose(
                    DiagnosticKind::ClockSkew,
                    format!("the server's clock is {skew} ms ahead of this device"),
                    None,
                    None,
                );
            }
        }
    }

    fn emit(&mut self, kind: EventKind, reason: Option<RemovalReason>, expired: bool) {
        if matches!(kind, EventKind::SignedIn | EventKind::SignedOut | EventKind::PasswordRecovery) {
            // A new session (or none) was never verified: the verify cooldown is the old one's.
            self.verified = None;
        }
        let session = if kind == EventKind::SignedOut { None } else { self.session.clone() };
        self.out.push_back(Output::Event(AuthEvent { kind, session, expired, reason }));
    }

    fn complete(&mut self, op: OpId, result: Result<OpValue, AuthError>) {
        self.out.push_back(Output::Complete { op, result });
    }

    fn diagnose(
        &mut self,
        kind: DiagnosticKind,
        message: String,
        error: Option<AuthError>,
        removal: Option<RemovalReason>,
    ) {
        self.out.push_back(Output::Diagnostic(Diagnostic {
            kind,
            message,
            removal,
            error,
            server_headers: Vec::new(),
        }));
    }

    /// Replaces the session (a sign-in, a refresh, an adoption): persist, then announce.
    fn replace_session(&mut self, s: Session, event: Option<EventKind>) {
        self.epoch += 1;
        self.doomed = None;
        self.cooldown = None;
        match event {
            Some(EventKind::SignedIn | EventKind::PasswordRecovery) => self.removals.session_started(&s.refresh_token),
            _ => self.removals.session_rotated(&s.refresh_token),
        }
        self.session = Some(s);
        self.persist_session();
        if let Some(kind) = event {
            self.emit(kind, None, false);
        }
    }

    /// Removes the session, once: persist the removal, then SIGNED_OUT with its reason.
    fn remove_session(&mut self, reason: RemovalReason, error: Option<AuthError>) {
        let Some(removed) = self.session.take() else { return };
        self.epoch += 1;
        self.removals.session_removed(reason, &removed);
        self.doomed = None;
        self.cooldown = None;
        self.persist_removal();
        self.diagnose(
            DiagnosticKind::SessionRemoved,
            format!("session removed: {}", reason.as_str()),
            error,
            Some(reason),
        );
        self.emit(EventKind::SignedOut, Some(reason), false);
    }

    /// A uniform draw in `[0, 1)` for retry jitter, when jitter is on and seeded.
    fn jitter(&mut self) -> Option<f64> {
        if !self.cfg.jitter {
            return None;
        }
        let state = self.jitter_state.as_mut()?;
        // xorshift64*: plenty for spreading retries; the seed is the platform's entropy.
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let x = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Some((x >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A device time as a signed millisecond count (a clock past the year 292 million is the year
/// 292 million).
fn device_ms(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}
