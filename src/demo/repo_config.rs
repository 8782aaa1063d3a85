//! The `.github/flotilla.yml` the demo puts in the simulated repository: the chosen file
//! with the demo's agents (worker, planner, reviewer lenses) written in: `adapter:
//! command` agents for the commands given with flags, and the demo's default agent
//! (the scripted one, or Claude Code with `--agent-cli claude`) where none is named.
//!
//! It only edits and validates text; pushing it is the caller's business.

use anyhow::Context;
use serde_json::{Map, Value};

use crate::config::RepoConfig;
use crate::review::DEFAULT_LENSES;

use super::ReviewerFlag;

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
    /// The default worker (see [`command_agent`]), used when neither `--agent` nor the
    /// file names a worker.
    pub(super) default_worker: &'a AgentEntry,
    /// `--planner`: replaces the planner.
    pub(super) planner: Option<&'a str>,
    /// `--reviewer`: replaces every lens's agent, or one lens's (adding the lens).
    pub(super) reviewers: &'a [ReviewerFlag],
    /// The default reviewer, used for every lens for which neither `--reviewer` nor the
    /// file names an agent; a file without `reviewers:` gets the default lenses with it.
    pub(super) default_reviewer: &'a AgentEntry,
}

/// The keys of one agent entry the demo writes (`adapter`, `command`, `pass_env`, …);
/// the entry's other keys, such as its time limit, are kept.
pub(super) type AgentEntry = Map<String, Value>;

/// An `adapter: command` agent running `command` with `sh -c`.
pub(super) fn command_agent(command: &str) -> AgentEntry {
    let mut agent = Map::new();
    agent.insert("adapter".to_owned(), Value::from("command"));
    agent.insert("command".to_owned(), Value::from(command));
    agent
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
        .map(command_agent)
        .or_else(|| (!names_worker).then(|| overrides.default_worker.clone()));
    let mut edited = worker.is_some() || overrides.planner.is_some();
    if let Some(agent) = &worker {
        set_agent(root.entry("worker").or_insert(Value::Null), agent);
    }
    if let Some(command) = overrides.planner {
        set_agent(
            root.entry("planner").or_insert(Value::Null),
            &command_agent(command),
        );
    }
    edited |= set_reviewers(&mut root, overrides)?;
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

/// Writes the reviewer commands into `reviewers:`: `lens=command` flags first, then the
/// all-lenses flag, then the default reviewer for lenses that name no agent. A file
/// without `reviewers:` starts from the default lenses. Says whether anything changed.
fn set_reviewers(
    root: &mut Map<String, Value>,
    overrides: &AgentOverrides<'_>,
) -> anyhow::Result<bool> {
    let mut every_lens = None;
    let mut per_lens: Vec<(&str, &str)> = Vec::new();
    for flag in overrides.reviewers {
        match flag {
            ReviewerFlag::All(command) => {
                anyhow::ensure!(
                    every_lens.replace(command.as_str()).is_none(),
                    "--reviewer '<command>' (for every lens) is given more than once"
                );
            }
            ReviewerFlag::Lens { lens, command } => {
                anyhow::ensure!(
                    per_lens.iter().all(|(name, _)| name != lens),
                    "--reviewer {lens}=… is given more than once"
                );
                per_lens.push((lens, command));
            }
        }
    }
    let section = root.entry("reviewers").or_insert(Value::Null);
    if section.is_null() {
        *section = Value::Object(
            DEFAULT_LENSES
                .iter()
                .map(|lens| ((*lens).to_owned(), Value::Object(Map::new())))
                .collect(),
        );
    }
    let Value::Object(lenses) = section else {
        anyhow::bail!("`reviewers` in the configuration file is not a mapping of lenses");
    };
    for (lens, _) in &per_lens {
        lenses.entry(*lens).or_insert(Value::Null);
    }
    let mut edited = false;
    for (name, agent) in lenses.iter_mut() {
        let names_agent = agent
            .as_object()
            .is_some_and(|agent| agent.contains_key("adapter"));
        let chosen = per_lens
            .iter()
            .find(|(lens, _)| lens == name)
            .map(|(_, command)| *command)
            .or(every_lens)
            .map(command_agent)
            .or_else(|| (!names_agent).then(|| overrides.default_reviewer.clone()));
        if let Some(chosen) = &chosen {
            set_agent(agent, chosen);
            edited = true;
        }
    }
    Ok(edited)
}

/// Makes one agent entry the agent `chosen`: its adapter, command and model go, the
/// chosen keys are written over the rest, and its other keys (its time limit, say)
/// are kept.
fn set_agent(entry: &mut Value, chosen: &AgentEntry) {
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(agent) = entry {
        for key in ["adapter", "command", "model"] {
            agent.remove(key);
        }
        for (key, value) in chosen {
            agent.insert(key.clone(), value.clone());
        }
    }
}
