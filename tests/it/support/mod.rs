//! Shared test setup: a store per test (SQLite by default, PostgreSQL when
//! `FLOTILLA_TEST_DATABASE_URL` names one), a running Flotilla on a free port, signed
//! deliveries, fixtures and bounded waits. Tests never sleep for a fixed time: they wait
//! for a condition with a deadline and a message.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flotilla::agent::{AgentCommand, AgentRun, Role, UsageFormat};
use flotilla::clock::{Clock, ManualClock, SystemClock};
use flotilla::orchestrator::FleetConfig;
use flotilla::orchestrator::worker::WorkerConfig;
use flotilla::sandbox::{Confinement, Engine, Sandbox, SandboxSettings};
use flotilla::server::{self, RunningServer, ServerConfig};
use flotilla::sim::SimHandle;
use flotilla::store::{ClaimedJob, DeliveryOutcome, DeliveryRecord, JobLane, RetryPolicy, Store};
use flotilla::types::{DeliveryId, InstallationId, RepoName};
use flotilla::webhook::signature::{WebhookSecrets, sign};
use tempfile::TempDir;

pub mod browser;
pub mod fake_github;
pub mod git;
pub mod html_form;
pub mod login;
pub mod proc_scan;
pub mod real_cli;
pub mod serve;
pub mod world;

/// The webhook secret test servers accept.
pub const SECRET: &str = "test-webhook-secret";
/// The slug of the App under test; its bot is `flotilla-test[bot]`.
pub const APP_SLUG: &str = "flotilla-test";

/// The environment variable that points the suite at a PostgreSQL database.
const DATABASE_ENV: &str = "FLOTILLA_TEST_DATABASE_URL";

/// A store private to one test, with whatever keeps it alive.
pub struct TestStore {
    /// The store.
    pub store: Store,
    url: String,
    schema: Option<String>,
    clock: Arc<dyn Clock>,
    _dir: TempDir,
}

impl TestStore {
    /// A fresh store on the real clock.
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A fresh store on the given clock: a SQLite file in a temporary directory, or a
    /// schema of its own in the PostgreSQL database named by `FLOTILLA_TEST_DATABASE_URL`.
    pub async fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (url, schema) = match std::env::var(DATABASE_ENV) {
            Ok(url) if !url.is_empty() => {
                (url, Some(format!("t_{}", uuid::Uuid::new_v4().simple())))
            }
            _ => (Store::default_url(dir.path()), None),
        };
        let store = Store::connect_with(&url, schema.as_deref(), Arc::clone(&clock))
            .await
            .expect("test store connects and migrates");
        Self {
            store,
            url,
            schema,
            clock,
            _dir: dir,
        }
    }

    /// The SQLite file, when the store is one (not PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// The PostgreSQL URL and this test's schema, when the store is PostgreSQL.
    pub fn postgres(&self) -> Option<(&str, &str)> {
        self.schema
            .as_deref()
            .map(|schema| (self.url.as_str(), schema))
    }

    /// A second, independent connection pool to the same database, as another
    /// Flotilla process on another machine would have (its clock reads the same time).
    pub async fn another_process(&self) -> Store {
        Store::connect_with(&self.url, self.schema.as_deref(), Arc::clone(&self.clock))
            .await
            .expect("second store connects")
    }

    /// A fresh store on a clock the test moves by hand, and that clock: for leases,
    /// backoffs and heartbeats that would take minutes of real time.
    pub async fn on_manual_clock() -> (Self, ManualClock) {
        let clock = ManualClock::new();
        (Self::with_clock(Arc::new(clock.clone())).await, clock)
    }

    /// `worker` claims the next due job of the events lane for `lease`, if there is one.
    pub async fn claim_event(&self, worker: &str, lease: Duration) -> Option<ClaimedJob> {
        self.store
            .claim(worker, lease, JobLane::Events)
            .await
            .expect("store answers")
    }
}

/// The settings of a Flotilla on `store` as the suite runs one: every role, accepting
/// [`SECRET`] as the App [`APP_SLUG`], with [`fast_workers`], no dashboard login, no
/// metrics token, no agent fleet, on a free loopback port. A scenario changes what it
/// needs (`ServerConfig { auth, ..server_config(store) }`).
pub fn server_config(store: Store) -> ServerConfig {
    ServerConfig {
        metrics_token: None,
        role: flotilla::role::Role::All,
        auth: None,
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        secrets: WebhookSecrets::from_comma_separated(SECRET).expect("a secret"),
        store,
        app_slug: APP_SLUG.to_owned(),
        workers: fast_workers(),
        fleet: None,
    }
}

/// A running Flotilla (router, group commit, workers) on a free loopback port.
pub struct TestApp {
    /// The server's store.
    pub store: Store,
    server: Option<RunningServer>,
    http: reqwest::Client,
    _store: TestStore,
}

impl TestApp {
    /// Starts Flotilla accepting [`SECRET`].
    pub async fn start() -> Self {
        Self::start_with_secrets(SECRET).await
    }

    /// Starts Flotilla accepting a comma-separated list of secrets.
    pub async fn start_with_secrets(secrets: &str) -> Self {
        Self::start_with(secrets, None, None).await
    }

    /// Starts Flotilla with its agent fleet (a GitHub client, a data directory).
    pub async fn start_with_fleet(fleet: FleetConfig) -> Self {
        Self::start_with(SECRET, Some(fleet), None).await
    }

    /// Like [`TestApp::start_with_fleet`], serving the dashboard behind login too, on
    /// `listen` (GitHub's OAuth sends people back to `auth.public_url`, so the address
    /// is chosen before the server starts).
    pub async fn start_with_dashboard(
        fleet: FleetConfig,
        listen: std::net::SocketAddr,
        auth: flotilla::web::auth::AuthConfig,
    ) -> Self {
        Self::start_with(SECRET, Some(fleet), Some((listen, auth))).await
    }

    async fn start_with(
        secrets: &str,
        fleet: Option<FleetConfig>,
        dashboard: Option<(std::net::SocketAddr, flotilla::web::auth::AuthConfig)>,
    ) -> Self {
        let test_store = TestStore::new().await;
        let store = test_store.store.clone();
        let (listen, auth) = match dashboard {
            Some((listen, auth)) => (listen, Some(auth)),
            None => ("127.0.0.1:0".parse().expect("loopback address"), None),
        };
        let server = server::start(ServerConfig {
            auth,
            listen,
            secrets: WebhookSecrets::from_comma_separated(secrets).expect("a secret"),
            fleet,
            ..server_config(store.clone())
        })
        .await
        .expect("flotilla starts");
        Self {
            store,
            server: Some(server),
            http: reqwest::Client::new(),
            _store: test_store,
        }
    }

    /// Runs one reconciliation pass now (`flotilla serve` runs one after each
    /// missed-event recovery pass); returns how many repairs it made.
    pub async fn reconcile(&self) -> usize {
        self.server
            .as_ref()
            .expect("the server runs")
            .switchboard()
            .orchestrator()
            .expect("the App's part runs")
            .reconcile()
            .await
            .expect("reconciliation runs")
    }

    /// The store's SQLite file, when it is one.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self._store.sqlite_file()
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        self.server.as_ref().expect("server running").url()
    }

    /// Sends `body` as GitHub would: signed with [`SECRET`], with event and delivery id.
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
        self.post_webhook(
            &[
                ("x-github-event", event),
                ("x-github-delivery", delivery),
                ("x-hub-signature-256", &sign(SECRET, body)),
            ],
            body,
        )
        .await
    }

    /// Posts to `/webhook` with exactly these headers.
    pub async fn post_webhook(&self, headers: &[(&str, &str)], body: &[u8]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/webhook", self.url()))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request reaches flotilla")
    }

    /// `GET` a path on the server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("request reaches flotilla")
    }

    /// Waits until the delivery has been processed (whatever the outcome) and returns it.
    pub async fn processed(&self, delivery: &str) -> DeliveryRecord {
        let id = DeliveryId::from(delivery);
        wait_for(&format!("delivery {delivery} to be processed"), || async {
            self.store
                .delivery(&id)
                .await
                .expect("store answers")
                .filter(|d| d.outcome != DeliveryOutcome::Pending)
        })
        .await
    }

    /// Stops the server and waits for its workers.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Worker settings that retry quickly, so tests finish fast.
pub fn fast_workers() -> WorkerConfig {
    WorkerConfig {
        workers: 2,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..WorkerConfig::default()
    }
}

/// Polls `probe` until it yields a value, failing the test with `what` after 20 s.
pub async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for_within(what, Duration::from_secs(20), probe).await
}

/// Polls `probe` until it yields a value, failing the test with `what` after `limit`.
pub async fn wait_for_within<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The path of a file under `fixtures/`.
/// The sandbox tests run agents in, as `flotilla serve` would: bubblewrap, hiding
/// `secret_dirs` (the test's data dir, the simulator's storage) and the test App's
/// private keys, with `fixtures/` (the scripted agents) read-only and `writable` (where
/// scripted agents record what they saw) shared.
pub async fn test_sandbox(
    data_dir: &std::path::Path,
    github_api_url: &str,
    secret_dirs: &[PathBuf],
    writable: &[PathBuf],
) -> Sandbox {
    test_sandbox_exposing(data_dir, github_api_url, secret_dirs, writable, &[]).await
}

/// [`test_sandbox`] with `read_only` (the installed agent CLIs) visible besides
/// `fixtures/`.
pub async fn test_sandbox_exposing(
    data_dir: &std::path::Path,
    github_api_url: &str,
    secret_dirs: &[PathBuf],
    writable: &[PathBuf],
    read_only: &[PathBuf],
) -> Sandbox {
    let mut settings = SandboxSettings::new(Engine::Bwrap, data_dir, github_api_url);
    settings.read_only = vec![fixture_path("")];
    settings.read_only.extend(read_only.iter().cloned());
    settings.writable = writable.to_vec();
    settings.forwarder = Some(PathBuf::from(env!("CARGO_BIN_EXE_flotilla")));
    settings.never.extend(secret_dirs.iter().cloned());
    settings.never.extend(
        ["keys/test-app.pem", "keys/test-app.pub.pem"]
            .into_iter()
            .map(fixture_path),
    );
    Sandbox::new(settings)
        .await
        .expect("bubblewrap runs here (.ci/run installs it)")
}

/// A worker run of `command` in `tree` as the tests' agents get it: a short prompt,
/// task `task-7`, a 20 s time limit and a writable tree under the default limits.
pub fn agent_run(command: AgentCommand, tree: &std::path::Path) -> AgentRun {
    AgentRun {
        command,
        working_dir: tree.to_owned(),
        prompt: "Fix the parser.\nTouch only src/parse.rs.\n".to_owned(),
        role: Role::Worker,
        task_id: "task-7".to_owned(),
        task_title: "Fix the parser".to_owned(),
        lens: None,
        time_limit: Duration::from_secs(20),
        kill_grace: Duration::from_millis(500),
        pass_env: Vec::new(),
        transcript_cap: 64 * 1024,
        confinement: Confinement {
            tree_writable: true,
            ..Confinement::default()
        },
        usage_format: UsageFormat::None,
        usage_cap: None,
    }
}

/// A file or directory under the repository's `fixtures/`.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// A webhook example from `fixtures/webhooks/`, e.g. `issues.labeled`.
pub fn webhook_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(&format!("webhooks/{name}.json")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A fixture as JSON, to edit before sending.
pub fn webhook_fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&webhook_fixture(name)).expect("fixture is JSON")
}

/// Captures what Flotilla logs while it is alive, for tests that check what a log may
/// never contain. Tests run on a current-thread runtime, so a thread-local subscriber
/// sees every task's events.
pub struct LogCapture {
    buffer: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// One writer into a [`LogCapture`].
struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Starts capturing every event at debug level and above on this thread.
    pub fn install() -> Self {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(Arc::clone(&writer)))
            .finish();
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
            {
                found.push(path);
            }
        }
    }
    found
}

/// POSTs `body` to the simulator's `/repos/{repo}{path}` as `installation`: what another
/// App or a CI acting beside Flotilla does to the repository.
pub async fn post_as_installation(
    sim: &SimHandle,
    installation: InstallationId,
    repo: &RepoName,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/repos/{repo}{path}", sim.api_url()))
        .bearer_auth(sim.installation_token(installation))
        .json(&body)
        .send()
        .await
        .expect("the simulator answers")
}
