//! `flotilla-run`: a reviewer runs the change's code in a sandbox apart from its own.
//!
//! A reviewer that runs the change (its tests, its build) in its own sandbox shares a
//! user, a PID namespace and its paths with that code, so the code could write the
//! reviewer's standard output through `/proc`, rewrite its memory or signal it: the
//! process whose answer is the verdict would be within reach of what it judges. Inside a
//! reviewer's sandbox `flotilla-run <command> [args…]` (also named by `FLOTILLA_RUN`)
//! hands the command to Flotilla over a Unix socket instead. Flotilla runs it on a fresh
//! writable checkout of the same head, in a sandbox of its own (no network, no
//! credentials, the repository's limits), and answers with its output and exit status,
//! which the client prints and exits with: the reviewer gets them as data.
//!
//! This module holds the protocol, the launcher script the sandbox puts on the
//! reviewer's `PATH`, and the client, which runs inside the sandbox as a hidden
//! subcommand of Flotilla's own binary (standard library only, like
//! [`super::forward`]). The server side, which needs the verification store, is
//! `orchestrator::verify::separate`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

/// Where a reviewer sees the directory holding the socket and the launcher.
pub const DIR_INSIDE: &str = "/run/flotilla-run";
/// The socket's name in that directory.
pub const SOCKET_NAME: &str = "sock";
/// The launcher's name in that directory, which is first on the reviewer's `PATH`.
pub const LAUNCHER_NAME: &str = "flotilla-run";
/// The largest request or answer line accepted, in bytes.
pub const MAX_LINE: u64 = 4 << 20;
/// Exit status of the client when Flotilla did not run the command at all.
const NOT_RUN: u8 = 125;

/// What a reviewer asks to run.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunRequest {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The directory the reviewer was in; it is mapped onto the fresh checkout.
    pub cwd: PathBuf,
}

/// How it went.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunAnswer {
    /// The exit status the client exits with (128 + n for signal n, as shells do).
    pub code: u8,
    /// Standard output and error, interleaved as they arrived, capped.
    pub output: String,
    /// Flotilla's sentence when the command did not simply exit (it timed out, broke
    /// a limit, could not start, or was refused).
    pub reason: Option<String>,
}

/// The launcher script for a reviewer's sandbox: `flotilla-run` execs Flotilla's own
/// binary (`binary`, as the sandbox sees it) with the socket in `dir` (likewise).
pub fn launcher_script(binary: &Path, dir: &Path) -> String {
    format!(
        "#!/bin/sh\n# Runs a command on a fresh copy of this checkout, in a sandbox apart from \
         this one,\n# and prints its output; exits with its status.\nexec {} sandbox-run \
         --socket {} -- \"$@\"\n",
        quoted(binary),
        quoted(&dir.join(SOCKET_NAME)),
    )
}

/// `path` single-quoted for `sh`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The client: sends `argv` and the current directory to the socket, prints the
/// output to stdout and Flotilla's reason (if any) to stderr, and exits with the
/// command's status; 125 with one line on stderr when the command was not run.
pub fn run(socket: &Path, argv: Vec<OsString>) -> ExitCode {
    match ask(socket, argv) {
        Ok(answer) => {
            let mut stdout = std::io::stdout().lock();
            // The reader may have gone; the status still says what happened.
            let _ = stdout.write_all(answer.output.as_bytes());
            let _ = stdout.flush();
            if let Some(reason) = answer.reason {
                eprintln!("flotilla-run: {reason}");
            }
            ExitCode::from(answer.code)
        }
        Err(error) => {
            eprintln!("flotilla-run: {error}");
            ExitCode::from(NOT_RUN)
        }
    }
}

/// One request and its answer.
fn ask(socket: &Path, argv: Vec<OsString>) -> Result<RunAnswer, String> {
    let argv = argv
        .into_iter()
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| format!("argument {arg:?} is not UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if argv.is_empty() {
        return Err("usage: flotilla-run <command> [arguments…]".to_owned());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut line = serde_json::to_vec(&RunRequest { argv, cwd }).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach Flotilla at {}: {e}", socket.display()))?;
    stream
        .write_all(&line)
        .map_err(|e| format!("cannot send the command: {e}"))?;
    let mut answer = String::new();
    BufReader::new(std::io::Read::take(stream, MAX_LINE))
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    serde_json::from_str(&answer).map_err(|e| format!("Flotilla's answer is unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_quotes_its_paths_and_passes_every_argument() {
        let script = launcher_script(Path::new("/opt/it's/flotilla"), Path::new(DIR_INSIDE));
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains(
            "exec '/opt/it'\\''s/flotilla' sandbox-run --socket '/run/flotilla-run/sock' -- \"$@\"\n"
        ));
    }
}
