//! What a head needs before it lands: the required checks (read from the base's
//! protection), Flotilla's own `flotilla/verify` on that head, a person's approval where
//! one is required; and what happens when a check fails.

use anyhow::Context;

use crate::config::RepoConfig;
use crate::config::RequiredCheckName;
use crate::github::{CheckConclusion, CheckStatus, CommitState, InstallationClient, Review};
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::text::reasons;
use crate::review::VERIFY_CHECK;
use crate::store::{NewVerdict, RunRecord, TaskRecord, TaskState, VerdictOutcome, VerdictSource};
use crate::types::{AppId, CommitSha, Login, PrNumber};

use super::{RequiredChecks, Requirements, Source};
impl FleetHandlers {
    /// What the base branch requires: its rulesets' required checks (any App may read
    /// them), classic protection's where the App may read it (`administration: read`,
    /// which Flotilla's manifest does not ask for) — both as `branch_rules` last read
    /// them — and the configured checks.
    pub(super) async fn requirements(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        config: &RepoConfig,
    ) -> anyhow::Result<Requirements> {
        let own_app = self.fleet.config.app_id;
        let found = self
            .fleet
            .branch_rules
            .required_checks(
                client,
                &run.spec.repo,
                &run.spec.default_branch,
                self.fleet.config.pacing.branch_rules_ttl,
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
    pub(super) async fn required_checks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        requirements: &Requirements,
        head: &CommitSha,
    ) -> anyhow::Result<RequiredChecks> {
        if requirements.checks.is_empty() {
            return Ok(RequiredChecks::Passed);
        }
        let runs = client.list_check_runs(&run.spec.repo, &head.0).await?;
        let statuses = client.combined_status(&run.spec.repo, &head.0).await?;
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
                        other => failed.push((name, reasons::check_concluded(other))),
                    }
                }
                (Some(_), _) => pending.push(name),
                (None, Some(status)) if *source == Source::Anyone => match status.state {
                    CommitState::Success => {}
                    CommitState::Pending => pending.push(name),
                    CommitState::Failure | CommitState::Error => {
                        failed.push((name, reasons::status_failing()));
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
    pub(super) async fn checks_failed(
        &self,
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
        let feedback = reasons::required_checks_failed(failures);
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
        self.progress(run.id).await
    }

    /// With `require_human_approval` and no approval of this head yet: the task waits
    /// as `ready`, without auto-merge (GitHub's rules may not ask for the approval the
    /// config does). A review submitted later tries to land it again.
    pub(super) async fn wait_for_person(
        &self,
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
        self.progress(run.id).await
    }
}

/// Whether Flotilla's own `flotilla/verify` (created by this App, not a look-alike of
/// the same name) completed successfully on `head`, read back from GitHub just before a
/// REST merge.
pub(super) async fn own_verify_passed(
    client: &InstallationClient,
    run: &RunRecord,
    head: &CommitSha,
    own_app: AppId,
) -> anyhow::Result<bool> {
    let runs = client.list_check_runs(&run.spec.repo, &head.0).await?;
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
pub(super) async fn approved_by(
    client: &InstallationClient,
    run: &RunRecord,
    pr: PrNumber,
    head: &CommitSha,
) -> anyhow::Result<Option<Login>> {
    let reviews = client.list_reviews(&run.spec.repo, pr).await?;
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
                .collaborator_permission(&run.spec.repo, &review.author)
                .await?
                .can_command()
        {
            return Ok(Some(review.author.clone()));
        }
    }
    Ok(None)
}
