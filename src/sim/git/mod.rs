//! Bare repositories on disk and the git plumbing GitHub's features need: import,
//! branches, file contents, commits, merges (merge commit, squash, rebase), conflict
//! detection, and diffs (in `diff`, with the lines a review comment may target).
//!
//! Everything runs the `git` CLI on the bare repository; nothing here knows about HTTP
//! or the simulator's state.

mod diff;

pub use diff::{FileDiff, diff};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// The identity used for commits GitHub itself makes (merges).
pub const GITHUB_COMMITTER: (&str, &str) = ("GitHub", "noreply@github.com");

/// Runs `git` in `dir` with extra environment; fails on a non-zero exit.
pub async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let output = command(dir, args, env)
        .output()
        .await
        .with_context(|| format!("running git {args:?}"))?;
    if !output.status.success() {
        bail!(
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A `git` command in `dir` that ignores the user's and system's configuration.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Where the bare repository of `owner/name` lives under `root`.
pub fn bare_path(root: &Path, owner: &str, name: &str) -> PathBuf {
    root.join(owner).join(format!("{name}.git"))
}

/// The pre-receive hook: declines the next push when a test armed it (see
/// `faults::PushFault`), and refuses an App's push that creates or changes a file under
/// `.github/workflows/` unless the App holds the `workflows` permission (the caller
/// sets `SIM_PUSHER_LACKS_WORKFLOWS`).
const PRE_RECEIVE: &str = r#"#!/bin/sh
if [ -f "$GIT_DIR/sim-reject-next-push" ]; then
  cat "$GIT_DIR/sim-reject-next-push" >&2
  rm -f "$GIT_DIR/sim-reject-next-push"
  exit 1
fi
[ "$SIM_PUSHER_LACKS_WORKFLOWS" = "1" ] || exit 0
zero=0000000000000000000000000000000000000000
while read old new ref; do
  [ "$new" = "$zero" ] && continue
  if [ "$old" = "$zero" ]; then
    commits=$(git rev-list "$new" --not --all)
  else
    commits=$(git rev-list "$old..$new")
  fi
  for c in $commits; do
    f=$(git diff-tree --no-commit-id --name-only -r --root "$c" | grep '^\.github/workflows/' | head -n 1)
    if [ -n "$f" ]; then
      echo "refusing to allow a GitHub App to create or update workflow \`$f\` without \`workflows\` permission" >&2
      exit 1
    fi
  done
done
exit 0
"#;

/// Creates a bare repository at `dest` holding `source` (a git repository, cloned with
/// all branches, or a plain folder, committed as one commit on `branch`).
pub async fn import(source: Option<&Path>, dest: &Path, branch: &str) -> Result<()> {
    let parent = dest
        .parent()
        .context("bare repository path has no parent")?;
    tokio::fs::create_dir_all(parent).await?;
    let dest_str = dest.to_str().context("non-UTF-8 data dir")?;
    match source {
        Some(src) if src.join(".git").exists() || src.join("HEAD").is_file() => {
            let src_str = src.to_str().context("non-UTF-8 source path")?;
            run(
                parent,
                &["clone", "--bare", "--quiet", src_str, dest_str],
                &[],
            )
            .await?;
        }
        _ => {
            run(
                parent,
                &["init", "--bare", "--quiet", "-b", branch, dest_str],
                &[],
            )
            .await?;
            let index = dest.join("sim-import-index");
            let index_str = index.to_str().context("non-UTF-8 path")?;
            let env = [("GIT_INDEX_FILE", index_str)];
            let tree = match source {
                Some(src) => {
                    let work = src.to_str().context("non-UTF-8 source path")?;
                    run(dest, &["--work-tree", work, "add", "-A", "."], &env).await?;
                    run(dest, &["write-tree"], &env).await?
                }
                None => {
                    stage_file(dest, "README.md", b"# Sample repository\n", &env).await?;
                    run(dest, &["write-tree"], &env).await?
                }
            };
            let _ = tokio::fs::remove_file(&index).await;
            let commit = commit_tree(
                dest,
                tree.trim(),
                &[],
                "Initial commit",
                ("Octocat", "octocat@github.com"),
                GITHUB_COMMITTER,
            )
            .await?;
            update_ref(dest, &format!("refs/heads/{branch}"), &commit, None).await?;
        }
    }
    run(dest, &["config", "http.receivepack", "true"], &[]).await?;
    let hook = dest.join("hooks").join("pre-receive");
    tokio::fs::create_dir_all(dest.join("hooks")).await?;
    tokio::fs::write(&hook, PRE_RECEIVE).await?;
    set_executable(&hook).await?;
    Ok(())
}

/// Marks a hook executable.
async fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).await?;
    Ok(())
}

/// Stores `content` as a blob; returns its id.
pub async fn hash_object(repo: &Path, content: &[u8]) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut child = command(repo, &["hash-object", "-w", "--stdin"], &[])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(content).await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!("git hash-object failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Resolves a revision to a commit id; `None` when it does not exist.
pub async fn rev_parse(repo: &Path, rev: &str) -> Option<String> {
    let spec = format!("{rev}^{{commit}}");
    run(repo, &["rev-parse", "--verify", "--quiet", &spec], &[])
        .await
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The tip of a branch.
pub async fn branch_sha(repo: &Path, branch: &str) -> Option<String> {
    rev_parse(repo, &format!("refs/heads/{branch}")).await
}

/// All branches and their tips.
pub async fn branches(repo: &Path) -> Result<Vec<(String, String)>> {
    let out = run(
        repo,
        &[
            "for-each-ref",
            "refs/heads",
            "--format=%(refname:short) %(objectname)",
        ],
        &[],
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
        .collect())
}

/// A file's bytes at `rev`, `None` when absent (or a directory).
pub async fn read_file(repo: &Path, rev: &str, path: &str) -> Option<Vec<u8>> {
    let spec = format!("{rev}:{path}");
    let kind = run(repo, &["cat-file", "-t", &spec], &[]).await.ok()?;
    if kind.trim() != "blob" {
        return None;
    }
    let output = command(repo, &["cat-file", "blob", &spec], &[])
        .output()
        .await
        .ok()?;
    output.status.success().then_some(output.stdout)
}

/// A directory listing at `rev`: (type, name, sha, size).
pub async fn list_dir(
    repo: &Path,
    rev: &str,
    path: &str,
) -> Option<Vec<(String, String, String, u64)>> {
    let spec = if path.is_empty() {
        format!("{rev}^{{tree}}")
    } else {
        format!("{rev}:{path}")
    };
    let kind = run(repo, &["cat-file", "-t", &spec], &[]).await.ok()?;
    if kind.trim() != "tree" {
        return None;
    }
    let out = run(repo, &["ls-tree", "-l", &spec], &[]).await.ok()?;
    Some(
        out.lines()
            .filter_map(|line| {
                let (meta, name) = line.split_once('\t')?;
                let mut parts = meta.split_whitespace();
                let _mode = parts.next()?;
                let kind = parts.next()?;
                let sha = parts.next()?;
                let size = parts.next()?.parse().unwrap_or(0);
                Some((
                    if kind == "tree" { "dir" } else { "file" }.to_owned(),
                    name.to_owned(),
                    sha.to_owned(),
                    size,
                ))
            })
            .collect(),
    )
}

/// What `git log` knows about one commit.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// Commit id.
    pub sha: String,
    /// Tree id.
    pub tree: String,
    /// Parent ids.
    pub parents: Vec<String>,
    /// Author name, email, ISO date.
    pub author: (String, String, String),
    /// Committer name, email, ISO date.
    pub committer: (String, String, String),
    /// Full message.
    pub message: String,
}

/// Reads one commit.
pub async fn commit_info(repo: &Path, rev: &str) -> Option<CommitInfo> {
    let sha = rev_parse(repo, rev).await?;
    let out = run(
        repo,
        &[
            "log",
            "-1",
            "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
            &sha,
        ],
        &[],
    )
    .await
    .ok()?;
    let f: Vec<&str> = out.splitn(10, '\0').collect();
    if f.len() < 10 {
        return None;
    }
    Some(CommitInfo {
        sha: f[0].to_owned(),
        tree: f[1].to_owned(),
        parents: f[2].split_whitespace().map(str::to_owned).collect(),
        author: (f[3].to_owned(), f[4].to_owned(), f[5].to_owned()),
        committer: (f[6].to_owned(), f[7].to_owned(), f[8].to_owned()),
        message: f[9].trim_end().to_owned(),
    })
}

/// Commits reachable from `head` and not from `base`, oldest first.
pub async fn commits_between(repo: &Path, base: &str, head: &str) -> Result<Vec<String>> {
    let range = format!("{base}..{head}");
    let out = run(repo, &["rev-list", "--reverse", &range], &[]).await?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// The best common ancestor.
pub async fn merge_base(repo: &Path, a: &str, b: &str) -> Option<String> {
    run(repo, &["merge-base", a, b], &[])
        .await
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Whether `ancestor` is reachable from `descendant`.
pub async fn is_ancestor(repo: &Path, ancestor: &str, descendant: &str) -> bool {
    command(
        repo,
        &["merge-base", "--is-ancestor", ancestor, descendant],
        &[],
    )
    .status()
    .await
    .is_ok_and(|s| s.success())
}

/// Merges `theirs` into `ours` without touching refs: `Ok(Some(tree))`, or `Ok(None)`
/// when the merge conflicts. `merge_base` overrides the computed base (for rebases).
pub async fn merge_tree(
    repo: &Path,
    ours: &str,
    theirs: &str,
    merge_base: Option<&str>,
) -> Result<Option<String>> {
    let base_arg = merge_base.map(|b| format!("--merge-base={b}"));
    let mut args = vec!["merge-tree", "--write-tree", "--no-messages"];
    if let Some(arg) = &base_arg {
        args.push(arg);
    }
    args.extend([ours, theirs]);
    let output = command(repo, &args, &[]).output().await?;
    match output.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        )),
        Some(1) => Ok(None),
        _ => bail!(
            "git merge-tree failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// Creates a commit object; `author` and `committer` are (name, email), the committer
/// [`GITHUB_COMMITTER`] for the commits GitHub itself writes.
pub async fn commit_tree(
    repo: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    author: (&str, &str),
    committer: (&str, &str),
) -> Result<String> {
    let mut args = vec!["commit-tree", tree, "-m", message];
    for p in parents {
        args.extend(["-p", p]);
    }
    let env = [
        ("GIT_AUTHOR_NAME", author.0),
        ("GIT_AUTHOR_EMAIL", author.1),
        ("GIT_COMMITTER_NAME", committer.0),
        ("GIT_COMMITTER_EMAIL", committer.1),
    ];
    Ok(run(repo, &args, &env).await?.trim().to_owned())
}

/// Moves `refname` to `new`, only if it is still at `old` (when given).
pub async fn update_ref(repo: &Path, refname: &str, new: &str, old: Option<&str>) -> Result<()> {
    let mut args = vec!["update-ref", refname, new];
    if let Some(old) = old {
        args.push(old);
    }
    run(repo, &args, &[]).await.map(|_| ())
}

/// Writes `content` as a blob and stages it at `path` in the index `env` names.
async fn stage_file(repo: &Path, path: &str, content: &[u8], env: &[(&str, &str)]) -> Result<()> {
    let blob = hash_object(repo, content).await?;
    let entry = format!("100644,{blob},{path}");
    run(repo, &["update-index", "--add", "--cacheinfo", &entry], env)
        .await
        .map(|_| ())
}

/// Creates a commit on top of `parent` that writes `files` (path, content).
pub async fn commit_files(
    repo: &Path,
    parent: Option<&str>,
    files: &[(String, String)],
    message: &str,
    author: (&str, &str),
) -> Result<String> {
    let index = repo.join(format!("sim-index-{}", uuid::Uuid::new_v4().simple()));
    let index_str = index.to_str().context("non-UTF-8 path")?.to_owned();
    let env = [("GIT_INDEX_FILE", index_str.as_str())];
    let result = async {
        if let Some(parent) = parent {
            run(repo, &["read-tree", parent], &env).await?;
        }
        for (path, content) in files {
            stage_file(repo, path, content.as_bytes(), &env).await?;
        }
        let tree = run(repo, &["write-tree"], &env).await?;
        let parents: Vec<&str> = parent.into_iter().collect();
        commit_tree(repo, tree.trim(), &parents, message, author, author).await
    }
    .await;
    let _ = tokio::fs::remove_file(&index).await;
    result
}
