//! The demo's stage: a seeded GitHub simulator with CI, its default branch protected,
//! and a Flotilla wired to it, both in this process, with their data in one scratch
//! directory.
//!
//! It starts and stops them; what happens on the stage is `demo::run`'s business.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::agent::HostEnv;
use crate::github::{AppCredentials, GithubApp, GithubSettings};
use crate::links::DashboardLinks;
use crate::orchestrator::worker::WorkerConfig;
use crate::orchestrator::{FleetConfig, GithubPacing};
use crate::review::VERIFY_CHECK;
use crate::sandbox::{Engine, Sandbox, SandboxSettings};
use crate::server::{self, RunningServer, ServerConfig};
use crate::sim::{self, CI_APP_ID, RequiredCheck, Ruleset, SeedConfig, SimConfig, SimHandle};
use crate::store::{SlotLimits, Store};
use crate::types::{AppId, Login, RepoName};
use crate::web::auth::AuthConfig;
use crate::webhook::signature::WebhookSecrets;
use crate::workspace::BotIdentity;

/// The simulator's webhook target until Flotilla listens; nothing is sent before then.
const NOT_YET_LISTENING: &str = "http://127.0.0.1:9/webhook";

/// How long stopping may take before the demo leaves the rest to process exit.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the stage is built from.
pub(super) struct StageConfig {
    /// Scratch directory for the simulator's repositories and Flotilla's data.
    pub(super) scratch: PathBuf,
    /// The repository or folder the simulated repository starts as.
    pub(super) source: PathBuf,
    /// The simulated CI command.
    pub(super) ci: String,
    /// The test App's private key (Flotilla's side).
    pub(super) private_key: PathBuf,
    /// The test App's public key (the simulator's side).
    pub(super) public_key: PathBuf,
    /// How agents are confined.
    pub(super) sandbox: Engine,
    /// Paths the agents see read-only besides the system (the demo's scripts).
    pub(super) expose: Vec<PathBuf>,
    /// Flotilla's environment, which agents get only the `pass_env` names of.
    pub(super) host_env: HostEnv,
}

/// A running simulator and Flotilla.
pub(super) struct Stage {
    /// The simulator, for the person's actions and the pull requests' state.
    pub(super) sim: SimHandle,
    /// Flotilla.
    pub(super) flotilla: RunningServer,
    /// Flotilla's store, read for the run's progress.
    pub(super) store: Store,
    /// The seeded repository.
    pub(super) repo: RepoName,
    /// Its default branch.
    pub(super) default_branch: String,
    /// The person with write access who opens and labels the issue.
    pub(super) maintainer: Login,
    /// The simulated CI command.
    pub(super) ci: String,
    /// The name of the CI's check run.
    pub(super) ci_check: String,
    /// The checks branch protection requires on the default branch.
    pub(super) required_checks: Vec<String>,
}

impl Stage {
    /// Starts the simulator seeded from `config.source`, protects its default branch,
    /// starts Flotilla, then points the App's webhook at Flotilla.
    pub(super) async fn start(config: StageConfig) -> anyhow::Result<Self> {
        let public_key = std::fs::read_to_string(&config.public_key)
            .with_context(|| format!("reading {}", config.public_key.display()))?;
        let mut seed = SeedConfig::new(public_key);
        seed.source = Some(config.source.clone());
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let mut sim_config = SimConfig::new(config.scratch.join("sim"));
        sim_config.webhook_url = Some(NOT_YET_LISTENING.to_owned());
        sim_config.webhook_secret = Some(secret.clone());
        sim_config.ci_command = Some(config.ci.clone());
        sim_config.seed = Some(seed.clone());
        let ci_check = sim_config.ci_check_name.clone();
        let sim = sim::start(sim_config)
            .await
            .with_context(|| format!("starting the simulator with {}", config.source.display()))?;
        let repo = seed.repo_name();
        let default_branch = default_branch(&config.source, &seed).await;
        let required = [
            (ci_check.clone(), CI_APP_ID),
            (VERIFY_CHECK.to_owned(), seed.app_id),
        ];
        sim.add_ruleset(&repo, ruleset(&default_branch, &required))
            .with_context(|| format!("protecting {default_branch}"))?;
        let store = connect_store(&config.scratch.join("flotilla.db")).await?;
        let flotilla = start_flotilla(&config, &seed, &sim, &secret, store.clone()).await?;
        sim.set_webhook_url(seed.app_id, &format!("{}/webhook", flotilla.url()))?;
        Ok(Self {
            sim,
            flotilla,
            store,
            repo,
            default_branch,
            maintainer: seed.writer,
            ci: config.ci,
            ci_check,
            required_checks: required.into_iter().map(|(name, _)| name).collect(),
        })
    }

    /// Stops Flotilla (letting agents be killed) and then the simulator.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let stopped = tokio::time::timeout(STOP_GRACE, self.flotilla.shutdown()).await;
        self.sim.shutdown().await;
        match stopped {
            Ok(result) => result,
            Err(_) => anyhow::bail!("Flotilla did not stop within {STOP_GRACE:?}"),
        }
    }
}

/// What a careful maintainer sets: a ruleset on the default branch (which the App can
/// read, unlike classic protection) requiring each check from the App that must report
/// it (so a commit status or another App's check of the same name does not count).
fn ruleset(branch: &str, required: &[(String, AppId)]) -> Ruleset {
    Ruleset {
        id: 0,
        name: "Flotilla demo".to_owned(),
        branches: vec![branch.to_owned()],
        required_checks: required
            .iter()
            .map(|(context, app)| RequiredCheck {
                context: context.clone(),
                app_id: Some(*app),
            })
            .collect(),
        strict: false,
    }
}

async fn connect_store(path: &Path) -> anyhow::Result<Store> {
    let path = path
        .to_str()
        .context("the scratch directory's path is not UTF-8")?;
    Store::connect(&format!("sqlite://{path}"))
        .await
        .context("opening the demo's database")
}

async fn start_flotilla(
    config: &StageConfig,
    seed: &SeedConfig,
    sim: &SimHandle,
    secret: &str,
    store: Store,
) -> anyhow::Result<RunningServer> {
    let credentials = AppCredentials::from_pem_file(seed.app_id, &config.private_key)?;
    let github = GithubApp::new(
        credentials,
        GithubSettings {
            base_url: sim.api_url(),
            ..GithubSettings::default()
        },
    )?;
    let data_dir = config.scratch.join("flotilla");
    let mut settings = SandboxSettings::new(config.sandbox, &data_dir, &sim.api_url());
    settings.read_only = config.expose.clone();
    settings.forwarder = std::env::current_exe().ok();
    settings
        .never
        .extend([config.scratch.clone(), config.private_key.clone()]);
    let sandbox = Sandbox::new(settings).await?;
    let listen = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|probe| probe.local_addr())
        .context("finding a free port for Flotilla")?;
    server::start(ServerConfig {
        metrics_token: None,
        role: crate::role::Role::All,
        auth: Some(AuthConfig {
            client_id: seed.oauth_client_id.clone(),
            client_secret: seed.oauth_client_secret.clone().into(),
            web_base: sim.base_url(),
            api_base: sim.api_url(),
            public_url: format!("http://{listen}"),
            session_ttl: Duration::from_secs(8 * 3600),
            access_ttl: Duration::from_secs(60),
        }),
        listen,
        secrets: WebhookSecrets::from_comma_separated(secret)
            .context("the demo's webhook secret is empty")?,
        store,
        app_slug: seed.app_slug.clone(),
        workers: WorkerConfig {
            workers: 2,
            poll_interval: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
        fleet: Some(FleetConfig {
            github,
            data_dir,
            host_env: config.host_env.clone(),
            sandbox,
            limits: SlotLimits {
                global: 3,
                per_repo: 3,
            },
            app_id: seed.app_id,
            reviewer_app: None,
            bot: BotIdentity::for_app(seed.app_id, &seed.app_slug),
            kill_grace: Duration::from_secs(2),
            transcript_cap: 1 << 20,
            cancel_poll: Duration::from_millis(500),
            pricing: crate::cost::Pricing::default(),
            daily_budget: crate::cost::Limit::default(),
            pacing: GithubPacing::default(),
            dashboard: Some(DashboardLinks::new(&format!("http://{listen}"))),
        }),
    })
    .await
    .context("starting Flotilla")
}

/// The seeded repository's default branch: the source's checked-out branch when it is
/// a git repository (a bare clone keeps it), else the seed's.
async fn default_branch(source: &Path, seed: &SeedConfig) -> String {
    let is_repository = source.join(".git").exists() || source.join("HEAD").is_file();
    if !is_repository {
        return seed.default_branch.clone();
    }
    let head = tokio::process::Command::new("git")
        .arg("-C")
        .arg(source)
        .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
        .output()
        .await;
    match head {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => seed.default_branch.clone(),
    }
}
