//! Session stores: where the core's storage outputs land.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A store that failed. "Absent" is not an error: it is `Ok(None)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The store could not be used now (an I/O error, a locked keychain, a lock that timed out).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// A key-value store for the session, shared by the shells (and implemented by apps).
pub trait SessionStorage: Send + Sync {
    /// The value of `key`, or `None` when absent.
    fn get(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Stores `value` under `key`.
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Removes `key` (absent is fine).
    fn remove(&self, key: &str) -> Result<(), StorageError>;
    /// Takes a cross-process lock on `key`, waiting for it (stores without locking do nothing).
    fn lock(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
    /// Releases the lock taken by [`SessionStorage::lock`].
    fn unlock(&self, _key: &str) {}
}

/// An in-memory store (tests, server-side clients, apps that persist nothing).
#[derive(Debug, Default)]
pub struct MemoryStorage {
    map: Mutex<HashMap<String, String>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored now.
    pub fn snapshot(&self) -> HashMap<String, String> {
        self.map.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, String>) -> T) -> Result<T, StorageError> {
        let mut map = self.map.lock().map_err(|_| StorageError::Unavailable("the store's lock is poisoned".into()))?;
        Ok(f(&mut map))
    }
}

impl SessionStorage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.with(|m| m.get(key).cloned())
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.with(|m| {
            m.insert(key.to_owned(), value.to_owned());
        })
    }
    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.with(|m| {
            m.remove(key);
        })
    }
}

/// A store in a folder, one file per key, for desktop apps, CLIs and JVM apps.
///
/// Writes are atomic (a temporary file, fsync, rename), files are readable by their owner only,
/// and [`SessionStorage::lock`] takes an advisory lock on `<key>.lock`, so that two processes
/// sharing the folder refresh a token once. A file that is not valid UTF-8 is handed over as
/// lossy text: the core then reports it as an invalid stored value and removes it.
///
/// Faults are errors, never "absent": only a missing file is `Ok(None)`. A symbolic link planted
/// at a key's file, its temporary file or its lock file is refused, never read or written
/// through (a write replaces the link itself). A folder that cannot be read or written, or a
/// write that runs out of space, is [`StorageError::Unavailable`] and leaves the previous value
/// in place. The lock is `flock`-style: the system releases it when its holder dies.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    lock_timeout: Duration,
    locks: Mutex<HashMap<String, File>>,
}

impl FileStorage {
    /// A store in `dir` (created, owner-only, when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|e| unavailable("creating the folder", &e))?;
        Ok(FileStorage { dir, lock_timeout: Duration::from_secs(10), locks: Mutex::new(HashMap::new()) })
    }

    /// How long [`SessionStorage::lock`] waits for another process (default 10 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(file_name(key))
    }
}

/// Keys become file names: `[A-Za-z0-9._-]` stay, everything else is `%XX`, and a leading dot
/// is escaped too (no hidden files, no `..`).
fn file_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, b) in key.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

fn unavailable(what: &str, e: &std::io::Error) -> StorageError {
    StorageError::Unavailable(format!("{what}: {}", e.kind()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

/// `o`, creating files owner-only and never following a symbolic link at the path's last
/// component (`O_NOFOLLOW`): a link planted in the folder is an error, not a way to read or
/// overwrite the file it points to. `O_NONBLOCK` keeps a FIFO planted there from blocking the
/// open (it changes nothing for regular files).
fn guarded(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    o
}

/// The error for an open of `path` that failed, saying so plainly when a link is in the way
/// (`O_NOFOLLOW` fails with ELOOP on Linux and macOS, with other codes elsewhere).
fn open_error(what: &str, path: &Path, e: &std::io::Error) -> StorageError {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        let kind = e.kind();
        return StorageError::Unavailable(format!(
            "{what}: the path is a symbolic link, which the store never follows ({kind})"
        ));
    }
    unavailable(what, e)
}

/// How many temporary names [`create_temp`] draws before giving up: a collision with 64 random
/// bits means something is planting files, not bad luck.
const TEMP_ATTEMPTS: u32 = 4;

/// The temporary file for a new value of the file `name`: next to it (so the rename stays in one
/// file system) and starting with a dot, which no key's file name does.
fn temp_path(dir: &Path, name: &str, nonce: u64) -> PathBuf {
    dir.join(format!(".{name}.tmp-{nonce:016x}"))
}

/// Creates a new temporary file under a name drawn from `nonce`. `create_new` (`O_EXCL`) fails on
/// anything already at the path, a link included, so nothing planted there is written through;
/// the name is then drawn again.
fn create_temp(
    dir: &Path,
    name: &str,
    mut nonce: impl FnMut() -> Result<u64, StorageError>,
) -> Result<(PathBuf, File), StorageError> {
    let mut attempt = 1;
    loop {
        let path = temp_path(dir, name, nonce()?);
        match guarded(OpenOptions::new().write(true).create_new(true)).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => attempt += 1,
            Err(e) => return Err(open_error("creating the temporary file", &path, &e)),
        }
    }
}

/// 64 bits from the system's random source: temporary names another process cannot predict.
fn random_nonce() -> Result<u64, StorageError> {
    getrandom::u64().map_err(|e| StorageError::Unavailable(format!("naming the temporary file: {e}")))
}

/// Writes `value` to `file`, syncs it and renames `temp` over `target`. `rename` replaces
/// whatever is at `target`, a symbolic link included, without following it.
fn write_and_rename(mut file: File, value: &str, temp: &Path, target: &Path) -> Result<(), StorageError> {
    file.write_all(value.as_bytes()).map_err(|e| unavailable("writing", &e))?;
    file.sync_all().map_err(|e| unavailable("syncing", &e))?;
    drop(file);
    fs::rename(temp, target).map_err(|e| unavailable("renaming", &e))
}

impl SessionStorage for FileStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        let path = self.path(key);
        // Only a missing file is absent: any other failure (a link, a folder that cannot be
        // entered) is an error, or the core would take it for a signed-out user.
        let mut file = match guarded(OpenOptions::new().read(true)).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(open_error("opening", &path, &e)),
        };
        // A folder, FIFO or device where the file should be is a fault, not a value.
        if !file.metadata().map_err(|e| unavailable("opening", &e))?.is_file() {
            return Err(StorageError::Unavailable("opening: not a regular file".into()));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| unavailable("reading", &e))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let name = file_name(key);
        let (temp, file) = create_temp(&self.dir, &name, random_nonce)?;
        if let Err(e) = write_and_rename(file, value, &temp, &self.dir.join(&name)) {
            // The previous value is untouched (the rename did not happen); leave no partial
            // file behind, e.g. after a write that ran out of space.
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        // Make the rename itself durable.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable("removing", &e)),
        }
    }

    fn lock(&self, key: &str) -> Result<(), StorageError> {
        let path = self.dir.join(format!("{}.lock", file_name(key)));
        let file = guarded(OpenOptions::new().read(true).write(true).create(true).truncate(false))
            .open(&path)
            .map_err(|e| open_error("opening the lock file", &path, &e))?;
        let deadline = Instant::now() + self.lock_timeout;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StorageError::Unavailable("another process held the lock too long".into()))
                }
                Err(fs::TryLockError::Error(e)) => return Err(unavailable("locking", &e)),
            }
        }
        if let Ok(mut locks) = self.locks.lock() {
            locks.insert(key.to_owned(), file);
        }
        Ok(())
    }

    fn unlock(&self, key: &str) {
        if let Some(file) = self.locks.lock().ok().and_then(|mut l| l.remove(key)) {
            let _ = file.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_set_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path().join("store")).unwrap();
        assert_eq!(s.get("sb-x-auth-token").unwrap(), None);
        s.set("sb-x-auth-token", "{\"a\":1}").unwrap();
        assert_eq!(s.get("sb-x-auth-token").unwrap().as_deref(), Some("{\"a\":1}"));
        s.set("sb-x-auth-token", "two").unwrap();
        assert_eq!(s.get("sb-x-auth-token").unwrap().as_deref(), Some("two"));
        s.remove("sb-x-auth-token").unwrap();
        s.remove("sb-x-auth-token").unwrap();
        assert_eq!(s.get("sb-x-auth-token").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path().join("store")).unwrap();
        s.set("k", "v").unwrap();
        let mode = fs::metadata(s.dir().join("k")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(s.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn hostile_keys_stay_inside_the_folder() {
        // No separator survives, and no name starts with a dot: the result is one plain file name.
        assert_eq!(file_name("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd");
        assert_eq!(file_name(".."), "%2E.");
        assert_eq!(file_name(".hidden"), "%2Ehidden");
        assert_eq!(file_name(""), "%00");
        assert_eq!(file_name("sb-abc-auth-token-code-verifier"), "sb-abc-auth-token-code-verifier");
    }

    #[test]
    fn corrupt_bytes_are_read_as_text_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path()).unwrap();
        fs::write(dir.path().join("k"), [0xff, 0xfe, b'{']).unwrap();
        assert!(s.get("k").unwrap().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_file_is_unavailable_not_absent() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path()).unwrap();
        // A folder where the file should be: reading it is an I/O error, not "absent".
        fs::create_dir(dir.path().join("k")).unwrap();
        assert!(matches!(s.get("k"), Err(StorageError::Unavailable(_))));
        assert!(matches!(s.set("k", "v"), Err(StorageError::Unavailable(_))));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_temporary_name_is_skipped_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, temp_path(dir.path(), "k", 7)).unwrap();

        // The first two draws name the link: the file is created under the third.
        let mut draws = [7, 7, 8].into_iter();
        let (path, mut file) = create_temp(dir.path(), "k", || Ok(draws.next().unwrap())).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(path, temp_path(dir.path(), "k", 8));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");

        // Names that always collide: an error after a few draws, not a loop or a write through
        // (the draws end anyway after 100, so that a loop fails the test instead of hanging it).
        let mut n = 0;
        let always_7 = || {
            n += 1;
            if n > 100 {
                return Err(StorageError::Unavailable("drawn too often".into()));
            }
            Ok(7)
        };
        assert!(matches!(create_temp(dir.path(), "k", always_7), Err(StorageError::Unavailable(_))));
        assert_eq!(n, TEMP_ATTEMPTS);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
    }

    #[test]
    fn the_lock_excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileStorage::new(dir.path()).unwrap();
        let b = FileStorage::new(dir.path()).unwrap().with_lock_timeout(Duration::from_millis(50));
        a.lock("k").unwrap();
        assert!(matches!(b.lock("k"), Err(StorageError::Unavailable(_))));
        a.unlock("k");
        b.lock("k").unwrap();
        b.unlock("k");
    }
}
