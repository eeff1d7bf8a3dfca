//! What every API request passes first: the key check, the opt-in rate-limit penalties
//! ([`crate::limits`]), and the transient API faults (`[api] server-error-rate`,
//! `http-error-rate`) drawn per request from the seed.

use std::{net::SocketAddr, sync::atomic::Ordering};

use super::MockState;
use crate::{
    codes::Code,
    seed::{self, Stream},
};

/// The key check shared by both endpoints.
pub(crate) enum KeyCheck {
    /// Key is fine: account index.
    Ok(u32),
    /// The error to answer.
    Err(Code),
}

/// A transient fault the API answers with instead of doing its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiFault {
    /// HTTP 503 with an empty body.
    Http503,
    /// `ERROR_SERVER_ERROR` (HTTP 200).
    ServerError,
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
    /// rate-limit penalties ([`crate::limits`]): `IP_BANNED` for a banned address (a
    /// bad key counts towards the ban), `MAX_USER_TURN` for a submit burst (`submit`),
    /// `ERROR: 1005` for a key that polls far more than it submits.
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
                let penalty = if submit {
                    limiter.submit(limits, account, now)
                } else {
                    limiter.poll(limits, account, now)
                };
                penalty.map_or(KeyCheck::Ok(account), KeyCheck::Err)
            }
        }
    }

    /// Draws the transient API fault for the next request, if any: the
    /// seeded stream is indexed by the request's arrival number, so a run with
    /// the same requests in the same order gets the same faults.
    pub(crate) fn api_fault(&self, submit: bool) -> Option<ApiFault> {
        let cfg = &*self.0.config;
        let api = &cfg.api;
        if api.http_error_rate <= 0.0 && (!submit || api.server_error_rate <= 0.0) {
            return None;
        }
        let n = self.0.api_requests.fetch_add(1, Ordering::Relaxed);
        let mut rng = seed::stream(cfg.seed, Stream::Api, n);
        if seed::chance(&mut rng, api.http_error_rate) {
            return Some(ApiFault::Http503);
        }
        if submit && seed::chance(&mut rng, api.server_error_rate) {
            return Some(ApiFault::ServerError);
        }
        None
    }
}
