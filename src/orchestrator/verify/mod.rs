//! The `verify_task` job: the deterministic gates and the reviewer lenses on one head
//! commit of a task, their verdicts recorded, the result published where maintainers
//! look (`publish`), and the task moved on — verified, back to its worker, or to a
//! person.
//!
//! Flotilla fetches the exact head by sha into its verification store (which no agent
//! ever sees), takes the diff from there, runs the build commands in a sandbox of their
//! own on a fresh checkout, then runs every lens as a separate agent at once on another
//! fresh checkout, read-only, with the build's output as data in its prompt: the
//! change's code never shares a writable path with the process whose answer is a
//! verdict. A reviewer's verdict is its own final answer on stdout, exactly one, given
//! by a reviewer that exited by itself; whatever a reviewer does wrong (crash, hang,
//! garbage, two verdicts) is a refutation with its reason, never a pass.
//!
//! A head that only merged a newer base into a change the lenses already judged gets
//! their verdicts carried over (`carry`) instead of running them again; the gates
//! always run.

mod build;
mod examine;
mod lens;
mod separate;

use anyhow::Context;

use super::FleetHandlers;
use super::context::TaskContext;
use super::text::{self, reasons};
use super::trigger::run_config;
use crate::config::Lens;
use crate::github::InstallationClient;
use crate::redact::Redactor;
use crate::review::diff::Diff;
use crate::review::{Decision, GateOutcome, GateResult, Given, Verdict};
use crate::store::{
    ClaimedJob, NewVerdict, PatchId, RunRecord, TaskId, TaskRecord, TaskState, VerdictOutcome,
    VerdictSource, VerifyEnd,
};
use crate::types::{CommitSha, IssueNumber};

/// The label a task's pull request gets when a person must take over.
pub const NEEDS_HUMAN_LABEL: &str = "flotilla:needs-human";

/// The identifier of the "Re-verify" check-run action.
pub(crate) const REVERIFY_ACTION: &str = "reverify";

/// A verification a budget stopped; `verify_head` turns it into a skipped head.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StoppedByBudget(String);

/// Everything one verification found on one head.
pub(super) struct Findings {
    /// Every gate's result.
    pub(super) gates: Vec<GateResult>,
    /// Every lens with its verdict, in configuration order.
    pub(super) lenses: Vec<LensFinding>,
    /// The change the gates and lenses examined; reviews anchor their comments in it.
    pub(super) diff: Diff,
    /// That change's patch-id, recorded with every verdict so a later head carrying
    /// the same change can be recognised.
    pub(super) patch_id: Option<PatchId>,
}

/// One lens's verdict on the head under verification.
pub(super) struct LensFinding {
    /// The lens.
    pub(super) lens: Lens,
    /// Its verdict.
    pub(super) verdict: Verdict,
    /// Whether the lens ran on this head or its verdict was carried over.
    pub(super) given: Given,
    /// The end of the reviewer's output on this head; empty when carried over.
    pub(super) transcript: String,
}

/// What one verification examines: a head, where it forked from the base branch, and
/// the change between the two.
struct Change {
    head: CommitSha,
    base: CommitSha,
    diff_text: String,
    diff_stat: String,
    patch_id: Option<PatchId>,
}

impl Findings {
    /// The findings as they may be published: every reviewer's and gate's text through
    /// the redaction layer, places and decisions unchanged.
    fn redacted(&self, redactor: &Redactor) -> Self {
        Self {
            gates: self.gates.iter().map(|g| redactor.gate(g)).collect(),
            lenses: self
                .lenses
                .iter()
                .map(|l| LensFinding {
                    lens: l.lens.clone(),
                    verdict: redactor.verdict(&l.verdict),
                    given: l.given.clone(),
                    transcript: redactor.text(&l.transcript),
                })
                .collect(),
            diff: self.diff.clone(),
            patch_id: self.patch_id.clone(),
        }
    }

    /// What the verification means for the task.
    fn end(&self) -> VerifyEnd {
        if let Some(gate) = self
            .gates
            .iter()
            .find(|g| g.outcome == GateOutcome::NeedsHuman)
        {
            return VerifyEnd::NeedsHuman {
                reason: reasons::gate_needs_person(gate),
            };
        }
        let failed_gates: Vec<&GateResult> = self
            .gates
            .iter()
            .filter(|g| !g.outcome.allows_merge())
            .collect();
        let refuted: Vec<(&Lens, &Verdict)> = self
            .lenses
            .iter()
            .filter(|l| l.verdict.decision == Decision::Refuted)
            .map(|l| (&l.lens, &l.verdict))
            .collect();
        if failed_gates.is_empty() && refuted.is_empty() {
            return VerifyEnd::Verified;
        }
        VerifyEnd::Refuted {
            feedback: text::refutation_feedback(&failed_gates, &refuted),
        }
    }
}

impl FleetHandlers {
    /// Verifies `head` of a task, unless the task moved on meanwhile. When Flotilla's
    /// own steps keep failing (the job's last attempt), the task goes to a person with
    /// the error rather than staying `verifying` forever.
    pub(super) async fn verify_task(
        &self,
        task_id: TaskId,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        if !self.store.begin_verify(task_id, head).await? {
            tracing::info!(%head, "the task no longer waits for verification of this head");
            return Ok(());
        }
        let task = self.store.task(task_id).await?.context("task not stored")?;
        let run = self.run_of(&task).await?;
        match self.verify_head(&run, &task, head, job).await {
            Err(error) if job.attempts >= job.max_attempts => {
                tracing::error!(error = %format!("{error:#}"), "verification could not be completed");
                let end = VerifyEnd::NeedsHuman {
                    reason: reasons::could_not_verify(&error),
                };
                if self.store.finish_verify(task.id, head, &end).await?
                    == Some(TaskState::NeedsHuman)
                {
                    let client = self.fleet.client(run.spec.installation).await?;
                    let task = self.store.task(task.id).await?.context("task not stored")?;
                    self.hand_to_human(&client, &run, &task, head).await?;
                }
                self.progress(run.id).await
            }
            outcome => outcome,
        }
    }

    /// The verification itself: gates and lenses run (`flotilla/verify` shown in
    /// progress only if they outlast `pacing.check_in_progress_after`), verdicts
    /// recorded and published, the task moved on.
    async fn verify_head(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        let retried = job.tried_before();
        let config = run_config(run)?;
        let client = self.fleet.client(run.spec.installation).await?;
        let cx = TaskContext {
            client: &client,
            run,
            task,
            config: &config,
        };
        let examined = self.examine(&cx, head);
        tokio::pin!(examined);
        let (examined, started) = tokio::select! {
            findings = &mut examined => (findings, None),
            () = tokio::time::sleep(self.fleet.config.pacing.check_in_progress_after) => {
                let started = self.start_check(&client, run, task, head).await?;
                (examined.await, Some(started))
            }
        };
        let findings = match examined {
            Err(error) if error.is::<StoppedByBudget>() => {
                let reason = error.to_string();
                if let Some(started) = started {
                    self.stop_check(&client, run, started, &reason).await?;
                }
                return self.skip_for_budget(run, task, head, &reason).await;
            }
            findings => findings?,
        };
        let patch_id = findings.patch_id.as_ref();
        for lens in &findings.lenses {
            self.record_verdict(task.id, head, &lens_verdict(lens, patch_id))
                .await?;
        }
        for gate in &findings.gates {
            self.record_verdict(task.id, head, &gate_verdict(gate, patch_id))
                .await?;
        }
        let published = findings.redacted(&self.fleet.redactor());
        let reviewer = self.reviewer(run, &client).await?;
        self.post_reviews(&cx, &reviewer, head, &published, retried)
            .await?;
        self.finish_check(&client, run, task, head, &published, started)
            .await?;
        let end = findings.end();
        let state = self.store.finish_verify(task.id, head, &end).await?;
        tracing::info!(?state, "verification recorded");
        if state == Some(TaskState::NeedsHuman) {
            let task = self.store.task(task.id).await?.context("task not stored")?;
            self.hand_to_human(&client, run, &task, head).await?;
        }
        self.progress(run.id).await
    }

    /// A verification a budget stopped: no verdict is recorded, the task waits as
    /// proposed (verified once a `/flotilla retry` resumes the run), and the run is
    /// stopped with the figures.
    async fn skip_for_budget(
        &self,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<()> {
        tracing::warn!(%reason, "verification skipped: a budget is spent");
        self.store
            .move_task(
                task.id,
                head,
                &[TaskState::Verifying],
                TaskState::Proposed,
                Some(reason),
            )
            .await?;
        self.progress(run.id).await
    }

    /// A task no retry can fix: label its pull request and say why, once. The pull
    /// request stays a draft.
    pub(super) async fn hand_to_human(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let Some(pr) = task.pr else {
            return Ok(());
        };
        let as_issue = IssueNumber(pr.0);
        client
            .add_labels(&run.spec.repo, as_issue, &[NEEDS_HUMAN_LABEL])
            .await?;
        let verdicts = self.store.verdicts(task.id, head).await?;
        self.post_once(
            client,
            &run.spec.repo,
            as_issue,
            &format!("needs-human {} head={head}", task.id),
            &text::needs_human(run, task, head, &verdicts, &self.fleet.redactor()),
        )
        .await
    }
}

/// A lens's verdict as stored, with the change it judged and, when carried over, the
/// head it was given on.
fn lens_verdict(lens: &LensFinding, patch_id: Option<&PatchId>) -> NewVerdict {
    let verdict = &lens.verdict;
    let carried_from = match &lens.given {
        Given::Here => None,
        Given::CarriedFrom(from) => Some(from.clone()),
    };
    NewVerdict {
        source: VerdictSource::Lens,
        name: lens.lens.name.clone(),
        outcome: match verdict.decision {
            Decision::Upheld => VerdictOutcome::Upheld,
            Decision::Refuted => VerdictOutcome::Refuted,
        },
        summary: text::one_line(&verdict.summary, 300),
        detail: serde_json::to_value(verdict).unwrap_or_default(),
        output: carried_from.is_none().then(|| lens.transcript.clone()),
        patch_id: patch_id.cloned(),
        carried_from,
    }
}

/// A gate's result as stored, with the change it judged.
fn gate_verdict(gate: &GateResult, patch_id: Option<&PatchId>) -> NewVerdict {
    NewVerdict {
        source: VerdictSource::Gate,
        name: gate.gate.as_str().to_owned(),
        outcome: match gate.outcome {
            GateOutcome::Passed => VerdictOutcome::Passed,
            GateOutcome::Warned => VerdictOutcome::Warned,
            GateOutcome::Failed => VerdictOutcome::Failed,
            GateOutcome::NeedsHuman => VerdictOutcome::NeedsHuman,
        },
        summary: text::one_line(&gate.summary, 300),
        detail: serde_json::to_value(gate).unwrap_or_default(),
        output: gate.output.clone(),
        patch_id: patch_id.cloned(),
        carried_from: None,
    }
}
