//! Replays every scenario of the corpus (`tests/scenarios/*.json`) through the real
//! `gotrue-session replay` command and requires each to meet its expectations.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gotrue-session"))
        .arg("replay")
        .args(args)
        .output()
        .expect("the replay command runs")
}

#[test]
fn every_scenario_meets_its_expectations() {
    let files = corpus();
    assert!(files.len() >= 60, "the corpus has {} scenarios, fewer than 60", files.len());
    let mut failed = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable");
        assert!(text.contains("\"expect\""), "{} has no expect block", f.display());
        let out = replay(&[f.to_str().expect("utf-8 path")]);
        if !out.status.success() {
            failed.push(format!("{}:\n{}", f.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failed.is_empty(), "{} of {} scenarios failed:\n{}", failed.len(), files.len(), failed.join("\n"));
}

#[test]
fn a_trace_ends_with_the_final_storage() {
    let f = corpus().into_iter().next().expect("a scenario");
    let out = replay(&[f.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let last = stdout.lines().last().expect("a trace");
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON lines");
    assert!(v["end"]["storage"].is_object(), "{last}");
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        assert!(v["step"].is_u64(), "{line}");
    }
}

#[test]
fn an_unmet_expectation_fails_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("gotrue-session-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("unmet.json");
    std::fs::write(&file, r#"{"steps":[{"call":"initialize"}],"expect":{"events":["SIGNED_IN"]}}"#).expect("write");
    let out = replay(&[file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("events were [\"INITIAL_SESSION\"]"), "{err}");
}

#[test]
fn garbage_files_get_a_clear_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("gotrue-session-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        ("not-json.json", "{ this is not json", "not a scenario"),
        ("no-steps.json", r#"{"name":"x"}"#, "missing field `steps`"),
        ("bad-option.json", r#"{"options":{"colour":"blue"},"steps":[]}"#, "unknown field `colour`"),
        ("bad-step.json", r#"{"steps":[{"call":"initialize"},{"dance":1}]}"#, "step 1: unknown step"),
        ("bad-call.json", r#"{"steps":[{"call":"initialize"},{"call":"fly"}]}"#, "unknown call"),
        ("bad-route.json", r#"{"server":{"token":[]},"steps":[]}"#, "is not \"METHOD /path\""),
        ("call-first.json", r#"{"steps":[{"call":"get_session"}]}"#, "before initialize"),
        (
            "missing-arg.json",
            r#"{"steps":[{"call":"initialize"},{"call":"set_session"}]}"#,
            "needs a string `access_token`",
        ),
    ];
    for (name, text, needle) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).expect("write");
        let out = replay(&[file.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
    let out = replay(&[dir.join("absent.json").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn repeat_prints_one_bench_line() {
    let f = corpus().into_iter().next().expect("a scenario");
    let out = replay(&["--repeat", "3", f.to_str().expect("utf-8 path")]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["bench"]["iterations"], 3);
    assert!(v["bench"]["ns_per_iteration"].is_u64());
}
