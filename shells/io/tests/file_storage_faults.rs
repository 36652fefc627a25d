//! `FileStorage` under faults: links planted in its folder, a lock holder that dies, a folder it
//! may not write or enter, a write that does not fit.
//!
//! Some checks need another process. The test binary runs itself (`child_process` below, which
//! does nothing unless `FILE_STORAGE_CHILD_MODE` is set): to hold the lock and be killed; as the
//! user `nobody` when the tests run as root, which ignores permission bits; and under
//! `ulimit -f`, where a large write fails with EFBIG as it would on a full disk.
#![cfg(unix)]

use gotrue_session_io::{FileStorage, SessionStorage, StorageError};
use std::fs::{self, Permissions};
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const KEY: &str = "sb-test-auth-token";
const ENV_MODE: &str = "FILE_STORAGE_CHILD_MODE";
const ENV_DIR: &str = "FILE_STORAGE_CHILD_DIR";
const CHILD_ARGS: [&str; 5] = ["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"];
/// The user and group `nobody`, for whom permission bits apply.
const NOBODY: u32 = 65534;

/// The child process's entry point (ignored when run directly).
#[test]
#[ignore = "run by the tests below as a child process"]
fn child_process() {
    let (Ok(mode), Ok(dir)) = (std::env::var(ENV_MODE), std::env::var(ENV_DIR)) else {
        return;
    };
    check(&mode, Path::new(&dir));
}

/// What a child process does with the store in `dir` (the permission checks run in the test
/// process itself when it is not root).
fn check(mode: &str, dir: &Path) {
    let s = FileStorage::new(dir).expect("the store");
    match mode {
        "hold-lock" => {
            s.lock(KEY).expect("the lock");
            println!("LOCKED");
            // Hold it until the parent kills this process, or goes away (stdin then ends).
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        "set-read-only" => {
            assert_unavailable(s.set(KEY, "new"), "creating the temporary file: permission denied");
            assert_eq!(s.get(KEY).expect("the old value").as_deref(), Some("old"));
        }
        "get-no-entry" => {
            assert_unavailable(s.get(KEY), "opening: permission denied");
            // Whether a key is there cannot be known either: not "absent".
            assert_unavailable(s.get("another-key"), "opening: permission denied");
        }
        "set-too-large" => {
            assert_unavailable(s.set(KEY, &"x".repeat(1 << 16)), "writing: file too large");
            assert_eq!(s.get(KEY).expect("the old value").as_deref(), Some("old"));
        }
        _ => panic!("unknown child mode {mode}"),
    }
}

fn assert_unavailable<T: std::fmt::Debug>(got: Result<T, StorageError>, message: &str) {
    match got {
        Err(StorageError::Unavailable(m)) => assert_eq!(m, message),
        other => panic!("expected Unavailable({message:?}), got {other:?}"),
    }
}

/// `command` (the test binary, or what runs it) made to run `check(mode, dir)`.
fn child_command(mut command: Command, mode: &str, dir: &Path) -> Command {
    command.args(CHILD_ARGS).env(ENV_MODE, mode).env(ENV_DIR, dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Waits at most 20 s for `child` (killing it then), and fails with its output unless it succeeded.
fn wait_ok(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("waiting for the child").is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill(); // Nothing to do unless it overran.
    let out = child.wait_with_output().expect("the child's output");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "child: {}\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
}

/// A file outside the store that the store must never read or change.
fn outside() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let victim = dir.path().join("victim");
    fs::write(&victim, "outside secret").expect("the outside file");
    (dir, victim)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .expect("the folder")
        .map(|e| e.expect("an entry").file_name().into_string().expect("a UTF-8 name"))
        .collect();
    names.sort();
    names
}

#[test]
fn get_refuses_a_link_at_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_outside, victim) = outside();
    let s = FileStorage::new(dir.path()).unwrap();
    symlink(&victim, dir.path().join(KEY)).unwrap();
    // Neither the outside file's content nor "absent".
    let StorageError::Unavailable(m) = s.get(KEY).unwrap_err();
    assert!(m.contains("symbolic link") && !m.contains("secret"), "{m}");
    // A link to nothing is not "absent" either.
    symlink(victim.with_file_name("missing"), dir.path().join("dangling")).unwrap();
    assert!(matches!(s.get("dangling"), Err(StorageError::Unavailable(_))));
}

#[test]
fn set_replaces_a_link_at_the_key_file_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_outside, victim) = outside();
    let s = FileStorage::new(dir.path()).unwrap();
    let link = dir.path().join(KEY);
    symlink(&victim, &link).unwrap();
    s.set(KEY, "new").unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_file(), "the link itself is replaced");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "outside secret");
    assert_eq!(s.get(KEY).unwrap().as_deref(), Some("new"));
    // Nor does a link to nothing create its target.
    let missing = victim.with_file_name("missing");
    symlink(&missing, dir.path().join("dangling")).unwrap();
    s.set("dangling", "new").unwrap();
    assert!(!missing.exists());
}

#[test]
fn set_never_writes_through_a_link_at_a_predictable_temporary_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_outside, victim) = outside();
    let s = FileStorage::new(dir.path()).unwrap();
    // The names an earlier version used (`.<name>.tmp-<pid>-<counter>`) and plain guesses.
    let pid = std::process::id();
    let mut names: Vec<_> = (0..256).map(|n| format!(".{KEY}.tmp-{pid}-{n}")).collect();
    names.extend([format!(".{KEY}.tmp"), format!(".{KEY}.tmp-{pid}"), format!("{KEY}.tmp")]);
    for name in &names {
        symlink(&victim, dir.path().join(name)).unwrap();
    }
    s.set(KEY, "new").unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "outside secret");
    assert_eq!(s.get(KEY).unwrap().as_deref(), Some("new"));
}

#[test]
fn lock_refuses_a_link_at_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_outside, victim) = outside();
    let s = FileStorage::new(dir.path()).unwrap().with_lock_timeout(Duration::from_millis(100));
    symlink(&victim, dir.path().join(format!("{KEY}.lock"))).unwrap();
    let StorageError::Unavailable(m) = s.lock(KEY).unwrap_err();
    assert!(m.starts_with("opening the lock file: ") && m.contains("symbolic link"), "{m}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "outside secret");
    // A link to nothing: its target is not created.
    let missing = victim.with_file_name("missing");
    symlink(&missing, dir.path().join("dangling.lock")).unwrap();
    assert!(matches!(s.lock("dangling"), Err(StorageError::Unavailable(_))));
    assert!(!missing.exists());
}

#[test]
fn get_of_a_fifo_fails_instead_of_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("mkfifo").arg(dir.path().join(KEY)).status().expect("mkfifo runs");
    assert!(status.success());
    let (tx, rx) = mpsc::channel();
    let path = dir.path().to_owned();
    thread::spawn(move || tx.send(FileStorage::new(path).unwrap().get(KEY)));
    let got = rx.recv_timeout(Duration::from_secs(5)).expect("get() returns instead of blocking");
    assert_unavailable(got, "opening: not a regular file");
}

/// A child process holding the lock on `KEY`, killed when dropped.
struct LockHolder(Child);

impl LockHolder {
    /// Returns once the child says it holds the lock (within 10 s, or the test fails).
    fn spawn(dir: &Path) -> Self {
        let mut command =
            child_command(Command::new(std::env::current_exe().expect("the test binary")), "hold-lock", dir);
        let mut child = command.stdin(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("the child starts");
        let stdout = child.stdout.take().expect("its stdout");
        let holder = LockHolder(child);
        let (tx, rx) = mpsc::channel();
        // The line is libtest's "test child_process ... LOCKED". The channel closes without a
        // message if the child ends before saying it.
        thread::spawn(move || {
            if BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.ends_with("LOCKED")) {
                let _ = tx.send(());
            }
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("the child takes the lock");
        holder
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_live_holder_in_another_process_times_the_lock_out() {
    let dir = tempfile::tempdir().unwrap();
    let _holder = LockHolder::spawn(dir.path());
    let s = FileStorage::new(dir.path()).unwrap().with_lock_timeout(Duration::from_millis(100));
    let start = Instant::now();
    assert_unavailable(s.lock(KEY), "another process held the lock too long");
    assert!(start.elapsed() >= Duration::from_millis(100), "it waited for the holder");
}

#[test]
fn a_lock_held_by_a_killed_process_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = LockHolder::spawn(dir.path());
    let s = FileStorage::new(dir.path()).unwrap().with_lock_timeout(Duration::from_millis(50));
    assert!(s.lock(KEY).is_err(), "the child holds the lock");
    // SIGKILL: the holder never unlocks, and its lock file stays behind.
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    assert!(dir.path().join(format!("{KEY}.lock")).exists());
    let s = s.with_lock_timeout(Duration::from_secs(5));
    let start = Instant::now();
    s.lock(KEY).expect("the dead holder's lock is free");
    assert!(start.elapsed() < Duration::from_secs(1), "at once, not at the timeout");
    s.unlock(KEY);
}

/// A store holding "old" under `KEY`, in a folder `nobody` can reach (in a 0755 folder of our
/// own); both are removed when the returned folder is dropped.
fn store_with_old_value() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().expect("a temp dir");
    fs::set_permissions(parent.path(), Permissions::from_mode(0o755)).expect("chmod");
    let dir = parent.path().join("store");
    FileStorage::new(&dir).expect("the store").set(KEY, "old").expect("the old value");
    (parent, dir)
}

/// Gives a folder its owner-only mode back when dropped, so that it can be removed even when a
/// check failed.
struct RestoreMode<'a>(&'a Path);

impl Drop for RestoreMode<'_> {
    fn drop(&mut self) {
        let _ = fs::set_permissions(self.0, Permissions::from_mode(0o700));
    }
}

/// Runs `check(mode, dir)` with `dir` in mode `dir_mode`, as a user that mode applies to: this
/// process, or, when it runs as root (which ignores permission bits), a child process as
/// `nobody`, who is given the folder and its files.
fn check_as_owner_with_dir_mode(mode: &str, parent: &Path, dir: &Path, dir_mode: u32) {
    let root = fs::metadata(parent).expect("the folder").uid() == 0;
    if root {
        for entry in fs::read_dir(dir).expect("the store") {
            std::os::unix::fs::chown(entry.expect("an entry").path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let _restore = RestoreMode(dir);
    fs::set_permissions(dir, Permissions::from_mode(dir_mode)).expect("chmod");
    if !root {
        return check(mode, dir);
    }
    let mut command = child_command(Command::new(exe_for_nobody(parent)), mode, dir);
    command.uid(NOBODY).gid(NOBODY).current_dir(parent);
    // A copied binary can be "busy" for a moment: a child that another test thread is starting
    // may hold the copy's write handle between its fork and its exec.
    let mut tries = 0;
    let child = loop {
        match command.spawn() {
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && tries < 50 => tries += 1,
            spawned => break spawned.expect("the child starts"),
        }
        thread::sleep(Duration::from_millis(20));
    };
    wait_ok(child);
}

/// The test binary, where `nobody` can run it: in place, or copied into `parent` when a folder
/// above it is closed to others (a checkout under /root).
fn exe_for_nobody(parent: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    if exe.ancestors().all(|p| fs::metadata(p).is_ok_and(|m| m.mode() & 0o001 != 0)) {
        return exe;
    }
    let copy = parent.join("test-binary");
    fs::copy(&exe, &copy).expect("a copy of the test binary");
    copy
}

#[test]
fn set_into_a_read_only_folder_is_unavailable_and_keeps_the_old_value() {
    let (parent, dir) = store_with_old_value();
    check_as_owner_with_dir_mode("set-read-only", parent.path(), &dir, 0o500);
    assert_eq!(FileStorage::new(&dir).unwrap().get(KEY).unwrap().as_deref(), Some("old"));
    assert_eq!(file_names(&dir), [KEY]);
}

#[test]
fn get_in_a_folder_that_cannot_be_entered_is_unavailable_not_absent() {
    let (parent, dir) = store_with_old_value();
    check_as_owner_with_dir_mode("get-no-entry", parent.path(), &dir, 0o000);
}

#[test]
fn a_write_that_does_not_fit_is_unavailable_and_keeps_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::new(dir.path()).unwrap();
    s.set(KEY, "old").unwrap();
    // The child runs with files limited to one block (512 or 1024 bytes): writing past that
    // fails with EFBIG, as writing to a full disk fails with ENOSPC. SIGXFSZ is ignored so that
    // the write fails instead of killing the process.
    let mut sh = Command::new("sh");
    sh.args(["-c", r#"ulimit -f 1 && trap '' XFSZ && exec "$0" "$@""#]).arg(std::env::current_exe().unwrap());
    wait_ok(child_command(sh, "set-too-large", dir.path()).spawn().expect("sh starts"));
    assert_eq!(s.get(KEY).unwrap().as_deref(), Some("old"));
    assert_eq!(file_names(dir.path()), [KEY], "no temporary file is left behind");
}
