//! Direct tests of the machine's contract that scenario traces cannot show: output order,
//! diagnostics (removal reasons, server headers), secrets in `Debug`, PKCE storage, adoption on
//! "storage changed".

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gotrue_session::{
    Command, Config, DiagnosticKind, EventKind, HttpResponse, OpValue, Output, RemovalReason, SessionMachine,
    SignOutScope,
};
use std::collections::HashMap;

const NOW: u64 = 1_767_225_600_000;
const KEY: &str = "sb-t-auth-token";

fn jwt(tag: &str, exp: i64) -> String {
    let claims = format!(r#"{{"sub":"user-1","exp":{exp},"session_id":"s","ref":"{tag}"}}"#);
    format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims))
}

fn session_json(tag: &str, exp: i64) -> String {
    format!(
        r#"{{"access_token":"{}","refresh_token":"rt-{tag}-secret","expires_in":3600,"expires_at":{exp},"token_type":"bearer","user":{{"id":"user-1"}}}}"#,
        jwt(tag, exp)
    )
}

/// Drives a machine with an in-memory store, answering storage at once and collecting every
/// other output.
struct World {
    m: SessionMachine,
    store: HashMap<String, String>,
    seen: Vec<Output>,
    last_request: Option<gotrue_session::RequestId>,
}

impl World {
    fn new(stored: Option<String>) -> World {
        let mut store = HashMap::new();
        if let Some(s) = stored {
            store.insert(KEY.to_owned(), s);
        }
        let mut cfg = Config::new(KEY, "anon");
        cfg.auto_refresh = false;
        cfg.jitter = false;
        World { m: SessionMachine::new(cfg), store, seen: Vec::new(), last_request: None }
    }

    fn drain(&mut self) {
        while let Some(out) = self.m.poll_output() {
            match &out {
                Output::StorageRead { id, key, .. } => {
                    self.m.handle_storage_read(NOW, *id, Ok(self.store.get(key).cloned()))
                }
                Output::StorageWrite { id, key, value } => {
                    self.store.insert(key.clone(), value.clone());
                    self.m.handle_storage_done(NOW, *id, Ok(()));
                }
                Output::StorageRemove { id, key } => {
                    self.store.remove(key);
                    self.m.handle_storage_done(NOW, *id, Ok(()));
                }
                Output::Http(r) => self.last_request = Some(r.id),
                _ => {}
            }
            self.seen.push(out);
        }
    }

    fn command(&mut self, cmd: Command) -> gotrue_session::OpId {
        let op = self.m.handle_command(NOW, cmd);
        self.drain();
        op
    }

    fn last_request_id(&self) -> gotrue_session::RequestId {
        self.last_request.expect("a request")
    }

    fn answer(&mut self, status: u16, headers: &[(&str, &str)], body: &str) {
        let id = self.last_request_id();
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.m.handle_response(NOW, id, HttpResponse { status, headers, body: body.as_bytes().to_vec() });
        self.drain();
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
        for secret in
            ["rt-a-secret", "rt-p-secret", "hunter2-password", &jwt("p", 1_767_229_200), &jwt("a", 1_767_225_650)]
        {
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
