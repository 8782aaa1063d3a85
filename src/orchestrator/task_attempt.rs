//! The `run_task` job: one attempt of one task. Flotilla gives the worker a throwaway
//! repository holding the task's starting commit, runs the agent there, and then — not
//! the agent — reads its files back, commits them in a repository only Flotilla
//! writes, pushes with a lease and opens (or updates) the draft pull request. Work that
//! was pushed but whose pull request GitHub did not take (an error, a crash) is
//! proposed by the next try without running the agent again.

use std::time::Duration;

use anyhow::Context;

use super::FleetHandlers;
use super::agents::{TaskLabel, agent_run};
use super::budget::{Allowance, Spender};
use super::context::TaskContext;
use super::prompt;
use super::steps::redacted_end;
use super::text;
use super::trigger::run_config;
use crate::agent::{AgentReport, Outcome, Role};
use crate::github::{InstallationClient, NewPull, PullRequest, PullUpdate};
use crate::redact::Redactor;
use crate::store::{
    AttemptEnd, ClaimedJob, NewStep, PendingProposal, RunRecord, StepEnd, StepKind, StepOutcome,
    TaskId, TaskRecord, TaskState,
};
use crate::types::CommitSha;
use crate::workspace::{GitAuth, Mirror, PushError, ReadBack, Worktree};

/// Bytes of the transcript kept for the pull request body and failure comments.
const TRANSCRIPT_EXCERPT: usize = 4000;

/// How an attempt ended before it is recorded, with the output to report.
struct Attempt {
    end: AttemptEnd,
    transcript: String,
}

impl Attempt {
    fn failed(reason: impl Into<String>, transcript: &str) -> Self {
        Self {
            end: AttemptEnd::Failed {
                reason: reason.into(),
            },
            transcript: transcript.to_owned(),
        }
    }

    fn stopped_by_budget(reason: String) -> Self {
        Self {
            end: AttemptEnd::Stopped { reason },
            transcript: String::new(),
        }
    }

    /// The attempt as the dashboard's step records it.
    fn step_end(&self, redactor: &Redactor) -> StepEnd {
        let (outcome, reason) = match &self.end {
            AttemptEnd::Proposed { pr, head, .. } => (
                StepOutcome::Succeeded,
                format!("proposed {head} in pull request #{pr}"),
            ),
            AttemptEnd::Failed { reason } => (StepOutcome::Failed, reason.clone()),
            AttemptEnd::Stopped { reason } => (StepOutcome::Failed, reason.clone()),
        };
        redacted_end(outcome, &reason, &self.transcript, redactor)
    }
}

/// Whether an agent's final message is not text a person could read: NUL bytes, or
/// mostly control and replacement characters.
fn looks_like_garbage(text: &str) -> bool {
    if text.contains('\0') {
        return true;
    }
    let total = text.chars().count();
    let bad = text
        .chars()
        .filter(|c| *c == '\u{FFFD}' || (c.is_control() && !c.is_whitespace()))
        .count();
    total > 0 && bad * 4 > total
}

impl FleetHandlers {
    /// Runs one attempt of a task and records how it ended. Failures of Flotilla's own
    /// steps fail the job (retried by the queue); on the job's last attempt they end
    /// the task's attempt instead, so a task never stays `working` forever.
    pub(super) async fn run_task(&self, task_id: TaskId, job: &ClaimedJob) -> anyhow::Result<()> {
        let task = self.store.task(task_id).await?.context("task not stored")?;
        if task.state != TaskState::Working {
            tracing::info!(
                state = task.state.as_str(),
                "task is not working any more; nothing to do"
            );
            return Ok(());
        }
        let run = self.run_of(&task).await?;
        let retried = job.tried_before();
        let redactor = self.fleet.redactor();
        let prompt = prompt::worker(&run, &task);
        let step = self
            .store
            .start_step(&NewStep {
                run: run.id,
                task: Some(task.id),
                kind: StepKind::Work,
                lens: None,
                attempt: Some(task.attempts),
                head: None,
                prompt: Some(redactor.text(&prompt)),
            })
            .await?;
        let attempt = match self.attempt(&run, &task, prompt, retried).await {
            Ok(attempt) => attempt,
            Err(error) if job.attempts >= job.max_attempts => {
                tracing::error!(error = %format!("{error:#}"), "the attempt could not be completed");
                Attempt::failed(
                    format!("Flotilla could not complete the attempt: {error:#}"),
                    "",
                )
            }
            Err(error) => return Err(error),
        };
        let state = self.store.finish_attempt(task_id, &attempt.end).await?;
        tracing::info!(?state, "attempt recorded");
        self.store
            .finish_step(step, &attempt.step_end(&redactor))
            .await?;
        if state.is_some() {
            self.metrics.attempt_finished(&attempt.end);
        }
        if state == Some(TaskState::Failed) {
            let task = self.store.task(task_id).await?.context("task not stored")?;
            let client = self.fleet.client(run.spec.installation).await?;
            self.post_once(
                &client,
                &run.spec.repo,
                run.spec.issue,
                &format!("failed {} attempt={}", task.id, task.attempts),
                &text::task_failed(&run, &task, &attempt.transcript, &self.fleet.redactor()),
            )
            .await?;
        }
        self.progress(run.id).await
    }

    /// The attempt itself, with the agent's `prompt`: worktree, agent, commit, push,
    /// pull request — or only the pull request, when an earlier try pushed the work and
    /// failed after.
    async fn attempt(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        prompt: String,
        retried: bool,
    ) -> anyhow::Result<Attempt> {
        let config = run_config(run)?;
        let client = self.fleet.client(run.spec.installation).await?;
        if let Some(pushed) = task
            .pending_proposal
            .clone()
            .filter(|pushed| task.head_sha.as_ref() == Some(&pushed.head))
        {
            tracing::info!(head = %pushed.head, "the task's work is pushed but not proposed; resuming at its pull request");
            return self
                .propose_pushed(&client, run, task, pushed, String::new(), true)
                .await;
        }
        let auth = GitAuth::new(client.token().await?);
        let mirror = Mirror::open(&self.fleet.config.data_dir, &run.spec.repo)?;
        let worktree = self.checkout(run, task, &mirror, &auth).await?;
        let cx = TaskContext {
            client: &client,
            run,
            task,
            config: &config,
        };
        let outcome = self.work_in(&cx, &auth, &worktree, prompt, retried).await;
        let lock = self.fleet.mirror_lock(&run.spec.repo);
        let _git = lock.lock().await;
        let removed = worktree.remove().await;
        let attempt = outcome?;
        removed?;
        Ok(attempt)
    }

    /// A fresh worktree on the task's branch: from the task's own pushed head when it
    /// has one (a retry after its change was refuted works on that change), else from
    /// the run's base commit or, for a task that builds on others, their pushed work. The mirror is fetched only
    /// when it lacks those commits (planning fetched it moments ago, on this machine).
    async fn checkout(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        mirror: &Mirror,
        auth: &GitAuth,
    ) -> anyhow::Result<Worktree> {
        let tasks = self.store.tasks_of_run(run.id).await?;
        let bases: Vec<CommitSha> = task
            .depends_on
            .iter()
            .filter_map(|p| tasks.iter().find(|t| t.position == *p))
            .filter_map(|t| t.head_sha.clone())
            .collect();
        let run_base = run.base_sha.clone().context("the run has no base commit")?;
        let lock = self.fleet.mirror_lock(&run.spec.repo);
        let _git = lock.lock().await;
        let own_head = task.head_sha.clone().map(|head| vec![head]);
        let needed = match &own_head {
            Some(head) => head.as_slice(),
            None if bases.is_empty() => std::slice::from_ref(&run_base),
            None => bases.as_slice(),
        };
        let mut present = true;
        for commit in needed {
            present = present && mirror.has_commit(commit).await;
        }
        if !present {
            mirror.ensure(&run.spec.clone_url, auth).await?;
        }
        let task_dir = task.id.to_string();
        mirror.remove_stale_worktree(&task_dir).await?;
        let first = needed.first().unwrap_or(&run_base);
        let merges: &[CommitSha] = match own_head {
            Some(_) => &[],
            None => bases.get(1..).unwrap_or_default(),
        };
        let worktree = mirror
            .add_worktree(
                &task_dir,
                &task.branch,
                &first.0,
                merges,
                &self.fleet.config.bot,
            )
            .await?;
        Ok(worktree)
    }

    /// Runs the agent in the worktree, then commits, pushes and proposes its work.
    async fn work_in(
        &self,
        cx: &TaskContext<'_>,
        auth: &GitAuth,
        worktree: &Worktree,
        prompt: String,
        retried: bool,
    ) -> anyhow::Result<Attempt> {
        let TaskContext {
            run, task, config, ..
        } = *cx;
        let spender = Spender {
            run,
            task: Some(task.id),
            role: Role::Worker,
            lens: None,
            attempt: Some(task.attempts),
            head: None,
        };
        let cap = match self.allowance(&spender, 1).await? {
            Allowance::Granted(cap) => cap,
            Allowance::Refused(reason) => return Ok(Attempt::stopped_by_budget(reason)),
        };
        let mut agent = agent_run(
            &self.fleet,
            &config.worker,
            worktree.dir(),
            config.sandbox,
            prompt,
            Role::Worker,
            TaskLabel {
                id: task.id.to_string(),
                title: task.title.clone(),
            },
        );
        agent.usage_cap = cap;
        let report: AgentReport = tokio::select! {
            report = agent.run(&self.fleet.config.host_env, &self.fleet.config.sandbox) => report.context("starting the worker agent")?,
            () = self.cancelled(task.id, self.fleet.config.cancel_poll) => {
                return Ok(Attempt::failed("cancelled while the agent was working", ""));
            }
        };
        self.record_spend(&spender, &report).await?;
        if let Outcome::BudgetExceeded { budget } = &report.outcome {
            return Ok(Attempt::stopped_by_budget(format!(
                "stopped at {budget}; its work was not kept"
            )));
        }
        let transcript = report.transcript.clone();
        if !report.outcome.is_success() {
            return Ok(Attempt::failed(report.outcome.reason(), &transcript));
        }
        let summary = match config.worker.to_adapter().final_message(&report.stdout) {
            Ok(summary) if !looks_like_garbage(&summary) => summary,
            Ok(_) => {
                return Ok(Attempt::failed(
                    "the agent's output is garbage (binary or control characters), not a summary",
                    &transcript,
                ));
            }
            Err(error) => {
                return Ok(Attempt::failed(
                    format!("the agent's output could not be read: {error}"),
                    &transcript,
                ));
            }
        };
        // The title may be a planner agent's words: the commit message that lands on the
        // default branch must not close or mention anything either.
        let title = self.fleet.redactor().text(&task.title);
        match worktree.read_back(&title, &self.fleet.config.bot).await? {
            ReadBack::Committed(_) => {}
            ReadBack::NoChange => {
                return Ok(Attempt::failed("the agent made no change", &transcript));
            }
            ReadBack::Refused(reason) => return Ok(Attempt::failed(reason, &transcript)),
        }
        let head = match self.push(run, task, auth, worktree).await? {
            Ok(head) => head,
            Err(reason) => return Ok(Attempt::failed(reason, &transcript)),
        };
        let excerpt = text::tail(&transcript, TRANSCRIPT_EXCERPT);
        let spent = self.store.spend_of_task(task.id).await?;
        let pushed = PendingProposal {
            head,
            title,
            body: text::pull_body(
                run,
                task,
                &summary,
                &excerpt,
                &spent,
                &self.fleet.redactor(),
            ),
            summary: text::tail(summary.trim(), 2000),
        };
        self.store.record_push(task.id, &pushed).await?;
        self.propose_pushed(cx.client, run, task, pushed, transcript, retried)
            .await
    }

    /// Opens or updates the pull request for work already pushed, and ends the attempt
    /// as proposed.
    async fn propose_pushed(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        pushed: PendingProposal,
        transcript: String,
        retried: bool,
    ) -> anyhow::Result<Attempt> {
        let pull = self
            .propose(client, run, task, pushed.title, pushed.body, retried)
            .await?;
        Ok(Attempt {
            end: AttemptEnd::Proposed {
                pr: pull.number,
                node_id: pull.node_id,
                head: pushed.head,
                summary: pushed.summary,
            },
            transcript,
        })
    }

    /// Pushes the task's branch with a lease on what Flotilla last pushed there. If the
    /// branch holds a commit Flotilla does not know, it is taken over only when its
    /// trailer names this task (a push whose record a crash lost); otherwise the
    /// attempt fails with the reason (`Ok(Err(_))`) and nothing is overwritten.
    async fn push(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        auth: &GitAuth,
        worktree: &Worktree,
    ) -> anyhow::Result<Result<CommitSha, String>> {
        match worktree
            .push(&run.spec.clone_url, auth, task.head_sha.as_ref())
            .await
        {
            Ok(head) => return Ok(Ok(head)),
            Err(PushError::Refused(reason)) => {
                return Ok(Err(format!("GitHub refused the push: {reason}")));
            }
            Err(PushError::Other(error)) => return Err(error),
            Err(PushError::StaleLease) => {}
        }
        let remote = worktree.remote_head(&run.spec.clone_url, auth).await?;
        let own_id = task.id.to_string();
        match remote {
            Some((sha, Some(trailer))) if trailer == own_id => {
                tracing::info!(%sha, "the branch holds an earlier push of this task; replacing it");
                match worktree.push(&run.spec.clone_url, auth, Some(&sha)).await {
                    Ok(head) => Ok(Ok(head)),
                    Err(PushError::StaleLease) => Ok(Err(format!(
                        "branch {} keeps moving under Flotilla; it was not overwritten",
                        task.branch
                    ))),
                    Err(PushError::Refused(reason)) => {
                        Ok(Err(format!("GitHub refused the push: {reason}")))
                    }
                    Err(PushError::Other(error)) => Err(error),
                }
            }
            _ => Ok(Err(format!(
                "branch {} was changed by someone else; Flotilla did not overwrite it",
                task.branch
            ))),
        }
    }

    /// Opens the task's draft pull request, or updates the one it already has. A job
    /// rerun after a crash first looks for a pull request it may have opened.
    async fn propose(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        title: String,
        body: String,
        retried: bool,
    ) -> anyhow::Result<PullRequest> {
        let mut existing = task.pr;
        if existing.is_none() && retried {
            existing = client
                .list_pulls_by_head(&run.spec.repo, &task.branch)
                .await?
                .into_iter()
                .find(|p| p.open)
                .map(|p| p.number);
        }
        let pull = match existing {
            Some(pr) => {
                client
                    .update_pull(
                        &run.spec.repo,
                        pr,
                        &PullUpdate {
                            title: Some(title),
                            body: Some(body),
                        },
                    )
                    .await?
            }
            None => {
                client
                    .create_pull(
                        &run.spec.repo,
                        &NewPull {
                            title,
                            head: task.branch.clone(),
                            base: run.spec.default_branch.clone(),
                            body,
                            draft: true,
                        },
                    )
                    .await?
            }
        };
        tracing::info!(pr = %pull.number, "draft pull request ready");
        Ok(pull)
    }

    /// Resolves once the task is no longer `working` (cancelled by a command or the
    /// issue closing, possibly by another process).
    async fn cancelled(&self, task: TaskId, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            match self.store.task(task).await {
                Ok(Some(record)) if record.state == TaskState::Working => {}
                Ok(_) => return,
                Err(error) => tracing::warn!(%error, "could not check for cancellation"),
            }
        }
    }
}
