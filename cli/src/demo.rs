//! `gotrue-session demo`: the policy at work against a fake GoTrue server on loopback (or a
//! real project with `--url`), printed as a timeline.

use crate::timeline::{EventPrinter, LoggedStorage, LoggedTransport, Timeline};
use gotrue_fake::{FakeGoTrue, ReplicaLag};
use gotrue_session::{AuthError, SignOutScope, VerifyCooldown};
use gotrue_session_blocking::AuthClient;
use gotrue_session_io::{ClientOptions, MemoryStorage, SessionStorage, Transport, UreqTransport};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The demo's verify cooldown: short, so step 7 can wait it out.
const DEMO_VERIFY_COOLDOWN: Duration = Duration::from_millis(1_500);

/// Where the demo runs.
pub struct DemoArgs {
    /// A real project's URL (else the fake server).
    pub url: Option<String>,
    /// Its anon key.
    pub anon_key: Option<String>,
    /// The email to sign in with.
    pub email: String,
    /// The password.
    pub password: String,
}

struct Demo {
    client: AuthClient,
    timeline: Arc<Timeline>,
    storage: Arc<dyn SessionStorage>,
    key: String,
}

impl Demo {
    fn new(options: ClientOptions) -> Demo {
        let timeline = Timeline::new();
        let key = options.storage_key.clone();
        let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::new());
        let logged_storage = Arc::new(LoggedStorage { inner: storage.clone(), timeline: timeline.clone() });
        let transport: Arc<dyn Transport> = Arc::new(LoggedTransport {
            inner: Arc::new(UreqTransport::new(options.request_timeout)),
            timeline: timeline.clone(),
        });
        let client = AuthClient::with_transport(options, logged_storage, transport);
        client.subscribe_with(Box::new(EventPrinter(timeline.clone())));
        Demo { client, timeline, storage, key }
    }

    fn step(&self, title: &str) {
        println!("\n{title}");
    }

    /// Prints the outcome of the call that just returned.
    fn outcome<T>(&self, result: Result<T, AuthError>, ok: impl FnOnce(&T) -> String) -> Option<T> {
        match result {
            Ok(v) => {
                self.timeline.line(&format!("=> {}", ok(&v)));
                Some(v)
            }
            Err(e) => {
                let retryable = if e.is_retryable() { " (retryable)" } else { "" };
                self.timeline.line(&format!("=> error{retryable}: {e}"));
                None
            }
        }
    }

    fn stored(&self) {
        let held = self.storage.get(&self.key).ok().flatten().is_some();
        self.timeline.line(if held { "storage holds a session" } else { "storage holds no session" });
    }
}

fn user_line(u: &gotrue_session::User) -> String {
    format!("user {}", u.email.as_deref().unwrap_or(&u.id))
}

/// Runs the demo; returns a process exit code.
pub fn run(args: DemoArgs) -> u8 {
    match (&args.url, &args.anon_key) {
        (Some(url), Some(key)) => against_project(url, key, &args),
        (None, None) => against_fake(&args),
        _ => {
            eprintln!("--url and --anon-key go together");
            2
        }
    }
}

fn against_fake(args: &DemoArgs) -> u8 {
    let server = match FakeGoTrue::start(gotrue_fake::Options {
        users: vec![gotrue_fake::SeedUser::new(&args.email, &args.password)],
        ..gotrue_fake::Options::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the fake GoTrue server: {e}");
            return 1;
        }
    };
    println!("gotrue-session demo against a fake GoTrue server at {}", server.url());
    println!("(times are seconds since the start; a session is named by a hash of its access token)");
    let mut options = ClientOptions::new(server.url(), server.anon_key());
    options.auto_refresh = false;
    // Short enough to wait out in step 7 (the default is 30 s).
    options.verify_cooldown = match VerifyCooldown::from_duration(DEMO_VERIFY_COOLDOWN) {
        Ok(cooldown) => cooldown,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let d = Demo::new(options);

    d.step("1. Start: nothing is stored yet");
    d.outcome(d.client.initialize(), |_| "initialized".into());

    d.step("2. Sign in with a password (a read replica will not have caught up on the first read)");
    server.set_replica_lag(ReplicaLag::after_sign_in(1));
    d.outcome(d.client.sign_in_with_password(&args.email, &args.password), |_| "signed in".into());

    d.step("3. Ask who we are at once: the replica answers session_not_found");
    println!("   (auth-js would delete the session and sign the user out here; the core verifies");
    println!("    with a refresh, which goes to the primary; by then the replica has caught up)");
    d.outcome(d.client.get_user(), user_line);
    d.stored();

    d.step("4. Refresh the session");
    d.outcome(d.client.refresh_session(), |_| "tokens rotated".into());

    d.step("5. Sign in again; this time the replica lags longer than the verify round trip");
    println!("   (the verify refresh succeeds, so the session is alive, but the retried /user still");
    println!("    misses it: the session is kept, no SIGNED_OUT, and get_user answers");
    println!("    session_unconfirmed, a retryable error)");
    server.set_replica_lag(ReplicaLag::after_sign_in(2));
    d.outcome(d.client.sign_in_with_password(&args.email, &args.password), |_| "signed in".into());
    d.outcome(d.client.get_user(), user_line);
    let verified = Instant::now();
    d.stored();
    server.set_replica_lag(ReplicaLag::default());

    d.step("6. Ask again a moment later: the replica has caught up");
    d.outcome(d.client.get_user(), user_line);

    d.step("7. The session is revoked from another device");
    let _ = server.revoke_user_sessions(&args.email);
    println!(
        "   (less than the verify cooldown after step 5's verify refresh ({} ms here, 30 s by",
        DEMO_VERIFY_COOLDOWN.as_millis()
    );
    println!("    default), a doubt is answered at once with no second refresh: a /user that keeps");
    println!("    doubting cannot make the client rotate tokens in a loop)");
    d.outcome(d.client.get_user(), user_line);
    d.stored();
    println!("   (after the cooldown, the next doubt is verified: the refresh endpoint says the session");
    println!("    is gone, so it is removed and SIGNED_OUT announced)");
    // A little over the cooldown: the core reads the wall clock, this waits on the monotonic one.
    std::thread::sleep((DEMO_VERIFY_COOLDOWN + Duration::from_millis(100)).saturating_sub(verified.elapsed()));
    d.outcome(d.client.get_user(), user_line);
    d.stored();

    d.step("8. Sign in again, then the network goes away");
    d.outcome(d.client.sign_in_with_password(&args.email, &args.password), |_| "signed in".into());
    server.set_down(true);
    d.outcome(d.client.get_user(), user_line);
    d.stored();

    d.step("9. The network is back");
    server.set_down(false);
    d.outcome(d.client.get_user(), user_line);

    d.step("10. Sign out everywhere");
    d.outcome(d.client.sign_out(SignOutScope::Global), |_| "signed out".into());
    d.stored();
    d.client.shutdown();
    server.shutdown();
    println!("\nEvery decision above was made by the core; see docs/policy.md for the rules.");
    0
}

fn against_project(url: &str, anon_key: &str, args: &DemoArgs) -> u8 {
    println!("gotrue-session demo against {url}");
    let mut options = ClientOptions::new(url, anon_key);
    options.auto_refresh = false;
    options.request_timeout = Duration::from_secs(15);
    let d = Demo::new(options);
    d.step("1. Start");
    d.outcome(d.client.initialize(), |_| "initialized".into());
    d.step("2. Sign in with a password");
    if d.outcome(d.client.sign_in_with_password(&args.email, &args.password), |_| "signed in".into()).is_none() {
        return 1;
    }
    d.step("3. Ask the server who we are");
    d.outcome(d.client.get_user(), user_line);
    d.step("4. Refresh the session");
    d.outcome(d.client.refresh_session(), |_| "tokens rotated".into());
    d.step("5. Sign out (this device)");
    d.outcome(d.client.sign_out(SignOutScope::Local), |_| "signed out".into());
    d.client.shutdown();
    0
}
