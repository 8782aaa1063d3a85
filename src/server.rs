//! Assembles a running Flotilla: store → intake (router + group commit) → job workers.
//!
//! `flotilla serve`, the tests and the benchmark all start Flotilla through [`start`], so
//! what they exercise is what runs in production.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::orchestrator::worker::{WorkerConfig, WorkerPool};
use crate::orchestrator::{FleetConfig, Orchestrator};
use crate::store::{JobLane, Store};
use crate::web::auth::{AuthConfig, AuthState};
use crate::web::{self, OpsState};
use crate::webhook::recorder::DeliveryRecorder;
use crate::webhook::route::IntakeState;
use crate::webhook::signature::WebhookSecrets;
use crate::workspace;

/// What a Flotilla process needs once its settings are resolved.
pub struct ServerConfig {
    /// Address to bind (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Accepted webhook secrets.
    pub secrets: WebhookSecrets,
    /// The connected, migrated store.
    pub store: Store,
    /// The App's slug, to recognise its own bot's events.
    pub app_slug: String,
    /// How the job workers run.
    pub workers: WorkerConfig,
    /// The agent fleet; `None` runs intake only (events are stored and logged).
    pub fleet: Option<FleetConfig>,
    /// "Login with GitHub" for the dashboard; `None` serves no dashboard.
    pub auth: Option<AuthConfig>,
}

/// A running Flotilla; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    workers: WorkerPool,
    agents: Option<WorkerPool>,
    orchestrator: Arc<Orchestrator>,
}

/// Binds, starts the job workers and serves HTTP in the background.
pub async fn start(mut config: ServerConfig) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (FLOTILLA_LISTEN)", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics = Metrics::new();
    let agent_slots = config.fleet.as_ref().map(|fleet| fleet.limits.global);
    if let Some(fleet) = &mut config.fleet {
        fleet.github = fleet.github.clone().with_metrics(metrics.clone());
        fleet.reviewer_app = fleet
            .reviewer_app
            .take()
            .map(|app| app.with_metrics(metrics.clone()));
    }
    if let Some(fleet) = &config.fleet {
        config.secrets.register(fleet.github.known_secrets());
        let survivors = fleet.sandbox.reap().await;
        if survivors > 0 {
            tracing::warn!(
                attempts = survivors,
                "killed agent processes an earlier Flotilla on this data dir left running"
            );
        }
        reap_worktrees(&config.store, fleet).await?;
    }
    let orchestrator = Arc::new(Orchestrator::new(
        config.store.clone(),
        config.app_slug,
        config.fleet,
        metrics.clone(),
    ));
    let agents = agent_slots.map(|slots| {
        let pool = WorkerPool::spawn(
            config.store.clone(),
            Arc::clone(&orchestrator),
            WorkerConfig {
                workers: usize::try_from(slots).unwrap_or(1),
                lane: JobLane::Agents,
                metrics: metrics.clone(),
                ..config.workers.clone()
            },
        );
        orchestrator.set_agent_waker(pool.waker());
        pool
    });
    let workers = WorkerPool::spawn(
        config.store.clone(),
        Arc::clone(&orchestrator),
        WorkerConfig {
            metrics: metrics.clone(),
            ..config.workers
        },
    );
    let liveness = std::iter::once(workers.liveness())
        .chain(agents.as_ref().map(WorkerPool::liveness))
        .collect();
    let waker = workers.waker();
    let recorder = DeliveryRecorder::spawn(config.store.clone(), move || waker.notify_one());
    let intake = IntakeState {
        secrets: config.secrets,
        recorder,
    };
    let auth = config.auth.map(AuthState::new).transpose()?;
    let app = web::router(
        intake,
        OpsState {
            store: config.store,
            metrics,
            workers: liveness,
        },
        auth,
    );
    let (stop_http, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "flotilla is listening");
    Ok(RunningServer {
        addr,
        stop_http,
        http,
        workers,
        agents,
        orchestrator,
    })
}

/// Removes the worktrees of tasks no agent works on any more (left by a crash), before
/// any worker starts. A working task's worktree is kept: whoever takes its job over
/// replaces it.
async fn reap_worktrees(store: &Store, fleet: &FleetConfig) -> anyhow::Result<()> {
    let live: Vec<String> = store
        .working_task_ids()
        .await?
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let removed = workspace::reap(&fleet.data_dir, |task| live.iter().any(|l| l == task))
        .await
        .context("reaping worktrees left by an earlier run")?;
    if !removed.is_empty() {
        tracing::info!(?removed, "removed worktrees no task owns");
    }
    Ok(())
}

impl RunningServer {
    /// The base URL of the running server, e.g. `http://127.0.0.1:3000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the workers, then
    /// writes the plan-comment edits still waiting for their slot (GitHub unreachable
    /// is logged: the next process's first change writes the comment).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop_http.send(());
        self.http.await.context("the HTTP server task failed")??;
        self.workers.shutdown().await;
        if let Some(agents) = self.agents {
            agents.shutdown().await;
        }
        if let Err(error) = self.orchestrator.flush_plans().await {
            tracing::warn!(error = %format!("{error:#}"), "the plan comments' last state could not be written");
        }
        Ok(())
    }
}
