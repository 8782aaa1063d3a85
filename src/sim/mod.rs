//! A stateful simulator of the parts of GitHub that Flotilla uses, served over real
//! HTTP: REST and GraphQL endpoints with GitHub's rules, bare git repositories served
//! over smart HTTP, signed webhooks sent back, a simulated CI, and scenario controls
//! (a Rust API and `/_sim/...` admin routes) for the actions a person takes.
//!
//! It depends on nothing in Flotilla but `crate::types`, the webhook signer and
//! `crate::escape` (HTML and query escaping), so it reads as a description of GitHub. It
//! must never learn about Flotilla's internals.

mod admin;
mod app_manifests;
mod auth;
mod away;
mod calls;
mod check_events;
mod ci;
mod closing;
mod error;
mod faults;
mod git;
mod graphql;
mod inspect;
mod json;
mod merge;
pub mod model;
mod oauth;
mod pages;
mod push;
mod routes;
mod scenario;
mod smart_http;
mod state;
mod views;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use jsonwebtoken::DecodingKey;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::types::{AppId, InstallationId, Login, Permission, RepoName};

pub use calls::{CallCounts, is_write};
pub use faults::{Chaos, Fault, FaultKind, PushFault};
pub use state::{Access, CheckRun, MergeMethod, Protection, RequiredCheck, Ruleset};
pub use views::{CommentView, DeliveryView, PullRequestView, ReviewView};

use state::{App, Installation, Repo, UserKind, WebhookTarget, World};

/// The App id GitHub Actions has on github.com; the simulated CI reports as it.
pub const CI_APP_ID: AppId = AppId(15368);

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where bare repositories and CI checkouts live.
    pub data_dir: PathBuf,
    /// Where the seeded App's webhooks are delivered.
    pub webhook_url: Option<String>,
    /// The seeded App's webhook secret.
    pub webhook_secret: Option<String>,
    /// Initial App, installation, users and repository.
    pub seed: Option<SeedConfig>,
    /// Shell command (`sh -c`) run on each pushed pull-request head.
    pub ci_command: Option<String>,
    /// Name of the CI's check run.
    pub ci_check_name: String,
    /// Time limit of one CI run.
    pub ci_timeout: Duration,
    /// Lifetime of installation tokens (GitHub: one hour).
    pub token_ttl: Duration,
}

impl SimConfig {
    /// Defaults: loopback on a random port, no webhooks, no seed, no CI.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            webhook_url: None,
            webhook_secret: None,
            seed: None,
            ci_command: None,
            ci_check_name: "ci".to_owned(),
            ci_timeout: Duration::from_secs(600),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// What the simulator creates at start: an App installed on `owner`, two people and a
/// repository.
#[derive(Clone, Debug)]
pub struct SeedConfig {
    /// The App's id (JWT `iss`).
    pub app_id: AppId,
    /// The App's slug; its bot is `<slug>[bot]`.
    pub app_slug: String,
    /// PEM of the App's RSA public key.
    pub app_public_key_pem: String,
    /// Installation id on `owner`.
    pub installation_id: InstallationId,
    /// Organization owning the repository.
    pub owner: Login,
    /// Repository name.
    pub repo: String,
    /// A git repository or plain folder to import; `None` creates a README-only repo.
    pub source: Option<PathBuf>,
    /// Default branch (used when importing a folder).
    pub default_branch: String,
    /// A person with write access.
    pub writer: Login,
    /// A person with read access only.
    pub reader: Login,
    /// The App's OAuth client id (for "Login with GitHub").
    pub oauth_client_id: String,
    /// The App's OAuth client secret.
    pub oauth_client_secret: String,
}

impl SeedConfig {
    /// A seed with conventional names around the given App public key.
    pub fn new(app_public_key_pem: impl Into<String>) -> Self {
        Self {
            app_id: AppId(1001),
            app_slug: "flotilla".to_owned(),
            app_public_key_pem: app_public_key_pem.into(),
            installation_id: InstallationId(2002),
            owner: Login::from("acme"),
            repo: "widgets".to_owned(),
            source: None,
            default_branch: "main".to_owned(),
            writer: Login::from("alice"),
            reader: Login::from("bob"),
            oauth_client_id: "Iv23lisimulatedflotilla".to_owned(),
            oauth_client_secret: hex::encode(uuid::Uuid::new_v4().as_bytes()),
        }
    }

    /// A seed for the App whose private key (PKCS#1 or PKCS#8 PEM, as GitHub hands it
    /// out) is `private_key_pem`: the simulator keeps only the public half.
    pub fn from_private_key_pem(private_key_pem: &str) -> anyhow::Result<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(private_key_pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(private_key_pem))
            .context("parsing the App's private key PEM")?;
        let public = rsa::RsaPublicKey::from(&key)
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the App's public key")?;
        Ok(Self::new(public))
    }

    /// `owner/repo` of the seeded repository.
    pub fn repo_name(&self) -> RepoName {
        RepoName(format!("{}/{}", self.owner, self.repo))
    }
}

/// CI settings kept at runtime.
#[derive(Clone, Debug)]
struct CiConfig {
    command: String,
    check_name: String,
    timeout: Duration,
}

/// Shared simulator state; cheap to clone (routes get it as axum state).
#[derive(Clone)]
pub struct Sim(Arc<Inner>);

/// What `Sim` points at.
struct Inner {
    world: Mutex<World>,
    outbox: webhooks::Outbox,
    repos_dir: PathBuf,
    work_dir: PathBuf,
    git_lock: tokio::sync::Mutex<()>,
    auto_merge: Notify,
    ci: Option<CiConfig>,
    token_ttl: chrono::Duration,
}

impl Sim {
    /// Locks the state. A panic while holding it leaves the data usable.
    fn world(&self) -> MutexGuard<'_, World> {
        self.0
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The webhook queue.
    fn outbox(&self) -> &webhooks::Outbox {
        &self.0.outbox
    }

    /// The bare repository of `repo`.
    fn repo_path(&self, repo: &RepoName) -> PathBuf {
        let (owner, name) = repo.split().unwrap_or(("", &repo.0));
        git::bare_path(&self.0.repos_dir, owner, name)
    }

    /// Wakes the auto-merge sweeper after a change that may unblock a merge.
    fn kick_auto_merge(&self) {
        self.0.auto_merge.notify_one();
    }
}

/// A running simulator.
pub struct SimHandle {
    sim: Sim,
    addr: SocketAddr,
    seed: Option<SeedConfig>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The REST/GraphQL base URL (`api.github.com`'s stand-in).
    pub fn api_url(&self) -> String {
        self.base_url()
    }

    /// The REST root in GitHub Enterprise Server's layout (`http://…/api/v3`, GraphQL
    /// at `http://…/api/graphql`).
    pub fn enterprise_api_url(&self) -> String {
        format!("{}{ENTERPRISE_REST_PREFIX}", self.base_url())
    }

    /// The smart-HTTP clone URL of a repository.
    pub fn git_url(&self, repo: &RepoName) -> String {
        format!("{}/{}.git", self.base_url(), repo)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The seed the simulator started with.
    pub fn seed(&self) -> Option<&SeedConfig> {
        self.seed.as_ref()
    }

    /// Stops serving and the background tasks.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        for task in self.background.drain(..) {
            task.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for task in &self.background {
            task.abort();
        }
    }
}

/// Binds, seeds and starts serving; returns once the listener is up.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let repos_dir = config.data_dir.join("repos");
    let work_dir = config.data_dir.join("work");
    tokio::fs::create_dir_all(&repos_dir)
        .await
        .context("creating data dir")?;
    tokio::fs::create_dir_all(&work_dir)
        .await
        .context("creating data dir")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut world = World::new(format!("http://{addr}"));
    register_ci_app(&mut world);
    let sim = Sim(Arc::new(Inner {
        world: Mutex::new(world),
        outbox: tx,
        repos_dir,
        work_dir,
        git_lock: tokio::sync::Mutex::new(()),
        auto_merge: Notify::new(),
        ci: config.ci_command.clone().map(|command| CiConfig {
            command,
            check_name: config.ci_check_name.clone(),
            timeout: config.ci_timeout,
        }),
        token_ttl: chrono::Duration::from_std(config.token_ttl)
            .unwrap_or(chrono::Duration::hours(1)),
    }));
    if let Some(seed) = &config.seed {
        apply_seed(&sim, seed, &config).await?;
    }
    let app = router(sim.clone());
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            })
            .await;
        if let Err(err) = result {
            tracing::error!(%err, "simulator server stopped");
        }
    });
    let background = vec![
        tokio::spawn(webhooks::deliver_forever(sim.clone(), rx)),
        tokio::spawn(push::auto_merge_forever(sim.clone())),
    ];
    Ok(SimHandle {
        sim,
        addr,
        seed: config.seed.clone(),
        shutdown: Some(shutdown_tx),
        server: Some(server),
        background,
    })
}

/// Serves until Ctrl-C.
pub async fn run(config: SimConfig) -> anyhow::Result<()> {
    let handle = start(config).await?;
    tracing::info!(url = %handle.base_url(), "GitHub simulator listening");
    println!("GitHub simulator listening on {}", handle.base_url());
    if let Some(seed) = handle.seed() {
        println!("repository: {}", handle.git_url(&seed.repo_name()));
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}

/// Where a GitHub Enterprise Server serves REST (`https://host/api/v3`); the simulator
/// answers there too, and GraphQL at `/api/graphql`, so a client configured for GHES is
/// tested against the same world.
pub const ENTERPRISE_REST_PREFIX: &str = "/api/v3";

/// All routes: REST and GraphQL (with faults, counting and rate-limit headers), also
/// in GitHub Enterprise Server's layout, the admin API, and git smart HTTP as the
/// fallback.
fn router(sim: Sim) -> Router {
    let rest = || routes::router().merge(app_manifests::api_router());
    rest()
        .merge(graphql::router())
        .nest(ENTERPRISE_REST_PREFIX, rest())
        .merge(graphql::enterprise_router())
        .route_layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            faults::layer,
        ))
        .merge(admin::router())
        .merge(app_manifests::web_router())
        .merge(oauth::router())
        .merge(pages::router())
        .fallback(smart_http::handle)
        .with_state(sim)
}

/// The "CI" App that reports simulated CI results (GitHub Actions' stand-in).
fn register_ci_app(world: &mut World) {
    let bot = Login::from("github-actions[bot]");
    world.add_user(&bot, UserKind::Bot);
    world.apps.insert(
        CI_APP_ID,
        App {
            id: CI_APP_ID,
            slug: "github-actions".to_owned(),
            name: "GitHub Actions".to_owned(),
            owner: Login::from("github"),
            public_key: None,
            webhook: None,
            bot,
            permissions: state::manifest_permissions(),
            callback_urls: Vec::new(),
        },
    );
}

/// Creates the seeded App, installation, people and repository.
async fn apply_seed(sim: &Sim, seed: &SeedConfig, config: &SimConfig) -> anyhow::Result<()> {
    let key = DecodingKey::from_rsa_pem(seed.app_public_key_pem.as_bytes())
        .context("parsing the App's public key PEM")?;
    let repo_name = seed.repo_name();
    let path = sim.repo_path(&repo_name);
    if !path.exists() {
        git::import(seed.source.as_deref(), &path, &seed.default_branch).await?;
    }
    let default_branch = git::run(&path, &["symbolic-ref", "--short", "HEAD"], &[])
        .await
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| seed.default_branch.clone());
    let mut world = sim.world();
    let bot = Login(format!("{}[bot]", seed.app_slug));
    world.add_user(&bot, UserKind::Bot);
    world.add_user(&seed.owner, UserKind::Organization);
    let hook_id = world.id();
    world.apps.insert(
        seed.app_id,
        App {
            id: seed.app_id,
            slug: seed.app_slug.clone(),
            name: seed.app_slug.clone(),
            owner: seed.owner.clone(),
            public_key: Some(key),
            webhook: config.webhook_url.clone().map(|url| WebhookTarget {
                url,
                secret: config.webhook_secret.clone(),
                hook_id,
                active: true,
            }),
            bot,
            permissions: state::manifest_permissions(),
            callback_urls: Vec::new(),
        },
    );
    world.oauth.clients.insert(
        seed.oauth_client_id.clone(),
        oauth::OAuthClient {
            app_id: seed.app_id,
            secret: seed.oauth_client_secret.clone(),
        },
    );
    world.installations.insert(
        seed.installation_id,
        Installation {
            id: seed.installation_id,
            app_id: seed.app_id,
            account: seed.owner.clone(),
        },
    );
    world.user(&seed.writer);
    world.user(&seed.reader);
    let id = world.id();
    let mut collaborators = std::collections::BTreeMap::new();
    collaborators.insert(seed.writer.clone(), Permission::Write);
    collaborators.insert(seed.reader.clone(), Permission::Read);
    world.repos.insert(
        repo_name.clone(),
        Repo {
            id,
            name: repo_name,
            default_branch,
            allow_auto_merge: true,
            collaborators,
            next_number: 1,
            issues: Default::default(),
            pulls: Default::default(),
            comments: Vec::new(),
            reviews: Vec::new(),
            review_comments: Vec::new(),
            check_suites: Vec::new(),
            check_runs: Vec::new(),
            statuses: Vec::new(),
            protection: Default::default(),
            rulesets: Vec::new(),
        },
    );
    Ok(())
}
