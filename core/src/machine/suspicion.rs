//! What a `/user` suspicion leads to (POLICY.md section 5), as one transition function.
//!
//! `/user` answering 403 `session_not_found` (or a like code, see
//! [`crate::classify::USER_SUSPICIONS`]) is a suspicion, never a verdict: `/user` may be served
//! by a replica that has not yet seen the session. Only the refresh endpoint, answered by the
//! primary, can say a session is dead. Every case is a row of [`next_step`].

use crate::classify::Suspicion;
use crate::config::SessionNotFoundPolicy;
use crate::jwt::session_id_of;

/// The last verify refresh that succeeded: when (machine time, ms) and which server session (the
/// access token's `session_id` claim) it proved alive. The verify cooldown runs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verified {
    pub(super) at: u64,
    session_id: Option<String>,
}

impl Verified {
    /// A verify refresh that succeeded at `at` and returned `access_token`.
    pub(super) fn new(at: u64, access_token: &str) -> Self {
        Verified { at, session_id: session_id_of(access_token) }
    }

    /// Whether a suspicion about `access_token` at `now` comes within `cooldown_ms` of this verify.
    pub(super) fn covers(&self, now: u64, cooldown_ms: u64, access_token: &str) -> bool {
        // A clock set back before the verify ends the cooldown rather than stretching it: one
        // extra refresh costs less than a revoked session kept for as long as the clock was moved.
        let within = now >= self.at && now - self.at < cooldown_ms;
        // Another server session (another process signed in again and stored it; it is adopted
        // as TOKEN_REFRESHED when the user is the same) was never verified.
        within && self.session_id == session_id_of(access_token)
    }
}

/// Which `/user` request of a `get_user` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// Asked with the session's token as it was (also when asked again about a session that
    /// replaced the one first asked about).
    First,
    /// Retried once with the token a verify refresh just returned.
    AfterVerify,
}

/// What the answer is about, compared with the session the machine holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum About {
    /// The current session.
    Current,
    /// A session since replaced (a sign-in, a refresh, another process).
    Replaced,
    /// A session since removed (a sign-out).
    Removed,
}

/// What the machine does with a suspicion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Refresh now: the refresh endpoint decides, then `/user` is retried once.
    Verify,
    /// Keep the session, announce nothing, answer `session_unconfirmed`.
    Unconfirmed,
    /// Ask `/user` again, about the session held now.
    AskAgain,
    /// Remove the session (the `remove` policy) and answer `session_missing`.
    Remove,
    /// Answer `session_missing`: there is no session any more, and nothing to remove.
    Missing,
    /// Keep the session and answer the error as it came (the `defer` policy).
    Return,
}

/// The situation a suspicion arrives in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Situation {
    /// Which suspicion.
    pub(super) suspicion: Suspicion,
    /// Which request of the call answered.
    pub(super) ask: Ask,
    /// What the answer is about.
    pub(super) about: About,
    /// The configured policy.
    pub(super) policy: SessionNotFoundPolicy,
    /// A verify refresh of this session succeeded less than `verify_cooldown` ago.
    pub(super) verified_recently: bool,
}

/// The transition: first matching row wins.
pub(super) fn next_step(s: Situation) -> Step {
    use SessionNotFoundPolicy::{Defer, Remove, Verify};
    match s {
        // The commit guard: an answer about a session signed out meanwhile removes nothing and
        // brings nothing back.
        Situation { about: About::Removed, .. } => Step::Missing,
        // An answer about a session replaced meanwhile says nothing about the current one.
        Situation { about: About::Replaced, .. } => Step::AskAgain,
        // The refresh endpoint has just accepted this session: it is alive, whatever a lagging
        // replica says. Not a verdict.
        Situation { ask: Ask::AfterVerify, .. } => Step::Unconfirmed,
        // The policies that do not verify a `session_not_found`-like answer.
        Situation { suspicion: Suspicion::SessionGone, policy: Remove, .. } => Step::Remove,
        Situation { suspicion: Suspicion::SessionGone, policy: Defer, .. } => Step::Return,
        // At most one verify refresh per cooldown: no token rotation loop against a `/user`
        // that keeps doubting.
        Situation { verified_recently: true, .. } => Step::Unconfirmed,
        // `verify`, or a token the server thinks expired (clock skew: one refresh whatever the
        // policy): the refresh endpoint decides.
        Situation { policy: Verify, .. } | Situation { suspicion: Suspicion::TokenExpired, .. } => Step::Verify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionNotFoundPolicy::{Defer, Remove, Verify};

    fn at(suspicion: Suspicion, ask: Ask, about: About, policy: SessionNotFoundPolicy, recent: bool) -> Step {
        next_step(Situation { suspicion, ask, about, policy, verified_recently: recent })
    }

    const GONE: Suspicion = Suspicion::SessionGone;
    const EXPIRED: Suspicion = Suspicion::TokenExpired;

    #[test]
    fn a_first_suspicion_verifies_under_the_verify_policy() {
        assert_eq!(at(GONE, Ask::First, About::Current, Verify, false), Step::Verify);
        assert_eq!(at(GONE, Ask::First, About::Current, Remove, false), Step::Remove);
        assert_eq!(at(GONE, Ask::First, About::Current, Defer, false), Step::Return);
        for policy in [Verify, Remove, Defer] {
            assert_eq!(at(EXPIRED, Ask::First, About::Current, policy, false), Step::Verify, "{policy:?}");
        }
    }

    #[test]
    fn after_a_successful_verify_no_suspicion_is_a_verdict() {
        for suspicion in [GONE, EXPIRED] {
            for policy in [Verify, Remove, Defer] {
                for recent in [false, true] {
                    assert_eq!(at(suspicion, Ask::AfterVerify, About::Current, policy, recent), Step::Unconfirmed);
                }
            }
        }
    }

    #[test]
    fn inside_the_cooldown_no_second_refresh() {
        assert_eq!(at(GONE, Ask::First, About::Current, Verify, true), Step::Unconfirmed);
        assert_eq!(at(EXPIRED, Ask::First, About::Current, Defer, true), Step::Unconfirmed);
        // The cooldown limits refreshes; it does not overrule a policy that makes none.
        assert_eq!(at(GONE, Ask::First, About::Current, Remove, true), Step::Remove);
        assert_eq!(at(GONE, Ask::First, About::Current, Defer, true), Step::Return);
    }

    #[test]
    fn answers_about_another_session_never_touch_the_current_one() {
        for ask in [Ask::First, Ask::AfterVerify] {
            for policy in [Verify, Remove, Defer] {
                assert_eq!(at(GONE, ask, About::Removed, policy, false), Step::Missing);
                assert_eq!(at(GONE, ask, About::Replaced, policy, true), Step::AskAgain);
            }
        }
    }
}
