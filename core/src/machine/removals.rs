//! Which removals a `set_session` call must yield to (POLICY.md sections 8 and 9).
//!
//! A `set_session` is judged from the moment the app calls it, which may be long before it
//! commits: it can wait for initialize, then for `GET /user` or a refresh. A removal in between
//! discards it when it is a sign-out (the user's, or another process's: the user wants to be
//! signed out, and a late commit would sign them back in) or when the removed session was of the
//! tokens it carries: the same refresh token, one the removed session rotated from, or the same
//! server session (the access token's `session_id`: every rotation of a GoTrue session shares it,
//! and the server's verdict is about the server session). Storing those again would bring back a
//! session just announced as signed out. A verdict about another session does not touch it:
//! failures judge the given tokens, never an unrelated stored session.

use crate::api::RemovalReason;
use crate::jwt::session_id_of;
use crate::wire::Session;
use std::collections::VecDeque;

/// How many rotations of one session are remembered (a `set_session` with an older refresh token
/// than these is one the server rejects anyway).
const LINEAGE_KEPT: usize = 16;
/// How many removals are remembered; a call older than all of them yields to any removal.
const REMOVALS_KEPT: usize = 16;

/// A point in the history of removals: taken when a call is made, checked when it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark(u64);

#[derive(Debug)]
struct Removed {
    /// Its number: the count of removals once it was made.
    number: u64,
    /// A sign-out (by the user, or by another process): discards every call made before it.
    sign_out: bool,
    /// The refresh tokens of the removed session, the rotations before it included.
    tokens: Vec<String>,
    /// The server session it belonged to, when its access token says.
    session_id: Option<String>,
}

/// The removals made, and the refresh tokens of the session the machine holds.
#[derive(Debug, Default)]
pub(super) struct Removals {
    count: u64,
    log: VecDeque<Removed>,
    /// The held session's refresh token and those it rotated from, oldest first.
    lineage: Vec<String>,
}

impl Removals {
    /// Now, for a call made now.
    pub fn mark(&self) -> Mark {
        Mark(self.count)
    }

    /// A session with no past (a sign-in, a `set_session`, one read at start) is held.
    pub fn session_started(&mut self, refresh_token: &str) {
        self.lineage.clear();
        self.lineage.push(refresh_token.to_owned());
    }

    /// The held session was rotated or replaced by one adopted from storage: it keeps its past.
    pub fn session_rotated(&mut self, refresh_token: &str) {
        if self.lineage.len() == LINEAGE_KEPT {
            self.lineage.remove(0);
        }
        self.lineage.push(refresh_token.to_owned());
    }

    /// The held session, `removed`, was removed for `reason`. (Its server session is read from
    /// its access token here, on the rare removal, not on every rotation.)
    pub fn session_removed(&mut self, reason: RemovalReason, removed: &Session) {
        self.count += 1;
        let sign_out = matches!(reason, RemovalReason::UserSignOut | RemovalReason::RemovedElsewhere);
        if self.log.len() == REMOVALS_KEPT {
            self.log.pop_front();
        }
        let tokens = std::mem::take(&mut self.lineage);
        let session_id = session_id_of(&removed.access_token);
        self.log.push_back(Removed { number: self.count, sign_out, tokens, session_id });
    }

    /// Whether a call made at `since`, carrying these tokens, may still commit.
    pub fn allow(&self, since: Mark, refresh_token: &str, access_token: &str) -> bool {
        let made_since = self.count - since.0;
        if made_since == 0 {
            return true;
        }
        if made_since > self.log.len() as u64 {
            // Removals older than the log were made since: too much has happened to tell.
            return false;
        }
        let session_id = session_id_of(access_token);
        self.log.iter().filter(|r| r.number > since.0).all(|r| {
            let same_server_session = session_id.is_some() && r.session_id == session_id;
            !r.sign_out && !same_server_session && !r.tokens.iter().any(|t| t == refresh_token)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    /// A session of server session `sid` with this refresh token.
    fn session(refresh: &str, sid: &str) -> Session {
        let claims = format!(r#"{{"sub":"u","exp":2000000000,"session_id":"{sid}"}}"#);
        let access = format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims));
        crate::storage::parse_stored_session(&format!(
            r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_at":2000000000}}"#
        ))
        .expect("a session")
    }

    #[test]
    fn a_removal_of_other_tokens_lets_a_call_through_a_sign_out_does_not() {
        let mut r = Removals::default();
        r.session_started("rt-a");
        r.session_rotated("rt-b");
        let before = r.mark();
        let other = session("rt-new", "s2");
        r.session_removed(RemovalReason::VerifiedRevocation, &session("rt-b", "s1"));
        assert!(r.allow(before, "rt-new", &other.access_token), "a verdict about another session");
        assert!(!r.allow(before, "rt-b", &other.access_token), "the refresh token of the removed session");
        assert!(!r.allow(before, "rt-a", &other.access_token), "a token it rotated from");
        let same_server_session = session("rt-later", "s1");
        assert!(!r.allow(before, "rt-later", &same_server_session.access_token), "its server session");
        assert!(r.allow(r.mark(), "rt-a", &other.access_token), "a call made after the removal");
        r.session_started("rt-c");
        r.session_removed(RemovalReason::UserSignOut, &session("rt-c", "s3"));
        assert!(!r.allow(before, "rt-new", &other.access_token), "a sign-out discards every call made before it");
    }

    #[test]
    fn too_old_a_call_yields_to_any_removal() {
        let mut r = Removals::default();
        let before = r.mark();
        for i in 0..=REMOVALS_KEPT {
            r.session_started(&format!("rt-{i}"));
            r.session_removed(RemovalReason::RefreshRejectedAtExpiry, &session(&format!("rt-{i}"), &format!("s{i}")));
        }
        assert!(!r.allow(before, "rt-new", &session("rt-new", "s-new").access_token));
    }

    #[test]
    fn the_lineage_is_bounded() {
        let mut r = Removals::default();
        r.session_started("rt-0");
        for i in 1..100 {
            r.session_rotated(&format!("rt-{i}"));
        }
        assert_eq!(r.lineage.len(), LINEAGE_KEPT);
        assert_eq!(r.lineage.last().map(String::as_str), Some("rt-99"));
    }
}
