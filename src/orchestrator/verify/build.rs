//! The build gate: the repository's `verify.commands` in a sandbox of their own, on a
//! checkout of their own, recorded as a step for the dashboard.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::agent::{Adapter, AgentCommand, AgentRun, Role, UsageFormat};
use crate::config::RepoConfig;
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::fleet::Fleet;
use crate::orchestrator::steps::redacted_end;
use crate::orchestrator::text::{self, reasons};
use crate::review::{Gate, GateOutcome, GateResult};
use crate::sandbox::{Confinement, ResourceLimits};
use crate::store::{NewStep, StepKind, StepOutcome, TaskRecord};
use crate::types::CommitSha;

/// Bytes of a build command's output kept in its gate result.
const COMMAND_OUTPUT_TAIL: usize = 6000;

impl FleetHandlers {
    /// Runs the configured build and test commands in order, stopping at the first
    /// that fails, on `tree` (a checkout of their own, thrown away afterwards). They
    /// run like agents: a sandbox of their own, a time limit, no credential in their
    /// environment (the code under test is untrusted).
    pub(super) async fn build_gate(
        &self,
        task: &TaskRecord,
        head: &CommitSha,
        config: &RepoConfig,
        tree: &Path,
    ) -> anyhow::Result<GateResult> {
        if config.verify.commands.is_empty() {
            return Ok(GateResult {
                gate: Gate::Build,
                outcome: GateOutcome::Passed,
                summary: reasons::no_build_commands(),
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
        let result = self.run_build_commands(task, config, tree).await;
        let (outcome, reason, transcript) = match &result {
            Ok(gate) if gate.outcome == GateOutcome::Passed => (
                StepOutcome::Succeeded,
                gate.summary.clone(),
                gate.output.clone().unwrap_or_default(),
            ),
            Ok(gate) => (
                StepOutcome::Failed,
                gate.summary.clone(),
                gate.output.clone().unwrap_or_default(),
            ),
            Err(error) => (StepOutcome::Failed, format!("{error:#}"), String::new()),
        };
        let end = redacted_end(outcome, &reason, &transcript, &self.fleet.redactor());
        self.store.finish_step(step, &end).await?;
        result
    }

    /// The build commands themselves, in order, until one fails.
    async fn run_build_commands(
        &self,
        task: &TaskRecord,
        config: &RepoConfig,
        tree: &Path,
    ) -> anyhow::Result<GateResult> {
        let mut log = String::new();
        for command in &config.verify.commands {
            let run = change_code_run(
                &self.fleet,
                task,
                Gate::Build.as_str(),
                Adapter::Command {
                    shell: command.clone(),
                }
                .command(),
                tree,
                config.verify.time_limit,
                config.sandbox,
            );
            let report = run
                .run(&self.fleet.config.host_env, &self.fleet.config.sandbox)
                .await
                .with_context(|| format!("starting `{command}`"))?;
            log.push_str(&format!("$ {command}\n{}\n", report.transcript));
            if !report.outcome.is_success() {
                return Ok(GateResult {
                    gate: Gate::Build,
                    outcome: GateOutcome::Failed,
                    summary: reasons::build_command_failed(command, &report.outcome.reason()),
                    findings: Vec::new(),
                    output: Some(text::tail(&log, COMMAND_OUTPUT_TAIL)),
                });
            }
        }
        Ok(GateResult {
            gate: Gate::Build,
            outcome: GateOutcome::Passed,
            summary: reasons::build_succeeded(&config.verify.commands),
            findings: Vec::new(),
            output: Some(text::tail(&log, COMMAND_OUTPUT_TAIL)),
        })
    }
}

/// The change's own code (a build command, or a command a lens hands to `flotilla-run`)
/// run like an agent on `tree`, a writable checkout of its own: a sandbox of its own, no
/// network, no credential and no `pass_env` (the code under test is untrusted), with
/// `time_limit` and the repository's `limits`. `label` names it as `FLOTILLA_LENS`.
pub(super) fn change_code_run(
    fleet: &Fleet,
    task: &TaskRecord,
    label: &str,
    command: AgentCommand,
    tree: &Path,
    time_limit: Duration,
    limits: ResourceLimits,
) -> AgentRun {
    AgentRun {
        command,
        working_dir: tree.to_owned(),
        prompt: String::new(),
        role: Role::Reviewer,
        task_id: task.id.to_string(),
        task_title: task.title.clone(),
        lens: Some(label.to_owned()),
        time_limit,
        kill_grace: fleet.config.kill_grace,
        pass_env: Vec::new(),
        transcript_cap: fleet.config.transcript_cap,
        confinement: Confinement {
            tree_writable: true,
            views: Vec::new(),
            network_allow: Vec::new(),
            limits,
            separate_runs: None,
        },
        usage_format: UsageFormat::None,
        usage_cap: None,
    }
}
