//! The flags of `flotilla demo`: the demo owns them, and the command line only embeds
//! them, so the demo does not depend on the CLI.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{AgentCli, DEFAULT_CI, ReviewerFlag};
use crate::sandbox::Engine;

/// Settings of `flotilla demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A local git repository (or folder) to seed the simulated repository from
    /// [default: the sample project in fixtures/demo/repo].
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// The issue to open: its first line `# Title` is the title, the rest the body
    /// [default: fixtures/demo/issue.md].
    #[arg(long)]
    pub issue_file: Option<PathBuf>,

    /// The agents the demo runs where no flag names one: `script`, the scripted agent
    /// and reviewer of fixtures/demo, or `claude`, the real Claude Code CLI (from PATH or
    /// `bash tests/agent-clis/install.sh`) as worker and every lens, against a scripted
    /// model server in this process (fixtures/demo/claude-model.yml); no API key needed.
    #[arg(long, value_enum, default_value_t = AgentCli::Script)]
    pub agent_cli: AgentCli,

    /// The worker agent, a shell command run with `sh -c` in each task's worktree
    /// [default: the scripted agent fixtures/demo/agent.sh].
    #[arg(long)]
    pub agent: Option<String>,

    /// The planner agent, a shell command run with `sh -c` [default: none].
    #[arg(long)]
    pub planner: Option<String>,

    /// A reviewer agent, a shell command run with `sh -c` in a read-only checkout of
    /// each head: `'<command>'` for every lens, or `lens=command` for one lens (added
    /// when the configuration has no such lens; repeatable) [default: the scripted
    /// reviewer fixtures/demo/reviewer.sh for correctness, security and runs].
    #[arg(long, value_name = "[LENS=]COMMAND")]
    pub reviewer: Vec<ReviewerFlag>,

    /// The simulated repository's CI, a shell command run on every pushed PR head; its
    /// check `ci` is required by the branch protection.
    #[arg(long, default_value = DEFAULT_CI)]
    pub ci: String,

    /// The `.github/flotilla.yml` to put in the repository; `--agent`, `--planner` and
    /// `--reviewer` replace its worker, planner and lenses [default:
    /// fixtures/demo/flotilla.yml].
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// Write the outcome as JSON: `{"tasks": [{"id", "title", "state", "attempts",
    /// "branch", "pr", "merged", "verdicts", "spend"}], "default_branch": {"name", "head",
    /// "files"}, "spend"}`, plus `"model_server": {"requests", "tokens"}` with
    /// `--agent-cli claude`.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,

    /// After the summary, keep the simulator and Flotilla (its dashboard) running until
    /// Ctrl-C, to look around: log in as `alice` (write) or `bob` (read).
    #[arg(long)]
    pub keep: bool,

    /// Give up (and exit non-zero) when the run has not settled after this long,
    /// such as 90s or 10m.
    #[arg(long, default_value = "10m", value_parser = crate::config::time_limit::parse)]
    pub timeout: Duration,

    /// How agents are confined, as for `flotilla serve` (`bwrap` or `none`).
    #[arg(long, env = "FLOTILLA_SANDBOX", value_enum, default_value = "bwrap")]
    pub sandbox: Engine,

    /// A host path the agents see read-only besides the system and `fixtures/`, such
    /// as the scripts a `--agent` command runs (repeatable).
    #[arg(long = "sandbox-ro", value_delimiter = ':')]
    pub sandbox_ro: Vec<PathBuf>,
}
