//! GoTrue's routes: `/token` (refresh_token, password, pkce, id_token), `/signup`, `/verify`,
//! `/user`, `/logout`, `/health`, answering the way GoTrue does, checks in GoTrue's order.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::faults::{Endpoint, Grant};
use crate::http::{Request, Response};
use crate::jwt;
use crate::model::{self, Db, FlowState, Granted, Headers, Rules, OTP_TTL_MS};
use crate::util::{parse_uuid, Rng};

/// A read replica that lags behind: for `window_ms` after a session (or user) is created, or a
/// session refreshed, `GET /user` does not find it and answers 403 `session_not_found` (or
/// `user_not_found` for a user created in the window). `misses` is the same lag counted in reads
/// instead of time: the first `misses` `GET /user` of such a session miss it however late they
/// come, so a test on a slow machine sees the lag it asked for.
///
/// The lag belongs to the session, not to an access token: a refresh issues a new token for the
/// same session, and reads with it use up the same count. So `misses: 2` without
/// `after_refresh` is a lag that outlasts a client's verify round trip: the first `/user`
/// misses, the verify refresh (answered by the primary) succeeds, the `/user` retried with its
/// new token misses too, and the third read finds the session ([`ReplicaLag::after_sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplicaLag {
    /// How long the replica lags, in milliseconds (0: no lag).
    #[serde(default)]
    pub window_ms: u64,
    /// How many `GET /user` reads of a new (or refreshed) session miss it, whatever the time.
    #[serde(default)]
    pub misses: u32,
    /// Lag after a sign-in creates a session (and after a sign-up creates a user).
    #[serde(default = "yes")]
    pub after_create: bool,
    /// Lag after a refresh.
    #[serde(default = "yes")]
    pub after_refresh: bool,
}

fn yes() -> bool {
    true
}

impl ReplicaLag {
    /// A lag of `window_ms` after creation and after refresh.
    pub fn new(window_ms: u64) -> ReplicaLag {
        ReplicaLag { window_ms, misses: 0, after_create: true, after_refresh: true }
    }

    /// A lag of the first `misses` reads after creation and after refresh, whatever the time.
    /// A refresh during a lag leaves at least `misses` reads to go, not `misses` more: the
    /// replica catches up with the latest write.
    pub fn reads(misses: u32) -> ReplicaLag {
        ReplicaLag { window_ms: 0, misses, after_create: true, after_refresh: true }
    }

    /// A lag of the first `misses` reads of a new session, whatever the time and whichever of
    /// the session's tokens they carry; refreshes add none. With `misses >= 2` the lag outlasts
    /// a client's verify round trip (the `/user` retried after the verify refresh misses too);
    /// with 1 the retried `/user` finds the session.
    pub fn after_sign_in(misses: u32) -> ReplicaLag {
        ReplicaLag { window_ms: 0, misses, after_create: true, after_refresh: false }
    }
}

/// The server's fixed configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub secret: Vec<u8>,
    pub anon_key: String,
    pub service_role_key: String,
    pub access_token_ttl_secs: i64,
    pub rules: Rules,
    pub bad_jwt_status: u16,
    pub anonymous_sign_ins: bool,
    pub issuer: String,
}

/// What a handler needs besides the data.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Config,
    pub rng: &'a Rng,
    pub now_ms: i64,
    pub lag: ReplicaLag,
}

impl Ctx<'_> {
    fn created_visible_at(&self) -> i64 {
        if self.lag.after_create {
            self.now_ms + lag_ms(self.lag)
        } else {
            self.now_ms
        }
    }

    fn refreshed_visible_at(&self) -> Option<i64> {
        (self.lag.after_refresh && self.lag.window_ms > 0).then(|| self.now_ms + lag_ms(self.lag))
    }

    /// Reads that miss a session just created.
    pub(crate) fn created_misses(&self) -> u32 {
        if self.lag.after_create {
            self.lag.misses
        } else {
            0
        }
    }

    /// Reads that miss a session just refreshed.
    fn refreshed_misses(&self) -> u32 {
        if self.lag.after_refresh {
            self.lag.misses
        } else {
            0
        }
    }
}

fn lag_ms(l: ReplicaLag) -> i64 {
    i64::try_from(l.window_ms).unwrap_or(i64::MAX / 4)
}

/// Strips the `/auth/v1` prefix (both forms are served).
pub(crate) fn gotrue_path(path: &str) -> &str {
    match path.strip_prefix("/auth/v1") {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Which endpoint a request is for.
pub(crate) fn endpoint_of(req: &Request) -> Endpoint {
    let path = gotrue_path(&req.path).trim_end_matches('/');
    match path {
        "/token" => Endpoint::Token(match req.query_param("grant_type") {
            Some("refresh_token") => Grant::RefreshToken,
            Some("password") => Grant::Password,
            Some("pkce") => Grant::Pkce,
            Some("id_token") => Grant::IdToken,
            _ => Grant::Other,
        }),
        "/signup" => Endpoint::Signup,
        "/verify" => Endpoint::Verify,
        "/user" => Endpoint::User,
        "/logout" => Endpoint::Logout,
        "/health" => Endpoint::Health,
        _ => Endpoint::Other,
    }
}

/// The gateway's check of the `apikey` header (or query parameter).
pub(crate) fn check_api_key(cfg: &Config, req: &Request) -> Result<(), ApiError> {
    let key = req.header("apikey").or_else(|| req.query_param("apikey"));
    match key {
        None | Some("") => Err(ApiError::Gateway {
            status: 401,
            body: json!({"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."}),
        }),
        Some(k) if k == cfg.anon_key || k == cfg.service_role_key => Ok(()),
        Some(_) => Err(ApiError::Gateway {
            status: 401,
            body: json!({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}),
        }),
    }
}

/// Answers a GoTrue request (after the API key check).
pub(crate) fn handle(ctx: &Ctx<'_>, db: &mut Db, req: &Request, endpoint: Endpoint) -> Response {
    let versioned = crate::error::is_versioned(req.header("x-supabase-api-version"));
    let mut headers = Headers::new();
    let method_ok = match endpoint {
        Endpoint::User | Endpoint::Health => req.method == "GET",
        Endpoint::Other => true,
        _ => req.method == "POST",
    };
    let result = if !method_ok {
        Ok(Response::new(405))
    } else {
        match endpoint {
            Endpoint::Token(grant) => token(ctx, db, req, grant, &mut headers),
            Endpoint::Signup => signup(ctx, db, req, &mut headers),
            Endpoint::Verify => verify(ctx, db, req, &mut headers),
            Endpoint::User => get_user(ctx, db, req),
            Endpoint::Logout => logout(ctx, db, req),
            Endpoint::Health => Ok(Response::json(
                200,
                &json!({"version": "gotrue-fake", "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"}),
            )),
            Endpoint::Other => Ok(Response::text(404, "404 page not found\n")),
        }
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.to_response(versioned),
    };
    for (k, v) in headers {
        resp.set_header(&k, &v);
    }
    resp
}

/// Reads a JSON body the way GoTrue's `retrieveRequestParams` does: it must be a JSON object
/// (or `null`); string fields may be missing or null.
fn params(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bad =
        |detail: String| ApiError::bad_request("bad_json", format!("Could not parse request body as JSON: {detail}"));
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
        if req.body.is_empty() {
            bad("unexpected end of JSON input".to_owned())
        } else {
            bad(e.to_string())
        }
    })?;
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(bad(format!("json: cannot unmarshal {} into Go value of type api.Params", json_kind(&other)))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn field(m: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(
            "bad_json",
            format!(
                "Could not parse request body as JSON: json: cannot unmarshal {} into Go struct field .{name} of type string",
                json_kind(other)
            ),
        )),
    }
}

fn token(ctx: &Ctx<'_>, db: &mut Db, req: &Request, grant: Grant, h: &mut Headers) -> Result<Response, ApiError> {
    match grant {
        Grant::RefreshToken => {
            let p = params(req)?;
            let rt = field(&p, "refresh_token")?;
            model::validate_refresh_token(&rt)?;
            let g = db.refresh(ctx.rng, &ctx.cfg.rules, ctx.now_ms, &rt, ctx.refreshed_visible_at(), h)?;
            db.lag_replica_reads(&g.session_id, ctx.refreshed_misses());
            Ok(token_answer(ctx, db, &g))
        }
        Grant::Password => password_grant(ctx, db, req, h),
        Grant::Pkce => pkce_grant(ctx, db, req, h),
        Grant::IdToken => id_token_grant(ctx, db, req, h),
        Grant::Other => Err(ApiError::bad_request("invalid_credentials", "unsupported_grant_type")),
    }
}

fn new_session(ctx: &Ctx<'_>, db: &mut Db, user_id: &str, method: &str, h: &mut Headers) -> Response {
    let (g, headers) =
        db.create_session(ctx.rng, &ctx.cfg.rules, ctx.now_ms, user_id, method, ctx.created_visible_at());
    db.lag_replica_reads(&g.session_id, ctx.created_misses());
    h.extend(headers);
    token_answer(ctx, db, &g)
}

fn password_grant(ctx: &Ctx<'_>, db: &mut Db, req: &Request, h: &mut Headers) -> Result<Response, ApiError> {
    let p = params(req)?;
    let (email, phone, password) = (field(&p, "email")?, field(&p, "phone")?, field(&p, "password")?);
    if !email.is_empty() && !phone.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "Only an email address or phone number should be provided on login.",
        ));
    }
    let invalid = || ApiError::bad_request("invalid_credentials", "Invalid login credentials");
    let user = if !email.is_empty() {
        db.user_by_email(&email).cloned().ok_or_else(invalid)?
    } else if !phone.is_empty() {
        return Err(invalid());
    } else {
        return Err(ApiError::bad_request("validation_failed", "missing email or phone"));
    };
    let Some(stored) = user.password.as_deref() else { return Err(invalid()) };
    if user.banned {
        return Err(ApiError::bad_request("user_banned", "User is banned"));
    }
    if stored != password {
        return Err(invalid());
    }
    Ok(new_session(ctx, db, &user.id, "password", h))
}

fn pkce_grant(ctx: &Ctx<'_>, db: &mut Db, req: &Request, h: &mut Headers) -> Result<Response, ApiError> {
    let p = params(req)?;
    let (code, verifier) = (field(&p, "auth_code")?, field(&p, "code_verifier")?);
    if code.is_empty() || verifier.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "invalid request: both auth code and code verifier should be non-empty",
        ));
    }
    let not_found = || ApiError::http(404, "flow_state_not_found", "invalid flow state, no valid flow state found");
    let flow = db.flows.get(&code).cloned().ok_or_else(not_found)?;
    if db.user(&flow.user_id).is_none() {
        return Err(not_found());
    }
    if ctx.now_ms > flow.created_at_ms + model::FLOW_STATE_TTL_MS {
        return Err(ApiError::unprocessable("flow_state_expired", "invalid flow state, flow state has expired"));
    }
    verify_pkce(&flow, &verifier)?;
    db.flows.remove(&code);
    Ok(new_session(ctx, db, &flow.user_id, &flow.authentication_method, h))
}

/// GoTrue's `VerifyPKCEChallenge`.
fn verify_pkce(flow: &FlowState, verifier: &str) -> Result<(), ApiError> {
    let mismatch =
        || ApiError::bad_request("bad_code_verifier", "code challenge does not match previously saved code verifier");
    match flow.code_challenge_method.to_ascii_lowercase().as_str() {
        "s256" => {
            if pkce_challenge(verifier) != flow.code_challenge {
                return Err(mismatch());
            }
        }
        "plain" => {
            if verifier != flow.code_challenge {
                return Err(mismatch());
            }
        }
        _ => return Err(ApiError::bad_request("bad_code_verifier", "code challenge method not supported")),
    }
    Ok(())
}

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)), no padding.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn id_token_grant(ctx: &Ctx<'_>, db: &mut Db, req: &Request, h: &mut Headers) -> Result<Response, ApiError> {
    let p = params(req)?;
    let id_token = field(&p, "id_token")?;
    let provider = field(&p, "provider")?;
    if id_token.is_empty() {
        return Err(ApiError::oauth("invalid request", "id_token required"));
    }
    if provider.is_empty() && (field(&p, "client_id")?.is_empty() || field(&p, "issuer")?.is_empty()) {
        return Err(ApiError::oauth("invalid request", "provider or client_id and issuer required"));
    }
    let bad = || ApiError::oauth("invalid request", "Bad ID token");
    let row = db.id_tokens.get(&id_token).cloned().ok_or_else(bad)?;
    if ctx.now_ms >= row.expires_at_ms || (!provider.is_empty() && !provider.eq_ignore_ascii_case(&row.provider)) {
        return Err(bad());
    }
    let user_id = match db.user_by_email(&row.email) {
        Some(u) => u.id.clone(),
        None => db
            .add_user(ctx.rng, ctx.now_ms, Some(&row.email), None, &row.provider, ctx.created_visible_at())
            .map_err(|e| ApiError::internal(&e.to_string()))?,
    };
    if db.user(&user_id).is_some_and(|u| u.banned) {
        return Err(ApiError::forbidden("user_banned", "User is banned"));
    }
    Ok(new_session(ctx, db, &user_id, "id_token", h))
}

fn signup(ctx: &Ctx<'_>, db: &mut Db, req: &Request, h: &mut Headers) -> Result<Response, ApiError> {
    let p = params(req)?;
    let (email, phone, password) = (field(&p, "email")?, field(&p, "phone")?, field(&p, "password")?);
    if email.is_empty() && phone.is_empty() {
        if !ctx.cfg.anonymous_sign_ins {
            return Err(ApiError::unprocessable("anonymous_provider_disabled", "Anonymous sign-ins are disabled"));
        }
        let id = db
            .add_user(ctx.rng, ctx.now_ms, None, None, "anonymous", ctx.created_visible_at())
            .map_err(|e| ApiError::internal(&e.to_string()))?;
        return Ok(new_session(ctx, db, &id, "anonymous", h));
    }
    if !phone.is_empty() {
        return Err(ApiError::unprocessable("phone_provider_disabled", "Phone signups are disabled"));
    }
    if password.is_empty() {
        return Err(ApiError::unprocessable("validation_failed", "Signup requires a valid password"));
    }
    if !email.contains('@') {
        return Err(ApiError::bad_request("validation_failed", "Unable to validate email address: invalid format"));
    }
    if db.user_by_email(&email).is_some() {
        return Err(ApiError::unprocessable("user_already_exists", "User already registered"));
    }
    let id = db
        .add_user(ctx.rng, ctx.now_ms, Some(&email), Some(&password), "email", ctx.created_visible_at())
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(new_session(ctx, db, &id, "password", h))
}

fn verify(ctx: &Ctx<'_>, db: &mut Db, req: &Request, h: &mut Headers) -> Result<Response, ApiError> {
    let p = params(req)?;
    let otp_type = field(&p, "type")?;
    let (token, token_hash) = (field(&p, "token")?, field(&p, "token_hash")?);
    let (email, phone) = (field(&p, "email")?, field(&p, "phone")?);
    if otp_type.is_empty() {
        return Err(ApiError::bad_request("validation_failed", "Verify requires a verification type"));
    }
    if token.is_empty() && token_hash.is_empty() {
        return Err(ApiError::bad_request("validation_failed", "Verify requires either a token or a token hash"));
    }
    if !token.is_empty() && !email.is_empty() && !phone.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "Only an email address or phone number should be provided on verify",
        ));
    }
    if token.is_empty() && (!email.is_empty() || !phone.is_empty()) {
        return Err(ApiError::bad_request("validation_failed", "Only the token_hash and type should be provided"));
    }
    let group = match (otp_type.as_str(), model::otp_group(&otp_type)) {
        (_, Some(g)) => g,
        ("sms" | "phone_change", None) => {
            return Err(ApiError::forbidden("otp_expired", "Token has expired or is invalid"));
        }
        _ => return Err(ApiError::bad_request("validation_failed", "Unsupported verification type")),
    };
    let (found, expired_msg) = if !token_hash.is_empty() {
        let i = db.otps.iter().position(|o| o.token_hash == token_hash && model::otp_group(&o.otp_type) == Some(group));
        (i, "Email link is invalid or has expired")
    } else {
        let user_id = db.user_by_email(&email).map(|u| u.id.clone());
        let i = db.otps.iter().position(|o| {
            Some(&o.user_id) == user_id.as_ref() && o.token == token && model::otp_group(&o.otp_type) == Some(group)
        });
        (i, "Token has expired or is invalid")
    };
    let Some(i) = found else { return Err(ApiError::forbidden("otp_expired", expired_msg)) };
    if ctx.now_ms > db.otps[i].created_at_ms + OTP_TTL_MS {
        return Err(ApiError::forbidden("otp_expired", expired_msg));
    }
    let otp = db.otps.remove(i);
    let _ = &otp.email;
    if db.user(&otp.user_id).is_some_and(|u| u.banned) {
        return Err(ApiError::forbidden("user_banned", "User is banned"));
    }
    let method = match otp_type.as_str() {
        "recovery" => "recovery",
        "magiclink" => "magiclink",
        "email_change" => "email_change",
        _ => "otp",
    };
    Ok(new_session(ctx, db, &otp.user_id, method, h))
}

/// What `requireAuthentication` found.
struct Authed {
    claims: Map<String, Value>,
    user_id: String,
    session_id: Option<String>,
}

/// GoTrue's `requireAuthentication`: the bearer token, its signature and expiry, its user and
/// session. `replica`: read through the lagging replica (only `GET /user` does).
fn authenticate(ctx: &Ctx<'_>, db: &Db, req: &Request, replica: bool) -> Result<Authed, ApiError> {
    let auth = req.header("authorization").unwrap_or("");
    let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).unwrap_or("");
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(ApiError::http(401, "no_authorization", "This endpoint requires a valid Bearer token"));
    }
    let claims = jwt::verify(&ctx.cfg.secret, token, ctx.now_ms).map_err(|e| {
        ApiError::http(
            ctx.cfg.bad_jwt_status,
            "bad_jwt",
            format!("invalid JWT: unable to parse or verify signature, {e}"),
        )
    })?;
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if sub.is_empty() {
        return Err(ApiError::forbidden("bad_jwt", "invalid claim: missing sub claim"));
    }
    if parse_uuid(sub).is_none() {
        return Err(ApiError::bad_request("bad_jwt", "invalid claim: sub claim must be a UUID"));
    }
    let visible = |at: i64| !replica || ctx.now_ms >= at;
    let user = db
        .user(sub)
        .filter(|u| visible(u.visible_at_ms))
        .ok_or_else(|| ApiError::forbidden("user_not_found", "User from sub claim in JWT does not exist"))?;
    let mut session_id = None;
    let sid = claims.get("session_id").and_then(Value::as_str).unwrap_or("");
    if !sid.is_empty() && sid != "00000000-0000-0000-0000-000000000000" {
        if parse_uuid(sid).is_none() {
            return Err(ApiError::forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID"));
        }
        db.sessions.get(sid).filter(|s| visible(s.visible_at_ms)).ok_or_else(session_not_found)?;
        session_id = Some(sid.to_owned());
    }
    if user.banned {
        return Err(ApiError::forbidden("user_banned", "User is banned"));
    }
    Ok(Authed { user_id: user.id.clone(), session_id, claims })
}

fn session_not_found() -> ApiError {
    ApiError::forbidden("session_not_found", "Session from session_id claim in JWT does not exist")
}

fn get_user(ctx: &Ctx<'_>, db: &mut Db, req: &Request) -> Result<Response, ApiError> {
    let a = authenticate(ctx, db, req, true)?;
    if a.session_id.as_deref().is_some_and(|sid| db.take_replica_miss(sid)) {
        return Err(session_not_found());
    }
    let aud_ok = match a.claims.get("aud") {
        Some(Value::String(s)) => s == "authenticated",
        Some(Value::Array(v)) => v.first().and_then(Value::as_str) == Some("authenticated"),
        _ => false,
    };
    if !aud_ok {
        return Err(ApiError::bad_request("validation_failed", "Token audience doesn't match request audience"));
    }
    let user = db.user(&a.user_id).ok_or_else(|| ApiError::internal("user vanished"))?;
    Ok(Response::json(200, &user.to_json()))
}

fn logout(ctx: &Ctx<'_>, db: &mut Db, req: &Request) -> Result<Response, ApiError> {
    let a = authenticate(ctx, db, req, false)?;
    let scope = req.query_param("scope").unwrap_or("");
    match (scope, a.session_id.as_deref()) {
        ("" | "global", _) | ("local" | "others", None) => {
            db.delete_user_sessions(&a.user_id, None);
        }
        ("local", Some(sid)) => {
            db.delete_session(sid);
        }
        ("others", Some(sid)) => {
            db.delete_user_sessions(&a.user_id, Some(sid));
        }
        (other, _) => {
            return Err(ApiError::bad_request("validation_failed", format!("Unsupported logout scope {other:?}")));
        }
    }
    Ok(Response::new(204))
}

/// The access token and the token answer for a granted session.
pub(crate) fn token_answer(ctx: &Ctx<'_>, db: &Db, g: &Granted) -> Response {
    let user = db.user(&g.user_id).map(model::UserRow::to_json).unwrap_or(Value::Null);
    let (access_token, expires_at) = access_token(ctx, db, g);
    Response::json(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ctx.cfg.access_token_ttl_secs,
            "expires_at": expires_at,
            "refresh_token": g.refresh_token,
            "user": user,
        }),
    )
}

/// Signs an access token for a granted session; returns it and its `exp`.
pub(crate) fn access_token(ctx: &Ctx<'_>, db: &Db, g: &Granted) -> (String, i64) {
    let iat = ctx.now_ms.div_euclid(1000);
    let exp = iat + ctx.cfg.access_token_ttl_secs;
    let user = db.user(&g.user_id);
    let (method, since) = db
        .sessions
        .get(&g.session_id)
        .map(|s| (s.method.clone(), s.created_at_ms.div_euclid(1000)))
        .unwrap_or_else(|| ("password".to_owned(), iat));
    let claims = json!({
        "iss": ctx.cfg.issuer,
        "sub": g.user_id,
        "aud": "authenticated",
        "exp": exp,
        "iat": iat,
        "email": user.and_then(|u| u.email.clone()).unwrap_or_default(),
        "phone": "",
        "app_metadata": user.map(|u| u.to_json()["app_metadata"].clone()).unwrap_or(json!({})),
        "user_metadata": user.map(|u| u.to_json()["user_metadata"].clone()).unwrap_or(json!({})),
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": method, "timestamp": since}],
        "session_id": g.session_id,
        "is_anonymous": user.is_some_and(|u| u.is_anonymous),
    });
    (jwt::sign(&ctx.cfg.secret, &claims), exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_base64url_sha256() {
        // Computed independently (Python's hashlib and base64).
        assert_eq!(
            pkce_challenge("verifier-0123456789-0123456789-0123456789"),
            "fPc7wtmTs3M3V70EldOc7-yL4fAeQRnBhGAixq3XYqw"
        );
    }

    #[test]
    fn paths_with_and_without_prefix() {
        assert_eq!(gotrue_path("/auth/v1/token"), "/token");
        assert_eq!(gotrue_path("/token"), "/token");
        assert_eq!(gotrue_path("/auth/v1"), "/");
        assert_eq!(gotrue_path("/auth/v1x"), "/auth/v1x");
    }
}
