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

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use futures_util::future::join_all;
use tracing::Instrument;

use super::Orchestrator;
use super::agents::{TaskLabel, agent_run};
use super::comments;
use super::fleet::Fleet;
use super::trigger::run_config;
use crate::agent::{Adapter, AgentRun, Role, UsageFormat};
use crate::config::{Lens, RepoConfig, ScopeMode};
use crate::github::InstallationClient;
use crate::redact::Redactor;
use crate::review::diff::Diff;
use crate::review::gates::{GateSettings, static_gates};
use crate::review::prompt::{ReviewBrief, reviewer_prompt};
use crate::review::verify_files::{self, VerifyFile};
use crate::review::{Decision, Gate, GateOutcome, GateResult, Verdict, verdict};
use crate::sandbox::{Confinement, ResourceLimits};
use crate::store::{
    ClaimedJob, NewVerdict, RunRecord, TaskId, TaskRecord, TaskState, VerdictSource, VerifyEnd,
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

/// Everything one verification found on one head.
pub(super) struct Findings {
    /// Every gate's result.
    pub(super) gates: Vec<GateResult>,
    /// Every lens with its verdict, in configuration order.
    pub(super) lenses: Vec<(Lens, Verdict)>,
    /// The end of each lens's output, in the order of `lenses`.
    pub(super) transcripts: Vec<String>,
    /// The change the gates and lenses examined; reviews anchor their comments in it.
    pub(super) diff: Diff,
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
                .map(|(lens, verdict)| (lens.clone(), redactor.verdict(verdict)))
                .collect(),
            transcripts: self.transcripts.iter().map(|t| redactor.text(t)).collect(),
            diff: self.diff.clone(),
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
        let refuted: Vec<&(Lens, Verdict)> = self
            .lenses
            .iter()
            .filter(|(_, v)| v.decision == Decision::Refuted)
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
        let retried = job.attempts > 1;
        let config = run_config(run)?;
        let client = fleet.client(run.installation).await?;
        let examined = self.examine(fleet, run, task, &config, &client, head);
        tokio::pin!(examined);
        let (findings, started) = tokio::select! {
            findings = &mut examined => (findings?, None),
            () = tokio::time::sleep(fleet.config.pacing.check_in_progress_after) => {
                let started = self.start_check(&client, run, task, head).await?;
                (examined.await?, Some(started))
            }
        };
        for ((lens, verdict), transcript) in findings.lenses.iter().zip(&findings.transcripts) {
            self.store
                .record_verdict(
                    task.id,
                    head,
                    &lens_verdict(&lens.name, verdict, transcript),
                )
                .await?;
        }
        for gate in &findings.gates {
            self.store
                .record_verdict(task.id, head, &gate_verdict(gate))
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
    /// store.
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
        let (diff_text, diff_stat, base) = {
            let _git = lock.lock().await;
            store
                .fetch(&run.clone_url, &auth, head, &run.default_branch)
                .await?;
            let base = store.merge_base(&run.default_branch, head).await?;
            let diff_text = store.diff(&base, head).await?;
            let diff_stat = store.diff_stat(&base, head).await?;
            (diff_text, diff_stat, base)
        };
        self.examine_in(
            fleet, run, task, config, &store, &diff_text, &diff_stat, &base, head,
        )
        .await
    }

    /// The gates and lenses: the build on a checkout of its own, the static gates on
    /// the diff, the lenses on another checkout.
    #[allow(clippy::too_many_arguments)]
    async fn examine_in(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        task: &TaskRecord,
        config: &RepoConfig,
        store: &VerifyStore,
        diff_text: &str,
        diff_stat: &str,
        base: &CommitSha,
        head: &CommitSha,
    ) -> anyhow::Result<Findings> {
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
        let built = self.build_gate(fleet, task, config, build.dir()).await;
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
        let review = store
            .checkout(&format!("{checkout_name}-review"), head, base)
            .await?;
        let reviews = config.reviewers.iter().map(|lens| {
            let brief = ReviewBrief {
                lens: &lens.name,
                ..brief
            };
            let span = tracing::info_span!("lens", lens = %lens.name, repo = %run.repo);
            self.review_with(
                fleet,
                task,
                lens,
                review.dir(),
                config.sandbox,
                reviewer_prompt(&brief),
            )
            .instrument(span)
        });
        let verdicts = join_all(reviews).await;
        review.remove().await?;
        let mut lenses = Vec::new();
        let mut transcripts = Vec::new();
        for (lens, answer) in config.reviewers.iter().zip(verdicts) {
            let (verdict, transcript) = answer?;
            lenses.push((lens.clone(), verdict));
            transcripts.push(transcript);
        }
        Ok(Findings {
            gates,
            lenses,
            transcripts,
            diff,
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
        lens: &Lens,
        tree: &Path,
        limits: ResourceLimits,
        prompt: String,
    ) -> anyhow::Result<(Verdict, String)> {
        let mut agent = agent_run(
            fleet,
            &lens.agent,
            tree,
            limits,
            prompt,
            Role::Reviewer,
            TaskLabel {
                id: task.id.to_string(),
                title: task.title.clone(),
            },
        );
        agent.lens = Some(lens.name.clone());
        let report = agent
            .run(&fleet.config.host_env, &fleet.config.sandbox)
            .await
            .with_context(|| format!("starting the {} reviewer", lens.name))?;
        let transcript = comments::tail(&report.transcript, REVIEWER_OUTPUT_TAIL);
        if !report.outcome.is_success() {
            let verdict = Verdict::refuted_by_flotilla(format!(
                "the {} reviewer {}; counted as refuted",
                lens.name,
                report.outcome.reason()
            ));
            return Ok((verdict, transcript));
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
        Ok((verdict, transcript))
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

/// A lens's verdict as stored.
fn lens_verdict(lens: &str, verdict: &Verdict, transcript: &str) -> NewVerdict {
    NewVerdict {
        source: VerdictSource::Lens,
        name: lens.to_owned(),
        outcome: verdict.decision.as_str().to_owned(),
        summary: comments::one_line(&verdict.summary, 300),
        detail: serde_json::to_value(verdict).unwrap_or_default(),
        output: Some(transcript.to_owned()),
    }
}

/// A gate's result as stored.
fn gate_verdict(gate: &GateResult) -> NewVerdict {
    NewVerdict {
        source: VerdictSource::Gate,
        name: gate.gate.as_str().to_owned(),
        outcome: gate.outcome.as_str().to_owned(),
        summary: comments::one_line(&gate.summary, 300),
        detail: serde_json::to_value(gate).unwrap_or_default(),
        output: gate.output.clone(),
    }
}
