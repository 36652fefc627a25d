//! Direct tests of the machine's contract that scenario traces cannot show: output order,
//! diagnostics (removal reasons, server headers), secrets in `Debug`, PKCE storage, adoption on
//! "storage changed", the verify cooldown at its boundary and under a clock set back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gotrue_session::{
    Command, Config, DiagnosticKind, ErrorKind, EventKind, HttpRequest, HttpResponse, OpId, OpValue, Output,
    RemovalReason, SessionMachine, SignOutScope, VerifyCooldown,
};
use std::collections::HashMap;

const NOW: u64 = 1_767_225_600_000;
const KEY: &str = "sb-t-auth-token";

fn jwt(tag: &str, exp: i64, session_id: &str) -> String {
    let claims = format!(r#"{{"sub":"user-1","exp":{exp},"session_id":"{session_id}","ref":"{tag}"}}"#);
    format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims))
}

/// A stored session of user-1's server session `s`.
fn session_json(tag: &str, exp: i64) -> String {
    session_json_of("s", tag, exp)
}

fn session_json_of(session_id: &str, tag: &str, exp: i64) -> String {
    format!(
        r#"{{"access_token":"{}","refresh_token":"rt-{tag}-secret","expires_in":3600,"expires_at":{exp},"token_type":"bearer","user":{{"id":"user-1"}}}}"#,
        jwt(tag, exp, session_id)
    )
}

/// Drives a machine with an in-memory store, answering storage at once and collecting every
/// other output.
struct World {
    m: SessionMachine,
    store: HashMap<String, String>,
    seen: Vec<Output>,
    last_request: Option<gotrue_session::RequestId>,
    /// The device clock handed to the machine (ms).
    now: u64,
}

impl World {
    fn new(stored: Option<String>) -> World {
        World::with_config(stored, |_| {})
    }

    fn with_config(stored: Option<String>, tune: impl FnOnce(&mut Config)) -> World {
        let mut store = HashMap::new();
        if let Some(s) = stored {
            store.insert(KEY.to_owned(), s);
        }
        let mut cfg = Config::new(KEY, "anon");
        cfg.auto_refresh = false;
        cfg.jitter = false;
        tune(&mut cfg);
        World { m: SessionMachine::new(cfg), store, seen: Vec::new(), last_request: None, now: NOW }
    }

    fn drain(&mut self) {
        while let Some(out) = self.m.poll_output() {
            match &out {
                Output::StorageRead { id, key, .. } => {
                    self.m.handle_storage_read(self.now, *id, Ok(self.store.get(key).cloned()))
                }
                Output::StorageWrite { id, key, value } => {
                    self.store.insert(key.clone(), value.clone());
                    self.m.handle_storage_done(self.now, *id, Ok(()));
                }
                Output::StorageRemove { id, key } => {
                    self.store.remove(key);
                    self.m.handle_storage_done(self.now, *id, Ok(()));
                }
                Output::Http(r) => self.last_request = Some(r.id),
                _ => {}
            }
            self.seen.push(out);
        }
    }

    fn command(&mut self, cmd: Command) -> gotrue_session::OpId {
        let op = self.m.handle_command(self.now, cmd);
        self.drain();
        op
    }

    fn last_request_id(&self) -> gotrue_session::RequestId {
        self.last_request.expect("a request")
    }

    fn answer(&mut self, status: u16, headers: &[(&str, &str)], body: &str) {
        let id = self.last_request_id();
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.m.handle_response(self.now, id, HttpResponse { status, headers, body: body.as_bytes().to_vec() });
        self.drain();
    }

    /// The last request the machine sent.
    fn last_http(&self) -> &HttpRequest {
        self.seen.iter().rev().find_map(|o| if let Output::Http(r) = o { Some(r) } else { None }).expect("a request")
    }

    fn requests_sent(&self) -> usize {
        self.seen.iter().filter(|o| matches!(o, Output::Http(_))).count()
    }

    fn result_of(&self, op: OpId) -> Option<Result<(), ErrorKind>> {
        self.seen.iter().find_map(|o| match o {
            Output::Complete { op: done, result } if *done == op => Some(result.as_ref().map(drop).map_err(|e| e.kind)),
            _ => None,
        })
    }

    fn signed_out(&self) -> bool {
        self.seen.iter().any(|o| matches!(o, Output::Event(e) if e.kind == EventKind::SignedOut))
    }

    /// `/user` answers 403 `session_not_found` to the last request.
    fn doubt(&mut self) {
        self.answer(
            403,
            &[("x-supabase-api-version", "2024-01-01")],
            r#"{"code":"session_not_found","message":"Session from session_id claim does not exist"}"#,
        );
    }

    /// The refresh endpoint answers the last request with a session valid for an hour from now.
    fn refreshed(&mut self, tag: &str) {
        assert_eq!(self.last_http().path, "/token", "a refresh is what is being answered");
        let exp = (self.now / 1000) as i64 + 3600;
        self.answer(200, &[], &session_json(tag, exp));
    }

    /// A get_user whose `/user` doubts the session: returns the call and whether a verify refresh
    /// went out.
    fn doubted_get_user(&mut self) -> (OpId, bool) {
        let op = self.command(Command::GetUser);
        assert_eq!(self.last_http().path, "/user");
        let before = self.requests_sent();
        self.doubt();
        let refreshed = self.requests_sent() > before;
        if refreshed {
            assert_eq!(self.last_http().path, "/token", "the only request a suspicion may lead to is a refresh");
        }
        (op, refreshed)
    }

    /// A verify that succeeds while `/user` keeps doubting: the session is kept, unconfirmed.
    fn verify_then_doubt_again(&mut self, tag: &str) {
        let (op, refreshed) = self.doubted_get_user();
        assert!(refreshed, "the suspicion is verified with a refresh");
        self.refreshed(tag);
        assert_eq!(self.last_http().path, "/user", "/user is asked again with the new token");
        self.doubt();
        assert_eq!(self.result_of(op), Some(Err(ErrorKind::SessionUnconfirmed)));
        assert_eq!(self.m.session().map(|s| s.refresh_token.clone()), Some(format!("rt-{tag}-secret")));
        assert!(!self.signed_out(), "a suspicion after a successful verify is not a verdict");
    }
}

#[test]
fn persist_before_emit_before_complete() {
    let mut w = World::new(None);
    w.command(Command::Initialize);
    let op = w.command(Command::SignInWithPassword { email: Some("a@b".into()), phone: None, password: "pw".into() });
    w.seen.clear();
    w.answer(200, &[], &session_json("p", 1_767_229_200));
    let order: Vec<&str> = w
        .seen
        .iter()
        .filter_map(|o| match o {
            Output::StorageWrite { .. } => Some("write"),
            Output::Event(e) if e.kind == EventKind::SignedIn => Some("event"),
            Output::Complete { op: done, .. } if *done == op => Some("complete"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["write", "event", "complete"]);
}

#[test]
fn removals_carry_their_reason_and_server_headers_are_kept() {
    let mut w = World::new(Some(session_json("a", 1_767_229_200)));
    w.command(Command::Initialize);
    w.command(Command::GetUser);
    w.answer(403, &[("x-supabase-api-version", "2024-01-01")], r#"{"code":"session_not_found","message":"gone"}"#);
    w.seen.clear();
    w.answer(
        400,
        &[
            ("x-supabase-api-version", "2024-01-01"),
            ("sb-auth-session-id", "s"),
            ("x-sb-error-code", "refresh_token_not_found"),
        ],
        r#"{"code":"refresh_token_not_found","message":"nope"}"#,
    );
    let headers = w.seen.iter().find_map(|o| match o {
        Output::Diagnostic(d) if d.kind == DiagnosticKind::ServerHeaders => Some(d.server_headers.clone()),
        _ => None,
    });
    assert_eq!(
        headers.expect("a ServerHeaders diagnostic"),
        vec![
            ("x-sb-error-code".to_owned(), "refresh_token_not_found".to_owned()),
            ("sb-auth-session-id".to_owned(), "s".to_owned())
        ]
    );
    let removal = w.seen.iter().find_map(|o| match o {
        Output::Diagnostic(d) if d.kind == DiagnosticKind::SessionRemoved => d.removal,
        _ => None,
    });
    assert_eq!(removal, Some(RemovalReason::VerifiedRevocation));
    let signed_out = w.seen.iter().find_map(|o| match o {
        Output::Event(e) if e.kind == EventKind::SignedOut => e.reason,
        _ => None,
    });
    assert_eq!(signed_out, Some(RemovalReason::VerifiedRevocation));
}

#[test]
fn user_sign_out_and_invalid_values_are_reported() {
    let mut w = World::new(Some("{\"access_token\":".to_owned()));
    w.command(Command::Initialize);
    assert!(w.seen.iter().any(|o| matches!(o, Output::Diagnostic(d) if d.kind == DiagnosticKind::InvalidStoredValue && d.message.contains("not JSON"))));
    assert!(!w.seen.iter().any(|o| matches!(o, Output::Event(e) if e.kind == EventKind::SignedOut)));
    w.command(Command::SignInWithPassword { email: Some("a@b".into()), phone: None, password: "pw".into() });
    w.answer(200, &[], &session_json("p", 1_767_229_200));
    w.seen.clear();
    w.command(Command::SignOut(SignOutScope::Local));
    assert!(w.seen.iter().any(|o| matches!(o, Output::Event(e) if e.reason == Some(RemovalReason::UserSignOut))));
}

#[test]
fn no_secret_in_debug_output_of_any_output() {
    let mut w = World::new(Some(session_json("a", 1_767_225_650)));
    w.command(Command::Initialize);
    w.command(Command::SignInWithPassword {
        email: Some("a@b".into()),
        phone: None,
        password: "hunter2-password".into(),
    });
    w.answer(200, &[], &session_json("p", 1_767_229_200));
    w.command(Command::GetUser);
    w.answer(401, &[], r#"{"code":"bad_jwt","msg":"token is expired"}"#);
    w.answer(500, &[], "<html>oops</html>");
    for out in &w.seen {
        let shown = format!("{out:?}");
        for secret in [
            "rt-a-secret",
            "rt-p-secret",
            "hunter2-password",
            &jwt("p", 1_767_229_200, "s"),
            &jwt("a", 1_767_225_650, "s"),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[test]
fn pkce_verifier_is_stored_and_its_challenge_returned() {
    let mut w = World::new(None);
    w.command(Command::Initialize);
    let op = w.command(Command::StartPkce { entropy: vec![9u8; 32], recovery: true });
    let challenge = w
        .seen
        .iter()
        .find_map(|o| match o {
            Output::Complete { op: done, result: Ok(OpValue::PkceChallenge { challenge, .. }) } if *done == op => {
                Some(challenge.clone())
            }
            _ => None,
        })
        .expect("a challenge");
    let stored = w.store.get(&format!("{KEY}-code-verifier")).expect("the verifier is stored");
    let verifier: String = serde_json::from_str(stored).expect("a JSON string");
    let (verifier, kind) = verifier.split_once('/').expect("a recovery marker");
    assert_eq!(kind, "recovery");
    assert_eq!(gotrue_session::pkce::challenge_s256(verifier), challenge);
    w.command(Command::ExchangeCode { auth_code: "code".into() });
    let body =
        w.seen.iter().rev().find_map(|o| if let Output::Http(r) = o { r.body.clone() } else { None }).expect("a body");
    assert!(body.contains(verifier), "the exchange sends the stored verifier");
    assert!(!w.store.contains_key(&format!("{KEY}-code-verifier")), "and spends it");
}

#[test]
fn storage_changed_by_another_process_is_adopted() {
    let mut w = World::new(Some(session_json("a", 1_767_229_200)));
    w.command(Command::Initialize);
    w.store.insert(KEY.to_owned(), session_json("b", 1_767_229_300));
    w.seen.clear();
    w.m.handle_storage_changed(NOW);
    w.drain();
    assert!(w.seen.iter().any(|o| matches!(o, Output::Event(e) if e.kind == EventKind::TokenRefreshed)));
    assert_eq!(w.m.session().map(|s| s.refresh_token.as_str()), Some("rt-b-secret"));
    w.store.remove(KEY);
    w.m.handle_storage_changed(NOW);
    w.drain();
    assert!(w.m.session().is_none());
    assert!(w.seen.iter().any(|o| matches!(o, Output::Event(e) if e.reason == Some(RemovalReason::RemovedElsewhere))));
}

fn stored_for_an_hour() -> Option<String> {
    Some(session_json("a", (NOW / 1000) as i64 + 3600))
}

#[test]
fn a_clock_set_back_before_the_last_verify_ends_the_cooldown() {
    let mut w = World::new(stored_for_an_hour());
    w.command(Command::Initialize);
    w.now = NOW + 60_000;
    w.verify_then_doubt_again("b");
    // The clock goes back a minute, before the verify: the cooldown must not last a minute more.
    w.now = NOW;
    let (op, refreshed) = w.doubted_get_user();
    assert!(refreshed, "a clock set back before the last verify keeps the cooldown in force");
    w.refreshed("c");
    w.doubt();
    assert_eq!(w.result_of(op), Some(Err(ErrorKind::SessionUnconfirmed)));
    // The verify made on the set-back clock starts a cooldown of its own, measured on that clock.
    w.now = NOW + 10_000;
    let (op, refreshed) = w.doubted_get_user();
    assert!(!refreshed, "a refresh inside the cooldown of the verify made after the clock was set back");
    assert_eq!(w.result_of(op), Some(Err(ErrorKind::SessionUnconfirmed)));
}

#[test]
fn without_a_cooldown_every_suspicion_is_verified() {
    let mut w = World::with_config(stored_for_an_hour(), |cfg| cfg.verify_cooldown = VerifyCooldown::NONE);
    w.command(Command::Initialize);
    w.verify_then_doubt_again("b");
    // Same instant, no cooldown: the next suspicion refreshes again.
    w.verify_then_doubt_again("c");
    w.verify_then_doubt_again("d");
    // And a dead refresh is still the verdict.
    let (op, refreshed) = w.doubted_get_user();
    assert!(refreshed);
    w.answer(
        400,
        &[("x-supabase-api-version", "2024-01-01")],
        r#"{"code":"refresh_token_not_found","message":"Invalid Refresh Token"}"#,
    );
    assert_eq!(w.result_of(op), Some(Err(ErrorKind::SessionMissing)));
    assert!(w.m.session().is_none() && !w.store.contains_key(KEY));
}

#[test]
fn the_verify_cooldown_ends_exactly_verify_cooldown_after_the_verify() {
    let cooldown = 30_000;
    let mut w = World::with_config(stored_for_an_hour(), |cfg| {
        cfg.verify_cooldown = VerifyCooldown::from_ms(cooldown).expect("a valid cooldown")
    });
    w.command(Command::Initialize);
    let verified_at = NOW + 1_000;
    w.now = verified_at;
    w.verify_then_doubt_again("b");
    // One millisecond before the end: no refresh, the same retryable answer, status and code kept.
    w.now = verified_at + cooldown as u64 - 1;
    let sent = w.requests_sent();
    let (op, refreshed) = w.doubted_get_user();
    assert!(!refreshed, "a refresh inside the cooldown");
    assert_eq!(w.requests_sent(), sent + 1, "only the /user request");
    let error = w
        .seen
        .iter()
        .find_map(|o| match o {
            Output::Complete { op: done, result: Err(e) } if *done == op => Some(e.clone()),
            _ => None,
        })
        .expect("an error");
    assert_eq!(error.kind, ErrorKind::SessionUnconfirmed);
    assert!(error.is_retryable());
    assert_eq!((error.status, error.code.as_deref()), (Some(403), Some("session_not_found")));
    assert!(!w.signed_out());
    // At the end of the cooldown: the suspicion is verified again.
    w.now = verified_at + cooldown as u64;
    let (op, refreshed) = w.doubted_get_user();
    assert!(refreshed, "no refresh once the cooldown is over");
    w.refreshed("c");
    assert_eq!(w.last_http().path, "/user");
    w.answer(200, &[], r#"{"id":"user-1","aud":"authenticated"}"#);
    assert_eq!(w.result_of(op), Some(Ok(())));
    assert!(!w.signed_out());
}

#[test]
fn a_new_server_session_adopted_from_storage_is_verified_despite_the_cooldown() {
    let mut w = World::new(stored_for_an_hour());
    w.command(Command::Initialize);
    w.verify_then_doubt_again("b");
    // Another process signs the same user in again: a new server session, adopted as
    // TOKEN_REFRESHED (same user). Its first suspicion inside the old session's cooldown is
    // verified: nothing proved this session alive.
    w.store.insert(KEY.to_owned(), session_json_of("s2", "n", (NOW / 1000) as i64 + 3600));
    w.m.handle_storage_changed(w.now);
    w.drain();
    assert_eq!(w.m.session().map(|s| s.refresh_token.as_str()), Some("rt-n-secret"));
    let (_, refreshed) = w.doubted_get_user();
    assert!(refreshed, "a session the cooldown's verify never saw is verified");
    // A rotation of the same server session keeps the cooldown.
    w.answer(200, &[], &session_json_of("s2", "o", (NOW / 1000) as i64 + 3600));
    w.doubt();
    let (op, refreshed) = w.doubted_get_user();
    assert!(!refreshed, "a second verify of the same server session inside its cooldown");
    assert_eq!(w.result_of(op), Some(Err(ErrorKind::SessionUnconfirmed)));
}

// ---- hostile input: the limits of `gotrue_session::limits` ---------------------------------------

/// A user object whose `user_metadata` nests `levels` arrays (the user itself is level 1, so the
/// whole object nests `levels + 2` deep).
fn user_nested(levels: usize) -> String {
    format!(r#"{{"id":"user-1","user_metadata":{{"x":{}{}}}}}"#, "[".repeat(levels), "]".repeat(levels))
}

fn token_answer_with_user(tag: &str, user: &str) -> String {
    let exp = (NOW / 1000) as i64 + 3600;
    format!(
        r#"{{"access_token":"{}","refresh_token":"rt-{tag}-secret","expires_in":3600,"expires_at":{exp},"token_type":"bearer","user":{user}}}"#,
        jwt(tag, exp, "s")
    )
}

fn message_of(w: &World, op: OpId) -> String {
    w.seen
        .iter()
        .find_map(|o| match o {
            Output::Complete { op: done, result: Err(e) } if *done == op => Some(e.to_string()),
            _ => None,
        })
        .expect("the call failed")
}

#[test]
fn a_hostile_answer_never_removes_a_good_session() {
    let stored = session_json("a", (NOW / 1000) as i64 + 3600);
    // (what, status, headers, body)
    type Hostile = (&'static str, u16, Vec<(String, String)>, String);
    let hostile: Vec<Hostile> = vec![
        ("200 000 nested arrays", 200, vec![], token_answer_with_user("b", &user_nested(200_000))),
        ("a body over 1 MiB", 200, vec![], format!(r#"{{"access_token":"x","pad":"{}"}}"#, "p".repeat(1 << 20))),
        (
            "a 17 KiB access token",
            200,
            vec![],
            token_answer_with_user("b", r#"{"id":"u"}"#).replace("eyJ", &"e".repeat(17 << 10)),
        ),
        (
            "101 headers",
            200,
            vec![("x-h".to_owned(), "v".to_owned()); 101],
            token_answer_with_user("b", r#"{"id":"u"}"#),
        ),
        (
            "an 8 KiB header",
            200,
            vec![("x-h".to_owned(), "v".repeat(8 << 10))],
            token_answer_with_user("b", r#"{"id":"u"}"#),
        ),
        (
            "a deep error body",
            400,
            vec![],
            format!(r#"{{"code":"refresh_token_not_found","x":{}{}}}"#, "[".repeat(100), "]".repeat(100)),
        ),
    ];
    for (what, status, headers, body) in hostile {
        let mut w = World::new(Some(stored.clone()));
        w.command(Command::Initialize);
        let op = w.command(Command::RefreshSession);
        assert_eq!(w.last_http().path, "/token");
        let id = w.last_request_id();
        w.m.handle_response(w.now, id, HttpResponse { status, headers, body: body.into_bytes() });
        w.drain();
        assert!(!w.signed_out(), "{what}: no SIGNED_OUT");
        assert_eq!(w.store.get(KEY), Some(&stored), "{what}: the stored session is untouched");
        assert_eq!(w.m.session().map(|s| s.refresh_token.as_str()), Some("rt-a-secret"), "{what}: the session is kept");
        if status == 200 && w.result_of(op).is_some() {
            assert_eq!(w.result_of(op), Some(Err(ErrorKind::InvalidResponse)), "{what}");
        }
    }
}

#[test]
fn an_answer_over_a_limit_is_invalid_response_saying_which_limit() {
    let mut w = World::new(Some(session_json("a", (NOW / 1000) as i64 + 3600)));
    w.command(Command::Initialize);
    let op = w.command(Command::GetUser);
    w.answer(200, &[], &user_nested(200_000));
    assert_eq!(w.result_of(op), Some(Err(ErrorKind::InvalidResponse)));
    assert!(message_of(&w, op).contains("nested deeper than 32 levels"), "{}", message_of(&w, op));
    let op = w.command(Command::RefreshSession);
    w.answer(200, &[("x-h", "v"); 101], &token_answer_with_user("b", r#"{"id":"user-1"}"#));
    assert_eq!(w.requests_sent(), 2, "no more requests before the retry's backoff");
    assert_eq!(w.result_of(op), None, "a header flood is transient: the refresh is retried");
    w.now += 60_000;
    w.m.handle_timeout(w.now);
    w.drain();
    assert_eq!(w.last_http().path, "/token");
    w.refreshed("b");
    assert_eq!(w.result_of(op), Some(Ok(())));
}

#[test]
fn a_stored_value_over_a_limit_is_invalid_with_its_reason_and_no_sign_out() {
    let mut w = World::new(Some(token_answer_with_user("a", &user_nested(200_000))));
    w.command(Command::Initialize);
    let diagnostic = w.seen.iter().find_map(|o| match o {
        Output::Diagnostic(d) if d.kind == DiagnosticKind::InvalidStoredValue => Some(d.message.clone()),
        _ => None,
    });
    assert_eq!(diagnostic.as_deref(), Some("the stored value is nested deeper than 33 levels; removed"));
    assert!(!w.signed_out());
    assert!(w.m.session().is_none());
    // At the limit: a user nesting 32 levels (its metadata 31) is a user.
    let mut w = World::new(Some(token_answer_with_user("a", &user_nested(30))));
    w.command(Command::Initialize);
    assert!(w.m.session().and_then(|s| s.user.as_ref()).is_some());
    assert!(!w.seen.iter().any(|o| matches!(o, Output::Diagnostic(d) if d.kind == DiagnosticKind::InvalidStoredValue)));
}

#[test]
fn a_session_accepted_at_every_limit_reads_back_from_storage() {
    // Tokens of the longest length, a user at the deepest nesting, the largest body, and extra
    // fields spelling numbers tersely (they are written longer than they were read).
    let exp = (NOW / 1000) as i64 + 3600;
    let claims_pad = "p".repeat(gotrue_session::limits::MAX_TOKEN_BYTES - 200);
    let claims = format!(r#"{{"sub":"user-1","exp":{exp},"session_id":"s","pad":"{claims_pad}"}}"#);
    let access = format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims));
    let access = access[..gotrue_session::limits::MAX_TOKEN_BYTES.min(access.len())].to_owned();
    let refresh = "r".repeat(gotrue_session::limits::MAX_TOKEN_BYTES);
    let head = format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_at":{exp},"user":{},"numbers":["#,
        user_nested(30)
    );
    let mut body = head;
    while body.len() + 8 < gotrue_session::limits::MAX_ANSWER_BYTES {
        body.push_str("1E15,");
    }
    body.push_str("1]}");
    assert!(body.len() <= gotrue_session::limits::MAX_ANSWER_BYTES);
    let mut w = World::new(None);
    w.command(Command::Initialize);
    let op = w.command(Command::SignInWithPassword { email: Some("a@b".into()), phone: None, password: "pw".into() });
    w.answer(200, &[], &body);
    assert_eq!(w.result_of(op), Some(Ok(())));
    let written = w.store.get(KEY).cloned().expect("the session is stored");
    assert!(written.len() > 3 * body.len(), "the numbers were written longer: {} from {}", written.len(), body.len());
    let mut again = World::new(Some(written));
    again.command(Command::Initialize);
    assert_eq!(again.m.session(), w.m.session(), "read back as the same session");
}

#[test]
fn absurd_expiries_from_an_answer_saturate_instead_of_overflowing() {
    // Each of these overflowed the clock-skew estimate or a due check (a panic in debug builds,
    // a wrong decision in release ones).
    for (expires_at, expires_in) in [("-1e300", "1e300"), ("1e300", "-1e300"), ("1e300", "0"), ("-1e300", "0")] {
        let mut w = World::new(None);
        w.command(Command::Initialize);
        let op =
            w.command(Command::SignInWithPassword { email: Some("a@b".into()), phone: None, password: "pw".into() });
        let body = format!(
            r#"{{"access_token":"{}","refresh_token":"rt-x","expires_at":{expires_at},"expires_in":{expires_in},"user":{{"id":"user-1"}}}}"#,
            jwt("x", 1, "s")
        );
        w.answer(200, &[], &body);
        assert_eq!(w.result_of(op), Some(Ok(())), "{expires_at} {expires_in}");
        w.command(Command::GetSession);
        w.now = u64::MAX;
        w.m.handle_timeout(w.now);
        w.drain();
        w.command(Command::GetSession);
    }
}

/// A set_session called while initialize refreshes the stored session, answered after that
/// refresh was rejected: with other tokens it goes through (a verdict about the stored session is
/// none about them); with the rejected session's own refresh token it is discarded (K7).
#[test]
fn a_set_session_waiting_for_initialize_yields_only_to_a_removal_of_its_own_tokens() {
    let expired = (NOW / 1000) as i64 - 10;
    for (own_tokens, expect) in [(false, Ok(())), (true, Err(ErrorKind::RefreshDiscarded))] {
        let mut w = World::with_config(Some(session_json("a", expired)), |c| c.auto_refresh = true);
        w.command(Command::Initialize);
        assert_eq!(w.last_http().path, "/token", "initialize refreshes the expired session");
        let refresh = w.last_request_id();
        let exp = (NOW / 1000) as i64 + 3600;
        let refresh_token = if own_tokens { "rt-a-secret" } else { "rt-t-secret" };
        let op =
            w.command(Command::SetSession { access_token: jwt("t", exp, "t"), refresh_token: refresh_token.into() });
        assert_eq!(w.result_of(op), None, "set_session waits for INITIAL_SESSION");
        let v = ("x-supabase-api-version", "2024-01-01");
        w.m.handle_response(
            w.now,
            refresh,
            HttpResponse {
                status: 400,
                headers: vec![(v.0.into(), v.1.into())],
                body: br#"{"code":"refresh_token_not_found","message":"gone"}"#.to_vec(),
            },
        );
        w.drain();
        assert!(w.signed_out(), "the stored session is rejected");
        if w.result_of(op).is_none() {
            assert_eq!(w.last_http().path, "/user", "set_session asks /user about its tokens");
            w.answer(200, &[], r#"{"id":"user-1"}"#);
        }
        assert_eq!(w.result_of(op), Some(expect), "own tokens: {own_tokens}");
        let held = w.m.session().map(|s| s.refresh_token.clone());
        assert_eq!(held, expect.ok().map(|()| "rt-t-secret".to_owned()), "own tokens: {own_tokens}");
    }
}
