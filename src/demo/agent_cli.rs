//! `flotilla demo --agent-cli`: which agents the demo runs. `script` is the scripted
//! shell agent and reviewer of `fixtures/demo`; `claude` is the real Claude Code CLI as
//! worker and every reviewer lens, talking to the scripted model server
//! (`crate::sim::model`) started here, in this process, playing
//! `fixtures/demo/claude-model.yml`.
//!
//! Claude Code is pointed at the server the way its users point it at a model API:
//! `ANTHROPIC_BASE_URL` and a dummy `ANTHROPIC_API_KEY` in Flotilla's environment,
//! named in each agent's `pass_env`, and the server's address in its `network.allow`;
//! it runs in the normal sandbox. This module finds the CLI, starts the server and
//! writes those settings; it must not reach into the orchestrator.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::agent::{HostEnv, Tokens};
use crate::sim::model::{Action, ModelServer, ModelServerHandle, Script};

use super::fixtures::Fixtures;
use super::repo_config::AgentEntry;

/// Where `tests/agent-clis/install.sh` installs the pinned CLIs unless
/// `FLOTILLA_AGENT_CLIS` says otherwise.
const PINNED_CLIS: &str = "/var/tmp/flotilla-agent-clis";

/// The dummy key Claude Code sends; the scripted server accepts any.
const DUMMY_API_KEY: &str = "sk-ant-flotilla-demo-dummy";

/// The placeholder in the model script's commands for the scripted reviewer's command
/// line (`sh '<absolute path of fixtures/demo/reviewer.sh>'`), known only at run time.
const REVIEWER_PLACEHOLDER: &str = "{{reviewer}}";

/// The environment names every Claude agent of the demo is given.
const PASS_ENV: [&str; 2] = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"];

/// Which agents the demo runs (`--agent-cli`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentCli {
    /// The scripted shell agent and reviewer (`fixtures/demo/agent.sh`, `reviewer.sh`).
    #[default]
    Script,
    /// Claude Code (`claude`, from `PATH` or the pinned install) as worker and every
    /// lens, against the scripted model server playing `fixtures/demo/claude-model.yml`.
    Claude,
}

/// Claude Code and its model server, ready for the demo's configuration.
pub(super) struct ClaudeCode {
    /// The model server; it stops when this drops.
    server: ModelServerHandle,
    /// The directory `claude` was found in, put first on Flotilla's `PATH`.
    bin_dir: PathBuf,
    /// What the sandbox must show read-only for `claude` to run.
    expose: Vec<PathBuf>,
}

/// What the model server answered over the demo, for the summary.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct ServerReport {
    /// Requests it answered (side requests and faults included).
    pub(super) requests: usize,
    /// The tokens it reported, summed over every answer.
    pub(super) tokens: Tokens,
}

impl ClaudeCode {
    /// Finds `claude` and starts the model server with the demo's script.
    pub(super) async fn start(fixtures: &Fixtures) -> anyhow::Result<Self> {
        let claude = locate_claude()?;
        let bin_dir = claude
            .parent()
            .map(Path::to_path_buf)
            .context("the claude binary has no directory")?;
        let mut expose = vec![bin_dir.clone()];
        if let Some(install) = install_of(&claude)
            && !expose.contains(&install)
        {
            expose.push(install);
        }
        let script = script(fixtures)?;
        let server = ModelServer::start(script)
            .await
            .context("starting the scripted model server")?;
        Ok(Self {
            server,
            bin_dir,
            expose,
        })
    }

    /// The model server's base URL, for the demo's header.
    pub(super) fn url(&self) -> String {
        self.server.url()
    }

    /// An agent entry running Claude Code against the server: `adapter: claude-code`, the
    /// server's URL and key passed through, its address allowed.
    pub(super) fn agent(&self) -> AgentEntry {
        let entry = json!({
            "adapter": "claude-code",
            "pass_env": PASS_ENV,
            "network": {"allow": [self.server.addr().to_string()]},
        });
        match entry {
            Value::Object(map) => map,
            _ => AgentEntry::new(),
        }
    }

    /// Flotilla's environment with `claude` first on `PATH` and the server's URL and a
    /// dummy key set, as an operator sets them.
    pub(super) fn host_env(&self, env: HostEnv) -> HostEnv {
        let path = std::env::var("PATH").unwrap_or_default();
        env.with("PATH", format!("{}:{path}", self.bin_dir.display()))
            .with(PASS_ENV[0], self.server.url())
            .with(PASS_ENV[1], DUMMY_API_KEY)
    }

    /// The paths the sandbox must show read-only.
    pub(super) fn expose(&self) -> &[PathBuf] {
        &self.expose
    }

    /// What the server answered and reported so far.
    pub(super) fn report(&self) -> ServerReport {
        let usage = self.server.reported_usage();
        ServerReport {
            requests: self.server.requests().len(),
            tokens: Tokens {
                input: usage.input,
                output: usage.output,
                cache_read: usage.cache_read,
                cache_write: usage.cache_write,
            },
        }
    }

    /// Stops the server.
    pub(super) async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// `fixtures/demo/claude-model.yml`, with the scripted reviewer's command line written
/// into the commands that name it.
fn script(fixtures: &Fixtures) -> anyhow::Result<Script> {
    let mut script = Script::from_file(&fixtures.demo("claude-model.yml"))?;
    let reviewer = fixtures.reviewer_command()?;
    for turn in script
        .conversations
        .iter_mut()
        .flat_map(|conversation| conversation.turns.iter_mut())
    {
        if let Action::Run(command) = &mut turn.action {
            *command = command.replace(REVIEWER_PLACEHOLDER, &reviewer);
        }
    }
    Ok(script)
}

/// `claude` on `PATH`, else in the pinned install; one line saying how to install it
/// when neither has it.
fn locate_claude() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let pinned = std::env::var_os("FLOTILLA_AGENT_CLIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(PINNED_CLIS))
        .join("node_modules")
        .join(".bin");
    on_path
        .iter()
        .chain(std::iter::once(&pinned))
        .map(|dir| dir.join("claude"))
        .find(|candidate| is_executable(candidate))
        .map(|found| std::path::absolute(&found).unwrap_or(found))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--agent-cli claude: Claude Code (`claude`) is neither on PATH nor in {}; \
                 install the pinned version with `bash tests/agent-clis/install.sh`",
                pinned.display()
            )
        })
}

/// What `claude` needs besides its link: the `node_modules` it was installed into by
/// npm (its package and the native binary its postinstall linked), else the directory
/// of the file the link points at (a native install's versioned binary).
fn install_of(claude: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(claude).ok()?;
    real.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "node_modules"))
        .or_else(|| real.parent())
        .map(Path::to_path_buf)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
