//! Sign in, watch events, ask who we are, and sign out with the async client.
//!
//! Against a real project: `SUPABASE_URL=https://<ref>.supabase.co SUPABASE_ANON_KEY=... \
//! EMAIL=... PASSWORD=... cargo run -p gotrue-session-tokio --example async_sign_in`.
//! Without those variables it starts the fake GoTrue server on loopback.

use gotrue_session::{ErrorKind, SignOutScope};
use gotrue_session_io::{ClientOptions, MemoryStorage};
use gotrue_session_tokio::AuthClient;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let client = AuthClient::new(ClientOptions::new(url, anon_key), Arc::new(MemoryStorage::new()));
    let mut events = client.subscribe();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            println!("event: {}", event.kind.as_str());
        }
    });

    client.initialize().await?;
    client.sign_in_with_password(&email, &password).await?;
    // `session_unconfirmed`: the refresh endpoint accepted the session, but `/user` (a read
    // replica that lags behind) still doubts it. The session is kept, so asking again a little
    // later is the answer; signing the user out would be wrong.
    let user = match client.get_user().await {
        Err(e) if e.kind == ErrorKind::SessionUnconfirmed => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.get_user().await?
        }
        other => other?,
    };
    println!("signed in as {}", user.email.as_deref().unwrap_or(&user.id));
    client.sign_out(SignOutScope::Local).await?;
    client.shutdown().await; // ends the event stream too
    printer.await?;
    Ok(())
}
