//! The control operations (revoke, faults, replica lag, clock, counters, codes for sign-ins) and
//! the admin HTTP routes under `/admin/...` that expose them as JSON.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ControlError;
use crate::faults::{queue_json, FaultRule};
use crate::http::{Request, Response};
use crate::model::{self, FlowState, SessionInfo};
use crate::routes::{self, ReplicaLag};
use crate::server::{Counters, RequestRecord, Shared};

/// An email OTP issued by [`crate::FakeGoTrue::issue_otp`]: verify it with `{type, email, token}`
/// or `{type, token_hash}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Otp {
    /// The six-digit code.
    pub token: String,
    /// The hash a magic link carries.
    pub token_hash: String,
}

impl Shared {
    pub(crate) fn inject(&self, rule: FaultRule) {
        self.state().faults.push(rule);
    }

    pub(crate) fn faults(&self) -> Vec<FaultRule> {
        self.state().faults.list()
    }

    pub(crate) fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub(crate) fn set_replica_lag(&self, lag: ReplicaLag) {
        self.state().lag = lag;
    }

    pub(crate) fn replica_lag(&self) -> ReplicaLag {
        self.state().lag
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    pub(crate) fn is_down(&self) -> bool {
        self.state().down
    }

    pub(crate) fn add_user(&self, email: &str, password: &str) -> Result<String, ControlError> {
        if !email.contains('@') {
            return Err(ControlError::Invalid(format!("{email:?} is not an email address")));
        }
        let now = self.clock.now_ms();
        self.state().db.add_user(&self.rng, now, Some(email), Some(password), "email", now)
    }

    pub(crate) fn revoke_user_sessions(&self, email_or_id: &str) -> Result<usize, ControlError> {
        let mut st = self.state();
        let id = st.db.user_id_for(email_or_id)?;
        Ok(st.db.delete_user_sessions(&id, None))
    }

    pub(crate) fn revoke_session(&self, session_id: &str) -> Result<(), ControlError> {
        if self.state().db.delete_session(session_id) {
            Ok(())
        } else {
            Err(ControlError::UnknownSession(session_id.to_owned()))
        }
    }

    pub(crate) fn revoke_all_sessions(&self) -> usize {
        let mut st = self.state();
        let ids: Vec<String> = st.db.sessions.keys().cloned().collect();
        for id in &ids {
            st.db.delete_session(id);
        }
        ids.len()
    }

    pub(crate) fn set_banned(&self, email_or_id: &str, banned: bool) -> Result<(), ControlError> {
        let mut st = self.state();
        let id = st.db.user_id_for(email_or_id)?;
        if let Some(u) = st.db.user_mut(&id) {
            u.banned = banned;
        }
        Ok(())
    }

    pub(crate) fn delete_user(&self, email_or_id: &str) -> Result<(), ControlError> {
        let mut st = self.state();
        let id = st.db.user_id_for(email_or_id)?;
        st.db.delete_user(&id);
        Ok(())
    }

    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        self.state().db.session_infos()
    }

    pub(crate) fn counters(&self) -> Counters {
        self.state().counters.clone()
    }

    pub(crate) fn reset_counters(&self) {
        let mut st = self.state();
        st.counters = Counters::default();
        st.log.clear();
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.iter().cloned().collect()
    }

    pub(crate) fn issue_pkce_code(
        &self,
        email_or_id: &str,
        code_challenge: &str,
        code_challenge_method: &str,
        authentication_method: &str,
    ) -> Result<String, ControlError> {
        let method = code_challenge_method.to_ascii_lowercase();
        if method != "s256" && method != "plain" {
            return Err(ControlError::Invalid(format!("code_challenge_method {code_challenge_method:?}")));
        }
        if code_challenge.is_empty() {
            return Err(ControlError::Invalid("empty code_challenge".into()));
        }
        let now = self.clock.now_ms();
        let mut st = self.state();
        let user_id = st.db.user_id_for(email_or_id)?;
        let flow = FlowState {
            user_id,
            code_challenge: code_challenge.to_owned(),
            code_challenge_method: method,
            authentication_method: authentication_method.to_owned(),
            created_at_ms: now,
        };
        Ok(st.db.issue_flow(&self.rng, now, flow))
    }

    pub(crate) fn issue_otp(&self, email_or_id: &str, otp_type: &str) -> Result<Otp, ControlError> {
        if model::otp_group(otp_type).is_none() {
            return Err(ControlError::Invalid(format!(
                "OTP type {otp_type:?} (use email, magiclink, signup, invite, recovery or email_change)"
            )));
        }
        let now = self.clock.now_ms();
        let mut st = self.state();
        let user_id = st.db.user_id_for(email_or_id)?;
        let (token, token_hash) = st.db.issue_otp(&self.rng, now, &user_id, otp_type);
        Ok(Otp { token, token_hash })
    }

    pub(crate) fn issue_id_token(&self, email: &str, provider: &str) -> Result<String, ControlError> {
        if !email.contains('@') {
            return Err(ControlError::Invalid(format!("{email:?} is not an email address")));
        }
        if provider.is_empty() {
            return Err(ControlError::Invalid("empty provider".into()));
        }
        let now = self.clock.now_ms();
        let iat = now.div_euclid(1000);
        let key: [u8; 32] = self.rng.bytes();
        let token = crate::jwt::sign(
            &key,
            &json!({
                "iss": format!("https://{provider}.provider.test"),
                "aud": "gotrue-fake",
                "sub": self.rng.uuid(),
                "email": email,
                "email_verified": true,
                "iat": iat,
                "exp": iat + 3600,
            }),
        );
        self.state().db.id_tokens.insert(
            token.clone(),
            model::IdTokenRow {
                email: email.to_owned(),
                provider: provider.to_owned(),
                expires_at_ms: now + 3_600_000,
            },
        );
        Ok(token)
    }

    /// Creates a session for a user as a sign-in would, and returns the token answer's JSON.
    pub(crate) fn issue_session(&self, email_or_id: &str) -> Result<Value, ControlError> {
        let mut st = self.state();
        let lag = st.lag;
        let ctx = self.ctx(lag);
        let user_id = st.db.user_id_for(email_or_id)?;
        let visible =
            if lag.after_create { ctx.now_ms + i64::try_from(lag.window_ms).unwrap_or(0) } else { ctx.now_ms };
        let (g, _headers) = st.db.create_session(&self.rng, &self.cfg.rules, ctx.now_ms, &user_id, "password", visible);
        st.db.lag_replica_reads(&g.session_id, ctx.created_misses());
        let resp = routes::token_answer(&ctx, &st.db, &g);
        serde_json::from_slice(&resp.body).map_err(|e| ControlError::Invalid(e.to_string()))
    }
}

/// The admin routes. Every answer is JSON; errors are `{"error": "..."}` with 400 or 404.
/// The flag asks the caller to stop the server once the answer is written.
pub(crate) fn handle(shared: &Shared, req: &Request) -> (Response, bool) {
    if req.method == "POST" && req.path.trim_end_matches('/') == "/admin/shutdown" {
        return (Response::json(200, &json!({ "stopping": true })), true);
    }
    match route(shared, req) {
        Ok(v) => (Response::json(200, &v), false),
        Err(AdminError(status, msg)) => (Response::json(status, &json!({ "error": msg })), false),
    }
}

struct AdminError(u16, String);

impl From<ControlError> for AdminError {
    fn from(e: ControlError) -> Self {
        let status = match e {
            ControlError::UnknownUser(_) | ControlError::UnknownSession(_) => 404,
            _ => 400,
        };
        AdminError(status, e.to_string())
    }
}

fn body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, AdminError> {
    let raw: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &req.body };
    serde_json::from_slice(raw).map_err(|e| AdminError(400, format!("bad JSON body: {e}")))
}

#[derive(Deserialize)]
struct Who {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    all: bool,
}

impl Who {
    fn user(&self) -> Result<&str, AdminError> {
        self.email.as_deref().or(self.user_id.as_deref()).ok_or_else(|| AdminError(400, "give email or user_id".into()))
    }
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct PkceReq {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    code_challenge: String,
    #[serde(default = "s256")]
    code_challenge_method: String,
    #[serde(default = "magiclink")]
    authentication_method: String,
}

fn s256() -> String {
    "s256".into()
}
fn magiclink() -> String {
    "magiclink".into()
}

#[derive(Deserialize)]
struct OtpReq {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(rename = "type", default = "email_type")]
    otp_type: String,
}

fn email_type() -> String {
    "email".into()
}

#[derive(Deserialize)]
struct IdTokenReq {
    email: String,
    #[serde(default = "google")]
    provider: String,
}

fn google() -> String {
    "google".into()
}

#[derive(Deserialize)]
struct Down {
    down: bool,
}

#[derive(Deserialize)]
struct ClockReq {
    #[serde(default)]
    offset_ms: Option<i64>,
    #[serde(default)]
    advance_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultsReq {
    Many { faults: Vec<FaultRule> },
    One(FaultRule),
}

fn route(shared: &Shared, req: &Request) -> Result<Value, AdminError> {
    let path = req.path.trim_end_matches('/');
    let m = req.method.as_str();
    match (m, path) {
        ("GET", "/admin" | "/admin/config") => Ok(json!({
            "url": format!("http://{}/auth/v1", shared.addr),
            "anon_key": shared.cfg.anon_key,
            "service_role_key": shared.cfg.service_role_key,
            "access_token_lifetime_secs": shared.cfg.access_token_ttl_secs,
            "reuse_interval_ms": shared.cfg.rules.reuse_interval_ms,
            "refresh_token_algorithm": shared.cfg.rules.algorithm,
            "bad_jwt_status": shared.cfg.bad_jwt_status,
        })),
        ("GET", "/admin/sessions") => {
            let mut v = shared.sessions();
            if let Some(e) = req.query_param("email") {
                v.retain(|s| s.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)));
            }
            Ok(json!({ "sessions": v }))
        }
        ("POST", "/admin/sessions") => {
            let who: Who = body(req)?;
            Ok(shared.issue_session(who.user()?)?)
        }
        ("POST", "/admin/sessions/revoke") => {
            let who: Who = body(req)?;
            let revoked = if let Some(sid) = &who.session_id {
                shared.revoke_session(sid)?;
                1
            } else if who.all {
                shared.revoke_all_sessions()
            } else {
                shared.revoke_user_sessions(who.user()?)?
            };
            Ok(json!({ "revoked": revoked }))
        }
        ("GET", "/admin/faults") => Ok(queue_json(&shared.faults())),
        ("POST", "/admin/faults") => {
            match body::<FaultsReq>(req)? {
                FaultsReq::Many { faults } => faults.into_iter().for_each(|r| shared.inject(r)),
                FaultsReq::One(r) => shared.inject(r),
            }
            Ok(queue_json(&shared.faults()))
        }
        ("DELETE", "/admin/faults") | ("POST", "/admin/faults/clear") => {
            shared.clear_faults();
            Ok(queue_json(&[]))
        }
        ("GET", "/admin/replica-lag") => Ok(json!(shared.replica_lag())),
        ("POST", "/admin/replica-lag") => {
            shared.set_replica_lag(body(req)?);
            Ok(json!(shared.replica_lag()))
        }
        ("GET", "/admin/down") => Ok(json!({ "down": shared.is_down() })),
        ("POST", "/admin/down") => {
            let d: Down = body(req)?;
            shared.set_down(d.down);
            Ok(json!({ "down": d.down }))
        }
        ("GET", "/admin/clock") => {
            Ok(json!({ "now_ms": shared.clock.now_ms(), "offset_ms": shared.clock.offset_ms() }))
        }
        ("POST", "/admin/clock") => {
            let c: ClockReq = body(req)?;
            if let Some(o) = c.offset_ms {
                shared.clock.set_offset_ms(o);
            }
            if let Some(a) = c.advance_ms {
                shared.clock.advance(std::time::Duration::from_millis(a));
            }
            Ok(json!({ "now_ms": shared.clock.now_ms(), "offset_ms": shared.clock.offset_ms() }))
        }
        ("GET", "/admin/counters") => Ok(json!(shared.counters())),
        ("POST", "/admin/counters/reset") => {
            shared.reset_counters();
            Ok(json!(shared.counters()))
        }
        ("GET", "/admin/requests") => Ok(json!({ "requests": shared.requests() })),
        ("POST", "/admin/users") => {
            let u: NewUser = body(req)?;
            Ok(json!({ "id": shared.add_user(&u.email, &u.password)? }))
        }
        ("POST", "/admin/users/ban") | ("POST", "/admin/users/unban") => {
            let who: Who = body(req)?;
            shared.set_banned(who.user()?, path.ends_with("/ban"))?;
            Ok(json!({ "banned": path.ends_with("/ban") }))
        }
        ("POST", "/admin/users/delete") => {
            let who: Who = body(req)?;
            shared.delete_user(who.user()?)?;
            Ok(json!({ "deleted": true }))
        }
        ("POST", "/admin/pkce-codes") => {
            let p: PkceReq = body(req)?;
            let who = p
                .email
                .as_deref()
                .or(p.user_id.as_deref())
                .ok_or_else(|| AdminError(400, "give email or user_id".into()))?;
            let code =
                shared.issue_pkce_code(who, &p.code_challenge, &p.code_challenge_method, &p.authentication_method)?;
            Ok(json!({ "auth_code": code }))
        }
        ("POST", "/admin/otps") => {
            let o: OtpReq = body(req)?;
            let who = o
                .email
                .as_deref()
                .or(o.user_id.as_deref())
                .ok_or_else(|| AdminError(400, "give email or user_id".into()))?;
            Ok(json!(shared.issue_otp(who, &o.otp_type)?))
        }
        ("POST", "/admin/id-tokens") => {
            let r: IdTokenReq = body(req)?;
            Ok(json!({ "id_token": shared.issue_id_token(&r.email, &r.provider)?, "provider": r.provider }))
        }
        _ => Err(AdminError(404, format!("no admin route {m} {path}"))),
    }
}
