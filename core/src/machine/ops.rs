//! What each command does, step by step, and what it answers.

use super::flight::{Outcome, RefreshKind, Waiter};
use super::removals::Mark;
use super::store::ReadKey;
use super::suspicion::{next_step, About, Ask, Situation, Step, Verified};
use super::SessionMachine;
use crate::api::{Command, EventKind, OpId, OpValue, Output, RemovalReason, SignOutScope};
use crate::classify::{classify_response, classify_transport, Class, Failure};
use crate::error::{AuthError, ErrorKind};
use crate::http::{HttpRequest, HttpResponse, RequestId, TransportFailure};
use crate::storage::{parse_stored_session, parse_stored_verifier, serialize_verifier, StoredVerifier};
use crate::wire::{parse_token_answer, parse_user, Session};
use crate::{jwt, pkce, requests};

/// Where initialization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Nothing read yet.
    Fresh,
    /// The first read is under way.
    Reading,
    /// The first read failed: read again on the next call or on foreground.
    NeedsRead,
    /// A due session is being refreshed before INITIAL_SESSION.
    Recovering,
    /// INITIAL_SESSION was emitted.
    Ready,
}

/// Who waits for a storage read.
#[derive(Debug, Clone)]
pub(super) enum ReadWaiter {
    /// The read at start.
    Init,
    /// A command that starts from the stored session.
    Load(OpId, Then),
    /// A refresh re-reading before it sends.
    Flight(u64),
    /// A refresh re-reading after `refresh_token_already_used`.
    AlreadyUsed(u64),
    /// Another process changed storage.
    Absorb,
    /// A code exchange reading its verifier.
    Exchange(OpId, String),
}

/// What a loaded command goes on to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    GetSession,
    GetUser,
    RefreshSession,
    SignOut(SignOutScope),
}

/// What a refresh waiter goes on to do.
#[derive(Debug, Clone)]
pub(super) enum AfterRefresh {
    Initialize,
    GetSession,
    GetUser,
    /// `/user` raised a suspicion (this error); a refresh decides.
    VerifyUser(AuthError),
    RefreshSession,
    /// set_session, called at this point of the removals.
    SetSession(Mark),
    SignOut(SignOutScope),
}

/// What a request in flight is for.
#[derive(Debug, Clone)]
pub(super) enum Pending {
    Refresh(u64),
    /// `GET /user` for the session, with this token.
    User {
        op: OpId,
        token: String,
        ask: Ask,
    },
    UserWithJwt(OpId),
    SetSessionUser {
        op: OpId,
        access_token: String,
        refresh_token: String,
        exp: i64,
        /// When set_session was called.
        called: Mark,
    },
    SignIn {
        op: OpId,
        event: EventKind,
    },
    Logout {
        op: Option<OpId>,
        scope: SignOutScope,
    },
}

impl SessionMachine {
    pub(super) fn start_command(&mut self, now: u64, op: OpId, cmd: Command) {
        if matches!(cmd, Command::Initialize) {
            return self.initialize(now, op);
        }
        let called = self.removals.mark();
        match self.phase {
            Phase::Ready => self.run_command(now, op, cmd, called),
            Phase::Fresh | Phase::NeedsRead => {
                // Every call waits for INITIAL_SESSION, and a failed first read is tried again now.
                self.deferred.push((op, cmd, called));
                self.start_init_read(now);
            }
            Phase::Reading | Phase::Recovering => self.deferred.push((op, cmd, called)),
        }
    }

    /// Runs a call made at `called` (of the removals): now, or when INITIAL_SESSION is out.
    fn run_command(&mut self, now: u64, op: OpId, cmd: Command, called: Mark) {
        match cmd {
            Command::Initialize => self.complete(op, Ok(OpValue::Done)),
            Command::GetSession => self.load(now, op, Then::GetSession),
            Command::GetUser => self.load(now, op, Then::GetUser),
            Command::RefreshSession => self.load(now, op, Then::RefreshSession),
            Command::SignOut(SignOutScope::Local) => self.sign_out_local(op),
            Command::SignOut(scope) => self.load(now, op, Then::SignOut(scope)),
            Command::GetUserWithJwt { jwt } => {
                self.send(Pending::UserWithJwt(op), |cfg, id| requests::get_user(cfg, id, &jwt));
            }
            Command::SetSession { access_token, refresh_token } => {
                self.set_session(now, op, access_token, refresh_token, called)
            }
            Command::SignInWithPassword { email, phone, password } => {
                self.send(Pending::SignIn { op, event: EventKind::SignedIn }, |cfg, id| {
                    requests::password(cfg, id, email.as_deref(), phone.as_deref(), &password)
                });
            }
            Command::SignInWithIdToken { provider, token, nonce, access_token } => {
                self.send(Pending::SignIn { op, event: EventKind::SignedIn }, |cfg, id| {
                    requests::id_token(cfg, id, &provider, &token, nonce.as_deref(), access_token.as_deref())
                });
            }
            Command::SignInAnonymously { data } => {
                self.send(Pending::SignIn { op, event: EventKind::SignedIn }, |cfg, id| {
                    requests::anonymous(cfg, id, data.as_ref())
                });
            }
            Command::VerifyOtp { recipient, token, otp_type } => {
                let event = if otp_type == "recovery" { EventKind::PasswordRecovery } else { EventKind::SignedIn };
                self.send(Pending::SignIn { op, event }, |cfg, id| {
                    requests::verify_otp(cfg, id, &recipient, &token, &otp_type)
                });
            }
            Command::StartPkce { entropy, recovery } => match pkce::from_entropy(&entropy) {
                Ok(p) => {
                    if self.cfg.persist_session {
                        self.write_aux_key(self.keys.code_verifier.clone(), serialize_verifier(&p.verifier, recovery));
                    } else {
                        self.memory_verifier = Some((p.verifier.clone(), recovery));
                    }
                    self.complete(op, Ok(OpValue::PkceChallenge { challenge: p.challenge, method: "s256" }));
                }
                Err(e) => self.complete(op, Err(AuthError::new(ErrorKind::InvalidInput, e.to_string()))),
            },
            Command::ExchangeCode { auth_code } => {
                if self.cfg.persist_session {
                    self.request_read(ReadKey::CodeVerifier, ReadWaiter::Exchange(op, auth_code));
                } else {
                    let verifier =
                        self.memory_verifier.take().map(|(verifier, recovery)| StoredVerifier { verifier, recovery });
                    self.exchange_code(op, &auth_code, verifier);
                }
            }
        }
    }

    /// Builds a request with a fresh id and sends it; its answer goes to `pending`.
    fn send(&mut self, pending: Pending, build: impl FnOnce(&crate::config::Config, RequestId) -> HttpRequest) {
        let id = RequestId(self.fresh_id());
        let req = build(&self.cfg, id);
        self.requests.push((req.id, pending));
        self.out.push_back(Output::Http(req));
    }

    // ---- initialize -----------------------------------------------------------------------

    fn initialize(&mut self, now: u64, op: OpId) {
        match self.phase {
            Phase::Ready => self.complete(op, Ok(OpValue::Done)),
            Phase::Fresh | Phase::NeedsRead => {
                self.init_ops.push(op);
                self.start_init_read(now);
            }
            Phase::Reading | Phase::Recovering => self.init_ops.push(op),
        }
    }

    pub(super) fn start_init_read(&mut self, now: u64) {
        if !matches!(self.phase, Phase::Fresh | Phase::NeedsRead) {
            return;
        }
        self.phase = Phase::Reading;
        if self.cfg.persist_session {
            self.request_session_read(ReadWaiter::Init);
        } else {
            // Memory only: there is nothing to read.
            self.finish_init(false, now);
        }
    }

    fn on_init_read(&mut self, now: u64, read: Result<Option<&str>, crate::api::StorageFailure>) {
        let raw = match read {
            Ok(raw) => raw,
            Err(e) => {
                // Storage that fails is not empty storage: decide nothing, announce nothing.
                self.phase = Phase::NeedsRead;
                let err =
                    AuthError::new(ErrorKind::Storage, format!("could not read the stored session: {}", e.message));
                for op in std::mem::take(&mut self.init_ops) {
                    self.complete(op, Err(err.clone()));
                }
                for (op, _, _) in std::mem::take(&mut self.deferred) {
                    self.complete(op, Err(err.clone()));
                }
                return;
            }
        };
        match raw.map(parse_stored_session) {
            None => {}
            Some(Ok(s)) => {
                self.removals.session_started(&s.refresh_token);
                self.session = Some(s);
                self.store.known_raw = raw.map(str::to_owned);
            }
            Some(Err(why)) => {
                self.diagnose(crate::api::DiagnosticKind::InvalidStoredValue, format!("{why}; removed"), None, None);
                self.persist_removal();
            }
        }
        let due_token =
            self.session.as_ref().filter(|s| self.auto_refresh && self.is_due(s, now)).map(|s| s.refresh_token.clone());
        match due_token {
            Some(token) => {
                self.phase = Phase::Recovering;
                let waiter = Waiter { op: OpId(0), then: AfterRefresh::Initialize, first_attempt_only: true };
                let kind = RefreshKind { own: true, reread: true, verify: false };
                self.start_refresh(now, token, kind, Some(waiter));
            }
            None => self.finish_init(false, now),
        }
    }

    /// Emits INITIAL_SESSION (once), completes initialize, and runs the calls that waited.
    fn finish_init(&mut self, expired: bool, now: u64) {
        if self.phase == Phase::Ready {
            return;
        }
        self.phase = Phase::Ready;
        self.emit(EventKind::InitialSession, None, expired);
        for op in std::mem::take(&mut self.init_ops) {
            self.complete(op, Ok(OpValue::Done));
        }
        for (op, cmd, called) in std::mem::take(&mut self.deferred) {
            self.run_command(now, op, cmd, called);
        }
    }

    // ---- loading the session --------------------------------------------------------------

    /// Starts `then` from the stored session: storage is the source of truth across processes.
    fn load(&mut self, now: u64, op: OpId, then: Then) {
        if self.cfg.persist_session {
            self.request_session_read(ReadWaiter::Load(op, then));
        } else {
            self.loaded(now, op, then, false);
        }
    }

    pub(super) fn after_read(
        &mut self,
        now: u64,
        waiter: ReadWaiter,
        read: Result<Option<&str>, crate::api::StorageFailure>,
    ) {
        let plain = read.as_ref().map(|r| *r).map_err(|_| ());
        match waiter {
            ReadWaiter::Init => self.on_init_read(now, read),
            ReadWaiter::Load(op, then) => {
                let adopted = match plain {
                    Ok(raw) => self.absorb_stored(raw),
                    Err(()) => false,
                };
                self.loaded(now, op, then, adopted);
            }
            ReadWaiter::Flight(id) => self.flight_read_done(now, id, plain),
            ReadWaiter::AlreadyUsed(id) => self.already_used_read_done(now, id, plain),
            ReadWaiter::Absorb => {
                if let Ok(raw) = plain {
                    self.absorb_stored(raw);
                }
            }
            ReadWaiter::Exchange(op, code) => match read {
                Err(e) => self.complete(
                    op,
                    Err(AuthError::new(ErrorKind::Storage, format!("could not read the PKCE verifier: {}", e.message))),
                ),
                Ok(raw) => self.exchange_code(op, &code, raw.and_then(parse_stored_verifier)),
            },
        }
    }

    /// The session is loaded (and adopted, if another process changed it): go on.
    fn loaded(&mut self, now: u64, op: OpId, then: Then, adopted: bool) {
        // Borrow for the decision; clone the session only to hand it to the caller.
        let Some(s) = self.session.as_ref() else {
            return match then {
                Then::GetSession => self.complete(op, Ok(OpValue::Session(None))),
                Then::SignOut(_) => self.complete(op, Ok(OpValue::Done)),
                Then::GetUser | Then::RefreshSession => self.complete(op, Err(AuthError::session_missing())),
            };
        };
        let (due, expired) = (self.is_due(s, now), self.is_expired(s, now));
        let (access, refresh) = (s.access_token.clone(), s.refresh_token.clone());
        let current = |m: &Self| OpValue::Session(m.session.clone());
        let wait = |then: AfterRefresh| Some(Waiter { op, then, first_attempt_only: false });
        let own = RefreshKind { own: true, reread: true, verify: false };
        // A doomed session is kept until it expires, without a second request sure to fail.
        let doomed = self.doomed.is_some() && !expired;
        match then {
            Then::GetSession if !due || doomed => self.complete(op, Ok(current(self))),
            Then::GetUser if !due || doomed => self.send_user(op, access, Ask::First),
            Then::GetSession => self.start_refresh(now, refresh, own, wait(AfterRefresh::GetSession)),
            Then::GetUser => self.start_refresh(now, refresh, own, wait(AfterRefresh::GetUser)),
            // Another process just rotated it: that is the refresh the caller asked for.
            Then::RefreshSession if adopted && !due => self.complete(op, Ok(current(self))),
            Then::RefreshSession => match &self.doomed {
                Some((_, e)) => self.complete(op, Err(e.clone())),
                None => self.start_refresh(now, refresh, own, wait(AfterRefresh::RefreshSession)),
            },
            Then::SignOut(scope) if expired => {
                self.start_refresh(now, refresh, own, wait(AfterRefresh::SignOut(scope)))
            }
            Then::SignOut(scope) => self.send_logout(Some(op), scope, &access),
        }
    }

    // ---- after a refresh ------------------------------------------------------------------

    pub(super) fn after_refresh(&mut self, now: u64, w: Waiter, outcome: &Outcome) {
        let op = w.op;
        let fresh = match outcome {
            Outcome::Refreshed(s) | Outcome::Adopted(s) => Ok(s.clone()),
            Outcome::Failed(e) => Err(e.clone()),
            Outcome::Discarded => {
                Err(AuthError::new(ErrorKind::RefreshDiscarded, "the session changed while it was being refreshed"))
            }
        };
        // The session still usable after a failed refresh: present and not expired (cloned only
        // when a failure needs it).
        let usable = match &fresh {
            Ok(_) => None,
            Err(_) => self.session.as_ref().filter(|s| !self.is_expired(s, now)).cloned(),
        };
        match (w.then, fresh) {
            (AfterRefresh::Initialize, Ok(_)) => self.finish_init(false, now),
            (AfterRefresh::Initialize, Err(_)) => {
                let expired = self.session.as_ref().is_some_and(|s| self.is_expired(s, now));
                self.finish_init(expired, now)
            }
            (AfterRefresh::GetSession | AfterRefresh::RefreshSession, Ok(s)) => {
                self.complete(op, Ok(OpValue::Session(Some(s))))
            }
            (AfterRefresh::GetSession, Err(e)) => match usable {
                Some(s) => self.complete(op, Ok(OpValue::Session(Some(s)))),
                None => self.complete(op, Err(e)),
            },
            (AfterRefresh::RefreshSession, Err(e)) => self.complete(op, Err(e)),
            (AfterRefresh::GetUser, Ok(s)) => self.send_user(op, s.access_token, Ask::First),
            (AfterRefresh::GetUser, Err(e)) => match usable {
                Some(s) => self.send_user(op, s.access_token, Ask::First),
                None => self.complete(op, Err(e)),
            },
            (AfterRefresh::VerifyUser(_), Ok(s)) => {
                if matches!(outcome, Outcome::Refreshed(_)) {
                    // The refresh endpoint accepted the session: the verify cooldown starts.
                    self.verified = Some(Verified::new(now, &s.access_token));
                }
                self.send_user(op, s.access_token, Ask::AfterVerify)
            }
            (AfterRefresh::VerifyUser(suspicion), Err(e)) => {
                let gone = self.session.is_none() && matches!(e.kind, ErrorKind::Api | ErrorKind::SessionMissing);
                let err = if gone { suspicion.with_kind(ErrorKind::SessionMissing) } else { e };
                self.complete(op, Err(err));
            }
            (AfterRefresh::SetSession(called), Ok(s)) => {
                if self.session.as_ref().is_some_and(|cur| cur.refresh_token == s.refresh_token) {
                    // It was our own session's flight: already committed and announced.
                    self.complete(op, Ok(OpValue::Session(Some(s))));
                } else {
                    self.observe_server_clock(now, &s);
                    self.commit_set_session(op, s, called);
                }
            }
            (AfterRefresh::SetSession(_), Err(e)) => self.complete(op, Err(e)),
            (AfterRefresh::SignOut(scope), Ok(s)) => self.send_logout(Some(op), scope, &s.access_token),
            (AfterRefresh::SignOut(scope), Err(e)) => {
                if self.session.is_none() && scope == SignOutScope::Global && e.kind != ErrorKind::RefreshDiscarded {
                    // The refresh proved the session dead and it is gone: that is a sign-out.
                    self.remove_sign_out_keys();
                    self.complete(op, Ok(OpValue::Done));
                } else {
                    self.complete(op, Err(e));
                }
            }
        }
    }

    /// Sends the code exchange with the verifier of the flow (none: `invalid_input`, no request).
    fn exchange_code(&mut self, op: OpId, code: &str, verifier: Option<StoredVerifier>) {
        let Some(v) = verifier else {
            return self.complete(op, Err(missing_verifier()));
        };
        let event = if v.recovery { EventKind::PasswordRecovery } else { EventKind::SignedIn };
        self.send(Pending::SignIn { op, event }, |cfg, id| requests::pkce_exchange(cfg, id, code, &v.verifier));
        // Spent either way: a verifier is good for one exchange.
        self.remove_aux_key(self.keys.code_verifier.clone());
    }

    // ---- get_user -------------------------------------------------------------------------

    fn send_user(&mut self, op: OpId, token: String, ask: Ask) {
        let req_token = token.clone();
        self.send(Pending::User { op, token, ask }, |cfg, id| requests::get_user(cfg, id, &req_token));
    }

    /// `/user` failed: a suspicion goes through [`next_step`], anything else is the answer.
    fn user_failed(&mut self, now: u64, op: OpId, token: String, ask: Ask, f: Failure) {
        let Some(suspicion) = f.user_suspicion() else {
            return self.complete(op, Err(f.error));
        };
        let about = match &self.session {
            None => About::Removed,
            Some(s) if s.access_token == token => About::Current,
            Some(_) => About::Replaced,
        };
        let cooldown = self.cfg.verify_cooldown.as_ms();
        let verified_recently = self.verified.as_ref().is_some_and(|v| v.covers(now, cooldown, &token));
        let policy = self.cfg.session_not_found;
        let situation = Situation { suspicion, ask, about, policy, verified_recently };
        match next_step(situation) {
            Step::Verify => {
                let Some(refresh_token) = self.session.as_ref().map(|s| s.refresh_token.clone()) else {
                    return self.complete(op, Err(f.error.with_kind(ErrorKind::SessionMissing)));
                };
                let waiter = Waiter { op, then: AfterRefresh::VerifyUser(f.error), first_attempt_only: true };
                let kind = RefreshKind { own: true, reread: true, verify: true };
                self.start_refresh(now, refresh_token, kind, Some(waiter));
            }
            Step::Unconfirmed => {
                let message = format!(
                    "the session is alive (the refresh endpoint accepted it) but /user still answered: {}; \
                     retry later",
                    f.error.message
                );
                let error = AuthError { kind: ErrorKind::SessionUnconfirmed, message, retry_after_ms: None, ..f.error };
                self.complete(op, Err(error));
            }
            Step::AskAgain => match self.session.as_ref().map(|s| s.access_token.clone()) {
                Some(access) => self.send_user(op, access, Ask::First),
                None => self.complete(op, Err(f.error.with_kind(ErrorKind::SessionMissing))),
            },
            Step::Remove => {
                self.remove_session(RemovalReason::RemovedByPolicy, Some(f.error.clone()));
                self.complete(op, Err(f.error.with_kind(ErrorKind::SessionMissing)));
            }
            Step::Missing => self.complete(op, Err(f.error.with_kind(ErrorKind::SessionMissing))),
            Step::Return => self.complete(op, Err(f.error)),
        }
    }

    // ---- set_session ----------------------------------------------------------------------

    fn set_session(&mut self, now: u64, op: OpId, access_token: String, refresh_token: String, called: Mark) {
        let claims = match jwt::decode_claims(&access_token) {
            Ok(c) => c,
            Err(e) => {
                return self.complete(
                    op,
                    Err(AuthError::new(ErrorKind::InvalidInput, format!("the access token is not a JWT: {e}"))),
                )
            }
        };
        let Some(exp) = claims.exp else {
            return self
                .complete(op, Err(AuthError::new(ErrorKind::InvalidInput, "the access token has no exp claim")));
        };
        if refresh_token.is_empty() {
            return self.complete(op, Err(AuthError::new(ErrorKind::InvalidInput, "the refresh token is empty")));
        }
        if let Err(e) = crate::limits::check_token("the refresh token", &refresh_token) {
            return self.complete(op, Err(AuthError::new(ErrorKind::InvalidInput, e.to_string())));
        }
        // A call that waited for initialize, whose tokens (or a sign-out) were removed meanwhile.
        if !self.removals.allow(called, &refresh_token, &access_token) {
            return self.complete(op, Err(signed_out_meanwhile()));
        }
        if self.server_now(now) >= exp.saturating_mul(1000) {
            let own = self.session.as_ref().is_some_and(|s| s.refresh_token == refresh_token);
            let waiter = Waiter { op, then: AfterRefresh::SetSession(called), first_attempt_only: false };
            self.start_refresh(now, refresh_token, RefreshKind { own, reread: false, verify: false }, Some(waiter));
        } else {
            let req_token = access_token.clone();
            self.send(Pending::SetSessionUser { op, access_token, refresh_token, exp, called }, |cfg, id| {
                requests::get_user(cfg, id, &req_token)
            });
        }
    }

    /// Stores and announces set_session's session, unless the user signed out (or the session
    /// was removed) since set_session began: a late answer never undoes a sign-out.
    fn commit_set_session(&mut self, op: OpId, s: Session, called: Mark) {
        if !self.removals.allow(called, &s.refresh_token, &s.access_token) {
            return self.complete(op, Err(signed_out_meanwhile()));
        }
        self.replace_session(s.clone(), Some(EventKind::SignedIn));
        self.complete(op, Ok(OpValue::Session(Some(s))));
    }

    // ---- sign out -------------------------------------------------------------------------

    fn sign_out_local(&mut self, op: OpId) {
        let token = self.session.as_ref().map(|s| s.access_token.clone());
        // Remove first, even offline: the sign-out the user asked for happens here and now.
        self.remove_session(RemovalReason::UserSignOut, None);
        if token.is_none() {
            self.persist_removal();
        }
        self.remove_sign_out_keys();
        if let Some(token) = token {
            self.send_logout(None, SignOutScope::Local, &token);
        }
        self.complete(op, Ok(OpValue::Done));
    }

    fn remove_sign_out_keys(&mut self) {
        self.remove_aux_key(self.keys.code_verifier.clone());
        self.remove_aux_key(self.keys.user.clone());
    }

    fn send_logout(&mut self, op: Option<OpId>, scope: SignOutScope, token: &str) {
        self.send(Pending::Logout { op, scope }, |cfg, id| requests::logout(cfg, id, token, scope));
    }

    fn logout_answered(&mut self, op: Option<OpId>, scope: SignOutScope, answer: Result<(), Failure>) {
        let Some(op) = op else { return };
        let revoked = match &answer {
            Ok(()) => true,
            Err(f) => f.class == Class::SessionDead && !f.proves_nothing(),
        };
        match scope {
            SignOutScope::Global if revoked => {
                self.remove_session(RemovalReason::UserSignOut, None);
                self.remove_sign_out_keys();
                self.complete(op, Ok(OpValue::Done));
            }
            _ => match answer {
                Ok(()) => self.complete(op, Ok(OpValue::Done)),
                Err(f) => self.complete(op, Err(f.error)),
            },
        }
    }

    // ---- answers --------------------------------------------------------------------------

    pub(super) fn on_answer(&mut self, now: u64, id: RequestId, answer: Result<HttpResponse, TransportFailure>) {
        let Some(at) = self.requests.iter().position(|(rid, _)| *rid == id) else { return };
        let (_, pending) = self.requests.swap_remove(at);
        // An answer over the header limits is not read, its diagnostic headers included.
        let over_limits = answer.as_ref().is_ok_and(crate::classify::over_limits);
        if let Some(resp) = answer.as_ref().ok().filter(|_| !over_limits) {
            let server_headers = crate::classify::diagnostic_headers(resp);
            if !server_headers.is_empty() {
                self.out.push_back(Output::Diagnostic(crate::api::Diagnostic {
                    kind: crate::api::DiagnosticKind::ServerHeaders,
                    message: format!("HTTP {} with the server's diagnostic headers", resp.status),
                    removal: None,
                    error: None,
                    server_headers,
                }));
            }
        }
        // One classification for every request; success bodies are parsed per endpoint.
        let answer: Result<HttpResponse, Failure> = match answer {
            Ok(resp) if resp.is_success() && !over_limits => Ok(resp),
            Ok(resp) => Err(classify_response(&resp, now)),
            Err(t) => Err(classify_transport(&t)),
        };
        match pending {
            Pending::Refresh(flight) => self.on_refresh_answer(now, flight, answer),
            Pending::User { op, token, ask } => match answer {
                Ok(resp) => self.complete(op, user_value(&resp)),
                Err(f) => self.user_failed(now, op, token, ask, f),
            },
            Pending::UserWithJwt(op) => {
                let result = answer.map_err(|f| f.error).and_then(|resp| user_value(&resp));
                self.complete(op, result);
            }
            Pending::SetSessionUser { op, access_token, refresh_token, exp, called } => {
                match answer.map_err(|f| f.error).and_then(|r| user_answer(&r)) {
                    Ok(user) => {
                        let expires_in = exp.saturating_sub(self.server_now(now).div_euclid(1000));
                        let s = Session {
                            access_token,
                            token_type: "bearer".into(),
                            expires_in: Some(expires_in),
                            expires_at: exp,
                            refresh_token,
                            user: Some(std::sync::Arc::new(user)),
                            extra: Default::default(),
                        };
                        self.commit_set_session(op, s, called);
                    }
                    Err(e) => self.complete(op, Err(e)),
                }
            }
            Pending::SignIn { op, event } => match answer {
                Ok(resp) => match parse_token_answer(&resp.body, now as i64) {
                    Ok(Some(s)) => {
                        self.observe_server_clock(now, &s);
                        self.replace_session(s.clone(), Some(event));
                        self.complete(op, Ok(OpValue::Session(Some(s))));
                    }
                    Ok(None) => self.complete(op, Ok(OpValue::Session(None))),
                    Err(e) => self.complete(
                        op,
                        Err(AuthError::new(
                            ErrorKind::InvalidResponse,
                            format!("the sign-in answer is not a session: {e}"),
                        )
                        .with_status(resp.status)),
                    ),
                },
                Err(f) => self.complete(op, Err(f.error)),
            },
            Pending::Logout { op, scope } => self.logout_answered(op, scope, answer.map(|_| ())),
        }
    }
}

fn user_answer(resp: &HttpResponse) -> Result<crate::wire::User, AuthError> {
    parse_user(&resp.body).map_err(|e| {
        AuthError::new(ErrorKind::InvalidResponse, format!("the /user answer is not a user: {e}"))
            .with_status(resp.status)
    })
}

fn user_value(resp: &HttpResponse) -> Result<OpValue, AuthError> {
    user_answer(resp).map(OpValue::User)
}

/// A set_session that yields to a removal made after it was called (see `removals`).
fn signed_out_meanwhile() -> AuthError {
    AuthError::new(ErrorKind::RefreshDiscarded, "the session was signed out while set_session was under way")
}

fn missing_verifier() -> AuthError {
    AuthError::new(ErrorKind::InvalidInput, "no PKCE code verifier is stored: start the flow on this device first")
}
