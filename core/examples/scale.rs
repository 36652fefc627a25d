//! Scale, for a server that keeps one machine per user: the memory a machine takes (resident
//! set growth, so allocator overhead included), how many sessions fit in 1 GiB, and the time to
//! handle N machines' due refreshes, all at once, in one thread, driven with values (no I/O).
//!
//!     cargo run --release -p gotrue-session --example scale [-- MACHINES]     (default 100000)
//!
//! Heap bytes counted by the allocator (no overhead) come from `cargo bench --bench allocs`.
//! See BENCHMARKS.md.

use gotrue_session::{Command, Config, HttpResponse, Output, RequestId, SessionMachine, StorageOpId};
use std::hint::black_box;
use std::time::Instant;

const NOW: u64 = 1_767_225_601_000;
const KEY: &str = "sb-test-auth-token";
const STORED: &str = include_str!("../benches/data/stored-session.json");
const TOKEN_ANSWER: &str = include_str!("../benches/data/token-answer.json");

fn config(persist: bool) -> Config {
    let mut cfg = Config::new(KEY, "anon-key");
    cfg.jitter = false;
    cfg.auto_refresh = true;
    cfg.persist_session = persist;
    cfg
}

fn token_answer() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-supabase-api-version".to_owned(), "2024-01-01".to_owned()),
        ],
        body: TOKEN_ANSWER.as_bytes().to_vec(),
    }
}

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// What came out of one machine, by kind.
#[derive(Default)]
struct Drained {
    read: Option<StorageOpId>,
    write: Option<StorageOpId>,
    request: Option<RequestId>,
    events: usize,
}

fn drain(m: &mut SessionMachine) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = m.poll_output() {
        match out {
            Output::StorageRead { id, .. } => d.read = Some(id),
            Output::StorageWrite { id, .. } => d.write = Some(id),
            Output::Http(req) => d.request = Some(req.id),
            Output::Event(e) => {
                d.events += 1;
                black_box(e);
            }
            other => {
                black_box(other);
            }
        }
    }
    d
}

/// A machine that read `stored` at start (`None`: nothing stored).
fn restored(stored: Option<&str>) -> SessionMachine {
    let mut m = SessionMachine::new(config(true));
    m.handle_command(NOW, Command::Initialize);
    let read = drain(&mut m).read.expect("initialize reads storage");
    m.handle_storage_read(NOW, read, Ok(stored.map(str::to_owned)));
    drain(&mut m);
    m
}

/// A memory-only machine (no storage) signed in with the token answer.
fn signed_in_in_memory(answer: &HttpResponse) -> SessionMachine {
    let mut m = SessionMachine::new(config(false));
    m.handle_command(NOW, Command::Initialize);
    drain(&mut m);
    let sign_in = Command::SignInWithPassword {
        email: Some("ada.lovelace@example.com".into()),
        phone: None,
        password: "correct horse".into(),
    };
    m.handle_command(NOW, sign_in);
    let req = drain(&mut m).request.expect("sign-in sends a request");
    m.handle_response(NOW, req, answer.clone());
    drain(&mut m);
    m
}

/// Builds `n` machines and reports the resident growth per machine.
fn measure(label: &str, n: usize, build: impl Fn() -> SessionMachine) -> (Vec<SessionMachine>, usize) {
    let before = rss();
    let machines: Vec<SessionMachine> = (0..n).map(|_| build()).collect();
    let per = rss().saturating_sub(before) / n;
    println!("{label:<58} {per:>8} B/machine  ({} machines in 1 GiB)", (1usize << 30) / per.max(1));
    (machines, per)
}

fn timed<T>(label: &str, n: usize, f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    println!("{label:<58} {:>8.1} ms  ({:.2} µs/machine)", secs * 1e3, secs * 1e6 / n as f64);
    (out, secs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, part, n] if flag == "--part" => {
            let n: usize = n.parse().expect("a number of machines");
            match part.as_str() {
                "idle" => idle(n),
                "persisted" => persisted(n),
                "memory" => memory_only(n),
                other => panic!("no part {other}"),
            }
        }
        _ => {
            // Each part in a fresh process: memory freed by one part would otherwise be reused by
            // the next, and its resident growth would read low.
            let n = args.first().cloned().unwrap_or_else(|| "100000".to_owned());
            println!("{n} machines; size_of::<SessionMachine>() = {} B", std::mem::size_of::<SessionMachine>());
            let exe = std::env::current_exe().expect("this program's path");
            for part in ["idle", "persisted", "memory"] {
                let status = std::process::Command::new(&exe).args(["--part", part, &n]).status();
                assert!(status.is_ok_and(|s| s.success()), "part {part} failed");
            }
        }
    }
}

fn idle(n: usize) {
    println!("\n-- memory (resident set growth, allocator overhead included)");
    measure("idle machine (initialized, nothing stored)", n, || restored(None));
}

fn persisted(n: usize) {
    let answer = token_answer();
    println!("\n-- due refreshes, persisted machines (storage re-read before each refresh)");
    let (mut machines, _) = measure("machine holding a session (1.5 KB user)", n, || restored(Some(STORED)));
    let due = machines[0].poll_timeout().expect("auto refresh is armed");
    assert!(machines.iter().all(|m| m.poll_timeout() == Some(due)));
    let (reads, a) = timed("A. handle_timeout + drain -> exclusive StorageRead", n, || {
        machines
            .iter_mut()
            .map(|m| {
                m.handle_timeout(due);
                drain(m).read.expect("a due refresh re-reads storage first")
            })
            .collect::<Vec<_>>()
    });
    let (requests, b) = timed("B. storage value in (1.8 KB) + drain -> refresh request", n, || {
        machines
            .iter_mut()
            .zip(reads)
            .map(|(m, id)| {
                m.handle_storage_read(due, id, Ok(Some(STORED.to_owned())));
                drain(m).request.expect("then sends the refresh")
            })
            .collect::<Vec<_>>()
    });
    let (writes, c) = timed("C. prepared token answer in + drain -> write, event", n, || {
        machines
            .iter_mut()
            .zip(requests)
            .map(|(m, id)| {
                m.handle_response(due, id, answer.clone());
                let d = drain(m);
                assert_eq!(d.events, 1, "TOKEN_REFRESHED");
                d.write.expect("the new session is written")
            })
            .collect::<Vec<_>>()
    });
    let ((), d) = timed("D. write acknowledged", n, || {
        for (m, id) in machines.iter_mut().zip(writes) {
            m.handle_storage_done(due, id, Ok(()));
            drain(m);
        }
    });
    total("A+B: up to the requests, no answer fed", n, a + b);
    total("A..D: with a prepared answer", n, a + b + c + d);
}

fn memory_only(n: usize) {
    let answer = token_answer();
    println!("\n-- due refreshes, memory-only machines (persist_session off: a server's own store)");
    let (mut machines, _) = measure("machine holding a session, memory only", n, || signed_in_in_memory(&answer));
    let due = machines[0].poll_timeout().expect("auto refresh is armed");
    let (requests, a) = timed("A. handle_timeout + drain -> refresh request", n, || {
        machines
            .iter_mut()
            .map(|m| {
                m.handle_timeout(due);
                drain(m).request.expect("a due refresh sends at once")
            })
            .collect::<Vec<_>>()
    });
    let ((), c) = timed("C. prepared token answer in + drain -> TOKEN_REFRESHED", n, || {
        for (m, id) in machines.iter_mut().zip(requests) {
            m.handle_response(due, id, answer.clone());
            assert_eq!(drain(m).events, 1, "TOKEN_REFRESHED");
        }
    });
    total("A: up to the requests, no answer fed", n, a);
    total("A..C: with a prepared answer", n, a + c);
}

fn total(label: &str, n: usize, secs: f64) {
    println!("{:<58} {:>8.1} ms  ({:.2} µs/machine)", format!("= {label}"), secs * 1e3, secs * 1e6 / n as f64);
}
