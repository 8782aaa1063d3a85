//! One task's checkout: where the agent works, and from which Flotilla stages, commits
//! under the bot identity and pushes with a lease.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::sandbox::View;
use crate::types::CommitSha;

use super::{GitAuth, TASK_TRAILER, git};

/// The identity Flotilla commits as. Given per command (`-c user.name=…`), never
/// written to a config the agent shares.
#[derive(Clone, Debug)]
pub struct BotIdentity {
    /// Author and committer name, e.g. `flotilla[bot]`.
    pub name: String,
    /// Author and committer e-mail, e.g. `<id>+flotilla[bot]@users.noreply.github.com`.
    pub email: String,
}

impl BotIdentity {
    /// The App's bot as GitHub shows it: `<slug>[bot]` with a no-reply address.
    pub fn for_app(app_id: crate::types::AppId, slug: &str) -> Self {
        Self {
            name: format!("{slug}[bot]"),
            email: format!("{app_id}+{slug}[bot]@users.noreply.github.com"),
        }
    }
}

/// Why a push did not land; the caller retries differently for each.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote branch is not where the lease said (someone else pushed, or the
    /// branch was expected not to exist): refetch and decide, never overwrite.
    #[error("the remote branch moved: the force-with-lease was refused")]
    StaleLease,
    /// The remote declined the push by a rule of its own (e.g. GitHub refusing an App
    /// without `workflows` permission a change under `.github/workflows/`): retrying
    /// cannot help. Carries the remote's message.
    #[error("the remote refused the push: {0}")]
    Refused(String),
    /// Anything else: network, authentication, a rule on GitHub's side.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A task's worktree at `<data_dir>/worktrees/<task_id>` on its own branch.
#[derive(Clone, Debug)]
pub struct Worktree {
    mirror: PathBuf,
    dir: PathBuf,
    git_dir: PathBuf,
    task_id: String,
    branch: String,
}

impl Worktree {
    /// The worktree git just added at `dir`: its own git dir is read now, while only
    /// Flotilla has touched it, and every later git command names it explicitly, so
    /// an agent that rewrites the tree's `.git` file cannot point Flotilla's git at a
    /// repository (a config, hooks, filters) of its own making.
    pub(crate) async fn open(
        mirror: PathBuf,
        dir: PathBuf,
        task_id: String,
        branch: String,
    ) -> anyhow::Result<Self> {
        let git_dir =
            PathBuf::from(git::run(&dir, None, &["rev-parse", "--absolute-git-dir"]).await?);
        anyhow::ensure!(
            git_dir.starts_with(mirror.join("worktrees")),
            "the worktree at {} uses git dir {}, not one of its mirror's",
            dir.display(),
            git_dir.display()
        );
        Ok(Self {
            mirror,
            dir,
            git_dir,
            task_id,
            branch,
        })
    }

    /// What an agent in this checkout needs of git besides the tree, as sandbox views:
    /// the mirror read-only (objects, refs, config) with every worktree's own data
    /// hidden but this one's, read-only too. The agent can read history and diff;
    /// only Flotilla stages, commits and pushes.
    pub fn git_views(&self) -> Vec<View> {
        vec![
            View::ReadOnly(self.mirror.clone()),
            View::Hidden(self.mirror.join("worktrees")),
            View::ReadOnly(self.git_dir.clone()),
        ]
    }

    /// `git --git-dir=<own> --work-tree=<tree> <args>`: never the tree's `.git` file.
    pub(crate) fn scoped<'a>(&'a self, args: &[&'a str]) -> Vec<String> {
        let mut full = vec![
            format!("--git-dir={}", self.git_dir.display()),
            format!("--work-tree={}", self.dir.display()),
        ];
        full.extend(args.iter().map(|arg| (*arg).to_owned()));
        full
    }

    /// Runs git on this checkout (see [`Worktree::scoped`]); stdout, trimmed.
    pub(crate) async fn git(
        &self,
        auth: Option<(&GitAuth, &str)>,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let full = self.scoped(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        git::run(&self.dir, auth, &refs).await
    }

    /// Runs git on this checkout and returns its output whatever the status.
    pub(crate) async fn git_output(
        &self,
        auth: Option<(&GitAuth, &str)>,
        args: &[&str],
    ) -> anyhow::Result<std::process::Output> {
        let full = self.scoped(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        git::output(&self.dir, auth, &refs).await
    }

    /// The checkout directory, where the agent runs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The branch checked out here.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Stages everything the agent changed and commits it as `identity`, with the
    /// `Flotilla-Task: <id>` trailer. `None` when there was nothing to commit, which
    /// the caller records as "no change" rather than pushing an empty commit.
    pub async fn commit_all(
        &self,
        message: &str,
        identity: &BotIdentity,
    ) -> anyhow::Result<Option<CommitSha>> {
        self.git(None, &["add", "--all"])
            .await
            .context("staging the agent's changes")?;
        let diff = self
            .git_output(None, &["diff", "--cached", "--quiet"])
            .await?;
        match diff.status.code() {
            Some(0) => return Ok(None),
            Some(1) => {}
            _ => anyhow::bail!(
                "git diff --cached failed: {}",
                String::from_utf8_lossy(&diff.stderr).trim()
            ),
        }
        let full = format!(
            "{}\n\n{TASK_TRAILER}: {}\n",
            message.trim_end(),
            self.task_id
        );
        self.git_as(
            identity,
            &[
                "commit",
                "--quiet",
                "--no-verify",
                "--cleanup=verbatim",
                "-m",
                &full,
            ],
        )
        .await
        .context("committing the agent's changes")?;
        let sha = self.git(None, &["rev-parse", "HEAD"]).await?;
        Ok(Some(CommitSha(sha)))
    }

    /// Pushes this branch to `url` with `--force-with-lease`: the remote branch must be
    /// at `expected_remote` (or absent, for `None`), so a retry can replace its own
    /// earlier push but never someone else's. Returns the pushed commit.
    pub async fn push(
        &self,
        url: &str,
        auth: &GitAuth,
        expected_remote: Option<&CommitSha>,
    ) -> Result<CommitSha, PushError> {
        let remote_ref = format!("refs/heads/{}", self.branch);
        let lease = format!(
            "--force-with-lease={remote_ref}:{}",
            expected_remote.map(|sha| sha.0.as_str()).unwrap_or("")
        );
        let refspec = format!("{remote_ref}:{remote_ref}");
        let out = self
            .git_output(
                Some((auth, url)),
                &["push", "--quiet", "--porcelain", &lease, url, &refspec],
            )
            .await?;
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            if stdout.contains("stale info")
                || String::from_utf8_lossy(&out.stderr).contains("stale info")
            {
                return Err(PushError::StaleLease);
            }
            if let Some(reason) = remote_refusal(&stdout, &String::from_utf8_lossy(&out.stderr)) {
                return Err(PushError::Refused(reason));
            }
            return Err(PushError::Other(anyhow::anyhow!(
                "git push of {} failed ({}): {} {}",
                self.branch,
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let sha = self.git(None, &["rev-parse", &remote_ref]).await?;
        Ok(CommitSha(sha))
    }

    /// Merges `commit` (a sibling task's work this task builds on) into the checkout
    /// as `identity`.
    pub async fn merge(&self, commit: &CommitSha, identity: &BotIdentity) -> anyhow::Result<()> {
        self.git_as(
            identity,
            &["merge", "--quiet", "--no-edit", "--no-ff", &commit.0],
        )
        .await
        .with_context(|| format!("merging {commit} into task {}", self.task_id))?;
        Ok(())
    }

    /// The commit this branch has on `url`, and the task named by its
    /// `Flotilla-Task` trailer (fetched to read it). `None` when the branch does not
    /// exist there. Lets a task that lost track of its own push (a crash between push
    /// and record) recognise it, and never overwrite someone else's.
    pub async fn remote_head(
        &self,
        url: &str,
        auth: &GitAuth,
    ) -> anyhow::Result<Option<(CommitSha, Option<String>)>> {
        let remote_ref = format!("refs/heads/{}", self.branch);
        let listed = self
            .git(Some((auth, url)), &["ls-remote", url, &remote_ref])
            .await?;
        let Some(sha) = listed.split_whitespace().next().map(str::to_owned) else {
            return Ok(None);
        };
        self.git(
            Some((auth, url)),
            &["fetch", "--quiet", "--no-tags", url, &sha],
        )
        .await?;
        let format = format!("--format=%(trailers:key={TASK_TRAILER},valueonly)");
        let trailer = self.git(None, &["log", "-1", &format, &sha]).await?;
        let trailer = trailer
            .lines()
            .next()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Ok(Some((CommitSha(sha), trailer.map(str::to_owned))))
    }

    /// Runs git in the checkout as `identity` (author and committer), given per command
    /// so no config the agent shares holds it.
    async fn git_as(&self, identity: &BotIdentity, args: &[&str]) -> anyhow::Result<String> {
        let name = format!("user.name={}", identity.name);
        let email = format!("user.email={}", identity.email);
        let mut full = vec!["-c", name.as_str(), "-c", email.as_str()];
        full.extend_from_slice(args);
        self.git(None, &full).await
    }

    /// Deletes the checkout and its registration in the mirror (the branch stays, so
    /// a retry can push to it again).
    pub async fn remove(self) -> anyhow::Result<()> {
        let dir = self.dir.to_string_lossy().into_owned();
        git::run(&self.mirror, None, &["worktree", "remove", "--force", &dir])
            .await
            .with_context(|| format!("removing worktree of task {}", self.task_id))?;
        git::run(&self.mirror, None, &["worktree", "prune"]).await?;
        Ok(())
    }
}

/// The remote's own reason when a push was declined by a rule (a pre-receive hook:
/// porcelain `[remote rejected] … (pre-receive hook declined)`), from the `remote:` lines
/// git prints; `None` for failures that are not a refusal.
fn remote_refusal(stdout: &str, stderr: &str) -> Option<String> {
    let declined = stdout.contains("[remote rejected]") || stderr.contains("[remote rejected]");
    if !declined {
        return None;
    }
    let said: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("remote:"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    Some(if said.is_empty() {
        "the remote rejected the push".to_owned()
    } else {
        said.join(" ")
    })
}
