//! The end-to-end suite, run once per shell against the fake GoTrue server over loopback.
//! Every wait is bounded; the retry schedule is shortened (see `options`) so bursts end fast.

use gotrue_fake::{Fault, ReplicaLag, Target};
use gotrue_session::{ErrorKind, EventKind, SignOutScope, VerifyCooldown};
use gotrue_session_e2e::*;
use gotrue_session_io::{MemoryStorage, SessionStorage};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sb-e2e-auth-token";
const SHORT: Duration = Duration::from_millis(600);

fn signed_in<C: Client>(server: &gotrue_fake::FakeGoTrue, auto: bool, storage: Arc<dyn SessionStorage>) -> C {
    let c = C::build(options(server, auto), storage);
    c.initialize().expect("initialize");
    c.sign_in(EMAIL, PASSWORD).expect("sign in").expect("a session");
    c
}

/// The founding case, transient: a replica that has not seen the new session yet answers
/// session_not_found; the verification refresh (which goes to the primary) succeeds, and the
/// retried `/user` finds the session. The lag is counted in reads, not time, so a slow machine
/// cannot make the first read come after it.
fn replica_lag_survives<C: Client>(auto: bool) {
    let server = fake(|o| o.replica_lag = ReplicaLag::after_sign_in(1));
    let storage = Arc::new(MemoryStorage::new());
    let c: C = signed_in(&server, auto, storage.clone());
    let events = c.events();
    let user = c.get_user().unwrap_or_else(|e| panic!("{}: get_user failed: {e}", C::NAME));
    assert_eq!(user.email.as_deref(), Some(EMAIL));
    let seen = kinds(&collect(&events, SHORT));
    assert!(seen.contains(&EventKind::TokenRefreshed), "{}: {seen:?}", C::NAME);
    assert!(!seen.contains(&EventKind::SignedOut), "{}: {seen:?}", C::NAME);
    assert!(storage.get(KEY).expect("readable").is_some(), "the session is still stored");
    assert_eq!(server.counters().refresh_requests(), 1);
    c.shutdown();
}

/// The founding case, real: the session was revoked elsewhere; the verification refresh is
/// refused, the session removed and SIGNED_OUT announced, whether auto refresh is on or off.
fn revocation_cleans_up<C: Client>(auto: bool) {
    let server = fake(|_| {});
    let storage = Arc::new(MemoryStorage::new());
    let c: C = signed_in(&server, auto, storage.clone());
    let events = c.events();
    assert_eq!(server.revoke_user_sessions(EMAIL).expect("revoked"), 1);
    let err = c.get_user().expect_err("the session is gone");
    assert_eq!(err.kind, ErrorKind::SessionMissing, "{}: {err}", C::NAME);
    assert_eq!(err.status, Some(403));
    let seen = kinds(&collect(&events, SHORT));
    assert_eq!(seen.iter().filter(|k| **k == EventKind::SignedOut).count(), 1, "{}: {seen:?}", C::NAME);
    assert_eq!(storage.get(KEY).expect("readable"), None, "storage is empty");
    assert!(c.current_session().is_none());
    c.shutdown();
}

/// The founding case, lagging longer than the verify round trip: the replica misses the new
/// session on its first two reads, so the `/user` retried after the (successful) verify refresh
/// misses too. The refresh endpoint has just accepted the session, so it is kept: no SIGNED_OUT,
/// still stored, and get_user fails with the retryable `session_unconfirmed`, status and code of
/// the last `/user` answer kept. The next get_user, once the replica has caught up, succeeds
/// without another refresh. The lag is counted in reads, so timing cannot change the outcome.
fn replica_lag_outlasting_the_verify_is_unconfirmed<C: Client>(auto: bool) {
    let server = fake(|o| o.replica_lag = ReplicaLag::after_sign_in(2));
    let storage = Arc::new(MemoryStorage::new());
    let c: C = signed_in(&server, auto, storage.clone());
    let events = c.events();
    let err = c.get_user().expect_err("the replica still misses the session after the verify refresh");
    assert_eq!(err.kind, ErrorKind::SessionUnconfirmed, "{}: {err}", C::NAME);
    assert!(err.is_retryable(), "{}: {err}", C::NAME);
    assert_eq!((err.status, err.code.as_deref()), (Some(403), Some("session_not_found")), "{}: {err}", C::NAME);
    assert_eq!(server.counters().refresh_requests(), 1, "{}: one verify refresh", C::NAME);
    let seen = kinds(&collect(&events, SHORT));
    assert!(seen.contains(&EventKind::TokenRefreshed), "{}: the verify refresh is persisted: {seen:?}", C::NAME);
    assert!(!seen.contains(&EventKind::SignedOut), "{}: {seen:?}", C::NAME);
    let held = c.current_session().expect("the session is kept");
    let stored = storage.get(KEY).expect("readable").expect("the session is still stored");
    assert!(stored.contains(&held.access_token), "{}: storage holds the verified session", C::NAME);
    let user = c.get_user().unwrap_or_else(|e| panic!("{}: the replica has caught up, yet: {e}", C::NAME));
    assert_eq!(user.email.as_deref(), Some(EMAIL));
    assert_eq!(server.counters().refresh_requests(), 1, "{}: no second refresh", C::NAME);
    assert!(!kinds(&collect(&events, SHORT)).contains(&EventKind::SignedOut), "{}", C::NAME);
    c.shutdown();
}

/// Within the verify cooldown (the default 30 s, far longer than this test) after a verify
/// refresh that succeeded, a new suspicion is answered `session_unconfirmed` at once: no second
/// refresh, the session kept, even though it was revoked meanwhile (found out after the
/// cooldown, next test).
fn suspicion_within_the_cooldown_makes_no_refresh<C: Client>() {
    let server = fake(|o| o.replica_lag = ReplicaLag::after_sign_in(2));
    let storage = Arc::new(MemoryStorage::new());
    let c: C = signed_in(&server, false, storage.clone());
    let events = c.events();
    let err = c.get_user().expect_err("unconfirmed");
    assert_eq!(err.kind, ErrorKind::SessionUnconfirmed, "{}: {err}", C::NAME);
    assert_eq!(server.revoke_user_sessions(EMAIL).expect("revoked"), 1);
    let user_reads = server.counters().received_for("user");
    let err = c.get_user().expect_err("the session is gone, but a verify refresh just worked");
    assert_eq!(err.kind, ErrorKind::SessionUnconfirmed, "{}: {err}", C::NAME);
    assert!(err.is_retryable());
    assert_eq!((err.status, err.code.as_deref()), (Some(403), Some("session_not_found")), "{}: {err}", C::NAME);
    assert_eq!(server.counters().received_for("user"), user_reads + 1, "{}: one /user, answered", C::NAME);
    assert_eq!(server.counters().refresh_requests(), 1, "{}: no refresh within the cooldown", C::NAME);
    assert!(!kinds(&collect(&events, SHORT)).contains(&EventKind::SignedOut), "{}", C::NAME);
    assert!(storage.get(KEY).expect("readable").is_some(), "{}: kept within the cooldown", C::NAME);
    c.shutdown();
}

/// After the cooldown, the next suspicion verifies again: a session revoked meanwhile is found
/// out and cleaned up (SIGNED_OUT once, storage emptied), with auto refresh off. The cooldown
/// is short (300 ms) and the test only ever waits past it, never races it.
fn revoked_after_the_cooldown_is_cleaned_up<C: Client>() {
    const COOLDOWN: Duration = Duration::from_millis(300);
    let server = fake(|o| o.replica_lag = ReplicaLag::after_sign_in(2));
    let storage = Arc::new(MemoryStorage::new());
    let mut o = options(&server, false);
    o.verify_cooldown = VerifyCooldown::from_duration(COOLDOWN).expect("a valid cooldown");
    let c = C::build(o, storage.clone());
    c.initialize().expect("initialize");
    c.sign_in(EMAIL, PASSWORD).expect("sign in").expect("a session");
    let events = c.events();
    let err = c.get_user().expect_err("unconfirmed");
    assert_eq!(err.kind, ErrorKind::SessionUnconfirmed, "{}: {err}", C::NAME);
    // The verify refresh's time was recorded before get_user returned; a margin covers the
    // core's wall clock against this monotonic one.
    let verified = Instant::now();
    assert_eq!(server.revoke_user_sessions(EMAIL).expect("revoked"), 1);
    std::thread::sleep((COOLDOWN + Duration::from_millis(200)).saturating_sub(verified.elapsed()));
    let err = c.get_user().expect_err("the session is gone");
    assert_eq!(err.kind, ErrorKind::SessionMissing, "{}: {err}", C::NAME);
    assert!(!err.is_retryable());
    assert_eq!(err.status, Some(403), "{}: {err}", C::NAME);
    assert_eq!(server.counters().refresh_requests(), 2, "{}: the second suspicion verified", C::NAME);
    let seen = kinds(&collect(&events, SHORT));
    assert_eq!(seen.iter().filter(|k| **k == EventKind::SignedOut).count(), 1, "{}: {seen:?}", C::NAME);
    assert_eq!(storage.get(KEY).expect("readable"), None, "{}: storage is empty", C::NAME);
    assert!(c.current_session().is_none());
    c.shutdown();
}

/// The cooldown is validated where it is made (a `VerifyCooldown` is valid by construction), so
/// no client is ever built with one the core would refuse: too long is a clear error. 0 is valid
/// and turns the cooldown off: every suspicion verifies, the options reach the core.
fn verify_cooldown_is_validated_and_reaches_the_core<C: Client>() {
    let server = fake(|o| o.replica_lag = ReplicaLag::after_sign_in(4));
    let mut o = options(&server, false);
    assert_eq!(o.verify_cooldown, VerifyCooldown::DEFAULT, "the default");
    for too_long in [Duration::from_millis(600_001), Duration::from_secs(24 * 3600), Duration::MAX] {
        let err = VerifyCooldown::from_duration(too_long).expect_err("over 10 minutes");
        assert!(
            err.to_string().starts_with("verify_cooldown must be between 0 (no cooldown) and 600000 ms, got "),
            "{err}"
        );
    }
    o.verify_cooldown = VerifyCooldown::from_duration(Duration::ZERO).expect("0 turns the cooldown off");
    let storage = Arc::new(MemoryStorage::new());
    let c = C::build(o, storage.clone());
    c.initialize().expect("initialize");
    c.sign_in(EMAIL, PASSWORD).expect("sign in").expect("a session");
    for refreshes in 1..=2 {
        let err = c.get_user().expect_err("the replica misses two reads per get_user");
        assert_eq!(err.kind, ErrorKind::SessionUnconfirmed, "{}: {err}", C::NAME);
        assert_eq!(server.counters().refresh_requests(), refreshes, "{}: no cooldown, a verify each time", C::NAME);
    }
    assert_eq!(c.get_user().expect("caught up").email.as_deref(), Some(EMAIL));
    assert!(storage.get(KEY).expect("readable").is_some());
    c.shutdown();
}

/// 100 concurrent get_session calls on an expiring session make exactly one refresh request.
fn concurrent_get_session_refreshes_once<C: Client>() {
    let server = fake(|_| {});
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
    let first: C = signed_in(&server, false, storage.clone());
    first.shutdown();
    age_stored_session(&*storage, KEY, 30);
    let c = Arc::new(C::build(options(&server, false), storage));
    c.initialize().expect("initialize");
    let before = server.counters().refresh_requests();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || c.get_session().expect("get_session").expect("a session").access_token)
        })
        .collect();
    let tokens: Vec<String> = threads.into_iter().map(|t| t.join().expect("no panic")).collect();
    assert_eq!(server.counters().refresh_requests() - before, 1, "{}: exactly one refresh", C::NAME);
    assert!(tokens.iter().all(|t| *t == tokens[0]), "every caller got the same session");
    c.shutdown();
}

/// Server down at start: the stored (expired) session is kept and INITIAL_SESSION carries it;
/// when the server is back the session is recovered.
fn server_down_at_start_then_back<C: Client>() {
    let server = fake(|_| {});
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
    let first: C = signed_in(&server, false, storage.clone());
    first.shutdown();
    age_stored_session(&*storage, KEY, -10);
    server.set_down(true);
    let c = C::build(options(&server, true), storage.clone());
    let events = c.events();
    c.initialize().expect("initialize completes despite the server being down");
    let first_events = collect(&events, SHORT);
    let initial = first_events.iter().find(|e| e.kind == EventKind::InitialSession).expect("INITIAL_SESSION");
    assert!(initial.session.is_some(), "{}: INITIAL_SESSION carries the stored session", C::NAME);
    assert!(initial.expired, "and says it is expired");
    assert!(!kinds(&first_events).contains(&EventKind::SignedOut));
    let err = c.get_session().expect_err("no fresh session while down");
    assert_eq!(err.kind, ErrorKind::RetryableFetch, "{}: {err}", C::NAME);
    assert!(storage.get(KEY).expect("readable").is_some(), "kept while down");
    server.set_down(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        if let Ok(Some(s)) = c.get_session() {
            break s;
        }
        assert!(Instant::now() < deadline, "{}: not recovered within 5 s", C::NAME);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(recovered.expires_at > (gotrue_session_io::now_ms() / 1000) as i64 + 600);
    c.shutdown();
}

/// A storm of 429s, 503s and proxy pages on every refresh never signs the user out.
fn transient_storm_never_signs_out<C: Client>() {
    let server = fake(|_| {});
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
    let first: C = signed_in(&server, false, storage.clone());
    first.shutdown();
    age_stored_session(&*storage, KEY, -10);
    let c = C::build(options(&server, false), storage.clone());
    let events = c.events();
    c.initialize().expect("initialize");
    for fault in [
        Fault::RateLimited { retry_after_secs: None },
        Fault::ServerError { status: 503, html: false },
        Fault::ProxyPage { status: 403 },
        Fault::ServerError { status: 502, html: true },
    ] {
        server.clear_faults();
        server.inject(Target::Refresh, fault.clone(), 1000);
        let err = c.refresh_session().expect_err("refresh fails");
        assert_eq!(err.kind, ErrorKind::RetryableFetch, "{}: {fault:?}: {err}", C::NAME);
        let err = c.get_user().expect_err("no user without a fresh token");
        assert_ne!(err.kind, ErrorKind::SessionMissing, "{}: {fault:?}: {err}", C::NAME);
        assert!(storage.get(KEY).expect("readable").is_some(), "{}: {fault:?} kept the session", C::NAME);
        std::thread::sleep(Duration::from_millis(1_050)); // past the cooldown: a new burst next time
    }
    assert!(!kinds(&collect(&events, SHORT)).contains(&EventKind::SignedOut), "{}: no SIGNED_OUT", C::NAME);
    server.clear_faults();
    assert!(c.refresh_session().expect("the storm is over").is_some());
    c.shutdown();
}

/// Hostile 2xx answers over real HTTP (a body over 1 MiB, a user nested 200 000 levels deep, an
/// HTML page): `invalid_response` saying why, the session kept in memory and in storage, no
/// SIGNED_OUT; once the server behaves, the same session refreshes.
fn hostile_answers_are_refused_and_lose_nothing<C: Client>() {
    let server = fake(|_| {});
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
    let c: C = signed_in(&server, false, storage.clone());
    let events = c.events();
    let stored = storage.get(KEY).expect("readable").expect("stored");
    let deep = format!(r#"{{"id":"u","user_metadata":{}{}}}"#, "[".repeat(200_000), "]".repeat(200_000));
    let huge = format!(r#"{{"access_token":"x","padding":"{}"}}"#, "p".repeat(3 << 20));
    let cases = [
        (Target::Refresh, huge.clone(), "larger than 1048576 bytes"),
        (
            Target::Refresh,
            format!(r#"{{"access_token":"a.b.c","refresh_token":"r","expires_in":3600,"user":{deep}}}"#),
            "nested deeper than 33 levels",
        ),
        (Target::Refresh, "<html>captive portal</html>".to_owned(), "not JSON"),
        (Target::User, deep, "nested deeper than 32 levels"),
        (Target::User, huge, "larger than 1048576 bytes"),
    ];
    for (target, body, why) in cases {
        server.clear_faults();
        server.inject(target, Fault::Raw { status: 200, content_type: Some("application/json".into()), body }, 1);
        let err = match target {
            Target::User => c.get_user().expect_err("a hostile /user answer is no user"),
            _ => c.refresh_session().expect_err("a hostile token answer is no session"),
        };
        assert_eq!(err.kind, ErrorKind::InvalidResponse, "{}: {why}: {err}", C::NAME);
        assert!(err.message.contains(why), "{}: the error says why ({why}): {err}", C::NAME);
        assert_eq!(
            storage.get(KEY).expect("readable").as_deref(),
            Some(stored.as_str()),
            "{}: {why}: storage kept",
            C::NAME
        );
        assert!(c.current_session().is_some(), "{}: {why}: the session is kept", C::NAME);
        std::thread::sleep(Duration::from_millis(1_050)); // past the refresh cooldown
    }
    assert!(!kinds(&collect(&events, SHORT)).contains(&EventKind::SignedOut), "{}: no SIGNED_OUT", C::NAME);
    server.clear_faults();
    assert!(c.refresh_session().expect("the server behaves again").is_some());
    c.get_user().expect("and /user answers");
    c.shutdown();
}

/// Signing out while a refresh is in flight: the late answer never brings the session back.
fn sign_out_during_refresh_never_resurrects<C: Client>() {
    let server = fake(|_| {});
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
    let c = Arc::new(signed_in::<C>(&server, false, storage.clone()));
    let events = c.events();
    server.inject(Target::Refresh, Fault::Latency { ms: 1_500 }, 1);
    // The best-effort logout never arrives, so the server does rotate the token: the answer is
    // a success that must be dropped.
    server.inject(Target::Logout, Fault::Reset, 1);
    let refresher = {
        let c = Arc::clone(&c);
        std::thread::spawn(move || c.refresh_session())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.counters().refresh_requests() == 0 {
        assert!(Instant::now() < deadline, "the refresh never reached the server");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.sign_out(SignOutScope::Local).expect("local sign-out");
    let late = refresher.join().expect("no panic");
    let err = late.expect_err("the late refresh is discarded");
    assert_eq!(err.kind, ErrorKind::RefreshDiscarded, "{}: {err}", C::NAME);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(storage.get(KEY).expect("readable"), None, "{}: still signed out", C::NAME);
    assert!(c.current_session().is_none());
    let seen = kinds(&collect(&events, SHORT));
    assert!(!seen.contains(&EventKind::TokenRefreshed), "{}: {seen:?}", C::NAME);
    c.shutdown();
}

/// The app dies between a refresh answer and its storage write (the write fails, the process
/// ends): the next start uses the old token, which the server accepts as one behind.
fn lost_write_recovers_with_the_old_token<C: Client>() {
    let server = fake(|_| {});
    let flaky = Arc::new(FlakyStorage::new(Arc::new(MemoryStorage::new())));
    let storage: Arc<dyn SessionStorage> = flaky.clone();
    let c: C = signed_in(&server, false, storage.clone());
    let stored_before = storage.get(KEY).expect("readable").expect("stored");
    flaky.fail_writes(1);
    let rotated = c.refresh_session().expect("the refresh itself succeeds").expect("a session");
    c.shutdown(); // killed: the retry of the write never happens
    assert_eq!(
        storage.get(KEY).expect("readable").as_deref(),
        Some(stored_before.as_str()),
        "the old session is what survived"
    );
    let next = C::build(options(&server, false), storage.clone());
    next.initialize().expect("initialize");
    let recovered = next.refresh_session().expect("the one-behind token is accepted").expect("a session");
    // The server answers the one-behind token with the session's active descendant.
    assert_eq!(recovered.user.as_ref().map(|u| u.id.clone()), rotated.user.as_ref().map(|u| u.id.clone()));
    assert!(storage.get(KEY).expect("readable").is_some_and(|v| v.contains(&recovered.refresh_token)));
    assert_eq!(next.get_user().expect("a working session").email.as_deref(), Some(EMAIL));
    next.shutdown();
}

macro_rules! suite {
    ($shell:ident, $client:ty) => {
        mod $shell {
            use super::*;
            #[test]
            fn founding_case_replica_lag_survives_auto_refresh_on() {
                replica_lag_survives::<$client>(true)
            }
            #[test]
            fn founding_case_replica_lag_survives_auto_refresh_off() {
                replica_lag_survives::<$client>(false)
            }
            #[test]
            fn founding_case_revocation_cleans_up_auto_refresh_on() {
                revocation_cleans_up::<$client>(true)
            }
            #[test]
            fn founding_case_revocation_cleans_up_auto_refresh_off() {
                revocation_cleans_up::<$client>(false)
            }
            #[test]
            fn founding_case_replica_lag_outlasting_the_verify_is_unconfirmed_auto_refresh_on() {
                replica_lag_outlasting_the_verify_is_unconfirmed::<$client>(true)
            }
            #[test]
            fn founding_case_replica_lag_outlasting_the_verify_is_unconfirmed_auto_refresh_off() {
                replica_lag_outlasting_the_verify_is_unconfirmed::<$client>(false)
            }
            #[test]
            fn verify_cooldown_suspicion_within_it_makes_no_refresh() {
                suspicion_within_the_cooldown_makes_no_refresh::<$client>()
            }
            #[test]
            fn verify_cooldown_revoked_after_it_is_cleaned_up() {
                revoked_after_the_cooldown_is_cleaned_up::<$client>()
            }
            #[test]
            fn verify_cooldown_is_validated_and_reaches_the_core() {
                super::verify_cooldown_is_validated_and_reaches_the_core::<$client>()
            }
            #[test]
            fn concurrent_get_session_makes_one_refresh() {
                concurrent_get_session_refreshes_once::<$client>()
            }
            #[test]
            fn server_down_at_start_then_back() {
                super::server_down_at_start_then_back::<$client>()
            }
            #[test]
            fn transient_storms_never_sign_out() {
                transient_storm_never_signs_out::<$client>()
            }
            #[test]
            fn hostile_answers_are_refused_and_lose_nothing() {
                super::hostile_answers_are_refused_and_lose_nothing::<$client>()
            }
            #[test]
            fn sign_out_during_refresh_never_resurrects() {
                super::sign_out_during_refresh_never_resurrects::<$client>()
            }
            #[test]
            fn lost_write_recovers_with_the_old_token() {
                super::lost_write_recovers_with_the_old_token::<$client>()
            }
        }
    };
}

suite!(blocking, gotrue_session_blocking::AuthClient);
suite!(tokio, TokioClient);
