//! The counters behind the rate-limit penalties: fixed windows per key and per address, and
//! the bans and blocks they start.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use super::RateLimitConfig;
use crate::codes::Code;

/// A fixed window's count, and a ban's end.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: Duration,
    count: u64,
    banned_until: Option<Duration>,
}

impl Window {
    /// Moves to the window `now` falls in, if the current one is over.
    fn roll(&mut self, now: Duration, len: Duration) {
        if now >= self.start + len || self.count == 0 {
            self.start = now;
            self.count = 0;
        }
    }

    /// Counts one request; when it is one too many, starts a ban instead (and a new count)
    /// and returns true.
    fn hit(&mut self, now: Duration, window: Duration, limit: u32, ban: Duration) -> bool {
        self.roll(now, window);
        if self.count >= u64::from(limit) {
            self.banned_until = Some(now + ban);
            self.count = 0;
            return true;
        }
        self.count += 1;
        false
    }

    /// Counts one event; the `limit`-th within the window starts a block (and a new count)
    /// and returns true: the event itself was answered as usual, the requests after it are
    /// blocked.
    fn reach(&mut self, now: Duration, window: Duration, limit: u32, block: Duration) -> bool {
        self.roll(now, window);
        self.count += 1;
        if self.count >= u64::from(limit) {
            self.banned_until = Some(now + block);
            self.count = 0;
            return true;
        }
        false
    }

    fn banned(&mut self, now: Duration) -> bool {
        match self.banned_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.banned_until = None;
                false
            }
            None => false,
        }
    }
}

/// Per key: submits, polls, busy answers and the block they may have started.
#[derive(Clone, Copy, Debug, Default)]
struct KeyWindows {
    submits: Window,
    /// When the poll window started; `None` before the key's first counted request.
    poll_start: Option<Duration>,
    /// `res.php` requests in the poll window.
    polls: u64,
    /// Submits in the poll window.
    poll_submits: u64,
    /// `ERROR_NO_SLOT_AVAILABLE` answers (`ERROR: 1001`).
    no_slot: Window,
    /// `ERROR_ZERO_BALANCE` answers (`ERROR: 1002`).
    zero_balance: Window,
    /// `ERROR_NO_SLOT_AVAILABLE` answers and accepted tasks (`ERROR: 1003`).
    queue: Window,
    queue_accepted: u64,
    /// The block in force and its code (`ERROR: 1001` to `1003`).
    block: Option<(Duration, Code)>,
}

impl KeyWindows {
    /// Starts a new poll window when there is none or it is over.
    fn poll_window(&mut self, now: Duration, len: Duration) {
        if self.poll_start.is_none_or(|start| now >= start + len) {
            self.poll_start = Some(now);
            self.polls = 0;
            self.poll_submits = 0;
        }
    }

    fn blocked(&mut self, now: Duration) -> Option<Code> {
        match self.block {
            Some((until, code)) if now < until => Some(code),
            Some(_) => {
                self.block = None;
                None
            }
            None => None,
        }
    }

    /// The queue window (`ERROR: 1003`) `now` falls in; a new one forgets the accepted tasks.
    fn queue_window(&mut self, now: Duration, len: Duration) {
        if now >= self.queue.start + len {
            self.queue = Window {
                start: now,
                ..Window::default()
            };
            self.queue_accepted = 0;
        }
    }
}

/// Per address: bad keys towards `IP_BANNED` and towards `ERROR: 1004`.
#[derive(Clone, Copy, Debug, Default)]
struct AddressWindows {
    ban: Window,
    block: Window,
}

impl AddressWindows {
    fn pending(&self, now: Duration) -> bool {
        [self.ban.banned_until, self.block.banned_until]
            .into_iter()
            .flatten()
            .any(|until| now < until)
    }
}

/// Addresses tracked at most; beyond it, addresses with nothing pending are forgotten.
const MAX_ADDRESSES: usize = 65_536;

/// The counters of every key and address (behind one lock; only touched when configured).
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    inner: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    keys: HashMap<u32, KeyWindows>,
    addresses: HashMap<IpAddr, AddressWindows>,
}

impl Limiter {
    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every count and ban (admin reset).
    pub(crate) fn clear(&self) {
        *self.lock() = LimiterState::default();
    }

    /// Before anything else: `IP_BANNED` while the address is banned, `ERROR: 1004` while it
    /// is blocked.
    pub(crate) fn check_address(
        &self,
        cfg: &RateLimitConfig,
        ip: Option<IpAddr>,
        now: Duration,
    ) -> Option<Code> {
        if cfg.ip_ban.is_none() && cfg.bad_key_block.is_none() {
            return None;
        }
        let ip = ip?;
        let mut st = self.lock();
        let w = st.addresses.get_mut(&ip)?;
        if w.ban.banned(now) {
            return Some(Code::IpBanned);
        }
        w.block.banned(now).then_some(Code::Error1004)
    }

    /// A request with a malformed or unknown key from `ip`: counts towards `ip-ban` and
    /// `bad-key-block`.
    pub(crate) fn bad_key(&self, cfg: &RateLimitConfig, ip: Option<IpAddr>, now: Duration) {
        let Some(ip) = ip else {
            return;
        };
        if cfg.ip_ban.is_none() && cfg.bad_key_block.is_none() {
            return;
        }
        let mut st = self.lock();
        if st.addresses.len() >= MAX_ADDRESSES && !st.addresses.contains_key(&ip) {
            st.addresses.retain(|_, w| w.pending(now));
        }
        let w = st.addresses.entry(ip).or_default();
        // The request itself is answered as usual; the ban starts with it.
        if let Some(rule) = &cfg.ip_ban {
            w.ban.hit(now, rule.window, rule.bad_keys, rule.ban);
        }
        if let Some(rule) = &cfg.bad_key_block {
            w.block.reach(now, rule.window, rule.bad_keys, rule.block);
        }
    }

    /// A request of `account` with a good key: the code of the block the key is under
    /// (`ERROR: 1001` to `1003`), if any.
    pub(crate) fn check_key(
        &self,
        cfg: &RateLimitConfig,
        account: u32,
        now: Duration,
    ) -> Option<Code> {
        if !cfg.blocks_keys() {
            return None;
        }
        self.lock().keys.get_mut(&account)?.blocked(now)
    }

    /// An `in.php` request of `account` with a good key: `MAX_USER_TURN` while banned or when
    /// this submit is one too many; otherwise it counts (towards both limits).
    pub(crate) fn submit(
        &self,
        cfg: &RateLimitConfig,
        account: u32,
        now: Duration,
    ) -> Option<Code> {
        if cfg.max_user_turn.is_none() && cfg.poll_ratio.is_none() {
            return None;
        }
        let mut st = self.lock();
        let k = st.keys.entry(account).or_default();
        if let Some(rule) = &cfg.max_user_turn
            && (k.submits.banned(now) || k.submits.hit(now, rule.window, rule.submits, rule.ban))
        {
            return Some(Code::MaxUserTurn);
        }
        if let Some(rule) = &cfg.poll_ratio {
            k.poll_window(now, rule.window);
            k.poll_submits += 1;
        }
        None
    }

    /// How the mock answered a submit of `account` (`None`: the task was accepted): busy
    /// answers count towards the blocks, accepted tasks towards `queue-block`'s ratio. The
    /// block a count reaches starts now, for the key's next request.
    pub(crate) fn answered(
        &self,
        cfg: &RateLimitConfig,
        account: u32,
        refused: Option<Code>,
        now: Duration,
    ) {
        if !cfg.blocks_keys() {
            return;
        }
        let mut st = self.lock();
        let k = st.keys.entry(account).or_default();
        if let Some(rule) = &cfg.queue_block {
            k.queue_window(now, rule.window);
            match refused {
                None => k.queue_accepted += 1,
                Some(Code::NoSlotAvailable) => {
                    k.queue.count += 1;
                    let ratio = u64::from(rule.ratio) * k.queue_accepted;
                    if k.queue.count >= u64::from(rule.minimum) && k.queue.count > ratio {
                        k.block = Some((now + rule.block, Code::Error1003));
                        k.queue.count = 0;
                        k.queue_accepted = 0;
                    }
                }
                Some(_) => {}
            }
        }
        let block = match refused {
            Some(Code::NoSlotAvailable) => cfg.no_slot_block.as_ref().and_then(|rule| {
                k.no_slot
                    .reach(now, rule.window, rule.errors, rule.block)
                    .then_some((now + rule.block, Code::Error1001))
            }),
            Some(Code::ZeroBalance) => cfg.zero_balance_block.as_ref().and_then(|rule| {
                k.zero_balance
                    .reach(now, rule.window, rule.errors, rule.block)
                    .then_some((now + rule.block, Code::Error1002))
            }),
            _ => None,
        };
        // The longer block wins (1001 over 1003 when both fire at once).
        if let Some((until, code)) = block
            && k.block.is_none_or(|(current, _)| until > current)
        {
            k.block = Some((until, code));
        }
    }

    /// A `res.php` request of `account` with a good key: `ERROR: 1005` once the window's
    /// allowance is spent.
    pub(crate) fn poll(&self, cfg: &RateLimitConfig, account: u32, now: Duration) -> Option<Code> {
        let rule = cfg.poll_ratio.as_ref()?;
        let mut st = self.lock();
        let k = st.keys.entry(account).or_default();
        k.poll_window(now, rule.window);
        k.polls += 1;
        let allowed = u64::from(rule.allowance) + u64::from(rule.per_submit) * k.poll_submits;
        (k.polls > allowed).then_some(Code::Error1005)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{
        BadKeyBlock, IpBan, NoSlotBlock, PollRatio, QueueBlock, SubmitBurst, ZeroBalanceBlock,
    };

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_submit_burst_is_banned_then_forgiven() {
        let cfg = RateLimitConfig {
            max_user_turn: Some(SubmitBurst {
                submits: 3,
                window: s(3),
                ban: s(10),
            }),
            ..Default::default()
        };
        let l = Limiter::default();
        for _ in 0..3 {
            assert_eq!(l.submit(&cfg, 0, s(1)), None);
        }
        assert_eq!(l.submit(&cfg, 0, s(2)), Some(Code::MaxUserTurn));
        assert_eq!(l.submit(&cfg, 1, s(2)), None, "another key is not affected");
        assert_eq!(
            l.submit(&cfg, 0, s(11)),
            Some(Code::MaxUserTurn),
            "still banned"
        );
        assert_eq!(l.submit(&cfg, 0, s(12)), None, "the ban lifts after 10 s");
        // A new window: three per window again.
        assert_eq!(l.submit(&cfg, 0, s(16)), None);
        assert_eq!(l.submit(&cfg, 0, s(16)), None);
        assert_eq!(l.submit(&cfg, 0, s(16)), None);
    }

    #[test]
    fn polls_are_allowed_per_submit_within_a_window() {
        let cfg = RateLimitConfig {
            poll_ratio: Some(PollRatio {
                allowance: 2,
                per_submit: 3,
                window: s(60),
            }),
            ..Default::default()
        };
        let l = Limiter::default();
        assert_eq!(l.submit(&cfg, 0, s(0)), None);
        assert_eq!(l.submit(&cfg, 0, s(0)), None);
        for i in 0..8 {
            assert_eq!(l.poll(&cfg, 0, s(1)), None, "poll {i}: 2 + 3 x 2 allowed");
        }
        assert_eq!(l.poll(&cfg, 0, s(1)), Some(Code::Error1005));
        assert_eq!(l.submit(&cfg, 0, s(2)), None);
        assert_eq!(l.poll(&cfg, 0, s(2)), None, "a submit earns three more");
        assert_eq!(l.poll(&cfg, 0, s(61)), None, "a new window");
    }

    #[test]
    fn bad_keys_ban_the_address_not_others() {
        let cfg = RateLimitConfig {
            ip_ban: Some(IpBan {
                bad_keys: 2,
                window: s(60),
                ban: s(300),
            }),
            ..Default::default()
        };
        let l = Limiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        l.bad_key(&cfg, Some(a), s(0));
        l.bad_key(&cfg, Some(a), s(1));
        assert_eq!(
            l.check_address(&cfg, Some(a), s(1)),
            None,
            "two are allowed"
        );
        l.bad_key(&cfg, Some(a), s(2));
        assert_eq!(l.check_address(&cfg, Some(a), s(3)), Some(Code::IpBanned));
        assert_eq!(l.check_address(&cfg, Some(b), s(3)), None);
        assert_eq!(l.check_address(&cfg, Some(a), s(301)), Some(Code::IpBanned));
        assert_eq!(l.check_address(&cfg, Some(a), s(302)), None, "lifted");
        l.clear();
        assert_eq!(l.check_address(&cfg, Some(a), s(3)), None);
    }

    #[test]
    fn a_burst_of_busy_answers_blocks_the_key() {
        let cfg = RateLimitConfig {
            no_slot_block: Some(NoSlotBlock {
                errors: 3,
                window: s(60),
                block: s(600),
            }),
            zero_balance_block: Some(ZeroBalanceBlock {
                errors: 2,
                window: s(60),
                block: s(300),
            }),
            ..Default::default()
        };
        let l = Limiter::default();
        l.answered(&cfg, 0, Some(Code::NoSlotAvailable), s(0));
        l.answered(&cfg, 0, Some(Code::NoSlotAvailable), s(1));
        assert_eq!(l.check_key(&cfg, 0, s(2)), None, "two of three");
        l.answered(&cfg, 0, Some(Code::NoSlotAvailable), s(2));
        assert_eq!(l.check_key(&cfg, 0, s(2)), Some(Code::Error1001));
        assert_eq!(
            l.check_key(&cfg, 1, s(2)),
            None,
            "another key is not affected"
        );
        assert_eq!(l.check_key(&cfg, 0, s(601)), Some(Code::Error1001));
        assert_eq!(
            l.check_key(&cfg, 0, s(602)),
            None,
            "lifted after 10 minutes"
        );

        // Busy answers spread over more than a window never add up.
        for t in [0, 61, 122, 183] {
            l.answered(&cfg, 2, Some(Code::NoSlotAvailable), s(t));
        }
        assert_eq!(l.check_key(&cfg, 2, s(184)), None);

        l.answered(&cfg, 3, Some(Code::ZeroBalance), s(0));
        l.answered(&cfg, 3, None, s(0));
        l.answered(&cfg, 3, Some(Code::ZeroBalance), s(1));
        assert_eq!(l.check_key(&cfg, 3, s(2)), Some(Code::Error1002));
        assert_eq!(l.check_key(&cfg, 3, s(301)), None);
    }

    #[test]
    fn busy_answers_far_beyond_the_accepted_tasks_block_the_key() {
        let cfg = RateLimitConfig {
            queue_block: Some(QueueBlock {
                ratio: 3,
                minimum: 4,
                window: s(600),
                block: s(30),
            }),
            ..Default::default()
        };
        let l = Limiter::default();
        // Two accepted tasks: six busy answers are allowed, the seventh blocks.
        l.answered(&cfg, 0, None, s(0));
        l.answered(&cfg, 0, None, s(0));
        for t in 1..=6 {
            l.answered(&cfg, 0, Some(Code::NoSlotAvailable), s(t));
            assert_eq!(l.check_key(&cfg, 0, s(t)), None, "busy answer {t}");
        }
        l.answered(&cfg, 0, Some(Code::NoSlotAvailable), s(7));
        assert_eq!(l.check_key(&cfg, 0, s(8)), Some(Code::Error1003));
        assert_eq!(l.check_key(&cfg, 0, s(37)), None, "30 seconds");
        // Without accepted tasks, the minimum decides.
        for t in 0..3 {
            l.answered(&cfg, 1, Some(Code::NoSlotAvailable), s(t));
        }
        assert_eq!(l.check_key(&cfg, 1, s(3)), None);
        l.answered(&cfg, 1, Some(Code::NoSlotAvailable), s(3));
        assert_eq!(l.check_key(&cfg, 1, s(3)), Some(Code::Error1003));
    }

    #[test]
    fn bad_keys_block_the_address_after_the_fifth() {
        let cfg = RateLimitConfig {
            bad_key_block: Some(BadKeyBlock::default()),
            ..Default::default()
        };
        let l = Limiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for t in 0..4 {
            l.bad_key(&cfg, Some(a), s(t));
            assert_eq!(l.check_address(&cfg, Some(a), s(t)), None);
        }
        l.bad_key(&cfg, Some(a), s(4));
        assert_eq!(l.check_address(&cfg, Some(a), s(5)), Some(Code::Error1004));
        assert_eq!(l.check_address(&cfg, Some(a), s(604)), None, "10 minutes");
    }
}
