//! The installation token as git sees it: the answer of a per-command credential helper
//! that reads it from an anonymous memory file the git process inherits, never an
//! argument, an environment variable, a git config entry, a file on disk or a log line.
//!
//! Threat: untrusted agents run on the same machine. Anything in a process's argv is
//! world-readable (`/proc/<pid>/cmdline`), and a `-c` option reaches every child of git
//! (remote helpers, hooks) in `GIT_CONFIG_PARAMETERS`, readable in `/proc/<pid>/environ`.
//! So argv and the environment carry only a helper snippet that names a descriptor
//! number; the token itself sits in a `memfd` that exists for one git command.
//!
//! What remains: the descriptor is inherited by git and everything git starts (its
//! remote helper, the credential helper shell and `cat`, `gc --auto`); those are git's
//! own programs, since hooks, fsmonitor, configured credential helpers and askpass
//! programs are all turned off per command. While such a process lives, another process
//! of the same user that passes the kernel's ptrace read check (the same check that
//! guards `/proc/<pid>/environ`) can open `/proc/<pid>/fd/<n>`.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;

use crate::inherit::{inherit_in_child, memory_file};

/// The user GitHub expects with an installation token as the password.
const TOKEN_USER: &str = "x-access-token";

/// Credentials for git commands against GitHub. Exists so the token has exactly one way
/// into git — [`GitAuth::configure`] — and its `Debug` cannot print it.
#[derive(Clone)]
pub struct GitAuth {
    token: SecretString,
}

/// The memory file holding one command's credential. Keep it until the command is
/// spawned, then drop it: the child has its own copy of the descriptor, and Flotilla's
/// copy must not outlive the spawn (nor be reused by a later command).
pub(crate) struct CredentialFile(OwnedFd);

impl GitAuth {
    /// Wraps an installation token (as minted by the GitHub client).
    pub fn new(token: SecretString) -> Self {
        Self { token }
    }

    /// Makes `command` (a `git` invocation whose subcommand arguments are not added
    /// yet) authenticate to `url`: writes the credential to a fresh memory file, has
    /// the child inherit it, and adds the `-c` options naming the helper that prints it.
    ///
    /// The helper is scoped to `url`'s origin, so a `url.<x>.insteadOf` planted in the
    /// repository config (shared with the agent's worktree) cannot send git, and the
    /// token, elsewhere. A URL without `scheme://` (a local path) needs no credential
    /// and gets none; git is still kept from asking anyone else for one.
    pub(crate) fn configure(
        &self,
        command: &mut Command,
        url: &str,
    ) -> anyhow::Result<Option<CredentialFile>> {
        command.args([
            // An empty value drops every helper configured so far (system, global, and
            // the repository config the agent can write), so none is asked for, or
            // told about, the credential.
            "-c",
            "credential.helper=",
            "-c",
            "credential.useHttpPath=false",
            // Without a credential, fail instead of asking a terminal or an askpass
            // program (which the repository config could name, and which would inherit
            // the descriptor).
            "-c",
            "credential.interactive=false",
        ]);
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        let origin = origin(scheme, rest)
            .ok_or_else(|| anyhow::anyhow!("the git remote URL has an unexpected host"))?;
        let token = self.token.expose_secret();
        // A line break would let the token add attributes (another host, a URL) to the
        // helper's answer.
        anyhow::ensure!(
            !token.is_empty() && !token.contains(['\n', '\r', '\0']),
            "the installation token is empty or contains a line break or NUL"
        );
        // Held as a secret so the copy is wiped from memory once written.
        let contents = SecretString::from(format!("username={TOKEN_USER}\npassword={token}\n"));
        let file = CredentialFile(memory_file(
            c"flotilla-git-credential",
            contents.expose_secret().as_bytes(),
        )?);
        let fd = file.0.as_raw_fd();
        inherit_in_child(command, &file.0);
        command.args([
            "-c".to_owned(),
            format!("credential.{origin}.helper={}", helper(fd)),
        ]);
        Ok(Some(file))
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth")
            .field("token", &"[redacted]")
            .finish()
    }
}

/// The `credential.helper` value: on `get`, print the credential file; on `store` and
/// `erase`, do nothing. It holds no secret, only the descriptor number.
///
/// The file is read through `/proc/self/fd/<n>`, which opens the memory file afresh at
/// offset 0, so every `get` (git may ask more than once in one command, from more than
/// one process) sees the whole credential. Reading the descriptor itself (`cat <&n`)
/// would share one offset among all of git's processes, and a pipe would be drained by
/// the first reader: both would leave a second `get` empty.
fn helper(fd: RawFd) -> String {
    format!("!f() {{ if [ \"$1\" = get ]; then cat /proc/self/fd/{fd}; fi; }}; f")
}

/// `scheme://host[:port]` of a URL split at `://`, without user information or path;
/// `None` when the scheme or host has characters git's URL matching would not expect.
fn origin(scheme: &str, rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let valid_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+');
    // Nothing that could end the `-c` key early (`=`) or confuse git's URL matching.
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    (valid_scheme && valid_host).then(|| format!("{scheme}://{host}"))
}
