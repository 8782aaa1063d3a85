//! What maintainers see of a verification: one check run, `flotilla/verify`, with every
//! lens's and gate's result in it (a table, each part's report, every annotation; a
//! verdict carried over from an earlier head marked as such) — created once, completed,
//! when the verification ends quickly, else once in progress and once completed
//! (`pacing`) — and one pull request review per lens and head that has something to
//! say: a refutation or findings from Flotilla's own App (its reviews are comments; an
//! upheld lens with nothing found is a row of the check run, not a notification), every
//! verdict from a separate reviewer App (approvals and change requests); none for a
//! carried verdict. What it is given has been through the redaction layer (`verify`
//! passes `Findings::redacted`).

use anyhow::Context;

use super::FleetHandlers;
use super::context::TaskContext;
use super::text::{self, CheckReport, SpentOn};
use super::verify::{Findings, LensFinding, REVERIFY_ACTION};
use crate::github::{
    CheckOutput, CheckRunAction, CheckRunId, CheckRunUpdate, CheckStatus, InstallationClient,
    NewCheckRun, NewReview, ReviewEvent,
};
use crate::review::{Decision, Given, VERIFY_CHECK, Verdict};
use crate::store::{RunRecord, TaskRecord, VerdictSource};
use crate::types::{CommitSha, Login, RepoName};

/// GitHub takes at most this many annotations per check-run request.
const ANNOTATIONS_PER_REQUEST: usize = 50;

/// Where a finished check's result goes.
pub(crate) enum CheckTarget {
    /// The check run already shown in progress.
    Started(CheckRunId),
    /// A check run not created yet: created once, completed.
    New {
        /// The check's name.
        name: String,
        /// The commit it reports on.
        head_sha: CommitSha,
        /// Our own key for it.
        external_id: String,
        /// The dashboard page it links to, when a dashboard serves.
        details_url: Option<String>,
    },
}

impl FleetHandlers {
    /// Shows the verification's `flotilla/verify` in progress, for a verification that
    /// outlasted `pacing.check_in_progress_after`.
    pub(super) async fn start_check(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<CheckRunId> {
        let details_url = self.verification_page(run, task, head);
        Ok(client
            .create_check_run(
                &run.spec.repo,
                &NewCheckRun {
                    name: VERIFY_CHECK.to_owned(),
                    head_sha: head.clone(),
                    details_url,
                    external_id: Some(task.id.to_string()),
                    report: CheckRunUpdate {
                        status: Some(CheckStatus::InProgress),
                        ..CheckRunUpdate::default()
                    },
                },
            )
            .await?)
    }

    /// Publishes the verification on `flotilla/verify`, with the "Re-verify" action:
    /// completes the run shown in progress, or creates it once, completed.
    pub(super) async fn finish_check(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        findings: &Findings,
        started: Option<CheckRunId>,
    ) -> anyhow::Result<()> {
        let lenses: Vec<(String, Verdict, Given)> = findings
            .lenses
            .iter()
            .map(|l| (l.lens.name.clone(), l.verdict.clone(), l.given.clone()))
            .collect();
        let spent = SpentOn {
            head: self.store.spend_of_head(task.id, head).await?,
            task: self.store.spend_of_task(task.id).await?,
        };
        let report = text::verification_report(&lenses, &findings.gates, &spent);
        let target = match started {
            Some(id) => CheckTarget::Started(id),
            None => CheckTarget::New {
                name: VERIFY_CHECK.to_owned(),
                head_sha: head.clone(),
                external_id: task.id.to_string(),
                details_url: self.verification_page(run, task, head),
            },
        };
        complete_check(
            client,
            &run.spec.repo,
            target,
            report,
            vec![reverify_action()],
        )
        .await?;
        tracing::info!(%head, "{VERIFY_CHECK} completed");
        Ok(())
    }

    /// The dashboard's page of this verification, which `flotilla/verify` links to as
    /// its details; `None` without a dashboard.
    fn verification_page(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> Option<String> {
        self.dashboard()
            .map(|links| links.verification(run.id, task.position, head))
    }

    /// Ends a `flotilla/verify` shown in progress whose verification a budget stopped:
    /// cancelled (which never satisfies branch protection), saying why, so it does not
    /// stay in progress until the run is resumed.
    pub(super) async fn stop_check(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        started: CheckRunId,
        reason: &str,
    ) -> anyhow::Result<()> {
        complete_check(
            client,
            &run.spec.repo,
            CheckTarget::Started(started),
            text::stopped_by_budget(reason),
            Vec::new(),
        )
        .await
    }

    /// Who posts the reviews: the separate reviewer App when one is configured (its
    /// reviews approve or request changes), else Flotilla's own App, whose reviews
    /// can only be comments on its own pull requests.
    pub(super) async fn reviewer(
        &self,
        run: &RunRecord,
        own: &InstallationClient,
    ) -> anyhow::Result<Reviewer> {
        let Some(app) = &self.fleet.config.reviewer_app else {
            return Ok(Reviewer {
                client: own.clone(),
                decides: false,
                bot: Login(format!("{}[bot]", self.app_slug)),
            });
        };
        let installation = app
            .installation_for_repo(&run.spec.repo)
            .await
            .with_context(|| format!("the reviewer App is not installed on {}", run.spec.repo))?;
        let slug = app
            .app_info()
            .await
            .context("asking for the reviewer App's slug")?
            .slug;
        Ok(Reviewer {
            client: app.installation(installation).await?,
            decides: true,
            bot: Login(format!("{slug}[bot]")),
        })
    }

    /// Posts one review per lens on the head, unless the head already has that lens's
    /// review (re-verification, or a job retried after a crash), the lens's verdict was
    /// carried over from an earlier head (which has its review), or the review would say
    /// nothing the check run does not ([`Reviewer::has_something_to_say`]).
    pub(super) async fn post_reviews(
        &self,
        cx: &TaskContext<'_>,
        reviewer: &Reviewer,
        head: &CommitSha,
        findings: &Findings,
        retried: bool,
    ) -> anyhow::Result<()> {
        let TaskContext {
            run, task, config, ..
        } = *cx;
        let pr = task
            .pr
            .context("a task under verification has a pull request")?;
        let lenses: Vec<&LensFinding> = findings
            .lenses
            .iter()
            .filter(|l| l.given == Given::Here && reviewer.has_something_to_say(&l.verdict))
            .collect();
        if lenses.is_empty() {
            return Ok(());
        }
        let recorded = self.store.verdicts(task.id, head).await?;
        let client = &reviewer.client;
        let posted_markers: Vec<String> = if retried {
            client
                .list_reviews(&run.spec.repo, pr)
                .await?
                .into_iter()
                .filter(|review| review.author == reviewer.bot)
                .map(|review| review.body)
                .collect()
        } else {
            Vec::new()
        };
        for finding in lenses {
            let (lens, verdict) = (&finding.lens, &finding.verdict);
            let already = recorded.iter().any(|v| {
                v.kind == VerdictSource::Lens && v.name == lens.name && v.review_id.is_some()
            }) || posted_markers
                .iter()
                .any(|body| body.contains(&text::review_marker(&lens.name, &head.0)));
            if already {
                tracing::info!(lens = %lens.name, "this head already has the lens's review");
                continue;
            }
            let draft = text::review(
                &lens.name,
                head,
                verdict,
                &findings.diff,
                config.verify.max_inline_comments as usize,
            );
            let event = match (reviewer.decides, verdict.decision) {
                (false, _) => ReviewEvent::Comment,
                (true, Decision::Upheld) => ReviewEvent::Approve,
                (true, Decision::Refuted) => ReviewEvent::RequestChanges,
            };
            let review = NewReview {
                commit_id: head.clone(),
                body: draft.body,
                event,
                comments: draft.comments,
            };
            let id = client.create_review(&run.spec.repo, pr, &review).await?;
            self.store
                .set_review_id(task.id, head, &lens.name, id.0)
                .await?;
        }
        Ok(())
    }
}

/// The client that posts reviews, whether its reviews may approve or request changes
/// (only a separate reviewer App's may), and its bot: only that bot's reviews count as
/// already posted, whatever marker another review carries.
pub(super) struct Reviewer {
    client: InstallationClient,
    decides: bool,
    bot: Login,
}

impl Reviewer {
    /// Whether a lens's verdict makes a review: a separate reviewer App's review is the
    /// approval or change request itself; Flotilla's own App's review is a comment,
    /// posted when the lens refuted or found something — "upheld, nothing found" is
    /// already a row of `flotilla/verify` and would only notify everyone watching.
    fn has_something_to_say(&self, verdict: &Verdict) -> bool {
        self.decides || verdict.decision == Decision::Refuted || !verdict.findings.is_empty()
    }
}

/// The "Re-verify" button on `flotilla/verify`.
pub(crate) fn reverify_action() -> CheckRunAction {
    CheckRunAction {
        label: "Re-verify".into(),
        description: "Run the gates and reviewers again".into(),
        identifier: REVERIFY_ACTION.into(),
    }
}

/// Publishes a finished check: the first request (completing the run shown in progress,
/// or creating it once, completed) carries the conclusion, the summary and up to 50
/// annotations; the rest of the annotations follow 50 at a time.
pub(crate) async fn complete_check(
    client: &InstallationClient,
    repo: &RepoName,
    target: CheckTarget,
    report: CheckReport,
    actions: Vec<CheckRunAction>,
) -> anyhow::Result<()> {
    let CheckReport {
        conclusion,
        output,
        annotations,
    } = report;
    let mut batches = annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let first = CheckOutput {
        annotations: batches.next().map(<[_]>::to_vec).unwrap_or_default(),
        ..output.clone()
    };
    let report = CheckRunUpdate {
        status: Some(CheckStatus::Completed),
        conclusion: Some(conclusion),
        output: Some(first),
        actions,
    };
    let id = match target {
        CheckTarget::Started(id) => {
            client.update_check_run(repo, id, &report).await?;
            id
        }
        CheckTarget::New {
            name,
            head_sha,
            external_id,
            details_url,
        } => {
            client
                .create_check_run(
                    repo,
                    &NewCheckRun {
                        name,
                        head_sha,
                        details_url,
                        external_id: Some(external_id),
                        report,
                    },
                )
                .await?
        }
    };
    for batch in batches {
        client
            .update_check_run(
                repo,
                id,
                &CheckRunUpdate {
                    status: None,
                    conclusion: None,
                    output: Some(CheckOutput {
                        annotations: batch.to_vec(),
                        ..output.clone()
                    }),
                    actions: Vec::new(),
                },
            )
            .await?;
    }
    Ok(())
}
