//! The start-up reaper: agents' trees, staging worktrees and verification checkouts
//! whose task is no longer live are removed, with their registration in the mirror, so
//! a crash never leaks checkouts. A live task's places are never touched.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::git;

/// Removes every `<data_dir>/{worktrees,staging,verifications}/<name>` for which
/// `is_live(name)` is false, and returns the removed names (sorted, one per place).
/// Run at start-up, before any task is resumed, with `is_live` asking the store who
/// owns each task.
pub async fn reap(data_dir: &Path, is_live: impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for place in ["worktrees", "staging", "verifications"] {
        removed.extend(reap_place(&data_dir.join(place), &is_live).await?);
    }
    prune_mirrors(&data_dir.join("mirrors")).await?;
    removed.sort();
    removed.dedup();
    Ok(removed)
}

/// Removes the dead entries of one place.
async fn reap_place(root: &Path, is_live: &impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut entries = match tokio::fs::read_dir(&root).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(err) => return Err(err).with_context(|| format!("listing {}", root.display())),
    };
    while let Some(entry) = entries.next_entry().await? {
        let Ok(task_id) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.file_type().await?.is_dir() || is_live(&task_id) {
            continue;
        }
        remove_dead(&entry.path())
            .await
            .with_context(|| format!("reaping the worktree of task {task_id}"))?;
        removed.push(task_id);
    }
    Ok(removed)
}

/// Removes one dead worktree: through its mirror when the link is intact, else by
/// deleting the directory (the mirror's registration is then pruned by the caller).
pub(super) async fn remove_dead(dir: &Path) -> anyhow::Result<()> {
    if let Some(mirror) = owning_mirror(dir).await {
        let dir_arg = dir.to_string_lossy().into_owned();
        let removed = git::run(&mirror, None, &["worktree", "remove", "--force", &dir_arg]).await;
        if removed.is_ok() {
            return Ok(());
        }
    }
    remove_tree(dir).await
}

/// Deletes `dir` and everything under it, first giving its owner back the right to
/// do so in every directory (an agent may have made some read-only). Symbolic links
/// are removed, never followed.
pub(super) async fn remove_tree(dir: &Path) -> anyhow::Result<()> {
    let owned = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let _ = make_removable(&owned);
        match std::fs::remove_dir_all(&owned) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("deleting {}", owned.display()))
            }
            _ => Ok(()),
        }
    })
    .await
    .context("deleting a tree")?
}

/// Adds the owner's read, write and search bits to every directory under `dir`.
fn make_removable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let _ = make_removable(&entry.path());
        }
    }
    Ok(())
}

/// The mirror a worktree belongs to, from its `.git` file
/// (`gitdir: <mirror>/worktrees/<name>`); `None` when the link is missing or odd.
async fn owning_mirror(dir: &Path) -> Option<PathBuf> {
    let link = tokio::fs::read_to_string(dir.join(".git")).await.ok()?;
    let gitdir = PathBuf::from(link.trim().strip_prefix("gitdir:")?.trim());
    let mirror = gitdir.parent()?.parent()?;
    mirror.join("HEAD").is_file().then(|| mirror.to_owned())
}

/// Drops registrations of worktrees whose directories are gone, in every mirror
/// (`<mirrors>/<owner>/<repo>.git`).
async fn prune_mirrors(mirrors: &Path) -> anyhow::Result<()> {
    let Ok(mut owners) = tokio::fs::read_dir(mirrors).await else {
        return Ok(());
    };
    while let Some(owner) = owners.next_entry().await? {
        let Ok(mut repos) = tokio::fs::read_dir(owner.path()).await else {
            continue;
        };
        while let Some(repo) = repos.next_entry().await? {
            let path = repo.path();
            if path.extension().is_some_and(|e| e == "git") && path.join("HEAD").is_file() {
                git::run(&path, None, &["worktree", "prune"]).await?;
            }
        }
    }
    Ok(())
}
