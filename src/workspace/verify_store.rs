//! The verification store: per repository a bare repository at
//! `<data_dir>/verify/<owner>/<repo>.git` that only Flotilla's git ever touches — no
//! agent tree, no worker repository, no sandbox sees it. Each head under verification
//! is fetched into it by sha from GitHub, and everything verification reads (the diff
//! the gates scan, the files a verification command names, the checkouts the build
//! and the reviewers get, the change's patch-id and whether a head only merged the
//! base into an earlier one) comes from there.
//!
//! Besides the hardening every git call has (no system or global config, no replace
//! objects, no hooks, no fsmonitor, http(s) only), diffs here take no textconv and no
//! external diff driver, and attributes are read from an empty tree (`attr.tree`), so
//! a `.gitattributes` in the change cannot mark its own files binary to hide them from
//! the gates.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GitAuth, git, reap, repository_dir, safe_component, throwaway};
use crate::store::PatchId;
use crate::types::{CommitSha, RepoName};

/// Git's empty tree: attributes are read from it, i.e. from nowhere.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// One repository's verification store. Exists so that what is verified is GitHub's
/// bytes for the head's sha, never anything an agent wrote or could write.
#[derive(Clone, Debug)]
pub struct VerifyStore {
    data_dir: PathBuf,
    path: PathBuf,
}

/// A fresh checkout of one head for one verification, in a directory of its own
/// (two verifications of one head never share one).
#[derive(Debug)]
pub struct Checkout {
    dir: PathBuf,
}

impl Checkout {
    /// The checkout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes the checkout, whatever the code that ran in it did to its permissions.
    pub async fn remove(self) -> anyhow::Result<()> {
        reap::remove_tree(&self.dir).await
    }
}

impl VerifyStore {
    /// Names the store of `repo` under `data_dir`; creates nothing. Fails when the
    /// repository name could escape the data dir.
    pub fn open(data_dir: &Path, repo: &RepoName) -> anyhow::Result<Self> {
        Ok(Self {
            data_dir: data_dir.to_owned(),
            path: repository_dir(data_dir, "verify", repo)?,
        })
    }

    /// Fetches `head` by its sha and `base_branch` from `url` (GitHub), creating the
    /// store the first time. The base branch lands at `refs/remotes/origin/<branch>`.
    pub async fn fetch(
        &self,
        url: &str,
        auth: &GitAuth,
        head: &CommitSha,
        base_branch: &str,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            !head.0.starts_with('-') && !base_branch.starts_with('-'),
            "head {head} or branch {base_branch:?} looks like an option"
        );
        if !self.path.join("HEAD").is_file() {
            tokio::fs::create_dir_all(&self.path)
                .await
                .with_context(|| format!("creating {}", self.path.display()))?;
            git::run(&self.path, None, &["init", "--quiet", "--bare"])
                .await
                .context("creating the verification store")?;
        }
        let base = format!("+refs/heads/{base_branch}:refs/remotes/origin/{base_branch}");
        git::run(
            &self.path,
            Some((auth, url)),
            &["fetch", "--quiet", "--no-tags", url, &head.0, &base],
        )
        .await
        .with_context(|| format!("fetching {head} into the verification store"))?;
        Ok(())
    }

    /// Runs git in the store with diff attributes read from nowhere.
    async fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let no_attributes = format!("attr.tree={EMPTY_TREE}");
        let mut full = vec!["-c", no_attributes.as_str()];
        full.extend_from_slice(args);
        git::run(&self.path, None, &full).await
    }

    /// Like [`VerifyStore::git`] (no attributes: no merge driver either), whatever the
    /// exit status.
    async fn output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let no_attributes = format!("attr.tree={EMPTY_TREE}");
        let mut full = vec!["-c", no_attributes.as_str()];
        full.extend_from_slice(args);
        git::output(&self.path, None, &full).await
    }

    /// The commit `head` forked from `base_branch` at: what a pull request's diff is
    /// taken against.
    pub async fn merge_base(
        &self,
        base_branch: &str,
        head: &CommitSha,
    ) -> anyhow::Result<CommitSha> {
        let base = format!("refs/remotes/origin/{base_branch}");
        let sha = self
            .git(&["merge-base", &base, &head.0])
            .await
            .with_context(|| format!("finding where {head} forked from {base_branch}"))?;
        Ok(CommitSha(sha))
    }

    /// The unified diff from `base` to `head` (renames detected, three context lines),
    /// with no textconv and no external diff.
    pub async fn diff(&self, base: &CommitSha, head: &CommitSha) -> anyhow::Result<String> {
        self.git(&[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "-M",
            "--unified=3",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            &base.0,
            &head.0,
        ])
        .await
        .map(|mut text| {
            text.push('\n');
            text
        })
    }

    /// `git diff --stat` from `base` to `head`, for reviewer prompts.
    pub async fn diff_stat(&self, base: &CommitSha, head: &CommitSha) -> anyhow::Result<String> {
        self.git(&[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--stat",
            "-M",
            &base.0,
            &head.0,
        ])
        .await
    }

    /// The patch-id of `diff` (as [`VerifyStore::diff`] gives it): what stays the same
    /// when the same change sits on another base. `--verbatim` is `--stable` keeping
    /// whitespace, which is meaning in Python, YAML or a makefile. None for an empty
    /// diff.
    pub async fn patch_id(&self, diff: &str) -> anyhow::Result<Option<PatchId>> {
        let line = git::run_with_input(&self.path, &["patch-id", "--verbatim"], diff.as_bytes())
            .await
            .context("computing the change's patch-id")?;
        Ok(line
            .split_whitespace()
            .next()
            .map(|id| PatchId(id.to_owned())))
    }

    /// The parent `head` was made from when `head` is exactly GitHub's clean merge of a
    /// commit of `base_branch` into it — two parents, the second on the base branch,
    /// and the tree a conflict-free merge of the two gives, nothing edited on top — so
    /// the change `head` carries is that parent's, on a newer base. None otherwise.
    pub async fn base_merged_into(
        &self,
        head: &CommitSha,
        base_branch: &str,
    ) -> anyhow::Result<Option<CommitSha>> {
        let line = self
            .git(&["rev-list", "--parents", "--max-count=1", &head.0])
            .await
            .with_context(|| format!("reading the parents of {head}"))?;
        let [_, first, second] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            return Ok(None);
        };
        let base = format!("refs/remotes/origin/{base_branch}");
        let on_base = self
            .output(&["merge-base", "--is-ancestor", second, &base])
            .await?;
        if !on_base.status.success() {
            return Ok(None);
        }
        let merged = self
            .output(&["merge-tree", "--write-tree", "--no-messages", first, second])
            .await?;
        if !merged.status.success() {
            return Ok(None);
        }
        let tree = self
            .git(&["rev-parse", &format!("{}^{{tree}}", head.0)])
            .await?;
        let clean = String::from_utf8_lossy(&merged.stdout);
        Ok((clean.trim() == tree).then(|| CommitSha(first.to_owned())))
    }

    /// A file's text at `commit`, or `None` when the commit has no file at `path` (or
    /// holds a directory or a submodule there). Exists so verification reads what the
    /// base says, such as which scripts the build commands run, without a checkout the
    /// change could have altered.
    pub async fn file_at(&self, commit: &CommitSha, path: &str) -> anyhow::Result<Option<String>> {
        let object = format!("{}:{path}", commit.0);
        let kind = git::output(&self.path, None, &["cat-file", "-t", &object]).await?;
        if !kind.status.success() || kind.stdout.trim_ascii() != b"blob" {
            return Ok(None);
        }
        let blob = git::output(&self.path, None, &["cat-file", "blob", &object]).await?;
        anyhow::ensure!(
            blob.status.success(),
            "reading {path} at {commit}: {}",
            String::from_utf8_lossy(&blob.stderr).trim()
        );
        Ok(Some(String::from_utf8_lossy(&blob.stdout).into_owned()))
    }

    /// Checks `head` out into a new directory `<data_dir>/verifications/<name>-<n>`
    /// (two checkouts of one head never share one): a throwaway repository holding
    /// `head` and `base`, so `git diff <base> HEAD` works in it, and nothing else of
    /// the store. The caller removes it ([`Checkout::remove`]).
    pub async fn checkout(
        &self,
        name: &str,
        head: &CommitSha,
        base: &CommitSha,
    ) -> anyhow::Result<Checkout> {
        let unique = format!(
            "{}-{}",
            safe_component(name)?,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let dir = self.data_dir.join("verifications").join(unique);
        tokio::fs::create_dir_all(&dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        let checkout = Checkout { dir };
        let filled = throwaway::fill(
            &checkout.dir,
            &self.path,
            &[&head.0, &base.0],
            throwaway::Head::Detached,
        )
        .await;
        match filled {
            Ok(()) => Ok(checkout),
            Err(error) => {
                let _ = checkout.remove().await;
                Err(error.context(format!("checking out {head} for verification")))
            }
        }
    }
}
