//! `issue_comment.created`: the `/flotilla` commands, from people with write access.

use super::Orchestrator;
use super::command::{self, Command, Parsed};
use super::comments;
use super::fleet::Fleet;
use super::trigger::{IssueSnapshot, SINGLE_TASK_LABEL, load_config, new_run, run_config};
use super::verify::NEEDS_HUMAN_LABEL;
use crate::github::InstallationClient;
use crate::store::{RunRecord, StartRun};
use crate::types::{DeliveryId, IssueNumber, PrNumber, RepoName};
use crate::webhook::event::{AccountKind, IssueCommentAction, IssueCommentEvent};

impl Orchestrator {
    /// Reads a comment for a command and carries it out, answering on the same thread.
    pub(super) async fn on_comment(
        &self,
        fleet: &Fleet,
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
        let installation = event
            .installation
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the delivery names no installation"))?;
        let client = fleet.client(installation.id).await?;
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
            Parsed::Unknown(text) => comments::unknown_command(&text),
            Parsed::Command(command) => {
                let issue = self
                    .issue_of_thread(repo, thread, event.issue.is_pull_request)
                    .await?;
                let outcome = self
                    .carry_out(fleet, &client, event, issue, &command)
                    .await?;
                match command {
                    Command::Status | Command::Budget => outcome,
                    _ => comments::command_reply(&command, &outcome),
                }
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
            .map(|run| run.issue)
            .unwrap_or(thread))
    }

    /// Does what the command asks and says what happened.
    async fn carry_out(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        event: &IssueCommentEvent,
        issue: IssueNumber,
        command: &Command,
    ) -> anyhow::Result<String> {
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
                Ok(comments::status(
                    run.as_ref().map(|r| (r, tasks.as_slice(), &spend)),
                    issue,
                    fleet.config.dashboard.as_ref(),
                    &fleet.redactor(),
                ))
            }
            (Command::Budget, Some(run)) => self.budget_report(fleet, &run).await,
            (Command::Replan, run) => self.replan(fleet, client, event, issue, run).await,
            (_, None) => Ok(format!("Flotilla has no run for #{issue}.")),
            (Command::Retry(position), Some(run)) => {
                self.retry_tasks(fleet, client, &run, *position).await
            }
            (Command::Cancel, Some(run)) => self.cancel_now(fleet, &run).await,
        }
    }

    /// Queues the run's failed tasks again (all, or the one at `position`), or resumes
    /// a run a budget stopped once its configuration raised the budget; says what it did.
    /// `/flotilla retry` and the dashboard's Retry button both come here.
    pub(super) async fn retry_tasks(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        run: &RunRecord,
        position: Option<i64>,
    ) -> anyhow::Result<String> {
        if run.budget_stopped.is_some() {
            let loaded = load_config(client, &run.repo, &run.default_branch).await?;
            let raised = match loaded.config {
                Ok(config) => config.budget,
                Err(error) => return Ok(format!("not resumed: {error}")),
            };
            if let Err(still) = self.resume_budget(fleet, run, raised).await? {
                return Ok(format!(
                    "not resumed: {still}. Raise `budget:` in `.github/flotilla.yml` \
                     on the default branch first."
                ));
            }
            return self.resume_after_budget(fleet, client, run).await;
        }
        let attempts = run_config(run)?.max_attempts;
        let queued = self.store.retry_failed(run.id, position, attempts).await?;
        if queued.is_empty() {
            return Ok("there is no failed task to retry.".to_owned());
        }
        for task in queued.iter().copied() {
            if let Some(pr) = self.store.task(task).await?.and_then(|t| t.pr) {
                client
                    .remove_label(&run.repo, IssueNumber(pr.0), NEEDS_HUMAN_LABEL)
                    .await?;
            }
        }
        self.progress(fleet, run.id).await?;
        Ok(format!("{} task(s) queued again.", queued.len()))
    }

    /// Stops a live run and its agents, leaving its pull requests open; says what it
    /// did. `/flotilla cancel` and the dashboard's Cancel button both come here.
    pub(super) async fn cancel_now(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
    ) -> anyhow::Result<String> {
        if !run.state.is_live() {
            return Ok(format!("the run for #{} is not running.", run.issue));
        }
        let cancelled = self.store.cancel_run(run.id).await?;
        self.progress(fleet, run.id).await?;
        Ok(format!(
            "run cancelled; {} task(s) stopped. {}",
            cancelled.len(),
            self.open_pulls_note(run).await?
        ))
    }

    /// Cancels the issue's live run, if any, and starts a new one from the issue as it
    /// is now.
    async fn replan(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        event: &IssueCommentEvent,
        issue: IssueNumber,
        run: Option<RunRecord>,
    ) -> anyhow::Result<String> {
        let repo = &event.repository.full_name;
        let loaded = load_config(client, repo, &event.repository.default_branch).await?;
        let config = match loaded.config {
            Ok(config) => config,
            Err(error) => return Ok(format!("not replanned: {error}")),
        };
        let mut note = String::new();
        if let Some(run) = run.filter(|r| r.state.is_live()) {
            self.store.cancel_run(run.id).await?;
            self.progress(fleet, run.id).await?;
            note = format!(
                "The previous run was cancelled. {}",
                self.open_pulls_note(&run).await?
            );
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
                fleet.wake_agents();
                format!("planning again (run {id}). {note}")
            }
            StartRun::AlreadyLive => "the issue already has a live run.".to_owned(),
        })
    }

    /// Names the run's pull requests, which stay open: Flotilla closes nothing silently.
    async fn open_pulls_note(&self, run: &RunRecord) -> anyhow::Result<String> {
        let pulls: Vec<String> = self
            .store
            .tasks_of_run(run.id)
            .await?
            .iter()
            .filter_map(|t| t.pr.map(|pr| format!("#{pr}")))
            .collect();
        Ok(if pulls.is_empty() {
            "No pull request was opened.".to_owned()
        } else {
            format!("Its pull requests stay open: {}.", pulls.join(", "))
        })
    }
}
