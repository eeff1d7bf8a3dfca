//! Rate-limit penalties, opt-in (`[api.rate-limits]`): what the services answer to clients that
//! submit too fast, poll too much or keep trying bad keys (the services' documented errors).
//!
//! The syntax is documented on [`RateLimitConfig`].
//!
//! Windows are fixed (they start at a key's or an address's first counted request), on the
//! mock's clock, so a time scale or the paused clock of a test applies. Nothing here runs
//! unless configured.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::codes::Code;

/// `[api.rate-limits]`: each penalty is off unless given.
///
/// ```toml
/// [api.rate-limits]
/// max-user-turn = { submits = 60, window = "3s", ban = "10s" }           # in.php per key
/// poll-ratio = { allowance = 1200, per-submit = 20, window = "1h" }      # res.php per key: `ERROR: 1005`
/// ip-ban = { bad-keys = 10, window = "1m", ban = "5m" }                  # `IP_BANNED` per client address
/// ```
///
/// - **`max-user-turn`**: more than `submits` `in.php` requests of one key within `window`
///   bans the key's submits for `ban`: each answered `MAX_USER_TURN` (CaptchaAI: more than 60
///   in 3 s, a 10 s ban). Refused submits do not count.
/// - **`poll-ratio`**: within each `window`, a key may make `allowance` plus `per-submit` times
///   its submits `res.php` requests; beyond that every `res.php` request of the key is answered
///   `ERROR: 1005` until the window ends (2captcha: 20 per submit plus 1 200).
/// - **`ip-ban`**: more than `bad-keys` requests with a malformed or unknown key from one client
///   address within `window` ban that address for `ban`: every `in.php` and `res.php` request
///   from it is answered `IP_BANNED` (CaptchaAI: the ban lifts after about 5 minutes).
///
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
// The scenario schema keeps the one-line summary; the syntax above is for rustdoc.
#[schemars(description = "`[api.rate-limits]`: each penalty is off unless given.")]
pub struct RateLimitConfig {
    /// `MAX_USER_TURN` for submit bursts.
    pub max_user_turn: Option<SubmitBurst>,
    /// `ERROR: 1005` for polling far more than submitting.
    pub poll_ratio: Option<PollRatio>,
    /// `IP_BANNED` after repeated bad keys.
    pub ip_ban: Option<IpBan>,
}

impl RateLimitConfig {
    /// True when any penalty is configured.
    pub(crate) fn any(&self) -> bool {
        self.max_user_turn.is_some() || self.poll_ratio.is_some() || self.ip_ban.is_some()
    }

    /// The first setting that cannot work, as (config key, reason).
    pub(crate) fn invalid(&self) -> Option<(&'static str, &'static str)> {
        let zero = Duration::ZERO;
        if let Some(b) = &self.max_user_turn
            && (b.window == zero || b.ban == zero || b.submits == 0)
        {
            return Some((
                "api.rate-limits.max-user-turn",
                "submits must be at least 1, window and ban positive",
            ));
        }
        if let Some(p) = &self.poll_ratio
            && p.window == zero
        {
            return Some(("api.rate-limits.poll-ratio", "window must be positive"));
        }
        if let Some(b) = &self.ip_ban
            && (b.window == zero || b.ban == zero || b.bad_keys == 0)
        {
            return Some((
                "api.rate-limits.ip-ban",
                "bad-keys must be at least 1, window and ban positive",
            ));
        }
        None
    }
}

/// More than `submits` submits within `window` ban the key's submits for `ban`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SubmitBurst {
    /// Submits allowed per window (CaptchaAI: 60).
    pub submits: u32,
    /// The window (CaptchaAI: 3 s).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// How long submits are refused (CaptchaAI: 10 s).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ban: Duration,
}

impl Default for SubmitBurst {
    fn default() -> Self {
        SubmitBurst {
            submits: 60,
            window: Duration::from_secs(3),
            ban: Duration::from_secs(10),
        }
    }
}

/// `res.php` requests allowed per window: `allowance + per-submit x submits`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PollRatio {
    /// Requests allowed whatever the submits (2captcha: 1 200).
    pub allowance: u32,
    /// Requests allowed per submit in the window (2captcha: 20).
    pub per_submit: u32,
    /// The window.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
}

impl Default for PollRatio {
    fn default() -> Self {
        PollRatio {
            allowance: 1200,
            per_submit: 20,
            window: Duration::from_secs(3600),
        }
    }
}

/// More than `bad-keys` bad-key requests within `window` ban the address for `ban`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct IpBan {
    /// Bad-key requests allowed per window.
    pub bad_keys: u32,
    /// The window.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// How long the address is refused (CaptchaAI: about 5 minutes).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ban: Duration,
}

impl Default for IpBan {
    fn default() -> Self {
        IpBan {
            bad_keys: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
        }
    }
}

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

/// Per key: submits and polls.
#[derive(Clone, Copy, Debug, Default)]
struct KeyWindows {
    submits: Window,
    /// When the poll window started; `None` before the key's first counted request.
    poll_start: Option<Duration>,
    /// `res.php` requests in the poll window.
    polls: u64,
    /// Submits in the poll window.
    poll_submits: u64,
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
    addresses: HashMap<IpAddr, Window>,
}

impl Limiter {
    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every count and ban (admin reset).
    pub(crate) fn clear(&self) {
        *self.lock() = LimiterState::default();
    }

    /// Before anything else: `IP_BANNED` while the address is banned.
    pub(crate) fn check_address(
        &self,
        cfg: &RateLimitConfig,
        ip: Option<IpAddr>,
        now: Duration,
    ) -> Option<Code> {
        cfg.ip_ban.as_ref()?;
        let ip = ip?;
        let mut st = self.lock();
        let w = st.addresses.get_mut(&ip)?;
        w.banned(now).then_some(Code::IpBanned)
    }

    /// A request with a malformed or unknown key from `ip`: counts towards `ip-ban`.
    pub(crate) fn bad_key(&self, cfg: &RateLimitConfig, ip: Option<IpAddr>, now: Duration) {
        let (Some(rule), Some(ip)) = (&cfg.ip_ban, ip) else {
            return;
        };
        let mut st = self.lock();
        if st.addresses.len() >= MAX_ADDRESSES && !st.addresses.contains_key(&ip) {
            st.addresses
                .retain(|_, w| w.banned_until.is_some_and(|until| now < until));
        }
        // The request itself is answered as usual; the ban starts with it.
        st.addresses
            .entry(ip)
            .or_default()
            .hit(now, rule.window, rule.bad_keys, rule.ban);
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
}
