//! The orchestrator: deterministic handlers for jobs taken from the queue.
//!
//! It talks to the world only through the store, the GitHub client and the
//! workspace/agent modules. A delivery job parses its stored payload into a typed event
//! and dispatches it (`dispatcher`); a label starts a run (`trigger`), whose
//! `plan_run` job decides the tasks (`planning`), and each task's `run_task` job runs
//! one attempt (`task_attempt`). A proposed head is verified by a `verify_task` job
//! (`verify`: gates, reviewer lenses, reviews, check runs) and a verified one landed
//! by a `land_task` job (`land`); `review_events` turns pushes, check results and
//! re-verify requests into those jobs. `progress` keeps runs moving and the plan
//! comment current; `on_comment` carries out `/flotilla` commands; `reconcile` repairs
//! what changed on GitHub while Flotilla was away.

mod agents;
mod branch_rules;
mod budget;
mod carry;
pub mod command;
mod context;
mod dispatcher;
mod fleet;
mod forget;
mod land;
mod on_comment;
mod on_dashboard;
mod pacing;
pub mod plan;
mod planning;
mod progress;
mod prompt;
mod publish;
mod reconcile;
mod review_events;
mod scheduling;
mod steps;
mod task_attempt;
pub mod text;
mod trigger;
mod verify;
pub mod worker;

pub use fleet::FleetConfig;
pub use pacing::GithubPacing;
pub use trigger::SINGLE_TASK_LABEL;
pub use verify::NEEDS_HUMAN_LABEL;

use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::github::InstallationClient;
use crate::links::DashboardLinks;
use crate::metrics::Metrics;
use crate::store::{
    ActionJob, ClaimedJob, DeliveryOutcome, HeadJob, JobKind, NewVerdict, RunId, RunRecord, Store,
    TaskId, TaskJob, TaskRecord,
};
use crate::types::{CommitSha, DeliveryId};
use crate::webhook::event::{self, InstallationRef, Parsed};
use fleet::Fleet;
use worker::JobHandler;

/// What every process does with a job: a delivery is parsed, recorded and handed to
/// the fleet's handlers, when this process runs a fleet; without one (an intake-only
/// process) events are recorded and logged, and no run starts.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    store: Store,
    app_slug: String,
    metrics: Metrics,
    handlers: Option<FleetHandlers>,
}

/// The handlers of a process that runs a fleet: what a label, a comment, a push or a
/// check result does, and the `plan_run`, `run_task`, `verify_task`, `land_task` and
/// dashboard jobs. The fleet is always there, so no handler asks whether it is.
#[derive(Clone, Debug)]
pub(crate) struct FleetHandlers {
    store: Store,
    app_slug: String,
    metrics: Metrics,
    fleet: Arc<Fleet>,
}

/// The payload of a `plan_run` job.
#[derive(Debug, Deserialize)]
struct PlanJob {
    run_id: RunId,
}

/// The payload of a `process_delivery` job.
#[derive(Debug, Deserialize)]
struct DeliveryJob {
    delivery_id: DeliveryId,
}

impl Orchestrator {
    /// A context over the store, recognising the App's own bot by `app_slug`, with
    /// the fleet's handlers when `fleet` is given. What it handles is counted in
    /// `metrics`.
    pub fn new(
        store: Store,
        app_slug: String,
        fleet: Option<FleetConfig>,
        metrics: Metrics,
    ) -> Self {
        let handlers = fleet.map(|config| FleetHandlers {
            store: store.clone(),
            app_slug: app_slug.clone(),
            metrics: metrics.clone(),
            fleet: Arc::new(Fleet::new(config)),
        });
        Self {
            store,
            app_slug,
            metrics,
            handlers,
        }
    }

    /// Lets the orchestrator wake the agent workers when it starts a task.
    pub fn set_agent_waker(&self, waker: Arc<Notify>) {
        if let Some(handlers) = &self.handlers {
            handlers.fleet.set_agent_waker(waker);
        }
    }

    /// Writes every plan-comment edit still waiting for its slot, so a process that
    /// stops leaves the last state on GitHub.
    pub async fn flush_plans(&self) -> anyhow::Result<()> {
        match &self.handlers {
            Some(handlers) => handlers.flush_plans().await,
            None => Ok(()),
        }
    }

    /// Compares every live run with GitHub and repairs what changed while Flotilla
    /// was away; returns how many repairs were made (none without a fleet).
    pub async fn reconcile(&self) -> anyhow::Result<usize> {
        match &self.handlers {
            Some(handlers) => handlers.reconcile().await,
            None => Ok(0),
        }
    }

    /// The fleet's handlers, for jobs that only exist when there is a fleet.
    fn handlers(&self) -> anyhow::Result<&FleetHandlers> {
        self.handlers
            .as_ref()
            .context("this process runs no fleet (no GitHub App configured)")
    }

    /// Parses a stored delivery and dispatches it. A payload that cannot be understood
    /// is not an error of the job: the delivery is kept, marked failed with the reason,
    /// and never retried (the same bytes would fail the same way).
    async fn process_delivery(&self, id: &DeliveryId) -> anyhow::Result<()> {
        let delivery = self
            .store
            .delivery(id)
            .await?
            .with_context(|| format!("delivery {id} is not stored"))?;
        let span = tracing::info_span!(
            "delivery",
            delivery = %delivery.id,
            event = %delivery.event,
            repo = delivery.repository.as_ref().map(|r| r.0.as_str()).unwrap_or(""),
            installation = delivery.installation.map(|i| i.0).unwrap_or(0),
        );
        async {
            let (outcome, detail) = match event::parse(&delivery.event, &delivery.body) {
                Err(error) => {
                    tracing::warn!(%error, "delivery payload rejected");
                    (DeliveryOutcome::Failed, Some(error.to_string()))
                }
                Ok(Parsed::Ignored(reason)) => {
                    tracing::info!(%reason, "delivery ignored");
                    (DeliveryOutcome::Ignored, Some(reason.to_string()))
                }
                Ok(Parsed::Event(event))
                    if event.is_from_app(&self.app_slug) && !event.is_state_notice() =>
                {
                    tracing::debug!("delivery caused by Flotilla itself; ignored");
                    (
                        DeliveryOutcome::Ignored,
                        Some(format!("sent by the App's own bot {}[bot]", self.app_slug)),
                    )
                }
                Ok(Parsed::Event(event)) => {
                    self.dispatch(&delivery.id, &event).await?;
                    (DeliveryOutcome::Processed, None)
                }
            };
            self.store
                .set_delivery_outcome(&delivery.id, outcome, detail.as_deref())
                .await?;
            self.metrics.delivery_handled(&delivery.event, outcome);
            Ok(())
        }
        .instrument(span)
        .await
    }
}

impl FleetHandlers {
    /// Records a verdict on a task's head and counts it.
    async fn record_verdict(
        &self,
        task: TaskId,
        head: &CommitSha,
        verdict: &NewVerdict,
    ) -> anyhow::Result<()> {
        self.store.record_verdict(task, head, verdict).await?;
        self.metrics.verdict_recorded(verdict);
        Ok(())
    }

    /// The run a task belongs to, which the store always holds.
    async fn run_of(&self, task: &TaskRecord) -> anyhow::Result<RunRecord> {
        self.store.run(task.run_id).await?.context("run not stored")
    }

    /// The client of the installation an event came through.
    async fn client_of(
        &self,
        installation: Option<&InstallationRef>,
    ) -> anyhow::Result<InstallationClient> {
        let installation = installation.context("the delivery names no installation")?;
        self.fleet.client(installation.id).await
    }

    /// The dashboard's pages, for the links Flotilla writes on GitHub; `None` without
    /// a dashboard.
    fn dashboard(&self) -> Option<&DashboardLinks> {
        self.fleet.config.dashboard.as_ref()
    }
}

impl JobHandler for Orchestrator {
    async fn run(&self, job: ClaimedJob) -> anyhow::Result<()> {
        match job.kind {
            JobKind::ProcessDelivery => {
                let payload: DeliveryJob =
                    serde_json::from_value(job.payload).context("process_delivery job payload")?;
                self.process_delivery(&payload.delivery_id).await
            }
            JobKind::PlanRun => {
                let payload: PlanJob =
                    serde_json::from_value(job.payload.clone()).context("plan_run job payload")?;
                let span = tracing::info_span!("run", run = %payload.run_id);
                self.handlers()?
                    .plan_run(payload.run_id, job.tried_before())
                    .instrument(span)
                    .await
            }
            JobKind::RunTask => {
                let payload: TaskJob =
                    serde_json::from_value(job.payload.clone()).context("run_task job payload")?;
                let span = tracing::info_span!("task", task = %payload.task_id);
                self.handlers()?
                    .run_task(payload.task_id, &job)
                    .instrument(span)
                    .await
            }
            JobKind::VerifyTask => {
                let payload: HeadJob = serde_json::from_value(job.payload.clone())
                    .context("verify_task job payload")?;
                let span = tracing::info_span!("verify", task = %payload.task_id, head = %payload.head_sha);
                self.handlers()?
                    .verify_task(payload.task_id, &payload.head_sha, &job)
                    .instrument(span)
                    .await
            }
            JobKind::LandTask => {
                let payload: HeadJob =
                    serde_json::from_value(job.payload.clone()).context("land_task job payload")?;
                let span =
                    tracing::info_span!("land", task = %payload.task_id, head = %payload.head_sha);
                self.handlers()?
                    .land_task(payload.task_id, &payload.head_sha, &job)
                    .instrument(span)
                    .await
            }
            JobKind::DashboardAction => {
                let payload: ActionJob = serde_json::from_value(job.payload.clone())
                    .context("dashboard_action job payload")?;
                let span =
                    tracing::info_span!("dashboard", run = %payload.run_id, actor = %payload.actor);
                self.handlers()?
                    .on_dashboard_action(&payload)
                    .instrument(span)
                    .await
            }
        }
    }
}
