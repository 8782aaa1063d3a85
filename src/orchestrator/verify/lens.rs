//! One reviewer lens: a fresh agent asked to refute the change, its answer read as a
//! verdict (anything else is a refutation), recorded as a step for the dashboard.

use std::path::Path;

use anyhow::Context;

use crate::agent::{Outcome, Role, UsageCap};
use crate::config::Lens;
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::agents::{TaskLabel, agent_run};
use crate::orchestrator::budget::Spender;
use crate::orchestrator::steps::redacted_end;
use crate::orchestrator::text::{self, reasons};
use crate::review::{Decision, Verdict, verdict};
use crate::sandbox::ResourceLimits;
use crate::store::{NewStep, StepKind, StepOutcome, TaskRecord};

use super::separate::{Asker, Broker, SeparateRuns};

/// Bytes of a reviewer's transcript kept with its verdict.
const REVIEWER_OUTPUT_TAIL: usize = 4000;

/// One lens's run: the lens, the read-only checkout it reviews, its prompt and the
/// budget cap it runs under.
pub(super) struct LensJob<'a> {
    pub(super) lens: &'a Lens,
    pub(super) tree: &'a Path,
    pub(super) limits: ResourceLimits,
    pub(super) prompt: String,
    pub(super) cap: Option<UsageCap>,
    pub(super) spender: Spender<'a>,
    /// Where the commands it hands to `flotilla-run` run.
    pub(super) runs: SeparateRuns<'a>,
}

/// What one lens gave.
pub(super) enum LensAnswer {
    /// Its verdict (Flotilla's refutation when it failed to give one), and the end of
    /// its output.
    Verdict(Verdict, String),
    /// A budget stopped it before it answered.
    StoppedByBudget(String),
}

impl FleetHandlers {
    /// One lens: a fresh agent asked to refute the change. A reviewer that fails to
    /// give a valid answer has refuted it. Returns the verdict and the end of the
    /// reviewer's output.
    pub(super) async fn review_with(
        &self,
        task: &TaskRecord,
        job: LensJob<'_>,
    ) -> anyhow::Result<LensAnswer> {
        let lens = job.lens;
        let redactor = self.fleet.redactor();
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
        let answer = self.ask_reviewer(task, job).await;
        let (outcome, reason) = match &answer {
            Ok((LensAnswer::Verdict(verdict, _), _)) if verdict.decision == Decision::Upheld => {
                (StepOutcome::Succeeded, verdict.summary.clone())
            }
            Ok((LensAnswer::Verdict(verdict, _), _)) => {
                (StepOutcome::Failed, verdict.summary.clone())
            }
            Ok((LensAnswer::StoppedByBudget(reason), _)) => (StepOutcome::Failed, reason.clone()),
            Err(error) => (StepOutcome::Failed, format!("{error:#}")),
        };
        let transcript = answer.as_ref().map(|(_, t)| t.as_str()).unwrap_or("");
        let end = redacted_end(outcome, &reason, transcript, &redactor);
        self.store.finish_step(step, &end).await?;
        answer.map(|(answer, _)| answer)
    }

    /// Runs the reviewer agent and reads its verdict; also returns its whole
    /// transcript, for the dashboard.
    async fn ask_reviewer(
        &self,
        task: &TaskRecord,
        job: LensJob<'_>,
    ) -> anyhow::Result<(LensAnswer, String)> {
        let lens = job.lens;
        let mut agent = agent_run(
            &self.fleet,
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
        let broker = Broker::open()?;
        agent.confinement.separate_runs = Some(broker.dir().to_owned());
        let asker = Asker {
            fleet: &self.fleet,
            task,
            lens: &lens.name,
            reviewer_tree: job.tree,
        };
        let report = tokio::select! {
            report = agent.run(&self.fleet.config.host_env, &self.fleet.config.sandbox) => report,
            never = job.runs.serve(&broker, &asker) => match never {},
        }
        .with_context(|| format!("starting the {} reviewer", lens.name))?;
        self.record_spend(&job.spender, &report).await?;
        let transcript = text::tail(&report.transcript, REVIEWER_OUTPUT_TAIL);
        if let Outcome::BudgetExceeded { budget } = &report.outcome {
            let reason = reasons::reviewer_stopped(&lens.name, &budget.to_string());
            return Ok((LensAnswer::StoppedByBudget(reason), report.transcript));
        }
        if !report.outcome.is_success() {
            let verdict = Verdict::refuted_by_flotilla(reasons::reviewer_failed(
                &lens.name,
                &report.outcome.reason(),
            ));
            return Ok((LensAnswer::Verdict(verdict, transcript), report.transcript));
        }
        let verdict = match lens.agent.to_adapter().verdict(&report) {
            Err(error) => Verdict::refuted_by_flotilla(reasons::answer_unreadable(
                &lens.name,
                &error.to_string(),
            )),
            Ok(answer) => match verdict::parse(&answer) {
                Ok(verdict) => verdict,
                Err(error) => Verdict::refuted_by_flotilla(reasons::answer_invalid(
                    &lens.name,
                    &error.to_string(),
                )),
            },
        };
        tracing::info!(lens = %lens.name, decision = ?verdict.decision, "reviewer answered");
        Ok((LensAnswer::Verdict(verdict, transcript), report.transcript))
    }
}
