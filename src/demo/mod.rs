//! `flotilla demo`: the whole product on one machine with nothing but this repository.
//!
//! It starts the GitHub simulator and a Flotilla in this process, creates a repository
//! protected as a careful maintainer would (CI and `flotilla/verify` required) and an
//! issue, labels the issue, prints the run's progress — proposals, verdicts, retries,
//! merges — as it happens and ends with a summary. With `--agent-cli claude` the agents
//! are the real Claude Code CLI against a scripted model server ([`agent_cli`]). It drives Flotilla only from the
//! outside (webhooks from the simulator) and reads its store only to report; it must
//! not reach into the orchestrator.

mod agent_cli;
mod args;
mod fixtures;
mod issue;
mod progress;
mod repo_config;
mod reviewer_flag;
mod stage;
mod summary;
mod verdicts;

pub use agent_cli::AgentCli;
pub use args::DemoArgs;
pub use reviewer_flag::ReviewerFlag;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::agent::HostEnv;
use crate::config::{AgentConfig, CONFIG_PATH};
use crate::types::RepoName;

use agent_cli::ClaudeCode;
use fixtures::Fixtures;
use progress::Progress;
use repo_config::{AgentOverrides, command_agent};
use stage::{Stage, StageConfig};
use summary::Summary;

/// How often the store is read for progress.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// The simulated repository's CI unless `--ci` replaces it: the sample project's tests,
/// and a pass for a `--repo` without `tests/run.sh`.
pub const DEFAULT_CI: &str = "test ! -f tests/run.sh || sh tests/run.sh";

/// Runs the demo; fails on an internal error or when the run has not settled within
/// `--timeout`. A run whose tasks failed is a settled run, not an error.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let fixtures = Fixtures::locate()?;
    let issue_path = args
        .issue_file
        .clone()
        .unwrap_or_else(|| fixtures.demo("issue.md"));
    let issue = issue::read(&issue_path)?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| fixtures.demo("flotilla.yml"));
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read --config {}", config_path.display()))?;
    let claude = match args.agent_cli {
        AgentCli::Script => None,
        AgentCli::Claude => Some(ClaudeCode::start(&fixtures).await?),
    };
    let (default_worker, default_reviewer) = match &claude {
        Some(claude) => (claude.agent(), claude.agent()),
        None => (
            command_agent(&fixtures.agent_command()?),
            command_agent(&fixtures.reviewer_command()?),
        ),
    };
    let config = repo_config::build(
        &config_text,
        &AgentOverrides {
            worker: args.agent.as_deref(),
            default_worker: &default_worker,
            planner: args.planner.as_deref(),
            reviewers: &args.reviewer,
            default_reviewer: &default_reviewer,
        },
    )
    .with_context(|| format!("--config {}", config_path.display()))?;
    let source = source_repository(args.repo.as_ref(), &fixtures)?;

    let scratch = tempfile::Builder::new()
        .prefix("flotilla-demo-")
        .tempdir()
        .context("creating the demo's scratch directory")?;
    let stage = Stage::start(StageConfig {
        scratch: scratch.path().to_owned(),
        source: source.clone(),
        ci: args.ci.clone(),
        private_key: fixtures.private_key(),
        public_key: fixtures.public_key(),
        sandbox: args.sandbox,
        expose: std::iter::once(fixtures.root())
            .chain(args.sandbox_ro.iter().cloned())
            .chain(claude.iter().flat_map(|c| c.expose().to_vec()))
            .map(|path| std::path::absolute(&path).unwrap_or(path))
            .collect(),
        host_env: match &claude {
            Some(claude) => claude.host_env(HostEnv::current()),
            None => HostEnv::current(),
        },
    })
    .await?;
    let base_url = stage.sim.base_url();
    println!("Flotilla demo");
    println!("  GitHub simulator  {base_url}");
    println!("  Flotilla          {}", stage.flotilla.url());
    println!(
        "  repository        {base_url}/{} (from {})",
        stage.repo,
        source.display()
    );
    if let Some(claude) = &claude {
        println!(
            "  model server      {} (scripted: fixtures/demo/claude-model.yml)",
            claude.url()
        );
    }
    println!("  worker            {}", agent_name(&config.config.worker));
    let mut reviewers: Vec<(&str, Vec<&str>)> = Vec::new();
    for lens in &config.config.reviewers {
        let agent = agent_name(&lens.agent);
        match reviewers.iter_mut().find(|(shared, _)| *shared == agent) {
            Some((_, lenses)) => lenses.push(&lens.name),
            None => reviewers.push((agent, vec![&lens.name])),
        }
    }
    for (agent, lenses) in reviewers {
        println!("  reviewer          {agent} ({})", lenses.join(", "));
    }
    println!(
        "  CI                {} (check `{}`)",
        stage.ci, stage.ci_check
    );
    println!(
        "  ruleset           {} requires {}",
        stage.default_branch,
        stage.required_checks.join(", ")
    );

    stage
        .sim
        .push_commit(
            &stage.repo,
            &stage.default_branch,
            &[(CONFIG_PATH, &config.text)],
            "Configure Flotilla",
            &stage.maintainer,
        )
        .await
        .with_context(|| format!("committing {CONFIG_PATH}"))?;
    let number = stage
        .sim
        .open_issue(&stage.repo, &issue.title, &issue.body, &stage.maintainer)
        .await
        .context("opening the issue")?;
    println!(
        "  issue             #{number} {} {base_url}/{}/issues/{number}",
        issue.title, stage.repo
    );
    let label = &config.config.trigger_label;
    stage
        .sim
        .label_issue(&stage.repo, number.0, label, &stage.maintainer)
        .await
        .context("labelling the issue")?;
    println!(
        "{} labelled #{number} `{label}`; following the run (timeout {})",
        stage.maintainer,
        humanize(args.timeout)
    );
    println!();

    let mut progress = Progress::new(
        &stage.store,
        &stage.sim,
        base_url.clone(),
        stage.repo.clone(),
        number,
    );
    let followed = tokio::time::timeout(args.timeout, async {
        while !progress.poll().await? {
            tokio::time::sleep(POLL_EVERY).await;
        }
        anyhow::Ok(())
    })
    .await;
    let summary = Summary::collect(
        &stage.store,
        &stage.sim,
        &stage.repo,
        &stage.default_branch,
        progress.tasks(),
    )
    .await?
    .with_model_server(claude.as_ref().map(ClaudeCode::report));
    summary.print(&base_url, &stage.repo);
    if let Some(path) = &args.summary_json {
        summary.write_json(path)?;
        println!("\nsummary written to {}", path.display());
    }
    if args.keep {
        keep_running(&base_url, &stage.flotilla.url(), &stage.repo).await?;
    }
    let stopped = stage.stop().await;
    if let Some(claude) = claude {
        claude.stop().await;
    }
    match followed {
        Ok(outcome) => outcome?,
        Err(_) => anyhow::bail!(
            "the run did not settle within {} (--timeout)",
            humanize(args.timeout)
        ),
    }
    stopped
}

/// `--keep`: prints where to look and waits for Ctrl-C.
async fn keep_running(sim: &str, flotilla: &str, repo: &RepoName) -> anyhow::Result<()> {
    println!();
    println!("Still running (--keep); Ctrl-C stops both.");
    println!("  GitHub simulator  {sim}/{repo}");
    println!("  Flotilla          {flotilla}/ (log in as alice: write, or bob: read)");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}

/// How an agent is shown: its command, or its adapter's name.
fn agent_name(agent: &AgentConfig) -> &str {
    agent
        .command
        .as_deref()
        .unwrap_or(agent.to_adapter().name())
}

/// `--repo`, checked, or the sample project.
fn source_repository(repo: Option<&PathBuf>, fixtures: &Fixtures) -> anyhow::Result<PathBuf> {
    let Some(repo) = repo else {
        return Ok(fixtures.demo("repo"));
    };
    anyhow::ensure!(
        repo.is_dir(),
        "--repo {} is not a directory",
        repo.display()
    );
    std::path::absolute(repo).with_context(|| format!("--repo {}", repo.display()))
}

/// A duration as `--timeout` is written: `90s`, `10m`.
fn humanize(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}
