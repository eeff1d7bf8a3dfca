//! What every API request passes first: the API fault drawn for it (the rule engine over
//! `[[api.rules]]`, the legacy `[api] server-error-rate` and `http-error-rate` among them,
//! one seeded stream per request ordinal), then the key check and the opt-in rate-limit
//! penalties ([`crate::limits`]).

use std::{net::SocketAddr, sync::Arc, sync::atomic::Ordering, time::Duration};

use super::MockState;
use crate::{
    api_faults::{ApiFault, ENDPOINTS, RequestFacts},
    codes::Code,
    rules,
    seed::{self, Stream},
};

/// How far apart the endpoints' request ordinals sit in the API fault stream's subjects
/// (`in.php` from 0, as the legacy rates drew; `res.php` from 2^40; `solve.php` from 2^41).
const ENDPOINT_STRIDE: u64 = 1 << 40;

/// The longest delay a `delay` fault draws (a `"never"` distribution is a day).
const MAX_DELAY: Duration = crate::rules::MAX_RULE_DURATION;

/// The key check shared by both endpoints.
pub(crate) enum KeyCheck {
    /// Key is fine: account index.
    Ok(u32),
    /// The error to answer.
    Err(Code),
}

/// A fault drawn for a request.
#[derive(Clone, Debug)]
pub(crate) struct DrawnFault {
    /// What to do.
    pub(crate) fault: ApiFault,
    /// The delay drawn, for a `delay` fault.
    pub(crate) delay: Option<Duration>,
    /// The journal's words for it (`html 502`, `delay 1.2s (slow polls)`).
    pub(crate) description: Arc<str>,
}

impl MockState {
    /// Checks a key as both endpoints do.
    pub(crate) fn check_key(&self, key: Option<&str>) -> KeyCheck {
        let Some(key) = key else {
            return KeyCheck::Err(Code::WrongUserKey);
        };
        if key.len() < 32 || key.chars().count() != 32 {
            return KeyCheck::Err(Code::WrongUserKey);
        }
        // Most mocks have a handful of keys: comparing 32 bytes a few times is
        // cheaper than hashing them (this runs for every request).
        let found = if self.0.keys.len() <= 16 {
            self.0
                .keys
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, i)| *i)
        } else {
            self.0.keys.get(key).copied()
        };
        match found {
            Some(i) => KeyCheck::Ok(i),
            None => KeyCheck::Err(Code::KeyDoesNotExist),
        }
    }

    /// Checks a request's key as [`MockState::check_key`] does, and applies the configured
    /// rate-limit penalties ([`crate::limits`]): `IP_BANNED` or `ERROR: 1004` for a banned
    /// or blocked address (a bad key counts towards both), `ERROR: 1001` to `1003` for a
    /// blocked key, `MAX_USER_TURN` for a submit burst (`submit`), `ERROR: 1005` for a key
    /// that polls far more than it submits.
    pub(crate) fn admit(
        &self,
        key: Option<&str>,
        remote: Option<SocketAddr>,
        submit: bool,
    ) -> KeyCheck {
        let limits = &self.0.config.api.rate_limits;
        if !limits.any() {
            return self.check_key(key);
        }
        let now = self.now();
        let ip = remote.map(|r| r.ip());
        let limiter = &self.0.limiter;
        if let Some(code) = limiter.check_address(limits, ip, now) {
            return KeyCheck::Err(code);
        }
        match self.check_key(key) {
            KeyCheck::Err(code) => {
                limiter.bad_key(limits, ip, now);
                KeyCheck::Err(code)
            }
            KeyCheck::Ok(account) => {
                let penalty = limiter.check_key(limits, account, now).or_else(|| {
                    if submit {
                        limiter.submit(limits, account, now)
                    } else {
                        limiter.poll(limits, account, now)
                    }
                });
                penalty.map_or(KeyCheck::Ok(account), KeyCheck::Err)
            }
        }
    }

    /// How a submit of `account` was answered (`None`: accepted), for the escalating blocks
    /// (`ERROR: 1001` to `1003`): the busy answers a key collects can block it.
    pub(crate) fn submit_answered(&self, account: u32, refused: Option<Code>) {
        let limits = &self.0.config.api.rate_limits;
        if limits.blocks_keys() {
            self.0
                .limiter
                .answered(limits, account, refused, self.now());
        }
    }

    /// Draws the API fault of a request, if a rule applies: the request takes the next
    /// ordinal of its endpoint, and the rules draw from that ordinal's own seeded stream, so a
    /// run with the same requests in the same order gets the same faults.
    pub(crate) fn api_fault(
        &self,
        endpoint: &'static str,
        action: Option<&str>,
        http_method: &str,
    ) -> Option<DrawnFault> {
        let index = ENDPOINTS.iter().position(|e| *e == endpoint).unwrap_or(0);
        let ordinal = self.0.api_requests[index].fetch_add(1, Ordering::Relaxed) + 1;
        if !self.0.api_rules_any.load(Ordering::Relaxed) {
            return None;
        }
        let rules = self.api_rules();
        let subject = (ordinal - 1).wrapping_add(index as u64 * ENDPOINT_STRIDE);
        let mut rng = seed::stream(self.0.config.seed, Stream::Api, subject);
        let facts = RequestFacts {
            endpoint,
            action,
            http_method,
            ordinal,
        };
        let rule = &rules[rules::first_applicable(&rules, &facts, &mut rng)?];
        let delay = match &rule.fault {
            ApiFault::None => return None,
            ApiFault::Delay(d) => Some(d.sample(&mut rng).unwrap_or(MAX_DELAY).min(MAX_DELAY)),
            _ => None,
        };
        Some(DrawnFault {
            fault: rule.fault.clone(),
            delay,
            description: Arc::from(rule.describe(delay)),
        })
    }
}
