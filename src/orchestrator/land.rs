//! The `land_task` job: a verified head lands once every required check succeeded on
//! it — ready for review, then auto-merge or a REST merge guarded by the head — one
//! merge at a time per repository. After a merge the run's other pull requests are
//! brought up to the new base and verified again, and a run whose tasks all merged
//! closes its issue.
//!
//! Landing is bound to what was verified: auto-merge is used only where the App can
//! read that the base requires `flotilla/verify` from this App (a ruleset, or classic
//! protection where `administration: read` was granted); otherwise the merge is a REST
//! merge of the verified sha, made only after re-reading Flotilla's own successful
//! `flotilla/verify` on it. A required human approval is checked here too: a person
//! with write access approved that very head.
//!
//! Every GitHub answer on the way is an outcome, not a crash: a head that moved (409)
//! is verified again, a pull request that cannot merge (405) is examined, a conflict
//! goes to a person.

use std::time::Duration;

use anyhow::Context;

use super::Orchestrator;
use super::comments;
use super::context::TaskContext;
use super::fleet::Fleet;
use super::trigger::run_config;
use crate::config::RepoConfig;
use crate::config::RequiredCheckName;
use crate::github::{
    CheckConclusion, CheckRun, CheckStatus, CommitState, GithubError, InstallationClient,
    MergeOutcome, MergeStateStatus, PullState, Review,
};
use crate::review::VERIFY_CHECK;
use crate::store::{
    ClaimedJob, NewJob, NewVerdict, RunRecord, TaskId, TaskRecord, TaskState, VerdictOutcome,
    VerdictSource,
};
use crate::types::{AppId, CommitSha, Login, PrNumber};

/// How long a landing job waits for another merge in the same repository.
const MERGE_LOCK_WAIT: Duration = Duration::from_secs(120);

/// How long a merge lock is held at most (a crashed holder loses it after this).
const MERGE_LOCK_LEASE: Duration = Duration::from_secs(300);

/// How often the merge lock is tried while another merge runs.
const MERGE_LOCK_POLL: Duration = Duration::from_millis(250);

/// Who must have reported a required check.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// Any check run or commit status of that name.
    Anyone,
    /// Only a check run of the App with this id (protection's `app_id`, a ruleset's
    /// `integration_id`).
    AppId(AppId),
    /// Only a check run of the App with this slug (`name@slug` in the config).
    AppSlug(String),
}

impl Source {
    /// Whether `run` comes from this source.
    fn reported(&self, run: &CheckRun) -> bool {
        match self {
            Self::Anyone => true,
            Self::AppId(app) => run.app_id == Some(*app),
            Self::AppSlug(slug) => run.app_slug.as_deref() == Some(slug.as_str()),
        }
    }
}

/// What the base branch requires, as far as the App can read it.
struct Requirements {
    /// Checks that must succeed besides `flotilla/verify`: `(name, source)`.
    checks: Vec<(String, Source)>,
    /// A ruleset or readable protection requires `flotilla/verify` from this App (or
    /// from anyone): GitHub itself then refuses to merge a head it was not set on, so
    /// auto-merge is safe.
    verify_required: bool,
}

/// What the required checks say about a head.
enum RequiredChecks {
    /// Every required check succeeded.
    Passed,
    /// Some have not reported yet; a check event will try again.
    Pending(Vec<String>),
    /// Some failed: `(name, what it said)`.
    Failed(Vec<(String, String)>),
}

impl Orchestrator {
    /// Lands `head` of a task if it is verified and everything required holds. A task
    /// left `merging` by a job that died is taken up again: GitHub is asked first
    /// whether the merge already happened.
    pub(super) async fn land_task(
        &self,
        fleet: &Fleet,
        task_id: TaskId,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        let task = self.store.task(task_id).await?.context("task not stored")?;
        if task.head_sha.as_ref() != Some(head)
            || !matches!(
                task.state,
                TaskState::Verified | TaskState::Ready | TaskState::Merging
            )
        {
            tracing::info!(state = task.state.as_str(), "nothing to land for this head");
            return Ok(());
        }
        let run = self
            .store
            .run(task.run_id)
            .await?
            .context("run not stored")?;
        let config = run_config(&run)?;
        let tasks = self.store.tasks_of_run(run.id).await?;
        let waiting_for: Vec<i64> = task
            .depends_on
            .iter()
            .copied()
            .filter(|p| {
                tasks
                    .iter()
                    .any(|t| t.position == *p && t.state != TaskState::Merged)
            })
            .collect();
        if !waiting_for.is_empty() {
            tracing::info!(?waiting_for, "waiting for the tasks it builds on to merge");
            return Ok(());
        }
        let client = fleet.client(run.installation).await?;
        let requirements = self.requirements(fleet, &client, &run, &config).await?;
        match self
            .required_checks(&client, &run, &requirements, head)
            .await?
        {
            RequiredChecks::Pending(names) => {
                tracing::info!(?names, "waiting for required checks");
                return Ok(());
            }
            RequiredChecks::Failed(failures) => {
                return self
                    .checks_failed(fleet, &client, &run, &task, head, &failures)
                    .await;
            }
            RequiredChecks::Passed => {}
        }
        let pr = task.pr.context("a verified task has a pull request")?;
        let pull = client.pull_merge_state(&run.repo, pr).await?;
        match pull.state {
            PullState::Merged => {
                return self.record_merge(fleet, &client, &run, &task, None).await;
            }
            PullState::Closed => {
                tracing::info!(%pr, "the pull request was closed by someone; not landing it");
                return Ok(());
            }
            PullState::Open => {}
        }
        if pull.head_sha != *head {
            self.store
                .new_head(task.id, &pull.head_sha, "head-moved")
                .await?;
            return self.progress(fleet, run.id).await;
        }
        if pull.is_draft {
            client.mark_ready_for_review(&pull.node_id).await?;
        }
        if config.landing.require_human_approval {
            match approved_by(&client, &run, pr, head).await? {
                Some(person) => {
                    tracing::info!(%person, "a person with write access approved this head")
                }
                None => return self.wait_for_person(fleet, &run, &task, head).await,
            }
        }
        let holder = format!("{}:{}:job-{}", task.id, head, job.id);
        self.lock_merges(&run, &holder).await?;
        let cx = TaskContext {
            fleet,
            client: &client,
            run: &run,
            task: &task,
            config: &config,
        };
        let merged = self.merge(&cx, head, &pull.node_id, &requirements).await;
        self.store.unlock_merges(&run.repo, &holder).await?;
        merged?;
        self.progress(fleet, run.id).await
    }

    /// What the base branch requires: its rulesets' required checks (any App may read
    /// them), classic protection's where the App may read it (`administration: read`,
    /// which Flotilla's manifest does not ask for) — both as `branch_rules` last read
    /// them — and the configured checks.
    async fn requirements(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        run: &RunRecord,
        config: &RepoConfig,
    ) -> anyhow::Result<Requirements> {
        let own_app = fleet.config.app_id;
        let found = fleet
            .branch_rules
            .required_checks(
                client,
                &run.repo,
                &run.default_branch,
                fleet.config.pacing.branch_rules_ttl,
            )
            .await?;
        let verify_required = found
            .iter()
            .any(|c| c.context == VERIFY_CHECK && c.app_id.is_none_or(|app| app == own_app));
        let mut checks: Vec<(String, Source)> = found
            .into_iter()
            .map(|c| {
                let source = c.app_id.map_or(Source::Anyone, Source::AppId);
                (c.context, source)
            })
            .collect();
        for RequiredCheckName { name, app_slug } in config.landing.required_check_names() {
            let source = app_slug.map_or(Source::Anyone, Source::AppSlug);
            if !checks.iter().any(|(n, s)| *n == name && *s == source) {
                checks.push((name, source));
            }
        }
        checks.retain(|(name, _)| name != VERIFY_CHECK);
        Ok(Requirements {
            checks,
            verify_required,
        })
    }

    /// Which required checks (besides `flotilla/verify`, which this verification just
    /// set) succeeded on `head`. A check bound to an App counts only that App's check
    /// runs; an unbound one also a commit status of that name.
    async fn required_checks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        requirements: &Requirements,
        head: &CommitSha,
    ) -> anyhow::Result<RequiredChecks> {
        if requirements.checks.is_empty() {
            return Ok(RequiredChecks::Passed);
        }
        let runs = client.list_check_runs(&run.repo, &head.0).await?;
        let statuses = client.combined_status(&run.repo, &head.0).await?;
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        for (name, source) in &requirements.checks {
            let check = runs
                .iter()
                .filter(|r| r.name == *name && source.reported(r))
                .max_by_key(|r| r.id.0);
            let status = statuses.statuses.iter().find(|s| s.context == *name);
            let name = name.clone();
            match (check, status) {
                (Some(check), _) if check.status == CheckStatus::Completed => {
                    match check.conclusion {
                        Some(conclusion) if conclusion.satisfies_requirement() => {}
                        other => failed.push((
                            name,
                            format!("check run concluded {}", conclusion_word(other)),
                        )),
                    }
                }
                (Some(_), _) => pending.push(name),
                (None, Some(status)) if *source == Source::Anyone => match status.state {
                    CommitState::Success => {}
                    CommitState::Pending => pending.push(name),
                    CommitState::Failure | CommitState::Error => {
                        failed.push((name, "commit status is failing".to_owned()));
                    }
                },
                (None, _) => pending.push(name),
            }
        }
        Ok(if !failed.is_empty() {
            RequiredChecks::Failed(failed)
        } else if !pending.is_empty() {
            RequiredChecks::Pending(pending)
        } else {
            RequiredChecks::Passed
        })
    }

    /// A required check (CI) failed on a verified head: like a refutation, it goes
    /// back to the worker with what failed while attempts are left, and to a person
    /// after the last one.
    async fn checks_failed(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        failures: &[(String, String)],
    ) -> anyhow::Result<()> {
        for (name, summary) in failures {
            self.record_verdict(
                task.id,
                head,
                &NewVerdict {
                    source: VerdictSource::Check,
                    name: name.clone(),
                    outcome: VerdictOutcome::Failed,
                    summary: summary.clone(),
                    detail: serde_json::json!({ "check": name, "summary": summary }),
                    output: None,
                    patch_id: None,
                    carried_from: None,
                },
            )
            .await?;
        }
        let feedback = format!(
            "required checks failed on the previous change: {}. Make them pass on the same \
             branch.",
            failures
                .iter()
                .map(|(name, summary)| format!("`{name}` ({summary})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let next = if task.attempts < task.max_attempts {
            TaskState::Refuted
        } else {
            TaskState::NeedsHuman
        };
        let moved = self
            .store
            .move_task(
                task.id,
                head,
                &[TaskState::Verified, TaskState::Ready],
                next,
                Some(&feedback),
            )
            .await?;
        tracing::info!(
            ?failures,
            moved,
            next = next.as_str(),
            "required checks failed"
        );
        if moved && next == TaskState::NeedsHuman {
            let task = self.store.task(task.id).await?.context("task not stored")?;
            self.hand_to_human(client, run, &task, head).await?;
        }
        self.progress(fleet, run.id).await
    }

    /// With `require_human_approval` and no approval of this head yet: the task waits
    /// as `ready`, without auto-merge (GitHub's rules may not ask for the approval the
    /// config does). A review submitted later tries to land it again.
    async fn wait_for_person(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let note = "ready for review; waiting for a person with write access to approve this head";
        self.store
            .move_task(
                task.id,
                head,
                &[TaskState::Verified],
                TaskState::Ready,
                Some(note),
            )
            .await?;
        tracing::info!(note, "waiting for a person");
        self.progress(fleet, run.id).await
    }

    /// Takes the repository's merge lock, waiting for another merge to finish.
    async fn lock_merges(&self, run: &RunRecord, holder: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + MERGE_LOCK_WAIT;
        while !self
            .store
            .try_lock_merges(&run.repo, holder, MERGE_LOCK_LEASE)
            .await?
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "another merge in {} has held the merge lock for over {:?}",
                run.repo,
                MERGE_LOCK_WAIT
            );
            tokio::time::sleep(MERGE_LOCK_POLL).await;
        }
        Ok(())
    }

    /// Merges under the lock: a pull request behind a strict base is first brought up
    /// to date (and verified again), one that conflicts goes to a person; otherwise
    /// auto-merge guarded by the head where the base is known to require
    /// `flotilla/verify`, or a REST merge of the verified sha once Flotilla's own
    /// `flotilla/verify` on it reads as passed.
    async fn merge(
        &self,
        cx: &TaskContext<'_>,
        head: &CommitSha,
        node_id: &str,
        requirements: &Requirements,
    ) -> anyhow::Result<()> {
        let TaskContext {
            fleet,
            client,
            run,
            task,
            config,
        } = *cx;
        let pr = task.pr.context("a verified task has a pull request")?;
        let state = client.pull_merge_state(&run.repo, pr).await?;
        if state.state == PullState::Merged {
            return self.record_merge(fleet, client, run, task, None).await;
        }
        if state.head_sha != *head {
            self.store
                .new_head(task.id, &state.head_sha, "head-moved")
                .await?;
            return Ok(());
        }
        if !self
            .store
            .move_task(
                task.id,
                head,
                &[TaskState::Verified, TaskState::Ready, TaskState::Merging],
                TaskState::Merging,
                None,
            )
            .await?
        {
            return Ok(());
        }
        match state.merge_state_status {
            MergeStateStatus::Behind => {
                return self.bring_up_to_date_to_land(client, run, task, head).await;
            }
            MergeStateStatus::Dirty => {
                let reason = format!("#{pr} conflicts with `{}`", run.default_branch);
                return self.conflict(client, run, task, head, &reason).await;
            }
            _ => {}
        }
        let method = config.landing.merge_method;
        if !requirements.verify_required {
            tracing::info!(
                "the base is not known to require {VERIFY_CHECK} from this App; merging the \
                 verified sha through REST, never by auto-merge"
            );
        } else {
            match client.enable_auto_merge(node_id, method, head).await {
                Ok(()) => {
                    tracing::info!("auto-merge enabled; GitHub merges once protection allows");
                    self.store
                        .move_task(
                            task.id,
                            head,
                            &[TaskState::Merging],
                            TaskState::Ready,
                            Some(
                                "auto-merge is on; GitHub merges it once branch protection allows",
                            ),
                        )
                        .await?;
                    return Ok(());
                }
                Err(GithubError::AutoMergeUnavailable { message }) => {
                    tracing::info!(%message, "auto-merge not available; merging through REST");
                }
                Err(error) => {
                    self.back_to_verified(task, head).await?;
                    return Err(error.into());
                }
            }
        }
        if !own_verify_passed(client, run, head, fleet.config.app_id).await? {
            self.back_to_verified(task, head).await?;
            tracing::warn!(%head, "Flotilla's own {VERIFY_CHECK} does not read as passed on this head; not merging");
            return Ok(());
        }
        match client.merge_pull(&run.repo, pr, head, method).await {
            Ok(MergeOutcome::Merged { sha }) => {
                tracing::info!(merged = %sha, "merged");
                self.record_merge(fleet, client, run, task, Some(sha)).await
            }
            Ok(MergeOutcome::NotMerged { message }) => {
                self.back_to_verified(task, head).await?;
                anyhow::bail!("GitHub did not merge #{pr}: {message}")
            }
            Err(GithubError::Conflict { message }) => {
                tracing::info!(%message, "the head moved during the merge");
                let pull = client.get_pull(&run.repo, pr).await?;
                if pull.merged {
                    return self.record_merge(fleet, client, run, task, None).await;
                }
                if !self
                    .store
                    .new_head(task.id, &pull.head_sha, "head-moved")
                    .await?
                {
                    self.back_to_verified(task, head).await?;
                }
                Ok(())
            }
            Err(GithubError::NotMergeable { message }) => {
                self.not_mergeable(client, run, task, head, &message).await
            }
            Err(error) => {
                self.back_to_verified(task, head).await?;
                Err(error.into())
            }
        }
    }

    /// GitHub refused the merge (405): find out why and act on it.
    async fn not_mergeable(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        message: &str,
    ) -> anyhow::Result<()> {
        let pr = task.pr.context("a verified task has a pull request")?;
        let state = client.pull_merge_state(&run.repo, pr).await?;
        tracing::info!(%message, status = ?state.merge_state_status, "GitHub refused the merge");
        match state.merge_state_status {
            MergeStateStatus::Dirty => {
                let reason = format!(
                    "#{pr} conflicts with `{}`; GitHub refused the merge: {message}",
                    run.default_branch
                );
                self.conflict(client, run, task, head, &reason).await
            }
            MergeStateStatus::Behind => {
                self.bring_up_to_date_to_land(client, run, task, head).await
            }
            _ => {
                self.back_to_verified(task, head).await?;
                tracing::warn!(%message, "not mergeable yet; the next check event tries again");
                Ok(())
            }
        }
    }

    /// Tries again to land the verified tasks that waited for `merged` to merge first
    /// (`depends_on`): nothing else would wake them when no update of their branch is
    /// coming.
    async fn land_dependents(&self, run: &RunRecord, merged: &TaskRecord) -> anyhow::Result<()> {
        for dependent in self.store.tasks_of_run(run.id).await? {
            if !dependent.depends_on.contains(&merged.position)
                || !matches!(dependent.state, TaskState::Verified | TaskState::Ready)
            {
                continue;
            }
            let Some(head) = dependent.head_sha.as_ref() else {
                continue;
            };
            let reason = format!("dependency-{}-merged", merged.id);
            self.store
                .enqueue(&NewJob::land_task(dependent.id, head, &reason))
                .await?;
        }
        Ok(())
    }

    /// A task that would land but is behind a base that wants branches up to date: it
    /// is brought up to date if it can take the run's landing train, else it waits as
    /// verified until the task holding the train merged or left review (`progress`
    /// wakes it), instead of being brought up to date again after every merge.
    async fn bring_up_to_date_to_land(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        if !self.store.take_landing_train(run.id, task.id).await? {
            tracing::info!(
                "behind its base while another task of the run is brought up to date to \
                 land; waiting for it"
            );
            return self.back_to_verified(task, head).await;
        }
        tracing::info!("behind its base; bringing it up to date first");
        self.update_branch(client, run, task, head).await
    }

    /// Undoes `merging` after a merge that did not happen.
    async fn back_to_verified(&self, task: &TaskRecord, head: &CommitSha) -> anyhow::Result<()> {
        self.store
            .move_task(
                task.id,
                head,
                &[TaskState::Merging],
                TaskState::Verified,
                None,
            )
            .await?;
        Ok(())
    }

    /// A merge happened (by Flotilla, or by GitHub's auto-merge): record it, and close
    /// the issue when the whole run merged. Where a person approves each head
    /// (`landing.require_human_approval`), the run's other pull requests are brought up
    /// to the new base now, so the head they approve is the one that lands; otherwise
    /// each is brought up to date when it lands, if protection asks for it (`merge`):
    /// one `update-branch` and one verification per task instead of one per task per
    /// merge before it, each a GitHub write its rate limit counts.
    pub(super) async fn record_merge(
        &self,
        fleet: &Fleet,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        merged: Option<CommitSha>,
    ) -> anyhow::Result<()> {
        let merged = match merged {
            Some(sha) => sha,
            None => {
                let pr = task.pr.context("a merged task has a pull request")?;
                client
                    .get_pull(&run.repo, pr)
                    .await?
                    .merge_commit_sha
                    .context("a merged pull request names its merge commit")?
            }
        };
        if !self.store.mark_merged(task.id, &merged).await? {
            return Ok(());
        }
        self.metrics.task_merged();
        tracing::info!(task = %task.id, %merged, "merge recorded");
        if run_config(run)?.landing.require_human_approval {
            for sibling in self.store.tasks_of_run(run.id).await? {
                // A sibling being verified right now is left as it is: updating it would
                // throw its lenses' work away, and its new head could carry no verdict
                // over (none is stored yet). Its landing brings it up to date.
                if sibling.id == task.id
                    || !sibling.state.is_in_review()
                    || sibling.state == TaskState::Verifying
                {
                    continue;
                }
                let Some(head) = sibling.head_sha.clone() else {
                    continue;
                };
                self.update_branch(client, run, &sibling, &head).await?;
            }
        } else {
            self.land_dependents(run, task).await?;
        }
        let tasks = self.store.tasks_of_run(run.id).await?;
        if tasks.iter().all(|t| t.state == TaskState::Merged) {
            self.close_run(client, run, &tasks).await?;
        }
        self.progress(fleet, run.id).await
    }

    /// Brings a pull request up to the base with GitHub's update-branch; a conflict
    /// goes to a person as `needs_human`. GitHub moves the head later (the call answers
    /// 202): its `pull_request.synchronize` webhook records the new head and verifies
    /// it, so nothing polls the pull request here.
    async fn update_branch(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let pr = task.pr.context("a task in review has a pull request")?;
        match client.update_pull_branch(&run.repo, pr, head).await {
            Ok(()) => {}
            Err(GithubError::Validation { message }) => {
                let state = client.pull_merge_state(&run.repo, pr).await?;
                if state.merge_state_status == MergeStateStatus::Dirty
                    || message.to_lowercase().contains("conflict")
                {
                    let reason = format!(
                        "#{pr} conflicts with `{}` after another task merged: {message}",
                        run.default_branch
                    );
                    return self.conflict(client, run, task, head, &reason).await;
                }
                if state.head_sha != *head {
                    self.store
                        .new_head(task.id, &state.head_sha, "head-moved")
                        .await?;
                    return Ok(());
                }
                return Err(GithubError::Validation { message }.into());
            }
            Err(error) => return Err(error.into()),
        }
        tracing::info!(%pr, "update-branch accepted; its pull_request.synchronize records the new head");
        Ok(())
    }

    /// A pull request that conflicts with its base: a person resolves it.
    async fn conflict(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<()> {
        let moved = self
            .store
            .move_task(
                task.id,
                head,
                &[
                    TaskState::Proposed,
                    TaskState::Verifying,
                    TaskState::Refuted,
                    TaskState::Verified,
                    TaskState::Ready,
                    TaskState::Merging,
                ],
                TaskState::NeedsHuman,
                Some(reason),
            )
            .await?;
        tracing::info!(moved, reason, "conflict with the base");
        if moved {
            let task = self.store.task(task.id).await?.context("task not stored")?;
            self.hand_to_human(client, run, &task, head).await?;
        }
        Ok(())
    }

    /// Every task merged: the summary on the issue, then (if configured) close it.
    async fn close_run(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        tasks: &[TaskRecord],
    ) -> anyhow::Result<()> {
        self.post_once(
            client,
            &run.repo,
            run.issue,
            &format!("merged run={}", run.id),
            &comments::all_merged(
                run,
                tasks,
                &self.run_spend(run.id).await?,
                &self.fleet()?.redactor(),
            ),
        )
        .await?;
        let config = run_config(run)?;
        if config.landing.close_issue {
            client.close_issue(&run.repo, run.issue).await?;
            tracing::info!(issue = %run.issue, "every task merged; issue closed");
        }
        Ok(())
    }
}

/// Whether Flotilla's own `flotilla/verify` (created by this App, not a look-alike of
/// the same name) completed successfully on `head`, read back from GitHub just before a
/// REST merge.
async fn own_verify_passed(
    client: &InstallationClient,
    run: &RunRecord,
    head: &CommitSha,
    own_app: AppId,
) -> anyhow::Result<bool> {
    let runs = client.list_check_runs(&run.repo, &head.0).await?;
    let ours = runs
        .iter()
        .filter(|r| r.name == VERIFY_CHECK && r.app_id == Some(own_app) && r.head_sha == *head)
        .max_by_key(|r| r.id.0);
    Ok(ours.is_some_and(|r| {
        r.status == CheckStatus::Completed && r.conclusion == Some(CheckConclusion::Success)
    }))
}

/// The person whose approval of `head` counts: the latest review of each reviewer
/// (comments aside) is an approval of exactly this head, the reviewer is a person (not
/// a bot or an App), and has write or admin access now. Branch protection has no say.
async fn approved_by(
    client: &InstallationClient,
    run: &RunRecord,
    pr: PrNumber,
    head: &CommitSha,
) -> anyhow::Result<Option<Login>> {
    let reviews = client.list_reviews(&run.repo, pr).await?;
    let mut latest: Vec<&Review> = Vec::new();
    for review in reviews
        .iter()
        .filter(|r| r.state != "COMMENTED" && r.state != "PENDING")
    {
        latest.retain(|r| r.author != review.author);
        latest.push(review);
    }
    for review in latest {
        let counts = review.state == "APPROVED"
            && review.commit_id.as_ref() == Some(head)
            && review.author_is_person;
        if counts
            && client
                .collaborator_permission(&run.repo, &review.author)
                .await?
                .can_command()
        {
            return Ok(Some(review.author.clone()));
        }
    }
    Ok(None)
}

/// A check conclusion as people read it.
fn conclusion_word(conclusion: Option<crate::github::CheckConclusion>) -> String {
    conclusion
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "without a conclusion".to_owned())
}
