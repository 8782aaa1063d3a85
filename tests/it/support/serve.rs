//! A real `flotilla serve` process against the simulator, for the scenarios that kill it
//! (`kill -9`) and start it again on the same data directory.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use flotilla::sim::{CommentView, SeedConfig, SimHandle};
use flotilla::store::{RunState, Store, TaskId, TaskRecord, TaskState};
use flotilla::types::{CommitSha, IssueNumber, RepoName};

use super::world::{WORLD_APP_ID, seeded_sim};
use super::{APP_SLUG, SECRET, fixture_path, wait_for};

/// Starts `flotilla serve` against the simulator at `api`, listening on `port`, with its
/// data in `dir/data` and its log in `dir/flotilla.log`. Agents run in the default
/// sandbox with `fixtures/` (the scripted agents) exposed read-only; `extra_env` adds
/// or overrides settings (`FLOTILLA_DATABASE_URL` included: several processes may share
/// one database).
pub fn serve(dir: &Path, api: &str, port: u16, extra_env: &[(&str, OsString)]) -> Child {
    let mut env: Vec<(&str, OsString)> = vec![
        ("FLOTILLA_APP_ID", WORLD_APP_ID.0.to_string().into()),
        (
            "FLOTILLA_PRIVATE_KEY",
            fixture_path("keys/test-app.pem").into(),
        ),
        ("FLOTILLA_WEBHOOK_SECRET", SECRET.into()),
        ("FLOTILLA_APP_SLUG", APP_SLUG.into()),
    ];
    env.extend(extra_env.iter().cloned());
    serve_unregistered(dir, api, port, &env)
}

/// Starts `flotilla serve` as [`serve`] does but with no App credentials in its
/// settings: it serves the setup page, or runs with the credentials stored in its data
/// dir. `FLOTILLA_PUBLIC_URL` is `http://127.0.0.1:{port}`.
pub fn serve_unregistered(
    dir: &Path,
    api: &str,
    port: u16,
    extra_env: &[(&str, OsString)],
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("flotilla.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("serve")
        .env("FLOTILLA_LISTEN", format!("127.0.0.1:{port}"))
        .env("FLOTILLA_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("FLOTILLA_DATA_DIR", dir.join("data"))
        .env("FLOTILLA_GITHUB_API_URL", api)
        .env("FLOTILLA_JOB_LEASE", "2s")
        .env("FLOTILLA_LOG", "debug")
        .env("FLOTILLA_SANDBOX_RO", fixture_path(""))
        .env_remove("FLOTILLA_DATABASE_URL")
        .envs(extra_env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("flotilla starts")
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until the server on `port` answers `/healthz`.
pub async fn healthy(port: u16) {
    wait_for("flotilla to answer /healthz", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
}

/// A simulator seeded under `dir` whose repository's `.github/flotilla.yml` is `yaml`,
/// with the App's webhook pointed at a free port for a [`serve`] process to take.
pub async fn sim_for_serve(dir: &Path, yaml: &str) -> (SimHandle, SeedConfig, u16) {
    let (sim, seed) = seeded_sim(dir, None).await;
    sim.push_commit(
        &seed.repo_name(),
        "main",
        &[(".github/flotilla.yml", yaml)],
        "Configure",
        &seed.writer,
    )
    .await
    .expect("config committed");
    let port = free_port();
    sim.set_webhook_url(WORLD_APP_ID, &format!("http://127.0.0.1:{port}/webhook"))
        .expect("webhook pointed at the port");
    (sim, seed, port)
}

/// A `.github/flotilla.yml` for a [`serve`] process: the scripted worker (30 s limit)
/// and the scripted reviewer as the one `correctness` lens, with `extra` YAML between
/// them. The scripted agents record nothing here: a served process sees `fixtures/`
/// only.
pub fn scripted_serve_config(extra: &str) -> String {
    format!(
        "worker:\n  adapter: command\n  command: exec sh {}\n  time_limit: 30s\n\
         {extra}reviewers:\n  correctness:\n    adapter: command\n    command: exec sh {}\n",
        fixture_path("agents/scripted-worker.sh").display(),
        fixture_path("agents/scripted-reviewer.sh").display()
    )
}

/// The seeded writer opens an issue and labels it `flotilla`, straight on the
/// simulator: what a person does to a served Flotilla, which has no [`TestWorld`].
///
/// [`TestWorld`]: super::world::TestWorld
pub async fn dispatch_on(
    sim: &SimHandle,
    seed: &SeedConfig,
    title: &str,
    body: &str,
) -> IssueNumber {
    let repo = seed.repo_name();
    let issue = sim
        .open_issue(&repo, title, body, &seed.writer)
        .await
        .expect("issue opened");
    sim.label_issue(&repo, issue.0, "flotilla", &seed.writer)
        .await
        .expect("issue labelled");
    issue
}

/// Waits until the issue's newest run, as the served processes' `store` records it, has
/// settled, and returns its tasks.
pub async fn run_settles(store: &Store, repo: &RepoName, issue: IssueNumber) -> Vec<TaskRecord> {
    wait_for("the run to settle", || async {
        let run = store
            .latest_run(repo, issue)
            .await
            .expect("store answers")?;
        (run.state == RunState::Settled).then_some(())?;
        Some(store.tasks_of_run(run.id).await.expect("store answers"))
    })
    .await
}

/// Waits until the issue's first task is ready and waiting for a person's approval
/// (a configuration with `require_human_approval`), and returns it.
async fn task_waits_for_approval(store: &Store, repo: &RepoName, issue: IssueNumber) -> TaskRecord {
    wait_for("the task to wait for a person's approval", || async {
        let run = store
            .latest_run(repo, issue)
            .await
            .expect("store answers")?;
        let tasks = store.tasks_of_run(run.id).await.expect("store answers");
        (tasks.first()?.state == TaskState::Ready).then(|| tasks[0].clone())
    })
    .await
}

/// Asserts that `sha` has exactly one `flotilla/verify` check run and that it passed: a
/// head verified once, however many processes or restarts it took.
pub fn verified_once(sim: &SimHandle, repo: &RepoName, sha: &CommitSha) {
    let verify_runs: Vec<_> = sim
        .check_runs(repo, sha)
        .into_iter()
        .filter(|c| c.name == "flotilla/verify")
        .collect();
    assert_eq!(verify_runs.len(), 1, "{verify_runs:?}");
    assert_eq!(verify_runs[0].conclusion.as_deref(), Some("success"));
}

/// Kills a served process (`kill -9`) and waits for it to be gone.
pub async fn kill(process: &mut Child) {
    process.start_kill().expect("the process is killed");
    process.wait().await.expect("the process ends");
}

/// The store of the served processes whose data lives under `dir/data`, opened beside
/// them: what a restart scenario reads across processes.
pub async fn served_store(dir: &Path) -> Store {
    Store::connect(&Store::default_url(&dir.join("data")))
        .await
        .expect("the served store opens")
}

/// The seeded writer pushes one new file onto `branch`, straight on the simulator;
/// returns the new head.
pub async fn a_person_pushes(
    sim: &SimHandle,
    seed: &SeedConfig,
    branch: &str,
    path: &str,
) -> CommitSha {
    sim.push_commit(
        &seed.repo_name(),
        branch,
        &[(path, "a person's addition\n")],
        "A person adds a file",
        &seed.writer,
    )
    .await
    .expect("pushed")
}

/// Waits until `task` is ready again on `head`: a person's push, verified.
pub async fn ready_at(store: &Store, task: TaskId, head: &CommitSha, what: &str) {
    wait_for(what, || async {
        let task = store.task(task).await.expect("store answers")?;
        (task.head_sha.as_ref() == Some(head) && task.state == TaskState::Ready).then_some(())
    })
    .await;
}

/// A seeded simulator configured with `yaml`, a data directory for the [`serve`]
/// processes to share in turn, and their store: the ground a restart scenario kills and
/// restarts Flotilla on.
pub struct Served {
    /// The scratch directory: the processes' data and log.
    pub dir: TempDir,
    /// The simulator.
    pub sim: SimHandle,
    /// What the simulator was seeded with.
    pub seed: SeedConfig,
    /// The seeded repository.
    pub repo: RepoName,
    /// The port the App's webhook points at.
    pub port: u16,
    /// The processes' store.
    pub store: Store,
}

impl Served {
    /// The simulator seeded under a fresh directory with `yaml` as the repository's
    /// configuration, and the store its processes will use.
    pub async fn start(yaml: &str) -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (sim, seed, port) = sim_for_serve(dir.path(), yaml).await;
        let store = served_store(dir.path()).await;
        Self {
            repo: seed.repo_name(),
            dir,
            sim,
            seed,
            port,
            store,
        }
    }

    /// Starts a `flotilla serve` process on this ground (its directory, simulator and
    /// port) and waits until it answers: the first start and every restart.
    pub async fn serve(&self) -> Child {
        serve_healthy(self.dir.path(), &self.sim, self.port).await
    }

    /// The App's own comments on `issue`, oldest first.
    pub fn bot_comments(&self, issue: IssueNumber) -> Vec<CommentView> {
        let bot = format!("{APP_SLUG}[bot]");
        self.sim
            .issue_comments(&self.repo, issue.0)
            .into_iter()
            .filter(|c| c.user.0 == bot)
            .collect()
    }

    /// Closes the store and stops the simulator, at the end of a scenario.
    pub async fn stop(self) {
        self.store.close().await;
        self.sim.shutdown().await;
    }

    /// A served Flotilla that lands nothing without a person's approval verified the
    /// one task of the issue `title` (adding `file`) and was then killed (`kill -9`)
    /// while the task waits: where the scenarios about what happens while Flotilla is
    /// down start. Returns the ground, the issue and the waiting task.
    pub async fn down_with_a_task_waiting(
        title: &str,
        file: &str,
    ) -> (Self, IssueNumber, TaskRecord) {
        let served = Self::start(&scripted_serve_config(
            "landing:\n  require_human_approval: true\n",
        ))
        .await;
        let mut process = served.serve().await;
        let issue = dispatch_on(
            &served.sim,
            &served.seed,
            title,
            &format!("- [ ] Add `{file}`"),
        )
        .await;
        let waiting = task_waits_for_approval(&served.store, &served.repo, issue).await;
        kill(&mut process).await;
        (served, issue, waiting)
    }
}

/// Starts `flotilla serve` on `port` with its data under `dir` (see [`serve`]) and
/// waits until it answers.
pub async fn serve_healthy(dir: &Path, sim: &SimHandle, port: u16) -> Child {
    let process = serve(dir, &sim.api_url(), port, &[]);
    healthy(port).await;
    process
}
