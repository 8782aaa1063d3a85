//! Workspaces: per repository one bare mirror and one verification store in the data
//! dir; per task a throwaway repository for the agent and a staging worktree of the
//! mirror from which Flotilla (never the agent) commits the agent's plain files and
//! pushes; per verification a fresh checkout from the verification store.
//!
//! Layout: `<data_dir>/mirrors/<owner>/<repo>.git`, `<data_dir>/verify/<owner>/<repo>.git`,
//! `<data_dir>/worktrees/<task-id>` (the agent's), `<data_dir>/staging/<task-id>`
//! (Flotilla's) and `<data_dir>/verifications/<name>`. The agent's repository is
//! untrusted: nothing of its `.git` is ever read. This module owns those directories
//! and nothing else: it does not talk to the GitHub
//! API, does not start agents, and never writes the installation token to a git config,
//! a file, an argument, an environment variable or a log — per git command, a credential
//! helper prints it from an anonymous memory file that only that command inherits (see
//! [`GitAuth`]), so no other process on the machine finds it in `/proc/*/cmdline` or
//! `/proc/*/environ`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::types::RepoName;

mod auth;
mod git;
mod mirror;
mod reap;
mod throwaway;
mod verify_store;
mod worktree;

pub use auth::GitAuth;
pub use mirror::Mirror;
pub use reap::reap;
pub use verify_store::{Checkout, VerifyStore};
pub use worktree::{BotIdentity, MAX_FILE_BYTES, PushError, ReadBack, Worktree};

/// The trailer key naming the task a commit was made for.
pub const TASK_TRAILER: &str = "Flotilla-Task";

/// `<data_dir>/<place>/<owner>/<repo>.git`: where one of Flotilla's own repositories of
/// `repo` (its mirror, its verification store) lives. Fails when the repository name
/// could escape the data dir.
/// Deletes a repository's mirror and verification store (the App no longer has it);
/// task worktrees go with the reaper once their tasks stop.
pub async fn forget_repository(data_dir: &Path, repo: &RepoName) -> anyhow::Result<()> {
    for place in ["mirrors", "verify"] {
        let dir = repository_dir(data_dir, place, repo)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "deleted: the App no longer has the repository")
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("deleting {}", dir.display()));
            }
        }
    }
    Ok(())
}

fn repository_dir(data_dir: &Path, place: &str, repo: &RepoName) -> anyhow::Result<PathBuf> {
    let (owner, name) = repo
        .split()
        .with_context(|| format!("repository name {repo:?} has no owner"))?;
    Ok(data_dir
        .join(place)
        .join(safe_component(owner)?)
        .join(format!("{}.git", safe_component(name)?)))
}

/// Checks that `name` is usable as one path component (a task id, an owner, a repository
/// name), so outside data can never climb out of the data dir.
fn safe_component(name: &str) -> anyhow::Result<&str> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    anyhow::ensure!(ok, "unsafe path component {name:?}");
    Ok(name)
}
