//! Throwaway repositories: a fresh `git init` filled by a shallow local fetch of a few
//! commits from one of Flotilla's own repositories (the mirror, the verification
//! store), then checked out. Agents get these instead of anything of Flotilla's: the
//! objects are copied (no alternates, no shared config, refs or hooks), so whatever an
//! agent or the code it runs does to its `.git` stays there and is thrown away.

use std::path::Path;

use anyhow::Context;

use super::git;

/// What the throwaway repository checks out.
pub(super) enum Head<'a> {
    /// Branch `name` at the first commit (a worker's own branch).
    Branch(&'a str),
    /// The first commit, detached (a checkout under verification).
    Detached,
}

/// Fills the empty directory `dir` with a repository holding `commits` (the first is
/// checked out as `head` says), copied from the repository at `source`. Flotilla runs
/// this before any agent or command sees `dir`.
pub(super) async fn fill(
    dir: &Path,
    source: &Path,
    commits: &[&str],
    head: Head<'_>,
) -> anyhow::Result<()> {
    let first = *commits.first().context("no commit to check out")?;
    anyhow::ensure!(
        commits.iter().all(|c| !c.starts_with('-')),
        "a commit looks like an option"
    );
    git::run(
        dir,
        None,
        &["init", "--quiet", "--initial-branch=flotilla-start"],
    )
    .await
    .context("creating a throwaway repository")?;
    let url = format!("file://{}", source.display());
    let mut fetch = vec![
        "-c",
        "protocol.file.allow=always",
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth=1",
        // The commits may be on no branch (a merge made for a task): the source's
        // upload-pack serves any commit it holds, without a config written for it.
        "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack",
        url.as_str(),
    ];
    fetch.extend_from_slice(commits);
    git::run(dir, None, &fetch)
        .await
        .context("copying commits into a throwaway repository")?;
    let checkout = match head {
        Head::Branch(name) => vec!["checkout", "--quiet", "-B", name, first],
        Head::Detached => vec!["checkout", "--quiet", "--detach", first],
    };
    git::run(dir, None, &checkout)
        .await
        .context("checking out a throwaway repository")?;
    Ok(())
}
