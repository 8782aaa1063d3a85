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

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use futures_util::future::join_all;
use tracing::Instrument;

use super::Orchestrator;
use super::agents::{TaskLabel, agent_run};
use super::budget::{Allowance, Spender};
use super::carry::{Carried, carried_over};
use super::comments;
use super::fleet::Fleet;
use super::trigger::run_config;
use crate::agent::{Adapter, AgentRun, Outcome, Role, UsageCap, UsageFormat};
use crate::config::{Lens, RepoConfig, ScopeMode};
use crate::github::InstallationClient;
use crate::redact::Redactor;
use crate::review::diff::Diff;
use crate::review::gates::{GateSettings, static_gates};
use crate::review::prompt::{ReviewBrief, reviewer_prompt};
use crate::review::verify_files::{self, VerifyFile};
use crate::review::{Decision, Gate, GateOutcome, GateResult, Given, Verdict, verdict};
use crate::sandbox::{Confinement, ResourceLimits};
use crate::store::{
    ClaimedJob, NewStep, NewVerdict, PatchId, RunRecord, StepEnd, StepKind, StepOutcome, TaskId,
    TaskRecord, TaskState, VerdictOutcome, VerdictSource, VerifyEnd,
};
use crate::types::{CommitSha, IssueNumber};
use crate::workspace::{GitAuth, VerifyStore};

/// The label a task's pull request gets when a person must take over.
pub const NEEDS_HUMAN_LABEL: &str = "flotilla:needs-human";

/// The identifier of the "Re-verify" check-run action.
pub(crate) const REVERIFY_ACTION: &str = "reverify";

/// Bytes of a build command's output kept in its gate result.
const COMMAND_OUTPUT_TAIL: usize = 6000;

/// Bytes of a reviewer's transcript kept with its verdict.
const REVIEWER_OUTPUT_TAIL: usize = 4000;

/// How many rounds of base files are read to resolve what `verify.commands` run (each
/// round follows one more file: a makefile whose recipe runs `npm test`, …).
const VERIFY_FILE_ROUNDS: usize = 4;

/// One lens's run: the lens, the read-only checkout it reviews, its prompt and the
/// budget cap it runs under.
struct LensJob<'a> {
    lens: &'a Lens,
    tree: &'a Path,
    limits: ResourceLimits,
    prompt: String,
    cap: Option<UsageCap>,
    spender: Spender<'a>,
}

/// What one lens gave.
enum LensAnswer {
    /// Its verdict (Flotilla's refutation when it failed to give one), and the end of
    /// its output.
    Verdict(Verdict, String),
    /// A budget stopped it before it answered.
    StoppedByBudget(String),
}

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
                reason: format!("{}: {}", gate.gate.as_str(), gate.summary),
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
            feedback: comments::refutation_feedback(&failed_gates, &refuted),
        }
    }
}

impl Orchestrator {
    /// Verifies `head` of a task, unless the task moved on meanwhile. When Flotilla's
    /// own steps keep failing (the job's last attempt), the task goes to a person with
    /// the error rather than staying `verifying` forever.
    pub(super) async fn verify_task(
        &self,
        fleet: &Fleet,
        task_id: TaskId,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        if !self.store.begin_verify(task_id, head).await? {
            tracing::info!(%head, "the task no longer waits for verification of this head");
            return Ok(());
        }
        let task = self.store.task(task_id).await?.context("task not stored")?;
        let run = self
            .store
            .run(task.run_id)
            .await?
            .context("run not stored")?;
        match self.verify_head(fleet, &run, &task, head, job).await {
            Err(error) if job.attempts >= job.max_attempts => {
                tracing::error!(error = %format!("{error:#}"), "verification could not be completed");
                let end = VerifyEnd::NeedsHuman {
                    reason: format!("Flotilla could not verify this head: {error:#}"),
                };
                if self.store.finish_verify(task.id, head, &end).await?
                    == Some(TaskState::NeedsHuman)
                {
                    let client = fleet.client(run.installation).await?;
                    let task = self.store.task(task.id).await?.context("task not stored")?;
                    self.hand_to_human(&client, &run, &task, head).await?;
                }
                self.progress(fleet, run.id).await
            }
            outcome => outcome,
        }
    }

    /// The verification itself: gates and lenses run (`flotilla/verify` shown in
    /// progress only if they outlast `pacing.check_in_progress_after`), verdicts
    /// recorded and published, the task moved on.
    async fn verify_head(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        let retried = job.tried_before();
        let config = run_config(run)?;
        let client = fleet.client(run.installation).await?;
        let examined = self.examine(fleet, run, task, &config, &client, head);
        tokio::pin!(examined);
        let (examined, started) = tokio::select! {
            findings = &mut examined => (findings, None),
            () = tokio::time::sleep(fleet.config.pacing.check_in_progress_after) => {
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
                return self.skip_for_budget(fleet, run, task, head, &reason).await;
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
        let published = findings.redacted(&fleet.redactor());
        let reviewer = self.reviewer(fleet, run, &client).await?;
        self.post_reviews(&reviewer, run, task, &config, head, &published, retried)
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
        self.progress(fleet, run.id).await
    }

    /// Runs the gates and the lenses on `head`, fetched by sha into the verification
    /// store; a lens whose verdict on the same change can be carried over is not run.
    async fn examine(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        task: &TaskRecord,
        config: &RepoConfig,
        client: &InstallationClient,
        head: &CommitSha,
    ) -> anyhow::Result<Findings> {
        let auth = GitAuth::new(client.token().await?);
        let store = VerifyStore::open(&fleet.config.data_dir, &run.repo)?;
        let lock = fleet.mirror_lock(&run.repo);
        let (change, earlier) = {
            let _git = lock.lock().await;
            store
                .fetch(&run.clone_url, &auth, head, &run.default_branch)
                .await?;
            let base = store.merge_base(&run.default_branch, head).await?;
            let diff_text = store.diff(&base, head).await?;
            let diff_stat = store.diff_stat(&base, head).await?;
            let patch_id = store.patch_id(&diff_text).await?;
            let earlier = store.base_merged_into(head, &run.default_branch).await?;
            let change = Change {
                head: head.clone(),
                base,
                diff_text,
                diff_stat,
                patch_id,
            };
            (change, earlier)
        };
        let carried = carried_over(
            &self.store,
            task.id,
            config,
            head,
            earlier.as_ref(),
            change.patch_id.as_ref(),
        )
        .await?;
        self.examine_in(fleet, run, task, config, &store, &change, carried)
            .await
    }

    /// The gates and lenses: the build on a checkout of its own, the static gates on
    /// the diff, the lenses not `carried` over on another checkout.
    #[allow(clippy::too_many_arguments)]
    async fn examine_in(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        task: &TaskRecord,
        config: &RepoConfig,
        store: &VerifyStore,
        change: &Change,
        mut carried: Carried,
    ) -> anyhow::Result<Findings> {
        let Change {
            head,
            base,
            diff_text,
            diff_stat,
            patch_id,
        } = change;
        let diff = Diff::parse(diff_text);
        let checkout_name = format!("{}-verify-{}", task.id, head.0.get(..12).unwrap_or(&head.0));
        let verify_files = files_run_by(store, base, &config.verify.commands).await?;
        let settings = GateSettings {
            protected_paths: config.verify.protected_paths.clone(),
            declared_paths: task.paths.clone(),
            scope_fails: config.verify.scope == ScopeMode::Fail,
            max_changed_lines: config.verify.max_changed_lines,
            verify_files,
        };
        let build = store
            .checkout(&format!("{checkout_name}-build"), head, base)
            .await?;
        let built = self
            .build_gate(fleet, task, head, config, build.dir())
            .await;
        build.remove().await?;
        let mut gates = vec![built?];
        gates.extend(static_gates(&diff, &settings));
        let brief = ReviewBrief {
            lens: "",
            task_title: &task.title,
            task_instructions: &task.instructions,
            declared_paths: &task.paths,
            head_sha: &head.0,
            base_sha: &base.0,
            diff_stat,
            gates: &gates,
        };
        let to_run: Vec<&Lens> = config
            .reviewers
            .iter()
            .filter(|lens| !carried.contains_key(&lens.name))
            .collect();
        if to_run.len() < config.reviewers.len() {
            tracing::info!(
                carried = config.reviewers.len() - to_run.len(),
                "lens verdicts carried over: this head only merged a newer base into a change \
                 they judged"
            );
        }
        let spender = Spender {
            run,
            task: Some(task.id),
            role: Role::Reviewer,
            lens: None,
            attempt: None,
            head: Some(head),
        };
        let cap = if to_run.is_empty() {
            None
        } else {
            let lens_count = u64::try_from(to_run.len()).unwrap_or(u64::MAX);
            match self.allowance(fleet, &spender, lens_count).await? {
                Allowance::Granted(cap) => cap,
                Allowance::Refused(reason) => return Err(StoppedByBudget(reason).into()),
            }
        };
        let review = if to_run.is_empty() {
            None
        } else {
            Some(
                store
                    .checkout(&format!("{checkout_name}-review"), head, base)
                    .await?,
            )
        };
        let reviews = to_run
            .iter()
            .zip(review.iter().cycle())
            .map(|(lens, review)| {
                let brief = ReviewBrief {
                    lens: &lens.name,
                    ..brief
                };
                let span = tracing::info_span!("lens", lens = %lens.name, repo = %run.repo);
                let job = LensJob {
                    lens,
                    tree: review.dir(),
                    limits: config.sandbox,
                    prompt: reviewer_prompt(&brief),
                    cap: cap.clone(),
                    spender: Spender {
                        lens: Some(&lens.name),
                        ..spender
                    },
                };
                self.review_with(fleet, task, job).instrument(span)
            });
        let mut answers: HashMap<String, anyhow::Result<LensAnswer>> = to_run
            .iter()
            .map(|lens| lens.name.clone())
            .zip(join_all(reviews).await)
            .collect();
        if let Some(review) = review {
            review.remove().await?;
        }
        let mut lenses = Vec::new();
        let mut stopped = None;
        for lens in &config.reviewers {
            let finding = match (carried.remove(&lens.name), answers.remove(&lens.name)) {
                (Some((verdict, from)), _) => LensFinding {
                    lens: lens.clone(),
                    verdict,
                    given: Given::CarriedFrom(from),
                    transcript: String::new(),
                },
                (None, Some(answer)) => match answer? {
                    LensAnswer::Verdict(verdict, transcript) => LensFinding {
                        lens: lens.clone(),
                        verdict,
                        given: Given::Here,
                        transcript,
                    },
                    LensAnswer::StoppedByBudget(reason) => {
                        stopped = Some(reason);
                        continue;
                    }
                },
                (None, None) => {
                    anyhow::bail!("the {} lens neither ran nor was carried over", lens.name)
                }
            };
            lenses.push(finding);
        }
        if let Some(reason) = stopped {
            return Err(StoppedByBudget(reason).into());
        }
        Ok(Findings {
            gates,
            lenses,
            diff,
            patch_id: patch_id.clone(),
        })
    }

    /// Runs the configured build and test commands in order, stopping at the first
    /// that fails, on `tree` (a checkout of their own, thrown away afterwards). They
    /// run like agents: a sandbox of their own, a time limit, no credential in their
    /// environment (the code under test is untrusted).
    async fn build_gate(
        &self,
        fleet: &Fleet,
        task: &TaskRecord,
        head: &CommitSha,
        config: &RepoConfig,
        tree: &Path,
    ) -> anyhow::Result<GateResult> {
        if config.verify.commands.is_empty() {
            return Ok(GateResult {
                gate: Gate::Build,
                outcome: GateOutcome::Passed,
                summary: "no build or test command is configured (`verify.commands`)".into(),
                findings: Vec::new(),
                output: None,
            });
        }
        let step = self
            .store
            .start_step(&NewStep {
                run: task.run_id,
                task: Some(task.id),
                kind: StepKind::Build,
                lens: None,
                attempt: None,
                head: Some(head.clone()),
                prompt: None,
            })
            .await?;
        let result = self.run_build_commands(fleet, task, config, tree).await;
        let end = match &result {
            Ok(gate) => StepEnd {
                outcome: if gate.outcome == GateOutcome::Passed {
                    StepOutcome::Succeeded
                } else {
                    StepOutcome::Failed
                },
                reason: gate.summary.clone(),
                transcript: gate.output.clone().unwrap_or_default(),
            },
            Err(error) => StepEnd {
                outcome: StepOutcome::Failed,
                reason: format!("{error:#}"),
                transcript: String::new(),
            },
        };
        let redactor = fleet.redactor();
        let end = StepEnd {
            reason: redactor.text(&end.reason),
            transcript: redactor.text(&end.transcript),
            ..end
        };
        self.store.finish_step(step, &end).await?;
        result
    }

    /// The build commands themselves, in order, until one fails.
    async fn run_build_commands(
        &self,
        fleet: &Fleet,
        task: &TaskRecord,
        config: &RepoConfig,
        tree: &Path,
    ) -> anyhow::Result<GateResult> {
        let mut log = String::new();
        for command in &config.verify.commands {
            let run = AgentRun {
                command: Adapter::Command {
                    shell: command.clone(),
                }
                .command(),
                working_dir: tree.to_owned(),
                prompt: String::new(),
                role: Role::Reviewer,
                task_id: task.id.to_string(),
                task_title: task.title.clone(),
                lens: Some(Gate::Build.as_str().to_owned()),
                time_limit: config.verify.time_limit,
                kill_grace: fleet.config.kill_grace,
                pass_env: Vec::new(),
                transcript_cap: fleet.config.transcript_cap,
                confinement: Confinement {
                    tree_writable: true,
                    views: Vec::new(),
                    network_allow: Vec::new(),
                    limits: config.sandbox,
                },
                usage_format: UsageFormat::None,
                usage_cap: None,
            };
            let report = run
                .run(&fleet.config.host_env, &fleet.config.sandbox)
                .await
                .with_context(|| format!("starting `{command}`"))?;
            log.push_str(&format!("$ {command}\n{}\n", report.transcript));
            if !report.outcome.is_success() {
                return Ok(GateResult {
                    gate: Gate::Build,
                    outcome: GateOutcome::Failed,
                    summary: format!("`{command}` {}", report.outcome.reason()),
                    findings: Vec::new(),
                    output: Some(comments::tail(&log, COMMAND_OUTPUT_TAIL)),
                });
            }
        }
        Ok(GateResult {
            gate: Gate::Build,
            outcome: GateOutcome::Passed,
            summary: format!(
                "{} command(s) succeeded: {}",
                config.verify.commands.len(),
                config
                    .verify
                    .commands
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            findings: Vec::new(),
            output: Some(comments::tail(&log, COMMAND_OUTPUT_TAIL)),
        })
    }

    /// One lens: a fresh agent asked to refute the change. A reviewer that fails to
    /// give a valid answer has refuted it. Returns the verdict and the end of the
    /// reviewer's output.
    async fn review_with(
        &self,
        fleet: &Fleet,
        task: &TaskRecord,
        job: LensJob<'_>,
    ) -> anyhow::Result<LensAnswer> {
        let lens = job.lens;
        let redactor = fleet.redactor();
        let step = self
            .store
            .start_step(&NewStep {
                run: job.spender.run.id,
                task: Some(task.id),
                kind: StepKind::Review,
                lens: Some(lens.name.clone()),
                attempt: None,
                head: job.spender.head.cloned(),
                prompt: Some(redactor.text(&job.prompt)),
            })
            .await?;
        let answer = self.ask_reviewer(fleet, task, job).await;
        let end = match &answer {
            Ok((LensAnswer::Verdict(verdict, _), _)) => StepEnd {
                outcome: if verdict.decision == Decision::Upheld {
                    StepOutcome::Succeeded
                } else {
                    StepOutcome::Failed
                },
                reason: verdict.summary.clone(),
                transcript: String::new(),
            },
            Ok((LensAnswer::StoppedByBudget(reason), _)) => StepEnd {
                outcome: StepOutcome::Failed,
                reason: reason.clone(),
                transcript: String::new(),
            },
            Err(error) => StepEnd {
                outcome: StepOutcome::Failed,
                reason: format!("{error:#}"),
                transcript: String::new(),
            },
        };
        let full_transcript = answer.as_ref().map(|(_, t)| t.as_str()).unwrap_or("");
        let end = StepEnd {
            reason: redactor.text(&end.reason),
            transcript: redactor.text(full_transcript),
            ..end
        };
        self.store.finish_step(step, &end).await?;
        answer.map(|(answer, _)| answer)
    }

    /// Runs the reviewer agent and reads its verdict; also returns its whole
    /// transcript, for the dashboard.
    async fn ask_reviewer(
        &self,
        fleet: &Fleet,
        task: &TaskRecord,
        job: LensJob<'_>,
    ) -> anyhow::Result<(LensAnswer, String)> {
        let lens = job.lens;
        let mut agent = agent_run(
            fleet,
            &lens.agent,
            job.tree,
            job.limits,
            job.prompt,
            Role::Reviewer,
            TaskLabel {
                id: task.id.to_string(),
                title: task.title.clone(),
            },
        );
        agent.lens = Some(lens.name.clone());
        agent.usage_cap = job.cap;
        let report = agent
            .run(&fleet.config.host_env, &fleet.config.sandbox)
            .await
            .with_context(|| format!("starting the {} reviewer", lens.name))?;
        self.record_spend(fleet, &job.spender, &report).await?;
        let transcript = comments::tail(&report.transcript, REVIEWER_OUTPUT_TAIL);
        if let Outcome::BudgetExceeded { budget } = &report.outcome {
            let reason = format!("the {} reviewer was stopped at {budget}", lens.name);
            return Ok((LensAnswer::StoppedByBudget(reason), report.transcript));
        }
        if !report.outcome.is_success() {
            let verdict = Verdict::refuted_by_flotilla(format!(
                "the {} reviewer {}; counted as refuted",
                lens.name,
                report.outcome.reason()
            ));
            return Ok((LensAnswer::Verdict(verdict, transcript), report.transcript));
        }
        let verdict = match lens.agent.to_adapter().verdict(&report) {
            Err(error) => Verdict::refuted_by_flotilla(format!(
                "the {} reviewer's answer could not be read ({error}); counted as refuted",
                lens.name
            )),
            Ok(answer) => match verdict::parse(&answer) {
                Ok(verdict) => verdict,
                Err(error) => Verdict::refuted_by_flotilla(format!(
                    "the {} reviewer's answer is not a valid verdict ({error}); counted as refuted",
                    lens.name
                )),
            },
        };
        tracing::info!(lens = %lens.name, decision = ?verdict.decision, "reviewer answered");
        Ok((LensAnswer::Verdict(verdict, transcript), report.transcript))
    }

    /// A verification a budget stopped: no verdict is recorded, the task waits as
    /// proposed (verified once a `/flotilla retry` resumes the run), and the run is
    /// stopped with the figures.
    async fn skip_for_budget(
        &self,
        fleet: &Fleet,
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
        self.progress(fleet, run.id).await
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
            .add_labels(&run.repo, as_issue, &[NEEDS_HUMAN_LABEL])
            .await?;
        let verdicts = self.store.verdicts(task.id, head).await?;
        self.post_once(
            client,
            &run.repo,
            as_issue,
            &format!("needs-human {} head={head}", task.id),
            &comments::needs_human(run, task, head, &verdicts, &self.fleet()?.redactor()),
        )
        .await
    }
}

/// The files `commands` run, as the **base** commit defines them: the change under
/// verification cannot redefine what its build commands run (a `package.json` script
/// the worker rewrote is read as it was before).
async fn files_run_by(
    store: &VerifyStore,
    base: &CommitSha,
    commands: &[String],
) -> anyhow::Result<Vec<VerifyFile>> {
    let mut known = HashMap::new();
    for _ in 0..VERIFY_FILE_ROUNDS {
        let wanted = verify_files::wanted(commands, &known);
        if wanted.is_empty() {
            break;
        }
        for path in wanted {
            let text = store.file_at(base, &path).await?;
            known.insert(path, text);
        }
    }
    Ok(verify_files::resolve(commands, |path| {
        known.get(path).cloned().flatten()
    }))
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
        summary: comments::one_line(&verdict.summary, 300),
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
        summary: comments::one_line(&gate.summary, 300),
        detail: serde_json::to_value(gate).unwrap_or_default(),
        output: gate.output.clone(),
        patch_id: patch_id.cloned(),
        carried_from: None,
    }
}
