//! Scenario files: loading, validation, discovery.
//!
//! Where they sit in the flow: **scenario** → runner → mock and subject → timeline → checks
//! → report. A file is parsed into `RawScenario` (serde, `deny_unknown_fields`; `raw`
//! mirrors the TOML and generates the JSON schema), then validated into [`Scenario`]
//! (`validate`) before anything runs. Any problem becomes a [`ScenarioError`] (`error`): a
//! miette diagnostic naming the file, line and column with a snippet of the offending text.
//! `discover` finds the files under a folder.

mod bounds;
mod discover;
mod error;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use captchaai_mock::{ApiFaultRule, Config as MockConfig, FaultRule, TaskKind, TomlLocator};
use serde::Serialize;

pub(crate) use discover::discover;
pub use error::ScenarioError;
pub(crate) use raw::RawScenario;
pub use raw::{
    ExpectedOutcome, InjectedCallback, KeyChoice, ScenarioKind, StrategyName, SubmitPattern, Via,
};

/// The API key every scenario's mock account uses.
pub(crate) const SCENARIO_KEY: &str = "conformance-suite-key-0000000001";

/// One task of the workload.
#[derive(Clone, Debug, Serialize)]
pub struct WorkTask {
    /// Submission ordinal, from 1.
    pub ordinal: u64,
    /// Kind.
    pub kind: TaskKind,
    /// Parameter overrides.
    pub params: BTreeMap<String, String>,
    /// Router route.
    pub route: Option<String>,
}

/// The subject's settings, validated.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectSettings {
    /// Strategy.
    pub strategy: StrategyName,
    /// Quiet period before fallback polling.
    pub fallback_after: Duration,
    /// Deadline per task.
    pub deadline: Duration,
    /// Which key.
    pub key: KeyChoice,
    /// Shared secret in the callback URL.
    pub secret: bool,
    /// Registered ids only.
    pub registered_only: bool,
    /// Callbacks from the trusted source address only.
    pub allow_list: bool,
    /// Graded only against two or more replicas of an external receiver.
    pub cross_replica: bool,
    /// The application long-polls each result on another replica (`--wait-url`).
    pub wait: bool,
    /// Dispatch through the router.
    pub router: bool,
    /// `json=1`.
    pub json: bool,
}

/// Receiver-side faults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReceiverEnv {
    /// Fail the first N callbacks.
    pub fail_first: u32,
    /// With this status.
    pub fail_status: u16,
    /// Hold each callback this long.
    pub latency: Option<Duration>,
}

/// A harness-sent callback.
#[derive(Clone, Debug, Serialize)]
pub struct Injection {
    /// When.
    pub at: Duration,
    /// What.
    pub callback: InjectedCallback,
    /// Task ordinal.
    pub task: u64,
}

/// Named expectations.
#[derive(Clone, Debug, Serialize)]
pub struct Expect {
    /// Outcome of every task.
    pub outcome: ExpectedOutcome,
    /// How results arrive.
    pub via: Via,
    /// Polls per task, at most.
    pub max_polls: Option<u32>,
    /// At least one busy rejection.
    pub busy_rejections: bool,
}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `<area>/<file stem>`, e.g. `pingback/duplicates`.
    pub id: String,
    /// The file.
    pub path: PathBuf,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The folder the file sits in.
    pub area: String,
    /// Seed from the file.
    pub seed: u64,
    /// Which side it grades.
    pub kind: ScenarioKind,
    /// The mock configuration (seed set at run time).
    pub mock: MockConfig,
    /// Workload, one entry per task.
    pub tasks: Vec<WorkTask>,
    /// Submission spacing.
    pub submit: SubmitPattern,
    /// Deadline for the whole batch.
    pub batch_deadline: Option<Duration>,
    /// Subject settings.
    pub subject: SubjectSettings,
    /// Receiver-side faults.
    pub receiver: ReceiverEnv,
    /// Harness-sent callbacks.
    pub inject: Vec<Injection>,
    /// Expectations.
    pub expect: Expect,
}

impl Scenario {
    /// Simulated time from the first submit to the last.
    pub fn submit_span(&self) -> Duration {
        validate::submit_span(&self.submit, self.tasks.len() as u64)
    }

    /// True when the scenario matches a `--filter` term (a substring of its name, id or a tag).
    pub(crate) fn matches(&self, filter: &str) -> bool {
        self.name.contains(filter)
            || self.id.contains(filter)
            || self.tags.iter().any(|t| t.contains(filter))
    }
}

/// Parses and validates a scenario's text.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let help = e
            .message()
            .contains("unknown field")
            .then(|| "check the spelling against scenarios/schema.json".to_owned());
        // toml points an error in any `[[faults]]` or `[[api-faults]]` rule at the first one.
        let doc = TomlLocator::new(text);
        let failing = doc
            .failing_element::<FaultRule>("faults", &e)
            .map(|(i, span)| (span, format!("faults[{i}]")))
            .or_else(|| {
                doc.failing_element::<ApiFaultRule>("api-faults", &e)
                    .map(|(i, span)| (span, format!("api-faults[{i}]")))
            });
        let (span, message) = match failing {
            Some((span, rule)) => (Some(span), format!("{rule}: {}", e.message())),
            None => (e.span(), e.message().to_owned()),
        };
        Box::new(ScenarioError::new(path, text, span, message, help))
    })?;
    validate::validate(raw, text, path)
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let text = std::fs::read_to_string(path).map_err(|e| Box::new(ScenarioError::io(path, &e)))?;
    parse(&text, path)
}

/// The JSON schema of scenario files.
pub(crate) fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawScenario)).unwrap_or_default()
}
