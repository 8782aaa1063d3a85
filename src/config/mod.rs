//! Per-repository configuration: `.github/flotilla.yml` on the default branch.
//!
//! This module owns the file's schema, its documented defaults, and every rule a value
//! must satisfy, so a run starts only from a configuration known to be usable. It turns
//! bytes into a [`RepoConfig`] or one [`ConfigError`] naming the line and the problem;
//! it must not fetch the file, post comments or decide what a bad file does to a run.
//!
//! The schema is strict: unknown keys are errors (`deny_unknown_fields` everywhere),
//! and every default lives in a named function so the README can point at it.

mod locate;
pub mod time_limit;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::agent::Adapter;
use crate::agent::codex_config::CodexConfig;
use crate::cost::BudgetConfig;
use crate::github::MergeMethod;
use crate::review::DEFAULT_LENSES;
use crate::sandbox::ResourceLimits;

/// Where the file lives in a repository; every error message starts with it.
pub const CONFIG_PATH: &str = ".github/flotilla.yml";

/// Bounds on `max_tasks`: at least one task, and few enough to review.
pub const MAX_TASKS_RANGE: std::ops::RangeInclusive<u32> = 1..=20;

/// Bounds on `max_attempts`: a first attempt, and a ceiling on retries.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;

/// A repository's Flotilla settings, as written in `.github/flotilla.yml`.
///
/// `RepoConfig::default()` is what a repository without the file gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoConfig {
    /// The issue label that starts a run.
    pub trigger_label: String,
    /// The agent that works on each task.
    pub worker: AgentConfig,
    /// The agent that splits an issue without a task list; none means one task.
    pub planner: Option<AgentConfig>,
    /// The most tasks one issue may become.
    pub max_tasks: u32,
    /// The most tasks of one run that work at the same time.
    pub max_parallel_tasks: u32,
    /// How many times a task is tried before it fails for good.
    pub max_attempts: u32,
    /// Prefix of every branch Flotilla pushes, such as `flotilla/12-fix-login`.
    pub branch_prefix: String,
    /// The reviewer lenses each change must survive, in name order.
    pub reviewers: Vec<Lens>,
    /// The deterministic gates' settings.
    pub verify: VerifyConfig,
    /// How a verified change lands.
    pub landing: LandingConfig,
    /// Memory, process and disk limits of every agent and build command's sandbox.
    pub sandbox: ResourceLimits,
    /// The most a task and a run may spend on agents.
    pub budget: BudgetConfig,
}

/// One reviewer lens: the check run `flotilla/<name>` and the agent that tries to
/// refute the change from that angle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lens {
    /// The lens's name (`correctness`, `security`, `runs`, or the repository's own).
    pub name: String,
    /// The agent that reviews through it.
    pub agent: AgentConfig,
}

/// The `verify:` section: the deterministic gates run on every head commit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Build and test commands, run in order with `sh -c` on a checkout of the head;
    /// none means the build gate passes with nothing to run.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Wall-clock limit of each command.
    #[serde(
        default = "default_verify_time_limit",
        deserialize_with = "time_limit::deserialize"
    )]
    pub time_limit: Duration,
    /// Globs that, besides the built-in ones (workflows, this file, CODEOWNERS, agent
    /// instruction files, the files `commands` run), never merge without a person;
    /// matched regardless of case.
    #[serde(default)]
    pub protected_paths: Vec<String>,
    /// What a file changed outside the task's declared paths does.
    #[serde(default)]
    pub scope: ScopeMode,
    /// The largest change (added plus removed lines) that may merge.
    #[serde(default = "default_max_changed_lines")]
    pub max_changed_lines: u64,
    /// The most inline comments one review carries; the rest go in its body.
    #[serde(default = "default_max_inline_comments")]
    pub max_inline_comments: u32,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            commands: Vec::new(),
            time_limit: default_verify_time_limit(),
            protected_paths: Vec::new(),
            scope: ScopeMode::default(),
            max_changed_lines: default_max_changed_lines(),
            max_inline_comments: default_max_inline_comments(),
        }
    }
}

/// `verify.scope`: whether changes outside a task's declared paths only get reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMode {
    /// Listed in `flotilla/verify`, but the change may merge.
    #[default]
    Report,
    /// The scope gate fails.
    Fail,
}

/// The `landing:` section: what happens once `flotilla/verify` and CI hold.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingConfig {
    /// `merge`, `squash` or `rebase`.
    #[serde(default = "default_merge_method")]
    pub merge_method: MergeMethod,
    /// Merge only once a person with write access approved the very head Flotilla
    /// verified (checked by Flotilla itself, whatever branch protection says).
    #[serde(default)]
    pub require_human_approval: bool,
    /// Checks that must succeed besides those branch protection requires; `name@slug`
    /// is satisfied only by a check run of the App `slug` (see [`RequiredCheckName`]).
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Close the issue (with a summary) once every task has merged.
    #[serde(default = "default_close_issue")]
    pub close_issue: bool,
}

impl LandingConfig {
    /// `required_checks`, each read as a name optionally bound to an App.
    pub fn required_check_names(&self) -> Vec<RequiredCheckName> {
        self.required_checks
            .iter()
            .map(|entry| RequiredCheckName::parse(entry))
            .collect()
    }
}

/// One entry of `landing.required_checks`: `name`, satisfied by a check run or a commit
/// status of that name from anyone, or `name@app-slug`, satisfied only by a check run
/// created by that App — a commit status or another App's run of the same name cannot
/// stand in for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredCheckName {
    /// The check run's name (or status context).
    pub name: String,
    /// The slug of the App that must have created it.
    pub app_slug: Option<String>,
}

impl RequiredCheckName {
    /// Splits at the last `@` when what follows looks like an App slug (lowercase
    /// letters, digits and hyphens); otherwise the whole entry is the name.
    pub fn parse(entry: &str) -> Self {
        let entry = entry.trim();
        match entry.rsplit_once('@') {
            Some((name, slug)) if is_app_slug(slug) && !name.trim().is_empty() => Self {
                name: name.trim().to_owned(),
                app_slug: Some(slug.to_owned()),
            },
            _ => Self {
                name: entry.to_owned(),
                app_slug: None,
            },
        }
    }
}

/// Whether `slug` can be a GitHub App's slug.
fn is_app_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Default for LandingConfig {
    fn default() -> Self {
        Self {
            merge_method: default_merge_method(),
            require_human_approval: false,
            required_checks: Vec::new(),
            close_issue: default_close_issue(),
        }
    }
}

/// The file as written: like [`RepoConfig`], but remembering whether
/// `max_parallel_tasks` was set, so its default can follow a small `max_tasks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoFile {
    #[serde(default = "default_trigger_label")]
    trigger_label: String,
    #[serde(default)]
    worker: AgentConfig,
    #[serde(default)]
    planner: Option<AgentConfig>,
    #[serde(default = "default_max_tasks")]
    max_tasks: u32,
    #[serde(default)]
    max_parallel_tasks: Option<u32>,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_branch_prefix")]
    branch_prefix: String,
    #[serde(default)]
    reviewers: Option<BTreeMap<String, AgentConfig>>,
    #[serde(default)]
    verify: VerifyConfig,
    #[serde(default)]
    landing: LandingConfig,
    #[serde(default)]
    sandbox: ResourceLimits,
    #[serde(default)]
    budget: BudgetConfig,
}

impl From<RepoFile> for RepoConfig {
    fn from(file: RepoFile) -> Self {
        Self {
            trigger_label: file.trigger_label,
            planner: file.planner,
            max_tasks: file.max_tasks,
            max_parallel_tasks: file
                .max_parallel_tasks
                .unwrap_or_else(|| default_max_parallel_tasks().min(file.max_tasks)),
            max_attempts: file.max_attempts,
            branch_prefix: file.branch_prefix,
            reviewers: match file.reviewers {
                Some(lenses) => lenses
                    .into_iter()
                    .map(|(name, agent)| Lens { name, agent })
                    .collect(),
                None => default_lenses(&file.worker),
            },
            worker: file.worker,
            verify: file.verify,
            landing: file.landing,
            sandbox: file.sandbox,
            budget: file.budget,
        }
    }
}

/// The default lenses, each reviewed by the same kind of agent as the worker (a new
/// session of it, never the worker's own; validation keeps `rerun_on_base_change` off
/// the worker, so the default lenses carry their verdicts over).
fn default_lenses(worker: &AgentConfig) -> Vec<Lens> {
    DEFAULT_LENSES
        .iter()
        .map(|name| Lens {
            name: (*name).to_owned(),
            agent: worker.clone(),
        })
        .collect()
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            trigger_label: default_trigger_label(),
            worker: AgentConfig::default(),
            planner: None,
            max_tasks: default_max_tasks(),
            max_parallel_tasks: default_max_parallel_tasks(),
            max_attempts: default_max_attempts(),
            branch_prefix: default_branch_prefix(),
            reviewers: default_lenses(&AgentConfig::default()),
            verify: VerifyConfig::default(),
            landing: LandingConfig::default(),
            sandbox: ResourceLimits::default(),
            budget: BudgetConfig::default(),
        }
    }
}

/// One configured agent (worker or planner): which CLI, how it is started, how long it
/// may run and which of Flotilla's environment variables it may see.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Which coding-agent CLI runs.
    #[serde(default = "default_adapter")]
    pub adapter: AdapterKind,
    /// The shell command line; required for, and only allowed with, `adapter: command`.
    #[serde(default)]
    pub command: Option<String>,
    /// The model to ask the CLI for; none means the CLI's own default.
    #[serde(default)]
    pub model: Option<String>,
    /// Wall-clock limit after which the agent's whole process group is killed.
    #[serde(
        default = "default_time_limit",
        deserialize_with = "time_limit::deserialize"
    )]
    pub time_limit: Duration,
    /// Names of Flotilla's environment variables passed to the agent (API keys for
    /// the model, say). Never a GitHub credential, never `FLOTILLA_*`.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// What the agent may reach over the network (nothing by default).
    #[serde(default)]
    pub network: NetworkConfig,
    /// The most model turns the CLI may take before it stops itself (Claude Code's
    /// `--max-turns`); none leaves the CLI's own limit. Only with `adapter: claude-code`.
    #[serde(default)]
    pub max_turns: Option<u32>,
    /// Codex settings passed as `codex exec -c key=value` (a model provider's
    /// `base_url`, say); only with `adapter: codex`.
    #[serde(default)]
    pub codex: CodexConfig,
    /// Reviewer lenses only: run this lens again on a head that only merged a new base
    /// into a change it already judged, instead of carrying its verdict over (for a lens
    /// that reads the whole tree and could catch a clash between the change and the new
    /// base). Default: false.
    #[serde(default)]
    pub rerun_on_base_change: bool,
}

/// An agent's `network:` section: the only hosts its sandbox can reach, through
/// Flotilla's egress proxy. GitHub is never reachable, whatever is listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// `host:port` targets, such as `api.anthropic.com:443`.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            adapter: default_adapter(),
            command: None,
            model: None,
            time_limit: default_time_limit(),
            pass_env: Vec::new(),
            network: NetworkConfig::default(),
            max_turns: None,
            codex: CodexConfig::default(),
            rerun_on_base_change: false,
        }
    }
}

impl AgentConfig {
    /// The runnable adapter this configuration describes.
    ///
    /// Only meaningful on a validated configuration: [`RepoConfig::parse`] guarantees
    /// `command` is set for `adapter: command`; otherwise an empty command results.
    pub fn to_adapter(&self) -> Adapter {
        let model = self.model.clone();
        match self.adapter {
            AdapterKind::ClaudeCode => Adapter::ClaudeCode {
                model,
                max_turns: self.max_turns,
            },
            AdapterKind::Codex => Adapter::Codex {
                model,
                config: self.codex.clone(),
            },
            AdapterKind::Aider => Adapter::Aider { model },
            AdapterKind::Opencode => Adapter::OpenCode { model },
            AdapterKind::Command => Adapter::Command {
                shell: self.command.clone().unwrap_or_default(),
            },
        }
    }
}

/// The `adapter:` values, as spelled in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterKind {
    /// `claude-code`: Anthropic's Claude Code (`claude -p`).
    ClaudeCode,
    /// `codex`: OpenAI's Codex CLI (`codex exec`).
    Codex,
    /// `aider`: aider (`aider --message`).
    Aider,
    /// `opencode`: opencode (`opencode run`).
    Opencode,
    /// `command`: any shell command, given in `command`.
    Command,
}

/// Default `trigger_label`: `flotilla`.
pub fn default_trigger_label() -> String {
    "flotilla".to_owned()
}

/// Default `adapter`: `claude-code`.
pub fn default_adapter() -> AdapterKind {
    AdapterKind::ClaudeCode
}

/// Default `time_limit`: 30 minutes.
pub fn default_time_limit() -> Duration {
    Duration::from_secs(30 * 60)
}

/// Default `max_tasks`: 5.
pub fn default_max_tasks() -> u32 {
    5
}

/// Default `max_parallel_tasks`: 3, or `max_tasks` when that is smaller.
pub fn default_max_parallel_tasks() -> u32 {
    3
}

/// Default `max_attempts`: 3.
pub fn default_max_attempts() -> u32 {
    3
}

/// Default `branch_prefix`: `flotilla/`.
pub fn default_branch_prefix() -> String {
    "flotilla/".to_owned()
}

/// Default `verify.time_limit`: 20 minutes per command.
pub fn default_verify_time_limit() -> Duration {
    Duration::from_secs(20 * 60)
}

/// Default `verify.max_changed_lines`: 2,000 added plus removed lines.
pub fn default_max_changed_lines() -> u64 {
    2000
}

/// Default `verify.max_inline_comments`: 20 per review.
pub fn default_max_inline_comments() -> u32 {
    20
}

/// Default `landing.merge_method`: `squash`.
pub fn default_merge_method() -> MergeMethod {
    MergeMethod::Squash
}

/// Default `landing.close_issue`: true.
pub fn default_close_issue() -> bool {
    true
}

/// Why `.github/flotilla.yml` cannot be used, in one line a maintainer can act on:
/// `.github/flotilla.yml line 4: unknown field `max_task`, expected one of …`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{CONFIG_PATH}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct ConfigError {
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending key or value, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl RepoConfig {
    /// The configuration for a repository whose file holds `contents`, or the
    /// documented defaults when it has no file (`None`).
    pub fn load(contents: Option<&[u8]>) -> Result<Self, ConfigError> {
        contents.map_or_else(|| Ok(Self::default()), Self::parse)
    }

    /// Parses and validates the bytes of `.github/flotilla.yml`. A file with nothing
    /// but comments and blank lines means the defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ConfigError {
            line: Some(locate::line_of_offset(bytes, e.valid_up_to())),
            column: None,
            message: "the file is not valid UTF-8".to_owned(),
        })?;
        if locate::is_blank(text) {
            return Ok(Self::default());
        }
        let mut path = String::new();
        let file: RepoFile = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                path = error.path().to_string();
                error.into_inner()
            })
        })
        .map_err(|error| from_yaml(&error, &path))?;
        let config = Self::from(file);
        config.validate(text)?;
        Ok(config)
    }
}

/// A YAML or schema error from the parser, located where the parser says and naming
/// the field at `path` (`worker.time_limit`) when the parser's message does not.
fn from_yaml(error: &serde_saphyr::Error, path: &str) -> ConfigError {
    let error = error.without_snippet();
    let location = error
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line() as usize, l.column() as usize));
    let mut options = serde_saphyr::RenderOptions::default();
    options.snippets = serde_saphyr::SnippetMode::Off;
    let rendered = error.render_with_options(options);
    let message = match location {
        Some((line, column)) => rendered
            .strip_suffix(&format!(" at line {line}, column {column}"))
            .unwrap_or(&rendered)
            .to_owned(),
        None => rendered,
    };
    let names_field = path.is_empty()
        || path == "."
        || path.contains('?')
        || message.contains(&format!("`{path}`"));
    let message = if names_field {
        message
    } else {
        format!("`{path}`: {message}")
    };
    ConfigError {
        line: location.map(|(line, _)| line),
        column: location.map(|(_, column)| column),
        message,
    }
}
