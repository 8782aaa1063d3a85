//! Wake-ups for jobs queued by other processes: PostgreSQL `LISTEN/NOTIFY`.
//!
//! A trigger on `jobs` (migration `20261128000300_job_notify`) notifies the channel
//! `flotilla_jobs.<schema>` with the job's kind whenever a job is inserted, at the commit
//! of the inserting transaction. A [`JobListener`] holds one dedicated connection that
//! listens on that channel and wakes the idle workers of one lane, so a job queued by any
//! Flotilla sharing the database starts without waiting for the next poll. The poll stays
//! as the fallback: a notification lost while the connection is down is covered by one
//! wake-up after every (re)connection and by the poll itself.
//!
//! SQLite has no other process to hear from: its workers are woken in process, and no
//! listener runs. This module only listens; it never claims or changes a job.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Backend, JobKind, JobLane, Store};

/// How long the listener waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The application name of the listener's connection, so operators can tell it apart
/// in `pg_stat_activity`.
const APPLICATION_NAME: &str = "flotilla job listener";

/// The running listener of one worker pool; stops listening when dropped.
#[derive(Debug)]
pub struct JobListener {
    task: JoinHandle<()>,
}

impl Drop for JobListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Store {
    /// On PostgreSQL, starts listening for jobs of `lane` queued by any process sharing
    /// the database, calling `wake.notify_one()` for each (and once after every
    /// connection, for jobs queued while it was not listening). `None` on SQLite, where
    /// every job is queued by this process and woken in process.
    pub fn listen_for_jobs(&self, lane: JobLane, wake: Arc<Notify>) -> Option<JobListener> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pool) => {
                let pool = listener_pool(pool);
                let task = tokio::spawn(listen(pool, lane, wake));
                Some(JobListener { task })
            }
        }
    }
}

/// A pool of one connection, separate from the store's, with the store's connection
/// options (server, credentials, search path): a listener holds its connection for
/// good, and `PgListener` reconnects through this pool.
fn listener_pool(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .application_name(APPLICATION_NAME);
    PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options)
}

/// Listens until the task is aborted: connects, wakes once, wakes on each notification
/// for `lane`, and starts over after any failure. A lost connection is logged once,
/// when it is lost, and its return once, when it is back.
async fn listen(pool: PgPool, lane: JobLane, wake: Arc<Notify>) {
    let mut outage = false;
    loop {
        let failure = match connect(&pool).await {
            Ok(mut listener) => {
                if outage {
                    tracing::info!(lane = lane.as_str(), "job listener connected again");
                    outage = false;
                }
                wake.notify_one();
                receive(&mut listener, lane, &wake).await
            }
            Err(error) => error,
        };
        if !outage {
            tracing::warn!(
                lane = lane.as_str(),
                error = %format!("{failure:#}"),
                "job listener lost its connection; idle workers poll until it is back"
            );
            outage = true;
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Opens the listener's connection and subscribes to this schema's job channel.
async fn connect(pool: &PgPool) -> anyhow::Result<PgListener> {
    let channel: String =
        sqlx::query_scalar("SELECT left('flotilla_jobs.' || current_schema(), 63)")
            .fetch_one(pool)
            .await
            .context("naming the job channel")?;
    let mut listener = PgListener::connect_with(pool)
        .await
        .context("connecting the job listener")?;
    listener
        .listen(&channel)
        .await
        .with_context(|| format!("listening on {channel}"))?;
    Ok(listener)
}

/// Wakes a worker for each notification of a job of `lane` until the connection fails
/// for good; returns why. A connection `PgListener` re-established on its own may have
/// missed notifications, so that wakes a worker too.
async fn receive(listener: &mut PgListener, lane: JobLane, wake: &Notify) -> anyhow::Error {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match notification.payload().parse::<JobKind>() {
                Ok(kind) if kind.lane() == lane => wake.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "ignoring a job notification");
                }
            },
            Ok(None) => {
                tracing::info!(
                    lane = lane.as_str(),
                    "job listener reconnected after losing its connection"
                );
                wake.notify_one();
            }
            Err(error) => return anyhow::Error::new(error).context("receiving job notifications"),
        }
    }
}
