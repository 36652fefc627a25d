//! `gotrue-session serve`: the fake GoTrue server, for trying clients by hand.

use gotrue_fake::{FakeGoTrue, Options};

/// Serves until `POST /admin/shutdown` (or the process is stopped).
pub fn run(port: u16) -> u8 {
    match FakeGoTrue::start(Options { port, ..Options::default() }) {
        Ok(server) => {
            println!("fake GoTrue listening at {}", server.url());
            println!("anon key: {}", server.anon_key());
            println!("user: ada@example.com / correct horse");
            println!(
                "admin: {}/admin/... (see tests/fake-gotrue/README.md); stop with POST /admin/shutdown",
                server.base_url()
            );
            server.wait();
            0
        }
        Err(e) => {
            eprintln!("cannot serve on port {port}: {e}");
            1
        }
    }
}
