//! Sign in, ask who we are, refresh, and sign out with the blocking client.
//!
//! Against a real project: `SUPABASE_URL=https://<ref>.supabase.co SUPABASE_ANON_KEY=... \
//! EMAIL=... PASSWORD=... cargo run -p gotrue-session-blocking --example blocking_sign_in`.
//! Without those variables it starts the fake GoTrue server on loopback.

use gotrue_session::{ErrorKind, SignOutScope};
use gotrue_session_blocking::AuthClient;
use gotrue_session_io::{ClientOptions, FileStorage};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake;
    let (url, anon_key) = match (std::env::var("SUPABASE_URL"), std::env::var("SUPABASE_ANON_KEY")) {
        (Ok(url), Ok(key)) => (url, key),
        _ => {
            fake = gotrue_fake::FakeGoTrue::start(gotrue_fake::Options::default())?;
            (fake.url(), fake.anon_key().to_owned())
        }
    };
    let email = std::env::var("EMAIL").unwrap_or_else(|_| "ada@example.com".into());
    let password = std::env::var("PASSWORD").unwrap_or_else(|_| "correct horse".into());

    // Sessions survive restarts in this folder (owner-only files, atomic writes, a lock so
    // that two processes refresh once).
    let dir = std::env::temp_dir().join("gotrue-session-example");
    let client = AuthClient::new(ClientOptions::new(url, anon_key), Arc::new(FileStorage::new(dir)?));
    let events = client.subscribe();

    client.initialize()?;
    if client.get_session()?.is_none() {
        client.sign_in_with_password(&email, &password)?;
    }
    // `session_unconfirmed`: the refresh endpoint accepted the session, but `/user` (a read
    // replica that lags behind) still doubts it. The session is kept, so asking again a little
    // later is the answer; signing the user out would be wrong.
    let user = match client.get_user() {
        Err(e) if e.kind == ErrorKind::SessionUnconfirmed => {
            std::thread::sleep(Duration::from_secs(1));
            client.get_user()?
        }
        other => other?,
    };
    println!("signed in as {}", user.email.as_deref().unwrap_or(&user.id));
    client.refresh_session()?;
    client.sign_out(SignOutScope::Local)?;
    for event in events.try_iter() {
        println!("event: {}", event.kind.as_str());
    }
    Ok(())
}
