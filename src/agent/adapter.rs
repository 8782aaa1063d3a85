//! Built-in adapters: how each supported coding-agent CLI is started headless, and how
//! its answer is read back out of its output format.
//!
//! Every adapter runs the CLI non-interactively in the task's worktree with the prompt
//! on stdin (aider reads it from the prompt file), lets it edit files, and disables the
//! CLI's own git commits where the CLI allows: Flotilla commits, pushes and merges.
//! CLIs that stream their progress are started in their streaming format, so the
//! runner reads their usage while they run. This module only builds argv and decodes
//! output; running is the runner's job.

use serde_json::Value;

use super::codex_config::CodexConfig;
use super::result::{self, ResultError};
use super::runner::{AgentCommand, AgentReport, Arg};
use super::usage::UsageFormat;

/// Claude Code tool rules that keep it from committing or pushing by itself.
const CLAUDE_NO_GIT_WRITES: &str = "Bash(git commit:*),Bash(git push:*)";

/// Claude Code's shell tool, allowed for every command: headless (`-p`) it otherwise
/// denies each command its own checker cannot prove harmless (`sh tests/run.sh`, any
/// `$VAR`) as "requires approval", so a worker could not run the tests and the runs
/// lens could not run the change. Flotilla's sandbox, not Claude Code's prompt, is what
/// confines the command; the deny rules above still win over this allow rule.
const CLAUDE_SHELL: &str = "Bash";

/// Claude Code's documented switch for "no traffic but the model API": no auto-update,
/// telemetry, error reporting or feedback requests, none of which a sandbox may make.
const CLAUDE_QUIET_ENV: &[(&str, &str)] = &[
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
];

/// A configured agent: which CLI, and the model to ask it for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// Anthropic's Claude Code: `claude -p --output-format stream-json --verbose`.
    ClaudeCode {
        /// `--model`, when not the CLI's default.
        model: Option<String>,
        /// `--max-turns`: the CLI stops itself after this many model turns.
        max_turns: Option<u32>,
    },
    /// OpenAI's Codex CLI: `codex exec --json ... -` (prompt from stdin).
    Codex {
        /// `--model`, when not the CLI's default.
        model: Option<String>,
        /// `-c key=value` overrides (the model provider, say).
        config: CodexConfig,
    },
    /// aider: `aider --message-file <prompt file> --yes-always --no-auto-commits`.
    Aider {
        /// `--model`, when not the CLI's default.
        model: Option<String>,
    },
    /// opencode: `opencode run --format json` (prompt from stdin).
    OpenCode {
        /// `--model provider/model`, when not the CLI's default.
        model: Option<String>,
    },
    /// Any shell command line, run with `sh -c`; its stdout is read as plain text.
    Command {
        /// The command line.
        shell: String,
    },
}

impl Adapter {
    /// The adapter's name as written in `.github/flotilla.yml`.
    pub fn name(&self) -> &'static str {
        match self {
            Adapter::ClaudeCode { .. } => "claude",
            Adapter::Codex { .. } => "codex",
            Adapter::Aider { .. } => "aider",
            Adapter::OpenCode { .. } => "opencode",
            Adapter::Command { .. } => "command",
        }
    }

    /// The command that starts this agent headless.
    pub fn command(&self) -> AgentCommand {
        let program = |program: &str, args: Vec<Arg>| AgentCommand::Program {
            program: program.to_owned(),
            args,
            env: Vec::new(),
        };
        match self {
            Adapter::ClaudeCode { model, max_turns } => {
                let mut args = texts(&[
                    "-p",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--permission-mode",
                    "acceptEdits",
                    "--allowedTools",
                    CLAUDE_SHELL,
                    "--disallowedTools",
                    CLAUDE_NO_GIT_WRITES,
                ]);
                if let Some(turns) = max_turns {
                    args.push(Arg::Text("--max-turns".to_owned()));
                    args.push(Arg::Text(turns.to_string()));
                }
                AgentCommand::Program {
                    program: "claude".to_owned(),
                    args: with_model(args, model),
                    env: CLAUDE_QUIET_ENV
                        .iter()
                        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                        .collect(),
                }
            }
            Adapter::Codex { model, config } => program("codex", codex_args(model, config)),
            Adapter::Aider { model } => {
                let mut args = vec![Arg::Text("--message-file".to_owned()), Arg::PromptFile];
                args.extend(texts(&[
                    "--yes-always",
                    "--no-auto-commits",
                    "--no-dirty-commits",
                    "--no-pretty",
                ]));
                program("aider", with_model(args, model))
            }
            Adapter::OpenCode { model } => program(
                "opencode",
                with_model(texts(&["run", "--format", "json"]), model),
            ),
            Adapter::Command { shell } => AgentCommand::Shell(shell.clone()),
        }
    }

    /// The format the CLI's stdout reports usage in, as [`Adapter::command`] starts it.
    pub fn usage_format(&self) -> UsageFormat {
        match self {
            Adapter::ClaudeCode { .. } => UsageFormat::ClaudeStreamJson,
            Adapter::Codex { model, .. } => UsageFormat::CodexJson {
                model: model.clone().unwrap_or_default(),
            },
            Adapter::Aider { .. } | Adapter::OpenCode { .. } | Adapter::Command { .. } => {
                UsageFormat::None
            }
        }
    }

    /// The agent's final message, decoded from the CLI's stdout format: Claude Code's
    /// `result` event, Codex's and opencode's JSON event lines, or plain text for the
    /// rest.
    pub fn final_message(&self, stdout: &str) -> Result<String, ResultError> {
        match self {
            Adapter::ClaudeCode { .. } => claude_result(stdout),
            Adapter::Codex { .. } => codex_message(stdout),
            Adapter::OpenCode { .. } => opencode_text(stdout),
            Adapter::Aider { .. } | Adapter::Command { .. } => Ok(stdout.to_owned()),
        }
    }

    /// A planner's or reviewer's JSON answer: the result file if the agent wrote one,
    /// else the last JSON object in its final message.
    pub fn answer(&self, report: &AgentReport) -> Result<Value, ResultError> {
        let result_file = report.result_file.as_deref();
        let output = if result::wrote_result_file(result_file) {
            String::new()
        } else {
            self.final_message(&report.stdout)?
        };
        result::read_answer(result_file, &output)
    }

    /// A reviewer's verdict object: from its final message alone (a reviewer gets no
    /// result file), and only when exactly one verdict is in it (see
    /// [`result::verdict_object`]).
    pub fn verdict(&self, report: &AgentReport) -> Result<Value, ResultError> {
        result::verdict_object(&self.final_message(&report.stdout)?)
    }
}

fn texts(args: &[&str]) -> Vec<Arg> {
    args.iter().map(|a| Arg::Text((*a).to_owned())).collect()
}

fn with_model(mut args: Vec<Arg>, model: &Option<String>) -> Vec<Arg> {
    if let Some(model) = model {
        args.push(Arg::Text("--model".to_owned()));
        args.push(Arg::Text(model.clone()));
    }
    args
}

/// `codex exec` headless: JSON events on stdout; the maintainer's `-c` overrides, then
/// Flotilla's own settings (which the config check keeps the maintainer from naming),
/// each checked against the pinned CLI in the tests:
///
/// - `--dangerously-bypass-approvals-and-sandbox`: Codex's own sandbox for the commands
///   it runs is bubblewrap, which needs a user namespace, and Flotilla's sandbox forbids
///   creating one (`--disable-userns`), so every command would fail with `bwrap:
///   Creating new namespace failed`. The CLI documents this flag for environments that
///   are sandboxed from outside, which Flotilla's is; it also means approvals are never
///   asked for, so nothing can wait on a person.
/// - `--strict-config`: a key this version of Codex does not know stops the run instead
///   of being ignored (a renamed setting must not silently turn a safeguard off).
/// - `analytics.enabled=false` and `--disable plugins`: no metrics to `ab.chatgpt.com`
///   and no plugin sync from `github.com`, `api.github.com` and `chatgpt.com`.
/// - `--ephemeral`: no session files in the agent's (size-limited) home.
/// - `--skip-git-repo-check`: a reviewer's tree need not look like a repository.
fn codex_args(model: &Option<String>, config: &CodexConfig) -> Vec<Arg> {
    let mut args = texts(&["exec", "--json"]);
    for setting in config.overrides() {
        args.push(Arg::Text("-c".to_owned()));
        args.push(Arg::Text(setting));
    }
    args.extend(texts(&[
        "--dangerously-bypass-approvals-and-sandbox",
        "--strict-config",
        "-c",
        "analytics.enabled=false",
        "--disable",
        "plugins",
        "--ephemeral",
        "--skip-git-repo-check",
    ]));
    let mut args = with_model(args, model);
    args.push(Arg::Text("-".to_owned()));
    args
}

/// `codex exec --json` prints one event per line. The turn ends with `turn.completed`
/// or `turn.failed` (`{"error": {"message"}}`); the reply is the text of the last
/// `item.completed` event whose item is an `agent_message`. `error` events before a
/// completed turn are retries Codex recovered from; without a completed turn the last
/// one is why it failed.
fn codex_message(stdout: &str) -> Result<String, ResultError> {
    let envelope_error = |reason: String| ResultError::Envelope {
        cli: "Codex",
        reason,
    };
    let mut message = None;
    let mut last_error = None;
    let mut completed = false;
    for line in stdout.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        match text("/type") {
            Some("item.completed") if text("/item/type") == Some("agent_message") => {
                message = text("/item/text").map(str::to_owned);
            }
            Some("turn.completed") => completed = true,
            Some("turn.failed") => {
                return Err(envelope_error(format!(
                    "Codex reported a failed turn: {}",
                    text("/error/message").unwrap_or("no message")
                )));
            }
            Some("error") => last_error = text("/message").map(str::to_owned),
            _ => {}
        }
    }
    match (completed, message, last_error) {
        (true, Some(message), _) => Ok(message),
        (true, None, _) => Err(envelope_error(
            "the turn completed without an agent message".to_owned(),
        )),
        (false, _, Some(error)) => Err(envelope_error(format!("Codex reported: {error}"))),
        (false, _, None) => Err(envelope_error(
            "no turn.completed event in its JSON output".to_owned(),
        )),
    }
}

/// `claude -p --output-format stream-json --verbose` prints one JSON event per line
/// (`system` init, `assistant` and `user` messages) and ends with `{"type": "result",
/// "subtype": "success" | "error_max_turns" | ..., "is_error", "result": "<final
/// message>", "api_error_status", ...}`. Lines that are not JSON are skipped.
fn claude_result(stdout: &str) -> Result<String, ResultError> {
    let envelope_error = |reason: String| ResultError::Envelope {
        cli: "Claude Code",
        reason,
    };
    let envelope = stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|event| event.get("type").and_then(Value::as_str) == Some("result"))
        .ok_or_else(|| envelope_error("no `result` event in its stream-json output".to_owned()))?;
    let subtype = envelope
        .get("subtype")
        .and_then(Value::as_str)
        .unwrap_or("");
    let is_error = envelope
        .get("is_error")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_error || subtype != "success" {
        let what = if subtype.is_empty() || subtype == "success" {
            "an error"
        } else {
            subtype
        };
        let status = envelope
            .get("api_error_status")
            .and_then(Value::as_u64)
            .map(|status| format!(" (the model API answered HTTP {status})"))
            .unwrap_or_default();
        return Err(envelope_error(format!(
            "Claude Code reported {what}{status}"
        )));
    }
    envelope
        .get("result")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| envelope_error("the result event has no `result` text".to_owned()))
}

/// `opencode run --format json` prints one JSON event per line; the reply is the text of
/// the `{"type": "text", "part": {"text": ...}}` events, and `{"type": "error"}` fails.
fn opencode_text(stdout: &str) -> Result<String, ResultError> {
    let mut parts = Vec::new();
    for line in stdout.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        match event.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = event.pointer("/part/text").and_then(Value::as_str) {
                    parts.push(text.to_owned());
                }
            }
            Some("error") => {
                return Err(ResultError::Envelope {
                    cli: "opencode",
                    reason: format!(
                        "opencode reported an error: {}",
                        event.get("error").unwrap_or(&Value::Null)
                    ),
                });
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return Err(ResultError::Envelope {
            cli: "opencode",
            reason: "no text events in its JSON output".to_owned(),
        });
    }
    Ok(parts.join("\n"))
}
