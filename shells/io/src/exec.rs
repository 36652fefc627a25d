//! Carrying out the core's storage outputs.

use crate::storage::SessionStorage;
use gotrue_session::{Output, SessionMachine, StorageFailure, StorageOpId};
use std::collections::HashMap;
use std::sync::Arc;

/// The result of a storage output, to hand back to the machine.
#[derive(Debug)]
pub enum StorageInput {
    /// A read's result.
    Read(StorageOpId, Result<Option<String>, StorageFailure>),
    /// A write's or removal's outcome.
    Done(StorageOpId, Result<(), StorageFailure>),
    /// Nothing to hand back (an unlock).
    Nothing,
}

impl StorageInput {
    /// Feeds the result to the machine.
    pub fn apply(self, machine: &mut SessionMachine, now: u64) {
        match self {
            StorageInput::Read(id, r) => machine.handle_storage_read(now, id, r),
            StorageInput::Done(id, r) => machine.handle_storage_done(now, id, r),
            StorageInput::Nothing => {}
        }
    }
}

/// Executes storage outputs against a store, keeping the cross-process lock re-entrant within
/// one machine.
pub struct StorageExecutor {
    storage: Arc<dyn SessionStorage>,
    held: HashMap<String, u32>,
}

impl StorageExecutor {
    /// An executor over `storage`.
    pub fn new(storage: Arc<dyn SessionStorage>) -> Self {
        StorageExecutor { storage, held: HashMap::new() }
    }

    /// Whether `out` is a storage output (the executor's business).
    pub fn is_storage(out: &Output) -> bool {
        matches!(
            out,
            Output::StorageRead { .. }
                | Output::StorageWrite { .. }
                | Output::StorageRemove { .. }
                | Output::StorageUnlock { .. }
        )
    }

    /// Carries out one storage output. Other outputs give `StorageInput::Nothing`.
    pub fn execute(&mut self, out: &Output) -> StorageInput {
        let failure = |e: crate::storage::StorageError| StorageFailure::new(e.to_string());
        match out {
            Output::StorageRead { id, key, exclusive } => {
                if *exclusive {
                    let count = self.held.entry(key.clone()).or_insert(0);
                    if *count == 0 {
                        // A store that cannot lock (or a lock that times out) still reads: the
                        // lock only saves a request, the server's reuse rules keep us safe.
                        let _ = self.storage.lock(key);
                    }
                    *count += 1;
                }
                StorageInput::Read(*id, self.storage.get(key).map_err(failure))
            }
            Output::StorageWrite { id, key, value } => {
                StorageInput::Done(*id, self.storage.set(key, value).map_err(failure))
            }
            Output::StorageRemove { id, key } => StorageInput::Done(*id, self.storage.remove(key).map_err(failure)),
            Output::StorageUnlock { key } => {
                if let Some(count) = self.held.get_mut(key) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.held.remove(key);
                        self.storage.unlock(key);
                    }
                }
                StorageInput::Nothing
            }
            _ => StorageInput::Nothing,
        }
    }

    /// Releases every lock still held (on shutdown).
    pub fn release_all(&mut self) {
        for (key, _) in self.held.drain() {
            self.storage.unlock(&key);
        }
    }
}

impl Drop for StorageExecutor {
    fn drop(&mut self) {
        self.release_all();
    }
}
