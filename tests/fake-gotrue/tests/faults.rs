//! Fault injection, the admin routes, malformed requests, keep-alive and shutdown, over real
//! loopback HTTP.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{claims, read_response, request_bytes, send_raw, tokens, Client, IO_TIMEOUT};
use gotrue_fake::{pkce_challenge, FakeGoTrue, Fault, FaultRule, Options, Target};
use serde_json::json;

fn start() -> (FakeGoTrue, Client) {
    let server = FakeGoTrue::start(Options::default()).expect("server starts");
    let client = Client::new(&server);
    (server, client)
}

#[test]
fn latency_delays_then_answers_normally() {
    let (server, c) = start();
    let (_, rt) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::Latency { ms: 150 }, 1);
    let t = Instant::now();
    let r = c.refresh(&rt);
    assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
    assert_eq!(r.status, 200);
    let t = Instant::now();
    let (_, rt2) = tokens(&r.json());
    assert_eq!(c.refresh(&rt2).status, 200);
    assert!(t.elapsed() < Duration::from_millis(150), "the fault was used once");
    assert_eq!(server.counters().faults.get("latency"), Some(&1));
}

#[test]
fn server_errors_in_json_and_html_process_nothing() {
    let (server, c) = start();
    let (_, rt) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::ServerError { status: 503, html: false }, 1);
    server.inject(Target::Refresh, Fault::ServerError { status: 502, html: true }, 1);
    let r = c.refresh(&rt);
    assert_eq!((r.status, r.code()), (503, "unexpected_failure".to_owned()));
    assert_eq!(r.header("x-supabase-api-version"), Some("2024-01-01"));
    let r = c.refresh(&rt);
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("502 Bad Gateway"));
    assert_eq!(server.sessions()[0].rotations, 0, "a faulted request never reached GoTrue");
    assert_eq!(server.counters().refresh_requests(), 2);
    assert_eq!(server.counters().refreshes_handled(), 0);
    assert_eq!(c.refresh(&rt).status, 200);
}

#[test]
fn rate_limit_with_retry_after_and_conflict() {
    let (server, c) = start();
    let (at, rt) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::RateLimited { retry_after_secs: Some(7) }, 1);
    server.inject(Target::Refresh, Fault::Conflict, 1);
    server.inject(Target::User, Fault::RateLimited { retry_after_secs: None }, 1);
    let r = c.refresh(&rt);
    assert_eq!((r.status, r.code()), (429, "over_request_rate_limit".to_owned()));
    assert_eq!(r.header("retry-after"), Some("7"));
    let r = c.refresh(&rt);
    assert_eq!((r.status, r.code()), (409, "conflict".to_owned()));
    let r = c.user(&at);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_none());
}

#[test]
fn reset_before_processing() {
    let (server, c) = start();
    let (_, rt) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::Reset, 1);
    let e = c.try_refresh(&rt).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    assert_eq!(server.sessions()[0].rotations, 0);
    assert_eq!(c.refresh(&rt).status, 200);
}

#[test]
fn reset_after_commit_then_the_lost_answer_is_recovered_one_behind() {
    let (server, c) = start();
    let (_, rt0) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::ResetAfterCommit, 1);
    let e = c.try_refresh(&rt0).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    let s = &server.sessions()[0];
    assert_eq!(s.rotations, 1, "the server rotated");
    let rt1 = s.active_refresh_token.clone().unwrap();
    let r = c.refresh(&rt0);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["refresh_token"], rt1.as_str());
    let log = server.requests();
    assert_eq!(log.iter().filter(|r| r.fault.as_deref() == Some("reset_after_commit")).count(), 1);
    assert_eq!(log.iter().find(|r| r.fault.is_some()).unwrap().status, None);
}

#[test]
fn truncated_answer_after_commit() {
    let (server, c) = start();
    let (_, rt) = tokens(&c.sign_in());
    server.inject(Target::Refresh, Fault::Truncated, 1);
    let e = c.try_refresh(&rt).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert_eq!(server.sessions()[0].rotations, 1);
}

#[test]
fn proxy_page_empty_body_and_raw_answers() {
    let (server, c) = start();
    let (at, _) = tokens(&c.sign_in());
    server.inject(Target::User, Fault::ProxyPage { status: 403 }, 1);
    server.inject(Target::User, Fault::EmptyBody { status: 502 }, 1);
    let raw = Fault::Raw { status: 200, content_type: Some("application/json".into()), body: "not json".into() };
    server.inject(Target::User, raw, 1);
    let r = c.user(&at);
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("Cloudflare"));
    assert!(r.header("x-sb-error-code").is_none());
    let r = c.user(&at);
    assert_eq!((r.status, r.body.len()), (502, 0));
    let r = c.user(&at);
    assert_eq!((r.status, r.text().as_str()), (200, "not json"));
    assert_eq!(c.user(&at).json()["email"], "ada@example.com");
}

#[test]
fn faults_are_consumed_in_order_and_by_target() {
    let (server, c) = start();
    let (at, rt) = tokens(&c.sign_in());
    server.inject(Target::Token, Fault::ServerError { status: 500, html: false }, 2);
    server.inject(Target::Any, Fault::EmptyBody { status: 504 }, 1);
    assert_eq!(server.faults().len(), 2);
    assert_eq!(c.user(&at).status, 504, "the token fault does not match /user; the any fault does");
    assert_eq!(c.refresh(&rt).status, 500);
    assert_eq!(c.password("ada@example.com", "correct horse").status, 500);
    assert!(server.faults().is_empty());
    assert_eq!(c.refresh(&rt).status, 200);
    server.inject(Target::Logout, Fault::Conflict, 3);
    server.clear_faults();
    assert!(server.faults().is_empty());
}

#[test]
fn down_resets_everything_but_admin() {
    let (server, c) = start();
    let r = c.admin("POST", "/admin/down", Some(&json!({"down": true})));
    assert_eq!(r.json(), json!({"down": true}));
    let e = c.call("POST", "/token?grant_type=password", None, Some(&json!({}))).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    assert_eq!(server.counters().faults.get("down"), Some(&1));
    c.admin("POST", "/admin/down", Some(&json!({"down": false})));
    c.sign_in();
}

#[test]
fn admin_routes_drive_the_server_over_http() {
    let (server, c) = start();
    let cfg = c.admin("GET", "/admin/config", None).json();
    assert_eq!(cfg["url"], server.url());
    assert_eq!(cfg["anon_key"], server.anon_key());
    // Users and sessions.
    let r = c.admin("POST", "/admin/users", Some(&json!({"email": "bo@example.com", "password": "pw-bo"})));
    assert!(r.json()["id"].is_string());
    assert_eq!(c.admin("POST", "/admin/users", Some(&json!({"email": "bo@example.com", "password": "x"}))).status, 400);
    let (at, rt) = tokens(&c.password("bo@example.com", "pw-bo").json());
    let issued = c.admin("POST", "/admin/sessions", Some(&json!({"email": "ada@example.com"}))).json();
    assert!(issued["access_token"].is_string());
    let list = c.admin("GET", "/admin/sessions?email=bo@example.com", None).json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(list["sessions"][0]["id"], claims(&at)["session_id"]);
    // Revocation by email, then by session id.
    let r = c.admin("POST", "/admin/sessions/revoke", Some(&json!({"email": "bo@example.com"})));
    assert_eq!(r.json(), json!({"revoked": 1}));
    assert_eq!(c.user(&at).code(), "session_not_found");
    let sid = claims(issued["access_token"].as_str().unwrap())["session_id"].clone();
    let r = c.admin("POST", "/admin/sessions/revoke", Some(&json!({"session_id": sid})));
    assert_eq!(r.json()["revoked"], 1);
    assert_eq!(c.admin("POST", "/admin/sessions/revoke", Some(&json!({"session_id": sid}))).status, 404);
    // Faults.
    let rule = json!({"target": "refresh", "fault": {"kind": "rate_limited", "retry_after_secs": 2}, "count": 1});
    let r = c.admin("POST", "/admin/faults", Some(&rule));
    assert_eq!(r.json()["faults"].as_array().unwrap().len(), 1);
    assert_eq!(c.refresh(&rt).status, 429);
    let many = json!({"faults": [{"fault": {"kind": "conflict"}}, {"target": "user", "fault": {"kind": "reset"}}]});
    assert_eq!(c.admin("POST", "/admin/faults", Some(&many)).json()["faults"].as_array().unwrap().len(), 2);
    assert_eq!(c.admin("DELETE", "/admin/faults", None).json(), json!({"faults": []}));
    assert_eq!(c.admin("POST", "/admin/faults", Some(&json!({"fault": {"kind": "explode"}}))).status, 400);
    // Replica lag, clock, counters, log.
    let lag = c.admin("POST", "/admin/replica-lag", Some(&json!({"window_ms": 5000}))).json();
    assert_eq!(lag, json!({"window_ms": 5000, "misses": 0, "after_create": true, "after_refresh": true}));
    let (at2, _) = tokens(&c.sign_in());
    assert_eq!(c.user(&at2).code(), "session_not_found");
    let clock = c.admin("POST", "/admin/clock", Some(&json!({"advance_ms": 5000}))).json();
    assert!(clock["offset_ms"].as_i64().unwrap() >= 5000);
    assert_eq!(c.user(&at2).status, 200);
    c.admin("POST", "/admin/replica-lag", Some(&json!({"window_ms": 0, "misses": 1})));
    let (at3, _) = tokens(&c.sign_in());
    assert_eq!(c.user(&at3).code(), "session_not_found");
    assert_eq!(c.user(&at3).status, 200);
    c.admin("POST", "/admin/replica-lag", Some(&json!({"window_ms": 0})));
    c.admin("POST", "/admin/clock", Some(&json!({"offset_ms": 0})));
    let counters = c.admin("GET", "/admin/counters", None).json();
    assert_eq!(counters["received"]["token:refresh_token"], 1);
    assert!(counters["received"]["user"].as_u64().unwrap() >= 5);
    let log = c.admin("GET", "/admin/requests", None).json();
    assert!(log["requests"].as_array().unwrap().iter().any(|r| r["error_code"] == "over_request_rate_limit"));
    c.admin("POST", "/admin/counters/reset", None);
    assert_eq!(server.counters().requests, 0);
    // Codes for sign-ins.
    let code = c
        .admin(
            "POST",
            "/admin/pkce-codes",
            Some(&json!({"email": "ada@example.com", "code_challenge": pkce_challenge("v-123")})),
        )
        .json();
    let r = c.must(
        "POST",
        "/token?grant_type=pkce",
        None,
        Some(&json!({"auth_code": code["auth_code"], "code_verifier": "v-123"})),
    );
    assert_eq!(r.status, 200);
    let otp = c.admin("POST", "/admin/otps", Some(&json!({"email": "ada@example.com", "type": "magiclink"}))).json();
    let r = c.must("POST", "/verify", None, Some(&json!({"type": "magiclink", "token_hash": otp["token_hash"]})));
    assert_eq!(r.status, 200);
    let idt = c.admin("POST", "/admin/id-tokens", Some(&json!({"email": "cy@example.com"}))).json();
    let r = c.must(
        "POST",
        "/token?grant_type=id_token",
        None,
        Some(&json!({"provider": "google", "id_token": idt["id_token"]})),
    );
    assert_eq!(r.status, 200);
    // Ban, delete, errors.
    c.admin("POST", "/admin/users/ban", Some(&json!({"email": "ada@example.com"})));
    assert_eq!(c.password("ada@example.com", "correct horse").code(), "user_banned");
    c.admin("POST", "/admin/users/unban", Some(&json!({"email": "ada@example.com"})));
    c.admin("POST", "/admin/users/delete", Some(&json!({"email": "cy@example.com"})));
    assert_eq!(c.admin("POST", "/admin/users/delete", Some(&json!({"email": "cy@example.com"}))).status, 404);
    assert_eq!(c.admin("GET", "/admin/nope", None).status, 404);
    assert_eq!(c.admin("POST", "/admin/users", Some(&json!("not an object"))).status, 400);
    let bad = send_raw(server.addr(), &request_bytes("POST", "/admin/down", &[], Some(b"{not json"))).unwrap();
    assert_eq!(bad.status, 400);
}

#[test]
fn malformed_requests_get_4xx_and_the_server_lives_on() {
    let (server, c) = start();
    let addr = server.addr();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400),
        (b"GET /user HTTP/2.0\r\n\r\n".to_vec(), 505),
        (b"GET /user HTTP/1.1\r\n bad: fold\r\n\r\n".to_vec(), 400),
        (b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"POST /token HTTP/1.1\r\nContent-Length: abc\r\n\r\n".to_vec(), 400),
        (b"POST /token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 501),
        (format!("GET /user HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(), 431),
        (b"POST /token HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n".to_vec(), 413),
    ];
    for (raw, status) in cases {
        let r = send_raw(addr, &raw).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&raw[..20])));
        assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&raw[..raw.len().min(40)]));
    }
    // A body over the limit, actually sent: the refusal still arrives.
    let mut big = b"POST /auth/v1/signup HTTP/1.1\r\nContent-Length: 200000\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 200_000));
    assert_eq!(send_raw(addr, &big).unwrap().status, 413);
    // Bad JSON reaches GoTrue's parser.
    let r = send_raw(
        addr,
        &request_bytes(
            "POST",
            "/auth/v1/signup",
            &[("apikey", server.anon_key()), ("X-Supabase-Api-Version", "2024-01-01")],
            Some(b"{\"email\":"),
        ),
    )
    .unwrap();
    assert_eq!((r.status, r.code()), (400, "bad_json".to_owned()));
    // A client that connects and says nothing, one that closes half-way: no harm done.
    let silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"POST /auth/v1/token HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"a\"").unwrap();
    drop(half);
    assert!(server.counters().rejected >= 9);
    c.sign_in();
    drop(silent);
}

#[test]
fn keep_alive_and_expect_continue() {
    let (server, _c) = start();
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let key = server.anon_key().to_owned();
    for _ in 0..3 {
        write!(s, "GET /auth/v1/health HTTP/1.1\r\nHost: x\r\napikey: {key}\r\n\r\n").unwrap();
        let r = read_response(&mut s).unwrap();
        assert_eq!(r.status, 200);
        assert!(r.header("connection").is_none());
    }
    assert_eq!(server.counters().connections, 1);
    let body = json!({"email": "ada@example.com", "password": "correct horse"}).to_string();
    write!(
        s,
        "POST /auth/v1/token?grant_type=password HTTP/1.1\r\nHost: x\r\napikey: {key}\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let cont = read_response(&mut s).unwrap();
    assert_eq!(cont.status, 100);
    s.write_all(body.as_bytes()).unwrap();
    let r = read_response(&mut s).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed after Connection: close");
}

#[test]
fn shutdown_is_prompt_even_with_idle_and_sleeping_connections() {
    let (server, c) = start();
    let (_, rt) = tokens(&c.sign_in());
    let mut idle = TcpStream::connect(server.addr()).unwrap();
    idle.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    server.inject(Target::Refresh, Fault::Latency { ms: 60_000 }, 1);
    let addr = server.addr();
    let key = server.anon_key().to_owned();
    let sleeper = thread::spawn(move || {
        let body = json!({"refresh_token": rt}).to_string();
        let raw = request_bytes(
            "POST",
            "/auth/v1/token?grant_type=refresh_token",
            &[("apikey", &key)],
            Some(body.as_bytes()),
        );
        send_raw(addr, &raw)
    });
    // Let the sleeper's request arrive.
    let deadline = Instant::now() + IO_TIMEOUT;
    while server.counters().refresh_requests() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let mut buf = [0u8; 1];
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));
    let _ = sleeper.join().unwrap();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(), "nothing listens any more");
}

#[test]
fn admin_shutdown_ends_wait() {
    let server = FakeGoTrue::start(Options::default()).unwrap();
    let c = Client::new(&server);
    let waiter = thread::spawn(move || server.wait());
    let r = c.admin("POST", "/admin/shutdown", None);
    assert_eq!(r.json(), json!({"stopping": true}));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !waiter.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(waiter.is_finished());
    waiter.join().unwrap();
}

#[test]
fn fault_rules_round_trip_through_serde() {
    let rule = FaultRule { target: Target::Pkce, fault: Fault::ResetAfterCommit, count: 3 };
    let v = serde_json::to_value(&rule).unwrap();
    assert_eq!(v, json!({"target": "pkce", "fault": {"kind": "reset_after_commit"}, "count": 3}));
    assert_eq!(serde_json::from_value::<FaultRule>(v).unwrap(), rule);
}
