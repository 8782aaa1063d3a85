//! What maintainers see of a verification: the check runs (`flotilla/<lens>`,
//! `flotilla/gates`, `flotilla/verify`, created in progress and completed with their
//! summaries and annotations, a verdict carried over from an earlier head marked as
//! such) and one pull request review per lens and head — none for a carried verdict —
//! from Flotilla's own App as comments, or from a separate reviewer App as approvals and
//! change requests. What it is given has been through the redaction layer (`verify`
//! passes `Findings::redacted`).

use std::collections::BTreeMap;

use anyhow::Context;

use super::Orchestrator;
use super::fleet::Fleet;
use super::verify::{Findings, REVERIFY_ACTION};
use crate::config::RepoConfig;
use crate::github::{
    CheckOutput, CheckRunAction, CheckRunId, CheckRunUpdate, CheckStatus, InstallationClient,
    NewCheckRun, NewReview, ReviewEvent,
};
use crate::review::report::{self, CheckReport};
use crate::review::{Decision, GATES_CHECK, Given, VERIFY_CHECK, Verdict, lens_check};
use crate::store::{RunRecord, TaskRecord};
use crate::types::{CommitSha, Login, RepoName};

/// GitHub takes at most this many annotations per check-run request.
const ANNOTATIONS_PER_REQUEST: usize = 50;

impl Orchestrator {
    /// Creates the check runs of this verification, in progress, so maintainers see it
    /// started.
    pub(super) async fn start_checks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        config: &RepoConfig,
        head: &CommitSha,
    ) -> anyhow::Result<BTreeMap<String, CheckRunId>> {
        let names = config
            .reviewers
            .iter()
            .map(|lens| lens_check(&lens.name))
            .chain([GATES_CHECK.to_owned(), VERIFY_CHECK.to_owned()]);
        let mut ids = BTreeMap::new();
        for name in names {
            let id = client
                .create_check_run(
                    &run.repo,
                    &NewCheckRun {
                        name: name.clone(),
                        head_sha: head.clone(),
                        status: CheckStatus::InProgress,
                        conclusion: None,
                        details_url: None,
                        external_id: Some(task.id.to_string()),
                        output: None,
                        actions: Vec::new(),
                    },
                )
                .await?;
            ids.insert(name, id);
        }
        Ok(ids)
    }

    /// Completes every check run with its conclusion, summary and annotations (sent
    /// 50 per request); `flotilla/verify` gets the "Re-verify" action.
    pub(super) async fn finish_checks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        head: &CommitSha,
        findings: &Findings,
        checks: &BTreeMap<String, CheckRunId>,
    ) -> anyhow::Result<()> {
        let mut reports: Vec<(String, CheckReport)> = findings
            .lenses
            .iter()
            .map(|l| {
                (
                    lens_check(&l.lens.name),
                    report::lens_output(&l.lens.name, &l.verdict, &l.given),
                )
            })
            .collect();
        reports.push((
            GATES_CHECK.to_owned(),
            report::gates_output(&findings.gates),
        ));
        let lenses: Vec<(String, Option<(Verdict, Given)>)> = findings
            .lenses
            .iter()
            .map(|l| {
                (
                    l.lens.name.clone(),
                    Some((l.verdict.clone(), l.given.clone())),
                )
            })
            .collect();
        reports.push((
            VERIFY_CHECK.to_owned(),
            report::verify_output(&lenses, Some(&findings.gates)),
        ));
        for (name, report) in reports {
            let id = match checks.get(&name) {
                Some(id) => *id,
                None => continue,
            };
            let actions = if name == VERIFY_CHECK {
                vec![reverify_action()]
            } else {
                Vec::new()
            };
            publish_check(client, &run.repo, id, report, actions).await?;
        }
        tracing::info!(%head, "check runs completed");
        Ok(())
    }

    /// Who posts the reviews: the separate reviewer App when one is configured (its
    /// reviews approve or request changes), else Flotilla's own App, whose reviews
    /// can only be comments on its own pull requests.
    pub(super) async fn reviewer(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        own: &InstallationClient,
    ) -> anyhow::Result<Reviewer> {
        let Some(app) = &fleet.config.reviewer_app else {
            return Ok(Reviewer {
                client: own.clone(),
                decides: false,
                bot: Login(format!("{}[bot]", self.app_slug)),
            });
        };
        let installation = app
            .installation_for_repo(&run.repo)
            .await
            .with_context(|| format!("the reviewer App is not installed on {}", run.repo))?;
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

    /// Posts one review per lens on the head, unless this head already has that
    /// lens's review (re-verification, or a job retried after a crash) or the lens's
    /// verdict was carried over from an earlier head (which has its review).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn post_reviews(
        &self,
        reviewer: &Reviewer,
        run: &RunRecord,
        task: &TaskRecord,
        config: &RepoConfig,
        head: &CommitSha,
        findings: &Findings,
        retried: bool,
    ) -> anyhow::Result<()> {
        let pr = task
            .pr
            .context("a task under verification has a pull request")?;
        let recorded = self.store.verdicts(task.id, head).await?;
        let client = &reviewer.client;
        let posted_markers: Vec<String> = if retried {
            client
                .list_reviews(&run.repo, pr)
                .await?
                .into_iter()
                .filter(|review| review.author == reviewer.bot)
                .map(|review| review.body)
                .collect()
        } else {
            Vec::new()
        };
        for finding in &findings.lenses {
            let (lens, verdict) = (&finding.lens, &finding.verdict);
            if let Given::CarriedFrom(from) = &finding.given {
                tracing::info!(lens = %lens.name, %from, "verdict carried over; no review");
                continue;
            }
            let already = recorded
                .iter()
                .any(|v| v.kind == "lens" && v.name == lens.name && v.review_id.is_some())
                || posted_markers
                    .iter()
                    .any(|body| body.contains(&report::review_marker(&lens.name, &head.0)));
            if already {
                tracing::info!(lens = %lens.name, "this head already has the lens's review");
                continue;
            }
            let draft = report::review(
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
            let id = client.create_review(&run.repo, pr, &review).await?;
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

/// The "Re-verify" button on `flotilla/verify`.
pub(crate) fn reverify_action() -> CheckRunAction {
    CheckRunAction {
        label: "Re-verify".into(),
        description: "Run the gates and reviewers again".into(),
        identifier: REVERIFY_ACTION.into(),
    }
}

/// Completes one check run: the first request carries the conclusion, the summary and
/// up to 50 annotations; the rest of the annotations follow 50 at a time.
pub(crate) async fn publish_check(
    client: &InstallationClient,
    repo: &RepoName,
    id: CheckRunId,
    report: CheckReport,
    actions: Vec<CheckRunAction>,
) -> anyhow::Result<()> {
    let CheckReport {
        conclusion,
        output,
        annotations,
    } = report;
    let mut batches = annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let first = batches.next().map(<[_]>::to_vec).unwrap_or_default();
    client
        .update_check_run(
            repo,
            id,
            &CheckRunUpdate {
                status: Some(CheckStatus::Completed),
                conclusion: Some(conclusion),
                output: Some(CheckOutput {
                    annotations: first,
                    ..output.clone()
                }),
                actions,
            },
        )
        .await?;
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
