//! Runs the fake server until `POST /admin/shutdown` (or Ctrl-C).
//!
//!     cargo run -p gotrue-fake --example serve -- --port 54321 [--v1] [--lifetime-secs N]

use std::time::Duration;

use gotrue_fake::{FakeGoTrue, Options, RefreshTokenAlgorithm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = args.next().ok_or("--port needs a value")?.parse()?,
            "--lifetime-secs" => {
                options.access_token_lifetime =
                    Duration::from_secs(args.next().ok_or("--lifetime-secs needs a value")?.parse()?)
            }
            "--reuse-interval-secs" => {
                options.reuse_interval = Duration::from_secs(args.next().ok_or("needs a value")?.parse()?)
            }
            "--v1" => options.refresh_token_algorithm = RefreshTokenAlgorithm::V1,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let server = FakeGoTrue::start(options)?;
    println!("url      {}", server.url());
    println!("admin    {}/admin", server.base_url());
    println!("anon key {}", server.anon_key());
    server.wait();
    Ok(())
}
