//! Flotilla's side of `flotilla-run` ([`crate::sandbox::separate`]): while a lens runs,
//! each command it hands over runs on a fresh writable checkout of the head, in a
//! sandbox of its own, and its output and status go back to the lens as data.
//!
//! The command shares nothing with the reviewer: not the PID namespace (it cannot see,
//! signal or trace the reviewer), not a writable path (its checkout is new and thrown
//! away), not the reviewer's `pass_env` (a model API key stays with the reviewer), and
//! no network. It is held to `verify.time_limit` and the repository's sandbox limits,
//! like the build gate.

use std::convert::Infallible;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::agent::{AgentCommand, Arg, Outcome};
use crate::orchestrator::fleet::Fleet;
use crate::sandbox::ResourceLimits;
use crate::sandbox::separate::{MAX_LINE, RunAnswer, RunRequest, SOCKET_NAME};
use crate::store::TaskRecord;
use crate::types::CommitSha;
use crate::workspace::{Checkout, VerifyStore};

use super::build::change_code_run;

/// The most commands one lens may run apart; later requests are refused.
pub(super) const MAX_RUNS_PER_LENS: usize = 32;
/// Pause after a failed `accept`, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Where and how a lens's commands run apart from it: the head it reviews and the
/// repository's limits.
#[derive(Clone, Copy)]
pub(super) struct SeparateRuns<'a> {
    pub(super) store: &'a VerifyStore,
    pub(super) head: &'a CommitSha,
    pub(super) base: &'a CommitSha,
    pub(super) time_limit: Duration,
    pub(super) limits: ResourceLimits,
}

/// The socket of one lens run, in a directory of its own that the sandbox binds in.
pub(super) struct Broker {
    dir: tempfile::TempDir,
    listener: UnixListener,
}

impl Broker {
    /// A fresh directory with a listening socket.
    pub(super) fn open() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-run-")
            .tempdir()
            .context("creating the flotilla-run directory")?;
        let listener =
            UnixListener::bind(dir.path().join(SOCKET_NAME)).context("binding flotilla-run")?;
        Ok(Self { dir, listener })
    }

    /// The directory the reviewer's sandbox binds in.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Who is asking: the lens, its task and the checkout it reviews.
pub(super) struct Asker<'a> {
    pub(super) fleet: &'a Fleet,
    pub(super) task: &'a TaskRecord,
    pub(super) lens: &'a str,
    pub(super) reviewer_tree: &'a Path,
}

impl SeparateRuns<'_> {
    /// Answers the lens's requests one at a time until the caller drops this future
    /// (the lens has ended), which also stops a command still running.
    pub(super) async fn serve(&self, broker: &Broker, asker: &Asker<'_>) -> Infallible {
        let mut runs = 0;
        loop {
            let stream = match broker.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "flotilla-run: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            runs += 1;
            if let Err(error) = self.answer(stream, runs, asker).await {
                tracing::warn!(error = format!("{error:#}"), "flotilla-run: request failed");
            }
        }
    }

    /// Reads one request, runs it (or refuses it) and writes the answer.
    async fn answer(
        &self,
        stream: UnixStream,
        number: usize,
        asker: &Asker<'_>,
    ) -> anyhow::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut line = String::new();
        BufReader::new(reader.take(MAX_LINE))
            .read_line(&mut line)
            .await
            .context("reading the request")?;
        let answer = match serde_json::from_str::<RunRequest>(&line) {
            Err(error) => refused(format!("the request is not readable: {error}")),
            Ok(request) if request.argv.is_empty() => refused("no command was given".to_owned()),
            Ok(_) if number > MAX_RUNS_PER_LENS => refused(format!(
                "a lens may run at most {MAX_RUNS_PER_LENS} commands apart"
            )),
            Ok(request) => self.run(request, number, asker).await?,
        };
        let mut text = serde_json::to_vec(&answer)?;
        text.push(b'\n');
        writer
            .write_all(&text)
            .await
            .context("sending the answer")?;
        Ok(())
    }

    /// Runs `request` on a checkout of its own, thrown away afterwards.
    async fn run(
        &self,
        request: RunRequest,
        number: usize,
        asker: &Asker<'_>,
    ) -> anyhow::Result<RunAnswer> {
        let name = format!(
            "{}-{}-run{number}",
            asker.task.id,
            self.head.abbreviated(12)
        );
        let mut checkout = Discard(Some(
            self.store.checkout(&name, self.head, self.base).await?,
        ));
        let dir = checkout.dir().to_owned();
        let within = relative_dir(&request.cwd, asker.reviewer_tree, &dir);
        tracing::info!(lens = asker.lens, argv = ?request.argv, "running a command apart from its lens");
        let mut args = vec![
            Arg::Text("-c".to_owned()),
            Arg::Text(r#"cd -- "$1" && shift && exec "$@""#.to_owned()),
            Arg::Text("flotilla-run".to_owned()),
            Arg::Text(within.to_string_lossy().into_owned()),
        ];
        args.extend(request.argv.into_iter().map(Arg::Text));
        let run = change_code_run(
            asker.fleet,
            asker.task,
            asker.lens,
            AgentCommand::Program {
                program: "sh".to_owned(),
                args,
                env: Vec::new(),
            },
            &dir,
            self.time_limit,
            self.limits,
        );
        let report = run
            .run(&asker.fleet.config.host_env, &asker.fleet.config.sandbox)
            .await;
        if let Some(checkout) = checkout.0.take() {
            checkout.remove().await?;
        }
        let report = report.context("starting a command apart from its lens")?;
        Ok(RunAnswer {
            code: exit_code(&report.outcome),
            output: report.transcript,
            reason: match report.outcome {
                Outcome::Exited | Outcome::Failed { .. } => None,
                outcome => Some(outcome.reason()),
            },
        })
    }
}

/// A command's checkout, removed in the background when the lens ends while the
/// command runs (its future is dropped then) instead of waiting for the start-up
/// reaper.
struct Discard(Option<Checkout>);

impl Discard {
    fn dir(&self) -> &Path {
        self.0.as_ref().map_or(Path::new(""), Checkout::dir)
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(checkout) = self.0.take() {
            tokio::spawn(async move {
                if let Err(error) = checkout.remove().await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "flotilla-run: a checkout was left behind"
                    );
                }
            });
        }
    }
}

/// An answer for a request that was not run.
fn refused(reason: String) -> RunAnswer {
    RunAnswer {
        code: 125,
        output: String::new(),
        reason: Some(reason),
    }
}

/// Where in the fresh checkout the command starts: the reviewer's directory `cwd`
/// relative to its tree, or the root when `cwd` is outside it or climbs out of it.
fn relative_dir(cwd: &Path, reviewer_tree: &Path, checkout: &Path) -> PathBuf {
    let relative = cwd
        .strip_prefix(reviewer_tree)
        .ok()
        .filter(|rel| rel.components().all(|c| matches!(c, Component::Normal(_))))
        .unwrap_or(Path::new(""));
    if checkout.join(relative).is_dir() {
        Path::new(".").join(relative)
    } else {
        PathBuf::from(".")
    }
}

/// The status the client exits with, as a shell would report it.
fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Exited => 0,
        Outcome::Failed { code } => u8::try_from(*code).ok().filter(|c| *c != 0).unwrap_or(1),
        Outcome::Killed { signal } => u8::try_from(128 + signal).unwrap_or(255),
        Outcome::TimedOut { .. } => 124,
        Outcome::LimitExceeded { .. } | Outcome::BudgetExceeded { .. } => 137,
        Outcome::SpawnFailed { .. } => 127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reviewers_directory_maps_onto_the_checkout_and_never_out_of_it() {
        let checkout = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(checkout.path().join("src/lib")).expect("dirs");
        let tree = Path::new("/v/review");
        let dir = |cwd: &str| relative_dir(Path::new(cwd), tree, checkout.path());
        assert_eq!(dir("/v/review/src/lib"), Path::new("./src/lib"));
        assert_eq!(dir("/v/review"), Path::new("."));
        assert_eq!(dir("/v/review/missing"), Path::new("."));
        assert_eq!(dir("/v/review/../review/src"), Path::new("."));
        assert_eq!(dir("/home/agent"), Path::new("."));
    }

    #[test]
    fn statuses_read_as_a_shell_would_report_them() {
        assert_eq!(exit_code(&Outcome::Exited), 0);
        assert_eq!(exit_code(&Outcome::Failed { code: 3 }), 3);
        assert_eq!(exit_code(&Outcome::Failed { code: 256 }), 1);
        assert_eq!(exit_code(&Outcome::Killed { signal: 9 }), 137);
        assert_eq!(
            exit_code(&Outcome::TimedOut {
                limit: Duration::from_secs(1)
            }),
            124
        );
    }
}
