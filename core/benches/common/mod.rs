//! What the benchmarks share: the data (a stored session and a token answer whose user object
//! is 1.5 KB of compact JSON), and a minimal in-memory shell that carries out the machine's
//! outputs with values, so the core is measured without any I/O.
#![allow(dead_code)] // each bench target uses part of this module

use gotrue_session::{AuthError, Command, Config, HttpResponse, OpValue, Output, SessionMachine};
use std::collections::VecDeque;

/// The scenario clock's start (2026-01-01T00:00:00Z), one second later: the stored session
/// (expires_at 1767229200) is an hour from expiry, so it is valid and not due.
pub const NOW: u64 = 1_767_225_601_000;

/// The storage key.
pub const KEY: &str = "sb-test-auth-token";

/// A session as auth-js stores it, with the 1.5 KB user (1.8 KB in all).
pub const STORED: &str = include_str!("../data/stored-session.json");

/// `POST /token?grant_type=refresh_token` answering new tokens and the same 1.5 KB user.
pub const TOKEN_ANSWER: &str = include_str!("../data/token-answer.json");

/// `GET /user` answering the 1.5 KB user.
pub const USER: &str = include_str!("../data/user.json");

/// `GET /user` answering 403 `session_not_found` (the founding case).
pub const SESSION_NOT_FOUND: &str =
    r#"{"code":"session_not_found","message":"Session from session_id claim in JWT does not exist"}"#;

/// `POST /token` answering 400 `refresh_token_not_found` (the session is really gone).
pub const REFRESH_TOKEN_NOT_FOUND: &str =
    r#"{"code":"refresh_token_not_found","message":"Invalid Refresh Token: Refresh Token Not Found"}"#;

/// A proxy's error page.
pub const PROXY_HTML: &str =
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>";

/// The configuration the benchmarks use: auth-js's defaults, jitter off (deterministic), auto
/// refresh off unless a benchmark turns it on, and no verify cooldown, so that every repetition of
/// the verify benchmark on one machine takes the whole verify path (with a cooldown, the repeats
/// would be answered without a refresh).
pub fn config() -> Config {
    let mut cfg = Config::new(KEY, "anon-key");
    cfg.jitter = false;
    cfg.auto_refresh = false;
    cfg.verify_cooldown = gotrue_session::VerifyCooldown::NONE;
    cfg
}

/// An answer as a shell hands it over: status, GoTrue's headers, body.
pub fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-supabase-api-version".to_owned(), "2024-01-01".to_owned()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// A minimal shell: one storage key in memory, scripted answers in order, and a count of what
/// the app would see. Every output is carried out at once, at `now`.
#[derive(Default)]
pub struct Shell {
    /// What storage holds for the session key.
    pub stored: Option<String>,
    /// Answers to the next requests, in order.
    pub script: VecDeque<HttpResponse>,
    /// Events delivered.
    pub events: usize,
    /// Requests sent.
    pub requests: usize,
    /// The last completion.
    pub last: Option<Result<OpValue, AuthError>>,
}

impl Shell {
    /// A shell whose storage holds `stored`.
    pub fn with_stored(stored: Option<&str>) -> Self {
        Shell { stored: stored.map(str::to_owned), ..Default::default() }
    }

    /// Carries out every output until the machine has nothing more to say.
    pub fn run(&mut self, m: &mut SessionMachine, now: u64) {
        while let Some(out) = m.poll_output() {
            match out {
                Output::StorageRead { id, key, .. } => {
                    let value = if key == KEY { self.stored.clone() } else { None };
                    m.handle_storage_read(now, id, Ok(value));
                }
                Output::StorageWrite { id, key, value } => {
                    if key == KEY {
                        self.stored = Some(value);
                    }
                    m.handle_storage_done(now, id, Ok(()));
                }
                Output::StorageRemove { id, key } => {
                    if key == KEY {
                        self.stored = None;
                    }
                    m.handle_storage_done(now, id, Ok(()));
                }
                Output::Http(req) => {
                    self.requests += 1;
                    let answer = self.script.pop_front().unwrap_or_else(|| panic!("no answer scripted for {req:?}"));
                    m.handle_response(now, req.id, answer);
                }
                Output::Event(e) => {
                    self.events += 1;
                    std::hint::black_box(e);
                }
                Output::Complete { result, .. } => self.last = Some(result),
                other => {
                    std::hint::black_box(other);
                }
            }
        }
    }
}

/// A new machine restoring `stored` at start: `initialize`, the read answered, every output
/// carried out (INITIAL_SESSION, the completion).
pub fn restore(cfg: Config, shell: &mut Shell, now: u64) -> SessionMachine {
    let mut m = SessionMachine::new(cfg);
    m.handle_command(now, Command::Initialize);
    shell.run(&mut m, now);
    m
}

/// A machine holding the stored session, ready, and its shell.
pub fn ready() -> (SessionMachine, Shell) {
    let mut shell = Shell::with_stored(Some(STORED));
    let m = restore(config(), &mut shell, NOW);
    assert!(m.session().is_some(), "the stored session was not restored");
    (m, shell)
}

/// `get_session` on a valid session that is not due: no request, no storage.
pub fn get_session(m: &mut SessionMachine, shell: &mut Shell) {
    m.handle_command(NOW, Command::GetSession);
    shell.run(m, NOW);
}

/// One full refresh: the command, the pre-send re-read of storage (answered), the request
/// built, the 1.8 KB token answer parsed, the session written to storage, TOKEN_REFRESHED
/// emitted, the call completed. Repeatable on the same machine (the answer keeps the tokens).
pub fn refresh_cycle(m: &mut SessionMachine, shell: &mut Shell, answer: &HttpResponse) {
    shell.script.push_back(answer.clone());
    m.handle_command(NOW, Command::RefreshSession);
    shell.run(m, NOW);
}

/// `get_user` answered 403 `session_not_found`, verified by a refresh that succeeds, then
/// `/user` asked again and answered: the session survives. Repeatable on the same machine.
pub fn verify_alive(m: &mut SessionMachine, shell: &mut Shell, answers: &[HttpResponse; 3]) {
    shell.script.extend(answers.iter().cloned());
    m.handle_command(NOW, Command::GetUser);
    shell.run(m, NOW);
}

/// `get_user` answered 403 `session_not_found`, verified by a refresh the server rejects
/// (`refresh_token_not_found`): the session is removed, SIGNED_OUT announced. Consumes the
/// machine's session.
pub fn verify_revoked(m: &mut SessionMachine, shell: &mut Shell, answers: &[HttpResponse; 2]) {
    shell.script.extend(answers.iter().cloned());
    m.handle_command(NOW, Command::GetUser);
    shell.run(m, NOW);
}

/// The three answers of the verified-alive path.
pub fn alive_answers() -> [HttpResponse; 3] {
    [response(403, SESSION_NOT_FOUND), response(200, TOKEN_ANSWER), response(200, USER)]
}

/// The two answers of the verified-revoked path.
pub fn revoked_answers() -> [HttpResponse; 2] {
    [response(403, SESSION_NOT_FOUND), response(400, REFRESH_TOKEN_NOT_FOUND)]
}

/// Checks that each operation does what the benchmark claims, once, before anything is timed.
pub fn sanity() {
    let (mut m, mut shell) = ready();
    assert_eq!(shell.events, 1, "INITIAL_SESSION");
    assert_eq!(shell.requests, 0, "restore sends nothing");

    get_session(&mut m, &mut shell);
    assert!(matches!(shell.last, Some(Ok(OpValue::Session(Some(_))))), "get_session");
    assert_eq!(shell.requests, 0, "get_session sends nothing");

    let answer = response(200, TOKEN_ANSWER);
    refresh_cycle(&mut m, &mut shell, &answer);
    assert!(matches!(shell.last, Some(Ok(OpValue::Session(Some(_))))), "refresh: {:?}", shell.last);
    assert_eq!((shell.requests, shell.events), (1, 2), "one request, TOKEN_REFRESHED");
    assert!(shell.stored.as_deref().is_some_and(|s| s.contains("rt-b")), "refresh wrote storage");
    refresh_cycle(&mut m, &mut shell, &answer);
    assert!(matches!(shell.last, Some(Ok(OpValue::Session(Some(_))))), "second refresh: {:?}", shell.last);
    assert_eq!((shell.requests, shell.events), (2, 3), "repeatable");

    verify_alive(&mut m, &mut shell, &alive_answers());
    assert!(matches!(shell.last, Some(Ok(OpValue::User(_)))), "verify alive: {:?}", shell.last);
    assert_eq!(shell.requests, 5, "/user, /token, /user");
    assert!(m.session().is_some());
    verify_alive(&mut m, &mut shell, &alive_answers());
    assert!(matches!(shell.last, Some(Ok(OpValue::User(_)))), "second verify alive: {:?}", shell.last);
    assert_eq!(shell.requests, 8, "repeatable: /user, /token, /user again");

    let (mut m, mut shell) = ready();
    verify_revoked(&mut m, &mut shell, &revoked_answers());
    assert!(matches!(&shell.last, Some(Err(e)) if e.kind == gotrue_session::ErrorKind::SessionMissing));
    assert!(m.session().is_none() && shell.stored.is_none(), "revoked and removed");
    assert_eq!(shell.events, 2, "INITIAL_SESSION, SIGNED_OUT");
}

/// A memory-only machine (`persist_session` off) signed in with the token answer: what an FFI
/// step is measured on, so one input gives its outputs without a storage round trip.
pub fn memory_only_signed_in() -> SessionMachine {
    let mut cfg = config();
    cfg.persist_session = false;
    let mut shell = Shell::default();
    let mut m = SessionMachine::new(cfg);
    m.handle_command(NOW, Command::Initialize);
    shell.run(&mut m, NOW);
    shell.script.push_back(response(200, TOKEN_ANSWER));
    let sign_in = Command::SignInWithPassword {
        email: Some("ada.lovelace@example.com".into()),
        phone: None,
        password: "correct horse".into(),
    };
    m.handle_command(NOW, sign_in);
    shell.run(&mut m, NOW);
    assert!(m.session().is_some(), "signed in");
    m
}

/// Drains every output, returning how many there were.
pub fn drain(m: &mut SessionMachine) -> usize {
    let mut n = 0;
    while let Some(out) = m.poll_output() {
        std::hint::black_box(out);
        n += 1;
    }
    n
}

/// The FFI benches' empty step: `handle_timeout` with nothing due, outputs drained (none).
pub fn step_timeout(m: &mut SessionMachine) -> usize {
    m.handle_timeout(NOW);
    drain(m)
}

/// The FFI benches' step: `get_session` on a memory-only machine, outputs drained (one
/// completion carrying the 1.8 KB session).
pub fn step_get_session(m: &mut SessionMachine) -> usize {
    m.handle_command(NOW, Command::GetSession);
    drain(m)
}
