//! How the world drives the machine: inputs (calls, answers, time, the other process) and the
//! actions of a case.

use super::world::{jwt, Pending};
use super::*;
use gotrue_session::{
    Command, HttpResponse, Lifecycle, OpId, OtpRecipient, Reachability, SessionMachine, SignOutScope,
};
use serde_json::json;
use std::collections::HashSet;

impl Sim {
    // ---- inputs -------------------------------------------------------------------------------

    pub fn command(&mut self, cmd: Command) -> Result<OpId, String> {
        let name = cmd.name();
        let given = match &cmd {
            Command::SetSession { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        if name == "sign_out" {
            self.excused_at = self.tick();
        }
        let mut ctx = self.ctx();
        let op = self.m.handle_command(self.now, cmd);
        self.log(|| format!("{name} (op {})", op.0));
        if self.ops.insert(op, (name, 0)).is_some() {
            self.violation(7, format!("operation id {op:?} handed out twice"))?;
        }
        if let Some(t) = given {
            self.set_session_given.entry(t.clone()).or_default().push(op);
            self.set_session_tokens.insert(op, t);
        }
        self.after_input(&mut ctx)?;
        Ok(op)
    }

    /// Answers the pending request at `i`.
    pub fn answer(&mut self, i: usize, ans: Ans) -> Check {
        let Pending { req, refresh } = self.pending.remove(i);
        let mut ctx = self.ctx();
        ctx.transient = ans.proves_nothing(&req.path);
        ctx.jwt_probe = req.bearer().is_some_and(|b| self.other_jwts.contains(b));
        ctx.already_used = ans == Ans::RefreshTokenAlreadyUsed;
        let verify = self.verify_requests.remove(&req.id.0);
        let after_verify = self.after_verify_users.remove(&req.id.0);
        if let Some(rt) = &refresh {
            if ans.rejects_refresh() {
                let t = self.tick();
                self.rejected.insert(rt.clone(), t);
            }
        }
        // Whether a suspicion now comes inside the verify cooldown of the session (for the report).
        let mut inside_cooldown = false;
        if req.path == "/user" && !ctx.jwt_probe && ans.is_suspicion() {
            ctx.user_suspicion = true;
            if self.policy == Policy::Remove {
                self.excused_at = self.tick();
            }
            let cooldown = self.verify_cooldown_ms;
            inside_cooldown = !after_verify
                && ctx
                    .session_before
                    .as_ref()
                    .and_then(|s| self.last_verified(&s.1))
                    .is_some_and(|at| self.now - at < cooldown);
        }
        self.count(|| {
            let what = format!("{ans:?}");
            format!("answer {} {}", req.path, what.split(['(', ' ']).next().unwrap_or_default())
        });
        self.log(|| format!("answer #{} {} {:?} with {ans:?}", req.id.0, req.path, req.query));
        if let Ans::Hostile { body, status } = ans {
            let held = ctx.session_before.is_some();
            self.count(|| {
                let kind = format!("{body:?}");
                let class = if (200..300).contains(&status) { "2xx" } else { "non-2xx" };
                let session = if held { "with a session" } else { "without a session" };
                format!("hostile answer {} {class} {session}", kind.split('(').next().unwrap_or_default())
            });
        }
        let now = self.now;
        self.issued = None;
        match self.response(&req, ans) {
            Ok(resp) => {
                if let (true, Some(issued)) = (verify, self.issued.take()) {
                    self.verified.insert(issued, now);
                    ctx.verify_ok = true;
                    self.count(|| "verify refresh answered ok".into());
                }
                self.m.handle_response(now, req.id, resp)
            }
            Err(t) => self.m.handle_transport_failure(now, req.id, t),
        }
        self.after_input(&mut ctx)?;
        if ctx.user_suspicion {
            let kept = match (&ctx.session_before, self.m.session(), ctx.verify_sent) {
                (None, ..) => "no session to keep",
                (Some(_), Some(_), 0) => "session kept, no refresh",
                (Some(_), None, _) => "session removed",
                (Some(_), Some(_), _) => "refreshed again",
            };
            if after_verify {
                self.count(|| format!("suspicion on the /user retry after a verify refresh: {kept}"));
            } else if inside_cooldown {
                self.count(|| format!("suspicion inside the verify cooldown, no refresh: {}", ctx.verify_sent == 0));
            }
        }
        Ok(())
    }

    /// Answers the pending request at `i` with `resp`, as it is.
    // Used by the named scenarios of simulation.rs only; the fuzz target's cases are actions.
    #[allow(dead_code)]
    pub fn answer_with(&mut self, i: usize, resp: HttpResponse) -> Check {
        let req = self.pending.remove(i).req;
        let mut ctx = self.ctx();
        self.m.handle_response(self.now, req.id, resp);
        self.after_input(&mut ctx)
    }

    pub fn plain_input(&mut self, label: &str, f: impl FnOnce(&mut SessionMachine, u64)) -> Check {
        self.log(|| label.to_owned());
        let mut ctx = self.ctx();
        f(&mut self.m, self.now);
        self.after_input(&mut ctx)
    }

    /// Fires every timeout due at or before `target`, moving the clock to each.
    pub fn settle_until(&mut self, target: u64) -> Check {
        let mut n = 0;
        while let Some(t) = self.m.poll_timeout().filter(|t| *t <= target) {
            n += 1;
            if n > MAX_TIMEOUTS_PER_ADVANCE {
                return Err(self.fail_msg("the machine keeps asking for timeouts without the clock moving"));
            }
            self.now = self.now.max(t);
            self.plain_input("timeout", |m, now| m.handle_timeout(now))?;
        }
        Ok(())
    }

    pub fn advance(&mut self, ms: u64) -> Check {
        let target = self.now + ms;
        self.log(|| format!("advance {ms} ms"));
        self.settle_until(target)?;
        self.now = target;
        Ok(())
    }

    pub fn external(&mut self, change: Ext, notify: bool) -> Check {
        match change {
            Ext::Fresh { same_user, expiry } => {
                let user = match (same_user, self.m.session().and_then(|s| s.user_id())) {
                    (true, Some(u)) => u,
                    _ => format!("user-ext-{}", self.counter % 3),
                };
                let (value, _) = self.session_json(&user, expiry, None);
                self.put(KEY, value);
                self.ext_removed = false;
            }
            Ext::Rotate => {
                let Some(Some((_, old))) = self.stored_view.clone() else { return Ok(()) };
                let user = self.user_of.get(&old).cloned().unwrap_or_else(|| "user-0".to_owned());
                let (value, refresh) = self.session_json(&user, Expiry::Valid, Some(&old));
                self.parent.insert(refresh, old);
                self.put(KEY, value);
                self.ext_removed = false;
            }
            Ext::Garbage(n) => {
                let v =
                    ["{\"access_token\":", "null", "\"a string\"", r#"{"refresh_token":"r","expires_at":1}"#, "<html>"]
                        [n as usize % 5];
                self.put(KEY, v.to_owned());
                self.ext_removed = false;
            }
            Ext::Hostile(h) => {
                self.count(|| {
                    format!(
                        "other process stores a hostile value: {}",
                        format!("{h:?}").split('(').next().unwrap_or_default()
                    )
                });
                let v = self.hostile_stored(h);
                self.put(KEY, v);
                self.ext_removed = false;
            }
            Ext::Remove => {
                self.del(KEY);
                self.ext_removed = true;
            }
        }
        self.log(|| format!("other process: {change:?}"));
        self.excused_at = self.tick();
        self.ext_dirty = true;
        if notify {
            self.plain_input("storage changed", |m, now| m.handle_storage_changed(now))?;
        }
        Ok(())
    }

    // ---- actions --------------------------------------------------------------------------------

    pub fn make_commands(&mut self, c: Cmd) -> Vec<Command> {
        let n = self.next();
        match c {
            Cmd::Initialize => vec![Command::Initialize],
            Cmd::GetSession => vec![Command::GetSession],
            Cmd::GetSessionBurst(k) => (0..k.max(2)).map(|_| Command::GetSession).collect(),
            Cmd::GetUser => vec![Command::GetUser],
            Cmd::GetUserWithJwt => {
                let token = jwt(self.server_now_s() + 3600, "user-probe", n, &format!("sess-{n:06}"));
                self.secrets.push(token.clone());
                self.other_jwts.insert(token.clone());
                vec![Command::GetUserWithJwt { jwt: token }]
            }
            Cmd::RefreshSession => vec![Command::RefreshSession],
            Cmd::SetSession(kind) => {
                let current = self.m.session().map(|s| (s.access_token.clone(), s.refresh_token.clone(), s.user_id()));
                // Tokens the app brings start a server session of their own.
                let new_sid = format!("sess-{n:06}");
                let fresh_refresh = |sim: &mut Sim, user: &str| {
                    let r = format!("rt-set-{n:06}");
                    sim.secrets.push(r.clone());
                    sim.user_of.insert(r.clone(), user.to_owned());
                    r
                };
                let (access_token, refresh_token) = match (kind, current) {
                    (SetKind::CurrentValid, Some((a, r, _))) => (a, r),
                    (SetKind::CurrentExpired, Some((_, r, user))) => {
                        let user = user.unwrap_or_else(|| "user-0".to_owned());
                        // The app's copy of the current session: the same server session.
                        let sid = self.sid_of.get(&r).cloned().unwrap_or(new_sid);
                        (jwt(self.server_now_s() - 100, &user, n, &sid), r)
                    }
                    (SetKind::FreshValid | SetKind::CurrentValid, _) => {
                        (jwt(self.server_now_s() + 3600, "user-set", n, &new_sid), fresh_refresh(self, "user-set"))
                    }
                    (SetKind::FreshExpired | SetKind::CurrentExpired, _) => {
                        (jwt(self.server_now_s() - 100, "user-set", n, &new_sid), fresh_refresh(self, "user-set"))
                    }
                    (SetKind::NotJwt, _) => ("not-a-jwt".to_owned(), fresh_refresh(self, "user-set")),
                    (SetKind::EmptyRefresh, _) => {
                        (jwt(self.server_now_s() + 3600, "user-set", n, &new_sid), String::new())
                    }
                };
                self.secrets.push(access_token.clone());
                // Rotations of a token the app handed over stay in the server session of its JWT.
                if let Some(sid) = gotrue_session::jwt::decode_claims(&access_token).ok().and_then(|c| c.session_id) {
                    self.sid_of.entry(refresh_token.clone()).or_insert(sid);
                }
                vec![Command::SetSession { access_token, refresh_token }]
            }
            Cmd::SignOut(scope) => vec![Command::SignOut(match scope {
                Scope::Local => SignOutScope::Local,
                Scope::Global => SignOutScope::Global,
                Scope::Others => SignOutScope::Others,
            })],
            Cmd::Password => {
                let password = format!("pw-secret-{n:06}");
                self.secrets.push(password.clone());
                vec![Command::SignInWithPassword { email: Some("ada@example.com".into()), phone: None, password }]
            }
            Cmd::Anonymous => vec![Command::SignInAnonymously { data: n.is_multiple_of(2).then(|| json!({ "n": n })) }],
            Cmd::IdToken => {
                let token = format!("idtoken-secret-{n:06}");
                self.secrets.push(token.clone());
                vec![Command::SignInWithIdToken {
                    provider: "google".into(),
                    token,
                    nonce: Some("nonce".into()),
                    access_token: None,
                }]
            }
            Cmd::VerifyOtp { recovery } => vec![Command::VerifyOtp {
                recipient: OtpRecipient::Email("ada@example.com".into()),
                token: format!("{:06}", n % 1_000_000),
                otp_type: if recovery { "recovery" } else { "email" }.into(),
            }],
            Cmd::StartPkce { short, recovery } => {
                let len = if short { 8 } else { 32 };
                let entropy: Vec<u8> = (0..len).map(|i| (n as u8).wrapping_mul(31).wrapping_add(i)).collect();
                if let Ok(p) = gotrue_session::pkce::from_entropy(&entropy) {
                    self.secrets.push(p.verifier);
                }
                vec![Command::StartPkce { entropy, recovery }]
            }
            Cmd::ExchangeCode => vec![Command::ExchangeCode { auth_code: format!("code-{n}") }],
        }
    }

    pub fn act(&mut self, a: Action) -> Check {
        match a {
            Action::Cmd(c) => {
                for cmd in self.make_commands(c) {
                    self.command(cmd)?;
                }
            }
            Action::Answer { pick, ans } => {
                if !self.pending.is_empty() {
                    let i = pick as usize % self.pending.len();
                    self.answer(i, ans)?;
                }
            }
            Action::AnswerUser { pick, ans } => {
                let users: Vec<usize> =
                    self.pending.iter().enumerate().filter(|(_, p)| p.req.path == "/user").map(|(i, _)| i).collect();
                if !users.is_empty() {
                    self.answer(users[pick as usize % users.len()], ans)?;
                }
            }
            Action::DoubtedGetUser { ans, doubt_again } => self.doubted_get_user(ans, doubt_again)?,
            Action::AnswerRefresh { pick, ans } => {
                let refreshes: Vec<usize> =
                    self.pending.iter().enumerate().filter(|(_, p)| p.refresh.is_some()).map(|(i, _)| i).collect();
                if !refreshes.is_empty() {
                    self.answer(refreshes[pick as usize % refreshes.len()], ans)?;
                }
            }
            Action::Advance(ms) => self.advance(ms)?,
            Action::FailStorage { op, times } => self.fail[op as usize] += u32::from(times),
            Action::External { change, notify } => self.external(change, notify)?,
            Action::AutoRefresh(on) => self
                .plain_input(if on { "start auto refresh" } else { "stop auto refresh" }, |m, now| {
                    m.set_auto_refresh(now, on)
                })?,
            Action::Foreground(fg) => {
                self.foreground = fg;
                self.plain_input(if fg { "foreground" } else { "background" }, |m, now| {
                    m.handle_lifecycle(now, if fg { Lifecycle::Foreground } else { Lifecycle::Background })
                })?
            }
            Action::Online(on) => {
                self.online = on;
                self.plain_input(if on { "online" } else { "offline" }, |m, now| {
                    m.handle_network(now, if on { Reachability::Online } else { Reachability::Offline })
                })?
            }
        }
        // A shell fires what is due at once.
        self.settle_until(self.now)
    }

    pub fn doubted_get_user(&mut self, ans: Ans, doubt_again: bool) -> Check {
        let before: HashSet<u64> = self.pending.iter().map(|p| p.req.id.0).collect();
        self.command(Command::GetUser)?;
        let new_user =
            |sim: &Sim| sim.pending.iter().position(|p| p.req.path == "/user" && !before.contains(&p.req.id.0));
        let Some(i) = new_user(self) else { return Ok(()) };
        self.answer(i, ans)?;
        let Some(i) = self.pending.iter().position(|p| self.verify_requests.contains(&p.req.id.0)) else {
            return Ok(());
        };
        self.answer(i, Ans::Ok)?;
        match self.pending.iter().position(|p| self.after_verify_users.contains(&p.req.id.0)) {
            Some(i) => self.answer(i, if doubt_again { ans } else { Ans::Ok }),
            None => Ok(()),
        }
    }

    /// The end of a case: storage heals, every request fails, time runs; every operation must
    /// then have completed and INITIAL_SESSION must be out.
    pub fn finish(&mut self, initialized: bool) -> Check {
        self.step += 1;
        self.fail = [0; 3];
        if initialized && self.initial_sessions == 0 {
            // A failed first read is read again on the next call.
            self.command(Command::GetSession)?;
        }
        for _ in 0..6 {
            self.fail_all_pending()?;
            if self.all_done(initialized) {
                break;
            }
            let target = self.now + 600_000;
            while let Some(t) = self.m.poll_timeout().filter(|t| *t <= target) {
                self.now = self.now.max(t);
                self.plain_input("timeout", |m, now| m.handle_timeout(now))?;
                self.fail_all_pending()?;
            }
            self.now = target;
        }
        let open: Vec<String> = self
            .ops
            .iter()
            .filter(|(_, (_, n))| *n == 0)
            .map(|(op, (name, _))| format!("{name} (op {})", op.0))
            .collect();
        if !open.is_empty() {
            self.violation(7, format!("operations never completed: {open:?}"))?;
        }
        if initialized && self.initial_sessions != 1 {
            self.violation(6, "initialize was called but INITIAL_SESSION never came".to_owned())?;
        }
        Ok(())
    }

    pub fn all_done(&self, initialized: bool) -> bool {
        self.ops.values().all(|(_, n)| *n > 0) && (!initialized || self.initial_sessions > 0)
    }

    pub fn fail_all_pending(&mut self) -> Check {
        let mut n = 0;
        while !self.pending.is_empty() {
            n += 1;
            if n > MAX_OUTPUTS_PER_INPUT {
                return Err(self.fail_msg("requests keep coming while every request fails at once"));
            }
            self.answer(0, Ans::Transport)?;
        }
        Ok(())
    }
}
