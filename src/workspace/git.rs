//! Running the `git` CLI asynchronously, with the hardening every invocation shares.
//!
//! Threat: git run by Flotilla over files an agent wrote (the agent's tree, read back
//! as plain files), whose `.gitattributes` or nested repositories try to steer it, or
//! with a token an agent would love to see. Nothing here passes the token in an
//! argument or the environment: an authenticated command gets it from a credential
//! helper reading a memory file the command alone inherits (see [`GitAuth`]), closed in
//! Flotilla as soon as git is spawned. Git runs with a cleared environment, so none of
//! Flotilla's settings (its webhook secret, database URL, key path) reach git or what
//! git starts, and with no system or global config. Arguments are still never logged
//! nor put in an error (they may name private URLs); errors name the git subcommand and
//! carry git's stderr only.

use std::path::Path;
use std::process::{Output, Stdio};

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::GitAuth;

/// Flotilla's own environment variables git still gets; everything else (Flotilla's
/// settings and secrets, `GIT_*` variables that would steer git elsewhere) is cleared.
const KEPT_ENV: &[&str] = &["PATH", "TZ"];

/// The environment every git command runs with, besides [`KEPT_ENV`]: no system or
/// global config (only the repository's and the per-command `-c` options count), no
/// replace refs, no terminal prompt, a stable locale for the output Flotilla parses.
const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_NO_REPLACE_OBJECTS", "1"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("LC_ALL", "C"),
];

/// The git subcommand in `args`, for messages: the first word that is not an option
/// (nor the value of a `-c`).
fn subcommand<'a>(args: &[&'a str]) -> &'a str {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match *word {
            "-c" | "-C" => {
                words.next();
            }
            option if option.starts_with('-') => {}
            subcommand => return subcommand,
        }
    }
    ""
}

/// Runs `git <args>` in `dir` and returns its output, whatever the exit status. With
/// `auth`, `(credentials, url)`, git may authenticate to `url`'s origin (the URL itself
/// is one of `args`).
///
/// Hooks are disabled (`core.hooksPath=/dev/null`) and so is `core.fsmonitor`, either
/// of which would run code as a child of git, inheriting the credential's descriptor;
/// and only `http` and `https` remotes are allowed (no `ext::`, `file://` or `ssh`
/// that a URL rewrite could smuggle in). The one local fetch Flotilla makes allows
/// `file` for itself with a later `-c`.
pub(crate) async fn output(
    dir: &Path,
    auth: Option<(&GitAuth, &str)>,
    args: &[&str],
) -> anyhow::Result<Output> {
    spawn(dir, auth, args, None).await
}

/// Runs `git <args>` in `dir` with `input` on its stdin (`git patch-id` reads a diff
/// there), failing with git's stderr unless it exits 0; returns stdout, trimmed. Never
/// authenticated.
pub(crate) async fn run_with_input(
    dir: &Path,
    args: &[&str],
    input: &[u8],
) -> anyhow::Result<String> {
    let out = spawn(dir, None, args, Some(input)).await?;
    succeeded(dir, args, out)
}

/// [`output`], with `input` (if any) written to git's stdin while its output is read.
async fn spawn(
    dir: &Path,
    auth: Option<(&GitAuth, &str)>,
    args: &[&str],
    input: Option<&[u8]>,
) -> anyhow::Result<Output> {
    let mut command = Command::new("git");
    command.current_dir(dir).args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "protocol.allow=never",
        "-c",
        "protocol.http.allow=always",
        "-c",
        "protocol.https.allow=always",
    ]);
    let subcommand = subcommand(args);
    let credential = match auth {
        Some((auth, url)) => auth
            .configure(&mut command, url)
            .with_context(|| format!("preparing credentials for git {subcommand}"))?,
        None => None,
    };
    command.env_clear();
    for name in KEPT_ENV {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .args(args)
        .envs(GIT_ENV.iter().copied())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn();
    // Once spawned, git has its own copy of the credential's descriptor (or none, if it
    // failed to start): Flotilla's copy closes here, while git runs.
    drop(credential);
    let mut child =
        child.with_context(|| format!("starting git {subcommand} in {}", dir.display()))?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            stdin.write_all(input).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let (fed, out) = tokio::join!(feed, child.wait_with_output());
    let out = out.with_context(|| format!("running git {subcommand} in {}", dir.display()))?;
    fed.with_context(|| format!("writing to git {subcommand} in {}", dir.display()))?;
    Ok(out)
}

/// Runs `git <args>` in `dir`, failing with git's stderr unless it exits 0; returns
/// stdout, trimmed.
pub(crate) async fn run(
    dir: &Path,
    auth: Option<(&GitAuth, &str)>,
    args: &[&str],
) -> anyhow::Result<String> {
    let out = output(dir, auth, args).await?;
    succeeded(dir, args, out)
}

/// Git's stdout, trimmed, if it exited 0; else an error with its stderr.
fn succeeded(dir: &Path, args: &[&str], out: Output) -> anyhow::Result<String> {
    anyhow::ensure!(
        out.status.success(),
        "git {} in {} failed ({}): {}",
        subcommand(args),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
