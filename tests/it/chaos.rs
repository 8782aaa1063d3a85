//! Three real `flotilla serve` processes on one PostgreSQL database — one `web`, two
//! `worker`s, each with its own data dir — take a six-task issue to merge while the
//! simulator fails a tenth of GitHub's calls (502 or secondary rate limit) and a worker
//! is killed with SIGKILL every 20 seconds and started again, six times. The faults are
//! transient, so every task merges, and nothing is done twice or lost: no job runs in
//! two places at once, and the installation's writes, paced by the budget the three
//! processes share in the database, never exceed it in any minute. PostgreSQL only: SQLite is one
//! process's database.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use flotilla::github::WriteRate;
use flotilla::sim::Chaos;
use flotilla::store::{RunState, Store, TaskState};
use flotilla::types::DeliveryId;
use tempfile::TempDir;
use tokio::process::Child;

use crate::support::serve::{
    dispatch_on, free_port, healthy, kill, scripted_serve_config, serve, sim_for_serve,
};

/// How long the fleet gets to merge every task before the test gives up.
const PATIENCE: Duration = Duration::from_secs(300);
/// How often a worker is killed.
const KILL_EVERY: Duration = Duration::from_secs(20);
/// How many kills: enough to land in every phase (agents, verification, landing), and
/// a bound, so that a loaded machine, where one job may outlast two kill intervals, still
/// lets the run finish instead of interrupting the same job for ever.
const KILLS: usize = 6;
/// When the first kill comes: while the first agents work.
const FIRST_KILL: Duration = Duration::from_secs(6);
/// The installation's write budget the processes share: about the run's unpaced pace
/// at its busiest (30-odd writes in a minute), so the budget paces its peaks without
/// stretching the run past many kills.
const BUDGET: WriteRate = WriteRate {
    burst: 10,
    per_hour: 1800,
};

/// A scratch database on the PostgreSQL server `FLOTILLA_TEST_DATABASE_URL` names,
/// dropped at the end.
struct ScratchDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(admin_url: &str) -> Self {
        let admin = sqlx::PgPool::connect(admin_url)
            .await
            .expect("the test database server answers");
        let name = format!("flotilla_chaos_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("scratch database created");
        let (server, _) = admin_url
            .rsplit_once('/')
            .expect("a database URL ends with /<database>");
        let url = format!("{server}/{name}");
        Self { admin, name, url }
    }

    async fn drop(self) {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await
        .expect("scratch database dropped");
    }
}

/// One `flotilla serve` process the test may kill and start again.
struct Process {
    dir: std::path::PathBuf,
    port: u16,
    env: Vec<(&'static str, OsString)>,
    child: Child,
}

impl Process {
    async fn start(dir: &Path, api: &str, port: u16, env: Vec<(&'static str, OsString)>) -> Self {
        std::fs::create_dir_all(dir).expect("process directory");
        let child = serve(dir, api, port, &env);
        healthy(port).await;
        Self {
            dir: dir.to_owned(),
            port,
            env,
            child,
        }
    }

    /// SIGKILL, then the same process again on its data dir and port.
    async fn kill_and_restart(&mut self, api: &str) {
        kill(&mut self.child).await;
        self.child = serve(&self.dir, api, self.port, &self.env);
        healthy(self.port).await;
    }

    /// SIGKILL and wait until it is gone, so that it holds no database connection.
    async fn stop(mut self) {
        kill(&mut self.child).await;
    }
}

/// The last warnings and errors each process logged, for a failure message (the
/// temporary directory holding the logs is gone once the test fails).
fn warnings(dir: &Path) -> String {
    ["web", "worker-1", "worker-2"]
        .iter()
        .map(|name| {
            let log =
                std::fs::read_to_string(dir.join(name).join("flotilla.log")).unwrap_or_default();
            let lines: Vec<&str> = log
                .lines()
                .filter(|line| line.contains("WARN") || line.contains("ERROR"))
                .collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("== {name}\n{tail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn three_processes_merge_every_task_through_faults_and_kills() {
    let Some(admin_url) = std::env::var("FLOTILLA_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
    else {
        eprintln!(
            "SKIPPED: the multi-process chaos scenario needs PostgreSQL (FLOTILLA_TEST_DATABASE_URL)"
        );
        return;
    };
    let database = ScratchDatabase::create(&admin_url).await;
    let dir = TempDir::new().expect("temporary directory");
    let yaml = scripted_serve_config("max_tasks: 6\nmax_parallel_tasks: 6\n");
    let (sim, seed, web_port) = sim_for_serve(dir.path(), &yaml).await;
    let repo = seed.repo_name();
    let api = sim.api_url();
    let env = |role: &str| {
        vec![
            ("FLOTILLA_ROLE", OsString::from(role)),
            ("FLOTILLA_DATABASE_URL", OsString::from(&database.url)),
            (
                "FLOTILLA_GITHUB_WRITE_BURST",
                OsString::from(BUDGET.burst.to_string()),
            ),
            (
                "FLOTILLA_GITHUB_WRITES_PER_HOUR",
                OsString::from(BUDGET.per_hour.to_string()),
            ),
        ]
    };
    let web = Process::start(&dir.path().join("web"), &api, web_port, env("web")).await;
    let mut workers = Vec::new();
    for name in ["worker-1", "worker-2"] {
        workers
            .push(Process::start(&dir.path().join(name), &api, free_port(), env("worker")).await);
    }
    sim.set_chaos(Some(Chaos {
        percent: 10,
        seed: 0x5eed_f107_111a,
    }));

    let files: Vec<String> = (1..=6).map(|n| format!("src/part-{n}.txt")).collect();
    let body: String = files
        .iter()
        .map(|f| format!("- [ ] slowly add `{f}`\n"))
        .collect();
    let issue = dispatch_on(&sim, &seed, "Six independent parts", &body).await;

    let store = Store::connect(&database.url)
        .await
        .expect("the shared database answers");
    let started = tokio::time::Instant::now();
    let mut next_kill = started + FIRST_KILL;
    let mut kills = 0usize;
    let tasks = loop {
        if let Some(run) = store.latest_run(&repo, issue).await.expect("store answers")
            && run.state == RunState::Settled
        {
            break store.tasks_of_run(run.id).await.expect("store answers");
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the run did not settle within {PATIENCE:?} ({kills} kills); the processes' last warnings:\n{}",
            warnings(dir.path())
        );
        if kills < KILLS && tokio::time::Instant::now() >= next_kill {
            workers[kills % 2].kill_and_restart(&api).await;
            kills += 1;
            next_kill = tokio::time::Instant::now() + KILL_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sim.set_chaos(None);
    assert!(kills > 0, "a worker was killed while the run went on");

    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "every task merges: {tasks:#?}"
    );
    let pulls = sim.pulls(&repo);
    assert_eq!(
        pulls.len(),
        6,
        "one pull request per task, none opened twice"
    );
    let mut reviews_by_head: BTreeMap<String, usize> = BTreeMap::new();
    for pull in &pulls {
        for review in sim.reviews(&repo, pull.number) {
            *reviews_by_head.entry(review.body).or_default() += 1;
        }
    }
    assert!(
        reviews_by_head.values().all(|n| *n == 1),
        "no review posted twice: {reviews_by_head:#?}"
    );
    for task in &tasks {
        let head = task.head_sha.as_ref().expect("a merged task has a head");
        let names: Vec<String> = sim
            .check_runs(&repo, head)
            .into_iter()
            .filter(|run| run.name.starts_with("flotilla/"))
            .map(|run| run.name)
            .collect();
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "no check run created twice: {names:?}"
        );
    }
    let comments: Vec<String> = sim
        .issue_comments(&repo, issue.0)
        .into_iter()
        .map(|c| c.body)
        .collect();
    let unique: BTreeSet<&String> = comments.iter().collect();
    assert_eq!(unique.len(), comments.len(), "no comment posted twice");
    for delivery in sim.deliveries() {
        assert!(
            store
                .delivery(&DeliveryId(delivery.guid.clone()))
                .await
                .expect("store answers")
                .is_some(),
            "delivery {} ({}) was lost",
            delivery.guid,
            delivery.event
        );
    }
    let overlaps = store.overlapping_job_runs().await.expect("store answers");
    assert!(
        overlaps.is_empty(),
        "no job ran in two places at once: {overlaps:#?}"
    );
    let busiest_minute =
        sim.most_installation_writes_within(seed.installation_id, chrono::Duration::seconds(60));
    assert!(
        busiest_minute <= BUDGET.most_per_minute() as usize,
        "the installation wrote {busiest_minute} times within a minute; the budget is {}",
        BUDGET.most_per_minute()
    );
    eprintln!(
        "chaos: every task merged in {:?} with {kills} worker kills; {} job runs, none at \
         once; busiest minute {busiest_minute} installation writes (budget {}), {} writes \
         by anyone; {} writes in all",
        started.elapsed(),
        store.count_job_runs().await.expect("store answers"),
        BUDGET.most_per_minute(),
        sim.most_writes_within(chrono::Duration::seconds(60)),
        sim.call_counts().writes(),
    );
    for process in workers.into_iter().chain([web]) {
        process.stop().await;
    }
    store.close().await;
    database.drop().await;
}
