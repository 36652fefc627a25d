//! The `gotrue-session` command.
//!
//! - `gotrue-session replay FILE...`: replays scenario files through the session core and
//!   prints each trace; exits 1 when an expectation is not met, 2 on a bad file.
//! - `gotrue-session replay --repeat N FILE`: replays FILE N times in-process and prints
//!   `{"bench":{"iterations":N,"ns_per_iteration":X}}`.
//! - `gotrue-session demo [--url URL --anon-key KEY] [--email E --password P]`: the policy at
//!   work, as a timeline, against a fake server on loopback or a real project.
//! - `gotrue-session serve [--port N]`: the fake GoTrue server.

mod demo;
mod serve;
mod timeline;

use gotrue_session_cli::Prepared;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage:
  gotrue-session replay FILE...            replay scenario files, print their traces
  gotrue-session replay --repeat N FILE    time N in-process replays of FILE
  gotrue-session demo [--url URL --anon-key KEY] [--email EMAIL --password PASSWORD]
                                           the policy at work against a fake server (or a real project)
  gotrue-session serve [--port N]          run the fake GoTrue server (default port 9999)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("replay") => replay_command(&args[1..]),
        Some("demo") => demo_command(&args[1..]),
        Some("serve") => serve_command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn prepare(path: &str) -> Result<Prepared, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    gotrue_session_cli::prepare(&text).map_err(|e| format!("{path}: {e}"))
}

fn replay_command(args: &[String]) -> ExitCode {
    if let [flag, n, file] = args {
        if flag == "--repeat" {
            let Ok(n) = n.parse::<u64>() else {
                eprintln!("--repeat takes a number of iterations, not {n:?}");
                return ExitCode::from(2);
            };
            return repeat(n.max(1), file);
        }
    }
    if args.is_empty() || args.iter().any(|a| a.starts_with("--")) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut code = ExitCode::SUCCESS;
    let stdout = std::io::stdout();
    for path in args {
        let prepared = match prepare(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let replayed = match gotrue_session_cli::replay(&prepared) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {path}: {e}");
                return ExitCode::from(2);
            }
        };
        let mut out = std::io::BufWriter::new(stdout.lock());
        for line in &replayed.lines {
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        drop(out);
        for p in &replayed.problems {
            eprintln!("{path}: expectation not met: {p}");
        }
        if !replayed.problems.is_empty() {
            code = ExitCode::from(1);
        }
    }
    code
}

fn repeat(n: u64, path: &str) -> ExitCode {
    let prepared = match prepare(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    for _ in 0..n {
        if let Err(e) = prepared.run() {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{}", serde_json::json!({ "bench": { "iterations": n, "ns_per_iteration": ns.round() as u64 } }));
    ExitCode::SUCCESS
}

/// `--name value` pairs; anything else is a usage error.
fn flags(args: &[String], known: &[&str]) -> Result<std::collections::HashMap<String, String>, String> {
    let mut out = std::collections::HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name =
            a.strip_prefix("--").filter(|n| known.contains(n)).ok_or_else(|| format!("unknown argument {a:?}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

fn demo_command(args: &[String]) -> ExitCode {
    let mut f = match flags(args, &["url", "anon-key", "email", "password"]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let demo_args = demo::DemoArgs {
        url: f.remove("url"),
        anon_key: f.remove("anon-key"),
        email: f.remove("email").unwrap_or_else(|| "ada@example.com".into()),
        password: f.remove("password").unwrap_or_else(|| "correct horse".into()),
    };
    ExitCode::from(demo::run(demo_args))
}

fn serve_command(args: &[String]) -> ExitCode {
    let f = match flags(args, &["port"]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let port = match f.get("port").map(|p| p.parse::<u16>()) {
        None => 9999,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("--port takes a port number");
            return ExitCode::from(2);
        }
    };
    ExitCode::from(serve::run(port))
}
