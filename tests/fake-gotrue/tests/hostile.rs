//! Hostile clients over real loopback: header floods, oversized or lying bodies, slow
//! connections (slowloris) and garbage. After each, the server must still answer a normal
//! request, and no server thread may have panicked.
//!
//! Every socket has read and write timeouts (`IO_TIMEOUT`), so a server that hangs fails a test
//! instead of hanging it.

mod common;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use common::{read_response, request_bytes, Client, IO_TIMEOUT};
use gotrue_fake::{FakeGoTrue, Options};

/// Panics in the server's threads (named `gotrue-fake-...`), counted by a panic hook.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn start(options: Options) -> FakeGoTrue {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name().is_some_and(|n| n.starts_with("gotrue-fake")) {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            // Still printed on stderr.
            report(info);
        }));
    });
    FakeGoTrue::start(options).expect("server starts")
}

/// Stops the server (which joins all its threads), then checks none of them panicked.
fn finish(server: FakeGoTrue) {
    server.shutdown();
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0, "a server thread panicked (see stderr)");
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

/// Whether an I/O error means the peer closed (as opposed to a timeout).
fn is_close(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Writes `bytes`, stopping early if the server hangs up (it may refuse before reading it all).
/// Returns whether everything was written. A write timeout fails the test.
fn send(s: &mut TcpStream, bytes: &[u8]) -> bool {
    match s.write_all(bytes) {
        Ok(()) => true,
        Err(e) if is_close(&e) => false,
        Err(e) => panic!("the server neither read nor closed: {e}"),
    }
}

/// The status of the answer, or `None` if the server closed without one. A read timeout (the
/// server neither answered nor closed) fails the test.
fn answer(s: &mut TcpStream) -> Option<u16> {
    match read_response(s) {
        Ok(r) => Some(r.status),
        Err(e) if is_close(&e) => None,
        Err(e) => panic!("the server neither answered nor closed: {e}"),
    }
}

/// Sends `bytes` on a new connection and returns the answer's status (`None`: closed).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = connect(addr);
    send(&mut s, bytes);
    answer(&mut s)
}

/// A normal request on a new connection gets a correct answer.
fn assert_serves(server: &FakeGoTrue) {
    let r = Client::new(server).must("GET", "/health", None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "GoTrue");
}

/// [`assert_serves`], retried until `IO_TIMEOUT` passes: for when the server frees connection
/// slots asynchronously (a refused attempt is reset).
fn assert_serves_soon(server: &FakeGoTrue) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match Client::new(server).call("GET", "/health", None, None) {
            Ok(r) => {
                assert_eq!(r.status, 200, "{}", r.text());
                return;
            }
            Err(e) if is_close(&e) && Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("no slot came free within {IO_TIMEOUT:?}: {e}"),
        }
    }
}

/// Waits (bounded) until the server has accepted `n` connections in all.
fn wait_for_accepted(server: &FakeGoTrue, n: u64) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while server.counters().connections < n {
        assert!(Instant::now() < deadline, "accepted {} of {n} connections", server.counters().connections);
        thread::sleep(Duration::from_millis(2));
    }
}

/// A head with `extra` header lines after `Host`, ending in a blank line.
fn head_with(extra: &[String]) -> Vec<u8> {
    let mut out = b"GET /auth/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
    for line in extra {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn header_floods_get_431() {
    let server = start(Options::default());
    let addr = server.addr();
    let key = format!("apikey: {}", server.anon_key());
    // 10,000 headers (about 170 KB): refused at the head limit (16 KiB); a refusal may come as a
    // close if the server hangs up while the rest is still arriving.
    let flood: Vec<String> = (0..10_000).map(|i| format!("X-Flood-{i}: v")).collect();
    let r = exchange(addr, &head_with(&flood));
    assert!(matches!(r, Some(431) | None), "{r:?}");
    assert_serves(&server);
    // 65 small headers (well under 16 KiB) are over the count limit of 64; 64 pass.
    let mut many: Vec<String> = (0..62).map(|i| format!("X-Many-{i}: v")).collect();
    many.push(key); // With Host: 64.
    assert_eq!(exchange(addr, &head_with(&many)), Some(200), "64 headers are fine");
    many.push("X-One-Too-Many: v".to_owned());
    assert_eq!(exchange(addr, &head_with(&many)), Some(431));
    assert_serves(&server);
    // One header line over 8 KiB, in a head under 16 KiB.
    assert_eq!(exchange(addr, &head_with(&[format!("X-Long: {}", "a".repeat(8 * 1024))])), Some(431));
    assert_serves(&server);
    finish(server);
}

#[test]
fn an_endless_header_line_is_refused_after_a_bounded_read() {
    let server = start(Options::default());
    let mut s = connect(server.addr());
    // A header line that never ends: the server must not wait for its end, nor read all of it.
    // It answers 431 and hangs up after at most 16 KiB + a 1 MiB drain, so writing fails long
    // before 64 MiB (loopback socket buffers hold a few MiB at most).
    assert!(send(&mut s, b"GET /auth/v1/health HTTP/1.1\r\nX-Endless: "));
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 << 20 && send(&mut s, &chunk) {
        sent += chunk.len();
    }
    assert!(sent < 64 << 20, "the server read 64 MiB of one header line");
    let r = answer(&mut s);
    assert!(matches!(r, Some(431) | None), "{r:?}");
    assert_serves(&server);
    finish(server);
}

#[test]
fn a_content_length_over_the_limit_gets_413_without_the_body() {
    let server = start(Options::default());
    let addr = server.addr();
    // Refused from the head alone: no body is sent, and the answer must not wait for one.
    for length in ["65537", "1073741824", "18446744073709551616", "99999999999999999999999999999"] {
        let head = format!("POST /auth/v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
        assert_eq!(exchange(addr, head.as_bytes()), Some(413), "Content-Length {length}");
        assert_serves(&server);
    }
    // The largest accepted body (64 KiB; real requests are a few hundred bytes) is read.
    let fields = r#"{"email":"ada@example.com","password":"correct horse","pad":""}"#;
    let pad = "x".repeat(64 * 1024 - fields.len());
    let body = format!(r#"{{"email":"ada@example.com","password":"correct horse","pad":"{pad}"}}"#);
    assert_eq!(body.len(), 64 * 1024);
    let raw = request_bytes(
        "POST",
        "/auth/v1/token?grant_type=password",
        &[("apikey", server.anon_key())],
        Some(body.as_bytes()),
    );
    assert_eq!(exchange(addr, &raw), Some(200));
    finish(server);
}

#[test]
fn malformed_content_lengths_get_400() {
    let server = start(Options::default());
    let cases = [
        "Content-Length: -1",
        "Content-Length: abc",
        "Content-Length: ",
        "Content-Length: +5",
        "Content-Length: 0x10",
        "Content-Length: 1e3",
        "Content-Length: 5, 5",
        "Content-Length: 5\r\nContent-Length: 6",
    ];
    for cl in cases {
        let raw = format!("POST /auth/v1/signup HTTP/1.1\r\nHost: x\r\n{cl}\r\n\r\nhello");
        assert_eq!(exchange(server.addr(), raw.as_bytes()), Some(400), "{cl:?}");
        assert_serves(&server);
    }
    finish(server);
}

#[test]
fn a_lying_content_length_times_out_that_connection_only() {
    let server = start(Options { request_timeout: Duration::from_secs(1), ..Options::default() });
    let t = Instant::now();
    let mut liar = connect(server.addr());
    // 100 bytes announced, 9 sent, then silence.
    assert!(send(&mut liar, b"POST /auth/v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"email\":"));
    // Meanwhile others are served.
    assert_serves(&server);
    assert_eq!(answer(&mut liar), Some(408));
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_serves(&server);
    finish(server);
}

#[test]
fn two_hundred_slow_connections_do_not_hold_up_a_normal_request() {
    // A long request timeout: the slow connections stay open for the whole test.
    let server = start(Options { request_timeout: Duration::from_secs(60), ..Options::default() });
    let addr = server.addr();
    // Half say nothing at all; half start a request and add a byte now and then.
    let mut slow: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
    for s in &mut slow[100..] {
        assert!(send(s, b"GET /auth/v1/health HTTP/1.1\r\nHost"));
    }
    wait_for_accepted(&server, 200);
    // IO_TIMEOUT bounds "promptly": a server that served connections in turn would wait for the
    // slow ones first.
    assert_serves(&server);
    for s in &mut slow[100..] {
        assert!(send(s, b":"));
    }
    assert_serves(&server);
    drop(slow);
    assert_serves(&server);
    finish(server);
}

#[test]
fn connections_over_the_cap_are_closed_and_slots_come_back_when_slow_ones_leave() {
    let server = start(Options { max_connections: 8, request_timeout: Duration::from_secs(60), ..Options::default() });
    let addr = server.addr();
    let slow: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();
    wait_for_accepted(&server, 8);
    // A ninth connection is reset unanswered (the reset may even beat the end of `connect`).
    match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
        Ok(mut ninth) => {
            ninth.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            ninth.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
            send(&mut ninth, &request_bytes("GET", "/auth/v1/health", &[("apikey", server.anon_key())], None));
            assert_eq!(answer(&mut ninth), None);
        }
        Err(e) => assert!(is_close(&e), "{e}"),
    }
    // The slow clients leave: their threads end, and the slots serve again.
    drop(slow);
    assert_serves_soon(&server);
    finish(server);
}

#[test]
fn slow_connections_time_out_and_free_their_slots() {
    let timeout = Duration::from_millis(500);
    let server = start(Options { max_connections: 8, request_timeout: timeout, ..Options::default() });
    let addr = server.addr();
    let t = Instant::now();
    // All 8 slots: 4 connections that say nothing, 4 that send a byte every 100 ms.
    let mut silent: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    let mut dribblers: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    let writers: Vec<_> = dribblers
        .iter()
        .map(|s| {
            let mut w = s.try_clone().unwrap();
            thread::spawn(move || {
                // Until the server hangs up (bounded by IO_TIMEOUT anyway).
                let request = b"GET /auth/v1/health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
                for b in request.take(50) {
                    if w.write_all(&[*b]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    for s in &mut silent {
        assert_eq!(answer(s), None, "a connection that sent nothing is closed without an answer");
    }
    for s in &mut dribblers {
        assert_eq!(answer(s), Some(408), "a request still incomplete after the timeout");
    }
    assert!(t.elapsed() >= timeout, "{:?}", t.elapsed());
    assert_serves_soon(&server);
    for w in writers {
        w.join().unwrap();
    }
    finish(server);
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn garbage_gets_400_or_a_close() {
    let server = start(Options::default());
    let addr = server.addr();
    // (what, bytes, whether the client then closes its side, the expected answer)
    let exact: Vec<(&str, Vec<u8>, bool, Option<u16>)> = vec![
        ("HTTP/0.9 request line", b"GET /\r\n".to_vec(), false, Some(400)),
        ("no version", b"GET /auth/v1/health\r\n\r\n".to_vec(), false, Some(400)),
        ("no target", b"GET HTTP/1.1\r\n\r\n".to_vec(), false, Some(400)),
        ("two spaces", b"GET  /auth/v1/health HTTP/1.1\r\n\r\n".to_vec(), false, Some(400)),
        ("four parts", b"GET / HTTP/1.1 x\r\n\r\n".to_vec(), false, Some(400)),
        ("bad version", b"GET / FTP/1.1\r\n\r\n".to_vec(), false, Some(400)),
        ("empty request line", b"\r\n\r\n".to_vec(), false, Some(400)),
        ("NUL in the method", b"G\0T / HTTP/1.1\r\n\r\n".to_vec(), false, Some(400)),
        ("bad UTF-8 in the path", b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(), false, Some(400)),
        ("bad UTF-8 in a header value", b"GET / HTTP/1.1\r\nX-A: \xc3\x28\r\n\r\n".to_vec(), false, Some(400)),
        ("bad UTF-8 in a header name", b"GET / HTTP/1.1\r\n\xff: v\r\n\r\n".to_vec(), false, Some(400)),
        ("NUL in a header value", b"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n".to_vec(), false, Some(400)),
        (
            "a 100 KB request line",
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100_000)).into_bytes(),
            false,
            Some(414),
        ),
        ("a truncated head, then close", b"GET /auth/v1/health HTTP/1.1\r\nHo".to_vec(), true, None),
        (
            "a truncated body, then close",
            b"POST /auth/v1/signup HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"a\"".to_vec(),
            true,
            None,
        ),
    ];
    for (what, bytes, close, expected) in exact {
        let mut s = connect(addr);
        send(&mut s, &bytes);
        if close {
            let _ = s.shutdown(Shutdown::Write);
        }
        assert_eq!(answer(&mut s), expected, "{what}");
        assert_serves(&server);
    }
    // Random bytes and a binary blob: whatever they parse as, a 4xx or a close. The client then
    // closes its side, so a head that never ends is not waited out.
    let blobs = [noise(512, 1), noise(64 * 1024, 2), (0..=255u8).cycle().take(20_000).collect(), vec![0u8; 4096]];
    for blob in blobs {
        let mut s = connect(addr);
        send(&mut s, &blob);
        let _ = s.shutdown(Shutdown::Write);
        let r = answer(&mut s);
        assert!(matches!(r, None | Some(400..=499)), "{} bytes: {r:?}", blob.len());
        assert_serves(&server);
    }
    finish(server);
}
