//! The `.github/flotilla.yml` the demo puts in the simulated repository: the chosen file
//! with the demo's agents written in as `adapter: command` agents.
//!
//! It only edits and validates text; pushing it is the caller's business.

use anyhow::Context;
use serde_json::{Map, Value};

use crate::config::RepoConfig;

/// The configuration text to commit, with what Flotilla will read from it.
pub(super) struct DemoConfig {
    /// The file's text, as committed.
    pub(super) text: String,
    /// The file's meaning; the demo labels the issue with its `trigger_label`.
    pub(super) config: RepoConfig,
}

/// The agents the demo writes into the file.
pub(super) struct AgentOverrides<'a> {
    /// `--agent`: replaces the worker.
    pub(super) worker: Option<&'a str>,
    /// The scripted agent, used when neither `--agent` nor the file names a worker.
    pub(super) default_worker: &'a str,
    /// `--planner`: replaces the planner.
    pub(super) planner: Option<&'a str>,
}

/// Applies `overrides` to the file text `original` and checks the result the way
/// Flotilla will. An untouched file keeps its text, comments included.
pub(super) fn build(original: &str, overrides: &AgentOverrides<'_>) -> anyhow::Result<DemoConfig> {
    let mut root = parse_mapping(original)?;
    let names_worker = root
        .get("worker")
        .and_then(Value::as_object)
        .is_some_and(|worker| worker.contains_key("adapter"));
    let worker = overrides
        .worker
        .or((!names_worker).then_some(overrides.default_worker));
    let edited = worker.is_some() || overrides.planner.is_some();
    if let Some(command) = worker {
        set_command_agent(&mut root, "worker", command);
    }
    if let Some(command) = overrides.planner {
        set_command_agent(&mut root, "planner", command);
    }
    let text = if edited {
        serde_saphyr::to_string(&Value::Object(root))
            .context("writing the demo's .github/flotilla.yml")?
    } else {
        original.to_owned()
    };
    let config = RepoConfig::parse(text.as_bytes())
        .context("the demo's repository configuration would be refused")?;
    Ok(DemoConfig { text, config })
}

/// The file's top-level mapping; a file of comments only is an empty one.
fn parse_mapping(text: &str) -> anyhow::Result<Map<String, Value>> {
    if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    }) {
        return Ok(Map::new());
    }
    match serde_saphyr::from_str::<Value>(text).context("reading the configuration file")? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => anyhow::bail!("the configuration file is not a YAML mapping"),
    }
}

/// Makes `section` run `command` with `sh -c`, keeping its time limit and `pass_env`.
fn set_command_agent(root: &mut Map<String, Value>, section: &str, command: &str) {
    let entry = root
        .entry(section)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(agent) = entry {
        agent.remove("model");
        agent.insert("adapter".to_owned(), Value::from("command"));
        agent.insert("command".to_owned(), Value::from(command));
    }
}
