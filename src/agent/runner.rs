//! Runs one agent command to its end and records how it ended.
//!
//! The runner owns the process side of an attempt: a private directory with the prompt
//! and result files, the allowlisted environment, the agent's own process group, the
//! prompt on stdin, a capped transcript, and the time limit after which the whole group
//! is stopped. It decides nothing about tasks: the outcome is data for the orchestrator.
//! It must never hand an agent a credential nor leave one of its processes running.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::env::{self, EnvError, HostEnv};
use super::group::{KillOnDrop, ProcessGroup};
use super::outcome::Outcome;
use super::result::RESULT_FILE_CAP;
use super::transcript::CappedBuffer;
use super::usage::{Usage, UsageFormat, UsageReader};
use crate::sandbox::{Confinement, Launch, Sandbox, SandboxError};

/// How long output pipes may stay open after the group is gone (a process that left the
/// group with `setsid` could hold them forever).
const DRAIN: Duration = Duration::from_secs(2);

/// What an agent is asked to do; it shapes the prompt and which answer is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes the change for a task.
    Worker,
    /// Proposes how an issue splits into tasks.
    Planner,
    /// Tries to refute a change through one lens.
    Reviewer,
}

impl Role {
    /// The value of `FLOTILLA_ROLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Planner => "planner",
            Role::Reviewer => "reviewer",
        }
    }
}

/// One argument of a program, resolved when the run's private files exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Passed as written.
    Text(String),
    /// The path of the prompt file (for CLIs that read their message from a file).
    PromptFile,
    /// The path of the result file.
    ResultFile,
}

/// How the agent is started: a program with arguments, or a shell command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentCommand {
    /// A program looked up on the agent's `PATH`.
    Program {
        /// The program name or path.
        program: String,
        /// Its arguments.
        args: Vec<Arg>,
        /// Variables the adapter sets for the CLI (switches that keep it from phoning
        /// home); they win over pass-through names of the same name.
        env: Vec<(String, String)>,
    },
    /// A command line run with `sh -c`, for the generic `command` adapter.
    Shell(String),
}

impl AgentCommand {
    /// The program and its arguments, with the private files named as the agent sees
    /// them.
    fn argv(&self, prompt_file: &Path, result_file: &Path) -> (OsString, Vec<OsString>) {
        match self {
            AgentCommand::Program { program, args, .. } => (
                program.into(),
                args.iter()
                    .map(|arg| match arg {
                        Arg::Text(text) => OsString::from(text),
                        Arg::PromptFile => prompt_file.into(),
                        Arg::ResultFile => result_file.into(),
                    })
                    .collect(),
            ),
            AgentCommand::Shell(line) => ("sh".into(), vec!["-c".into(), line.into()]),
        }
    }

    fn program(&self) -> &str {
        match self {
            AgentCommand::Program { program, .. } => program,
            AgentCommand::Shell(_) => "sh",
        }
    }

    fn env(&self) -> &[(String, String)] {
        match self {
            AgentCommand::Program { env, .. } => env,
            AgentCommand::Shell(_) => &[],
        }
    }
}

/// Everything needed to run one agent attempt.
#[derive(Clone, Debug)]
pub struct AgentRun {
    /// What to start.
    pub command: AgentCommand,
    /// Where it runs: the task's worktree.
    pub working_dir: PathBuf,
    /// The prompt, given on stdin and in `FLOTILLA_PROMPT_FILE`.
    pub prompt: String,
    /// `FLOTILLA_ROLE`.
    pub role: Role,
    /// `FLOTILLA_TASK_ID`.
    pub task_id: String,
    /// `FLOTILLA_TASK_TITLE`.
    pub task_title: String,
    /// `FLOTILLA_LENS`, for reviewers.
    pub lens: Option<String>,
    /// After this, the whole process group is stopped and the run has timed out.
    pub time_limit: Duration,
    /// Between `SIGTERM` and `SIGKILL`, for the agent to clean up.
    pub kill_grace: Duration,
    /// Names passed through from Flotilla's environment; credentials are refused.
    pub pass_env: Vec<String>,
    /// The most bytes of output kept in the transcript (and of stdout for the answer).
    pub transcript_cap: usize,
    /// What the sandbox lets it see and use besides its working directory.
    pub confinement: Confinement,
    /// The format its stdout reports usage in, read while it runs.
    pub usage_format: UsageFormat,
    /// Stops the whole run once the usage read so far reaches it.
    pub usage_cap: Option<UsageCap>,
}

/// The most an agent run may use, checked on every usage update its CLI streams.
#[derive(Clone)]
pub struct UsageCap {
    /// What the cap is, for the outcome's sentence (`the task's budget of $2.00`).
    pub what: String,
    /// Whether `usage` has reached the cap.
    pub reached: std::sync::Arc<dyn Fn(&Usage) -> bool + Send + Sync>,
}

impl std::fmt::Debug for UsageCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCap")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// What a finished run leaves for the record and for reading the agent's answer.
#[derive(Clone, Debug)]
pub struct AgentReport {
    /// How it ended.
    pub outcome: Outcome,
    /// stdout and stderr interleaved as they arrived, capped (head and tail kept).
    pub transcript: String,
    /// stdout alone, capped the same way: where an answer is looked for.
    pub stdout: String,
    /// What the agent wrote to `FLOTILLA_RESULT_FILE`, if it wrote it (at most
    /// [`RESULT_FILE_CAP`] + 1 bytes are read, so an oversized file is detectable).
    pub result_file: Option<Vec<u8>>,
    /// The pid of the agent, which is also its process group id.
    pub pid: Option<u32>,
    /// Wall time from start to the group being gone.
    pub elapsed: Duration,
    /// What the CLI reported its model used (nothing for CLIs that report none).
    pub usage: Usage,
}

/// Why a run could not even be prepared: Flotilla's problem, not the agent's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A configured pass-through name was refused.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The private directory for the prompt and result files could not be set up.
    #[error("could not prepare the agent's private directory: {0}")]
    PrivateDir(#[source] std::io::Error),
    /// The sandbox could not be set up for this run.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl AgentRun {
    /// Runs the agent in `sandbox` to its end (exit, crash, time or resource limit)
    /// with an environment built from `host` through the allowlist. Returns only once
    /// every process it started is gone; dropping the future kills them.
    pub async fn run(&self, host: &HostEnv, sandbox: &Sandbox) -> Result<AgentReport, RunError> {
        let span = tracing::info_span!("agent", role = self.role.as_str(), task = %self.task_id);
        self.run_in_span(host, sandbox).instrument(span).await
    }

    async fn run_in_span(
        &self,
        host: &HostEnv,
        sandbox: &Sandbox,
    ) -> Result<AgentReport, RunError> {
        env::check_pass_env(&self.pass_env)?;
        let dir = tempfile::Builder::new()
            .prefix("flotilla-agent-")
            .tempdir()
            .map_err(RunError::PrivateDir)?;
        let prompt_file = dir.path().join("prompt.md");
        let result_file = dir.path().join("result.json");
        std::fs::write(&prompt_file, &self.prompt).map_err(RunError::PrivateDir)?;
        let seen = sandbox.private_view(dir.path());
        let (prompt_seen, result_seen) = (seen.join("prompt.md"), seen.join("result.json"));
        let mut env = env::build(
            host,
            &self.pass_env,
            self.flotilla_vars(&prompt_seen, &result_seen),
        )?;
        env.extend(
            self.command
                .env()
                .iter()
                .map(|(name, value)| (name.into(), value.into())),
        );
        let (program, args) = self.command.argv(&prompt_seen, &result_seen);
        let label = format!("{}-{}", self.task_id, self.role.as_str());
        let mut enclosure = sandbox
            .enclose(
                &label,
                &self.confinement,
                &self.working_dir,
                dir.path(),
                Launch { program, args, env },
            )
            .await?;

        enclosure
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);

        let started = Instant::now();
        let mut child = match enclosure.spawn() {
            Ok(child) => child,
            Err(error) => {
                let error = format!("`{}`: {error}", self.command.program());
                tracing::warn!(%error, "agent did not start");
                return Ok(AgentReport {
                    outcome: Outcome::SpawnFailed { error },
                    transcript: String::new(),
                    stdout: String::new(),
                    result_file: None,
                    pid: None,
                    elapsed: started.elapsed(),
                    usage: Usage::default(),
                });
            }
        };
        let pid = child.id();
        let group = pid.and_then(ProcessGroup::led_by);
        let guard = KillOnDrop::new(group);
        tracing::info!(pid, "agent started");

        let transcript = Arc::new(Mutex::new(CappedBuffer::new(self.transcript_cap)));
        let stdin_task = child.stdin.take().map(|mut stdin| {
            let prompt = self.prompt.clone().into_bytes();
            tokio::spawn(async move {
                // An agent that never reads stdin closes it; that is its right.
                if let Err(error) = stdin.write_all(&prompt).await {
                    tracing::debug!(%error, "agent did not take the prompt on stdin");
                }
            })
        });
        let (usage_tx, mut usage_rx) = tokio::sync::watch::channel(Usage::default());
        let stdout_task = child.stdout.take().map(|pipe| {
            let own = Some(Own {
                stdout: CappedBuffer::new(self.transcript_cap),
                usage: Meter::new(UsageReader::new(&self.usage_format), usage_tx),
            });
            tokio::spawn(pump(pipe, transcript.clone(), own))
        });
        let stderr_task = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(pump(pipe, transcript.clone(), None)));

        let ended = tokio::select! {
            status = child.wait() => Ended::Exited(outcome_of(status)),
            () = tokio::time::sleep(self.time_limit) => {
                tracing::warn!(limit = ?self.time_limit, "agent ran past its time limit");
                Ended::Stopped(Outcome::TimedOut { limit: self.time_limit })
            }
            breach = enclosure.watch() => {
                tracing::warn!(%breach, "agent exceeded a resource limit");
                Ended::Stopped(Outcome::LimitExceeded { breach })
            }
            () = cap_reached(&mut usage_rx, self.usage_cap.as_ref()) => {
                let budget = self.usage_cap.as_ref().map(|cap| cap.what.clone()).unwrap_or_default();
                tracing::warn!(%budget, "agent reached its budget");
                Ended::Stopped(Outcome::BudgetExceeded { budget })
            }
        };
        if let Some(group) = group
            && group.shut_down(self.kill_grace).await
            && matches!(ended, Ended::Exited(_))
        {
            tracing::warn!("processes the agent left behind needed SIGKILL");
        }
        let finished = enclosure.finish().await;
        if matches!(ended, Ended::Stopped(_))
            && let Err(error) = child.wait().await
        {
            tracing::warn!(%error, "could not collect the stopped agent");
        }
        guard.disarm();

        if let Some(task) = stdin_task {
            task.abort();
        }
        let own = match stdout_task {
            Some(task) => drain(task).await.flatten(),
            None => None,
        };
        let usage = usage_rx.borrow().clone();
        if let Some(task) = stderr_task {
            drain(task).await;
        }

        let mut transcript = std::mem::replace(
            &mut *transcript.lock().unwrap_or_else(|e| e.into_inner()),
            CappedBuffer::new(0),
        )
        .into_text();
        let outcome = match ended {
            Ended::Exited(exited) => {
                sandbox.exit_outcome(exited, &transcript, &finished, &self.confinement.limits)
            }
            Ended::Stopped(stopped) => stopped,
        };
        tracing::info!(reason = %outcome, "agent finished");
        for refused in &finished.refused {
            tracing::warn!(connection = %refused, "the egress proxy refused a connection of this agent");
            transcript.push_str(&format!(
                "\n[flotilla] refused a connection outside network.allow: {refused}\n"
            ));
        }
        Ok(AgentReport {
            outcome,
            transcript,
            stdout: own.map(|own| own.stdout.into_text()).unwrap_or_default(),
            result_file: self
                .offers_result_file()
                .then(|| read_result_file(&result_file))
                .flatten(),
            pid,
            elapsed: started.elapsed(),
            usage,
        })
    }

    /// Whether the agent gets a result file: planners and workers do. A reviewer does
    /// not: the code it runs (the change's tests) could write any file the reviewer
    /// can, so its verdict is only ever its own final answer.
    fn offers_result_file(&self) -> bool {
        self.role != Role::Reviewer
    }

    fn flotilla_vars(
        &self,
        prompt_file: &Path,
        result_file: &Path,
    ) -> Vec<(&'static str, OsString)> {
        let mut vars = vec![
            ("FLOTILLA_ROLE", self.role.as_str().into()),
            ("FLOTILLA_TASK_ID", self.task_id.clone().into()),
            ("FLOTILLA_TASK_TITLE", self.task_title.clone().into()),
            ("FLOTILLA_PROMPT_FILE", prompt_file.into()),
        ];
        if self.offers_result_file() {
            vars.push(("FLOTILLA_RESULT_FILE", result_file.into()));
        }
        if let Some(lens) = &self.lens {
            vars.push(("FLOTILLA_LENS", lens.clone().into()));
        }
        vars
    }
}

/// How the wait for an agent ended.
enum Ended {
    /// It exited on its own (or crashed), as its first process reports it.
    Exited(Outcome),
    /// Flotilla stopped it.
    Stopped(Outcome),
}

/// What stdout feeds besides the transcript: its own capped copy, where answers are
/// looked for, and the usage meter.
struct Own {
    stdout: CappedBuffer,
    usage: Meter,
}

/// Splits stdout into lines for a [`UsageReader`] and publishes each new total.
struct Meter {
    reader: UsageReader,
    partial: Vec<u8>,
    published: tokio::sync::watch::Sender<Usage>,
}

impl Meter {
    /// The longest line kept for the reader; a longer one is skipped whole (a usage
    /// event is a few hundred bytes, a file's contents echoed back can be anything).
    const MAX_LINE: usize = 4 << 20;

    fn new(reader: UsageReader, published: tokio::sync::watch::Sender<Usage>) -> Self {
        Self {
            reader,
            partial: Vec::new(),
            published,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let mut changed = false;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if self.partial.len() + piece.len() <= Self::MAX_LINE {
                self.partial.extend_from_slice(piece);
            } else {
                self.partial.clear();
                self.partial.push(0);
            }
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.partial);
                if let Ok(line) = std::str::from_utf8(&line) {
                    changed |= self.reader.line(line.trim_end());
                }
            }
        }
        if changed {
            self.published.send_replace(self.reader.usage());
        }
    }
}

/// Resolves once the published usage reaches `cap`; never without a cap.
async fn cap_reached(usage: &mut tokio::sync::watch::Receiver<Usage>, cap: Option<&UsageCap>) {
    let Some(cap) = cap else {
        return std::future::pending().await;
    };
    loop {
        if (cap.reached)(&usage.borrow_and_update()) {
            return;
        }
        if usage.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Copies a pipe into the shared transcript (and into `own`, if given) until EOF.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    transcript: Arc<Mutex<CappedBuffer>>,
    mut own: Option<Own>,
) -> Option<Own> {
    let mut chunk = vec![0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                transcript
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(&chunk[..n]);
                if let Some(own) = own.as_mut() {
                    own.stdout.push(&chunk[..n]);
                    own.usage.push(&chunk[..n]);
                }
            }
            Err(error) => {
                tracing::debug!(%error, "agent output pipe failed");
                break;
            }
        }
    }
    own
}

/// Waits a bounded time for a reader to reach EOF; abandons it after [`DRAIN`].
async fn drain<T>(mut task: tokio::task::JoinHandle<T>) -> Option<T> {
    match tokio::time::timeout(DRAIN, &mut task).await {
        Ok(joined) => joined.ok(),
        Err(_) => {
            tracing::warn!("agent output still open after its group was stopped; abandoned");
            task.abort();
            None
        }
    }
}

fn outcome_of(status: std::io::Result<ExitStatus>) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(0), _) => Outcome::Exited,
            (Some(code), _) => Outcome::Failed { code },
            (None, Some(signal)) => Outcome::Killed { signal },
            (None, None) => Outcome::Failed { code: -1 },
        },
        Err(error) => Outcome::SpawnFailed {
            error: format!("lost track of the agent process: {error}"),
        },
    }
}

fn read_result_file(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(RESULT_FILE_CAP)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    match file.take(limit).read_to_end(&mut bytes) {
        Ok(_) => Some(bytes),
        Err(error) => {
            tracing::warn!(%error, "could not read the agent's result file");
            None
        }
    }
}
