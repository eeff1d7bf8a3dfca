//! Validation: every value range checked before anything starts (the first problem wins),
//! and TOML parsing whose errors name the offending value's line and column.

use std::time::Duration;

use super::{Config, TomlLocator};
use crate::{api_faults::ApiFaultRule, pingback::faults::FaultRule};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML does not parse or does not fit the schema (with line and column).
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("{}{field}: {message}", at.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
    Invalid {
        /// Dotted path of the offending field, e.g. `accounts[0].key`.
        field: String,
        /// What is wrong.
        message: String,
        /// 1-based line and column of the value in the TOML text, when it came from one.
        at: Option<(usize, usize)>,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
        at: None,
    }
}

impl Config {
    /// Parses and validates a TOML document (the syntax of `captchaai-mock --config`, in
    /// this module's docs). A value out of range is reported with its line and column, like
    /// a value of the wrong type.
    ///
    /// ```
    /// use captchaai_mock::{Config, MockServer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::from_toml(
    ///     r#"
    /// seed = 42
    /// [solving.times]
    /// turnstile = { fixed = "3s" }
    /// [[pingback.rules]]
    /// probability = 0.2
    /// fault = { duplicate = { copies = 2, spacing = "500ms" } }
    /// "#,
    /// )?;
    /// assert_eq!(config.pingback.rules.len(), 1);
    /// let mock = MockServer::builder().config(config).seed(7).start().await?; // later calls win
    /// assert_eq!(mock.config().seed, 7);
    ///
    /// let err = Config::from_toml("[solving]\nunsolvable-rate = 2.0\n").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "line 2, column 19: solving.unsolvable-rate: must be between 0 and 1"
    /// );
    /// # Ok(()) }
    /// ```
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let doc = TomlLocator::new(text);
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let failing = doc
                .failing_element::<FaultRule>("pingback.rules", &e)
                .map(|(i, span)| (format!("pingback.rules[{i}]"), span))
                .or_else(|| {
                    doc.failing_element::<ApiFaultRule>("api.rules", &e)
                        .map(|(i, span)| (format!("api.rules[{i}]"), span))
                });
            match failing {
                Some((field, span)) => ConfigError::Invalid {
                    field,
                    message: e.message().to_owned(),
                    at: Some(doc.line_col(span.start)),
                },
                None => ConfigError::Toml(e),
            }
        })?;
        cfg.validate().map_err(|e| match e {
            ConfigError::Invalid { field, message, .. } => ConfigError::Invalid {
                at: doc.span(&field).map(|r| doc.line_col(r.start)),
                field,
                message,
            },
            e => e,
        })?;
        Ok(cfg)
    }

    /// Checks every value range; the first problem wins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1_000_000.0)
        {
            return Err(invalid(
                "time-scale",
                format!(
                    "must be a number above 0 and at most 1000000, got {}",
                    self.time_scale
                ),
            ));
        }
        self.check_accounts()?;
        self.check_rates_and_images()?;
        self.check_limits()?;
        self.check_source_address()?;
        // Rules from TOML or JSON were checked as they parsed; rules built in Rust are
        // checked here, by the same function.
        for (i, rule) in self.pingback.rules.iter().enumerate() {
            rule.validate()
                .map_err(|why| invalid(format!("pingback.rules[{i}]"), why))?;
        }
        for (i, rule) in self.api.rules.iter().enumerate() {
            rule.validate()
                .map_err(|why| invalid(format!("api.rules[{i}]"), why))?;
        }
        Ok(())
    }

    /// Each account's key (32 characters, no two alike) and balance.
    fn check_accounts(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if a.key.chars().count() != 32 {
                return Err(invalid(
                    format!("accounts[{i}].key"),
                    format!(
                        "must be exactly 32 characters, got {}",
                        a.key.chars().count()
                    ),
                ));
            }
            if !seen.insert(a.key.as_str()) {
                return Err(invalid(format!("accounts[{i}].key"), "duplicate key"));
            }
            if !(a.balance.is_finite() && a.balance >= 0.0) {
                return Err(invalid(
                    format!("accounts[{i}].balance"),
                    "must be 0 or more",
                ));
            }
        }
        Ok(())
    }

    /// The rates (shares between 0 and 1), the image limits and the report window.
    fn check_rates_and_images(&self) -> Result<(), ConfigError> {
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.solving.unsolvable_rate) {
            return Err(invalid(
                "solving.unsolvable-rate",
                "must be between 0 and 1",
            ));
        }
        for (k, r) in &self.solving.unsolvable {
            if !rate_ok(*r) {
                return Err(invalid(
                    format!("solving.unsolvable.{}", k.name()),
                    "must be between 0 and 1",
                ));
            }
        }
        if !rate_ok(self.api.server_error_rate) {
            return Err(invalid("api.server-error-rate", "must be between 0 and 1"));
        }
        if !rate_ok(self.api.http_error_rate) {
            return Err(invalid("api.http-error-rate", "must be between 0 and 1"));
        }
        if let Some((key, why)) = self.api.rate_limits.invalid() {
            return Err(invalid(key, why));
        }
        let images = &self.images;
        if images.min_bytes.is_some_and(|n| n == 0) {
            return Err(invalid("images.min-bytes", "must be at least 1"));
        }
        if images.max_bytes(self.dialect) < images.min_bytes() {
            return Err(invalid(
                "images.max-bytes",
                format!("must be at least images.min-bytes ({})", images.min_bytes()),
            ));
        }
        if images.max_dimension.is_some_and(|n| n == 0) {
            return Err(invalid("images.max-dimension", "must be at least 1"));
        }
        if self.solving.report_window.is_zero() {
            return Err(invalid("solving.report-window", "must be above zero"));
        }
        if let Some(limit) = self.solving.complaint_limit
            && !rate_ok(limit.share)
        {
            return Err(invalid(
                "solving.complaint-limit.share",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// Capacities, the admin token, the server's timeouts and the pingback retry policy.
    fn check_limits(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("journal.capacity", self.journal.capacity),
            ("pingback.journal-capacity", self.pingback.journal_capacity),
            (
                "pingback.max-in-flight-per-host",
                self.pingback.max_in_flight_per_host,
            ),
            ("pingback.queue-capacity", self.pingback.queue_capacity),
            (
                "pingback.queue-capacity-per-host",
                self.pingback.queue_capacity_per_host,
            ),
            ("server.workers", self.server.workers.unwrap_or(1)),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, n)| *n == 0) {
            return Err(invalid(*key, "must be at least 1"));
        }
        if let Some(token) = &self.admin.token
            && token.trim().is_empty()
        {
            return Err(invalid(
                "admin.token",
                "must not be empty or blank (leave it out to serve the admin API to loopback \
                 clients of a mock listening on loopback only)",
            ));
        }
        for (key, d) in [
            (
                "server.header-read-timeout",
                self.server.header_read_timeout,
            ),
            ("server.shutdown-grace", self.server.shutdown_grace),
        ] {
            if d.is_zero() || d > Duration::from_secs(3600) {
                return Err(invalid(key, "must be above zero and at most 1h"));
            }
        }
        if self.journal.max_bytes < 1024 {
            return Err(invalid("journal.max-bytes", "must be at least 1024"));
        }
        if let Err(why) = self.pingback.retry.validate() {
            return Err(invalid("pingback.retry", why));
        }
        if self.pingback.attempt_timeout.is_zero() {
            return Err(invalid("pingback.attempt-timeout", "must be above zero"));
        }
        Ok(())
    }

    /// `pingback.source-address`, when set, is an address of this machine. Binding is the
    /// one reliable test; a UDP socket sends nothing and is closed at once.
    fn check_source_address(&self) -> Result<(), ConfigError> {
        let Some(addr) = self.pingback.source_address else {
            return Ok(());
        };
        std::net::UdpSocket::bind((addr, 0)).map(drop).map_err(|e| {
            let hint = if addr.is_loopback() {
                format!(
                    "; on Linux all of 127.0.0.0/8 is local, on macOS only 127.0.0.1 \
                     until an alias is added (sudo ifconfig lo0 alias {addr})"
                )
            } else {
                String::new()
            };
            invalid(
                "pingback.source-address",
                format!("{addr} is not an address of this machine ({e}){hint}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{dist::Distribution, model::TaskKind};

    #[test]
    fn the_readmes_config_example_is_valid() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\nseed = 42")
            .expect("the README's config example")
            + 8;
        let text = &readme[start..][..readme[start..].find("```").expect("closed")];
        let cfg = Config::from_toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(cfg.api.rate_limits.max_user_turn.is_some());
        assert_eq!(cfg.pingback.rules.len(), 2);
    }

    #[test]
    fn the_doc_example_parses() {
        let text = r#"
seed = 42
time-scale = 100.0
dialect = "captchaai"
busy-threads = "zero-balance"
task-id = "string"

[[accounts]]
key = "0123456789abcdef0123456789abcdef"
threads = 5
balance = 10.0

[solving]
unsolvable-rate = 0.05
result-ttl = "15m"
[solving.times]
recaptcha-v2 = { log-normal = { median = "37s", sigma = 0.35 } }
turnstile = { fixed = "3s" }
[solving.unsolvable]
geetest = 0.2

[api]                         # opt-in faults of the API itself
server-error-rate = 0.05
[api.rate-limits]             # see crate::limits
max-user-turn = { submits = 60, window = "3s", ban = "10s" }

[pingback]
retry = { exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 6 } }
attempt-timeout = "10s"
[[pingback.rules]]
probability = 0.2
fault = { duplicate = { copies = 2, spacing = "500ms" } }
"#;
        let cfg = Config::from_toml(text).unwrap();
        assert_eq!(cfg.seed, 42);
        assert_eq!(cfg.accounts[0].threads, 5);
        assert_eq!(
            cfg.solving.time_for(TaskKind::Turnstile),
            Distribution::Fixed(Duration::from_secs(3))
        );
        assert_eq!(cfg.solving.unsolvable_for(TaskKind::Geetest), 0.2);
        assert_eq!(cfg.solving.unsolvable_for(TaskKind::Turnstile), 0.05);
        assert_eq!(cfg.pingback.rules.len(), 1);
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_toml("[[accounts]]\nkey = \"short\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "line 2, column 7: accounts[0].key: must be exactly 32 characters, got 5"
        );
        let err = Config::from_toml("seed = 1\ntime-scale = 0.0")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 2, column 14: time-scale:"), "{err}");
        let err = Config::from_toml("[solving.unsolvable]\nturnstile = 0.1\ngeetest = 2.0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "line 3, column 11: solving.unsolvable.geetest: must be between 0 and 1"
        );
        let err = Config::from_toml("\n\nsede = 4").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("sede"), "{err}");
    }

    #[test]
    fn a_bad_rule_is_found_in_its_own_table() {
        let text = "[[pingback.rules]]\nfault = \"drop\"\n\n[[pingback.rules]]\n\
                    probability = 0.5\nfault = { duplicate = { copies = 500 } }\n";
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert_eq!(
            err,
            "line 6, column 34: pingback.rules[1]: duplicate.copies must be between 1 and 100, got 500"
        );
        let text =
            "[[pingback.rules]]\nmatch = { tasks = { from = 0, to = 3 } }\nfault = \"drop\"\n";
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert!(
            err.starts_with("line 2, column 19: pingback.rules[0]: match.tasks:"),
            "{err}"
        );
    }

    #[test]
    fn each_capacity_is_named_with_its_own_key() {
        for key in [
            "journal-capacity",
            "max-in-flight-per-host",
            "queue-capacity",
        ] {
            let err = Config::from_toml(&format!("[pingback]\n{key} = 0\n"))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "line 2, column {}: pingback.{key}: must be at least 1",
                    key.len() + 4
                )
            );
        }
        let err = Config::from_toml("[server]\nworkers = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 2, column 11: server.workers: must be at least 1");
        let two = Config::from_toml("[server]\nworkers = 2\n").unwrap();
        assert_eq!(two.server.effective_workers(), 2);
        assert!(Config::default().server.effective_workers() >= 1);
    }
}
