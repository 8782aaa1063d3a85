//! The database: webhook deliveries, the durable job queue, and runs and tasks, on
//! SQLite or PostgreSQL.
//!
//! One schema, two migration directories (the DDL dialects differ), and one set of
//! queries: SQL is written once with `$n` placeholders, which both drivers accept, and
//! [`with_pool!`] runs it on whichever pool is configured. This module owns every SQL
//! statement; nothing else in Flotilla talks to the database.

mod actions;
mod advisory;
mod capacity;
mod columns;
mod deliveries;
mod job_notify;
mod job_runs;
mod jobs;
mod landing;
mod overview;
mod recovery;
mod retention;
mod runs;
mod scheduling;
mod steps;
mod task_state;
mod tasks;
mod usage;
mod verdicts;
mod verification;
mod write_budget;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqlitePool};

use crate::clock::{Clock, Millis, SystemClock};

pub use actions::{ActionJob, DashboardAction};
pub use deliveries::{DeliveryOutcome, DeliveryRecord, NewDelivery, RecordResult};
pub use job_notify::JobListener;
pub use job_runs::JobRunOverlap;
pub use jobs::{ClaimedJob, JobFate, JobKind, JobLane, JobRow, JobState, NewJob, RetryPolicy};
pub use overview::{JobListing, MergeLock, RunFilter, RunSummary, RunVersion};
pub use retention::Pruned;
pub use runs::{NewRun, RecordedPlan, RunId, RunRecord, RunState, StartRun};
pub use scheduling::{ScheduleMove, SchedulingTask};
pub use steps::{
    NewStep, PROMPT_CAP, StepEnd, StepId, StepKind, StepOutcome, StepRecord, TRANSCRIPT_CAP,
};
pub use tasks::{
    AttemptEnd, NewTask, PendingProposal, SlotLimits, TaskId, TaskJob, TaskRecord, TaskState,
};
pub use usage::NewUsage;
pub use verdicts::{NewVerdict, PatchId, VerdictOutcome, VerdictRecord, VerdictSource};
pub use verification::{HeadJob, VerifyEnd};

/// Runs `$body` with `$pool` bound to the writer pool of whichever backend is configured.
/// The body is compiled once per backend, so the same query text serves both.
macro_rules! with_pool {
    ($store:expr, $role:ident, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pools) => {
                let $pool = $crate::store::pick_sqlite!($role, pools);
                $body
            }
            $crate::store::Backend::Postgres(pool) => {
                let $pool = pool;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// Chooses the SQLite pool for a role: writes go through one connection so they queue
/// in the pool instead of sleeping in SQLite's busy handler; reads run beside them (WAL).
macro_rules! pick_sqlite {
    (write, $pools:ident) => {
        &$pools.writer
    };
    (read, $pools:ident) => {
        &$pools.reader
    };
}
pub(crate) use pick_sqlite;

/// The connected database.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// The embedded default: one file in WAL mode.
    Sqlite(SqlitePools),
    /// Shared by several Flotilla processes, which then share the queue.
    Postgres(PgPool),
}

/// The two pools of a SQLite store.
#[derive(Clone, Debug)]
pub(crate) struct SqlitePools {
    /// A single connection that performs every write.
    writer: SqlitePool,
    /// Connections for reads, which WAL lets run beside the writer.
    reader: SqlitePool,
}

/// Which database a [`Store`] runs on; tests and logs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind())
            .finish()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, None, Arc::new(SystemClock)).await
    }

    /// Like [`Store::connect`], with an injected clock and, for PostgreSQL, a schema to
    /// work in (tests give each test its own schema inside one scratch database).
    pub async fn connect_with(
        url: &str,
        postgres_schema: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url, postgres_schema).await?
        } else if url.starts_with("sqlite:") {
            connect_sqlite(url).await?
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://");
        };
        let store = Self { backend, clock };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to an existing database at `url` without changing it: no migration
    /// runs and a missing SQLite file is an error, not a new database. `flotilla
    /// doctor` checks a deployment with it ([`Store::migrations_match`]) and must
    /// never be the thing that migrates it.
    pub async fn connect_unmigrated(url: &str) -> anyhow::Result<Self> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url, None).await?
        } else if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url).context("parsing the SQLite database URL")?;
            let file = options.get_filename();
            anyhow::ensure!(
                file.exists(),
                "no database at {} (`flotilla serve` creates it)",
                file.display()
            );
            connect_sqlite(url).await?
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://");
        };
        Ok(Self {
            backend,
            clock: Arc::new(SystemClock),
        })
    }

    /// The default database URL: a SQLite file inside the data directory.
    pub fn default_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("flotilla.db").display())
    }

    /// Which backend this store runs on.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The current time by the store's clock.
    pub(crate) fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Answers whether the database answers a trivial query; backs `GET /healthz`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self, read, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Counts every row of `table`, for the counts tests and the benchmark read.
    async fn count_rows(&self, table: &str) -> anyhow::Result<i64> {
        let count = with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// Checks that every migration this build embeds is recorded as applied, with the
    /// same checksum, and that the database records none this build does not know (a
    /// newer Flotilla migrated it). `Ok(Err(reason))` is a mismatch; backs `GET /readyz`.
    pub async fn migrations_match(&self) -> anyhow::Result<Result<(), String>> {
        let migrator = match &self.backend {
            Backend::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        };
        let applied: Vec<(i64, Vec<u8>, bool)> = with_pool!(self, read, |pool| {
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(pool)
                .await
                .context("reading _sqlx_migrations")?
        });
        Ok(compare_migrations(&migrator, &applied))
    }

    /// Closes every connection; later queries fail. Used at shutdown (and by tests that
    /// check what happens when the database goes away).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pools) => {
                pools.writer.close().await;
                pools.reader.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sqlite(pools) => sqlx::migrate!("./migrations/sqlite")
                .run(&pools.writer)
                .await
                .context("applying SQLite migrations")?,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres")
                .run(pool)
                .await
                .context("applying PostgreSQL migrations")?,
        }
        Ok(())
    }
}

/// The verdict of [`Store::migrations_match`] on the rows of `_sqlx_migrations`.
fn compare_migrations(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, Vec<u8>, bool)],
) -> Result<(), String> {
    for migration in migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        match applied
            .iter()
            .find(|(version, _, _)| *version == migration.version)
        {
            None => return Err(format!("migration {} is not applied", migration.version)),
            Some((_, _, false)) => {
                return Err(format!("migration {} failed", migration.version));
            }
            Some((_, checksum, true)) if checksum.as_slice() != &*migration.checksum => {
                return Err(format!(
                    "migration {} was changed after it was applied",
                    migration.version
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((version, _, _)) = applied
        .iter()
        .find(|(version, _, _)| !migrator.iter().any(|m| m.version == *version))
    {
        return Err(format!(
            "the database has migration {version}, which this build does not know"
        ));
    }
    Ok(())
}

async fn connect_sqlite(url: &str) -> anyhow::Result<Backend> {
    let options = SqliteConnectOptions::from_str(url)
        .context("parsing the SQLite database URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a delivery acknowledged to GitHub survives a power cut, not only a crash.
        // Group commit (see `deliveries`) keeps the fsync per batch, not per delivery.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .disable_statement_logging();
    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data directory {}", parent.display()))?;
    }
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .with_context(|| {
            format!(
                "opening SQLite database {}",
                options.get_filename().display()
            )
        })?;
    let reader = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .context("opening SQLite reader connections")?;
    Ok(Backend::Sqlite(SqlitePools { writer, reader }))
}

async fn connect_postgres(url: &str, schema: Option<&str>) -> anyhow::Result<Backend> {
    let mut options = PgConnectOptions::from_str(url)
        .context("parsing the PostgreSQL database URL")?
        .disable_statement_logging();
    if let Some(schema) = schema {
        anyhow::ensure!(
            schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "schema name {schema:?} must be alphanumeric"
        );
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&admin)
            .await
            .context("creating the PostgreSQL schema")?;
        admin.close().await;
        options = options.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    Ok(Backend::Postgres(pool))
}

/// Text as both databases can store it: PostgreSQL refuses the NUL character in `TEXT`,
/// and agent output (a transcript, a reviewer's JSON with `\u0000`) may hold one.
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}
