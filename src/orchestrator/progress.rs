//! Keeping a run moving and visible: starting what may start, settling finished runs,
//! and the plan comment edited in place, paced (`pacing`). Comments that must appear once (refusals,
//! failures, replies) go through [`post_once`], so a retried job never posts twice.

use std::collections::BTreeSet;

use anyhow::Context;

use super::FleetHandlers;
use super::pacing::EditSlot;
use super::scheduling;
use super::text;
use super::worker::CAPACITY_FRESH;
use crate::github::{CommentId, InstallationClient, IssueComment};
use crate::store::{NewJob, RunId, RunState, SlotLimits};
use crate::types::{IssueNumber, RepoName};

impl FleetHandlers {
    /// Posts `body` on an issue unless a comment carrying the marker for `key` is already
    /// there from the App's own bot (a previous attempt of the same job posted it before
    /// it crashed). The same marker in anyone else's comment is ignored, so nobody can
    /// silence Flotilla by posting it first.
    pub(crate) async fn post_once(
        &self,
        client: &InstallationClient,
        repo: &RepoName,
        issue: IssueNumber,
        key: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        let marker = text::marker(key);
        let existing = client.list_issue_comments(repo, issue).await?;
        if existing
            .iter()
            .any(|c| self.is_own(c) && c.body.contains(&marker))
        {
            tracing::info!(key, "comment already posted by an earlier attempt");
            return Ok(());
        }
        client
            .create_issue_comment(repo, issue, &format!("{marker}\n{body}"))
            .await?;
        Ok(())
    }

    /// Whether the App's own bot wrote the comment: its login is exactly
    /// `<slug>[bot]`, which no user can register (GitHub logins have no brackets).
    fn is_own(&self, comment: &IssueComment) -> bool {
        comment.author.0.strip_suffix("[bot]") == Some(self.app_slug.as_str())
    }

    /// After any change to a run's tasks: start what may start (in every run, since a
    /// freed slot may go to another run), settle runs whose tasks all ended, and bring
    /// the plan comments of the runs that changed up to date.
    pub(super) async fn progress(&self, changed: RunId) -> anyhow::Result<()> {
        let own = self.fleet.config.limits;
        let fleet_slots = self.store.fleet_agent_slots(CAPACITY_FRESH).await?;
        let limits = SlotLimits {
            global: fleet_slots.unwrap_or(own.global),
            ..own
        };
        let scheduled = self
            .store
            .schedule(|tasks| scheduling::decide(tasks, limits))
            .await?;
        if !scheduled.is_empty() {
            self.fleet.wake_agents();
        }
        let runs: BTreeSet<i64> = scheduled
            .into_iter()
            .chain([changed])
            .map(|run| run.0)
            .collect();
        for (task, head) in self.store.release_waiting_landings(changed).await? {
            tracing::info!(%task, "the landing train is free; trying to land again");
            let reason = format!("train-{}", uuid::Uuid::new_v4().simple());
            self.store
                .enqueue(&NewJob::land_task(task, &head, &reason))
                .await?;
        }
        for run in runs {
            self.settle_if_done(RunId(run)).await?;
            self.write_plan(RunId(run), PlanWrite::Paced).await?;
        }
        Ok(())
    }

    /// Ends an active run whose tasks have all reached an end state.
    async fn settle_if_done(&self, run: RunId) -> anyhow::Result<()> {
        let Some(record) = self.store.run(run).await? else {
            return Ok(());
        };
        if record.state != RunState::Active {
            return Ok(());
        }
        let tasks = self.store.tasks_of_run(run).await?;
        if tasks.iter().all(|t| t.state.is_final())
            && self.store.end_run(run, RunState::Settled).await?
        {
            tracing::info!(run = %run, "run settled");
        }
        Ok(())
    }

    /// Creates or edits the run's plan comment from the stored state, now. `retried`
    /// says the calling job may have posted it before a crash: then an existing comment
    /// with the plan's marker is adopted instead of posting a second one.
    pub(super) async fn publish_plan(&self, run: RunId, retried: bool) -> anyhow::Result<()> {
        self.write_plan(run, PlanWrite::Now { retried }).await
    }

    /// Writes every plan-comment edit still waiting for its slot, so a process that
    /// stops leaves the last state on GitHub.
    pub(super) async fn flush_plans(&self) -> anyhow::Result<()> {
        for run in self.fleet.plan_edits.waiting() {
            self.flush_plan(run).await?;
        }
        Ok(())
    }

    /// The scheduled edit of a run's plan comment, unless a flush already wrote it.
    async fn flush_plan(&self, run: RunId) -> anyhow::Result<()> {
        if self.fleet.plan_edits.take_scheduled(run) {
            self.write_plan(run, PlanWrite::Now { retried: false })
                .await?;
        }
        Ok(())
    }

    /// Sends the scheduled edit of a run's plan comment at `at`, in the background.
    fn schedule_plan_flush(&self, run: RunId, at: tokio::time::Instant) {
        let handlers = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Err(error) = handlers.flush_plan(run).await {
                tracing::warn!(%run, error = %format!("{error:#}"), "the plan comment could not be edited; the next change tries again");
            }
        });
    }

    /// Renders the plan comment and writes it when `how` allows: a paced write of a live
    /// run's existing comment waits for its slot ([`PlanEdits`](super::pacing::PlanEdits));
    /// text identical to the last write is never sent again.
    async fn write_plan(&self, run: RunId, how: PlanWrite) -> anyhow::Result<()> {
        let lock = self.fleet.comment_lock(run);
        let _one_editor = lock.lock().await;
        let record = self.store.run(run).await?.context("run vanished")?;
        if record.plan_source.is_none() {
            return Ok(());
        }
        let tasks = self.store.tasks_of_run(run).await?;
        let spend = self.run_spend(run).await?;
        let body = format!(
            "{}\n{}",
            text::plan_marker(&record),
            text::plan(
                &record,
                &tasks,
                &spend,
                self.fleet.config.dashboard.as_ref(),
                &self.fleet.redactor()
            )
        );
        let retried = how == PlanWrite::Now { retried: true };
        let mut comment = record.plan_comment_id.map(CommentId);
        if comment.is_some() && self.fleet.plan_edits.unchanged(run, &body) {
            return Ok(());
        }
        if how == PlanWrite::Paced && comment.is_some() && record.state.is_live() {
            let interval = self.fleet.config.pacing.plan_edit_interval;
            match self
                .fleet
                .plan_edits
                .slot(run, tokio::time::Instant::now(), interval)
            {
                EditSlot::Now => {}
                EditSlot::Later(at) => {
                    self.schedule_plan_flush(run, at);
                    return Ok(());
                }
                EditSlot::Scheduled => return Ok(()),
            }
        }
        let client = self.fleet.client(record.spec.installation).await?;
        if comment.is_none() && retried {
            let marker = text::plan_marker(&record);
            comment = client
                .list_issue_comments(&record.spec.repo, record.spec.issue)
                .await?
                .into_iter()
                .find(|c| self.is_own(c) && c.body.contains(&marker))
                .map(|c| c.id);
            if let Some(id) = comment {
                self.store.set_plan_comment(run, id.0).await?;
            }
        }
        match comment {
            Some(id) => {
                client
                    .update_issue_comment(&record.spec.repo, id, &body)
                    .await?;
            }
            None => {
                let posted = client
                    .create_issue_comment(&record.spec.repo, record.spec.issue, &body)
                    .await?;
                self.store.set_plan_comment(run, posted.id.0).await?;
            }
        }
        self.fleet
            .plan_edits
            .written(run, body, tokio::time::Instant::now());
        Ok(())
    }
}

/// How a plan comment is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanWrite {
    /// In the run's next edit slot (a run that ended, or a comment not posted yet, at
    /// once).
    Paced,
    /// At once; `retried` adopts a comment an earlier attempt of the job posted.
    Now {
        /// The calling job may have posted the comment before a crash.
        retried: bool,
    },
}
