//! Session stores: where the core's storage outputs land.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    lock_timeout: Duration,
    locks: Mutex<HashMap<String, File>>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

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

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    if truncate {
        o.truncate(true);
    } else {
        o.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl SessionStorage for FileStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        let mut bytes = Vec::new();
        match File::open(self.path(key)) {
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| unavailable("reading", &e))?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("opening", &e)),
        };
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        let target = self.path(key);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(".{}.tmp-{}-{n}", file_name(key), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = open_private(&temp, true)?;
            f.write_all(value.as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, &target)?;
            // Make the rename itself durable.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            unavailable("writing", &e)
        })
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
        let file = open_private(&path, false).map_err(|e| unavailable("opening the lock file", &e))?;
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
