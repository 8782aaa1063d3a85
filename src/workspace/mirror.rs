//! The bare mirror of one repository, kept in the data dir and fetched before each task
//! so tasks start from GitHub's current state without a full clone per task. Only
//! Flotilla's git ever touches it: agents get throwaway repositories of their own,
//! filled from it by a shallow local fetch.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::types::{CommitSha, RepoName};

use super::worktree::{BotIdentity, Worktree};
use super::{GitAuth, git, reap, repository_dir, safe_component, throwaway};

/// One repository's bare mirror at `<data_dir>/mirrors/<owner>/<repo>.git`. Exists so
/// every task of a repository shares one object store and one fetch.
#[derive(Clone, Debug)]
pub struct Mirror {
    data_dir: PathBuf,
    path: PathBuf,
}

impl Mirror {
    /// Names the mirror of `repo` under `data_dir`; creates nothing. Fails when the
    /// repository name could escape the data dir.
    pub fn open(data_dir: &Path, repo: &RepoName) -> anyhow::Result<Self> {
        Ok(Self {
            data_dir: data_dir.to_owned(),
            path: repository_dir(data_dir, "mirrors", repo)?,
        })
    }

    /// The mirror's git directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings the mirror up to date with `url`: a bare clone the first time, else a
    /// fetch of every branch (`+refs/heads/*:refs/heads/*`, pruning deleted ones).
    /// The URL is given on every fetch, so the token never needs a stored remote.
    /// Branches checked out in a worktree are left alone. Callers serialize `ensure`
    /// and [`Mirror::add_worktree`] per repository (one git process per mirror).
    pub async fn ensure(&self, url: &str, auth: &GitAuth) -> anyhow::Result<()> {
        if self.path.join("HEAD").is_file() {
            // A branch checked out in a worktree is the task's, not GitHub's: without
            // these negative refspecs `--prune` deletes a task branch not yet pushed
            // (and a forced update would move it under the agent).
            let excluded: Vec<String> = self
                .checked_out_branches()
                .await?
                .into_iter()
                .map(|b| format!("^{b}"))
                .collect();
            let mut args = vec![
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                url,
                "+refs/heads/*:refs/heads/*",
            ];
            args.extend(excluded.iter().map(String::as_str));
            git::run(&self.path, Some((auth, url)), &args)
                .await
                .with_context(|| format!("fetching into {}", self.path.display()))?;
            return Ok(());
        }
        let parent = self.path.parent().context("mirror path has no parent")?;
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
        // Clone beside the final path and rename, so a crash mid-clone leaves no
        // half-made mirror that a later `ensure` would mistake for a good one.
        let staging = parent.join(format!(".clone-{}", uuid::Uuid::new_v4()));
        let staging_arg = staging.to_string_lossy().into_owned();
        let cloned = git::run(
            parent,
            Some((auth, url)),
            &["clone", "--quiet", "--bare", "--", url, &staging_arg],
        )
        .await;
        if let Err(err) = cloned {
            // Best effort: the clone error is the one worth reporting.
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(err.context(format!("cloning into {}", self.path.display())));
        }
        tokio::fs::rename(&staging, &self.path)
            .await
            .with_context(|| format!("moving the clone to {}", self.path.display()))
    }

    /// The commit a branch of the mirror points at (after [`Mirror::ensure`], GitHub's).
    pub async fn branch_head(&self, branch: &str) -> anyhow::Result<CommitSha> {
        let full = format!("refs/heads/{branch}^{{commit}}");
        let sha = git::run(
            &self.path,
            None,
            &["rev-parse", "--verify", "--quiet", &full],
        )
        .await
        .with_context(|| format!("branch {branch} is not in the mirror"))?;
        Ok(CommitSha(sha))
    }

    /// Whether the mirror exists and holds `commit`, so a task whose base was fetched
    /// when its run was planned need not fetch again.
    pub async fn has_commit(&self, commit: &CommitSha) -> bool {
        let object = format!("{}^{{commit}}", commit.0);
        self.path.join("HEAD").is_file()
            && git::output(&self.path, None, &["cat-file", "-e", &object])
                .await
                .is_ok_and(|out| out.status.success())
    }

    /// Where a task's agent tree lives; the caller removes a leftover one (from a
    /// process that died) before adding it again.
    pub fn worktree_dir(&self, task_id: &str) -> anyhow::Result<PathBuf> {
        Ok(self
            .data_dir
            .join("worktrees")
            .join(safe_component(task_id)?))
    }

    /// Where a task's staging worktree (Flotilla's index and branch, no files) lives.
    fn staging_dir(&self, task_id: &str) -> anyhow::Result<PathBuf> {
        Ok(self.data_dir.join("staging").join(safe_component(task_id)?))
    }

    /// Removes the tree and staging worktree left at `task_id`'s place by an attempt
    /// that never finished (its process died). Only the holder of the task's job lease
    /// calls this.
    pub async fn remove_stale_worktree(&self, task_id: &str) -> anyhow::Result<()> {
        reap::remove_dead(&self.staging_dir(task_id)?).await?;
        reap::remove_tree(&self.worktree_dir(task_id)?).await?;
        git::run(&self.path, None, &["worktree", "prune"]).await?;
        Ok(())
    }

    /// The full refs (`refs/heads/…`) checked out in this mirror's worktrees.
    async fn checked_out_branches(&self) -> anyhow::Result<Vec<String>> {
        let list = git::run(&self.path, None, &["worktree", "list", "--porcelain"]).await?;
        Ok(list
            .lines()
            .filter_map(|line| line.strip_prefix("branch "))
            .map(str::to_owned)
            .collect())
    }

    /// Prepares task `task_id`'s place to work (see [`Worktree`]): branch `branch`
    /// created or reset (`-B`) at `base` (a commit id or a ref of the mirror) in a
    /// staging worktree, `merges` (sibling tasks' work this task builds on) merged into
    /// it as `identity` without a checkout, and then the agent's own throwaway
    /// repository at `<data_dir>/worktrees/<task_id>`, holding that commit and nothing
    /// else of the mirror. A merge that conflicts is an error naming the commit.
    pub async fn add_worktree(
        &self,
        task_id: &str,
        branch: &str,
        base: &str,
        merges: &[CommitSha],
        identity: &BotIdentity,
    ) -> anyhow::Result<Worktree> {
        let staging = self.staging_dir(task_id)?;
        let dir = self.worktree_dir(task_id)?;
        let parent = staging.parent().context("worktree path has no parent")?;
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
        anyhow::ensure!(
            !branch.starts_with('-') && !base.starts_with('-'),
            "branch {branch:?} or base {base:?} looks like an option"
        );
        let staging_arg = staging.to_string_lossy().into_owned();
        git::run(
            &self.path,
            None,
            &[
                "worktree",
                "add",
                "--quiet",
                "--no-checkout",
                "-B",
                branch,
                &staging_arg,
                base,
            ],
        )
        .await
        .with_context(|| format!("adding the staging worktree of task {task_id}"))?;
        tokio::fs::create_dir_all(&dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        let worktree = Worktree::open(
            self.path.clone(),
            dir,
            staging,
            task_id.to_owned(),
            branch.to_owned(),
        )
        .await?;
        for other in merges {
            worktree.merge_without_checkout(other, identity).await?;
        }
        worktree.git(None, &["read-tree", "HEAD"]).await?;
        let start = worktree.git(None, &["rev-parse", "HEAD"]).await?;
        throwaway::fill(
            worktree.dir(),
            &self.path,
            &[&start],
            throwaway::Head::Branch(branch),
        )
        .await
        .with_context(|| format!("handing task {task_id} its own repository"))?;
        Ok(worktree)
    }
}
