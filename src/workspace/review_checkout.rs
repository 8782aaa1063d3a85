//! What verification needs from git: the diff of a head against its base, a detached
//! checkout of the exact head commit, and making that checkout read-only for reviewers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

use super::git;
use super::mirror::Mirror;
use super::worktree::Worktree;
use crate::types::CommitSha;

impl Mirror {
    /// The commit `head` forked from `base_branch` at: what a pull request's diff is
    /// taken against.
    pub async fn merge_base(
        &self,
        base_branch: &str,
        head: &CommitSha,
    ) -> anyhow::Result<CommitSha> {
        let base = format!("refs/heads/{base_branch}");
        let sha = git::run(self.path(), None, &["merge-base", &base, &head.0])
            .await
            .with_context(|| format!("finding where {head} forked from {base_branch}"))?;
        Ok(CommitSha(sha))
    }

    /// The unified diff from `base` to `head` (renames detected, three context lines),
    /// as `git diff` prints it.
    pub async fn diff(&self, base: &CommitSha, head: &CommitSha) -> anyhow::Result<String> {
        git::run(
            self.path(),
            None,
            &[
                "diff",
                "--no-color",
                "--no-ext-diff",
                "-M",
                "--unified=3",
                "--src-prefix=a/",
                "--dst-prefix=b/",
                &base.0,
                &head.0,
            ],
        )
        .await
        .map(|mut text| {
            text.push('\n');
            text
        })
    }

    /// `git diff --stat` from `base` to `head`, for reviewer prompts.
    pub async fn diff_stat(&self, base: &CommitSha, head: &CommitSha) -> anyhow::Result<String> {
        git::run(
            self.path(),
            None,
            &["diff", "--no-color", "--stat", "-M", &base.0, &head.0],
        )
        .await
    }

    /// Checks out `commit` detached (no branch) in `<data_dir>/worktrees/<name>`,
    /// replacing a leftover checkout of that name.
    pub async fn add_detached_worktree(
        &self,
        name: &str,
        commit: &CommitSha,
    ) -> anyhow::Result<Worktree> {
        self.remove_stale_worktree(name).await?;
        let dir = self.worktree_dir(name)?;
        let parent = dir.parent().context("worktree path has no parent")?;
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
        anyhow::ensure!(
            !commit.0.starts_with('-'),
            "commit {commit} looks like an option"
        );
        let dir_arg = dir.to_string_lossy().into_owned();
        git::run(
            self.path(),
            None,
            &[
                "worktree", "add", "--quiet", "--detach", &dir_arg, &commit.0,
            ],
        )
        .await
        .with_context(|| format!("checking out {commit} for verification"))?;
        Worktree::open(self.path().to_owned(), dir, name.to_owned(), String::new()).await
    }
}

impl Worktree {
    /// Puts the checkout back to its commit: discards changes and untracked files (a
    /// build's output), so what a reviewer sees is exactly the head.
    pub async fn reset_clean(&self) -> anyhow::Result<()> {
        self.git(None, &["reset", "--quiet", "--hard"]).await?;
        self.git(None, &["clean", "-ffdxq"]).await?;
        Ok(())
    }

    /// Makes every tracked file read-only (`writable = false`) or writable again. The
    /// directories stay writable so the checkout can still be removed; what a reviewer
    /// changed anyway shows in [`Worktree::changed_files`].
    pub async fn set_read_only(&self, read_only: bool) -> anyhow::Result<()> {
        let dir = self.dir().to_owned();
        tokio::task::spawn_blocking(move || set_files_mode(&dir, read_only))
            .await
            .context("setting checkout permissions")?
    }

    /// Paths that differ from the checked-out commit (modified or untracked).
    pub async fn changed_files(&self) -> anyhow::Result<Vec<String>> {
        let status = self
            .git(None, &["status", "--porcelain", "--untracked-files=all"])
            .await?;
        Ok(status
            .lines()
            .filter_map(|line| line.get(3..))
            .map(str::to_owned)
            .collect())
    }
}

/// Walks `dir` (not following symlinks, skipping `.git`) and sets each regular file's
/// write bits.
fn set_files_mode(dir: &Path, read_only: bool) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if entry.file_name() == ".git" || kind.is_symlink() {
            continue;
        }
        let path = entry.path();
        if kind.is_dir() {
            set_files_mode(&path, read_only)?;
        } else if kind.is_file() {
            let mut permissions = entry.metadata()?.permissions();
            let mode = permissions.mode();
            permissions.set_mode(if read_only {
                mode & !0o222
            } else {
                mode | 0o200
            });
            std::fs::set_permissions(&path, permissions)
                .with_context(|| format!("setting permissions of {}", path.display()))?;
        }
    }
    Ok(())
}
