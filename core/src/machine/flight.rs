//! Refresh flights: one per refresh token, shared by every caller, retried on transient
//! failures, cooled down after a failed burst, and judged under the commit guard.

use super::ops::{AfterRefresh, Pending, Phase};
use super::SessionMachine;
use crate::api::{DiagnosticKind, OpId, Output, RemovalReason};
use crate::classify::{Class, Failure};
use crate::error::{AuthError, ErrorKind};
use crate::http::{HttpResponse, RequestId};
use crate::wire::{parse_token_answer, Session};
use crate::{requests, retry};

/// Where a flight stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlightState {
    /// Re-reading storage before sending (another process may have refreshed already).
    Reading,
    /// A request is on its way.
    Sending(RequestId),
    /// Waiting to retry at this time.
    Waiting(u64),
    /// Offline or in the background with nobody waiting: resumes on online / foreground.
    Paused,
}

/// Someone waiting for a flight's outcome.
#[derive(Debug, Clone)]
pub(super) struct Waiter {
    pub(super) op: OpId,
    pub(super) then: AfterRefresh,
    /// Answer after the first failed attempt instead of the whole burst (initialize, verify).
    pub(super) first_attempt_only: bool,
}

/// How a flight ended, for each waiter.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// New tokens (already committed for the machine's own session).
    Refreshed(Session),
    /// Another process had refreshed: its session was adopted, no request needed.
    Adopted(Session),
    /// The refresh failed (the session may have been removed or doomed meanwhile).
    Failed(AuthError),
    /// The answer came for a session that was removed or replaced: dropped.
    Discarded,
}

/// One refresh in progress.
#[derive(Debug)]
pub(super) struct Flight {
    id: u64,
    /// The refresh token being spent.
    pub(super) token: String,
    /// Refreshes the machine's own session (not a set_session's given tokens).
    own: bool,
    /// The session epoch when the request was sent (commit guard).
    epoch: u64,
    /// Started to verify a `/user` suspicion: a dead answer removes at once.
    verify: bool,
    failed_attempts: u32,
    first_at: Option<u64>,
    state: FlightState,
    waiters: Vec<Waiter>,
    reread_after_already_used: bool,
    last_error: Option<AuthError>,
    /// Holds the store's cross-process lock (taken by the pre-send re-read).
    locked: bool,
}

/// After a failed burst, the same token is answered from cache until `until`.
#[derive(Debug, Clone)]
pub(super) struct Cooldown {
    token: String,
    until: u64,
    error: AuthError,
}

/// How to start a refresh.
#[derive(Debug, Clone, Copy)]
pub(super) struct RefreshKind {
    /// The machine's own session (else a set_session's tokens).
    pub(super) own: bool,
    /// Re-read storage before sending (no need right after a read).
    pub(super) reread: bool,
    /// Verifying a suspicion.
    pub(super) verify: bool,
}

impl SessionMachine {
    /// Refreshes `token`, joining a flight already under way for it.
    pub(super) fn start_refresh(&mut self, now: u64, token: String, kind: RefreshKind, waiter: Option<Waiter>) {
        if let Some(i) = self.flights.iter().position(|f| f.token == token) {
            let f = &mut self.flights[i];
            f.verify |= kind.verify;
            if let Some(w) = waiter {
                match (&f.last_error, w.first_attempt_only) {
                    (Some(e), true) => {
                        let e = e.clone();
                        self.after_refresh(now, w, &Outcome::Failed(e));
                    }
                    _ => {
                        f.waiters.push(w);
                        if f.state == FlightState::Paused {
                            self.send_attempt(now, i);
                        }
                    }
                }
            }
            return;
        }
        if let Some(c) = &self.cooldown {
            if c.token == token && now < c.until {
                // Serial callers inside the cooldown get the cached failure, with no request.
                let e = c.error.clone();
                if let Some(w) = waiter {
                    self.after_refresh(now, w, &Outcome::Failed(e));
                }
                return;
            }
        }
        let id = self.fresh_id();
        let reread = kind.own && kind.reread && self.cfg.persist_session;
        self.flights.push(Flight {
            id,
            token,
            own: kind.own,
            epoch: self.epoch,
            verify: kind.verify,
            failed_attempts: 0,
            first_at: None,
            state: if reread { FlightState::Reading } else { FlightState::Paused },
            waiters: waiter.into_iter().collect(),
            reread_after_already_used: false,
            last_error: None,
            locked: reread,
        });
        if reread {
            self.request_locked_session_read(super::ops::ReadWaiter::Flight(id));
        } else {
            let i = self.flights.len() - 1;
            self.send_attempt(now, i);
        }
    }

    fn flight_index(&self, id: u64) -> Option<usize> {
        self.flights.iter().position(|f| f.id == id)
    }

    /// Sends the next attempt, unless nobody needs it now.
    fn send_attempt(&mut self, now: u64, i: usize) {
        let f = &self.flights[i];
        if f.own && self.session.as_ref().is_none_or(|s| s.refresh_token != f.token) {
            // Signed out or replaced while we waited: this token is no longer ours to spend.
            let id = f.id;
            self.finish_flight(now, id, Outcome::Discarded);
            return;
        }
        if f.waiters.is_empty() && (!self.online || !self.foreground) {
            self.flights[i].state = FlightState::Paused;
            self.release_flight_lock(i);
            return;
        }
        let rid = RequestId(self.fresh_id());
        let epoch = self.epoch;
        let f = &mut self.flights[i];
        f.first_at.get_or_insert(now);
        f.epoch = epoch;
        f.state = FlightState::Sending(rid);
        let req = requests::refresh(&self.cfg, rid, &f.token);
        self.requests.push((rid, Pending::Refresh(f.id)));
        self.out.push_back(Output::Http(req));
    }

    /// The pre-send re-read is back: adopt what another process stored, then send or finish.
    pub(super) fn flight_read_done(&mut self, now: u64, id: u64, read: Result<Option<&str>, ()>) {
        if let Ok(raw) = read {
            self.absorb_stored(raw);
        }
        let Some(i) = self.flight_index(id) else { return };
        let Some(s) = self.session.as_ref() else {
            return self.finish_flight(now, id, Outcome::Failed(AuthError::session_missing()));
        };
        if s.refresh_token == self.flights[i].token {
            return self.send_attempt(now, i);
        }
        // Another process stored a different session meanwhile, and it was adopted.
        if !self.is_due(s, now) {
            let adopted = s.clone();
            self.finish_flight(now, id, Outcome::Adopted(adopted));
        } else if let Some(j) = self.flights.iter().position(|f| f.token == s.refresh_token) {
            let waiters = std::mem::take(&mut self.flights[i].waiters);
            self.flights[j].waiters.extend(waiters);
            self.finish_flight(now, id, Outcome::Discarded);
        } else {
            self.flights[i].token = s.refresh_token.clone();
            self.send_attempt(now, i);
        }
    }

    /// The answer to a refresh request.
    pub(super) fn on_refresh_answer(&mut self, now: u64, id: u64, answer: Result<HttpResponse, Failure>) {
        let Some(i) = self.flight_index(id) else { return };
        match answer {
            Ok(resp) => self.refresh_answered(now, i, &resp),
            Err(failure) => self.refresh_failed(now, i, failure),
        }
    }

    fn refresh_answered(&mut self, now: u64, i: usize, resp: &HttpResponse) {
        let id = self.flights[i].id;
        let session = match parse_token_answer(&resp.body, now as i64) {
            Ok(Some(s)) => s,
            unusable => {
                // Not retried: the server answered, just not what the protocol promises.
                let why = unusable.err().map_or_else(|| "it carries none".to_owned(), |e| e.to_string());
                let message = format!("the refresh answer is not a session: {why}");
                let e = AuthError::new(ErrorKind::InvalidResponse, message).with_status(resp.status);
                self.set_cooldown(now, i, e.clone());
                self.finish_flight(now, id, Outcome::Failed(e));
                return;
            }
        };
        self.observe_server_clock(now, &session);
        let f = &self.flights[i];
        if !f.own {
            self.finish_flight(now, id, Outcome::Refreshed(session));
        } else if self.epoch != f.epoch || self.session.is_none() {
            // The commit guard: a late refresh never resurrects or overwrites.
            self.diagnose(
                DiagnosticKind::RefreshDiscarded,
                "a refresh answer arrived after the session changed; dropped".into(),
                None,
                None,
            );
            self.finish_flight(now, id, Outcome::Discarded);
        } else {
            self.replace_session(session.clone(), Some(crate::api::EventKind::TokenRefreshed));
            self.finish_flight(now, id, Outcome::Refreshed(session));
        }
    }

    fn refresh_failed(&mut self, now: u64, i: usize, failure: Failure) {
        self.flights[i].failed_attempts += 1;
        let (id, attempts) = (self.flights[i].id, self.flights[i].failed_attempts);
        self.diagnose(
            DiagnosticKind::RefreshFailed,
            format!("refresh attempt {attempts} failed"),
            Some(failure.error.clone()),
            None,
        );
        let f = &mut self.flights[i];
        match failure.class {
            Class::Transient => {
                let jitter = self.jitter();
                let f = &mut self.flights[i];
                let first = f.first_at.unwrap_or(now);
                if let Some(at) = retry::next_attempt_at(
                    &self.cfg.retry,
                    first,
                    f.failed_attempts,
                    now,
                    failure.error.retry_after_ms,
                    jitter,
                ) {
                    f.state = FlightState::Waiting(at);
                    f.last_error = Some(failure.error.clone());
                    let (early, rest): (Vec<Waiter>, Vec<Waiter>) =
                        std::mem::take(&mut f.waiters).into_iter().partition(|w| w.first_attempt_only);
                    f.waiters = rest;
                    // Other processes may try meanwhile: holding the store's lock through the
                    // backoff would only stall them.
                    self.release_flight_lock(i);
                    for w in early {
                        self.after_refresh(now, w, &Outcome::Failed(failure.error.clone()));
                    }
                    return;
                }
                self.set_cooldown(now, i, failure.error.clone());
                self.finish_flight(now, id, Outcome::Failed(failure.error));
            }
            Class::SessionDead
                if failure.error.code.as_deref() == Some("refresh_token_already_used")
                    && f.own
                    && !f.reread_after_already_used
                    && self.cfg.persist_session =>
            {
                // Another process may have spent this token and stored its successor.
                f.reread_after_already_used = true;
                f.last_error = Some(failure.error);
                f.state = FlightState::Reading;
                self.request_session_read(super::ops::ReadWaiter::AlreadyUsed(id));
            }
            Class::SessionDead | Class::Api => self.refresh_rejected(now, i, failure.class, failure.error),
        }
    }

    /// The re-read after `refresh_token_already_used` is back.
    pub(super) fn already_used_read_done(&mut self, now: u64, id: u64, read: Result<Option<&str>, ()>) {
        if let Ok(raw) = read {
            self.absorb_stored(raw);
        }
        let Some(i) = self.flight_index(id) else { return };
        let successor = self.session.as_ref().filter(|s| s.refresh_token != self.flights[i].token).cloned();
        match successor {
            Some(s) => self.finish_flight(now, id, Outcome::Adopted(s)),
            None => {
                let e = self.flights[i].last_error.take().unwrap_or_else(AuthError::session_missing);
                self.refresh_rejected(now, i, Class::SessionDead, e);
            }
        }
    }

    /// The server rejected the refresh token (section 3): remove the session when its access
    /// token has expired (or a verification confirmed the suspicion), else keep it until expiry.
    fn refresh_rejected(&mut self, now: u64, i: usize, class: Class, error: AuthError) {
        let f = &self.flights[i];
        let (id, own, verify) = (f.id, f.own, f.verify);
        let ours = self.session.as_ref().filter(|s| s.refresh_token == f.token).cloned();
        if let (true, Some(s)) = (own, ours) {
            let expired = self.is_expired(&s, now);
            if expired || (verify && class == Class::SessionDead) {
                let reason =
                    if verify { RemovalReason::VerifiedRevocation } else { RemovalReason::RefreshRejectedAtExpiry };
                self.remove_session(reason, Some(error.clone()));
            } else {
                let at = self.expiry_on_device(&s);
                self.doomed = Some((at, error.clone()));
                self.diagnose(
                    DiagnosticKind::SessionPreservedUntilExpiry,
                    "the refresh token was rejected while the access token is valid: kept until it expires".into(),
                    Some(error.clone()),
                    None,
                );
            }
        }
        self.set_cooldown(now, i, error.clone());
        self.finish_flight(now, id, Outcome::Failed(error));
    }

    /// Releases the store's lock if flight `i` holds it.
    fn release_flight_lock(&mut self, i: usize) {
        if std::mem::take(&mut self.flights[i].locked) {
            self.unlock_session_key();
        }
    }

    fn set_cooldown(&mut self, now: u64, i: usize, error: AuthError) {
        let token = self.flights[i].token.clone();
        self.cooldown = Some(Cooldown { token, until: now.saturating_add(self.cfg.retry.cooldown_ms), error });
    }

    fn finish_flight(&mut self, now: u64, id: u64, outcome: Outcome) {
        let Some(i) = self.flight_index(id) else { return };
        let flight = self.flights.remove(i);
        if flight.locked {
            self.unlock_session_key();
        }
        for w in flight.waiters {
            self.after_refresh(now, w, &outcome);
        }
    }

    /// Retries whose time has come.
    pub(super) fn fire_flight_timers(&mut self, now: u64) {
        while let Some(i) = self.flights.iter().position(|f| matches!(f.state, FlightState::Waiting(at) if at <= now)) {
            self.send_attempt(now, i);
        }
    }

    pub(super) fn next_flight_timer(&self) -> Option<u64> {
        self.flights
            .iter()
            .filter_map(|f| match f.state {
                FlightState::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Online or foreground again: paused flights go on.
    pub(super) fn resume_paused_flights(&mut self, now: u64) {
        let paused: Vec<u64> = self.flights.iter().filter(|f| f.state == FlightState::Paused).map(|f| f.id).collect();
        for id in paused {
            if let Some(i) = self.flight_index(id) {
                self.send_attempt(now, i);
            }
        }
    }

    /// When auto refresh next wants to refresh: `expires_at - margin`, or the end of a cooldown.
    pub(super) fn auto_refresh_deadline(&self) -> Option<u64> {
        if !self.auto_refresh || !self.foreground || !self.online || self.phase != Phase::Ready || self.doomed.is_some()
        {
            return None;
        }
        let s = self.session.as_ref()?;
        if self.flights.iter().any(|f| f.token == s.refresh_token) {
            return None;
        }
        if let Some(c) = self.cooldown.as_ref().filter(|c| c.token == s.refresh_token) {
            return Some(c.until);
        }
        Some(self.expiry_on_device(s).saturating_sub(self.cfg.margin_ms))
    }

    /// The auto-refresh timer fired.
    pub(super) fn auto_refresh_now(&mut self, now: u64) {
        if self.cooldown.as_ref().is_some_and(|c| c.until <= now) {
            self.cooldown = None;
        }
        if let Some(s) = &self.session {
            let token = s.refresh_token.clone();
            self.start_refresh(now, token, RefreshKind { own: true, reread: true, verify: false }, None);
        }
    }
}
