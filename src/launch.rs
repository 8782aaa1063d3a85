//! `flotilla serve` from validated settings: opens the store, picks the App's
//! credentials (the settings', else those the setup page stored in the data dir) and
//! starts the server with them, or, with none, starts the setup page and starts the
//! App's part once it registered the App.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;

use crate::agent::HostEnv;
use crate::github::{AppCredentials, GithubApp, GithubSettings, WriteBudget, WriteRate};
use crate::manifest::AppManifest;
use crate::metrics::Metrics;
use crate::orchestrator::worker::WorkerConfig;
use crate::orchestrator::{FleetConfig, GithubPacing};
use crate::role::Role;
use crate::sandbox::Sandbox;
use crate::server::{self, RunningServer, ServerConfig, Switchboard};
use crate::settings::{Dashboard, GivenApp, ServeSettings};
use crate::setup::stored::StoredApp;
use crate::setup::token::SetupToken;
use crate::setup::{self, SetupConfig, SetupState, conversion};
use crate::store::Store;
use crate::web::OpsState;
use crate::web::auth::AuthConfig;
use crate::webhook::recovery::Recovery;
use crate::workspace::BotIdentity;

/// A serving Flotilla and its background loops.
pub struct Serving {
    server: RunningServer,
    background: Background,
}

/// Loops that run beside the server (retention, missed-event recovery); aborted at
/// shutdown.
type Background = Arc<Mutex<Vec<JoinHandle<()>>>>;

impl Serving {
    /// The base URL the server answers at.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops the background loops, then the server.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let loops = std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()));
        for task in loops {
            task.abort();
        }
        self.server.shutdown().await
    }
}

/// Everything but the App's identity that the App's part of the server is built from.
#[derive(Clone)]
struct Parts {
    store: Store,
    github: GithubSettings,
    reviewer: Option<AppCredentials>,
    app_slug: Option<String>,
    /// The dashboard's login: the settings' OAuth client, else the running App's.
    auth: Option<AuthConfig>,
    sandbox: Sandbox,
    settings: Arc<FleetSettings>,
}

/// The fleet's settings, as `flotilla serve` was given them.
struct FleetSettings {
    listen: std::net::SocketAddr,
    data_dir: std::path::PathBuf,
    agents: crate::store::SlotLimits,
    pricing: crate::cost::Pricing,
    daily_budget: crate::cost::Limit,
    workers: usize,
    job_lease: Duration,
    role: Role,
    dashboard: Dashboard,
    metrics_token: Option<SecretString>,
    github_writes: WriteRate,
}

/// Starts `flotilla serve` with `settings`.
pub async fn serve(mut settings: ServeSettings) -> anyhow::Result<Serving> {
    let store = Store::connect(settings.database_url.expose_secret())
        .await
        .context("opening the database (FLOTILLA_DATABASE_URL)")?;
    let background: Background = Arc::default();
    if let Some(age) = settings.retention {
        push(
            &background,
            crate::retention::spawn_daily(store.clone(), age),
        );
    }
    let stored = StoredApp::load(&settings.data_dir)?;
    let stored_path = StoredApp::path(&settings.data_dir);
    let (app, stored) = match (settings.app.take(), stored) {
        (Some(given), Some(_)) => {
            tracing::info!(path = %stored_path.display(),
                "App credentials from the settings (FLOTILLA_APP_ID, key, webhook secret); the ones stored in the data dir are not used");
            (Some(given), None)
        }
        (Some(given), None) => (Some(given), None),
        (None, Some(stored)) => {
            tracing::info!(app_id = stored.id, slug = %stored.slug, path = %stored_path.display(),
                "App credentials loaded from the data dir (no FLOTILLA_APP_ID, key or webhook secret set)");
            (Some(stored.to_given()?), Some(stored))
        }
        (None, None) => (None, None),
    };
    let parts = Parts {
        sandbox: Sandbox::new(settings.sandbox).await?,
        store,
        github: settings.github,
        reviewer: settings.reviewer,
        app_slug: settings
            .app_slug
            .or_else(|| stored.as_ref().map(|app| app.slug.clone())),
        auth: settings.dashboard.auth(stored.as_ref()),
        settings: Arc::new(FleetSettings {
            listen: settings.listen,
            data_dir: settings.data_dir,
            agents: settings.agents,
            pricing: settings.pricing,
            daily_budget: settings.daily_budget,
            workers: settings.workers,
            job_lease: settings.job_lease,
            role: settings.role,
            dashboard: settings.dashboard,
            metrics_token: settings.metrics_token,
            github_writes: settings.github_writes,
        }),
    };
    let server = match app {
        Some(app) => {
            let (config, github) = parts.server_config(app).await?;
            let server = server::start(config).await?;
            start_recovery(&background, github, &parts, server.switchboard())?;
            server
        }
        None => {
            tracing::warn!(
                "no GitHub App credentials: serving the setup page at / to register the App"
            );
            let manifest = match &settings.public_url {
                Some(url) => Some(AppManifest::committed()?.with_public_url(url)),
                None => None,
            };
            let token = SetupToken::create(&parts.settings.data_dir)?;
            let front = settings.public_url.clone().map_or_else(
                || format!("http://{}", parts.settings.listen),
                |url| url.trim_end_matches('/').to_owned(),
            );
            tracing::warn!(
                "to register the GitHub App, open {front}/?token={} (the setup token is also in {})",
                token.reveal(),
                SetupToken::path(&parts.settings.data_dir).display()
            );
            let switchboard = Switchboard::new(setup::standby::router(OpsState {
                store: parts.store.clone(),
                metrics: Metrics::new(),
                workers: Vec::new(),
                metrics_token: parts.settings.metrics_token.clone(),
            }));
            let setup = SetupState::new(SetupConfig {
                manifest,
                web_url: conversion::web_url(
                    &parts.github.base_url,
                    settings.github_web_url.as_deref(),
                ),
                api_url: parts.github.base_url.clone(),
                data_dir: parts.settings.data_dir.clone(),
                activate: activation(parts.clone(), switchboard.clone(), background.clone()),
                token,
            })?;
            server::start_unregistered(parts.settings.listen, setup::routes(setup), switchboard)
                .await?
        }
    };
    Ok(Serving { server, background })
}

/// Starts missed-event recovery and, after each of its passes, reconciliation for the
/// App part `switchboard` runs, in a process that takes webhooks (one `web` process
/// per fleet is enough; `worker` processes leave it to them); its GitHub calls are
/// counted with the fleet's.
fn start_recovery(
    background: &Background,
    github: GithubApp,
    parts: &Parts,
    switchboard: &Switchboard,
) -> anyhow::Result<()> {
    if !parts.settings.role.takes_webhooks() {
        return Ok(());
    }
    let (Some(orchestrator), Some(metrics)) = (switchboard.orchestrator(), switchboard.metrics())
    else {
        anyhow::bail!("missed-event recovery needs the App's part running");
    };
    push(
        background,
        Recovery::new(github.with_metrics(metrics), parts.store.clone()).spawn(orchestrator),
    );
    Ok(())
}

fn push(background: &Background, task: JoinHandle<()>) {
    background
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(task);
}

/// What the setup page calls once the App is registered: the App's part starts as it
/// would have at start with these credentials.
fn activation(parts: Parts, switchboard: Switchboard, background: Background) -> setup::Activate {
    Arc::new(move |app: GivenApp, stored: StoredApp| {
        let mut parts = parts.clone();
        let switchboard = switchboard.clone();
        let background = background.clone();
        Box::pin(async move {
            parts.auth = parts.settings.dashboard.auth(Some(&stored));
            parts.app_slug = Some(stored.slug);
            let (config, github) = parts.server_config(app).await?;
            switchboard.activate(config).await?;
            start_recovery(&background, github, &parts, &switchboard)
        })
    })
}

impl Parts {
    /// The server's configuration with `app`, and the App's client (for recovery).
    async fn server_config(&self, app: GivenApp) -> anyhow::Result<(ServerConfig, GithubApp)> {
        let app_id = app.credentials.app_id;
        let budget: Arc<dyn WriteBudget> = Arc::new(self.store.clone());
        let rate = self.settings.github_writes;
        let github = GithubApp::new(app.credentials, self.github.clone())?
            .with_write_budget(Arc::clone(&budget), rate);
        let reviewer_app = self
            .reviewer
            .clone()
            .map(|credentials| {
                GithubApp::new(credentials, self.github.clone()).map(|reviewer| {
                    reviewer
                        .with_known_secrets(github.known_secrets().clone())
                        .with_write_budget(Arc::clone(&budget), rate)
                })
            })
            .transpose()?;
        let app_slug = match &self.app_slug {
            Some(slug) => slug.clone(),
            None => {
                github
                    .app_info()
                    .await
                    .with_context(|| {
                        format!(
                            "asking {}/app for the App's slug (set FLOTILLA_APP_SLUG to skip)",
                            self.github.base_url
                        )
                    })?
                    .slug
            }
        };
        let settings = &self.settings;
        let config = ServerConfig {
            role: settings.role,
            auth: self.auth.clone(),
            metrics_token: settings.metrics_token.clone(),
            listen: settings.listen,
            secrets: app.secrets,
            store: self.store.clone(),
            fleet: Some(FleetConfig {
                github: github.clone(),
                data_dir: settings.data_dir.clone(),
                host_env: HostEnv::current(),
                sandbox: self.sandbox.clone(),
                limits: settings.agents,
                app_id,
                reviewer_app,
                bot: BotIdentity::for_app(app_id, &app_slug),
                kill_grace: Duration::from_secs(10),
                transcript_cap: 1 << 20,
                cancel_poll: Duration::from_secs(2),
                pricing: settings.pricing.clone(),
                daily_budget: settings.daily_budget,
                pacing: GithubPacing::default(),
                dashboard: self.auth.as_ref().map(|_| settings.dashboard.links()),
            }),
            app_slug,
            workers: WorkerConfig {
                workers: settings.workers,
                lease: settings.job_lease,
                ..WorkerConfig::default()
            },
        };
        Ok((config, github))
    }
}
