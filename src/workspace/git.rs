//! Running the `git` CLI asynchronously, with the hardening every invocation shares.
//!
//! Threat: git run by Flotilla in a repository whose config and hooks directory the
//! agent shares. Nothing here passes the token in an argument or the environment: an
//! authenticated command gets it from a credential helper reading a memory file the
//! command alone inherits (see [`GitAuth`]), closed in Flotilla as soon as git is
//! spawned. Arguments are still never logged nor put in an error (they may name
//! private URLs); errors name the git subcommand and carry git's stderr only.

use std::path::Path;
use std::process::{Output, Stdio};

use anyhow::Context;
use tokio::process::Command;

use super::GitAuth;

/// Environment variables that would let Flotilla's own environment steer git (another
/// repository, another identity, another config) away from what the caller asked for.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_CURL_VERBOSE",
];

/// Runs `git <args>` in `dir` and returns its output, whatever the exit status. With
/// `auth`, `(credentials, url)`, git may authenticate to `url`'s origin (the URL itself
/// is one of `args`).
///
/// Hooks are disabled (`core.hooksPath=/dev/null`) and so is `core.fsmonitor`: the
/// repository config and hooks directory are shared with the agent's worktree, and
/// either would run the agent's code as a child of git, inheriting the credential's
/// descriptor.
pub(crate) async fn output(
    dir: &Path,
    auth: Option<(&GitAuth, &str)>,
    args: &[&str],
) -> anyhow::Result<Output> {
    let mut command = Command::new("git");
    command.current_dir(dir).args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
    ]);
    let subcommand = args.first().copied().unwrap_or("");
    let credential = match auth {
        Some((auth, url)) => auth
            .configure(&mut command, url)
            .with_context(|| format!("preparing credentials for git {subcommand}"))?,
        None => None,
    };
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn();
    // Once spawned, git has its own copy of the credential's descriptor (or none, if it
    // failed to start): Flotilla's copy closes here, while git runs.
    drop(credential);
    child
        .with_context(|| format!("starting git {subcommand} in {}", dir.display()))?
        .wait_with_output()
        .await
        .with_context(|| format!("running git {subcommand} in {}", dir.display()))
}

/// Runs `git <args>` in `dir`, failing with git's stderr unless it exits 0; returns
/// stdout, trimmed.
pub(crate) async fn run(
    dir: &Path,
    auth: Option<(&GitAuth, &str)>,
    args: &[&str],
) -> anyhow::Result<String> {
    let out = output(dir, auth, args).await?;
    anyhow::ensure!(
        out.status.success(),
        "git {} in {} failed ({}): {}",
        args.first().copied().unwrap_or(""),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
