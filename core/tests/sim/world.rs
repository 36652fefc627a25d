//! The world's state, and the invariant checks (numbered as in the module header).

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gotrue_session::{
    AuthEvent, Config, ErrorKind, EventKind, HttpRequest, OpId, OpValue, Output, RemovalReason, SessionMachine,
    SessionNotFoundPolicy, StorageFailure, VerifyCooldown,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What one input did, for the checks that look at a whole input.
#[derive(Default)]
pub struct Ctx {
    /// The input is an answer that may never remove a session.
    pub transient: bool,
    /// The input answers a `get_user_with_jwt` request.
    pub jwt_probe: bool,
    pub session_before: Option<(String, String)>,
    pub events: u32,
    pub initial_here: bool,
    /// A StorageRemove of the session key came out since the last event.
    pub remove_since_event: bool,
    pub get_session_null: bool,
    /// The input answers `refresh_token_already_used`.
    pub already_used: bool,
    /// Refresh tokens of the sessions the machine asked storage to hold during this input.
    pub written: Vec<String>,
    /// The input answers the session's `GET /user` with a suspicion: a refresh request in its
    /// drain is a verify refresh.
    pub user_suspicion: bool,
    /// Verify refresh requests sent during this input.
    pub verify_sent: u32,
    /// The input answers a verify refresh with new tokens: a `GET /user` in its drain is the
    /// retry after a verify.
    pub verify_ok: bool,
}

/// A request in flight, with the refresh token it spends (for refresh requests).
pub struct Pending {
    pub req: HttpRequest,
    pub refresh: Option<String>,
}

pub struct Sim {
    pub m: SessionMachine,
    pub persist: bool,
    pub now: u64,
    pub skew_ms: i64,
    pub lifetime_s: i64,
    pub store: BTreeMap<String, String>,
    /// The tokens of the stored session value: `None` absent, `Some(None)` not a session.
    pub stored_view: Option<Option<(String, String)>>,
    /// Injected failures for the next reads, writes, removals.
    pub fail: [u32; 3],
    pub pending: Vec<Pending>,
    pub counter: u64,
    /// Every token, password and verifier handed out: none may appear in a message.
    pub secrets: Vec<String>,
    /// Refresh token -> the refresh token it was issued for.
    pub parent: HashMap<String, String>,
    /// Refresh token -> the server session (`session_id` claim) it belongs to.
    pub sid_of: HashMap<String, String>,
    /// Refresh token -> user id.
    pub user_of: HashMap<String, String>,
    /// Refresh tokens the server rotated in answer to this machine's requests.
    pub spent: HashSet<String>,
    /// Refresh tokens of signed-out sessions -> the last operation the app had issued when
    /// the sign-out happened (for a user sign-out: the sign_out call itself).
    pub dead: HashMap<String, OpId>,
    /// A user sign-out's token, waiting for its sign_out call to complete in the same drain.
    pub dead_awaiting_op: Option<String>,
    /// Refresh token -> the set_session calls it was handed to.
    pub set_session_given: HashMap<String, Vec<OpId>>,
    /// Operation -> (name, completions).
    pub ops: BTreeMap<OpId, (&'static str, u32)>,
    pub initial_sessions: u32,
    /// The last event was SIGNED_OUT or INITIAL_SESSION(null).
    pub sessionless: bool,
    pub announced: Option<(String, String)>,
    /// Another process changed the store since the machine and the store last agreed.
    pub ext_dirty: bool,
    /// Another process removed the session key since the machine last wrote it.
    pub ext_removed: bool,
    pub other_jwts: HashSet<String>,
    /// Cross-process locks taken by exclusive reads and not yet released.
    pub locks: u32,
    /// Invariants `SIM_SKIP` turns off.
    pub skip: HashSet<u8>,
    pub foreground: bool,
    pub online: bool,
    /// Refresh tokens handed to set_session calls that have not completed.
    pub set_session_tokens: HashMap<OpId, String>,
    pub trace: Option<Vec<String>>,
    /// Every event, in order.
    pub events_seen: Vec<EventKind>,
    /// Storage reads, writes and removals the machine asked for.
    pub storage_ops: [u32; 3],
    /// How each operation ended: `Ok` or the error kind.
    pub results: HashMap<OpId, Result<(), ErrorKind>>,
    /// What happened, counted, for `coverage_report`.
    pub stats: Option<BTreeMap<String, u64>>,
    pub step: usize,
    /// The configured verify cooldown, in ms.
    pub verify_cooldown_ms: u64,
    pub policy: Policy,
    /// A sequence number for what the world does, to tell what came after what (invariant 14).
    pub tick: u64,
    /// Refresh token the server issued in answer to a refresh -> the tick of that answer.
    pub confirmed: HashMap<String, u64>,
    /// Refresh token -> the tick at which the refresh endpoint last rejected a refresh spending it.
    pub rejected: HashMap<String, u64>,
    /// The tick of the last sign_out call, change by another process, or `/user` suspicion under
    /// the `remove` policy: each may legitimately end any session.
    pub excused_at: u64,
    /// The refresh token the server issued last (set by `success`).
    pub issued: Option<String>,
    /// Verify refresh requests in flight.
    pub verify_requests: HashSet<u64>,
    /// Refresh token issued by a successful verify refresh -> the time of that answer (ms); cleared
    /// when a session starts or ends (invariant 15).
    pub verified: HashMap<String, u64>,
    /// `GET /user` requests that retry after a successful verify refresh.
    pub after_verify_users: HashSet<u64>,
    /// Tokens that came only in a hostile stored value or a hostile answer: no session holding one
    /// may be written, announced, answered or held (invariant 16).
    pub hostile: HashSet<String>,
    /// The bodies `Hostile::Bytes` picks from (a fuzzer's); when empty, it draws bytes itself.
    pub bodies: Vec<Vec<u8>>,
}

/// A test access token of server session `sid`.
pub fn jwt(exp: i64, sub: &str, n: u64, sid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = json!({ "exp": exp, "sub": sub, "session_id": sid, "ref": format!("at-{n:06}") });
    format!("{header}.{}.c2lnLXNpbQ", URL_SAFE_NO_PAD.encode(payload.to_string()))
}

pub fn tokens_of(raw: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(raw).ok()?;
    let a = v.get("access_token")?.as_str()?.to_owned();
    let r = v.get("refresh_token")?.as_str()?.to_owned();
    v.get("expires_at")?.as_f64()?;
    Some((a, r))
}

/// The string value of the first `"field":"..."` in `raw`, found as text (any nesting; no escapes).
fn token_in_text<'a>(raw: &'a str, field: &str) -> Option<&'a str> {
    let start = raw.find(&format!("\"{field}\":\""))? + field.len() + 4;
    raw[start..].split('"').next()
}

pub fn refresh_token_of(req: &HttpRequest) -> Option<String> {
    let is_refresh = req.path == "/token" && req.query.iter().any(|(k, v)| k == "grant_type" && v == "refresh_token");
    if !is_refresh {
        return None;
    }
    let body: Value = serde_json::from_str(req.body.as_deref()?).ok()?;
    Some(body.get("refresh_token")?.as_str()?.to_owned())
}

pub fn trace_enabled() -> bool {
    std::env::var("SIM_TRACE").is_ok_and(|v| v == "1")
}

impl Sim {
    pub fn new(setup: &Setup) -> Self {
        let mut cfg = Config::new(KEY, "sim-anon-key");
        cfg.persist_session = setup.persist;
        cfg.auto_refresh = setup.auto_refresh;
        cfg.jitter = setup.jitter_seed.is_some();
        cfg.session_not_found = match setup.policy {
            Policy::Verify => SessionNotFoundPolicy::Verify,
            Policy::Remove => SessionNotFoundPolicy::Remove,
            Policy::Defer => SessionNotFoundPolicy::Defer,
        };
        cfg.verify_cooldown = i64::try_from(setup.verify_cooldown_ms)
            .ok()
            .and_then(|ms| VerifyCooldown::from_ms(ms).ok())
            .expect("the setup's verify cooldown is valid");
        let mut m = SessionMachine::new(cfg);
        if let Some(seed) = setup.jitter_seed {
            m.seed_jitter(seed);
        }
        let mut sim = Sim {
            m,
            persist: setup.persist,
            now: START_MS,
            skew_ms: setup.skew_s * 1000,
            lifetime_s: setup.lifetime_s,
            store: BTreeMap::new(),
            stored_view: None,
            fail: [0; 3],
            pending: Vec::new(),
            counter: 0,
            secrets: Vec::new(),
            parent: HashMap::new(),
            sid_of: HashMap::new(),
            user_of: HashMap::new(),
            spent: HashSet::new(),
            dead: HashMap::new(),
            dead_awaiting_op: None,
            set_session_given: HashMap::new(),
            ops: BTreeMap::new(),
            initial_sessions: 0,
            sessionless: false,
            announced: None,
            ext_dirty: false,
            ext_removed: false,
            other_jwts: HashSet::new(),
            locks: 0,
            skip: std::env::var("SIM_SKIP")
                .unwrap_or_default()
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect(),
            foreground: true,
            online: true,
            set_session_tokens: HashMap::new(),
            trace: trace_enabled().then(Vec::new),
            stats: None,
            events_seen: Vec::new(),
            storage_ops: [0; 3],
            results: HashMap::new(),
            step: 0,
            verify_cooldown_ms: setup.verify_cooldown_ms,
            policy: setup.policy,
            tick: 0,
            confirmed: HashMap::new(),
            rejected: HashMap::new(),
            excused_at: 0,
            issued: None,
            verify_requests: HashSet::new(),
            verified: HashMap::new(),
            after_verify_users: HashSet::new(),
            // The refresh token of the stored garbage that lacks an access token (`Ext::Garbage`).
            hostile: HashSet::from(["r".to_owned()]),
            bodies: Vec::new(),
        };
        let value = match setup.stored {
            Stored::Empty => None,
            Stored::Valid => Some(sim.session_json("user-0", Expiry::Valid, None).0),
            Stored::Due => Some(sim.session_json("user-0", Expiry::Due, None).0),
            Stored::Expired => Some(sim.session_json("user-0", Expiry::Expired, None).0),
            Stored::Garbage => Some("{\"access_token\":".to_owned()),
            Stored::Hostile(h) => Some(sim.hostile_stored(h)),
        };
        if let Some(v) = value {
            sim.put(KEY, v);
            sim.ext_dirty = true;
        }
        sim
    }

    /// Counts something for the coverage report (only when one is being made).
    pub fn count(&mut self, what: impl FnOnce() -> String) {
        if let Some(stats) = &mut self.stats {
            *stats.entry(what()).or_default() += 1;
        }
    }

    pub fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push(line());
        }
    }

    /// Reports a broken invariant, unless `SIM_SKIP` lists it (to look past a known bug).
    pub fn violation(&self, inv: u8, what: String) -> Check {
        if self.skip.contains(&inv) {
            return Ok(());
        }
        Err(self.fail_msg(&format!("invariant {inv}: {what}")))
    }

    pub fn fail_msg(&self, what: &str) -> String {
        let mut msg = format!("step {} (t=+{} ms): {what}", self.step, self.now - START_MS);
        if let Some(t) = &self.trace {
            msg.push_str("\ntrace:\n");
            for l in t {
                msg.push_str("  ");
                msg.push_str(l);
                msg.push('\n');
            }
        }
        msg
    }

    pub fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// `refresh`, the token it was issued for, and so on up to the first of its lineage.
    pub fn lineage<'a>(&'a self, refresh: &'a str) -> Vec<&'a str> {
        let mut chain = vec![refresh];
        let mut t = refresh;
        while let Some(p) = self.parent.get(t) {
            if chain.len() > 100_000 {
                break;
            }
            chain.push(p);
            t = p;
        }
        chain
    }

    /// When the last verify refresh of `refresh`'s lineage succeeded, if one did since the
    /// session started.
    pub fn last_verified(&self, refresh: &str) -> Option<u64> {
        self.lineage(refresh).iter().filter_map(|t| self.verified.get(*t)).max().copied()
    }

    /// Invariant 14, at a SIGNED_OUT of the session holding `refresh`.
    pub fn check_signed_out_after_confirmation(&self, refresh: &str, reason: Option<RemovalReason>) -> Check {
        let chain = self.lineage(refresh);
        let Some(&confirmed) = chain.iter().filter_map(|t| self.confirmed.get(*t)).max() else { return Ok(()) };
        let rejected = chain.iter().any(|t| self.rejected.get(*t).is_some_and(|r| *r > confirmed));
        let signing_out = self.ops.values().any(|(name, n)| *name == "sign_out" && *n == 0);
        if rejected || signing_out || self.excused_at > confirmed {
            return Ok(());
        }
        self.violation(
            14,
            format!(
                "SIGNED_OUT({reason:?}) of a session ({refresh}) the refresh endpoint accepted, with no rejected \
                 refresh, sign-out, change by another process or removal by policy since"
            ),
        )
    }

    /// Invariant 15, when a verify refresh spending `spent` goes out.
    pub fn on_verify_refresh(&mut self, id: u64, spent: &str) -> Check {
        self.verify_requests.insert(id);
        self.count(|| "verify refresh sent".into());
        let Some(at) = self.last_verified(spent) else { return Ok(()) };
        let since = self.now - at;
        if since < self.verify_cooldown_ms {
            return self.violation(
                15,
                format!(
                    "a verify refresh (spending {spent}) {since} ms after the last verify refresh of this session \
                     succeeded; the cooldown is {} ms",
                    self.verify_cooldown_ms
                ),
            );
        }
        let cooldown = self.verify_cooldown_ms;
        self.count(|| {
            if cooldown == 0 { "verify refresh again, no cooldown" } else { "verify refresh again after the cooldown" }
                .into()
        });
        Ok(())
    }

    pub fn server_now_s(&self) -> i64 {
        (self.now as i64 + self.skew_ms).div_euclid(1000)
    }

    /// A session as the server issues it: `(json text, refresh token)`. A rotation (`rotates`: the
    /// refresh token spent) stays in its server session, as GoTrue's do (same `session_id`
    /// claim); anything else starts a new one.
    pub fn session_json(&mut self, user: &str, expiry: Expiry, rotates: Option<&str>) -> (String, String) {
        let n = self.next();
        let refresh = format!("rt-sim-{n:06}");
        let sid = rotates.and_then(|old| self.sid_of.get(old).cloned()).unwrap_or_else(|| format!("sess-{n:06}"));
        self.sid_of.insert(refresh.clone(), sid.clone());
        let exp = self.server_now_s()
            + match expiry {
                Expiry::Valid => self.lifetime_s,
                Expiry::Due => 60,
                Expiry::Expired => -10,
            };
        let access = jwt(exp, user, n, &sid);
        self.secrets.push(access.clone());
        self.secrets.push(refresh.clone());
        self.user_of.insert(refresh.clone(), user.to_owned());
        let value = json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.lifetime_s,
            "expires_at": exp,
            "token_type": "bearer",
            "user": { "id": user, "aud": "authenticated", "role": "authenticated", "email": format!("{user}@example.com") },
        });
        (value.to_string(), refresh)
    }

    pub fn put(&mut self, key: &str, value: String) {
        if key == KEY {
            self.stored_view = Some(tokens_of(&value));
        }
        self.store.insert(key.to_owned(), value);
    }

    pub fn del(&mut self, key: &str) {
        if key == KEY {
            self.stored_view = None;
        }
        self.store.remove(key);
    }

    /// Whether writing or announcing a session with `refresh` resurrects a signed-out lineage:
    /// walking up from `refresh`, a signed-out token is reached before any set_session call
    /// issued after that sign-out (an app handing tokens back explicitly is a new sign-in).
    pub fn resurrects(&mut self, refresh: &str) -> bool {
        let mut given: Vec<OpId> = Vec::new();
        let mut t = refresh;
        for _ in 0..100_000 {
            given.extend(self.set_session_given.get(t).into_iter().flatten());
            if let Some(watermark) = self.dead.get(t) {
                return !given.iter().any(|op| op > watermark);
            }
            match self.parent.get(t) {
                Some(p) => t = p,
                None => return false,
            }
        }
        false
    }

    /// Invariant 16, for a session the machine writes, announces, answers or holds (`what` says
    /// which, as a verb phrase).
    pub fn check_not_hostile(&self, access: &str, refresh: &str, what: impl FnOnce() -> String) -> Check {
        let token = if self.hostile.contains(refresh) {
            "refresh"
        } else if self.hostile.contains(access) {
            "access"
        } else {
            return Ok(());
        };
        self.violation(
            16,
            format!(
                "the machine {} a session ({refresh}) whose {token} token came only in a hostile stored value \
                 or answer",
                what()
            ),
        )
    }

    pub fn check_secret(&self, text: &str, what: &str) -> Check {
        // Every secret but a PKCE verifier carries one of these markers: scan only when one shows.
        let marked = SECRET_MARKERS.iter().any(|m| text.contains(m));
        let mut candidates = self.secrets.iter().filter(|s| marked || s.len() == 43);
        match candidates.find(|s| text.contains(s.as_str())) {
            Some(s) => self.violation(10, format!("a secret ({}…) appears in {what}: {text:?}", &s[..6])),
            None => Ok(()),
        }
    }

    pub fn take_fail(&mut self, op: StoreOp) -> bool {
        let n = &mut self.fail[op as usize];
        if *n == 0 {
            return false;
        }
        *n -= 1;
        true
    }

    pub fn view(&self) -> Option<(String, String)> {
        self.m.session().map(|s| (s.access_token.clone(), s.refresh_token.clone()))
    }

    pub fn ctx(&self) -> Ctx {
        Ctx { session_before: self.view(), ..Ctx::default() }
    }

    // ---- draining outputs ---------------------------------------------------------------------

    pub fn drain(&mut self, ctx: &mut Ctx) -> Check {
        let mut n = 0;
        while let Some(out) = self.m.poll_output() {
            n += 1;
            if n > MAX_OUTPUTS_PER_INPUT {
                return Err(self.fail_msg("the machine keeps producing outputs without the clock moving"));
            }
            self.output(out, ctx)?;
        }
        Ok(())
    }

    pub fn output(&mut self, out: Output, ctx: &mut Ctx) -> Check {
        let now = self.now;
        match out {
            Output::Http(req) => {
                self.log(|| format!("  -> {} {} {:?} #{}", req.method.as_str(), req.path, req.query, req.id.0));
                let refresh = refresh_token_of(&req);
                if let Some(rt) = &refresh {
                    // A token the app handed to set_session is the app's choice, spent or not.
                    let given = self.set_session_given.contains_key(rt);
                    if self.spent.contains(rt) && !given {
                        self.violation(4, format!("a refresh request spends {rt} again after it was rotated"))?;
                    }
                    let current = self.m.session().is_some_and(|s| s.refresh_token == *rt);
                    if !current && !given {
                        self.violation(
                            4,
                            format!("a refresh request spends {rt}, neither the session's token nor one the app gave"),
                        )?;
                    }
                    if self.pending.iter().any(|p| p.refresh.as_ref() == Some(rt)) {
                        self.violation(
                            4,
                            format!(
                                "a second refresh request for the same refresh token ({rt}) while one is in flight"
                            ),
                        )?;
                    }
                    if ctx.user_suspicion {
                        ctx.verify_sent += 1;
                        self.on_verify_refresh(req.id.0, rt)?;
                    }
                }
                if ctx.verify_ok && req.path == "/user" {
                    self.after_verify_users.insert(req.id.0);
                }
                self.pending.push(Pending { req, refresh });
            }
            Output::StorageRead { id, key, exclusive } => {
                self.storage_ops[StoreOp::Read as usize] += 1;
                if !self.persist {
                    self.violation(12, format!("persist_session is off but the machine reads {key}"))?;
                }
                if exclusive {
                    self.locks += 1;
                }
                let result = if self.take_fail(StoreOp::Read) {
                    Err(StorageFailure::new("injected read failure"))
                } else {
                    Ok(self.store.get(&key).cloned())
                };
                self.log(|| format!("  read {key} -> {}", if result.is_ok() { "ok" } else { "FAILED" }));
                self.m.handle_storage_read(now, id, result);
            }
            Output::StorageWrite { id, key, value } => {
                self.storage_ops[StoreOp::Write as usize] += 1;
                if !self.persist {
                    self.violation(12, format!("persist_session is off but the machine writes {key}"))?;
                }
                if key == KEY {
                    let Some((access, refresh)) = tokens_of(&value) else {
                        // Too deep for `tokens_of`'s parser, perhaps: look for the tokens as text.
                        let (access, refresh) =
                            (token_in_text(&value, "access_token"), token_in_text(&value, "refresh_token"));
                        self.check_not_hostile(access.unwrap_or_default(), refresh.unwrap_or_default(), || {
                            "writes to storage".to_owned()
                        })?;
                        return Err(self.fail_msg("the machine wrote a session value that is not a session"));
                    };
                    self.check_not_hostile(&access, &refresh, || "writes to storage".to_owned())?;
                    if self.resurrects(&refresh) {
                        self.violation(
                            5,
                            format!("a session of a signed-out lineage is written back to storage ({refresh})"),
                        )?;
                    }
                    ctx.written.push(refresh);
                }
                let result = if self.take_fail(StoreOp::Write) {
                    Err(StorageFailure::new("injected write failure"))
                } else {
                    if key == KEY {
                        self.ext_dirty = false;
                        self.ext_removed = false;
                    }
                    self.put(&key, value);
                    Ok(())
                };
                self.log(|| format!("  write {key} -> {}", if result.is_ok() { "ok" } else { "FAILED" }));
                self.m.handle_storage_done(now, id, result);
            }
            Output::StorageRemove { id, key } => {
                self.storage_ops[StoreOp::Remove as usize] += 1;
                if !self.persist {
                    self.violation(12, format!("persist_session is off but the machine removes {key}"))?;
                }
                if key == KEY {
                    ctx.remove_since_event = true;
                }
                let result = if self.take_fail(StoreOp::Remove) {
                    Err(StorageFailure::new("injected remove failure"))
                } else {
                    if key == KEY {
                        self.ext_dirty = false;
                        self.ext_removed = false;
                    }
                    self.del(&key);
                    Ok(())
                };
                self.log(|| format!("  remove {key} -> {}", if result.is_ok() { "ok" } else { "FAILED" }));
                self.m.handle_storage_done(now, id, result);
            }
            Output::StorageUnlock { key } => {
                self.log(|| format!("  unlock {key}"));
                if self.locks == 0 {
                    self.violation(11, "StorageUnlock without a lock held".to_owned())?;
                }
                self.locks = self.locks.saturating_sub(1);
            }
            Output::Event(e) => self.on_event(e, ctx)?,
            Output::Complete { op, result } => {
                self.log(|| format!("  complete op {} {}", op.0, short_result(&result)));
                let Some(entry) = self.ops.get_mut(&op) else {
                    return Err(self.fail_msg(&format!("invariant 7: completion of an unknown operation {op:?}")));
                };
                entry.1 += 1;
                let (name, count) = *entry;
                self.set_session_tokens.remove(&op);
                self.results.insert(op, result.as_ref().map(drop).map_err(|e| e.kind));
                if name == "sign_out" {
                    if let Some(t) = self.dead_awaiting_op.take() {
                        self.dead.insert(t, op);
                    }
                }
                self.count(|| match &result {
                    Ok(_) => format!("complete {name} ok"),
                    Err(e) => format!("complete {name} err {}", e.kind),
                });
                if count > 1 {
                    self.violation(7, format!("{name} (op {}) completed {count} times", op.0))?;
                }
                if let Ok(OpValue::Session(Some(s))) = &result {
                    self.check_not_hostile(&s.access_token, &s.refresh_token, || format!("{name} answers"))?;
                }
                match &result {
                    Err(e) => {
                        self.check_secret(&e.message, "an error message")?;
                        self.check_secret(&e.to_string(), "an error's Display")?;
                    }
                    Ok(OpValue::Session(None)) if name == "get_session" => ctx.get_session_null = true,
                    Ok(OpValue::Session(Some(s))) if self.announced.as_ref().is_none_or(|a| a.1 != s.refresh_token) => {
                        self.violation(
                            13,
                            format!("{name} answered a session ({}) that was never announced", s.refresh_token),
                        )?;
                    }
                    Ok(_) => {}
                }
            }
            Output::Diagnostic(d) => {
                self.log(|| format!("  diagnostic {:?}: {}", d.kind, d.message));
                self.count(|| format!("diagnostic {:?}", d.kind));
                self.check_secret(&d.message, "a diagnostic message")?;
                if let Some(e) = &d.error {
                    self.check_secret(&e.message, "a diagnostic's error message")?;
                }
                for (name, value) in &d.server_headers {
                    self.check_secret(value, &format!("a diagnostic's {name} header"))?;
                }
            }
        }
        Ok(())
    }

    pub fn on_event(&mut self, e: AuthEvent, ctx: &mut Ctx) -> Check {
        self.log(|| {
            format!(
                "  EVENT {} {:?} {}",
                e.kind.as_str(),
                e.reason,
                e.session.as_ref().map(|s| s.refresh_token.as_str()).unwrap_or("-")
            )
        });
        ctx.events += 1;
        let kind = e.kind;
        self.events_seen.push(kind);
        if let Some(s) = &e.session {
            self.check_not_hostile(&s.access_token, &s.refresh_token, || format!("{} announces", kind.as_str()))?;
        }
        self.count(|| match e.reason {
            Some(r) => format!("event {} {}", kind.as_str(), r.as_str()),
            None if kind == EventKind::InitialSession && e.session.is_none() => "event INITIAL_SESSION null".into(),
            None if e.expired => format!("event {} expired", kind.as_str()),
            None => format!("event {}", kind.as_str()),
        });
        if kind == EventKind::InitialSession {
            self.initial_sessions += 1;
            ctx.initial_here = true;
            if self.initial_sessions > 1 {
                self.violation(6, "INITIAL_SESSION emitted twice".to_owned())?;
            }
        } else if self.initial_sessions == 0 && !matches!(kind, EventKind::TokenRefreshed | EventKind::SignedOut) {
            self.violation(6, format!("{} before INITIAL_SESSION", kind.as_str()))?;
        }
        match kind {
            EventKind::SignedOut => {
                if e.session.is_some() {
                    return Err(self.fail_msg("SIGNED_OUT carries a session"));
                }
                if self.sessionless {
                    self.violation(
                        3,
                        "SIGNED_OUT without a session announced since the last SIGNED_OUT / INITIAL_SESSION(null)"
                            .to_owned(),
                    )?;
                }
                let reason = e.reason;
                let signed_out = self.announced.as_ref().or(ctx.session_before.as_ref()).map(|t| t.1.clone());
                if let Some(refresh) = &signed_out {
                    self.check_signed_out_after_confirmation(refresh, reason)?;
                }
                // The next session's verify cooldown starts afresh.
                self.verified.clear();
                if reason == Some(RemovalReason::RemovedElsewhere) {
                    if !self.ext_removed {
                        self.violation(
                            3,
                            "SIGNED_OUT(removed_elsewhere) though no other process removed the session".to_owned(),
                        )?;
                    }
                } else if self.persist && !ctx.remove_since_event {
                    self.violation(
                        3,
                        format!("SIGNED_OUT({reason:?}) without a removal of the stored session before it"),
                    )?;
                }
                if ctx.transient && ctx.session_before.is_some() {
                    // A deferred sign_out (or a deferred call that reads storage) may run when a
                    // transient answer ends the initialization refresh.
                    let excused = ctx.initial_here
                        && matches!(reason, Some(RemovalReason::UserSignOut | RemovalReason::RemovedElsewhere));
                    if !excused {
                        self.violation(2, format!("a transient answer removed the session (SIGNED_OUT {reason:?})"))?;
                    }
                }
                if let Some((_, refresh)) = self.announced.take().or_else(|| ctx.session_before.clone()) {
                    let last_op = self.ops.keys().next_back().copied().unwrap_or(OpId(0));
                    if reason == Some(RemovalReason::UserSignOut) {
                        self.dead_awaiting_op = Some(refresh.clone());
                    }
                    self.dead.insert(refresh, last_op);
                }
                self.sessionless = true;
            }
            EventKind::InitialSession => {
                self.announced = e.session.as_ref().map(|s| (s.access_token.clone(), s.refresh_token.clone()));
                self.sessionless = self.announced.is_none();
            }
            _ => {
                let Some(s) = &e.session else {
                    return Err(self.fail_msg(&format!("{} without a session", kind.as_str())));
                };
                if matches!(kind, EventKind::SignedIn | EventKind::PasswordRecovery) {
                    // A new session: the old one's verify cooldown does not apply to it.
                    self.verified.clear();
                }
                if self.resurrects(&s.refresh_token) {
                    self.violation(
                        5,
                        format!("{} for a session of a signed-out lineage ({})", kind.as_str(), s.refresh_token),
                    )?;
                }
                // Persist before emit: storage holds the session, or a write of it came out first.
                let stored = matches!(&self.stored_view, Some(Some((_, r))) if *r == s.refresh_token);
                if self.persist && !stored && !ctx.written.contains(&s.refresh_token) {
                    self.violation(
                        13,
                        format!("{} for a session ({}) not written to storage first", kind.as_str(), s.refresh_token),
                    )?;
                }
                self.announced = Some((s.access_token.clone(), s.refresh_token.clone()));
                self.sessionless = false;
            }
        }
        ctx.remove_since_event = false;
        Ok(())
    }

    /// The checks that look at the state after a whole input.
    pub fn after_input(&mut self, ctx: &mut Ctx) -> Check {
        self.drain(ctx)?;
        self.dead_awaiting_op = None;
        if let Some(s) = self.m.session() {
            self.check_not_hostile(&s.access_token, &s.refresh_token, || "the machine holds".to_owned())?;
        }
        if self.persist {
            let matches = match (&self.stored_view, self.m.session()) {
                (None, None) => true,
                (Some(Some((a, r))), Some(s)) => *a == s.access_token && *r == s.refresh_token,
                _ => false,
            };
            if self.ext_dirty {
                if matches {
                    self.ext_dirty = false;
                }
            } else if self.m.storage_in_sync() && !matches {
                let stored = match &self.stored_view {
                    None => "nothing".to_owned(),
                    Some(None) => "a value that is no session".to_owned(),
                    Some(Some((_, r))) => format!("the session with {r}"),
                };
                let mine = self.m.session().map_or("no session".to_owned(), |s| s.refresh_token.clone());
                self.violation(1, format!("storage_in_sync() but storage holds {stored} and the machine {mine}"))?;
            }
        }
        if self.initial_sessions > 0 && self.announced != self.view() {
            self.violation(
                8,
                format!(
                    "the last announced session ({:?}) is not the machine's ({:?})",
                    self.announced.as_ref().map(|t| &t.1),
                    self.view().map(|t| t.1)
                ),
            )?;
        }
        if ctx.get_session_null && ctx.session_before.is_some() && self.m.session().is_some() {
            self.violation(9, "get_session answered null while the machine holds a session".to_owned())?;
        }
        if self.locks > 0 && !self.pending.iter().any(|p| p.refresh.is_some()) && self.m.poll_timeout().is_none() {
            self.violation(
                11,
                format!(
                    "{} cross-process lock(s) held with no refresh in flight and no timer to release them",
                    self.locks
                ),
            )?;
        }
        if ctx.jwt_probe && (ctx.events > 0 || ctx.session_before != self.view()) {
            self.violation(9, "the answer to get_user_with_jwt changed the session".to_owned())?;
        }
        Ok(())
    }
}

pub fn short_result(r: &Result<OpValue, gotrue_session::AuthError>) -> String {
    match r {
        Ok(OpValue::Session(Some(s))) => format!("ok session {}", s.refresh_token),
        Ok(v) => format!("ok {:?}", std::mem::discriminant(v)),
        Err(e) => format!("err {} {:?} {:?}", e.kind, e.status, e.code),
    }
}
