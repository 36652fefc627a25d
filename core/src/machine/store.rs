//! Keeping storage and the machine's view in step: writes and removals with retries, reads
//! shared by everyone waiting for them, and adoption of what another process stored.

use super::ops::ReadWaiter;
use super::SessionMachine;
use crate::api::{DiagnosticKind, EventKind, Output, RemovalReason, StorageFailure, StorageOpId};
use crate::storage::{parse_stored_session, serialize_session};

/// A failed write or removal is retried after this long, doubling up to `MAX_RETRY_MS`.
const FIRST_RETRY_MS: u64 = 1_000;
const MAX_RETRY_MS: u64 = 60_000;

/// Which key a read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadKey {
    Session,
    CodeVerifier,
}

#[derive(Debug)]
struct PendingRead {
    id: StorageOpId,
    key: ReadKey,
    waiters: Vec<ReadWaiter>,
}

/// What the machine owes storage for the session key.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// The value the session key must end up holding (`None`: absent), while it is owed.
    desired: Option<Option<String>>,
    /// The newest write or removal of the session key not yet reported done.
    in_flight: Option<StorageOpId>,
    /// The newest one failed: it is retried on the next input or at `retry_at`.
    failed: bool,
    retry_at: Option<u64>,
    backoff_ms: u64,
    reads: Vec<PendingRead>,
    /// The stored text known to hold exactly the machine's session (last written, or last read
    /// and adopted): reading it again needs no parse.
    pub(super) known_raw: Option<String>,
}

impl Store {
    /// Storage holds exactly the machine's view.
    pub(super) fn in_sync(&self) -> bool {
        self.in_flight.is_none() && !self.failed
    }

    pub(super) fn retry_at(&self) -> Option<u64> {
        if self.failed {
            self.retry_at
        } else {
            None
        }
    }
}

impl SessionMachine {
    /// Writes the current session (persist before emit: callers announce after this).
    pub(super) fn persist_session(&mut self) {
        if !self.cfg.persist_session {
            return;
        }
        let value = self.session.as_ref().map(serialize_session);
        self.store.known_raw.clone_from(&value);
        self.store.desired = Some(value);
        self.issue_session_storage_op();
    }

    /// Removes the stored session.
    pub(super) fn persist_removal(&mut self) {
        if !self.cfg.persist_session {
            return;
        }
        self.store.desired = Some(None);
        self.store.known_raw = None;
        self.issue_session_storage_op();
    }

    fn issue_session_storage_op(&mut self) {
        let Some(desired) = self.store.desired.clone() else { return };
        let id = StorageOpId(self.fresh_id());
        let key = self.keys.session.clone();
        self.out.push_back(match desired {
            Some(value) => Output::StorageWrite { id, key, value },
            None => Output::StorageRemove { id, key },
        });
        self.store.in_flight = Some(id);
        self.store.failed = false;
    }

    /// Removes a key other than the session's (the PKCE verifier, the separate user), best effort.
    pub(super) fn remove_aux_key(&mut self, key: String) {
        if !self.cfg.persist_session {
            return;
        }
        let id = StorageOpId(self.fresh_id());
        self.out.push_back(Output::StorageRemove { id, key });
    }

    /// Writes a key other than the session's.
    pub(super) fn write_aux_key(&mut self, key: String, value: String) {
        let id = StorageOpId(self.fresh_id());
        self.out.push_back(Output::StorageWrite { id, key, value });
    }

    pub(super) fn on_storage_done(&mut self, now: u64, id: StorageOpId, result: Result<(), StorageFailure>) {
        let newest = self.store.in_flight == Some(id);
        match result {
            Ok(()) if newest => {
                self.store = Store {
                    reads: std::mem::take(&mut self.store.reads),
                    known_raw: self.store.known_raw.take(),
                    ..Default::default()
                };
            }
            Ok(()) => {}
            Err(e) => {
                let removal = newest && self.store.desired == Some(None);
                let kind =
                    if removal { DiagnosticKind::StorageRemoveFailed } else { DiagnosticKind::StorageWriteFailed };
                self.diagnose(kind, format!("storage failed ({}); will retry", e.message), None, None);
                if newest {
                    self.store.in_flight = None;
                    self.store.failed = true;
                    self.store.backoff_ms = (self.store.backoff_ms * 2).clamp(FIRST_RETRY_MS, MAX_RETRY_MS);
                    self.store.retry_at = Some(now.saturating_add(self.store.backoff_ms));
                }
            }
        }
    }

    /// Re-issues a failed write or removal (on any input, or when its timer fires).
    pub(super) fn retry_storage(&mut self, _now: u64) {
        if self.store.failed && self.store.in_flight.is_none() {
            self.issue_session_storage_op();
        }
    }

    /// Reads the session key for `waiter`, sharing a read already under way.
    pub(super) fn request_session_read(&mut self, waiter: ReadWaiter) {
        self.request_read(ReadKey::Session, waiter);
    }

    pub(super) fn request_read(&mut self, key: ReadKey, waiter: ReadWaiter) {
        self.issue_read(key, waiter, false);
    }

    /// Reads the session key under the store's cross-process lock (see `Output::StorageRead`).
    /// Never shared with another read: the lock is taken for this reader.
    pub(super) fn request_locked_session_read(&mut self, waiter: ReadWaiter) {
        self.issue_read(ReadKey::Session, waiter, true);
    }

    /// Releases the lock a locked read took.
    pub(super) fn unlock_session_key(&mut self) {
        self.out.push_back(Output::StorageUnlock { key: self.keys.session.clone() });
    }

    fn issue_read(&mut self, key: ReadKey, waiter: ReadWaiter, exclusive: bool) {
        if let Some(r) = self.store.reads.iter_mut().find(|r| r.key == key && !exclusive) {
            r.waiters.push(waiter);
            return;
        }
        let id = StorageOpId(self.fresh_id());
        let name = match key {
            ReadKey::Session => self.keys.session.clone(),
            ReadKey::CodeVerifier => self.keys.code_verifier.clone(),
        };
        self.out.push_back(Output::StorageRead { id, key: name, exclusive });
        self.store.reads.push(PendingRead { id, key, waiters: vec![waiter] });
    }

    pub(super) fn on_storage_read(
        &mut self,
        now: u64,
        id: StorageOpId,
        result: Result<Option<String>, StorageFailure>,
    ) {
        let Some(pos) = self.store.reads.iter().position(|r| r.id == id) else { return };
        let read = self.store.reads.remove(pos);
        if let Err(e) = &result {
            self.diagnose(
                DiagnosticKind::StorageReadFailed,
                format!("storage read failed ({}); nothing was decided from it", e.message),
                None,
                None,
            );
        }
        for waiter in read.waiters {
            self.after_read(now, waiter, result.as_ref().map(Option::as_deref).map_err(Clone::clone));
        }
    }

    /// Brings the machine's view in line with what storage holds (another process may have
    /// refreshed, signed in or signed out). Returns whether the view changed.
    pub(super) fn absorb_stored(&mut self, raw: Option<&str>) -> bool {
        if !self.store.in_sync() {
            // Our own write or removal is on its way, or owed: storage is older than our view.
            return false;
        }
        if self.session.is_some() && raw.is_some() && raw == self.store.known_raw.as_deref() {
            // Exactly what we wrote or adopted last: nothing changed, nothing to parse.
            return false;
        }
        let stored = match raw.map(parse_stored_session) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(why)) => {
                self.diagnose(DiagnosticKind::InvalidStoredValue, format!("{why}; it is not a session"), None, None);
                // Heal the key with our session, or clear it: either way nothing valid is lost.
                if self.session.is_some() {
                    self.persist_session();
                } else {
                    self.persist_removal();
                }
                return false;
            }
        };
        match (stored, &self.session) {
            (None, None) => false,
            (None, Some(_)) => {
                let removed = self.session.take();
                self.store.known_raw = None;
                self.epoch += 1;
                let reason = RemovalReason::RemovedElsewhere;
                if let Some(removed) = &removed {
                    self.removals.session_removed(reason, removed);
                }
                self.doomed = None;
                self.cooldown = None;
                self.diagnose(
                    DiagnosticKind::SessionRemoved,
                    "another process removed the stored session".into(),
                    None,
                    Some(reason),
                );
                // Before INITIAL_SESSION nothing was announced: INITIAL_SESSION will tell.
                if self.phase == super::ops::Phase::Ready {
                    self.emit(EventKind::SignedOut, Some(reason), false);
                }
                true
            }
            (Some(s), Some(cur)) if s.access_token == cur.access_token && s.refresh_token == cur.refresh_token => false,
            (Some(s), cur) => {
                let event = match cur {
                    Some(cur) if cur.user_id() == s.user_id() => EventKind::TokenRefreshed,
                    _ => EventKind::SignedIn,
                };
                self.diagnose(
                    DiagnosticKind::AdoptedStoredSession,
                    "adopted a session another process stored".into(),
                    None,
                    None,
                );
                self.epoch += 1;
                self.doomed = None;
                match event {
                    EventKind::SignedIn => self.removals.session_started(&s.refresh_token),
                    _ => self.removals.session_rotated(&s.refresh_token),
                }
                self.session = Some(s);
                self.store.known_raw = raw.map(str::to_owned);
                if self.phase == super::ops::Phase::Ready {
                    self.emit(event, None, false);
                }
                true
            }
        }
    }
}
