//! The rules a parsed configuration must satisfy beyond its types: ranges, the git
//! ref syntax of `branch_prefix`, `command` with `adapter: command`, `codex` with
//! `adapter: codex`, `pass_env` names an agent may receive, and lens-only keys
//! (`rerun_on_base_change`) on lenses only. It must not parse YAML itself: an error
//! names the path of the key it is about, and [`locate`] finds where that is written.

use crate::agent::env::check_pass_env;
use crate::review::gates::validate_glob;
use crate::sandbox::egress::check_allow_entry;

use super::{
    AdapterKind, AgentConfig, ConfigError, MAX_ATTEMPTS_RANGE, MAX_TASKS_RANGE, RepoConfig, locate,
};

impl RepoConfig {
    /// Checks every rule the types cannot express; `text` is the file, for locating.
    pub(super) fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let fail = |path: &[&str], message: String| Err(locate::error_at(text, path, message));
        if self.trigger_label.trim().is_empty() {
            return fail(
                &["trigger_label"],
                "`trigger_label` must not be empty".into(),
            );
        }
        if !MAX_TASKS_RANGE.contains(&self.max_tasks) {
            return fail(
                &["max_tasks"],
                format!("`max_tasks` is {}; it must be from 1 to 20", self.max_tasks),
            );
        }
        if self.max_parallel_tasks == 0 {
            return fail(
                &["max_parallel_tasks"],
                "`max_parallel_tasks` is 0; it must be at least 1".into(),
            );
        }
        if self.max_parallel_tasks > self.max_tasks {
            return fail(
                &["max_parallel_tasks"],
                format!(
                    "`max_parallel_tasks` is {} but `max_tasks` is {}; it must not exceed `max_tasks`",
                    self.max_parallel_tasks, self.max_tasks
                ),
            );
        }
        if !MAX_ATTEMPTS_RANGE.contains(&self.max_attempts) {
            return fail(
                &["max_attempts"],
                format!(
                    "`max_attempts` is {}; it must be from 1 to 10",
                    self.max_attempts
                ),
            );
        }
        if let Err(problem) = check_branch_prefix(&self.branch_prefix) {
            return fail(&["branch_prefix"], format!("`branch_prefix` {problem}"));
        }
        self.worker.validate(&["worker"], text)?;
        self.worker.refuse_lens_keys(&["worker"], text)?;
        if let Some(planner) = &self.planner {
            planner.validate(&["planner"], text)?;
            planner.refuse_lens_keys(&["planner"], text)?;
        }
        if let Err((field, problem)) = self.sandbox.check() {
            return fail(&["sandbox", field], format!("`sandbox.{field}` {problem}"));
        }
        self.validate_review(text)
    }

    /// Checks the `reviewers`, `verify` and `landing` sections.
    fn validate_review(&self, text: &str) -> Result<(), ConfigError> {
        let fail = |path: &[&str], message: String| Err(locate::error_at(text, path, message));
        if self.reviewers.is_empty() {
            return fail(
                &["reviewers"],
                "`reviewers` names no lens; every change needs at least one reviewer".into(),
            );
        }
        for lens in &self.reviewers {
            if let Err(problem) = check_lens_name(&lens.name) {
                return fail(
                    &["reviewers", &lens.name],
                    format!("`reviewers`: {problem}"),
                );
            }
            lens.agent.validate(&["reviewers", &lens.name], text)?;
        }
        for command in &self.verify.commands {
            if command.trim().is_empty() {
                return fail(
                    &["verify", "commands"],
                    "`verify.commands` holds an empty command".into(),
                );
            }
        }
        for glob in &self.verify.protected_paths {
            if let Err(problem) = validate_glob(glob) {
                return fail(
                    &["verify", "protected_paths"],
                    format!("`verify.protected_paths`: {problem}"),
                );
            }
        }
        if self.verify.max_changed_lines == 0 {
            return fail(
                &["verify", "max_changed_lines"],
                "`verify.max_changed_lines` is 0; it must be at least 1".into(),
            );
        }
        if self.verify.max_inline_comments > MAX_INLINE_COMMENTS {
            return fail(
                &["verify", "max_inline_comments"],
                format!(
                    "`verify.max_inline_comments` is {}; it must be at most {MAX_INLINE_COMMENTS}",
                    self.verify.max_inline_comments
                ),
            );
        }
        for check in &self.landing.required_checks {
            if check.trim().is_empty() {
                return fail(
                    &["landing", "required_checks"],
                    "`landing.required_checks` holds an empty check name".into(),
                );
            }
            let parsed = super::RequiredCheckName::parse(check);
            if parsed.app_slug.is_none() && check.trim().ends_with('@') {
                return fail(
                    &["landing", "required_checks"],
                    format!(
                        "`landing.required_checks` entry `{check}` names no App after `@`;                          write `name@app-slug` (e.g. `ci@github-actions`) or just `name`"
                    ),
                );
            }
        }
        Ok(())
    }
}

impl AgentConfig {
    /// Refuses the keys only a reviewer lens takes on an agent that is none (the worker,
    /// the planner): set there, they would silently do nothing.
    fn refuse_lens_keys(&self, path: &[&str], text: &str) -> Result<(), ConfigError> {
        if self.rerun_on_base_change {
            let section = path.join(".");
            return Err(locate::error_at(
                text,
                &[path, &["rerun_on_base_change"]].concat(),
                format!(
                    "`{section}.rerun_on_base_change` is only for reviewer lenses \
                     (`reviewers.<lens>.rerun_on_base_change`)"
                ),
            ));
        }
        Ok(())
    }

    /// Checks one agent's rules; `path` is where it sits (`worker`, `reviewers.security`).
    fn validate(&self, path: &[&str], text: &str) -> Result<(), ConfigError> {
        let section = path.join(".");
        let section = section.as_str();
        let fail = |key: &str, message: String| {
            let mut at = path.to_vec();
            at.push(key);
            Err(locate::error_at(text, &at, message))
        };
        match (self.adapter, &self.command) {
            (AdapterKind::Command, None) => {
                return fail(
                    "adapter",
                    format!("`{section}.command` is required with `adapter: command`"),
                );
            }
            (AdapterKind::Command, Some(command)) if command.trim().is_empty() => {
                return fail("command", format!("`{section}.command` must not be empty"));
            }
            (kind, Some(_)) if kind != AdapterKind::Command => {
                return fail(
                    "command",
                    format!("`{section}.command` is only used with `adapter: command`"),
                );
            }
            _ => {}
        }
        if !self.codex.is_empty() && self.adapter != AdapterKind::Codex {
            return fail(
                "codex",
                format!("`{section}.codex` is only used with `adapter: codex`"),
            );
        }
        if let Err(problem) = self.codex.check() {
            return fail("codex", format!("`{section}.codex`: {problem}"));
        }
        if let Some(model) = &self.model
            && model.trim().is_empty()
        {
            return fail("model", format!("`{section}.model` must not be empty"));
        }
        for (index, name) in self.pass_env.iter().enumerate() {
            if let Err(refused) = check_pass_env(std::slice::from_ref(name)) {
                return Err(locate::item_error_at(
                    text,
                    &[path, &["pass_env"]].concat(),
                    index,
                    format!("`{section}.pass_env`: {refused}"),
                ));
            }
        }
        for entry in &self.network.allow {
            if let Err(problem) = check_allow_entry(entry) {
                return fail("network", format!("`{section}.network.allow`: {problem}"));
            }
        }
        match self.max_turns {
            Some(_) if self.adapter != AdapterKind::ClaudeCode => {
                return fail(
                    "max_turns",
                    format!("`{section}.max_turns` is only used with `adapter: claude-code`"),
                );
            }
            Some(0) => {
                return fail(
                    "max_turns",
                    format!("`{section}.max_turns` must be at least 1"),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// The most inline comments a review may be configured to carry.
const MAX_INLINE_COMMENTS: u32 = 100;

/// Whether `name` can name a lens and its check run `flotilla/<name>`: `Err` says why not.
fn check_lens_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if name.is_empty() || name.len() > 30 || !valid_chars {
        return Err(format!(
            "lens `{name}` must be 1 to 30 lowercase letters, digits, `-` or `_`"
        ));
    }
    if matches!(name, "verify" | "gates" | "checks") {
        return Err(format!(
            "lens `{name}` would clash with the check run `flotilla/{name}` or with the \
             gates and checks in verdict summaries"
        ));
    }
    Ok(())
}

/// Whether `prefix` can start a git branch name: `Err` says why not.
fn check_branch_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty".into());
    }
    if prefix.starts_with('/') || prefix.starts_with('-') {
        return Err(format!("`{prefix}` must not start with `/` or `-`"));
    }
    if prefix.contains("..") || prefix.contains("//") || prefix.contains("@{") {
        return Err(format!(
            "`{prefix}` must not contain `..`, `//` or `@{{` (not a valid git ref)"
        ));
    }
    if let Some(bad) = prefix
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(*c))
    {
        return Err(format!(
            "`{prefix}` contains `{}`, which git does not allow in a branch name",
            bad.escape_default()
        ));
    }
    if prefix
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err(format!(
            "`{prefix}` has a component starting with `.` or ending in `.lock` (not a valid git ref)"
        ));
    }
    Ok(())
}
