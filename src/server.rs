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

use crate::orchestrator::Orchestrator;
use crate::orchestrator::worker::{WorkerConfig, WorkerPool};
use crate::store::Store;
use crate::web;
use crate::webhook::recorder::DeliveryRecorder;
use crate::webhook::route::IntakeState;
use crate::webhook::signature::WebhookSecrets;

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
}

/// A running Flotilla; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    workers: WorkerPool,
}

/// Binds, starts the job workers and serves HTTP in the background.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (FLOTILLA_LISTEN)", config.listen))?;
    let addr = listener.local_addr()?;
    let orchestrator = Arc::new(Orchestrator::new(config.store.clone(), config.app_slug));
    let workers = WorkerPool::spawn(config.store.clone(), orchestrator, config.workers);
    let waker = workers.waker();
    let recorder = DeliveryRecorder::spawn(config.store.clone(), move || waker.notify_one());
    let intake = IntakeState {
        secrets: config.secrets,
        recorder,
    };
    let app = web::router(intake, config.store);
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
    })
}

impl RunningServer {
    /// The base URL of the running server, e.g. `http://127.0.0.1:3000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones finish, then stops the workers.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop_http.send(());
        self.http.await.context("the HTTP server task failed")??;
        self.workers.shutdown().await;
        Ok(())
    }
}
