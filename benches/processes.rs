//! Several-process benchmark on PostgreSQL: real `flotilla serve` processes sharing one
//! database, as a fleet spread over machines runs.
//!
//! 1. A six-task issue on the simulator, label → every task merged, with one `web`
//!    process and 1, 2 and 3 `worker` processes (a fresh database and fresh data dirs
//!    each time, in the same run). The agents are the scripted worker, which sleeps two
//!    seconds and appends a line, and the scripted reviewer as the one lens, all in the
//!    default sandbox: the figure measures the harness, not an agent. Every worker
//!    process runs `BENCH_AGENTS` agents at once (`--max-agents`, per process; default
//!    2), so the fleet's slots grow with its processes (`--max-agents-per-repo 6`).
//!    Printed with the ratio against one worker, the time from
//!    the label to the first agent's start (its worker builds its mirror first), and,
//!    with three workers, the same for a one-task issue once mirrors exist.
//! 2. Intake with 1 and 2 `web` processes: signed `issues.labeled` deliveries from 64
//!    concurrent senders spread over the processes; durable deliveries per second, p50
//!    and p99 beside the same requests refused at the signature.
//!
//! `cargo bench --bench processes` — knobs: `BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; scratch databases are created beside it
//! and dropped), `BENCH_DELIVERIES` (10000), `BENCH_SENDERS` (64), `BENCH_WORKERS`
//! (`1,2,3`), `BENCH_AGENTS` (2).

#[path = "support/load.rs"]
mod load;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use flotilla::sim::{SeedConfig, SimConfig, SimHandle};
use flotilla::store::{RunState, Store, TaskState};
use flotilla::types::{AppId, IssueNumber};
use flotilla::webhook::signature::sign;
use tokio::process::{Child, Command};

use load::{Load, Measured, send_all};

const SECRET: &str = "bench-secret";
const APP_ID: AppId = AppId(1001);
const SLUG: &str = "flotilla-bench";
/// Tasks of the issue.
const TASKS: usize = 6;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_else(|e| -e.duration().as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let workers: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2,3".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let load = Load {
        deliveries: env_usize("BENCH_DELIVERIES", 10_000),
        senders: env_usize("BENCH_SENDERS", 64),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .context("connecting to BENCH_POSTGRES_URL")?;
        fleet_figures(&admin, &admin_url, &workers).await?;
        intake_figures(&admin, &admin_url, &load).await?;
        admin.close().await;
        anyhow::Ok(())
    })
}

/// A database of its own on the benchmark's PostgreSQL server, dropped at the end.
struct Scratch {
    name: String,
    url: String,
}

impl Scratch {
    async fn create(admin: &sqlx::PgPool, admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("flotilla_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin)
            .await?;
        let (server, _) = admin_url
            .rsplit_once('/')
            .context("a database URL ends with /<database>")?;
        Ok(Self {
            url: format!("{server}/{name}"),
            name,
        })
    }

    async fn drop(self, admin: &sqlx::PgPool) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(admin)
        .await?;
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One `flotilla serve` process, its data and log under `dir`.
struct Serve {
    port: u16,
    child: Child,
}

impl Serve {
    async fn start(
        dir: &Path,
        role: &str,
        api: &str,
        database: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("flotilla.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .arg("serve")
            .env("FLOTILLA_ROLE", role)
            .env("FLOTILLA_LISTEN", format!("127.0.0.1:{port}"))
            .env("FLOTILLA_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("FLOTILLA_DATA_DIR", dir.join("data"))
            .env("FLOTILLA_DATABASE_URL", database)
            .env("FLOTILLA_GITHUB_API_URL", api)
            .env("FLOTILLA_APP_ID", APP_ID.0.to_string())
            .env("FLOTILLA_PRIVATE_KEY", fixture("keys/test-app.pem"))
            .env("FLOTILLA_WEBHOOK_SECRET", SECRET)
            .env("FLOTILLA_APP_SLUG", SLUG)
            .env("FLOTILLA_LOG", "info")
            .envs(extra.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting flotilla serve")?;
        let serve = Self { port, child };
        serve.healthy().await?;
        Ok(serve)
    }

    fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhook", self.port)
    }

    async fn healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        loop {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{url} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The simulator with a repository configured for the scripted agents (its webhooks
/// go nowhere until a web process is started).
async fn simulator(dir: &Path) -> anyhow::Result<(SimHandle, SeedConfig)> {
    let source = dir.join("source");
    std::fs::create_dir_all(source.join(".github"))?;
    std::fs::write(source.join("README.md"), "Benchmark repository\n")?;
    let records = dir.join("records");
    std::fs::create_dir_all(&records)?;
    let config = format!(
        "worker:\n  adapter: command\n  command: exec sh {} {}\n  time_limit: 60s\n\
         max_tasks: {TASKS}\nmax_parallel_tasks: {TASKS}\n\
         reviewers:\n  correctness:\n    adapter: command\n    command: exec sh {}\n",
        fixture("agents/scripted-worker.sh").display(),
        records.display(),
        fixture("agents/scripted-reviewer.sh").display()
    );
    std::fs::write(source.join(".github/flotilla.yml"), config)?;
    let mut seed = SeedConfig::new(std::fs::read_to_string(fixture("keys/test-app.pub.pem"))?);
    seed.app_id = APP_ID;
    seed.app_slug = SLUG.to_owned();
    seed.source = Some(source);
    let mut config = SimConfig::new(dir.join("sim"));
    config.webhook_url = Some("http://127.0.0.1:9/webhook".to_owned());
    config.webhook_secret = Some(SECRET.to_owned());
    config.seed = Some(seed.clone());
    Ok((flotilla::sim::start(config).await?, seed))
}

/// When each agent started: the scripted worker records its environment in
/// `records/env-<task>` first thing.
fn agent_starts(records: &Path) -> anyhow::Result<Vec<(String, SystemTime)>> {
    let mut starts = Vec::new();
    for entry in std::fs::read_dir(records)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(task) = name.strip_prefix("env-") {
            starts.push((task.to_owned(), entry.metadata()?.modified()?));
        }
    }
    Ok(starts)
}

/// Labels `issue` and waits until its run settled; returns when it was labelled and
/// when the last task merged (every task must merge).
async fn label_until_merged(
    sim: &SimHandle,
    seed: &SeedConfig,
    store: &Store,
    issue: IssueNumber,
) -> anyhow::Result<(SystemTime, Duration)> {
    let repo = seed.repo_name();
    let labelled_at = now();
    let started = Instant::now();
    sim.label_issue(&repo, issue.0, "flotilla", &seed.writer)
        .await?;
    let deadline = started + Duration::from_secs(600);
    loop {
        anyhow::ensure!(Instant::now() < deadline, "the run did not settle in time");
        if let Some(run) = store.latest_run(&repo, issue).await?
            && run.state == RunState::Settled
        {
            let tasks = store.tasks_of_run(run.id).await?;
            anyhow::ensure!(
                tasks.iter().all(|t| t.state == TaskState::Merged),
                "every task should have merged: {tasks:?}"
            );
            return Ok((labelled_at, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One six-task run with `workers` worker processes.
struct FleetRun {
    workers: usize,
    all_merged: Duration,
    first_start_ms: f64,
    warm_start_ms: Option<f64>,
}

async fn fleet_run(
    admin: &sqlx::PgPool,
    admin_url: &str,
    workers: usize,
    warm: bool,
) -> anyhow::Result<FleetRun> {
    let dir = tempfile::TempDir::new()?;
    let database = Scratch::create(admin, admin_url).await?;
    let (sim, seed) = simulator(dir.path()).await?;
    let records = dir.path().join("records");
    let fleet_env = vec![
        (
            "FLOTILLA_MAX_AGENTS",
            std::env::var("BENCH_AGENTS").unwrap_or_else(|_| "2".to_owned()),
        ),
        ("FLOTILLA_MAX_AGENTS_PER_REPO", TASKS.to_string()),
        ("FLOTILLA_SANDBOX_RO", fixture("").display().to_string()),
        ("FLOTILLA_SANDBOX_RW", records.display().to_string()),
    ];
    let api = sim.api_url();
    let web = Serve::start(
        &dir.path().join("web"),
        "web",
        &api,
        &database.url,
        &fleet_env,
    )
    .await?;
    sim.set_webhook_url(APP_ID, &web.webhook_url())?;
    let mut processes = vec![web];
    for n in 1..=workers {
        let dir = dir.path().join(format!("worker-{n}"));
        processes.push(Serve::start(&dir, "worker", &api, &database.url, &fleet_env).await?);
    }
    let store = Store::connect(&database.url).await?;
    let repo = seed.repo_name();
    let body: String = (1..=TASKS)
        .map(|n| format!("- [ ] slowly add `src/part-{n}.txt`\n"))
        .collect();
    let issue = sim
        .open_issue(&repo, "Six independent parts", &body, &seed.writer)
        .await?;
    let (labelled_at, all_merged) = label_until_merged(&sim, &seed, &store, issue).await?;
    let starts = agent_starts(&records)?;
    let first_start_ms = starts
        .iter()
        .map(|(_, at)| ms_between(labelled_at, *at))
        .fold(f64::INFINITY, f64::min);

    let warm_start_ms = if warm {
        let before: Vec<String> = starts.into_iter().map(|(task, _)| task).collect();
        let issue = sim
            .open_issue(
                &repo,
                "One more part",
                "- [ ] add `src/warm.txt`\n",
                &seed.writer,
            )
            .await?;
        let (labelled_at, _) = label_until_merged(&sim, &seed, &store, issue).await?;
        agent_starts(&records)?
            .into_iter()
            .filter(|(task, _)| !before.contains(task))
            .map(|(_, at)| ms_between(labelled_at, at))
            .reduce(f64::min)
    } else {
        None
    };
    store.close().await;
    for process in processes {
        process.stop().await;
    }
    sim.shutdown().await;
    database.drop(admin).await?;
    Ok(FleetRun {
        workers,
        all_merged,
        first_start_ms,
        warm_start_ms,
    })
}

async fn fleet_figures(
    admin: &sqlx::PgPool,
    admin_url: &str,
    workers: &[usize],
) -> anyhow::Result<()> {
    let most = workers.iter().copied().max().unwrap_or(0);
    let mut runs = Vec::new();
    for &n in workers {
        runs.push(fleet_run(admin, admin_url, n, n == most).await?);
    }
    println!(
        "label → all merged, a {TASKS}-task issue (agents sleep 2 s; 1 web process + N worker \
         processes on PostgreSQL, bubblewrap sandbox, 2-core machine):"
    );
    println!("  workers  all merged   vs 1 worker  label → first agent start");
    let one = runs
        .iter()
        .find(|r| r.workers == 1)
        .map(|r| r.all_merged.as_secs_f64());
    for run in &runs {
        let ratio = one.map_or_else(
            || "-".to_owned(),
            |one| format!("{:.2}", run.all_merged.as_secs_f64() / one),
        );
        println!(
            "  {:>7}  {:>8.1} s   {ratio:>11}  {:>6.0} ms (its worker builds the mirror first)",
            run.workers,
            run.all_merged.as_secs_f64(),
            run.first_start_ms
        );
    }
    for run in runs.iter().filter(|r| r.warm_start_ms.is_some()) {
        println!(
            "  label → agent start with {} worker processes, mirrors built: {:.0} ms (a one-task issue after the run)",
            run.workers,
            run.warm_start_ms.unwrap_or_default()
        );
    }
    Ok(())
}

/// Intake on `webs` web processes: refused, then durable, as `benches/intake.rs` does.
async fn intake_run(
    admin: &sqlx::PgPool,
    admin_url: &str,
    webs: usize,
    load: &Load,
) -> anyhow::Result<(Measured, Measured, i64)> {
    let dir = tempfile::TempDir::new()?;
    let database = Scratch::create(admin, admin_url).await?;
    let mut processes = Vec::new();
    for n in 1..=webs {
        let dir = dir.path().join(format!("web-{n}"));
        // GitHub is nowhere: web processes only store deliveries (their recovery loop's
        // calls fail and are retried later, off the measured path).
        processes.push(Serve::start(&dir, "web", "http://127.0.0.1:9", &database.url, &[]).await?);
    }
    let urls: Vec<String> = processes.iter().map(Serve::webhook_url).collect();
    let body: Arc<Vec<u8>> = Arc::new(std::fs::read(fixture("webhooks/issues.labeled.json"))?);
    let good = sign(SECRET, &body);
    let bad = sign("wrong-secret", &body);
    let warmup = Load {
        deliveries: 1_000,
        senders: load.senders,
    };
    send_all(&urls, &body, &bad, &warmup, "warmup-refused").await?;
    let refused = send_all(&urls, &body, &bad, load, "refused").await?;
    send_all(&urls, &body, &good, &warmup, "warmup").await?;
    let store = Store::connect(&database.url).await?;
    let before = store.count_deliveries().await?;
    let durable = send_all(&urls, &body, &good, load, "durable").await?;
    let stored = store.count_deliveries().await? - before;
    store.close().await;
    for process in processes {
        process.stop().await;
    }
    database.drop(admin).await?;
    Ok((durable, refused, stored))
}

async fn intake_figures(admin: &sqlx::PgPool, admin_url: &str, load: &Load) -> anyhow::Result<()> {
    println!(
        "intake on PostgreSQL, {} signed issues.labeled deliveries from {} concurrent senders \
         spread over the web processes:",
        load.deliveries, load.senders
    );
    for webs in [1, 2] {
        let (durable, refused, stored) = intake_run(admin, admin_url, webs, load).await?;
        println!(
            "  {webs} web process{}: durable {:>6.0} deliveries/s  p50 {:>6.2} ms  p99 {:>7.2} ms  \
             (rows stored {stored}, statuses {:?})",
            if webs == 1 { "  " } else { "es" },
            durable.per_second,
            durable.p50_ms,
            durable.p99_ms,
            durable.statuses
        );
        println!(
            "      refused at the signature {:>6.0} requests/s    p50 {:>6.2} ms  p99 {:>7.2} ms  \
             → durable / refused: throughput {:.2}, p99 {:.2}",
            refused.per_second,
            refused.p50_ms,
            refused.p99_ms,
            durable.per_second / refused.per_second,
            durable.p99_ms / refused.p99_ms
        );
    }
    Ok(())
}
