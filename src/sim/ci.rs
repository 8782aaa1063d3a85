//! Simulated CI: a shell command run on a fresh checkout of each pushed pull-request
//! head, reported as a check run from a separate "CI" App (GitHub Actions' stand-in),
//! queued → in progress → completed with the output's tail as summary.

use std::path::Path;
use std::process::Stdio;

use chrono::Utc;

use crate::types::{Login, RepoName};

use super::check_events::{after_completion, announce_run, create_run};
use super::{CI_APP_ID, CiConfig, Sim, git};

/// How much of the output's end goes into the summary.
const TAIL_CHARS: usize = 4000;

/// Starts CI for `sha` unless it is not configured or already ran for that commit.
pub fn trigger(sim: &Sim, repo: &RepoName, sha: &str, branch: &str) {
    let Some(config) = sim.0.ci.clone() else {
        return;
    };
    let bot = Login::from("github-actions[bot]");
    let run_id = {
        let mut world = sim.world();
        let seen = world.repo(repo).is_some_and(|r| {
            r.check_runs.iter().any(|c| {
                c.app_id == CI_APP_ID
                    && c.head_sha.0 == sha
                    && c.name == config.check_name
                    && c.status != "completed"
            })
        });
        if seen {
            return;
        }
        let Some(id) = create_run(&mut world, repo, CI_APP_ID, &config.check_name, sha) else {
            return;
        };
        announce_run(&world, sim.outbox(), repo, id, "created", &bot);
        id
    };
    let sim = sim.clone();
    let repo = repo.clone();
    let sha = sha.to_owned();
    let branch = branch.to_owned();
    tokio::spawn(async move {
        set_in_progress(&sim, &repo, run_id);
        let (success, tail) = match execute(&sim, &repo, &sha, &config).await {
            Ok(result) => result,
            Err(err) => (false, format!("CI could not run: {err:#}")),
        };
        finish(&sim, &repo, run_id, success, &tail, &branch, &bot);
    });
}

/// Re-runs CI for an existing CI check run (`check_run.rerequested`).
pub fn rerun(sim: &Sim, repo: &RepoName, run_id: u64) {
    let target = {
        let world = sim.world();
        world
            .repo(repo)
            .and_then(|r| {
                r.check_runs
                    .iter()
                    .find(|c| c.id == run_id && c.app_id == CI_APP_ID)
            })
            .map(|c| c.head_sha.0.clone())
    };
    if let Some(sha) = target {
        trigger(sim, repo, &sha, "");
    }
}

fn set_in_progress(sim: &Sim, repo: &RepoName, run_id: u64) {
    let mut world = sim.world();
    if let Some(run) = world
        .repos
        .get_mut(repo)
        .and_then(|r| r.check_runs.iter_mut().find(|c| c.id == run_id))
    {
        run.status = "in_progress".to_owned();
    }
}

fn finish(
    sim: &Sim,
    repo: &RepoName,
    run_id: u64,
    success: bool,
    tail: &str,
    branch: &str,
    bot: &Login,
) {
    {
        let mut world = sim.world();
        let now = world.now();
        if let Some(run) = world
            .repos
            .get_mut(repo)
            .and_then(|r| r.check_runs.iter_mut().find(|c| c.id == run_id))
        {
            run.status = "completed".to_owned();
            run.conclusion = Some(if success { "success" } else { "failure" }.to_owned());
            run.completed_at = Some(now);
            run.title = Some(if success { "CI passed" } else { "CI failed" }.to_owned());
            run.summary = Some(format!("```\n{tail}\n```"));
        }
        announce_run(&world, sim.outbox(), repo, run_id, "completed", bot);
        after_completion(&mut world, sim.outbox(), repo, run_id, bot);
    }
    tracing::debug!(%repo, branch, success, "simulated CI finished");
    sim.kick_auto_merge();
}

/// Checks `sha` out into a temporary directory and runs the command there.
async fn execute(
    sim: &Sim,
    repo: &RepoName,
    sha: &str,
    config: &CiConfig,
) -> anyhow::Result<(bool, String)> {
    let dir = tempfile_dir(&sim.0.work_dir)?;
    let checkout = dir.path().join("checkout");
    let bare = sim.repo_path(repo);
    let bare = bare.to_str().unwrap_or_default().to_owned();
    let target = checkout.to_str().unwrap_or_default().to_owned();
    git::run(
        dir.path(),
        &["clone", "--quiet", "--no-checkout", &bare, &target],
        &[],
    )
    .await?;
    git::run(&checkout, &["checkout", "--quiet", "--detach", sha], &[]).await?;
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&config.command)
        .current_dir(&checkout)
        .env("CI", "true")
        .env("GITHUB_SHA", sha)
        .env("GITHUB_REPOSITORY", &repo.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let started = Utc::now();
    match tokio::time::timeout(config.timeout, child.wait_with_output()).await {
        Ok(output) => {
            let output = output?;
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            Ok((output.status.success(), tail(&text)))
        }
        Err(_) => Ok((
            false,
            format!(
                "timed out after {}s (started {started})",
                config.timeout.as_secs()
            ),
        )),
    }
}

/// A temporary directory under the simulator's work dir.
fn tempfile_dir(root: &Path) -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("ci-").tempdir_in(root)?)
}

/// The last `TAIL_CHARS` characters.
fn tail(text: &str) -> String {
    let count = text.chars().count();
    text.chars()
        .skip(count.saturating_sub(TAIL_CHARS))
        .collect()
}
