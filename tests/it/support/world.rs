//! `TestWorld`: the GitHub simulator and a real Flotilla (router, store, workers) in one
//! process, wired as on github.com — the simulator delivers signed webhooks to
//! Flotilla's `/webhook`, and Flotilla's GitHub client talks to the simulator.
//!
//! Scenarios act as people do (`open_issue`, `label_issue`, `comment`) and assert on
//! GitHub's state and Flotilla's database together. [`TestWorld::teardown`] fails the
//! test if the App posted a comment, a review that does not uphold or a check run that
//! did not pass which the test never read, if a webhook delivery failed, or if Flotilla
//! left a failed delivery or a dead job behind.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use flotilla::agent::HostEnv;
use flotilla::github::{
    AppCredentials, GithubApp, GithubSettings, InstallationClient, RetryPolicy,
};
use flotilla::links::DashboardLinks;
use flotilla::orchestrator::{FleetConfig, GithubPacing};
use flotilla::sim::{CI_APP_ID, CallCounts, DeliveryView, SeedConfig, SimConfig, SimHandle};
use flotilla::store::{
    DeliveryOutcome, DeliveryRecord, JobState, RunRecord, RunState, SlotLimits, TaskId, TaskRecord,
    TaskState,
};
use flotilla::types::{
    AppId, CommitSha, DeliveryId, InstallationId, IssueNumber, Login, PrNumber, RepoName,
};
use flotilla::workspace::BotIdentity;
use secrecy::ExposeSecret;
use tempfile::TempDir;

mod admin;
mod outcomes;
mod reading;

pub use admin::required;
pub use outcomes::{GATES, LENSES};

use super::git::git_with_token;
use super::{
    APP_SLUG, SECRET, TestApp, fixture_path, test_sandbox_exposing, wait_for, wait_for_within,
};

/// The App id the simulator registers for the test key.
pub const WORLD_APP_ID: AppId = AppId(1001);

/// A GitHub token planted in Flotilla's own environment: it must never reach an agent.
pub const PLANTED_TOKEN: &str = "ghs_plantedInFlotillasEnvironment0000000";

/// The id of the separate reviewer App of [`TestWorld::start_with_reviewer_app`].
pub const REVIEWER_APP_ID: AppId = AppId(1002);

/// The slug of the separate reviewer App; its bot is `flotilla-reviewer[bot]`.
pub const REVIEWER_APP_SLUG: &str = "flotilla-reviewer";

/// How long [`TestWorld::run_ends`] waits for a whole run.
const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A client of the App `app`, authenticated with the test key, pointed at `sim`, that
/// gives up retrying after 5 s.
pub fn app_client(app: AppId, sim: &SimHandle) -> GithubApp {
    let credentials =
        AppCredentials::from_pem_file(app, &fixture_path("keys/test-app.pem")).expect("test key");
    GithubApp::new(
        credentials,
        GithubSettings {
            base_url: sim.api_url(),
            retry: RetryPolicy {
                max_total_wait: Duration::from_secs(5),
                ..RetryPolicy::default()
            },
            ..GithubSettings::default()
        },
    )
    .expect("GitHub client")
}

/// GitHub (simulated) and Flotilla, connected.
pub struct TestWorld {
    /// The simulator, with its scenario controls.
    pub sim: SimHandle,
    /// Flotilla, with its store.
    pub flotilla: TestApp,
    /// Flotilla's GitHub client, pointed at the simulator.
    pub github: GithubApp,
    /// The seeded repository.
    pub repo: RepoName,
    /// A person with write access.
    pub writer: Login,
    /// A person with read access only.
    pub reader: Login,
    installation: InstallationId,
    issues: Mutex<Vec<IssueNumber>>,
    read: Mutex<reading::Read>,
    dir: TempDir,
}

/// The simulator seeded with the test App (id [`WORLD_APP_ID`], slug [`APP_SLUG`]) and
/// its repository, its data under `dir/sim`, signing webhooks with [`SECRET`]. The
/// App's webhook points nowhere until the caller's Flotilla listens
/// (`set_webhook_url`).
pub async fn seeded_sim(dir: &Path, ci_command: Option<&str>) -> (SimHandle, SeedConfig) {
    let public_key =
        std::fs::read_to_string(fixture_path("keys/test-app.pub.pem")).expect("test public key");
    let mut seed = SeedConfig::new(public_key);
    seed.app_id = WORLD_APP_ID;
    seed.app_slug = APP_SLUG.to_owned();
    let mut config = SimConfig::new(dir.join("sim"));
    config.webhook_url = Some("http://127.0.0.1:9/webhook".to_owned());
    config.webhook_secret = Some(SECRET.to_owned());
    config.seed = Some(seed.clone());
    config.ci_command = ci_command.map(str::to_owned);
    let sim = flotilla::sim::start(config)
        .await
        .expect("simulator starts");
    (sim, seed)
}

impl TestWorld {
    /// Boots the simulator seeded with the test App, then Flotilla with its fleet, and
    /// points the App's webhook at Flotilla. The repository's `.github/flotilla.yml`
    /// runs the scripted worker ([`TestWorld::scripted_config`]).
    pub async fn start() -> Self {
        Self::start_with_ci(None).await
    }

    /// Like [`TestWorld::start`], with the repository's CI running `ci_command` (`sh -c`)
    /// on every pushed pull-request head.
    pub async fn start_with_ci(ci_command: Option<&str>) -> Self {
        Self::boot(ci_command, false).await
    }

    /// Like [`TestWorld::start`], with a second App ([`REVIEWER_APP_ID`], slug
    /// [`REVIEWER_APP_SLUG`], the same test key) installed on the repository and
    /// configured as Flotilla's separate reviewer App.
    pub async fn start_with_reviewer_app() -> Self {
        Self::boot(None, true).await
    }

    /// Like [`TestWorld::start`], with the pinned agent CLIs (`tests/agent-clis`)
    /// visible read-only to every sandbox and first on Flotilla's `PATH`, and a dummy
    /// model key in Flotilla's environment under each name in `keys` (agents get one
    /// only through `pass_env`).
    pub async fn start_with_agent_clis(keys: &[&str]) -> Self {
        let vars: Vec<(&str, String)> = keys
            .iter()
            .map(|key| (*key, super::real_cli::DUMMY_API_KEY.to_owned()))
            .collect();
        Self::start_with_agent_clis_env(&vars).await
    }

    /// Like [`TestWorld::start_with_agent_clis`], with each of `vars` set in Flotilla's
    /// environment (a model API's URL as well as its key, say).
    pub async fn start_with_agent_clis_env(vars: &[(&str, String)]) -> Self {
        let bin = super::real_cli::agent_clis_bin();
        let clis = super::real_cli::agent_clis_dir();
        let path = std::env::var("PATH").unwrap_or_default();
        let mut env = HostEnv::current().with("PATH", format!("{}:{path}", bin.display()));
        for (name, value) in vars {
            env = env.with(*name, value);
        }
        Self::boot_with(None, false, env, &[clis], false).await
    }

    /// Like [`TestWorld::start`], with Flotilla serving its dashboard behind login with
    /// GitHub (the simulator's OAuth) at [`TestApp::url`], its check runs and plan
    /// comments linking to it.
    pub async fn start_with_dashboard() -> Self {
        Self::boot_with(None, false, HostEnv::current(), &[], true).await
    }

    async fn boot(ci_command: Option<&str>, reviewer_app: bool) -> Self {
        Self::boot_with(ci_command, reviewer_app, HostEnv::current(), &[], false).await
    }

    async fn boot_with(
        ci_command: Option<&str>,
        reviewer_app: bool,
        host_env: HostEnv,
        read_only: &[std::path::PathBuf],
        dashboard: bool,
    ) -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (sim, seed) = seeded_sim(dir.path(), ci_command).await;
        let github = app_client(WORLD_APP_ID, &sim);
        let reviewer_app = reviewer_app.then(|| {
            let public_key = std::fs::read_to_string(fixture_path("keys/test-app.pub.pem"))
                .expect("test public key");
            sim.install_app(
                REVIEWER_APP_ID,
                REVIEWER_APP_SLUG,
                &public_key,
                InstallationId(3003),
                &seed.repo_name(),
            )
            .expect("reviewer App installed");
            app_client(REVIEWER_APP_ID, &sim)
        });
        let agent_record = dir.path().join("agent-record");
        std::fs::create_dir_all(&agent_record).expect("agent record directory");
        let sandbox = test_sandbox_exposing(
            &dir.path().join("flotilla-data"),
            &sim.api_url(),
            &[dir.path().to_owned()],
            &[agent_record],
            read_only,
        )
        .await;
        let dashboard_listen: Option<std::net::SocketAddr> = dashboard.then(|| {
            let port = super::serve::free_port();
            format!("127.0.0.1:{port}").parse().expect("an address")
        });
        let public_url = dashboard_listen.map(|listen| format!("http://{listen}"));
        let fleet = FleetConfig {
            github: github.clone(),
            sandbox,
            data_dir: dir.path().join("flotilla-data"),
            host_env: host_env
                .with("GITHUB_TOKEN", PLANTED_TOKEN)
                .with("GH_TOKEN", PLANTED_TOKEN),
            limits: SlotLimits {
                global: 4,
                per_repo: 4,
            },
            app_id: WORLD_APP_ID,
            reviewer_app,
            bot: BotIdentity::for_app(WORLD_APP_ID, APP_SLUG),
            kill_grace: Duration::from_millis(500),
            transcript_cap: 64 * 1024,
            cancel_poll: Duration::from_millis(100),
            pricing: flotilla::cost::Pricing::default(),
            daily_budget: flotilla::cost::Limit::default(),
            pacing: GithubPacing::default(),
            dashboard: public_url.as_deref().map(DashboardLinks::new),
        };
        let flotilla = match (dashboard_listen, public_url) {
            (Some(listen), Some(public_url)) => {
                let auth = super::login::auth_config(&sim, &seed, &public_url);
                TestApp::start_with_dashboard(fleet, listen, auth).await
            }
            _ => TestApp::start_with_fleet(fleet).await,
        };
        sim.set_webhook_url(WORLD_APP_ID, &format!("{}/webhook", flotilla.url()))
            .expect("webhook pointed at Flotilla");
        let world = Self {
            repo: seed.repo_name(),
            writer: seed.writer.clone(),
            reader: seed.reader.clone(),
            installation: seed.installation_id,
            sim,
            flotilla,
            github,
            issues: Mutex::new(Vec::new()),
            read: Mutex::default(),
            dir,
        };
        world.set_repo_config(&world.scripted_config("")).await;
        world
    }

    /// A `.github/flotilla.yml` whose worker is the scripted agent
    /// (`fixtures/agents/scripted-worker.sh`) and whose three default lenses are the
    /// scripted reviewer (`fixtures/agents/scripted-reviewer.sh`), both recording what
    /// they saw under [`TestWorld::agent_record`], with 5 s time limits, one attempt per
    /// task, and `extra` YAML appended. An `extra` with its own `reviewers:` section
    /// replaces the scripted lenses, and one with `max_attempts:` the single attempt.
    pub fn scripted_config(&self, extra: &str) -> String {
        let reviewers = if extra.contains("reviewers:") {
            String::new()
        } else {
            let lens = |name: &str| {
                format!(
                    "  {name}:\n    adapter: command\n    command: exec sh {} {}\n    time_limit: 5s\n",
                    fixture_path("agents/scripted-reviewer.sh").display(),
                    self.agent_record().display()
                )
            };
            format!(
                "reviewers:\n{}{}{}",
                lens("correctness"),
                lens("security"),
                lens("runs")
            )
        };
        let attempts = if extra.contains("max_attempts:") {
            ""
        } else {
            "max_attempts: 1\n"
        };
        format!(
            "worker:\n  adapter: command\n  command: exec sh {} {}\n  time_limit: 5s\n\
             {attempts}{reviewers}{extra}",
            fixture_path("agents/scripted-worker.sh").display(),
            self.agent_record().display()
        )
    }

    /// The command line of the scripted reviewer, for configurations that set their
    /// own lenses.
    pub fn scripted_reviewer(&self) -> String {
        format!(
            "exec sh {} {}",
            fixture_path("agents/scripted-reviewer.sh").display(),
            self.agent_record().display()
        )
    }

    /// The installation the App has on the seeded repository.
    pub fn installation_id(&self) -> InstallationId {
        self.installation
    }

    /// Where the scripted agent records its environment and prompt, per task.
    pub fn agent_record(&self) -> std::path::PathBuf {
        self.dir.path().join("agent-record")
    }

    /// The simulator's data directory (its bare repositories, where `git http-backend`
    /// runs).
    pub fn sim_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("sim")
    }

    /// Flotilla's data directory (mirrors and worktrees).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("flotilla-data")
    }

    /// A maintainer commits `yaml` as the repository's `.github/flotilla.yml` on `main`.
    pub async fn set_repo_config(&self, yaml: &str) {
        self.writer_pushes(
            "main",
            &[(".github/flotilla.yml", yaml)],
            "Configure Flotilla",
        )
        .await;
    }

    /// The writer pushes one commit of `files` (path, content) onto `branch`, the way a
    /// person adds to a pull request or to `main` from their own clone; returns the
    /// new head.
    pub async fn writer_pushes(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> CommitSha {
        self.sim
            .push_commit(&self.repo, branch, files, message, &self.writer)
            .await
            .expect("pushed")
    }

    /// The file at `path` on `main` now, if there is one: what landed.
    pub async fn on_main(&self, path: &str) -> Option<String> {
        self.sim.file_at(&self.repo, "main", path).await
    }

    /// The App's bot account.
    pub fn bot(&self) -> Login {
        Login(format!("{APP_SLUG}[bot]"))
    }

    /// Flotilla's client for the seeded installation.
    pub async fn client(&self) -> InstallationClient {
        self.github
            .installation(self.installation)
            .await
            .expect("installation client")
    }

    /// The installation token Flotilla's own client holds now (the one it hands to git).
    pub async fn installation_token(&self) -> String {
        self.github
            .installation_token(self.installation)
            .await
            .expect("installation token")
            .expose_secret()
            .to_owned()
    }

    /// The writer opens an issue.
    pub async fn open_issue(&self, title: &str, body: &str) -> IssueNumber {
        let number = self
            .sim
            .open_issue(&self.repo, title, body, &self.writer)
            .await
            .expect("issue opened");
        self.issues.lock().expect("issues").push(number);
        number
    }

    /// `by` labels an issue.
    pub async fn label_issue_as(&self, issue: IssueNumber, label: &str, by: &Login) {
        self.sim
            .label_issue(&self.repo, issue.0, label, by)
            .await
            .expect("label added");
    }

    /// Waits until the simulator delivered the webhook `which` picks, Flotilla processed
    /// it, and the landing job it queued for `task` at `head` ended — so a test can
    /// assert what that try did not do.
    pub async fn landing_tried(
        &self,
        task: &TaskRecord,
        head: &CommitSha,
        which: impl Fn(&DeliveryView) -> bool,
    ) {
        let guid = wait_for("the simulator to deliver the event", || async {
            self.sim
                .deliveries()
                .into_iter()
                .find(|d| d.success && which(d))
                .map(|d| d.guid)
        })
        .await;
        let key = format!("{}:land:{head}:{guid}", task.id);
        wait_for(&format!("the landing job {key} to end"), || async {
            self.flotilla
                .store
                .job_by_key(&key)
                .await
                .expect("store answers")
                .filter(|job| job.state == JobState::Done)
        })
        .await;
    }

    /// The writer comments on an issue or pull request.
    pub async fn comment(&self, issue: IssueNumber, body: &str) {
        self.sim
            .comment(&self.repo, issue.0, body, &self.writer)
            .await
            .expect("comment posted");
    }

    /// Waits for the repository's CI to finish on `sha` and returns its conclusion.
    pub async fn ci_result(&self, sha: &CommitSha) -> String {
        wait_for(&format!("CI to finish on {sha}"), || async {
            self.check_runs(sha)
                .into_iter()
                .find(|run| run.app_id == CI_APP_ID && run.status == "completed")
                .and_then(|run| run.conclusion)
        })
        .await
    }

    /// Asserts that the repository's CI passed on `sha`.
    pub async fn ci_passes(&self, sha: &CommitSha) {
        assert_eq!(self.ci_result(sha).await, "success", "CI on {sha}");
    }

    /// Asserts that the repository's CI failed on `sha`.
    pub async fn ci_fails(&self, sha: &CommitSha) {
        assert_eq!(self.ci_result(sha).await, "failure", "CI on {sha}");
    }

    /// Waits until Flotilla has processed the newest delivery the simulator sent for
    /// `event`/`action`, and returns Flotilla's record of it.
    pub async fn flotilla_processed(&self, event: &str, action: &str) -> DeliveryRecord {
        let guid = wait_for(
            &format!("the simulator to deliver {event}.{action}"),
            || async {
                self.sim
                    .deliveries()
                    .into_iter()
                    .rev()
                    .find(|d| d.event == event && d.action.as_deref() == Some(action) && d.success)
                    .map(|d| d.guid)
            },
        )
        .await;
        let id = DeliveryId(guid);
        wait_for(&format!("Flotilla to process {event}.{action}"), || async {
            self.flotilla
                .store
                .delivery(&id)
                .await
                .expect("store answers")
                .filter(|d| d.outcome != DeliveryOutcome::Pending)
        })
        .await
    }

    /// A fresh clone of the repository, fetched over smart HTTP with an installation
    /// token passed per command (never written to the clone's config).
    pub async fn clone_repo(&self, name: &str) -> std::path::PathBuf {
        let target = self.dir.path().join(name);
        let url = self.sim.git_url(&self.repo);
        self.git(self.dir.path(), &["clone", "--quiet", &url, name])
            .await;
        target
    }

    /// Runs git in `dir` as the App, the way a test needs it and not the way Flotilla's
    /// workspace does: the token travels in an `http.extraHeader` on the command line.
    pub async fn git(&self, dir: &Path, args: &[&str]) -> String {
        let token = self
            .github
            .installation_token(self.installation)
            .await
            .expect("installation token");
        git_with_token(dir, token.expose_secret(), args).await
    }

    /// The issue's newest run as the store holds it now, if there is one.
    pub async fn latest_run(&self, issue: IssueNumber) -> Option<RunRecord> {
        self.flotilla
            .store
            .latest_run(&self.repo, issue)
            .await
            .expect("store answers")
    }

    /// The tasks of the issue's newest run as the store holds them now, if there is a run.
    pub async fn latest_tasks(&self, issue: IssueNumber) -> Option<Vec<TaskRecord>> {
        let run = self.latest_run(issue).await?;
        Some(
            self.flotilla
                .store
                .tasks_of_run(run.id)
                .await
                .expect("store answers"),
        )
    }

    /// Waits until the issue's newest run has ended (settled or cancelled), its plan
    /// comment shows it, and — when every task merged — the summary is posted; returns
    /// the run with its tasks.
    pub async fn run_ends(&self, issue: IssueNumber) -> (RunRecord, Vec<TaskRecord>) {
        let store = &self.flotilla.store;
        // A whole run (agents, verification, landing) outlasts one step's 20 s on a
        // loaded machine, such as CI running the suite on PostgreSQL.
        let run = wait_for_within(
            &format!("the run of #{issue} to end"),
            RUN_LIMIT,
            || async {
                self.latest_run(issue)
                    .await
                    .filter(|run| !run.state.is_live())
            },
        )
        .await;
        let shown = format!(
            "({})",
            if run.state == RunState::Settled {
                "settled"
            } else {
                "cancelled"
            }
        );
        let bot = self.bot();
        wait_for(
            &format!("the plan comment of #{issue} to show the end"),
            || async {
                self.sim
                    .issue_comments(&self.repo, issue.0)
                    .iter()
                    .any(|c| {
                        c.user == bot && c.body.contains("Flotilla plan") && c.body.contains(&shown)
                    })
                    .then_some(())
            },
        )
        .await;
        let tasks = store.tasks_of_run(run.id).await.expect("store answers");
        if tasks.iter().all(|t| t.state == TaskState::Merged) {
            self.bot_comment_with(issue, "are merged into").await;
        }
        (run, tasks)
    }

    /// Waits until a task of the issue's newest run is in `state`, and returns it.
    pub async fn task_reaches(&self, issue: IssueNumber, state: TaskState) -> TaskRecord {
        wait_for(
            &format!("a task of #{issue} to be {}", state.as_str()),
            || async {
                self.latest_tasks(issue)
                    .await?
                    .into_iter()
                    .find(|t| t.state == state)
            },
        )
        .await
    }

    /// Waits until every task of the issue's newest run is in `state`, and returns them.
    pub async fn all_tasks_reach(&self, issue: IssueNumber, state: TaskState) -> Vec<TaskRecord> {
        wait_for(
            &format!("every task of #{issue} to be {}", state.as_str()),
            || async {
                let tasks = self.latest_tasks(issue).await?;
                (!tasks.is_empty() && tasks.iter().all(|t| t.state == state)).then_some(tasks)
            },
        )
        .await
    }

    /// Waits until `task` has a head other than `old` and is in `state`, and returns it.
    pub async fn task_moves_on(
        &self,
        task: TaskId,
        old: &CommitSha,
        state: TaskState,
    ) -> TaskRecord {
        let store = &self.flotilla.store;
        wait_for(
            &format!("task {task} to be {} on a head after {old}", state.as_str()),
            || async {
                store
                    .task(task)
                    .await
                    .expect("store answers")
                    .filter(|t| t.state == state && t.head_sha.as_ref().is_some_and(|h| h != old))
            },
        )
        .await
    }

    /// Every run of the scripted reviewer for `task` so far, in order: the lens and the
    /// head it reviewed.
    pub fn reviewer_runs(&self, task: TaskId) -> Vec<(String, CommitSha)> {
        let log =
            std::fs::read_to_string(self.agent_record().join("review-runs")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let (id, lens, head) = (words.next()?, words.next()?, words.next()?);
                (id == task.to_string()).then(|| (lens.to_owned(), CommitSha(head.to_owned())))
            })
            .collect()
    }

    /// The writer approves the pull request's current head.
    pub async fn writer_approves(&self, pr: PrNumber) {
        self.sim
            .approve_pr(&self.repo, pr, &self.writer)
            .await
            .expect("approved");
    }

    /// The writer opens an issue and labels it `flotilla`.
    pub async fn dispatch(&self, title: &str, body: &str) -> IssueNumber {
        let issue = self.open_issue(title, body).await;
        self.label_issue_as(issue, "flotilla", &self.writer).await;
        issue
    }

    /// The GitHub API calls made since `before` was taken, once Flotilla has gone quiet
    /// (no call for a second): what a scenario cost GitHub, by route.
    pub async fn github_calls_since(&self, before: &CallCounts) -> CallCounts {
        let mut last = self.sim.call_counts();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.sim.call_counts();
            if now == last {
                return now.since(before);
            }
            last = now;
        }
    }

    /// Checks that nothing was left unexamined, then stops both sides. Fails the test
    /// when a webhook delivery failed, when Flotilla left a failed delivery or a dead
    /// job behind, or when Flotilla said on GitHub that something went wrong and the
    /// test never read it through [`TestWorld::bot_comments`], [`TestWorld::reviews`]
    /// or [`TestWorld::check_runs`] (or a helper built on them):
    ///
    /// - any comment of the App on an issue the test opened or on a pull request;
    /// - a review by the App or its reviewer App that does not uphold the change: a
    ///   change request, or a comment in which a lens refuted it (an approval, or the
    ///   comment of a lens that tried and could not refute, is routine and may go
    ///   unread);
    /// - a completed check run of either App, on any commit, concluding anything but
    ///   success, skipped or neutral (a check still in progress has said nothing yet).
    pub async fn teardown(self) {
        self.assert_nothing_unread();
        for delivery in self.sim.deliveries() {
            assert!(
                delivery.success,
                "webhook {}.{} ({}) was not accepted by Flotilla: status {}",
                delivery.event,
                delivery.action.unwrap_or_default(),
                delivery.guid,
                delivery.status_code
            );
            if let Some(record) = self
                .flotilla
                .store
                .delivery(&DeliveryId(delivery.guid.clone()))
                .await
                .expect("store answers")
            {
                assert_ne!(
                    record.outcome,
                    DeliveryOutcome::Failed,
                    "Flotilla failed delivery {}: {:?}",
                    delivery.guid,
                    record.outcome_detail
                );
            }
        }
        assert_eq!(
            self.flotilla
                .store
                .count_jobs(JobState::Dead)
                .await
                .expect("store answers"),
            0,
            "Flotilla left dead jobs"
        );
        self.sim.shutdown().await;
        self.flotilla.stop().await;
    }
}
