//! Two OS processes share one file store and find the session due at the same moment: the
//! store's lock makes them refresh once, and both end with the same session.
//!
//! The test binary runs itself twice as the child processes (`child_process` below, which does
//! nothing unless the parent's environment variables are set).

use gotrue_session_e2e::*;
use gotrue_session_io::{FileStorage, SessionStorage};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sb-e2e-auth-token";
const ENV_DIR: &str = "GOTRUE_E2E_CHILD_STORE";
const ENV_URL: &str = "GOTRUE_E2E_CHILD_URL";
const ENV_KEY: &str = "GOTRUE_E2E_CHILD_ANON_KEY";
const ENV_SHELL: &str = "GOTRUE_E2E_CHILD_SHELL";

fn child_options(url: &str, anon: &str) -> gotrue_session_io::ClientOptions {
    let mut o = gotrue_session_io::ClientOptions::new(url, anon);
    o.storage_key = KEY.into();
    o.auto_refresh = false;
    o.jitter = false;
    o.request_timeout = Duration::from_secs(5);
    o
}

fn run_child<C: Client>(dir: &str, url: &str, anon: &str) {
    let storage: Arc<dyn SessionStorage> = Arc::new(FileStorage::new(dir).expect("the store"));
    let c = C::build(child_options(url, anon), storage);
    c.initialize().expect("initialize");
    let s = c.get_session().expect("get_session").expect("a session");
    println!("TOKEN={}", s.refresh_token);
    c.shutdown();
}

/// The child process's entry point (ignored when run directly).
#[test]
#[ignore = "run by two_processes_refresh_once as a child process"]
fn child_process() {
    let (Ok(dir), Ok(url), Ok(anon), Ok(shell)) =
        (std::env::var(ENV_DIR), std::env::var(ENV_URL), std::env::var(ENV_KEY), std::env::var(ENV_SHELL))
    else {
        return;
    };
    match shell.as_str() {
        "tokio" => run_child::<TokioClient>(&dir, &url, &anon),
        _ => run_child::<gotrue_session_blocking::AuthClient>(&dir, &url, &anon),
    }
}

fn two_processes_refresh_once(shell: &str) {
    let server = fake(|o| o.reuse_interval = Duration::ZERO);
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage: Arc<dyn SessionStorage> = Arc::new(FileStorage::new(dir.path()).expect("the store"));
    let first =
        gotrue_session_blocking::AuthClient::new(child_options(&server.url(), server.anon_key()), storage.clone());
    first.initialize().expect("initialize");
    first.sign_in_with_password(EMAIL, PASSWORD).expect("sign in");
    first.shutdown();
    age_stored_session(&*storage, KEY, 30);
    let before = server.counters().refresh_requests();

    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"])
                .env(ENV_DIR, dir.path())
                .env(ENV_URL, server.url())
                .env(ENV_KEY, server.anon_key())
                .env(ENV_SHELL, shell)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the child starts")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tokens = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("the child ends");
        assert!(Instant::now() < deadline, "the children took too long");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let token = stdout
            .lines()
            .find_map(|l| l.split_once("TOKEN=").map(|(_, t)| t.trim()))
            .unwrap_or_else(|| panic!("the child printed no session: {stdout}"));
        tokens.push(token.to_owned());
    }
    assert_eq!(server.counters().refresh_requests() - before, 1, "{shell}: one refresh for two processes");
    assert_eq!(tokens[0], tokens[1], "{shell}: both processes end with the same session");
    let stored = storage.get(KEY).expect("readable").expect("stored");
    assert!(stored.contains(&tokens[0]));
}

#[test]
fn two_blocking_processes_refresh_once() {
    two_processes_refresh_once("blocking");
}

#[test]
fn two_tokio_processes_refresh_once() {
    two_processes_refresh_once("tokio");
}
