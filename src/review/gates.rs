//! The deterministic gates that need no process: protected paths, scope, tests, secrets
//! and diff size, each a pure function of the diff and the settings.
//!
//! Paths are matched with gitignore-like globs: `*` and `?` stay within one path
//! segment, `**` crosses segments, and a glob without wildcards also names everything
//! under it when it is a directory (`src/auth`). Protected globs (built-in, configured
//! and the files the build commands run) match regardless of case, since a
//! case-insensitive checkout or tool reads `.GitHub/Workflows` as `.github/workflows`.
//! This module decides outcomes only; the build gate, which runs commands, lives with
//! the orchestrator.

use std::collections::HashSet;
use std::sync::LazyLock;

use globset::{GlobBuilder, GlobMatcher};

use super::diff::{ChangeStatus, Diff, SUBMODULE_MODE, SYMLINK_MODE};
use super::verify_files::VerifyFile;
use super::{Finding, Gate, GateOutcome, GateResult, Severity};
use super::{secrets, tests_gate};

/// Files whose change a person must approve, whatever the task: CI definitions (of
/// every common CI system) run with the repository's secrets and write tokens,
/// Flotilla's own configuration and the ownership files decide who reviews what, agent
/// and reviewer configuration and instruction files of every supported CLI steer every
/// later agent run (so a change to them is a prompt injection that outlives the task),
/// `.gitattributes` decides how git diffs and merges files (it can hide a change from
/// the diff the gates read), and submodules pull in code from elsewhere. None of these
/// may change just because reviewer agents agreed.
pub const BUILTIN_PROTECTED: &[&str] = &[
    ".github/workflows/**",
    ".github/actions/**",
    ".gitlab-ci.yml",
    ".gitlab/**",
    ".circleci/**",
    "Jenkinsfile",
    "**/Jenkinsfile",
    ".buildkite/**",
    "azure-pipelines.yml",
    "azure-pipelines.yaml",
    ".azure-pipelines/**",
    ".travis.yml",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    "appveyor.yml",
    ".appveyor.yml",
    ".woodpecker.yml",
    ".woodpecker/**",
    ".github/flotilla.yml",
    ".github/flotilla.yaml",
    "CODEOWNERS",
    ".github/CODEOWNERS",
    "docs/CODEOWNERS",
    "**/.gitattributes",
    ".gitmodules",
    "AGENTS.md",
    "**/AGENTS.md",
    "**/AGENTS.override.md",
    "CLAUDE.md",
    "**/CLAUDE.md",
    "**/CLAUDE.local.md",
    ".claude/**",
    ".mcp.json",
    ".cursorrules",
    ".cursor/**",
    ".github/copilot-instructions.md",
    ".github/instructions/**",
    ".github/prompts/**",
    ".github/chatmodes/**",
    "GEMINI.md",
    "**/GEMINI.md",
    ".gemini/**",
    "opencode.json",
    "opencode.jsonc",
    ".opencode/**",
    ".codex/**",
    "**/.aider*",
    "**/.aider*/**",
];

/// [`BUILTIN_PROTECTED`] compiled once, matching regardless of case (some tools read
/// `agents.md` too).
static BUILTIN: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let (patterns, invalid) = compile_all(BUILTIN_PROTECTED.iter().copied(), true);
    assert!(
        invalid.is_empty(),
        "invalid built-in protected globs: {invalid:?}"
    );
    patterns
});

/// What the static gates are checked against, from the repository's configuration and
/// the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateSettings {
    /// Globs protected on top of [`BUILTIN_PROTECTED`], from the configuration.
    pub protected_paths: Vec<String>,
    /// The task's declared globs; empty when the task declared no scope.
    pub declared_paths: Vec<String>,
    /// Whether a file outside the declared paths fails the scope gate (else it warns).
    pub scope_fails: bool,
    /// The most lines (added plus removed) a change may have.
    pub max_changed_lines: u64,
    /// The files `verify.commands` run or read, resolved at the base commit
    /// ([`crate::review::verify_files::resolve`]): protected, so a change cannot rewrite
    /// the commands that judge it.
    pub verify_files: Vec<VerifyFile>,
}

/// Checks a glob from the configuration, so a typo is reported when the configuration
/// is loaded rather than silently protecting nothing.
pub fn validate_glob(glob: &str) -> Result<(), String> {
    compile(glob, true).map(drop)
}

/// The result of every gate that needs no process, in a fixed order: protected paths,
/// scope, tests, secrets, diff size.
pub fn static_gates(diff: &Diff, settings: &GateSettings) -> Vec<GateResult> {
    let paths: Vec<&str> = diff.paths().collect();
    vec![
        protected_paths(diff, &paths, settings),
        scope(&paths, settings),
        tests(diff, settings),
        secrets_gate(diff),
        diff_size(diff, settings),
    ]
}

/// A compiled glob: the pattern, and for a wildcard-free glob the directory it may name.
struct Pattern {
    glob: String,
    matcher: GlobMatcher,
    directory: Option<String>,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
            || self.directory.as_deref().is_some_and(|dir| {
                path.strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// Compiles a glob as written in configuration (leading `./` or `/` ignored).
fn compile(glob: &str, case_insensitive: bool) -> Result<Pattern, String> {
    let trimmed = glob.trim();
    let normalized = trimmed
        .strip_prefix("./")
        .unwrap_or(trimmed)
        .trim_start_matches('/');
    if normalized.is_empty() {
        return Err(format!("`{glob}` is not a path glob: it is empty"));
    }
    let matcher = GlobBuilder::new(normalized)
        .literal_separator(true)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|error| format!("`{glob}` is not a valid glob: {}", error.kind()))?
        .compile_matcher();
    let directory = (!normalized.contains(['*', '?', '[', '{']))
        .then(|| normalized.trim_end_matches('/').to_owned());
    Ok(Pattern {
        glob: trimmed.to_owned(),
        matcher,
        directory,
    })
}

/// Compiles every glob, keeping the valid ones and the reasons the others are not.
fn compile_all<'g>(
    globs: impl IntoIterator<Item = &'g str>,
    case_insensitive: bool,
) -> (Vec<Pattern>, Vec<String>) {
    let mut patterns = Vec::new();
    let mut invalid = Vec::new();
    for glob in globs {
        match compile(glob, case_insensitive) {
            Ok(pattern) => patterns.push(pattern),
            Err(reason) => invalid.push(reason),
        }
    }
    (patterns, invalid)
}

/// A finding about the change as a whole or about one file, not about a line.
fn about(path: Option<&str>, severity: Severity, message: String) -> Finding {
    Finding {
        path: path.map(str::to_owned),
        line: None,
        severity,
        message,
    }
}

/// Needs a person when the change touches a protected file. An invalid configured glob
/// also needs a person, since it would otherwise protect nothing.
fn protected_paths(diff: &Diff, paths: &[&str], settings: &GateSettings) -> GateResult {
    let (configured, invalid) =
        compile_all(settings.protected_paths.iter().map(String::as_str), true);
    let (run, run_invalid) =
        compile_all(settings.verify_files.iter().map(|f| f.glob.as_str()), true);
    let mut findings: Vec<Finding> = invalid
        .into_iter()
        .map(|reason| {
            about(
                None,
                Severity::High,
                format!("a configured protected path {reason}; fix the configuration"),
            )
        })
        .chain(run_invalid.into_iter().map(|reason| {
            about(
                None,
                Severity::High,
                format!("a file `verify.commands` runs {reason}; fix the commands"),
            )
        }))
        .collect();
    let bad_config = findings.len();
    for path in paths {
        if let Some(pattern) = BUILTIN.iter().chain(&configured).find(|p| p.matches(path)) {
            findings.push(about(
                Some(path),
                Severity::High,
                format!(
                    "`{path}` is protected (`{}`): a person must approve changes to it",
                    pattern.glob
                ),
            ));
        } else if let Some((pattern, file)) = run
            .iter()
            .zip(&settings.verify_files)
            .find(|(p, _)| p.matches(path))
        {
            let through = if pattern.glob == *path {
                String::new()
            } else {
                format!(", as `{}`", pattern.glob)
            };
            findings.push(about(
                Some(path),
                Severity::High,
                format!(
                    "`{path}` is run by `verify.commands` (`{}`{through}): a person must \
                     approve changes to it",
                    file.command
                ),
            ));
        }
    }
    for file in &diff.files {
        let kind = match file.mode {
            Some(SYMLINK_MODE) => {
                "a symbolic link (it can point anywhere, protected files included)"
            }
            Some(SUBMODULE_MODE) => "a submodule (code from another repository)",
            _ => continue,
        };
        if file.status == ChangeStatus::Deleted {
            continue;
        }
        findings.push(about(
            Some(&file.path),
            Severity::High,
            format!("`{}` is {kind}: a person must approve it", file.path),
        ));
    }
    let touched = findings.len() - bad_config;
    let (outcome, summary) = match (touched, bad_config) {
        (0, 0) => (
            GateOutcome::Passed,
            "no protected file is touched".to_owned(),
        ),
        (0, _) => (
            GateOutcome::NeedsHuman,
            "the configured protected paths are invalid: a person must fix them".to_owned(),
        ),
        (1, _) => (
            GateOutcome::NeedsHuman,
            "1 protected file is touched: a person must approve the change".to_owned(),
        ),
        (n, _) => (
            GateOutcome::NeedsHuman,
            format!("{n} protected files are touched: a person must approve the change"),
        ),
    };
    GateResult {
        gate: Gate::ProtectedPaths,
        outcome,
        summary,
        findings,
        output: None,
    }
}

/// Warns (or fails, when configured) about files outside the task's declared paths.
/// A declared glob that does not compile matches nothing and is reported.
fn scope(paths: &[&str], settings: &GateSettings) -> GateResult {
    let result = |outcome, summary, findings| GateResult {
        gate: Gate::Scope,
        outcome,
        summary,
        findings,
        output: None,
    };
    if settings.declared_paths.is_empty() {
        return result(
            GateOutcome::Passed,
            "the task declared no paths, so any file may change".to_owned(),
            Vec::new(),
        );
    }
    let (declared, invalid) =
        compile_all(settings.declared_paths.iter().map(String::as_str), false);
    let outside: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|path| !declared.iter().any(|p| p.matches(path)))
        .collect();
    let listed = settings.declared_paths.join(", ");
    if outside.is_empty() {
        return result(
            GateOutcome::Passed,
            format!("every changed file is within the declared paths ({listed})"),
            Vec::new(),
        );
    }
    let (outcome, severity) = if settings.scope_fails {
        (GateOutcome::Failed, Severity::High)
    } else {
        (GateOutcome::Warned, Severity::Medium)
    };
    let mut findings: Vec<Finding> = invalid
        .into_iter()
        .map(|reason| {
            about(
                None,
                Severity::Medium,
                format!("the declared path {reason}"),
            )
        })
        .collect();
    findings.extend(outside.iter().map(|path| {
        about(
            Some(path),
            severity,
            format!("`{path}` is outside the task's declared paths ({listed})"),
        )
    }));
    let count = match outside.len() {
        1 => "1 file changed".to_owned(),
        n => format!("{n} files changed"),
    };
    result(
        outcome,
        format!("{count} outside the declared paths ({listed})"),
        findings,
    )
}

/// Fails when the change deletes or weakens an existing test, unless the task's declared
/// paths name the file (the planner meant it to change).
fn tests(diff: &Diff, settings: &GateSettings) -> GateResult {
    let (declared, _) = compile_all(settings.declared_paths.iter().map(String::as_str), false);
    let findings =
        tests_gate::weakened(&diff.files, |path| declared.iter().any(|p| p.matches(path)));
    let files: HashSet<Option<&str>> = findings.iter().map(|f| f.path.as_deref()).collect();
    let (outcome, summary) = match (findings.len(), files.len()) {
        (0, _) => (
            GateOutcome::Passed,
            "no existing test is deleted, skipped or stripped of assertions".to_owned(),
        ),
        (1, _) => (
            GateOutcome::Failed,
            "an existing test is deleted, skipped or stripped of assertions".to_owned(),
        ),
        (n, f) => (
            GateOutcome::Failed,
            format!(
                "{n} existing tests are deleted, skipped or stripped of assertions in {f} file(s)"
            ),
        ),
    };
    GateResult {
        gate: Gate::Tests,
        outcome,
        summary,
        findings,
        output: None,
    }
}

/// Fails when an added line looks like a credential.
fn secrets_gate(diff: &Diff) -> GateResult {
    let findings = secrets::scan(diff);
    let lines: HashSet<(Option<&str>, Option<u32>)> = findings
        .iter()
        .map(|f| (f.path.as_deref(), f.line))
        .collect();
    let (outcome, summary) = match lines.len() {
        0 => (
            GateOutcome::Passed,
            "no added line looks like a credential".to_owned(),
        ),
        1 => (
            GateOutcome::Failed,
            "1 added line looks like a credential".to_owned(),
        ),
        n => (
            GateOutcome::Failed,
            format!("{n} added lines look like credentials"),
        ),
    };
    GateResult {
        gate: Gate::Secrets,
        outcome,
        summary,
        findings,
        output: None,
    }
}

/// Fails an empty change, one that adds or edits binary files, and one with more
/// changed lines than the limit.
fn diff_size(diff: &Diff, settings: &GateSettings) -> GateResult {
    let changed = diff.changed_lines();
    let limit = settings.max_changed_lines;
    let binary: Vec<&str> = diff
        .files
        .iter()
        .filter(|f| f.binary && f.status != ChangeStatus::Deleted)
        .map(|f| f.path.as_str())
        .collect();
    let (outcome, summary) = if diff.is_empty() {
        (GateOutcome::Failed, "the change is empty".to_owned())
    } else if !binary.is_empty() {
        (
            GateOutcome::Failed,
            format!(
                "the change adds or edits binary files, which no one can review line by line: {}",
                binary.join(", ")
            ),
        )
    } else if changed > limit {
        (
            GateOutcome::Failed,
            format!("the change has {changed} changed lines, over the limit of {limit}"),
        )
    } else {
        (
            GateOutcome::Passed,
            format!("the change has {changed} changed lines (limit {limit})"),
        )
    };
    GateResult {
        gate: Gate::DiffSize,
        outcome,
        summary,
        findings: Vec::new(),
        output: None,
    }
}
