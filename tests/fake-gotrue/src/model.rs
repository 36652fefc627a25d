//! The data GoTrue keeps (users, sessions, refresh tokens, PKCE flow states, OTPs) and its rules
//! for refresh tokens: rotation, the reuse interval, the one-behind allowance and reuse
//! detection, for both of GoTrue's refresh-token algorithms.
//!
//! * v1 (legacy): 12-character `[a-z0-9]` tokens in a `refresh_tokens` table, each with a parent.
//!   Refreshing revokes the token and issues a child. A revoked token that is the parent of the
//!   active one gets the active one back (the client lost the answer). Another revoked token is
//!   swapped again while within the reuse interval of its revocation; after that it is
//!   `refresh_token_already_used` and every token of the session is revoked.
//! * v2: a token encodes (session id, counter) signed with a per-session key. Refreshing with the
//!   current counter increments it. One behind (`fail-to-save`) or any older counter while the
//!   session was refreshed within the reuse interval (`concurrent-refresh`) gets the current
//!   token back without incrementing; anything else is `refresh_token_already_used` and deletes
//!   the session.

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224, Sha256};

use crate::error::{ApiError, ControlError};
use crate::jwt::hmac_sha256;
use crate::util::{format_uuid, rfc3339, Rng};

/// Which refresh-token scheme new sessions get (GoTrue's `refresh_token_algorithm_version`).
/// Tokens of either kind are accepted whatever this says, as GoTrue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenAlgorithm {
    /// Legacy: 12-character tokens in a table, each revoked token pointing at its parent.
    V1,
    /// Counter-based tokens signed per session (current GoTrue).
    #[default]
    V2,
}

/// The server's session rules (from [`crate::Options`]).
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub algorithm: RefreshTokenAlgorithm,
    pub reuse_interval_ms: i64,
    pub rotation_enabled: bool,
    pub allow_reuse: bool,
    pub timebox_ms: Option<i64>,
    pub inactivity_timeout_ms: Option<i64>,
}

/// Response headers GoTrue sets while it works (kept on error answers too).
pub(crate) type Headers = Vec<(String, String)>;

fn set_header(h: &mut Headers, name: &str, value: &str) {
    h.retain(|(k, _)| k != name);
    h.push((name.to_owned(), value.to_owned()));
}

#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub password: Option<String>,
    pub is_anonymous: bool,
    pub provider: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub last_sign_in_at_ms: Option<i64>,
    pub email_confirmed_at_ms: Option<i64>,
    pub banned: bool,
    /// A lagging read replica sees this user only from this time on.
    pub visible_at_ms: i64,
}

impl UserRow {
    /// The user as GoTrue's JSON shows it.
    pub(crate) fn to_json(&self) -> Value {
        let mut u = Map::new();
        u.insert("id".into(), json!(self.id));
        u.insert("aud".into(), json!("authenticated"));
        u.insert("role".into(), json!("authenticated"));
        u.insert("email".into(), json!(self.email.clone().unwrap_or_default()));
        if let Some(t) = self.email_confirmed_at_ms {
            u.insert("email_confirmed_at".into(), json!(rfc3339(t)));
        }
        u.insert("phone".into(), json!(""));
        if let Some(t) = self.email_confirmed_at_ms {
            u.insert("confirmed_at".into(), json!(rfc3339(t)));
        }
        if let Some(t) = self.last_sign_in_at_ms {
            u.insert("last_sign_in_at".into(), json!(rfc3339(t)));
        }
        let (app, user_meta, identities) = if self.is_anonymous {
            (json!({}), json!({}), json!([]))
        } else {
            let email = self.email.clone().unwrap_or_default();
            let data = json!({"email": email, "email_verified": self.email_confirmed_at_ms.is_some(), "phone_verified": false, "sub": self.id});
            let identity = json!({
                "identity_id": self.id,
                "id": self.id,
                "user_id": self.id,
                "identity_data": data,
                "provider": self.provider,
                "last_sign_in_at": rfc3339(self.last_sign_in_at_ms.unwrap_or(self.created_at_ms)),
                "created_at": rfc3339(self.created_at_ms),
                "updated_at": rfc3339(self.updated_at_ms),
                "email": email,
            });
            (json!({"provider": self.provider, "providers": [self.provider]}), data, json!([identity]))
        };
        u.insert("app_metadata".into(), app);
        u.insert("user_metadata".into(), user_meta);
        u.insert("identities".into(), identities);
        u.insert("created_at".into(), json!(rfc3339(self.created_at_ms)));
        u.insert("updated_at".into(), json!(rfc3339(self.updated_at_ms)));
        if self.banned {
            u.insert("banned_until".into(), json!("2999-01-01T00:00:00Z"));
        }
        u.insert("is_anonymous".into(), json!(self.is_anonymous));
        Value::Object(u)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SessionRow {
    pub id: String,
    pub id_bytes: [u8; 16],
    pub user_id: String,
    pub created_at_ms: i64,
    pub refreshed_at_ms: Option<i64>,
    /// The authentication method (`password`, `pkce`, `anonymous`, ...), for the `amr` claim.
    pub method: String,
    /// v2 only: the signing key and counter of this session's refresh tokens.
    pub v2: Option<(Vec<u8>, i64)>,
    /// Refreshes that issued a new token (rotations).
    pub rotations: u64,
    /// A lagging read replica sees this session only from this time on.
    pub visible_at_ms: i64,
    /// ...and misses it on this many more reads, whatever the time.
    pub replica_misses: u32,
}

impl SessionRow {
    fn last_refreshed_at(&self, refresh_token_time: Option<i64>) -> i64 {
        match self.refreshed_at_ms {
            Some(t) => t,
            None => match refresh_token_time {
                Some(t) if t > self.created_at_ms => t,
                _ => self.created_at_ms,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LegacyToken {
    pub id: i64,
    pub token: String,
    pub user_id: String,
    pub session_id: String,
    pub parent: Option<String>,
    pub revoked: bool,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct FlowState {
    pub user_id: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub authentication_method: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct OtpRow {
    pub user_id: String,
    pub email: String,
    pub otp_type: String,
    pub token: String,
    pub token_hash: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct IdTokenRow {
    pub email: String,
    pub provider: String,
    pub expires_at_ms: i64,
}

/// How long a PKCE flow state lives (GoTrue's default `FlowStateExpiryDuration`).
pub(crate) const FLOW_STATE_TTL_MS: i64 = 300_000;
/// How long an email OTP lives (the hosted default).
pub(crate) const OTP_TTL_MS: i64 = 3_600_000;

/// A session handed out: by a sign-in or a refresh.
#[derive(Debug, Clone)]
pub(crate) struct Granted {
    pub user_id: String,
    pub session_id: String,
    pub refresh_token: String,
}

/// What the server knows.
#[derive(Debug, Default)]
pub(crate) struct Db {
    pub users: Vec<UserRow>,
    pub sessions: BTreeMap<String, SessionRow>,
    pub tokens: HashMap<String, LegacyToken>,
    next_token_id: i64,
    pub flows: HashMap<String, FlowState>,
    pub otps: Vec<OtpRow>,
    pub id_tokens: HashMap<String, IdTokenRow>,
}

/// The session listing of the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session id (the `session_id` claim).
    pub id: String,
    /// The user's id.
    pub user_id: String,
    /// The user's email, if any.
    pub email: Option<String>,
    /// How the session was created (`password`, `pkce`, `anonymous`, `id_token`, `otp`, ...).
    pub method: String,
    /// Creation time, Unix ms (server clock).
    pub created_at_ms: i64,
    /// Last successful refresh, Unix ms.
    pub refreshed_at_ms: Option<i64>,
    /// The session's refresh-token algorithm.
    pub algorithm: RefreshTokenAlgorithm,
    /// v2: the counter of the current refresh token.
    pub refresh_token_counter: Option<i64>,
    /// The refresh token a refresh with the current one would rotate: v2's current token, v1's
    /// newest unrevoked one (none once the family was revoked).
    pub active_refresh_token: Option<String>,
    /// Refreshes that issued a new token.
    pub rotations: u64,
    /// How many more `GET /user` reads the lagging replica misses this session on (replica lag
    /// counted in reads), whichever of its access tokens they carry.
    #[serde(default)]
    pub replica_misses: u32,
}

impl Db {
    pub(crate) fn user(&self, id: &str) -> Option<&UserRow> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn user_mut(&mut self, id: &str) -> Option<&mut UserRow> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    pub(crate) fn user_by_email(&self, email: &str) -> Option<&UserRow> {
        self.users.iter().find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email.trim())))
    }

    /// Finds a user by email address or id.
    pub(crate) fn user_id_for(&self, email_or_id: &str) -> Result<String, ControlError> {
        self.user_by_email(email_or_id)
            .or_else(|| self.user(email_or_id))
            .map(|u| u.id.clone())
            .ok_or_else(|| ControlError::UnknownUser(email_or_id.to_owned()))
    }

    /// Adds a confirmed user (email may be `None` for an anonymous one).
    pub(crate) fn add_user(
        &mut self,
        rng: &Rng,
        now_ms: i64,
        email: Option<&str>,
        password: Option<&str>,
        provider: &str,
        visible_at_ms: i64,
    ) -> Result<String, ControlError> {
        if let Some(e) = email {
            if self.user_by_email(e).is_some() {
                return Err(ControlError::UserExists(e.to_owned()));
            }
        }
        let id = rng.uuid();
        self.users.push(UserRow {
            id: id.clone(),
            email: email.map(|e| e.trim().to_ascii_lowercase()),
            password: password.map(str::to_owned),
            is_anonymous: email.is_none(),
            provider: provider.to_owned(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            last_sign_in_at_ms: None,
            email_confirmed_at_ms: email.map(|_| now_ms),
            banned: false,
            visible_at_ms,
        });
        Ok(id)
    }

    /// Deletes a user and (cascading, like the database) their sessions, tokens and flows.
    pub(crate) fn delete_user(&mut self, user_id: &str) -> bool {
        let before = self.users.len();
        self.users.retain(|u| u.id != user_id);
        self.delete_user_sessions(user_id, None);
        self.flows.retain(|_, f| f.user_id != user_id);
        self.otps.retain(|o| o.user_id != user_id);
        before != self.users.len()
    }

    /// Creates a session for `user_id` and its first refresh token (GoTrue's `IssueRefreshToken`).
    pub(crate) fn create_session(
        &mut self,
        rng: &Rng,
        rules: &Rules,
        now_ms: i64,
        user_id: &str,
        method: &str,
        visible_at_ms: i64,
    ) -> (Granted, Headers) {
        let mut headers = Headers::new();
        let id_bytes: [u8; 16] = {
            let mut b: [u8; 16] = rng.bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            b
        };
        let id = format_uuid(&id_bytes);
        set_header(&mut headers, "sb-auth-user-id", user_id);
        if let Some(u) = self.user_mut(user_id) {
            u.last_sign_in_at_ms = Some(now_ms);
            u.updated_at_ms = now_ms;
        }
        let mut session = SessionRow {
            id: id.clone(),
            id_bytes,
            user_id: user_id.to_owned(),
            created_at_ms: now_ms,
            refreshed_at_ms: None,
            method: method.to_owned(),
            v2: None,
            rotations: 0,
            visible_at_ms,
            replica_misses: 0,
        };
        let refresh_token = match rules.algorithm {
            RefreshTokenAlgorithm::V2 => {
                let key: [u8; 32] = rng.bytes();
                let token = encode_v2(&id_bytes, 0, &key);
                session.v2 = Some((key.to_vec(), 0));
                set_header(&mut headers, "sb-auth-session-id", &id);
                set_header(&mut headers, "sb-auth-refresh-token-counter", "0");
                token
            }
            RefreshTokenAlgorithm::V1 => {
                let token = self.new_legacy_token(rng, now_ms, user_id, &id, None);
                set_header(&mut headers, "sb-auth-session-id", &id);
                set_header(&mut headers, "sb-auth-refresh-token-prefix", &token[..5]);
                token
            }
        };
        self.sessions.insert(id.clone(), session);
        (Granted { user_id: user_id.to_owned(), session_id: id, refresh_token }, headers)
    }

    fn new_legacy_token(
        &mut self,
        rng: &Rng,
        now_ms: i64,
        user_id: &str,
        session_id: &str,
        parent: Option<String>,
    ) -> String {
        let token = loop {
            let t = rng.alphanumeric(12);
            if !self.tokens.contains_key(&t) {
                break t;
            }
        };
        self.next_token_id += 1;
        self.tokens.insert(
            token.clone(),
            LegacyToken {
                id: self.next_token_id,
                token: token.clone(),
                user_id: user_id.to_owned(),
                session_id: session_id.to_owned(),
                parent,
                revoked: false,
                updated_at_ms: now_ms,
            },
        );
        token
    }

    /// v1: the newest unrevoked token of a session.
    fn active_legacy_token(&self, session_id: &str) -> Option<&LegacyToken> {
        self.tokens.values().filter(|t| t.session_id == session_id && !t.revoked).max_by_key(|t| t.id)
    }

    /// Deletes a session and (cascading) its refresh tokens.
    pub(crate) fn delete_session(&mut self, session_id: &str) -> bool {
        self.tokens.retain(|_, t| t.session_id != session_id);
        self.sessions.remove(session_id).is_some()
    }

    /// Deletes every session of a user, except `except`. Returns how many went.
    pub(crate) fn delete_user_sessions(&mut self, user_id: &str, except: Option<&str>) -> usize {
        let ids: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && Some(s.id.as_str()) != except)
            .map(|s| s.id.clone())
            .collect();
        for id in &ids {
            self.delete_session(id);
        }
        ids.len()
    }

    /// A write to `session_id` (its creation or a refresh) the lagging replica sees only after
    /// `n` more reads. The count belongs to the session, not to an access token, so reads with
    /// the token a refresh just issued use it up too. A replica catches up with the latest write,
    /// so a write during a lag leaves at least `n` misses rather than adding `n` to those left:
    /// the same as the time window, whose end is the later of the two.
    pub(crate) fn lag_replica_reads(&mut self, session_id: &str, n: u32) {
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.replica_misses = s.replica_misses.max(n);
        }
    }

    /// A read through the lagging replica: true when it misses `session_id` (one miss used).
    pub(crate) fn take_replica_miss(&mut self, session_id: &str) -> bool {
        match self.sessions.get_mut(session_id) {
            Some(s) if s.replica_misses > 0 => {
                s.replica_misses -= 1;
                true
            }
            _ => false,
        }
    }

    /// The refresh-token grant, following GoTrue's `RefreshTokenGrant` step by step. `headers`
    /// collects the diagnostic headers (set on errors too, as GoTrue does).
    pub(crate) fn refresh(
        &mut self,
        rng: &Rng,
        rules: &Rules,
        now_ms: i64,
        token: &str,
        visible_at_ms: Option<i64>,
        headers: &mut Headers,
    ) -> Result<Granted, ApiError> {
        let not_found =
            || ApiError::bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
        // Find the token, its session and its user.
        let (session_id, legacy) = if token.len() == 12 {
            let t = self.tokens.get(token).ok_or_else(not_found)?;
            (t.session_id.clone(), Some(t.clone()))
        } else {
            let parsed = parse_v2(token).ok_or_else(not_found)?;
            let id = format_uuid(&parsed.session_id);
            let s = self.sessions.get(&id).ok_or_else(not_found)?;
            let Some((key, _)) = &s.v2 else { return Err(not_found()) };
            if !parsed.signature_ok(key) {
                return Err(not_found());
            }
            (id, None)
        };
        let user_id = match (&legacy, self.sessions.get(&session_id)) {
            (Some(t), _) => t.user_id.clone(),
            (None, Some(s)) => s.user_id.clone(),
            (None, None) => return Err(not_found()),
        };
        let Some(user) = self.user(&user_id) else { return Err(not_found()) };
        set_header(headers, "sb-auth-user-id", &user_id);
        if user.banned {
            return Err(ApiError::bad_request("user_banned", "Invalid Refresh Token: User Banned"));
        }
        let Some(session) = self.sessions.get(&session_id) else {
            // A token whose session is gone (the cascade makes this rare): GoTrue deletes it.
            self.tokens.remove(token);
            return Err(ApiError::bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found"));
        };
        set_header(headers, "sb-auth-session-id", &session_id);
        // Session validity: timebox and inactivity timeout.
        let rt_time = legacy.as_ref().map(|t| t.updated_at_ms);
        if rules.timebox_ms.is_some_and(|tb| now_ms > session.created_at_ms + tb) {
            return Err(ApiError::bad_request("session_expired", "Invalid Refresh Token: Session Expired"));
        }
        if rules.inactivity_timeout_ms.is_some_and(|t| now_ms > session.last_refreshed_at(rt_time) + t) {
            return Err(ApiError::bad_request(
                "session_expired",
                "Invalid Refresh Token: Session Expired (Inactivity)",
            ));
        }
        let issued = match legacy {
            Some(t) => self.refresh_v1(rng, rules, now_ms, t, headers)?,
            None => self.refresh_v2(rules, now_ms, token, &session_id, headers)?,
        };
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.refreshed_at_ms = Some(now_ms);
            if let Some(v) = visible_at_ms {
                s.visible_at_ms = s.visible_at_ms.max(v);
            }
        }
        Ok(Granted { user_id, session_id, refresh_token: issued })
    }

    fn refresh_v1(
        &mut self,
        rng: &Rng,
        rules: &Rules,
        now_ms: i64,
        token: LegacyToken,
        headers: &mut Headers,
    ) -> Result<String, ApiError> {
        let mut issued: Option<String> = None;
        if token.revoked {
            let active = self.active_legacy_token(&token.session_id);
            if active.is_some_and(|a| a.parent.as_deref() == Some(token.token.as_str())) {
                // The parent of the active token: the client never stored the answer of its
                // last refresh. It gets the active token back, no new rotation.
                issued = active.map(|a| a.token.clone());
            } else if now_ms > token.updated_at_ms + rules.reuse_interval_ms {
                if rules.rotation_enabled {
                    // Revoke the whole family; the session row itself stays.
                    for t in self.tokens.values_mut().filter(|t| t.session_id == token.session_id && !t.revoked) {
                        t.revoked = true;
                        t.updated_at_ms = now_ms;
                    }
                }
                return Err(ApiError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"));
            }
        }
        let issued = match issued {
            Some(t) => t,
            None => {
                // Swap: revoke this token (again, if within the reuse interval) and issue a child.
                if let Some(t) = self.tokens.get_mut(&token.token) {
                    t.revoked = true;
                    t.updated_at_ms = now_ms;
                }
                let child =
                    self.new_legacy_token(rng, now_ms, &token.user_id, &token.session_id, Some(token.token.clone()));
                if let Some(s) = self.sessions.get_mut(&token.session_id) {
                    s.rotations += 1;
                }
                set_header(headers, "sb-auth-refresh-token-reuse", "false");
                child
            }
        };
        set_header(headers, "sb-auth-refresh-token-prefix", &issued[..5]);
        Ok(issued)
    }

    fn refresh_v2(
        &mut self,
        rules: &Rules,
        now_ms: i64,
        token: &str,
        session_id: &str,
        headers: &mut Headers,
    ) -> Result<String, ApiError> {
        let parsed = parse_v2(token).ok_or_else(|| ApiError::internal("token parsed before"))?;
        let Some(session) = self.sessions.get_mut(session_id) else {
            return Err(ApiError::bad_request(
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            ));
        };
        let Some((key, counter)) = session.v2.clone() else {
            return Err(ApiError::internal("failed to load session from database"));
        };
        let diff = counter - parsed.counter;
        let issued = if diff < 0 {
            return Err(ApiError::bad_request("validation_failed", "Invalid Refresh Token: Not Issued By This Server"));
        } else if diff == 0 {
            let next = counter + 1;
            session.v2 = Some((key.clone(), next));
            session.rotations += 1;
            set_header(headers, "sb-auth-refresh-token-reuse", "false");
            encode_v2(&session.id_bytes, next, &key)
        } else {
            let not_saved = diff == 1;
            let concurrent = (now_ms - session.last_refreshed_at(None)).abs() < rules.reuse_interval_ms;
            let mut causes = Vec::new();
            if concurrent {
                causes.push("concurrent-refresh");
            }
            if not_saved {
                causes.push("fail-to-save");
            }
            if rules.allow_reuse {
                causes.push("always-allow");
            }
            if !causes.is_empty() {
                set_header(headers, "sb-auth-refresh-token-reuse-cause", &causes.join(","));
            }
            if not_saved || concurrent || rules.allow_reuse {
                encode_v2(&session.id_bytes, counter, &key)
            } else if rules.rotation_enabled {
                let id = session.id.clone();
                self.delete_session(&id);
                set_header(headers, "sb-auth-refresh-token-rotated", "true");
                return Err(ApiError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"));
            } else {
                return Err(ApiError::bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used"));
            }
        };
        let counter_now = self.sessions.get(session_id).and_then(|s| s.v2.as_ref()).map(|(_, c)| *c).unwrap_or(0);
        set_header(headers, "sb-auth-refresh-token-counter", &counter_now.to_string());
        Ok(issued)
    }

    pub(crate) fn session_info(&self, s: &SessionRow) -> SessionInfo {
        let (algorithm, counter, active) = match &s.v2 {
            Some((key, c)) => (RefreshTokenAlgorithm::V2, Some(*c), Some(encode_v2(&s.id_bytes, *c, key))),
            None => (RefreshTokenAlgorithm::V1, None, self.active_legacy_token(&s.id).map(|t| t.token.clone())),
        };
        SessionInfo {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            email: self.user(&s.user_id).and_then(|u| u.email.clone()),
            method: s.method.clone(),
            created_at_ms: s.created_at_ms,
            refreshed_at_ms: s.refreshed_at_ms,
            algorithm,
            refresh_token_counter: counter,
            active_refresh_token: active,
            rotations: s.rotations,
            replica_misses: s.replica_misses,
        }
    }

    pub(crate) fn session_infos(&self) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self.sessions.values().map(|s| self.session_info(s)).collect();
        v.sort_by(|a, b| a.created_at_ms.cmp(&b.created_at_ms).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// Registers a PKCE flow state whose code is ready for exchange; returns the auth code.
    pub(crate) fn issue_flow(&mut self, rng: &Rng, now_ms: i64, flow: FlowState) -> String {
        let _ = now_ms;
        let code = rng.uuid();
        self.flows.insert(code.clone(), flow);
        code
    }

    /// Registers an OTP; returns (token, token_hash).
    pub(crate) fn issue_otp(&mut self, rng: &Rng, now_ms: i64, user_id: &str, otp_type: &str) -> (String, String) {
        let email = self.user(user_id).and_then(|u| u.email.clone()).unwrap_or_default();
        let token = rng.digits(6);
        let token_hash = token_hash(&email, &token);
        self.otps.retain(|o| !(o.user_id == user_id && otp_group(&o.otp_type) == otp_group(otp_type)));
        self.otps.push(OtpRow {
            user_id: user_id.to_owned(),
            email,
            otp_type: otp_type.to_owned(),
            token: token.clone(),
            token_hash: token_hash.clone(),
            created_at_ms: now_ms,
        });
        (token, token_hash)
    }
}

/// GoTrue's token hash of an email OTP: hex SHA-224 of email and token.
fn token_hash(email: &str, token: &str) -> String {
    let d = Sha224::digest(format!("{email}{token}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// OTP types that verify each other: one email OTP serves `email`, `magiclink`, `signup` and
/// `invite`; recovery and email change are separate.
pub(crate) fn otp_group(t: &str) -> Option<u8> {
    match t {
        "email" | "magiclink" | "signup" | "invite" => Some(0),
        "recovery" => Some(1),
        "email_change" => Some(2),
        _ => None,
    }
}

/// Checks a `refresh_token` parameter the way GoTrue's `Validate` does, before any lookup.
pub(crate) fn validate_refresh_token(t: &str) -> Result<(), ApiError> {
    let invalid = || ApiError::bad_request("validation_failed", "Refresh token is not valid");
    if t.len() < 12 {
        return Err(invalid());
    }
    if t.len() == 12 {
        return if t.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) { Ok(()) } else { Err(invalid()) };
    }
    parse_v2(t).map(|_| ()).ok_or_else(invalid)
}

const SIG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 4;
const MIN_V2_LEN: usize = 1 + 16 + 1 + SIG_LEN + CHECKSUM_LEN;

/// Encodes a v2 refresh token: version 0, session id, uvarint counter, truncated HMAC-SHA-256,
/// 4-byte SHA-256 checksum; base64url without padding.
pub(crate) fn encode_v2(session_id: &[u8; 16], counter: i64, key: &[u8]) -> String {
    let mut raw = vec![0u8];
    raw.extend_from_slice(session_id);
    let mut n = u64::try_from(counter).unwrap_or(0);
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            raw.push(byte);
            break;
        }
        raw.push(byte | 0x80);
    }
    let sig = hmac_sha256(key, &raw);
    raw.extend_from_slice(&sig[..SIG_LEN]);
    let sum = Sha256::digest(&raw);
    raw.extend_from_slice(&sum[..CHECKSUM_LEN]);
    URL_SAFE_NO_PAD.encode(raw)
}

/// A parsed v2 refresh token.
pub(crate) struct V2Token {
    pub session_id: [u8; 16],
    pub counter: i64,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

impl V2Token {
    fn signature_ok(&self, key: &[u8]) -> bool {
        let expected = hmac_sha256(key, &self.signed);
        // Constant time is not a concern for a fake; equality is.
        expected[..SIG_LEN] == self.signature[..]
    }
}

pub(crate) fn parse_v2(token: &str) -> Option<V2Token> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    if raw.len() < MIN_V2_LEN || raw[0] != 0 {
        return None;
    }
    let (body, checksum) = raw.split_at(raw.len() - CHECKSUM_LEN);
    if Sha256::digest(body)[..CHECKSUM_LEN] != *checksum {
        return None;
    }
    let session_id: [u8; 16] = body[1..17].try_into().ok()?;
    let rest = &body[17..];
    let mut counter: u64 = 0;
    let mut used = 0;
    for (i, b) in rest.iter().enumerate() {
        if i >= 10 {
            return None;
        }
        counter |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            used = i + 1;
            break;
        }
    }
    if used == 0 || rest.len() - used != SIG_LEN {
        return None;
    }
    Some(V2Token {
        session_id,
        counter: i64::try_from(counter).unwrap_or(i64::MAX),
        signed: body[..17 + used].to_vec(),
        signature: rest[used..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(algorithm: RefreshTokenAlgorithm) -> Rules {
        Rules {
            algorithm,
            reuse_interval_ms: 10_000,
            rotation_enabled: true,
            allow_reuse: false,
            timebox_ms: None,
            inactivity_timeout_ms: None,
        }
    }

    fn db_with_user(rng: &Rng) -> (Db, String) {
        let mut db = Db::default();
        let id = db.add_user(rng, 0, Some("ada@example.com"), Some("pw"), "email", 0).unwrap();
        (db, id)
    }

    #[test]
    fn v2_tokens_round_trip_and_reject_tampering() {
        let id = [7u8; 16];
        let t = encode_v2(&id, 300, b"key");
        let p = parse_v2(&t).unwrap();
        assert_eq!((p.session_id, p.counter), (id, 300));
        assert!(p.signature_ok(b"key"));
        assert!(!p.signature_ok(b"other"));
        let mut bytes = URL_SAFE_NO_PAD.decode(&t).unwrap();
        bytes[5] ^= 1;
        assert!(parse_v2(&URL_SAFE_NO_PAD.encode(bytes)).is_none());
        assert!(validate_refresh_token(&t).is_ok());
        assert!(validate_refresh_token("abcdefghijk0").is_ok());
        assert!(validate_refresh_token("ABCDEFGHIJK0").is_err());
        assert!(validate_refresh_token("short").is_err());
        assert!(validate_refresh_token("this-is-not-a-v2-token-at-all").is_err());
    }

    #[test]
    fn v2_rotation_one_behind_concurrent_and_reuse() {
        let rng = Rng::new();
        let r = rules(RefreshTokenAlgorithm::V2);
        let (mut db, uid) = db_with_user(&rng);
        let mut h = Headers::new();
        let g0 = db.create_session(&rng, &r, 0, &uid, "password", 0).0;
        let g1 = db.refresh(&rng, &r, 100_000, &g0.refresh_token, None, &mut h).unwrap();
        assert_ne!(g1.refresh_token, g0.refresh_token);
        // One behind, long after: the current token again.
        let again = db.refresh(&rng, &r, 500_000, &g0.refresh_token, None, &mut h).unwrap();
        assert_eq!(again.refresh_token, g1.refresh_token);
        let g2 = db.refresh(&rng, &r, 600_000, &g1.refresh_token, None, &mut h).unwrap();
        // Two behind within the interval of the last refresh: concurrent refresh, current token.
        let c = db.refresh(&rng, &r, 605_000, &g0.refresh_token, None, &mut h).unwrap();
        assert_eq!(c.refresh_token, g2.refresh_token);
        // Two behind later: reuse, the session is destroyed.
        let e = db.refresh(&rng, &r, 700_000, &g0.refresh_token, None, &mut h).unwrap_err();
        assert_eq!(e.code(), Some("refresh_token_already_used"));
        assert!(db.sessions.is_empty());
        let e = db.refresh(&rng, &r, 700_001, &g2.refresh_token, None, &mut h).unwrap_err();
        assert_eq!(e.code(), Some("refresh_token_not_found"));
    }

    #[test]
    fn v1_chain_parent_of_active_interval_and_family_revocation() {
        let rng = Rng::new();
        let r = rules(RefreshTokenAlgorithm::V1);
        let (mut db, uid) = db_with_user(&rng);
        let mut h = Headers::new();
        let t0 = db.create_session(&rng, &r, 0, &uid, "password", 0).0.refresh_token;
        assert_eq!(t0.len(), 12);
        let t1 = db.refresh(&rng, &r, 1_000, &t0, None, &mut h).unwrap().refresh_token;
        // Parent of the active token: the active one back, whenever.
        assert_eq!(db.refresh(&rng, &r, 900_000, &t0, None, &mut h).unwrap().refresh_token, t1);
        let t2 = db.refresh(&rng, &r, 900_000, &t1, None, &mut h).unwrap().refresh_token;
        // t0 is now two behind; within 10 s of its last revocation? No (900 s ago): reuse.
        let e = db.refresh(&rng, &r, 901_000, &t0, None, &mut h).unwrap_err();
        assert_eq!(e.code(), Some("refresh_token_already_used"));
        assert!(db.tokens.values().all(|t| t.revoked));
        assert_eq!(db.sessions.len(), 1, "v1 revokes the tokens but keeps the session row");
        let _ = t2;
    }

    #[test]
    fn v1_reuse_within_interval_swaps_again() {
        let rng = Rng::new();
        let r = rules(RefreshTokenAlgorithm::V1);
        let (mut db, uid) = db_with_user(&rng);
        let mut h = Headers::new();
        let t0 = db.create_session(&rng, &r, 0, &uid, "password", 0).0.refresh_token;
        let t1 = db.refresh(&rng, &r, 1_000, &t0, None, &mut h).unwrap().refresh_token;
        let t2 = db.refresh(&rng, &r, 2_000, &t1, None, &mut h).unwrap().refresh_token;
        // t0 was revoked at 1 s; at 5 s it is within the interval: a new child of t0.
        let t3 = db.refresh(&rng, &r, 5_000, &t0, None, &mut h).unwrap().refresh_token;
        assert!(t3 != t1 && t3 != t2);
        assert_eq!(db.tokens[&t3].parent.as_deref(), Some(t0.as_str()));
    }
}
