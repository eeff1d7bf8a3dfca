//! Rate-limit penalties, opt-in (`[api.rate-limits]`): what the services answer to clients that
//! submit too fast, poll too much, keep trying bad keys or keep submitting into busy answers
//! (the services' documented errors: `MAX_USER_TURN`, `IP_BANNED`, `ERROR: 1001` to `1005`).
//!
//! The syntax is documented on [`RateLimitConfig`]; the counters are in [`counters`].
//!
//! Windows are fixed (they start at a key's or an address's first counted request), on the
//! mock's clock, so a time scale or the paused clock of a test applies. Nothing here runs
//! unless configured.

mod counters;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) use self::counters::Limiter;

/// `[api.rate-limits]`: each penalty is off unless given.
///
/// ```toml
/// [api.rate-limits]
/// max-user-turn = { submits = 60, window = "3s", ban = "10s" }           # in.php per key
/// poll-ratio = { allowance = 1200, per-submit = 20, window = "1h" }      # res.php per key: `ERROR: 1005`
/// ip-ban = { bad-keys = 10, window = "1m", ban = "5m" }                  # `IP_BANNED` per client address
/// no-slot-block = { errors = 120, window = "1m", block = "10m" }         # `ERROR: 1001` per key
/// zero-balance-block = { errors = 120, window = "1m", block = "5m" }     # `ERROR: 1002` per key
/// queue-block = { ratio = 3, minimum = 120, window = "10m", block = "30s" } # `ERROR: 1003` per key
/// bad-key-block = { bad-keys = 5, window = "1m", block = "10m" }         # `ERROR: 1004` per address
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
/// 2captcha's escalating blocks (its error list, as infosimples/node_two_captcha
/// `src/constants.js` and qwbarch/2captcha-haskell `Error.hs` copy it), each a block of every
/// `in.php` and `res.php` request of the key (or the address) for `block`:
///
/// - **`no-slot-block`** (`ERROR: 1001`): the key was answered `ERROR_NO_SLOT_AVAILABLE`
///   `errors` times within `window` (2captcha: 120 in one minute, blocked 10 minutes);
/// - **`zero-balance-block`** (`ERROR: 1002`): the same for `ERROR_ZERO_BALANCE` (120 in one
///   minute, 5 minutes);
/// - **`queue-block`** (`ERROR: 1003`): within `window` the key was answered
///   `ERROR_NO_SLOT_AVAILABLE` at least `minimum` times and more than `ratio` times as often
///   as it had a task accepted (2captcha: "three times more errors than amount of captchas you
///   sent, but not less than 120", 30 seconds; it names no window: 10 minutes here, so that it
///   catches hammering that stays under `no-slot-block`'s per-minute count);
/// - **`bad-key-block`** (`ERROR: 1004`): `bad-keys` requests with a malformed or unknown key
///   from one address within `window` (2captcha: 5, blocked 10 minutes).
///
/// Only the busy answers the mock gives itself count (a fault rule's `answer` does not).
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
    /// `ERROR: 1001` after a burst of `ERROR_NO_SLOT_AVAILABLE` answers.
    pub no_slot_block: Option<NoSlotBlock>,
    /// `ERROR: 1002` after a burst of `ERROR_ZERO_BALANCE` answers.
    pub zero_balance_block: Option<ZeroBalanceBlock>,
    /// `ERROR: 1003` after far more `ERROR_NO_SLOT_AVAILABLE` answers than accepted tasks.
    pub queue_block: Option<QueueBlock>,
    /// `ERROR: 1004` after repeated bad keys from one address.
    pub bad_key_block: Option<BadKeyBlock>,
}

impl RateLimitConfig {
    /// True when any penalty is configured.
    pub(crate) fn any(&self) -> bool {
        self.max_user_turn.is_some()
            || self.poll_ratio.is_some()
            || self.ip_ban.is_some()
            || self.blocks_keys()
            || self.bad_key_block.is_some()
    }

    /// True when a per-key block (`ERROR: 1001` to `1003`) is configured.
    pub(crate) fn blocks_keys(&self) -> bool {
        self.no_slot_block.is_some()
            || self.zero_balance_block.is_some()
            || self.queue_block.is_some()
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
        let blocks = [
            (
                "api.rate-limits.no-slot-block",
                self.no_slot_block
                    .as_ref()
                    .map(|b| (b.errors, b.window, b.block)),
            ),
            (
                "api.rate-limits.zero-balance-block",
                self.zero_balance_block
                    .as_ref()
                    .map(|b| (b.errors, b.window, b.block)),
            ),
            (
                "api.rate-limits.queue-block",
                self.queue_block
                    .as_ref()
                    .map(|b| (b.minimum.max(b.ratio), b.window, b.block)),
            ),
            (
                "api.rate-limits.bad-key-block",
                self.bad_key_block
                    .as_ref()
                    .map(|b| (b.bad_keys, b.window, b.block)),
            ),
        ];
        for (key, block) in blocks {
            if let Some((count, window, length)) = block
                && (count == 0 || window == zero || length == zero)
            {
                return Some((key, "counts must be at least 1, window and block positive"));
            }
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

/// Declares a block's settings: a count within a window, then a block.
macro_rules! refusal_block {
    ($(#[$doc:meta])* $name:ident, $count:ident, $count_doc:literal, $errors:literal, $block_secs:literal, $block_doc:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
        pub struct $name {
            #[doc = $count_doc]
            pub $count: u32,
            /// The window the count is taken in (2captcha: one minute).
            #[serde(with = "humantime_serde")]
            #[schemars(with = "String")]
            pub window: Duration,
            #[doc = $block_doc]
            #[serde(with = "humantime_serde")]
            #[schemars(with = "String")]
            pub block: Duration,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $count: $errors,
                    window: Duration::from_secs(60),
                    block: Duration::from_secs($block_secs),
                }
            }
        }
    };
}

refusal_block!(
    /// `ERROR: 1001`: `errors` `ERROR_NO_SLOT_AVAILABLE` answers within `window` block the key.
    NoSlotBlock,
    errors,
    "`ERROR_NO_SLOT_AVAILABLE` answers that trigger the block (2captcha: 120).",
    120,
    600,
    "How long the key is blocked (2captcha: 10 minutes)."
);

refusal_block!(
    /// `ERROR: 1002`: `errors` `ERROR_ZERO_BALANCE` answers within `window` block the key.
    ZeroBalanceBlock,
    errors,
    "`ERROR_ZERO_BALANCE` answers that trigger the block (2captcha: 120).",
    120,
    300,
    "How long the key is blocked (2captcha: 5 minutes)."
);

refusal_block!(
    /// `ERROR: 1004`: `bad-keys` requests with a bad key from one address within `window`
    /// block the address.
    BadKeyBlock,
    bad_keys,
    "Bad-key requests that trigger the block (2captcha: 5).",
    5,
    600,
    "How long the address is blocked (2captcha: 10 minutes)."
);

/// `ERROR: 1003`: within `window`, at least `minimum` `ERROR_NO_SLOT_AVAILABLE` answers and
/// more than `ratio` per accepted task block the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct QueueBlock {
    /// `ERROR_NO_SLOT_AVAILABLE` answers per accepted task that trigger the block (2captcha: 3).
    pub ratio: u32,
    /// Answers needed whatever the tasks (2captcha: 120).
    pub minimum: u32,
    /// The window (2captcha names none).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// How long the key is blocked (2captcha: 30 seconds).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub block: Duration,
}

impl Default for QueueBlock {
    fn default() -> Self {
        QueueBlock {
            ratio: 3,
            minimum: 120,
            window: Duration::from_secs(600),
            block: Duration::from_secs(30),
        }
    }
}
