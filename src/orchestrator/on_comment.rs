//! `issue_comment.created`: the `/flotilla` commands, from people with write access.

use super::FleetHandlers;
use super::command::{self, Command, Parsed};
use super::text::{self, Outcome};
use super::trigger::{IssueSnapshot, SINGLE_TASK_LABEL, load_config, new_run, run_config};
use super::verify::NEEDS_HUMAN_LABEL;
use crate::github::InstallationClient;
use crate::store::{RunRecord, StartRun};
use crate::types::{DeliveryId, IssueNumber, PrNumber, RepoName};
use crate::webhook::event::{AccountKind, IssueCommentAction, IssueCommentEvent};

impl FleetHandlers {
    /// Reads a comment for a command and carries it out, answering on the same thread.
    pub(super) async fn on_comment(
        &self,
        delivery: &DeliveryId,
        event: &IssueCommentEvent,
    ) -> anyhow::Result<()> {
        if event.action != IssueCommentAction::Created || event.sender.kind == AccountKind::Bot {
            return Ok(());
        }
        let parsed = command::parse(&event.comment.body);
        if parsed == Parsed::NotACommand {
            return Ok(());
        }
        let client = self.client_of(event.installation.as_ref()).await?;
        let repo = &event.repository.full_name;
        let thread = event.issue.number;
        if !self
            .may_command(
                &client,
                repo,
                thread,
                delivery,
                &event.sender.login,
                "give Flotilla commands",
            )
            .await?
        {
            return Ok(());
        }
        let reply_key = format!("reply comment={}", event.comment.id);
        let reply = match parsed {
            Parsed::NotACommand => return Ok(()),
            Parsed::Unknown(text) => text::unknown_command(&text),
            Parsed::Command(command) => {
                let issue = self
                    .issue_of_thread(repo, thread, event.issue.is_pull_request)
                    .await?;
                let outcome = self.carry_out(&client, event, issue, &command).await?;
                text::command_reply(&command, &outcome)
            }
        };
        self.post_once(&client, repo, thread, &reply_key, &reply)
            .await
    }

    /// The issue a comment thread is about: itself, or for a task's pull request, the
    /// issue the task belongs to.
    async fn issue_of_thread(
        &self,
        repo: &RepoName,
        thread: IssueNumber,
        is_pull_request: bool,
    ) -> anyhow::Result<IssueNumber> {
        if !is_pull_request {
            return Ok(thread);
        }
        let Some(task) = self.store.task_by_pr(repo, PrNumber(thread.0)).await? else {
            return Ok(thread);
        };
        Ok(self
            .store
            .run(task.run_id)
            .await?
            .map(|run| run.spec.issue)
            .unwrap_or(thread))
    }

    /// Does what the command asks and says what happened.
    async fn carry_out(
        &self,
        client: &InstallationClient,
        event: &IssueCommentEvent,
        issue: IssueNumber,
        command: &Command,
    ) -> anyhow::Result<Outcome> {
        let repo = &event.repository.full_name;
        let run = self.store.latest_run(repo, issue).await?;
        match (command, run) {
            (Command::Status, run) => {
                let (tasks, spend) = match &run {
                    Some(run) => (
                        self.store.tasks_of_run(run.id).await?,
                        self.run_spend(run.id).await?,
                    ),
                    None => Default::default(),
                };
                Ok(Outcome::Report(text::status(
                    run.as_ref().map(|r| (r, tasks.as_slice(), &spend)),
                    issue,
                    self.fleet.config.dashboard.as_ref(),
                    &self.fleet.redactor(),
                )))
            }
            (Command::Budget, Some(run)) => Ok(Outcome::Report(self.budget_report(&run).await?)),
            (Command::Replan, run) => self.replan(client, event, issue, run).await,
            (_, None) => Ok(Outcome::NoRun(issue)),
            (Command::Retry(position), Some(run)) => {
                self.retry_tasks(client, &run, *position).await
            }
            (Command::Cancel, Some(run)) => self.cancel_now(&run).await,
        }
    }

    /// Queues the run's failed tasks again (all, or the one at `position`), or resumes
    /// a run a budget stopped once its configuration raised the budget; says what it did.
    /// `/flotilla retry` and the dashboard's Retry button both come here.
    pub(super) async fn retry_tasks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        position: Option<i64>,
    ) -> anyhow::Result<Outcome> {
        if run.budget_stopped.is_some() {
            let loaded = load_config(client, &run.spec.repo, &run.spec.default_branch).await?;
            let raised = match loaded.config {
                Ok(config) => config.budget,
                Err(error) => return Ok(Outcome::NotResumed(error.to_string())),
            };
            if let Err(still) = self.resume_budget(run, raised).await? {
                return Ok(Outcome::StillSpent(still.to_string()));
            }
            return self.resume_after_budget(client, run).await;
        }
        let attempts = run_config(run)?.max_attempts;
        let queued = self.store.retry_failed(run.id, position, attempts).await?;
        if queued.is_empty() {
            return Ok(Outcome::NothingToRetry);
        }
        for task in queued.iter().copied() {
            if let Some(pr) = self.store.task(task).await?.and_then(|t| t.pr) {
                client
                    .remove_label(&run.spec.repo, IssueNumber(pr.0), NEEDS_HUMAN_LABEL)
                    .await?;
            }
        }
        self.progress(run.id).await?;
        Ok(Outcome::Queued(queued.len()))
    }

    /// Stops a live run and its agents, leaving its pull requests open; says what it
    /// did. `/flotilla cancel` and the dashboard's Cancel button both come here.
    pub(super) async fn cancel_now(&self, run: &RunRecord) -> anyhow::Result<Outcome> {
        if !run.state.is_live() {
            return Ok(Outcome::NotRunning(run.spec.issue));
        }
        let cancelled = self.store.cancel_run(run.id).await?;
        self.progress(run.id).await?;
        Ok(Outcome::Cancelled {
            stopped: cancelled.len(),
            pulls: self.pulls_of(run).await?,
        })
    }

    /// Cancels the issue's live run, if any, and starts a new one from the issue as it
    /// is now.
    async fn replan(
        &self,
        client: &InstallationClient,
        event: &IssueCommentEvent,
        issue: IssueNumber,
        run: Option<RunRecord>,
    ) -> anyhow::Result<Outcome> {
        let repo = &event.repository.full_name;
        let loaded = load_config(client, repo, &event.repository.default_branch).await?;
        let config = match loaded.config {
            Ok(config) => config,
            Err(error) => return Ok(Outcome::NotReplanned(error.to_string())),
        };
        let mut cancelled = None;
        if let Some(run) = run.filter(|r| r.state.is_live()) {
            self.store.cancel_run(run.id).await?;
            self.progress(run.id).await?;
            cancelled = Some(self.pulls_of(&run).await?);
        }
        let current = client.get_issue(repo, issue).await?;
        let new_run = new_run(
            &event.repository,
            client.id(),
            IssueSnapshot {
                number: issue,
                title: &current.title,
                body: &current.body,
                force_single: current.labels.iter().any(|l| l == SINGLE_TASK_LABEL),
            },
            loaded.text,
            &config,
            &event.sender.login,
        );
        Ok(match self.store.start_run(&new_run).await? {
            StartRun::Started(id) => {
                self.fleet.wake_agents();
                Outcome::Replanning { run: id, cancelled }
            }
            StartRun::AlreadyLive => Outcome::AlreadyLive,
        })
    }

    /// The run's pull requests, which a cancel leaves open.
    async fn pulls_of(&self, run: &RunRecord) -> anyhow::Result<Vec<PrNumber>> {
        Ok(self
            .store
            .tasks_of_run(run.id)
            .await?
            .iter()
            .filter_map(|t| t.pr)
            .collect())
    }
}
