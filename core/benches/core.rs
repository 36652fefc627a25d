//! Timings of the core's operations, driven with values (no I/O): `cargo bench -p gotrue-session
//! --bench core`. Allocations per operation come from the `allocs` bench. See BENCHMARKS.md.

mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gotrue_session::classify::{classify_response, classify_transport};
use gotrue_session::limits::JsonLimits;
use gotrue_session::storage::{parse_stored_session, serialize_session};
use gotrue_session::wire::parse_token_answer;
use gotrue_session::{requests, RequestId, TransportFailure};
use std::hint::black_box;
use std::time::Duration;

fn operations(c: &mut Criterion) {
    sanity();
    let mut g = c.benchmark_group("core");

    g.bench_function("restore_stored_session", |b| {
        b.iter_with_large_drop(|| {
            let mut shell = Shell::with_stored(Some(STORED));
            (restore(config(), &mut shell, NOW), shell)
        })
    });

    let (mut m, mut shell) = ready();
    g.bench_function("get_session_not_due", |b| b.iter(|| get_session(&mut m, &mut shell)));

    let (mut m, mut shell) = ready();
    let answer = response(200, TOKEN_ANSWER);
    g.bench_function("refresh_cycle", |b| b.iter(|| refresh_cycle(&mut m, &mut shell, &answer)));

    let (mut m, mut shell) = ready();
    let alive = alive_answers();
    g.bench_function("verify_session_not_found/alive", |b| b.iter(|| verify_alive(&mut m, &mut shell, &alive)));

    let revoked = revoked_answers();
    g.bench_function("verify_session_not_found/revoked", |b| {
        b.iter_batched_ref(ready, |(m, shell)| verify_revoked(m, shell, &revoked), BatchSize::SmallInput)
    });
    g.finish();

    // The steps the FFI benches time from C and Kotlin (benchmarks/ffi), here without a boundary.
    let mut g = c.benchmark_group("step");
    let mut m = memory_only_signed_in();
    assert_eq!(step_timeout(&mut m), 0);
    assert_eq!(step_get_session(&mut m), 1);
    g.bench_function("trivial_poll_timeout", |b| b.iter(|| black_box(&m).poll_timeout()));
    g.bench_function("handle_timeout_nothing_due", |b| b.iter(|| step_timeout(&mut m)));
    g.bench_function("get_session_memory_only", |b| b.iter(|| step_get_session(&mut m)));
    g.finish();

    let mut g = c.benchmark_group("classify");
    let cases = [
        ("400_session_not_found", response(400, SESSION_NOT_FOUND)),
        ("400_refresh_token_not_found", response(400, REFRESH_TOKEN_NOT_FOUND)),
        ("502_proxy_html", response(502, PROXY_HTML)),
        ("429_retry_after", {
            let mut r = response(429, r#"{"code":"over_request_rate_limit","message":"Request rate limit reached"}"#);
            r.headers.push(("retry-after".to_owned(), "30".to_owned()));
            r
        }),
    ];
    for (name, resp) in &cases {
        g.bench_function(*name, |b| b.iter(|| classify_response(black_box(resp), NOW)));
    }
    let failure = TransportFailure::new("connection reset");
    g.bench_function("transport_failure", |b| b.iter(|| classify_transport(black_box(&failure))));
    g.finish();

    // The pieces of the refresh cycle, alone: where its time goes, and the floor under it.
    let mut g = c.benchmark_group("floor");
    let body = TOKEN_ANSWER.as_bytes();
    g.bench_function("json_value_token_answer", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)))
    });
    g.bench_function("json_skip_token_answer", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)))
    });
    g.bench_function("json_typed_tokens_only", |b| b.iter(|| serde_json::from_slice::<Tokens>(black_box(body))));
    // Bounding the text's size and nesting before it is parsed (part of parse_token_answer).
    g.bench_function("limits_token_answer", |b| b.iter(|| JsonLimits::TOKEN_ANSWER.check(black_box(body))));
    g.bench_function("parse_token_answer", |b| b.iter(|| parse_token_answer(black_box(body), NOW as i64)));
    g.bench_function("parse_stored_session", |b| b.iter(|| parse_stored_session(black_box(STORED))));
    let session = parse_stored_session(STORED).expect("a session");
    g.bench_function("serialize_session", |b| b.iter(|| serialize_session(black_box(&session))));
    g.bench_function("clone_session", |b| b.iter_with_large_drop(|| black_box(&session).clone()));
    let cfg = config();
    g.bench_function("build_refresh_request", |b| {
        b.iter(|| requests::refresh(black_box(&cfg), RequestId(7), black_box("rt-a")))
    });
    g.finish();
}

/// Only what a refresh needs from the answer, the user skipped: the least any client must
/// parse.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    expires_at: i64,
    expires_in: i64,
}

criterion_group! {
    name = benches;
    // Shorter than criterion's default (3 s + 5 s per benchmark): the spread stays under 2 %
    // here, and the whole run takes about a minute and a half.
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = operations
}
criterion_main!(benches);
