//! What the orchestrator needs to run agents: the GitHub client, the data directory,
//! the host environment agents are built from, the limits, and the locks that keep
//! one git process per mirror and one editor per plan comment, and how often the plan
//! comment was last written.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::branch_rules::BranchRules;
use super::pacing::{GithubPacing, PlanEdits};
use crate::agent::HostEnv;
use crate::cost::{Limit, Pricing};
use crate::github::{GithubApp, InstallationClient};
use crate::links::DashboardLinks;
use crate::redact::Redactor;
use crate::sandbox::Sandbox;
use crate::store::{RunId, SlotLimits};
use crate::types::{AppId, InstallationId, RepoName};
use crate::workspace::BotIdentity;

/// How a process runs its fleet; `flotilla serve`, the demo and the tests fill it in.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The GitHub client (App credentials, base URL).
    pub github: GithubApp,
    /// The App's id: check runs and check events from it are Flotilla's own.
    pub app_id: AppId,
    /// A separate App that posts the lenses' reviews as approvals and change requests;
    /// without one, Flotilla's own App posts them as comments.
    pub reviewer_app: Option<GithubApp>,
    /// Mirrors and worktrees live under here.
    pub data_dir: PathBuf,
    /// The environment agents' allowlisted variables are taken from.
    pub host_env: HostEnv,
    /// The sandbox every agent and build command runs in.
    pub sandbox: Sandbox,
    /// Process-wide and per-repository agent slots.
    pub limits: SlotLimits,
    /// Author and committer of every commit Flotilla makes.
    pub bot: BotIdentity,
    /// Between SIGTERM and SIGKILL when an agent's time is up or it is cancelled.
    pub kill_grace: Duration,
    /// Bytes of agent output kept per attempt.
    pub transcript_cap: usize,
    /// How often a running agent's task is checked for cancellation.
    pub cancel_poll: Duration,
    /// Turns tokens into dollars for CLIs that report no cost.
    pub pricing: Pricing,
    /// The most each installation may spend per UTC day.
    pub daily_budget: Limit,
    /// How often the plan comment and in-progress check runs may be written.
    pub pacing: GithubPacing,
    /// The dashboard's pages, linked from check runs and the plan comment; `None`
    /// when no dashboard serves (no link is written).
    pub dashboard: Option<DashboardLinks>,
}

/// A [`FleetConfig`] with the process-local state that goes with it.
#[derive(Debug)]
pub(crate) struct Fleet {
    pub(crate) config: FleetConfig,
    mirror_locks: Mutex<HashMap<RepoName, Arc<tokio::sync::Mutex<()>>>>,
    comment_locks: Mutex<HashMap<RunId, Arc<tokio::sync::Mutex<()>>>>,
    /// What was last written to each plan comment, and when.
    pub(crate) plan_edits: PlanEdits,
    /// What was last read of each base branch's required checks, and when.
    pub(crate) branch_rules: BranchRules,
    agent_waker: Mutex<Option<Arc<Notify>>>,
}

impl Fleet {
    pub(crate) fn new(config: FleetConfig) -> Self {
        Self {
            config,
            mirror_locks: Mutex::default(),
            comment_locks: Mutex::default(),
            plan_edits: PlanEdits::default(),
            branch_rules: BranchRules::default(),
            agent_waker: Mutex::default(),
        }
    }

    /// The client of an installation.
    pub(crate) async fn client(
        &self,
        installation: InstallationId,
    ) -> anyhow::Result<InstallationClient> {
        Ok(self.config.github.installation(installation).await?)
    }

    /// The redaction layer over every value Flotilla holds now: everything an agent
    /// wrote passes through it on its way to GitHub.
    pub(crate) fn redactor(&self) -> Redactor {
        self.config.github.known_secrets().redactor()
    }

    /// Held while git works on a repository's mirror (fetch, worktree add/remove).
    pub(crate) fn mirror_lock(&self, repo: &RepoName) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.mirror_locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(repo.clone()).or_default())
    }

    /// Held while a run's plan comment is rendered and sent, so updates never land
    /// out of order.
    pub(crate) fn comment_lock(&self, run: RunId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.comment_locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(run).or_default())
    }

    /// Lets the scheduler wake the agent workers as soon as it starts a task.
    pub(crate) fn set_agent_waker(&self, waker: Arc<Notify>) {
        *self.agent_waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Wakes an idle agent worker.
    pub(crate) fn wake_agents(&self) {
        if let Some(waker) = &*self.agent_waker.lock().unwrap_or_else(|e| e.into_inner()) {
            waker.notify_waiters();
            waker.notify_one();
        }
    }
}
