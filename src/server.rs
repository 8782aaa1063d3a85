//! Assembles a running Flotilla: store → intake (router + group commit) → job workers.
//!
//! `flotilla serve`, the tests and the benchmark all start Flotilla through [`start`], so
//! what they exercise is what runs in production. A `flotilla serve` without App
//! credentials starts through [`start_unregistered`] instead: its HTTP front (the setup
//! page) serves at once, and the App's part (intake, workers, fleet) joins through its
//! [`Switchboard`] once the App is registered, without a restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::orchestrator::worker::{WorkerConfig, WorkerPool};
use crate::orchestrator::{FleetConfig, Orchestrator};
use crate::role::Role;
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
    /// Whether this process takes webhooks, runs jobs, or both.
    pub role: Role,
    /// "Login with GitHub" for the dashboard; `None` serves no dashboard.
    pub auth: Option<AuthConfig>,
    /// The bearer token `/metrics` requires; `None` serves it to anyone.
    pub metrics_token: Option<SecretString>,
}

/// A running Flotilla; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    switchboard: Switchboard,
}

/// The part of a running Flotilla that needs the App: its job workers and orchestrator.
struct Engine {
    workers: Option<WorkerPool>,
    agents: Option<WorkerPool>,
    orchestrator: Arc<Orchestrator>,
    metrics: Metrics,
}

/// Where the App's part of a server plugs in: the routes every request not served by
/// the front goes to (a standby router until the App is registered), and the engine to
/// stop at shutdown.
#[derive(Clone)]
pub struct Switchboard(Arc<Board>);

struct Board {
    routes: RwLock<Router>,
    engine: Mutex<Option<Engine>>,
}

impl Switchboard {
    /// A switchboard whose requests go to `standby` until [`Switchboard::activate`].
    pub fn new(standby: Router) -> Self {
        Self(Arc::new(Board {
            routes: RwLock::new(standby),
            engine: Mutex::new(None),
        }))
    }

    /// Whether the App's part runs.
    pub fn is_active(&self) -> bool {
        self.0.engine.lock().is_ok_and(|engine| engine.is_some())
    }

    /// Starts the App's part (the same as [`start`] does) and sends every later request
    /// to its routes. An error leaves the standby routes in place.
    pub async fn activate(&self, config: ServerConfig) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_active(), "the App's part already runs");
        let (routes, engine) = assemble(config).await?;
        *self
            .0
            .engine
            .lock()
            .map_err(|_| anyhow::anyhow!("the switchboard was poisoned"))? = Some(engine);
        *self
            .0
            .routes
            .write()
            .map_err(|_| anyhow::anyhow!("the switchboard was poisoned"))? = routes;
        Ok(())
    }

    fn routes(&self) -> Router {
        match self.0.routes.read() {
            Ok(routes) => routes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The running App part's handlers' context, for the background loops that act
    /// beside the job workers (reconciliation after missed-event recovery); `None`
    /// until it is activated.
    pub fn orchestrator(&self) -> Option<Arc<Orchestrator>> {
        self.engine(|engine| Arc::clone(&engine.orchestrator))
    }

    /// The running App part's metrics, for background loops whose GitHub calls are
    /// counted with the fleet's; `None` until it is activated.
    pub fn metrics(&self) -> Option<Metrics> {
        self.engine(|engine| engine.metrics.clone())
    }

    /// Reads something of the running App's part; `None` until it is activated.
    fn engine<T>(&self, read: impl FnOnce(&Engine) -> T) -> Option<T> {
        match self.0.engine.lock() {
            Ok(engine) => engine.as_ref().map(read),
            Err(poisoned) => poisoned.into_inner().as_ref().map(read),
        }
    }

    fn take_engine(&self) -> Option<Engine> {
        match self.0.engine.lock() {
            Ok(mut engine) => engine.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

/// Hands a request to the switchboard's current routes.
async fn switched(State(board): State<Switchboard>, request: Request) -> Response {
    use tower::ServiceExt;
    match board.routes().oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Binds, starts the job workers and serves HTTP in the background.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let listener = bind(config.listen).await?;
    let (routes, engine) = assemble(config).await?;
    let switchboard = Switchboard(Arc::new(Board {
        routes: RwLock::new(Router::new()),
        engine: Mutex::new(Some(engine)),
    }));
    Ok(serve(listener, routes, switchboard))
}

/// Binds and serves `front` (the setup page) and, for every other request, what
/// `switchboard` holds: its standby routes until it is activated. Once it is, the App's
/// routes come first (`/` is then the dashboard's when it serves one) and `front`
/// answers only what they do not serve.
pub async fn start_unregistered(
    listen: SocketAddr,
    front: Router,
    switchboard: Switchboard,
) -> anyhow::Result<RunningServer> {
    let listener = bind(listen).await?;
    let app = Router::new().fallback(fronted).with_state(Fronted {
        front,
        board: switchboard.clone(),
    });
    Ok(serve(listener, app, switchboard))
}

/// The routes of a server started without an App: the setup pages and the switchboard.
#[derive(Clone)]
struct Fronted {
    front: Router,
    board: Switchboard,
}

/// Before activation: the front, then the standby routes. After: the App's routes, then
/// the front for a path they answer 404 to (a second return from GitHub's registration
/// is told the App is registered); the App's own 404 stands when the front has none
/// either.
async fn fronted(State(fronted): State<Fronted>, request: Request) -> Response {
    use tower::ServiceExt;
    let Fronted { front, board } = fronted;
    if !board.is_active() {
        let app = front.fallback_service(Router::new().fallback(switched).with_state(board));
        return match app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    let (parts, body) = request.into_parts();
    let again = Request::from_parts(parts.clone(), Body::empty());
    let answered = match board
        .routes()
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if answered.status() != StatusCode::NOT_FOUND {
        return answered;
    }
    match front.oneshot(again).await {
        Ok(response) if response.status() != StatusCode::NOT_FOUND => response,
        Ok(_) => answered,
        Err(never) => match never {},
    }
}

async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (FLOTILLA_LISTEN)"))
}

/// Serves `app` on `listener` in the background.
fn serve(listener: TcpListener, app: Router, switchboard: Switchboard) -> RunningServer {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (stop_http, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "flotilla is listening");
    RunningServer {
        addr,
        stop_http,
        http,
        switchboard,
    }
}

/// Starts the job workers and builds the App's routes (intake and operator endpoints).
async fn assemble(mut config: ServerConfig) -> anyhow::Result<(Router, Engine)> {
    let metrics = Metrics::new();
    let runs_jobs = config.role.runs_jobs();
    let agent_slots = config
        .fleet
        .as_ref()
        .filter(|_| runs_jobs)
        .map(|fleet| fleet.limits.global);
    if let Some(fleet) = &mut config.fleet {
        fleet.github = fleet.github.clone().with_metrics(metrics.clone());
        fleet.reviewer_app = fleet
            .reviewer_app
            .take()
            .map(|app| app.with_metrics(metrics.clone()));
    }
    if let Some(fleet) = &config.fleet {
        config.secrets.register(fleet.github.known_secrets());
    }
    if let Some(fleet) = config.fleet.as_ref().filter(|_| runs_jobs) {
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
    let workers = runs_jobs.then(|| {
        WorkerPool::spawn(
            config.store.clone(),
            Arc::clone(&orchestrator),
            WorkerConfig {
                metrics: metrics.clone(),
                ..config.workers
            },
        )
    });
    let liveness = workers
        .iter()
        .chain(agents.as_ref())
        .map(WorkerPool::liveness)
        .collect();
    // A stored delivery wakes this process's workers at once; a web-only process has
    // none, and the workers elsewhere find the job on their next poll.
    let waker = workers.as_ref().map(WorkerPool::waker);
    let intake = config.role.takes_webhooks().then(|| IntakeState {
        secrets: config.secrets,
        recorder: DeliveryRecorder::spawn(config.store.clone(), move || {
            if let Some(waker) = &waker {
                waker.notify_one();
            }
        }),
    });
    let auth = config.auth.map(AuthState::new).transpose()?;
    let routes = web::router(
        intake,
        OpsState {
            store: config.store,
            metrics: metrics.clone(),
            workers: liveness,
            metrics_token: config.metrics_token,
        },
        auth,
    );
    tracing::info!(role = ?config.role, "the App's part runs");
    Ok((
        routes,
        Engine {
            workers,
            agents,
            orchestrator,
            metrics,
        },
    ))
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

    /// Where the App's part of this server plugs in (its orchestrator and metrics once
    /// it runs).
    pub fn switchboard(&self) -> &Switchboard {
        &self.switchboard
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the workers, then
    /// writes the plan-comment edits still waiting for their slot (GitHub unreachable
    /// is logged: the next process's first change writes the comment).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop_http.send(());
        self.http.await.context("the HTTP server task failed")??;
        let Some(engine) = self.switchboard.take_engine() else {
            return Ok(());
        };
        if let Some(workers) = engine.workers {
            workers.shutdown().await;
        }
        if let Some(agents) = engine.agents {
            agents.shutdown().await;
        }
        if let Err(error) = engine.orchestrator.flush_plans().await {
            tracing::warn!(error = %format!("{error:#}"), "the plan comments' last state could not be written");
        }
        Ok(())
    }
}
