//! The decoder that turns random numbers into actions (and, for the fuzz target, into setups).
//!
//! Each action is decoded from the bits of one `u64` drawn from a source (proptest's numbers in
//! `simulation.rs`, the fuzzer's bytes in the fuzz target, or [`splitmix64`]). Generating actions from plain `u64`s
//! (rather than a tree of `prop_oneof!` strategies) keeps 10 000 cases fast in a debug build;
//! proptest still shrinks by dropping actions and by lowering the numbers (0 decodes to the first
//! choice), and a fuzzer's mutations of one number change one action.

use super::*;

/// A source of numbers for [`Bits`] that needs no crate: SplitMix64 from `seed`.
pub fn splitmix64(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Draws from the bits of random numbers, one number per action.
pub struct Bits<S: FnMut() -> u64> {
    /// The number the current decision draws from.
    word: u64,
    /// Where the numbers come from.
    source: S,
}

impl<S: FnMut() -> u64> Bits<S> {
    /// A decoder drawing from `source`.
    pub fn new(source: S) -> Self {
        Bits { word: 0, source }
    }

    /// Starts a decision on the next number of the source.
    fn fresh(&mut self) {
        self.word = (self.source)();
    }

    /// A number below `n`, from the bits of the current number.
    fn below(&mut self, n: u64) -> u64 {
        let r = self.word % n;
        self.word /= n;
        r
    }

    fn bool(&mut self) -> bool {
        self.below(2) == 1
    }

    /// An index into `weights`, drawn by weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }

    fn cmd(&mut self) -> Cmd {
        match self.weighted(&[8, 2, 8, 2, 4, 4, 5, 3, 2, 1, 2, 2, 2, 1]) {
            0 => Cmd::GetSession,
            1 => Cmd::GetSessionBurst(2 + self.below(4) as u8),
            2 => Cmd::GetUser,
            3 => Cmd::GetUserWithJwt,
            4 => Cmd::RefreshSession,
            5 => Cmd::SetSession(
                [
                    SetKind::FreshValid,
                    SetKind::FreshExpired,
                    SetKind::CurrentValid,
                    SetKind::CurrentExpired,
                    SetKind::NotJwt,
                    SetKind::EmptyRefresh,
                ][self.below(6) as usize],
            ),
            6 => Cmd::SignOut([Scope::Local, Scope::Global, Scope::Others][self.below(3) as usize]),
            7 => Cmd::Password,
            8 => Cmd::Anonymous,
            9 => Cmd::IdToken,
            10 => Cmd::VerifyOtp { recovery: self.bool() },
            11 => Cmd::StartPkce { short: self.below(10) == 0, recovery: self.bool() },
            12 => Cmd::ExchangeCode,
            _ => Cmd::Initialize,
        }
    }

    fn ans(&mut self) -> Ans {
        match self.weighted(&[30, 3, 5, 2, 2, 3, 3, 2, 5, 4, 5, 3, 2, 1, 8, 1, 1, 4]) {
            0 => Ans::Ok,
            1 => Ans::OkGarbage(self.below(256) as u8),
            2 => Ans::ServerError(self.below(256) as u8),
            3 => Ans::Timeout408,
            4 => Ans::Conflict409,
            5 => Ans::RateLimited { retry_after_s: self.below(90) as u8 },
            6 => Ans::ProxyHtml(self.below(256) as u8),
            7 => Ans::EmptyBody(self.below(256) as u8),
            8 => Ans::RefreshTokenNotFound,
            9 => Ans::RefreshTokenAlreadyUsed,
            10 => Ans::SessionNotFound,
            11 => Ans::BadJwt { expired: self.bool() },
            12 => Ans::Validation422,
            13 => Ans::LegacyInvalidGrant,
            14 => Ans::Transport,
            15 => Ans::UserNotFound,
            16 => Ans::SessionExpired,
            _ => self.hostile(),
        }
    }

    /// A hostile answer (invariant 2): a body that proves nothing, with any status.
    fn hostile(&mut self) -> Ans {
        let body = match self.weighted(&[3, 3, 2, 2, 2, 1, 3, 3]) {
            0 => Hostile::Html,
            1 => Hostile::Truncated(self.below(256) as u8),
            2 => Hostile::NotUtf8(self.below(256) as u8),
            3 => Hostile::Empty,
            4 => Hostile::DeepUser(self.below(256) as u8),
            5 => Hostile::Huge(self.below(256) as u8),
            6 => Hostile::MissingFields(self.below(256) as u8),
            _ => Hostile::Bytes(self.below(1 << 16) as u16),
        };
        let status = HOSTILE_STATUSES[self.below(HOSTILE_STATUSES.len() as u64) as usize];
        Ans::Hostile { body, status }
    }

    /// A hostile stored value (invariant 16).
    fn hostile_stored(&mut self) -> HostileStored {
        match self.below(3) {
            0 => HostileStored::DeepUser,
            _ => HostileStored::Truncated(self.below(256) as u8),
        }
    }

    fn ext(&mut self) -> Ext {
        match self.weighted(&[3, 3, 1, 2, 1]) {
            0 => {
                let same_user = self.bool();
                let expiry = [Expiry::Valid, Expiry::Valid, Expiry::Due, Expiry::Expired][self.below(4) as usize];
                Ext::Fresh { same_user, expiry }
            }
            1 => Ext::Rotate,
            2 => Ext::Garbage(self.below(256) as u8),
            3 => Ext::Remove,
            _ => Ext::Hostile(self.hostile_stored()),
        }
    }

    /// A setup, decoded from one number of the source (and one more for a jitter seed), with the
    /// weights of `setup_strategy` in `simulation.rs`.
    pub fn setup(&mut self) -> Setup {
        self.fresh();
        let persist = self.below(10) != 0;
        let auto_refresh = self.below(5) != 0;
        let policy = [Policy::Verify, Policy::Remove, Policy::Defer][self.weighted(&[6, 2, 2])];
        let jitter = self.below(10) < 3;
        let skew_s = match self.weighted(&[6, 1, 1, 1]) {
            0 => 0,
            1 => 120,
            2 => -120,
            _ => self.below(60) as i64 - 30,
        };
        let lifetime_s = [3600, 600, 120][self.weighted(&[5, 2, 2])];
        let init_read_failures = self.weighted(&[16, 3, 1]) as u8;
        let init_after = match self.weighted(&[8, 2]) {
            0 => 0,
            _ => 1 + self.below(4) as u8,
        };
        let stored = match self.weighted(&[3, 3, 2, 2, 1, 1]) {
            0 => Stored::Empty,
            1 => Stored::Valid,
            2 => Stored::Due,
            3 => Stored::Expired,
            4 => Stored::Garbage,
            _ => Stored::Hostile(self.hostile_stored()),
        };
        let verify_cooldown_ms = [30_000, 3_000, 0][self.weighted(&[2, 2, 1])];
        let jitter_seed = jitter.then(|| (self.source)());
        Setup {
            persist,
            auto_refresh,
            policy,
            jitter_seed,
            skew_s,
            lifetime_s,
            stored,
            init_read_failures,
            init_after,
            verify_cooldown_ms,
        }
    }

    /// A case: a setup, then from 1 to `max_actions` actions (how many: one more number).
    pub fn case(&mut self, max_actions: u64) -> (Setup, Vec<Action>) {
        let setup = self.setup();
        let n = 1 + (self.source)() % max_actions.max(1);
        (setup, (0..n).map(|_| self.action()).collect())
    }

    /// An action, decoded from one number of the source.
    pub fn action(&mut self) -> Action {
        self.fresh();
        match self.weighted(&[35, 30, 6, 5, 3, 4, 5, 2, 2, 2, 7, 5, 5]) {
            0 => Action::Answer { pick: self.below(1 << 16) as u16, ans: self.ans() },
            10 => {
                let pick = self.below(1 << 16) as u16;
                let ans = match self.weighted(&[4, 2, 1, 1, 2, 1, 1]) {
                    0 => Ans::SessionNotFound,
                    1 => Ans::BadJwt { expired: self.bool() },
                    2 => Ans::UserNotFound,
                    3 => Ans::SessionExpired,
                    4 => Ans::Ok,
                    5 => Ans::Transport,
                    _ => self.hostile(),
                };
                Action::AnswerUser { pick, ans }
            }
            11 => {
                let pick = self.below(1 << 16) as u16;
                let ans = match self.weighted(&[6, 1, 1, 1, 1]) {
                    0 => Ans::Ok,
                    1 => Ans::RefreshTokenNotFound,
                    2 => Ans::ServerError(self.below(256) as u8),
                    3 => Ans::Transport,
                    _ => self.hostile(),
                };
                Action::AnswerRefresh { pick, ans }
            }
            12 => {
                let ans = match self.weighted(&[4, 2, 1, 1]) {
                    0 => Ans::SessionNotFound,
                    1 => Ans::BadJwt { expired: self.bool() },
                    2 => Ans::UserNotFound,
                    _ => Ans::SessionExpired,
                };
                Action::DoubtedGetUser { ans, doubt_again: self.below(4) != 0 }
            }
            1 => Action::Cmd(self.cmd()),
            2 => Action::Advance(self.below(2_000)),
            3 => Action::Advance(2_000 + self.below(118_000)),
            4 => Action::Advance(120_000 + self.below(7_080_000)),
            5 => Action::FailStorage {
                op: [StoreOp::Read, StoreOp::Write, StoreOp::Remove][self.below(3) as usize],
                times: 1 + self.below(3) as u8,
            },
            6 => Action::External { change: self.ext(), notify: self.below(5) < 3 },
            7 => Action::AutoRefresh(self.bool()),
            8 => Action::Foreground(self.below(5) < 3),
            _ => Action::Online(self.below(5) < 3),
        }
    }
}
