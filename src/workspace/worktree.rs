//! One task's checkout: where the agent works, and from which Flotilla stages, commits
//! under the bot identity and pushes with a lease.

use std::path::{Path, PathBuf};

use anyhow::Context;

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

/// The most bytes one file the agent wrote may have; a larger one is refused (GitHub
/// itself refuses files over 100 MB, and nothing an agent should write comes close).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// What reading back the agent's tree found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBack {
    /// Flotilla committed the tree's files as this commit.
    Committed(CommitSha),
    /// The tree's files are exactly the starting commit's.
    NoChange,
    /// Something in the tree cannot be proposed (a symlink out of the tree, a nested
    /// repository, a file over [`MAX_FILE_BYTES`]); nothing was committed.
    Refused(String),
}

/// One task's place to work, in two halves that never meet:
///
/// - the **agent's tree** at `<data_dir>/worktrees/<task_id>`: a throwaway git
///   repository of its own (a shallow fetch of the starting commit, its own object
///   store, no remote), which the agent may use and abuse as it likes;
/// - Flotilla's **staging** worktree of the mirror at `<data_dir>/staging/<task_id>`,
///   never checked out and never shown to an agent, whose index and branch Flotilla
///   commits with.
///
/// When the agent is done, Flotilla reads the agent's tree back as plain files into
/// the staging index: nothing of the agent's `.git` (index, refs, replace refs, config,
/// hooks, alternates) is ever read.
#[derive(Clone, Debug)]
pub struct Worktree {
    mirror: PathBuf,
    dir: PathBuf,
    staging: PathBuf,
    git_dir: PathBuf,
    task_id: String,
    branch: String,
}

impl Worktree {
    /// The staging worktree git just added at `staging`, for the agent's tree at
    /// `dir`: the staging git dir is read now and named explicitly by every later git
    /// command.
    pub(crate) async fn open(
        mirror: PathBuf,
        dir: PathBuf,
        staging: PathBuf,
        task_id: String,
        branch: String,
    ) -> anyhow::Result<Self> {
        let git_dir =
            PathBuf::from(git::run(&staging, None, &["rev-parse", "--absolute-git-dir"]).await?);
        anyhow::ensure!(
            git_dir.starts_with(mirror.join("worktrees")),
            "the staging worktree at {} uses git dir {}, not one of its mirror's",
            staging.display(),
            git_dir.display()
        );
        Ok(Self {
            mirror,
            dir,
            staging,
            git_dir,
            task_id,
            branch,
        })
    }

    /// `git --git-dir=<staging> --work-tree=<agent's tree> <args>`: the agent's files
    /// are read as plain files; its `.git` never counts (git skips a top-level `.git`
    /// and records a nested one as a submodule, which [`Worktree::read_back`] refuses).
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

    /// The agent's tree, where the agent runs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The branch Flotilla commits to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Reads the agent's tree back as plain files and, when they differ from the
    /// starting commit and nothing in them is refused, commits them as `identity` with
    /// the `Flotilla-Task: <id>` trailer. Refused: a symbolic link that is absolute or
    /// leaves the tree (or points into a `.git`), a nested repository or submodule, a
    /// file over [`MAX_FILE_BYTES`]; every reason is listed.
    pub async fn read_back(
        &self,
        message: &str,
        identity: &BotIdentity,
    ) -> anyhow::Result<ReadBack> {
        let added = self.git_output(None, &["add", "--all"]).await?;
        if !added.status.success() {
            // Such as a nested repository with nothing committed: git cannot read it as
            // files nor as a submodule.
            return self
                .refuse(&format!(
                    "git could not read it as plain files: {}",
                    String::from_utf8_lossy(&added.stderr).trim()
                ))
                .await;
        }
        let raw = self
            .git_output(
                None,
                &["diff", "--cached", "--raw", "-z", "--no-renames", "HEAD"],
            )
            .await?;
        anyhow::ensure!(
            raw.status.success(),
            "git diff --cached failed: {}",
            String::from_utf8_lossy(&raw.stderr).trim()
        );
        let changes = staged_changes(&raw.stdout);
        if changes.is_empty() {
            return Ok(ReadBack::NoChange);
        }
        let refused: Vec<String> = changes.iter().filter_map(|c| self.refusal(c)).collect();
        if !refused.is_empty() {
            return self.refuse(&refused.join("; ")).await;
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
        Ok(ReadBack::Committed(CommitSha(sha)))
    }

    /// Puts the staging index back to the starting commit and says why nothing was
    /// committed.
    async fn refuse(&self, reason: &str) -> anyhow::Result<ReadBack> {
        self.git(None, &["read-tree", "HEAD"]).await?;
        Ok(ReadBack::Refused(format!(
            "Flotilla refused the agent's tree: {reason}"
        )))
    }

    /// Why one staged change cannot be proposed, if it cannot. The mode is the one git
    /// staged; a link's target and a file's size are read from the tree itself, which
    /// is what git just read (the agent is gone, nothing changes it any more).
    fn refusal(&self, change: &StagedChange) -> Option<String> {
        let path = &change.path;
        let on_disk = self.dir.join(path);
        match change.mode.as_str() {
            "000000" => None,
            "160000" => Some(format!(
                "`{path}` is a nested git repository (a submodule); commit its files instead"
            )),
            "120000" => match std::fs::read_link(&on_disk) {
                Err(error) => Some(format!("`{path}` is a link that cannot be read: {error}")),
                Ok(target) => {
                    let target = target.to_string_lossy();
                    (!link_stays_inside(&self.dir, path, &target)).then(|| {
                        format!("`{path}` is a symbolic link to `{target}`, outside the tree")
                    })
                }
            },
            _ => match std::fs::symlink_metadata(&on_disk) {
                Err(error) => Some(format!("`{path}` cannot be read: {error}")),
                Ok(meta) => (meta.len() > MAX_FILE_BYTES).then(|| {
                    format!(
                        "`{path}` has {} bytes, over the limit of {MAX_FILE_BYTES} per file",
                        meta.len()
                    )
                }),
            },
        }
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

    /// Merges `commit` (a sibling task's work this task builds on) into the branch as
    /// `identity`, in the object store alone (`git merge-tree`): the staging worktree
    /// has no files to merge in. A conflict is an error naming the commit.
    pub(crate) async fn merge_without_checkout(
        &self,
        commit: &CommitSha,
        identity: &BotIdentity,
    ) -> anyhow::Result<()> {
        let merged = self
            .git_output(None, &["merge-tree", "--write-tree", "HEAD", &commit.0])
            .await?;
        let tree = String::from_utf8_lossy(&merged.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        match merged.status.code() {
            Some(0) => {}
            Some(1) => anyhow::bail!("merging {commit} into task {} conflicts", self.task_id),
            _ => anyhow::bail!(
                "git merge-tree failed ({}): {}",
                merged.status,
                String::from_utf8_lossy(&merged.stderr).trim()
            ),
        }
        let message = format!("Merge {commit} into {}", self.branch);
        let created = self
            .git_as(
                identity,
                &[
                    "commit-tree",
                    &tree,
                    "-p",
                    "HEAD",
                    "-p",
                    &commit.0,
                    "-m",
                    &message,
                ],
            )
            .await
            .with_context(|| format!("merging {commit} into task {}", self.task_id))?;
        self.git(None, &["update-ref", "HEAD", &created]).await?;
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

    /// Deletes the agent's tree and the staging worktree's registration in the mirror
    /// (the branch stays, so a retry can push to it again).
    pub async fn remove(self) -> anyhow::Result<()> {
        super::reap::remove_dead(&self.staging).await?;
        git::run(&self.mirror, None, &["worktree", "prune"]).await?;
        super::reap::remove_tree(&self.dir).await
    }
}

/// One entry of `git diff --cached --raw -z`: the new mode of a path.
#[derive(Debug)]
struct StagedChange {
    mode: String,
    path: String,
}

/// Parses `git diff --raw -z` output (`:<old mode> <new mode> <old> <new> <status>\0
/// <path>\0`, renames off).
fn staged_changes(raw: &[u8]) -> Vec<StagedChange> {
    let mut fields = raw.split(|b| *b == 0);
    let mut changes = Vec::new();
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if let [_, mode, _, _, _] = parts.as_slice() {
            changes.push(StagedChange {
                mode: (*mode).to_owned(),
                path: String::from_utf8_lossy(path).into_owned(),
            });
        }
    }
    changes
}

/// The most symbolic links followed while resolving one link (the kernel's own limit).
const MAX_LINK_HOPS: usize = 40;

/// Whether a symbolic link at `path` (relative to `tree`) pointing at `target` stays
/// inside the tree and out of any `.git`. Resolved component by component the way the
/// kernel would, following the tree's own links on the way (`sub/up -> ..` makes
/// `sub/up/..` the tree's parent), with no component allowed above the tree's root;
/// an absolute target never stays inside. What it points at need not exist. The agent
/// is gone by then, so the tree does not change under the check.
fn link_stays_inside(tree: &Path, path: &str, target: &str) -> bool {
    let mut resolved: Vec<String> = path.split('/').map(str::to_owned).collect();
    resolved.pop();
    let mut pending: std::collections::VecDeque<String> =
        target.split('/').map(str::to_owned).collect();
    if target.starts_with('/') {
        return false;
    }
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return false;
                }
            }
            name if name.eq_ignore_ascii_case(".git") => return false,
            name => {
                resolved.push(name.to_owned());
                let Ok(link) = std::fs::read_link(tree.join(resolved.join("/"))) else {
                    continue;
                };
                hops += 1;
                let link = link.to_string_lossy().into_owned();
                if hops > MAX_LINK_HOPS || link.starts_with('/') {
                    return false;
                }
                resolved.pop();
                for (at, component) in link.split('/').enumerate() {
                    pending.insert(at, component.to_owned());
                }
            }
        }
    }
    true
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
