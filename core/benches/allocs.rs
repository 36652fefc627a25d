//! Allocations per operation, counted by a wrapper around the system allocator:
//! `cargo bench -p gotrue-session --bench allocs`. Timings come from the `core` bench (this
//! counting allocator would slow them down). See BENCHMARKS.md.

mod common;

use common::*;
use gotrue_session::classify::classify_response;
use gotrue_session::storage::{parse_stored_session, serialize_session};
use gotrue_session::wire::parse_token_answer;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RUNS: usize = 1_000;

/// Allocations, reallocations and bytes requested (realloc growth included) per run of `op`, after a warm-up run.
/// `setup` builds each run's input outside the count.
fn count<S, T>(name: &str, mut setup: impl FnMut() -> S, mut op: impl FnMut(&mut S) -> T) {
    let mut input = setup();
    black_box(op(&mut input));
    let (mut allocs, mut reallocs, mut bytes) = (0, 0, 0);
    for _ in 0..RUNS {
        let mut input = setup();
        let region = Region::new(GLOBAL);
        let out = op(&mut input);
        let stats = region.change();
        drop(black_box(out));
        allocs += stats.allocations;
        reallocs += stats.reallocations;
        bytes += stats.bytes_allocated; // realloc growth included
    }
    println!(
        "{name:<44} {:>8.1} {:>8.1} {:>10.0}",
        allocs as f64 / RUNS as f64,
        reallocs as f64 / RUNS as f64,
        bytes as f64 / RUNS as f64
    );
}

/// The same, on one long-lived input (steady state: the op is repeatable on it).
fn count_on<S, T>(name: &str, input: &mut S, mut op: impl FnMut(&mut S) -> T) {
    count(name, || (), |_| op(&mut *input));
}

/// Heap bytes still held per value after building `n` of them (the machine itself included:
/// they sit in one vector), as the allocator counts them (no allocator overhead).
fn retained<T>(name: &str, n: usize, build: impl Fn() -> T) {
    let region = Region::new(GLOBAL);
    let mut kept = Vec::with_capacity(n);
    kept.extend((0..n).map(|_| build()));
    let s = region.change();
    let held = s.bytes_allocated as i64 - s.bytes_deallocated as i64; // realloc changes included
    let blocks = s.allocations as i64 - s.deallocations as i64;
    println!("{name:<44} {:>8.1} {:>8} {:>10.0}", blocks as f64 / n as f64, "-", held as f64 / n as f64);
    drop(black_box(kept));
}

fn main() {
    // `cargo bench` passes `--bench`; a filter is not supported here.
    sanity();
    println!("{:<44} {:>8} {:>8} {:>10}", "operation", "allocs", "reallocs", "bytes");

    count("core/restore_stored_session", || Shell::with_stored(Some(STORED)), |shell| restore(config(), shell, NOW));
    let (mut m, mut shell) = ready();
    count_on("core/get_session_not_due", &mut (&mut m, &mut shell), |(m, s)| get_session(m, s));
    let answer = response(200, TOKEN_ANSWER);
    count_on("core/refresh_cycle", &mut (&mut m, &mut shell), |(m, s)| refresh_cycle(m, s, &answer));
    let alive = alive_answers();
    count_on("core/verify_session_not_found/alive", &mut (&mut m, &mut shell), |(m, s)| verify_alive(m, s, &alive));
    let revoked = revoked_answers();
    count("core/verify_session_not_found/revoked", ready, |(m, s)| verify_revoked(m, s, &revoked));

    let mut mem = memory_only_signed_in();
    count_on("step/handle_timeout_nothing_due", &mut mem, step_timeout);
    count_on("step/get_session_memory_only", &mut mem, step_get_session);

    // What the bench's own shell allocates inside those numbers (it stands in for a real one).
    count("shell share: one scripted answer (clone)", || (), |_| answer.clone());
    count("shell share: one storage read (clone)", || (), |_| shell.stored.clone());

    let snf = response(400, SESSION_NOT_FOUND);
    count("classify/400_session_not_found", || (), |_| classify_response(&snf, NOW));
    let html = response(502, PROXY_HTML);
    count("classify/502_proxy_html", || (), |_| classify_response(&html, NOW));

    let body = TOKEN_ANSWER.as_bytes();
    count("floor/json_value_token_answer", || (), |_| serde_json::from_slice::<serde_json::Value>(body));
    count("floor/parse_token_answer", || (), |_| parse_token_answer(body, NOW as i64));
    count("floor/parse_stored_session", || (), |_| parse_stored_session(STORED));
    let session = parse_stored_session(STORED).expect("a session");
    count("floor/serialize_session", || (), |_| serialize_session(&session));
    count("floor/clone_session", || (), |_| session.clone());

    println!("\n{:<44} {:>8} {:>8} {:>10}", "held per machine (live)", "blocks", "", "bytes");
    retained("scale/idle_machine (nothing stored)", 1_000, || {
        let mut shell = Shell::with_stored(None);
        restore(config(), &mut shell, NOW)
    });
    retained("scale/machine_with_session (1.5 KB user)", 1_000, || {
        let mut shell = Shell::with_stored(Some(STORED));
        restore(config(), &mut shell, NOW)
    });
}
