//! API fault rules: what a rule matches and what it does to an `in.php`, `res.php` or
//! `solve.php` request (the client side of the chaos story; the pingback side is
//! [`crate::pingback::faults`]).
//!
//! The same rule engine ([`crate::rules`]) picks a request's rule as it picks a task's
//! pingback rule: ordered rules, a `match`, a `probability`, the first rule that fits and whose
//! seeded draw succeeds. One syntax for three front ends: the mock's TOML config
//! (`[[api.rules]]`), the admin API (`PUT /__admin/api/rules`, JSON of the same shape) and the
//! conformance harness's scenario files (`[[api-faults]]`). The API applies a drawn fault
//! (`crate::api::faults`) and journals it with the request.
//!
//! The syntax is documented on [`ApiFaultRule`], once; `syntax` reads and writes a fault
//! (`"reset"` or a table such as `{ status = 502, body = "html" }`).

mod syntax;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    codes::Code,
    dist::Distribution,
    rules::{self, OrdinalRange},
};

/// The endpoints a rule can match.
pub(crate) const ENDPOINTS: [&str; 3] = ["in.php", "res.php", "solve.php"];

/// One ordered API fault rule, in the syntax the mock's TOML config (`[[api.rules]]`), the
/// admin API (`PUT /__admin/api/rules`, JSON of the same shape) and the conformance harness's
/// scenario files (`[[api-faults]]`) share.
///
/// # Rules
///
/// Rules are ordered. For each API request, the first rule whose `match` fits the request and
/// whose `probability` draw succeeds decides its fault; later rules are not consulted. A
/// request no rule picks is answered normally.
///
/// ```toml
/// [[api.rules]]
/// name = "flaky polls"                         # optional (100 characters at most), shown in the journal
/// probability = 0.3                            # 0 to 1, default 1
/// match = { endpoints = ["res.php"], actions = ["get"], http-methods = ["GET"], requests = { from = 2, to = 20 } }
/// fault = { status = 502, body = "html" }
/// ```
///
/// `match` (all parts optional, all must fit): `endpoints` lists `in.php`, `res.php`,
/// `solve.php`; `actions` lists values of `res.php`'s `action` or `in.php`'s `method` (the
/// journal's `action`: `get`, `getbalance`, `userrecaptcha`, ...); `http-methods` lists HTTP
/// methods (`GET`, `POST`); `requests` is an inclusive range of the request's ordinal at its
/// endpoint (the first `res.php` request of a run is `res.php` request 1).
///
/// # Faults
///
/// | `fault =` | effect |
/// |---|---|
/// | `"none"` | answer normally (carve an exception out of later rules) |
/// | `{ status = 502, body = "html" }` | an HTTP error instead of the answer: `status` 400 to 599, `body` an HTML error page as the services' front ends send them (`"html"`, the default: nginx's `500 Internal Server Error`, `502 Bad Gateway`, `503 Service Temporarily Unavailable`, `504 Gateway Time-out`; Cloudflare's `521 Web server is down` and `522 Connection timed out`) or nothing (`"empty"`) |
/// | `"reset"` | the connection is closed without an answer |
/// | `{ stall = "90s" }` | no answer for that long (the client's timeout fires first), then the connection is closed |
/// | `"truncated"` | the real answer, cut short: `Content-Length` says the whole, half of it is sent, then the connection is closed |
/// | `{ delay = <distribution> }` | the real answer, late by a delay drawn from `fixed`, `uniform`, `normal`, `log-normal` |
/// | `{ answer = "ERROR_SERVER_ERROR" }` | this code instead of the answer (HTTP 200, in the request's format), any code the service has |
///
/// Every duration in a rule is at most a day (a stall; a delay's draw is cut there), and a
/// rule's name at most 100 characters (every faulted request's journal entry keeps it): the
/// bounds of the pingback rules. The TOML config, the admin API and scenario files check
/// rules with the same function, so the bounds and the messages are the same everywhere.
///
/// A request a fault answers instead of the service (a page, a reset, a stall, an `answer`)
/// is not processed: no task is created, nothing is counted. A delayed or truncated request
/// is processed, and its journal entry says how its answer was sent.
///
/// # Determinism
///
/// Each request draws from its own random stream, seeded by (run seed, endpoint, the
/// request's ordinal at its endpoint): the same seed and the same requests in the same order
/// give the same faults, whatever else the run does. The legacy settings
/// `[api] http-error-rate` and `server-error-rate` are two such rules, placed first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    try_from = "RawApiFaultRule",
    into = "RawApiFaultRule"
)]
#[schemars(with = "RawApiFaultRule")]
// The scenario schema keeps the one-line summary; the syntax above is for rustdoc.
#[schemars(description = "One ordered API fault rule.")]
pub struct ApiFaultRule {
    /// A name for the journal (at most 100 characters).
    pub name: Option<String>,
    /// Chance that the rule applies to a request it fits.
    pub probability: f64,
    /// Which requests the rule may apply to.
    pub matches: ApiRuleMatch,
    /// What happens to the request.
    pub fault: ApiFault,
}

/// The serde form of [`ApiFaultRule`].
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawApiFaultRule {
    /// A name for the journal (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Chance that the rule applies to a request it fits, 0 to 1 (default 1).
    #[serde(default = "one")]
    probability: f64,
    /// Which requests the rule may apply to (default: all).
    #[serde(default, rename = "match")]
    matches: ApiRuleMatch,
    /// What happens to the request.
    fault: ApiFault,
}

fn one() -> f64 {
    1.0
}

impl TryFrom<RawApiFaultRule> for ApiFaultRule {
    type Error = String;

    fn try_from(r: RawApiFaultRule) -> Result<Self, String> {
        let rule = ApiFaultRule {
            name: r.name,
            probability: r.probability,
            matches: r.matches,
            fault: r.fault,
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl From<ApiFaultRule> for RawApiFaultRule {
    fn from(r: ApiFaultRule) -> Self {
        RawApiFaultRule {
            name: r.name,
            probability: r.probability,
            matches: r.matches,
            fault: r.fault,
        }
    }
}

impl ApiFaultRule {
    /// A rule that always applies.
    pub fn always(fault: ApiFault) -> Self {
        ApiFaultRule {
            name: None,
            probability: 1.0,
            matches: ApiRuleMatch::default(),
            fault,
        }
    }

    /// The same rule with a probability.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// The same rule restricted to some requests.
    pub fn matching(mut self, m: ApiRuleMatch) -> Self {
        self.matches = m;
        self
    }

    /// The same rule with a name (shown in the journal).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Checks the rule as every front end must (TOML, the admin API's JSON, a rule built in
    /// Rust); the message names the offending key.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_probability(self.probability)?;
        rules::check_name(self.name.as_deref())?;
        let m = &self.matches;
        if let Some(e) = m
            .endpoints
            .iter()
            .find(|e| !ENDPOINTS.contains(&e.as_str()))
        {
            return Err(format!(
                "match.endpoints: unknown endpoint {e:?} (in.php, res.php or solve.php)"
            ));
        }
        if let Some(r) = &m.requests {
            r.validate("match.requests")?;
        }
        self.fault.validate()
    }

    /// The journal's words for the fault this rule applies (a delay with its drawn value).
    pub(crate) fn describe(&self, delay: Option<Duration>) -> String {
        let fault = self.fault.describe(delay);
        match &self.name {
            Some(name) => format!("{fault} ({name})"),
            None => fault,
        }
    }
}

/// Which requests a rule may apply to; every given part must fit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ApiRuleMatch {
    /// Endpoints (`in.php`, `res.php`, `solve.php`); empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// `res.php` actions or `in.php` methods (`get`, `userrecaptcha`, ...); empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// HTTP methods (`GET`, `POST`), any case; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_methods: Vec<String>,
    /// The request's ordinal at its endpoint, inclusive (1 = the endpoint's first request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<OrdinalRange>,
}

/// The body of an HTTP error page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PageBody {
    /// An HTML error page, as a web server or Cloudflare sends it.
    #[default]
    Html,
    /// No body at all.
    Empty,
}

/// What a rule does to an API request (the table in [`ApiFaultRule`]'s docs).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ApiFault {
    /// Answer normally.
    None,
    /// An HTTP error status with an error page instead of the answer.
    Page {
        /// The HTTP status, 400 to 599.
        status: u16,
        /// The page's body.
        body: PageBody,
    },
    /// The connection closed without an answer.
    Reset,
    /// No answer for this long, then the connection closed.
    Stall(Duration),
    /// The real answer, cut short.
    Truncated,
    /// The real answer, late.
    Delay(Distribution),
    /// This service code instead of the answer.
    Answer(String),
}

impl ApiFault {
    fn validate(&self) -> Result<(), String> {
        match self {
            ApiFault::Page { status, .. } if !(400..=599).contains(status) => Err(format!(
                "status must be an HTTP error status, 400 to 599, got {status}"
            )),
            ApiFault::Stall(d) if d.is_zero() || *d > rules::MAX_RULE_DURATION => Err(format!(
                "stall must be above zero and at most {}, got {}",
                humantime::format_duration(rules::MAX_RULE_DURATION),
                humantime::format_duration(*d)
            )),
            ApiFault::Answer(code) if Code::parse(code).is_none_or(|c| !c.is_error()) => {
                Err(format!(
                    "answer must be one of the service's error codes (ERROR_..., MAX_USER_TURN, CAPCHA_NOT_READY, ...), got {code:?}"
                ))
            }
            _ => Ok(()),
        }
    }

    /// The journal's words for it: `html 502`, `reset`, `stall 1m 30s`, `delay 1.2s`, ...
    pub(crate) fn describe(&self, delay: Option<Duration>) -> String {
        match self {
            ApiFault::None => "none".into(),
            ApiFault::Page { status, body } => {
                let body = match body {
                    PageBody::Html => "html",
                    PageBody::Empty => "empty",
                };
                format!("{body} {status}")
            }
            ApiFault::Reset => "reset".into(),
            ApiFault::Stall(d) => format!("stall {}", humantime::format_duration(*d)),
            ApiFault::Truncated => "truncated".into(),
            ApiFault::Delay(_) => format!(
                "delay {}",
                humantime::format_duration(Duration::from_millis(
                    delay.unwrap_or_default().as_millis() as u64
                ))
            ),
            ApiFault::Answer(code) => format!("answer {code}"),
        }
    }
}

/// What a rule's `match` is checked against: the facts of one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestFacts<'a> {
    /// `in.php`, `res.php` or `solve.php`.
    pub(crate) endpoint: &'static str,
    /// `action` (res.php) or `method` (in.php, solve.php).
    pub(crate) action: Option<&'a str>,
    /// The HTTP method.
    pub(crate) http_method: &'a str,
    /// The request's ordinal at its endpoint, from 1.
    pub(crate) ordinal: u64,
}

impl rules::Rule for ApiFaultRule {
    type Subject<'a> = RequestFacts<'a>;

    fn fits(&self, r: &RequestFacts<'_>) -> bool {
        let m = &self.matches;
        (m.endpoints.is_empty() || m.endpoints.iter().any(|e| e == r.endpoint))
            && (m.actions.is_empty() || r.action.is_some_and(|a| m.actions.iter().any(|x| x == a)))
            && (m.http_methods.is_empty()
                || m.http_methods
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(r.http_method)))
            && m.requests.is_none_or(|range| range.contains(r.ordinal))
    }

    fn probability(&self) -> f64 {
        self.probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<ApiFaultRule>, String> {
        #[derive(Deserialize)]
        struct W {
            rules: Vec<ApiFaultRule>,
        }
        toml::from_str::<W>(s)
            .map(|w| w.rules)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_fault_parses_and_round_trips() {
        let rules = parse(
            r#"
[[rules]]
name = "flaky polls"
probability = 0.5
match = { endpoints = ["res.php"], actions = ["get"], http-methods = ["get"], requests = { from = 2, to = 9 } }
fault = { status = 502, body = "html" }
[[rules]]
fault = { status = 503, body = "empty" }
[[rules]]
fault = { status = 521 }
[[rules]]
fault = "reset"
[[rules]]
fault = { stall = "90s" }
[[rules]]
fault = "truncated"
[[rules]]
fault = { delay = { uniform = { min = "1s", max = "3s" } } }
[[rules]]
fault = { answer = "ERROR_SERVER_ERROR" }
[[rules]]
fault = "none"
"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 9);
        assert_eq!(
            rules[2].fault,
            ApiFault::Page {
                status: 521,
                body: PageBody::Html
            }
        );
        assert_eq!(rules[4].fault, ApiFault::Stall(Duration::from_secs(90)));
        // JSON (the admin API) reads what it writes.
        let json = serde_json::to_string(&rules).unwrap();
        let back: Vec<ApiFaultRule> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rules);
        assert!(
            json.contains(r#""fault":{"status":502,"body":"html"}"#),
            "{json}"
        );
        assert!(json.contains(r#""fault":"reset""#), "{json}");
        assert!(json.contains(r#""fault":{"stall":"1m 30s"}"#), "{json}");
    }

    #[test]
    fn invalid_rules_are_explained() {
        let long_name = format!("name = \"{}\"\nfault = \"reset\"", "n".repeat(101));
        for (text, says) in [
            ("fault = { status = 200 }", "400 to 599"),
            ("fault = { status = 502, stall = \"1s\" }", "exactly one of"),
            ("fault = { body = \"html\" }", "exactly one of"),
            ("fault = { stall = \"0s\" }", "above zero"),
            (
                "fault = { stall = \"1000000years\" }",
                "stall must be above zero and at most 1day, got 1000000years",
            ),
            (
                long_name.as_str(),
                "name must be at most 100 characters, got 101",
            ),
            ("fault = { answer = \"OK\" }", "error codes"),
            ("fault = { answer = \"OK_REPORT_RECORDED\" }", "error codes"),
            ("fault = \"rset\"", "rset"),
            ("fault = { staus = 500 }", "staus"),
            ("fault = { status = \"502\" }", "invalid type"),
            ("probability = 2.0\nfault = \"reset\"", "probability"),
            (
                "match = { endpoints = [\"in.pph\"] }\nfault = \"reset\"",
                "in.pph",
            ),
            (
                "match = { requests = { from = 0, to = 1 } }\nfault = \"reset\"",
                "match.requests",
            ),
            ("fualt = \"reset\"", "fualt"),
        ] {
            let e = parse(&format!("[[rules]]\n{text}\n")).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_rule_fits_by_endpoint_action_method_and_ordinal() {
        use rules::Rule as _;
        let rule = parse(
            "[[rules]]\nmatch = { endpoints = [\"res.php\"], actions = [\"get\"], http-methods = [\"GET\"], requests = { from = 2, to = 3 } }\nfault = \"reset\"\n",
        )
        .unwrap()
        .remove(0);
        let facts = |endpoint, action, http_method, ordinal| RequestFacts {
            endpoint,
            action,
            http_method,
            ordinal,
        };
        assert!(rule.fits(&facts("res.php", Some("get"), "GET", 2)));
        assert!(
            !rule.fits(&facts("res.php", Some("get"), "GET", 4)),
            "ordinal"
        );
        assert!(
            !rule.fits(&facts("in.php", Some("get"), "GET", 2)),
            "endpoint"
        );
        assert!(
            !rule.fits(&facts("res.php", Some("get2"), "GET", 2)),
            "action"
        );
        assert!(!rule.fits(&facts("res.php", None, "GET", 2)), "no action");
        assert!(
            !rule.fits(&facts("res.php", Some("get"), "POST", 2)),
            "method"
        );
        assert!(ApiFaultRule::always(ApiFault::Reset).fits(&facts("solve.php", None, "PUT", 1)));
    }
}
