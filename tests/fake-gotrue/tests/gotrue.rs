//! GoTrue's rules, over real loopback HTTP: sign-ins, rotation, reuse, revocation, replica lag,
//! JWT checks, logout scopes, PKCE, OTPs, ID tokens, API keys.

mod common;

use std::thread;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::time::Duration;

use common::{claims, tokens, Client};
use gotrue_fake::{pkce_challenge, Clock, FakeGoTrue, Options, RefreshTokenAlgorithm, ReplicaLag};
use serde_json::json;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn frozen() -> (FakeGoTrue, Client, Clock) {
    let clock = Clock::frozen(T0);
    let server = FakeGoTrue::start(Options { clock: clock.clone(), ..Options::default() }).expect("server starts");
    let client = Client::new(&server);
    (server, client, clock)
}

#[test]
fn password_sign_in_answers_a_session_with_a_signed_token() {
    let (server, c, _) = frozen();
    let r = c.password("ada@example.com", "correct horse");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-supabase-api-version").is_none(), "GoTrue sets the version header on errors only");
    let body = r.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["expires_at"], T0 / 1000 + 3600);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["is_anonymous"], false);
    let (at, _rt) = tokens(&body);
    let cl = claims(&at);
    assert_eq!(cl["aud"], "authenticated");
    assert_eq!(cl["role"], "authenticated");
    assert_eq!(cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(), 3600);
    assert_eq!(cl["sub"], body["user"]["id"]);
    assert_eq!(cl["email"], "ada@example.com");
    assert_eq!(cl["is_anonymous"], false);
    assert_eq!(cl["amr"][0]["method"], "password");
    let sid = cl["session_id"].as_str().unwrap();
    assert_eq!(r.header("sb-auth-session-id"), Some(sid));
    assert_eq!(r.header("sb-auth-user-id"), body["user"]["id"].as_str());
    assert_eq!(r.header("sb-auth-refresh-token-counter"), Some("0"));
    assert!(server.session(sid).is_some());
    let u = c.user(&at);
    assert_eq!(u.status, 200);
    assert_eq!(u.json()["id"], body["user"]["id"]);
}

#[test]
fn bad_credentials_and_both_error_formats() {
    let (_server, mut c, _) = frozen();
    let r = c.password("ada@example.com", "wrong");
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"code": "invalid_credentials", "message": "Invalid login credentials"}));
    assert_eq!(r.header("x-supabase-api-version"), Some("2024-01-01"));
    assert_eq!(r.header("x-sb-error-code"), Some("invalid_credentials"));
    assert_eq!(c.password("nobody@example.com", "x").status, 400);
    let r = c.must("POST", "/token?grant_type=password", None, Some(&json!({"password": "x"})));
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_owned()));
    let r = c.must("POST", "/token?grant_type=magic", None, Some(&json!({})));
    assert_eq!((r.status, r.code()), (400, "invalid_credentials".to_owned()));
    // Without the version header: the older body, no version echo.
    c.versioned = false;
    let r = c.password("ada@example.com", "wrong");
    assert_eq!(r.json(), json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}));
    assert!(r.header("x-supabase-api-version").is_none());
    assert_eq!(r.header("x-sb-error-code"), Some("invalid_credentials"));
}

#[test]
fn refresh_rotates_the_token() {
    let (server, c, clock) = frozen();
    let (at0, rt0) = tokens(&c.sign_in());
    clock.advance(Duration::from_secs(60));
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("sb-auth-refresh-token-counter"), Some("1"));
    assert_eq!(r.header("sb-auth-refresh-token-reuse"), Some("false"));
    let body = r.json();
    let (at1, rt1) = tokens(&body);
    assert_ne!(rt1, rt0);
    assert_eq!(claims(&at1)["session_id"], claims(&at0)["session_id"]);
    assert_eq!(body["expires_at"], (T0 / 1000) + 60 + 3600);
    let sid = claims(&at0)["session_id"].as_str().unwrap().to_owned();
    let s = server.session(&sid).unwrap();
    assert_eq!((s.rotations, s.refresh_token_counter), (1, Some(1)));
    assert_eq!(s.active_refresh_token.as_deref(), Some(rt1.as_str()));
    assert_eq!(server.counters().refresh_requests(), 1);
}

#[test]
fn one_behind_is_accepted_long_after() {
    let (server, c, clock) = frozen();
    let (_, rt0) = tokens(&c.sign_in());
    let (_, rt1) = tokens(&c.refresh(&rt0).json());
    // The client lost the answer and retries with rt0 an hour later: it gets rt1 back.
    clock.advance(Duration::from_secs(3600));
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["refresh_token"], rt1.as_str());
    assert_eq!(r.header("sb-auth-refresh-token-reuse-cause"), Some("fail-to-save"));
    assert_eq!(r.header("sb-auth-refresh-token-counter"), Some("1"));
    assert_eq!(server.sessions()[0].rotations, 1);
}

#[test]
fn older_token_within_the_reuse_interval_gets_the_current_one() {
    let (_server, c, clock) = frozen();
    let (_, rt0) = tokens(&c.sign_in());
    let (_, rt1) = tokens(&c.refresh(&rt0).json());
    clock.advance(Duration::from_secs(2));
    let (_, rt2) = tokens(&c.refresh(&rt1).json());
    clock.advance(Duration::from_secs(5));
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["refresh_token"], rt2.as_str());
    assert_eq!(r.header("sb-auth-refresh-token-reuse-cause"), Some("concurrent-refresh"));
}

#[test]
fn reuse_outside_the_interval_destroys_the_session() {
    let (server, c, clock) = frozen();
    let (_, rt0) = tokens(&c.sign_in());
    let (_, rt1) = tokens(&c.refresh(&rt0).json());
    let (at2, rt2) = tokens(&c.refresh(&rt1).json());
    clock.advance(Duration::from_secs(11));
    let r = c.refresh(&rt0);
    assert_eq!((r.status, r.code()), (400, "refresh_token_already_used".to_owned()));
    assert_eq!(r.json()["message"], "Invalid Refresh Token: Already Used");
    assert_eq!(r.header("sb-auth-refresh-token-rotated"), Some("true"));
    assert!(r.header("sb-auth-session-id").is_some());
    assert!(server.sessions().is_empty());
    let u = c.user(&at2);
    assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    let r = c.refresh(&rt2);
    assert_eq!((r.status, r.code()), (400, "refresh_token_not_found".to_owned()));
}

#[test]
fn without_rotation_reuse_is_refused_but_destroys_nothing() {
    let clock = Clock::frozen(T0);
    let server =
        FakeGoTrue::start(Options { clock: clock.clone(), rotation_enabled: false, ..Options::default() }).unwrap();
    let c = Client::new(&server);
    let (_, rt0) = tokens(&c.sign_in());
    let (_, rt1) = tokens(&c.refresh(&rt0).json());
    let (_, rt2) = tokens(&c.refresh(&rt1).json());
    clock.advance(Duration::from_secs(60));
    assert_eq!(c.refresh(&rt0).code(), "refresh_token_already_used");
    assert_eq!(c.refresh(&rt2).status, 200);
}

#[test]
fn legacy_v1_tokens_follow_the_parent_chain() {
    let clock = Clock::frozen(T0);
    let options =
        Options { clock: clock.clone(), refresh_token_algorithm: RefreshTokenAlgorithm::V1, ..Options::default() };
    let server = FakeGoTrue::start(options).unwrap();
    let c = Client::new(&server);
    let (at0, rt0) = tokens(&c.sign_in());
    assert_eq!(rt0.len(), 12);
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("sb-auth-refresh-token-reuse"), Some("false"));
    let (_, rt1) = tokens(&r.json());
    assert_eq!(r.header("sb-auth-refresh-token-prefix"), Some(&rt1[..5]));
    // The parent of the active token gets the active token, however late.
    clock.advance(Duration::from_secs(900));
    let r = c.refresh(&rt0);
    assert_eq!(r.json()["refresh_token"], rt1.as_str());
    assert!(r.header("sb-auth-refresh-token-reuse").is_none(), "no new token was minted");
    let (_, rt2) = tokens(&c.refresh(&rt1).json());
    // rt1 (revoked just now, not the parent of... it is the parent of rt2): active back.
    assert_eq!(c.refresh(&rt1).json()["refresh_token"], rt2.as_str());
    // rt0 is two behind and was revoked 900 s ago: reuse. Every token of the session is revoked.
    let r = c.refresh(&rt0);
    assert_eq!(r.code(), "refresh_token_already_used");
    let s = &server.sessions()[0];
    assert_eq!(s.active_refresh_token, None);
    // v1 keeps the session row: the access token still reads /user until it expires.
    assert_eq!(c.user(&at0).status, 200);
    // Within 10 s of that revocation, rt2 can still be swapped (GoTrue's v1 quirk); later not.
    clock.advance(Duration::from_secs(11));
    assert_eq!(c.refresh(&rt2).code(), "refresh_token_already_used");
}

#[test]
fn legacy_v1_reuse_within_interval_swaps_a_new_child() {
    let clock = Clock::frozen(T0);
    let options =
        Options { clock: clock.clone(), refresh_token_algorithm: RefreshTokenAlgorithm::V1, ..Options::default() };
    let server = FakeGoTrue::start(options).unwrap();
    let c = Client::new(&server);
    let (_, rt0) = tokens(&c.sign_in());
    let (_, rt1) = tokens(&c.refresh(&rt0).json());
    let (_, rt2) = tokens(&c.refresh(&rt1).json());
    clock.advance(Duration::from_secs(3));
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200);
    let rt3 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert!(rt3 != rt1 && rt3 != rt2, "a fresh token descending from the reused one");
    assert_eq!(server.sessions()[0].rotations, 3);
}

#[test]
fn unknown_and_malformed_refresh_tokens() {
    let (server, c, _) = frozen();
    let r = c.refresh("short");
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_owned()));
    let r = c.refresh("abcdefghijkl");
    assert_eq!((r.status, r.code()), (400, "refresh_token_not_found".to_owned()));
    let r = c.refresh("this-is-not-a-refresh-token-at-all");
    assert_eq!(r.code(), "validation_failed");
    // A well-formed token whose session is gone.
    let (_, rt) = tokens(&c.sign_in());
    server.revoke_all_sessions();
    assert_eq!(c.refresh(&rt).code(), "refresh_token_not_found");
    // Bodies that are not the parameters.
    let r = c.must("POST", "/token?grant_type=refresh_token", None, None);
    assert_eq!((r.status, r.code()), (400, "bad_json".to_owned()));
    let r = c.must("POST", "/token?grant_type=refresh_token", None, Some(&json!({"refresh_token": 5})));
    assert_eq!(r.code(), "bad_json");
    let r = c.must("POST", "/token?grant_type=refresh_token", None, Some(&json!([1])));
    assert_eq!(r.code(), "bad_json");
}

#[test]
fn concurrent_refreshes_with_one_token_all_get_the_same_new_token() {
    let server = FakeGoTrue::start(Options::default()).unwrap();
    let c = Client::new(&server);
    let (_, rt0) = tokens(&c.sign_in());
    let answers: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let r = c.refresh(&rt0);
                    assert_eq!(r.status, 200, "{}", r.text());
                    r.json()["refresh_token"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_ne!(answers[0], rt0);
    assert_eq!(server.sessions()[0].rotations, 1);
    assert_eq!(server.counters().refresh_requests(), 8);
}

#[test]
fn revocation_from_another_device() {
    let (server, c, _) = frozen();
    let (at_a, rt_a) = tokens(&c.sign_in());
    let (at_b, _) = tokens(&c.sign_in());
    let sid_b = claims(&at_b)["session_id"].as_str().unwrap().to_owned();
    server.revoke_session(&sid_b).unwrap();
    assert_eq!(c.user(&at_b).code(), "session_not_found");
    assert_eq!(c.user(&at_a).status, 200);
    assert_eq!(server.revoke_user_sessions("ada@example.com").unwrap(), 1);
    let u = c.user(&at_a);
    assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    assert_eq!(u.json()["message"], "Session from session_id claim in JWT does not exist");
    assert_eq!(c.refresh(&rt_a).code(), "refresh_token_not_found");
    assert!(server.revoke_session(&sid_b).is_err());
    assert!(server.revoke_user_sessions("nobody@example.com").is_err());
}

#[test]
fn replica_lag_hides_new_and_refreshed_sessions_from_user() {
    let (server, c, clock) = frozen();
    server.set_replica_lag(ReplicaLag::new(2_000));
    let (at, rt) = tokens(&c.sign_in());
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    clock.advance(Duration::from_millis(2_000));
    assert_eq!(c.user(&at).status, 200);
    // A refresh starts a new window.
    let (at1, _) = tokens(&c.refresh(&rt).json());
    assert_eq!(c.user(&at1).code(), "session_not_found");
    clock.advance(Duration::from_millis(1_999));
    assert_eq!(c.user(&at1).code(), "session_not_found");
    clock.advance(Duration::from_millis(1));
    assert_eq!(c.user(&at1).status, 200);
    // Only after creation: refreshes are visible at once.
    server.set_replica_lag(ReplicaLag { window_ms: 2_000, misses: 0, after_create: true, after_refresh: false });
    let (_, rt2) = tokens(&c.sign_in());
    clock.advance(Duration::from_secs(3));
    let (at3, _) = tokens(&c.refresh(&rt2).json());
    assert_eq!(c.user(&at3).status, 200);
    // A user created in the window is not on the replica either.
    let anon = c.must("POST", "/signup", None, Some(&json!({})));
    let u = c.user(anon.json()["access_token"].as_str().unwrap());
    assert_eq!((u.status, u.code()), (403, "user_not_found".to_owned()));
    server.set_replica_lag(ReplicaLag::default());
}

#[test]
fn replica_lag_counted_in_reads_ignores_the_clock() {
    let (server, c, clock) = frozen();
    server.set_replica_lag(ReplicaLag { window_ms: 0, misses: 2, after_create: true, after_refresh: false });
    let (at, rt) = tokens(&c.sign_in());
    // However much time passes, the first two reads miss the new session.
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        let u = c.user(&at);
        assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    }
    assert_eq!(c.user(&at).status, 200);
    // Not after a refresh (after_refresh is off) ...
    let (at1, rt1) = tokens(&c.refresh(&rt).json());
    assert_eq!(c.user(&at1).status, 200);
    // ... and after a refresh when it is on, at once and for the same count.
    server.set_replica_lag(ReplicaLag::reads(1));
    let (at2, _) = tokens(&c.refresh(&rt1).json());
    assert_eq!(c.user(&at2).code(), "session_not_found");
    assert_eq!(c.user(&at2).status, 200);
    server.set_replica_lag(ReplicaLag::default());
}

/// The lag is the session's, not a token's: a verify refresh issues a new access token for the
/// same session, and reads with it use up the same count. Two misses outlast a client's verify
/// round trip (first `/user`, refresh, retried `/user` all on the lagging side); the third read
/// finds the session. The count is in the admin listing as it goes down.
#[test]
fn replica_lag_in_reads_outlasts_a_verify_refresh() {
    let (server, c, clock) = frozen();
    server.set_replica_lag(ReplicaLag::after_sign_in(2));
    let (at, rt) = tokens(&c.sign_in());
    let sid = claims(&at)["session_id"].as_str().unwrap().to_owned();
    let misses_left = || server.session(&sid).expect("the session exists").replica_misses;
    assert_eq!(misses_left(), 2);
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    assert_eq!(misses_left(), 1);
    // The verify refresh reads the primary: it works, and adds no lag (after_refresh is off).
    // A second later, so the new access token differs from the old one (`iat`, `exp`).
    clock.advance(Duration::from_secs(1));
    let (at1, _) = tokens(&c.refresh(&rt).json());
    assert_ne!(at1, at);
    assert_eq!(claims(&at1)["session_id"], sid.as_str());
    assert_eq!(misses_left(), 1);
    // The retried read, with the new token, still misses: the replica has not caught up.
    let u = c.user(&at1);
    assert_eq!((u.status, u.code()), (403, "session_not_found".to_owned()));
    assert_eq!(misses_left(), 0);
    assert_eq!(c.user(&at1).status, 200);
    // Either token: the old one is still a valid JWT of a session the replica now has.
    assert_eq!(c.user(&at).status, 200);
    server.set_replica_lag(ReplicaLag::default());
}

/// A refresh during a lag (with `after_refresh` on) leaves at least `misses` reads to go, not
/// `misses` more: a replica catches up with the latest write, as the time window does.
#[test]
fn a_refresh_during_a_read_lag_does_not_stack_a_second_lag() {
    let (server, c, _clock) = frozen();
    server.set_replica_lag(ReplicaLag::reads(2));
    let (at, rt) = tokens(&c.sign_in());
    assert_eq!(c.user(&at).code(), "session_not_found");
    let (at1, _) = tokens(&c.refresh(&rt).json());
    for _ in 0..2 {
        assert_eq!(c.user(&at1).code(), "session_not_found");
    }
    assert_eq!(c.user(&at1).status, 200);
    server.set_replica_lag(ReplicaLag::default());
}

/// The same, set up through the admin route as a client in another language would.
#[test]
fn replica_lag_outlasting_a_verify_refresh_through_the_admin_route() {
    let (_server, c, _clock) = frozen();
    let lag = c.admin("POST", "/admin/replica-lag", Some(&json!({"misses": 2, "after_refresh": false}))).json();
    assert_eq!(lag, json!({"window_ms": 0, "misses": 2, "after_create": true, "after_refresh": false}));
    let (at, rt) = tokens(&c.sign_in());
    let listed = c.admin("GET", "/admin/sessions", None).json();
    assert_eq!(listed["sessions"][0]["replica_misses"], 2);
    assert_eq!(c.user(&at).code(), "session_not_found");
    let (at1, _) = tokens(&c.refresh(&rt).json());
    assert_eq!(c.user(&at1).code(), "session_not_found");
    assert_eq!(c.admin("GET", "/admin/sessions", None).json()["sessions"][0]["replica_misses"], 0);
    assert_eq!(c.user(&at1).status, 200);
    c.admin("POST", "/admin/replica-lag", Some(&json!({})));
}

#[test]
fn expired_tampered_and_missing_bearer_tokens() {
    let (_server, c, clock) = frozen();
    let (at, _) = tokens(&c.sign_in());
    clock.advance(Duration::from_secs(3599));
    assert_eq!(c.user(&at).status, 200);
    clock.advance(Duration::from_secs(1));
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (403, "bad_jwt".to_owned()));
    assert_eq!(
        u.json()["message"],
        "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"
    );
    clock.set_offset_ms(0);
    // Same signature, altered claims.
    let parts: Vec<&str> = at.split('.').collect();
    let mut altered = claims(&at);
    altered["role"] = json!("service_role");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(altered.to_string()), parts[2]);
    let u = c.user(&forged);
    assert_eq!(u.code(), "bad_jwt");
    assert!(u.json()["message"].as_str().unwrap().contains("signature is invalid"));
    assert_eq!(c.user("not-a-jwt").code(), "bad_jwt");
    let r = c.must("GET", "/user", None, None);
    assert_eq!((r.status, r.code()), (401, "no_authorization".to_owned()));
    // The anon key is a JWT without a subject.
    let r = c.user(&c.anon_key.clone());
    assert_eq!((r.status, r.code()), (403, "bad_jwt".to_owned()));
}

#[test]
fn bad_jwt_status_can_be_the_older_401() {
    let clock = Clock::frozen(T0);
    let server =
        FakeGoTrue::start(Options { clock: clock.clone(), bad_jwt_status: 401, ..Options::default() }).unwrap();
    let c = Client::new(&server);
    let (at, _) = tokens(&c.sign_in());
    clock.advance(Duration::from_secs(7200));
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (401, "bad_jwt".to_owned()));
}

#[test]
fn logout_scopes() {
    let (server, c, _) = frozen();
    let (a, _) = tokens(&c.sign_in());
    let (b, _) = tokens(&c.sign_in());
    let (d, _) = tokens(&c.sign_in());
    let r = c.logout(&a, "others");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(server.sessions().len(), 1);
    assert_eq!(c.user(&a).status, 200);
    assert_eq!(c.user(&b).code(), "session_not_found");
    assert_eq!(c.user(&d).code(), "session_not_found");
    assert_eq!(c.logout(&a, "local").status, 204);
    assert!(server.sessions().is_empty());
    // A second logout with the same token: its session is gone.
    let r = c.logout(&a, "local");
    assert_eq!((r.status, r.code()), (403, "session_not_found".to_owned()));
    let (e, _) = tokens(&c.sign_in());
    let (_f, _) = tokens(&c.sign_in());
    assert_eq!(c.logout(&e, "local").status, 204);
    assert_eq!(server.sessions().len(), 1);
    let (g, _) = tokens(&c.sign_in());
    assert_eq!(c.logout(&g, "global").status, 204);
    assert!(server.sessions().is_empty());
    let (h, _) = tokens(&c.sign_in());
    let r = c.logout(&h, "everywhere");
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_owned()));
    // No scope is global.
    assert_eq!(c.must("POST", "/logout", Some(&h), None).status, 204);
    assert!(server.sessions().is_empty());
    let r = c.must("POST", "/logout", None, None);
    assert_eq!((r.status, r.code()), (401, "no_authorization".to_owned()));
}

#[test]
fn pkce_exchange_checks_the_s256_challenge() {
    let (server, c, clock) = frozen();
    let verifier = "a-code-verifier-with-enough-entropy-0123456789";
    let code = server.issue_pkce_code("ada@example.com", &pkce_challenge(verifier)).unwrap();
    let r = c.must("POST", "/token?grant_type=pkce", None, Some(&json!({"auth_code": code, "code_verifier": "wrong"})));
    assert_eq!((r.status, r.code()), (400, "bad_code_verifier".to_owned()));
    let r =
        c.must("POST", "/token?grant_type=pkce", None, Some(&json!({"auth_code": code, "code_verifier": verifier})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(claims(r.json()["access_token"].as_str().unwrap())["amr"][0]["method"], "magiclink");
    let r =
        c.must("POST", "/token?grant_type=pkce", None, Some(&json!({"auth_code": code, "code_verifier": verifier})));
    assert_eq!((r.status, r.code()), (404, "flow_state_not_found".to_owned()));
    let r = c.must("POST", "/token?grant_type=pkce", None, Some(&json!({"auth_code": "", "code_verifier": verifier})));
    assert_eq!(r.code(), "validation_failed");
    // Expired flow state.
    let code = server.issue_pkce_code("ada@example.com", &pkce_challenge(verifier)).unwrap();
    clock.advance(Duration::from_secs(301));
    let r =
        c.must("POST", "/token?grant_type=pkce", None, Some(&json!({"auth_code": code, "code_verifier": verifier})));
    assert_eq!((r.status, r.code()), (422, "flow_state_expired".to_owned()));
    // Plain challenges and recovery sessions.
    let code = server.issue_pkce_code_with("ada@example.com", "plain-verifier", "plain", "recovery").unwrap();
    let r = c.must(
        "POST",
        "/token?grant_type=pkce",
        None,
        Some(&json!({"auth_code": code, "code_verifier": "plain-verifier"})),
    );
    assert_eq!(claims(r.json()["access_token"].as_str().unwrap())["amr"][0]["method"], "recovery");
    assert!(server.issue_pkce_code("nobody@example.com", "x").is_err());
}

#[test]
fn id_token_grant_creates_the_user_on_first_use() {
    let (server, c, _) = frozen();
    let idt = server.issue_id_token("grace@example.com", "google").unwrap();
    let r = c.must("POST", "/token?grant_type=id_token", None, Some(&json!({"provider": "google", "id_token": idt})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user"]["email"], "grace@example.com");
    assert_eq!(r.json()["user"]["app_metadata"]["provider"], "google");
    let r =
        c.must("POST", "/token?grant_type=id_token", None, Some(&json!({"provider": "google", "id_token": "nope"})));
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"error": "invalid request", "error_description": "Bad ID token"}));
    let r = c.must("POST", "/token?grant_type=id_token", None, Some(&json!({"provider": "apple", "id_token": idt})));
    assert_eq!(r.json()["error_description"], "Bad ID token");
    let r = c.must("POST", "/token?grant_type=id_token", None, Some(&json!({"provider": "google"})));
    assert_eq!(r.json()["error_description"], "id_token required");
}

#[test]
fn signup_anonymous_and_with_email() {
    let (_server, c, _) = frozen();
    let r = c.must("POST", "/signup", None, Some(&json!({})));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["user"]["is_anonymous"], true);
    assert_eq!(body["user"]["email"], "");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["is_anonymous"], true);
    assert_eq!(c.user(at).json()["is_anonymous"], true);
    let r = c.must("POST", "/signup", None, Some(&json!({"email": "lin@example.com", "password": "hunter22"})));
    assert_eq!(r.status, 200);
    assert_eq!(c.password("lin@example.com", "hunter22").status, 200);
    let r = c.must("POST", "/signup", None, Some(&json!({"email": "lin@example.com", "password": "x"})));
    assert_eq!((r.status, r.code()), (422, "user_already_exists".to_owned()));
    let server = FakeGoTrue::start(Options { anonymous_sign_ins: false, ..Options::default() }).unwrap();
    let r = Client::new(&server).must("POST", "/signup", None, Some(&json!({})));
    assert_eq!((r.status, r.code()), (422, "anonymous_provider_disabled".to_owned()));
}

#[test]
fn verify_accepts_issued_otps_once() {
    let (server, c, clock) = frozen();
    let otp = server.issue_otp("ada@example.com", "email").unwrap();
    let bad = c.must(
        "POST",
        "/verify",
        None,
        Some(&json!({"type": "email", "email": "ada@example.com", "token": "000000x"})),
    );
    assert_eq!((bad.status, bad.code()), (403, "otp_expired".to_owned()));
    let r = c.must(
        "POST",
        "/verify",
        None,
        Some(&json!({"type": "email", "email": "ada@example.com", "token": otp.token})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["refresh_token"].is_string());
    let again = c.must(
        "POST",
        "/verify",
        None,
        Some(&json!({"type": "email", "email": "ada@example.com", "token": otp.token})),
    );
    assert_eq!(again.code(), "otp_expired");
    // A magic link's token hash; a recovery OTP gives a recovery session.
    let link = server.issue_otp("ada@example.com", "magiclink").unwrap();
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "magiclink", "token_hash": link.token_hash})));
    assert_eq!(r.status, 200);
    let rec = server.issue_otp("ada@example.com", "recovery").unwrap();
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "magiclink", "token_hash": rec.token_hash})));
    assert_eq!(r.code(), "otp_expired", "a recovery OTP is not a magic link");
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "recovery", "token_hash": rec.token_hash})));
    assert_eq!(claims(r.json()["access_token"].as_str().unwrap())["amr"][0]["method"], "recovery");
    // Expiry, and malformed requests.
    let late = server.issue_otp("ada@example.com", "email").unwrap();
    clock.advance(Duration::from_secs(3601));
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "email", "token_hash": late.token_hash})));
    assert_eq!(r.code(), "otp_expired");
    let r = c.must("POST", "/verify", None, Some(&json!({"token_hash": "x"})));
    assert_eq!((r.status, r.code()), (400, "validation_failed".to_owned()));
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "telepathy", "token_hash": "x"})));
    assert_eq!(r.code(), "validation_failed");
    assert!(server.issue_otp("ada@example.com", "telepathy").is_err());
}

#[test]
fn the_gateway_wants_an_api_key() {
    let (server, c, _) = frozen();
    let body = json!({"email": "ada@example.com", "password": "correct horse"}).to_string();
    let raw = common::request_bytes("POST", "/auth/v1/token?grant_type=password", &[], Some(body.as_bytes()));
    let r = common::send_raw(server.addr(), &raw).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "No API key found in request");
    let raw = common::request_bytes(
        "POST",
        "/auth/v1/token?grant_type=password",
        &[("apikey", "nope")],
        Some(body.as_bytes()),
    );
    let r = common::send_raw(server.addr(), &raw).unwrap();
    assert_eq!((r.status, r.json()["message"].as_str()), (401, Some("Invalid API key")));
    let target = format!("/auth/v1/token?grant_type=password&apikey={}", server.anon_key());
    let r =
        common::send_raw(server.addr(), &common::request_bytes("POST", &target, &[], Some(body.as_bytes()))).unwrap();
    assert_eq!(r.status, 200);
    let raw = common::request_bytes(
        "POST",
        "/token?grant_type=password",
        &[("apikey", server.service_role_key())],
        Some(body.as_bytes()),
    );
    assert_eq!(common::send_raw(server.addr(), &raw).unwrap().status, 200, "service role key, path without prefix");
    assert_eq!(server.counters().handled_for("token:password"), 2);
    let _ = c;
}

#[test]
fn banned_and_deleted_users() {
    let (server, c, _) = frozen();
    let (at, rt) = tokens(&c.sign_in());
    server.set_banned("ada@example.com", true).unwrap();
    assert_eq!(c.refresh(&rt).code(), "user_banned");
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (403, "user_banned".to_owned()));
    assert_eq!(c.password("ada@example.com", "correct horse").code(), "user_banned");
    server.set_banned("ada@example.com", false).unwrap();
    assert_eq!(c.user(&at).status, 200);
    server.delete_user("ada@example.com").unwrap();
    let u = c.user(&at);
    assert_eq!((u.status, u.code()), (403, "user_not_found".to_owned()));
    assert_eq!(c.refresh(&rt).code(), "refresh_token_not_found");
}

#[test]
fn timebox_and_inactivity_end_sessions() {
    let clock = Clock::frozen(T0);
    let options = Options {
        clock: clock.clone(),
        session_timebox: Some(Duration::from_secs(7200)),
        inactivity_timeout: Some(Duration::from_secs(1800)),
        ..Options::default()
    };
    let server = FakeGoTrue::start(options).unwrap();
    let c = Client::new(&server);
    let (_, rt) = tokens(&c.sign_in());
    clock.advance(Duration::from_secs(1801));
    let r = c.refresh(&rt);
    assert_eq!((r.status, r.code()), (400, "session_expired".to_owned()));
    assert_eq!(r.json()["message"], "Invalid Refresh Token: Session Expired (Inactivity)");
    let (_, mut rt) = tokens(&c.sign_in());
    for _ in 0..4 {
        clock.advance(Duration::from_secs(1700));
        rt = tokens(&c.refresh(&rt).json()).1;
    }
    clock.advance(Duration::from_secs(1000));
    assert_eq!(c.refresh(&rt).json()["message"], "Invalid Refresh Token: Session Expired");
}

#[test]
fn routing_without_prefix_unknown_paths_and_methods() {
    let (server, c, _) = frozen();
    let r = c.must("GET", "/nope", None, None);
    assert_eq!(r.status, 404);
    let r = c.must("GET", "/token", None, None);
    assert_eq!(r.status, 405);
    let r = c.must("GET", "/health", None, None);
    assert_eq!(r.json()["name"], "GoTrue");
    let raw = common::request_bytes("GET", "/health", &[("apikey", server.anon_key())], None);
    assert_eq!(common::send_raw(server.addr(), &raw).unwrap().status, 200);
}

#[test]
fn issue_session_gives_a_usable_session() {
    let (server, c, _) = frozen();
    let s = server.issue_session("ada@example.com").unwrap();
    let (at, rt) = tokens(&s);
    assert_eq!(c.user(&at).status, 200);
    assert_eq!(c.refresh(&rt).status, 200);
    assert!(server.issue_session("nobody@example.com").is_err());
    assert_eq!(
        server.add_user("ada@example.com", "x").unwrap_err().to_string(),
        "a user with email ada@example.com already exists"
    );
}
