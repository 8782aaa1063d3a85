//! The command line: every setting is a flag with an environment variable.
//!
//! Parsing only; what each command does lives in `main.rs` and the modules it calls.
//! Values that are secret are never echoed by `--help` (`hide_env_values`).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::sandbox::Engine;

/// Flotilla: a GitHub App that runs a fleet of coding agents on labelled issues.
#[derive(Debug, Parser)]
#[command(name = "flotilla", version, about)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `flotilla=debug`.
    #[arg(long, env = "FLOTILLA_LOG", default_value = "info", global = true)]
    pub log: String,

    /// How log lines are written to stderr: `text` for people, `json` (one object a
    /// line, with the fields of every enclosing span) for log collectors.
    #[arg(
        long,
        env = "FLOTILLA_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The shape of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`, `span` (the
    /// innermost span) and `spans` (every enclosing span with its fields: delivery,
    /// repo, run, task, attempt).
    Json,
}

/// Flotilla's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the App: webhook intake, job workers and health check.
    #[command(after_long_help = SANDBOX_HELP)]
    Serve(Box<ServeArgs>),
    /// Check what a deployment needs (git, bubblewrap and the sandbox, agent CLIs, the
    /// App's key against GitHub, the database, the public URL): one line per item.
    Doctor(DoctorArgs),
    /// Print the GitHub App manifest as the JSON GitHub's manifest flow expects.
    Manifest(ManifestArgs),
    /// Forget old delivery bodies, finished jobs and verdict outputs (what `serve` also
    /// does once a day, after `--retention`).
    Prune(PruneArgs),
    /// Run the GitHub simulator standalone (for local runs, demos and scripts).
    Sim(SimArgs),
    /// Run Flotilla end to end against the simulator, with a scripted agent: no GitHub,
    /// no credentials, nothing but this repository.
    Demo(crate::demo::DemoArgs),
    /// Require `flotilla/verify` (from this App) on a repository's branch, keeping its
    /// other protection settings. The App needs `administration: write`.
    Protect(ProtectArgs),
    /// Inside a sandbox: relay TCP connections on a loopback port to the egress proxy's
    /// Unix socket while running a program. Flotilla starts it; operators do not.
    #[command(hide = true)]
    SandboxForward(SandboxForwardArgs),
    /// Inside a reviewer's sandbox (`flotilla-run`): have Flotilla run a command on a
    /// fresh checkout in a sandbox of its own and print its output. Flotilla starts
    /// it; operators do not.
    #[command(hide = true)]
    SandboxRun(SandboxRunArgs),
}

/// What `flotilla serve --help` says of the sandbox, as bubblewrap's and gVisor's
/// documentation say of theirs: what it isolates, and what it does not.
const SANDBOX_HELP: &str = "\
Sandbox (--sandbox bwrap, the default): every worker, planner, reviewer lens and
verify command runs under bubblewrap in its own user, PID, network, IPC and UTS
namespaces, as an unprivileged uid with every capability dropped, no_new_privs and no
further user namespaces. It sees the system (/usr, /bin, /lib*, /etc without files
other users may not read) and the --sandbox-ro paths read-only, its own tree, a private
HOME and TMPDIR (size-limited tmpfs), a /proc of its own, and nothing of the data dir,
the private keys, the database or other tasks. It has no network but loopback; the
hosts an agent's `network.allow` lists are reached through Flotilla's egress proxy, and
GitHub never. Memory and processes are held by control groups where the host offers
them (rlimits otherwise), the tree's growth by Flotilla, and everything an attempt
started dies with it, even after kill -9 of Flotilla.

Not isolated: the kernel is shared, so a kernel exploit escapes the sandbox; CPU time
is not limited beyond each agent's time limit; --sandbox-rw paths are shared by every
agent. --sandbox none runs agents unconfined, as Flotilla's own user, and logs a
warning on every attempt.";

/// Who the App is and where GitHub is: shared by every command that calls GitHub as
/// the App, so each setting has one flag and one environment variable.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The GitHub App's numeric id (required, except by `serve`, which without the id,
    /// key and webhook secret serves the setup page that registers the App).
    #[arg(long, env = "FLOTILLA_APP_ID")]
    pub app_id: Option<u64>,

    /// The GitHub App's private key (required like the id): the path to its PEM file,
    /// or the PEM itself (a value starting with `-----BEGIN`).
    #[arg(
        long,
        env = "FLOTILLA_PRIVATE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub private_key: Option<String>,

    /// A file holding the App's private key, PEM (instead of `--private-key`).
    #[arg(
        long,
        env = "FLOTILLA_PRIVATE_KEY_FILE",
        conflicts_with = "private_key"
    )]
    pub private_key_file: Option<PathBuf>,

    /// GitHub's REST API root (a GitHub Enterprise Server or the simulator elsewhere).
    #[arg(
        long,
        env = "FLOTILLA_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// GitHub's GraphQL endpoint [default: derived from the REST root: `…/graphql`, or
    /// `https://host/api/graphql` for a GitHub Enterprise Server's `https://host/api/v3`].
    #[arg(long, env = "FLOTILLA_GITHUB_GRAPHQL_URL")]
    pub github_graphql_url: Option<String>,

    /// GitHub's web root, where the setup page sends the browser to create the App
    /// [default: derived from the REST root: `https://github.com` for
    /// `https://api.github.com`, `https://host` for a GitHub Enterprise Server's
    /// `https://host/api/v3`, the root itself otherwise (the simulator)].
    #[arg(long, env = "FLOTILLA_GITHUB_WEB_URL")]
    pub github_web_url: Option<String>,
}

/// Where Flotilla keeps its state: shared by `serve` and `prune`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Database URL: `sqlite://…` or `postgres://…` [default: SQLite file in the data dir].
    #[arg(long, env = "FLOTILLA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A file holding the database URL (instead of `--database-url`).
    #[arg(
        long,
        env = "FLOTILLA_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,

    /// Directory for the SQLite database, repository mirrors and worktrees.
    #[arg(long, env = "FLOTILLA_DATA_DIR", default_value = "./flotilla-data")]
    pub data_dir: PathBuf,
}

/// Settings of `flotilla prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Forget what finished longer ago than this (`30d`, `12h`): delivery bodies,
    /// finished jobs, and verdict outputs of runs that are no longer active.
    #[arg(long, default_value = "30d")]
    pub older_than: String,

    /// The database.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Settings of `flotilla serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for webhooks and `/healthz`.
    #[arg(long, env = "FLOTILLA_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Public base URL of this Flotilla, as GitHub reaches it: the setup page registers
    /// the App with its webhook at `<url>/webhook` and its redirect at `<url>/setup`,
    /// and the dashboard's login returns to `<url>/oauth/callback` [default for the
    /// login: `http://` and the listen address].
    #[arg(long, env = "FLOTILLA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// What this process does when several share one PostgreSQL database: `web` takes
    /// webhooks, `worker` runs jobs, `all` does both.
    #[arg(long, env = "FLOTILLA_ROLE", value_enum, default_value = "all")]
    pub role: crate::role::Role,

    /// The App and GitHub.
    #[command(flatten)]
    pub app: AppArgs,

    /// Webhook secret; a comma-separated list is accepted while rotating (required with
    /// the App's id, unless the setup page registered the App).
    #[arg(long, env = "FLOTILLA_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// A file holding the webhook secret (instead of `--webhook-secret`).
    #[arg(
        long,
        env = "FLOTILLA_WEBHOOK_SECRET_FILE",
        conflicts_with = "webhook_secret"
    )]
    pub webhook_secret_file: Option<PathBuf>,

    /// "Login with GitHub" for the dashboard.
    #[command(flatten)]
    pub dashboard: DashboardArgs,

    /// A token `/metrics` then requires as `Authorization: Bearer <token>` (401
    /// without it) [default: `/metrics` is open to anyone who reaches the port].
    #[arg(long, env = "FLOTILLA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// A file holding the metrics token (instead of `--metrics-token`).
    #[arg(
        long,
        env = "FLOTILLA_METRICS_TOKEN_FILE",
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,

    /// The database and the data directory.
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Forget delivery bodies, finished jobs and old verdict outputs this long after
    /// they finished, checked once a day (`30d`, `12h`; `off` keeps everything).
    #[arg(long, env = "FLOTILLA_RETENTION", default_value = "30d")]
    pub retention: String,

    /// The App's slug, used to ignore the App's own events [default: asked from `GET /app`].
    #[arg(long, env = "FLOTILLA_APP_SLUG")]
    pub app_slug: Option<String>,

    /// Webhook jobs this process runs at the same time.
    #[arg(long, env = "FLOTILLA_WORKERS", default_value_t = 4)]
    pub workers: usize,

    /// Agents (planners and workers) this process runs at the same time.
    #[arg(long, env = "FLOTILLA_MAX_AGENTS", default_value_t = 4)]
    pub max_agents: u32,

    /// Agents working on one repository at the same time, across its runs.
    #[arg(long, env = "FLOTILLA_MAX_AGENTS_PER_REPO", default_value_t = 3)]
    pub max_agents_per_repo: u32,

    /// How long a job's claim holds without a heartbeat before another worker takes
    /// it over (after a crash), such as 30s or 5m.
    #[arg(long, env = "FLOTILLA_JOB_LEASE", default_value = "5m")]
    pub job_lease: String,

    /// GitHub writes (content-creating requests) an installation may send at once after
    /// a quiet spell, across every process sharing the database.
    #[arg(long, env = "FLOTILLA_GITHUB_WRITE_BURST", default_value_t = 60)]
    pub github_write_burst: u32,

    /// GitHub writes an installation may send per hour over the long run, across every
    /// process sharing the database (with the burst: at most burst + this/60 a minute).
    #[arg(long, env = "FLOTILLA_GITHUB_WRITES_PER_HOUR", default_value_t = 420)]
    pub github_writes_per_hour: u32,

    /// A YAML file whose `pricing:` table (model → dollars per million `input`,
    /// `output`, `cache_read` and `cache_write` tokens) adds to or overrides the built-in
    /// prices used for CLIs that report tokens but no cost.
    #[arg(long, env = "FLOTILLA_PRICING_FILE")]
    pub pricing_file: Option<PathBuf>,

    /// The most dollars each installation's agents may spend per UTC day.
    #[arg(long, env = "FLOTILLA_DAILY_BUDGET_USD")]
    pub daily_budget_usd: Option<f64>,

    /// The most tokens each installation's agents may use per UTC day.
    #[arg(long, env = "FLOTILLA_DAILY_BUDGET_TOKENS")]
    pub daily_budget_tokens: Option<u64>,

    /// A second GitHub App, installed on the same repositories, whose reviews approve
    /// or request changes (Flotilla's own App cannot review its own pull requests).
    #[arg(long, env = "FLOTILLA_REVIEWER_APP_ID")]
    pub reviewer_app_id: Option<u64>,

    /// The reviewer App's private key: the path to its PEM file, or the PEM itself.
    #[arg(
        long,
        env = "FLOTILLA_REVIEWER_PRIVATE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        requires = "reviewer_app_id"
    )]
    pub reviewer_private_key: Option<String>,

    /// A file holding the reviewer App's private key, PEM.
    #[arg(
        long,
        env = "FLOTILLA_REVIEWER_PRIVATE_KEY_FILE",
        conflicts_with = "reviewer_private_key",
        requires = "reviewer_app_id"
    )]
    pub reviewer_private_key_file: Option<PathBuf>,

    /// How agents are confined: `bwrap` (bubblewrap, the default) or `none` (agents run
    /// unconfined and can read everything Flotilla holds; warned on every attempt).
    #[arg(long, env = "FLOTILLA_SANDBOX", value_enum, default_value = "bwrap")]
    pub sandbox: Engine,

    /// A host path every agent sees read-only besides the system, such as an agent
    /// CLI or toolchain installed outside /usr (repeatable; `:`-separated in the
    /// environment).
    #[arg(
        long = "sandbox-ro",
        env = "FLOTILLA_SANDBOX_RO",
        value_delimiter = ':'
    )]
    pub sandbox_ro: Vec<PathBuf>,

    /// A host path every agent may write, such as a build cache (repeatable;
    /// `:`-separated in the environment). Shared by all agents: one can poison it for
    /// the next.
    #[arg(
        long = "sandbox-rw",
        env = "FLOTILLA_SANDBOX_RW",
        value_delimiter = ':'
    )]
    pub sandbox_rw: Vec<PathBuf>,
}

/// Settings of `flotilla protect`.
#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// The repository, `owner/name`.
    #[arg(value_name = "OWNER/REPO")]
    pub repo: String,

    /// The branch to protect [default: the repository's default branch].
    #[arg(long)]
    pub branch: Option<String>,

    /// Require branches to be up to date with the base before merging [default: keep
    /// the current setting; off when the branch has no protection yet].
    #[arg(long)]
    pub strict: bool,

    /// Also require this check, from any source, e.g. the repository's CI (repeatable).
    #[arg(long, value_name = "CONTEXT")]
    pub require_check: Vec<String>,

    /// The App and GitHub.
    #[command(flatten)]
    pub app: AppArgs,
}

/// Settings of `flotilla manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Public base URL of this Flotilla; sets the webhook and redirect URLs.
    #[arg(long, env = "FLOTILLA_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// Settings of `flotilla doctor`: those of `flotilla serve`, and the public URL GitHub
/// sends webhooks to.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The settings `flotilla serve` would run with (its `--public-url`'s `/healthz`
    /// must answer).
    #[command(flatten)]
    pub serve: Box<ServeArgs>,
}

/// Settings of `flotilla sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address the simulator listens on.
    #[arg(long, env = "FLOTILLA_SIM_LISTEN", default_value = "127.0.0.1:3001")]
    pub listen: SocketAddr,

    /// Where the simulator keeps its bare repositories and CI checkouts.
    #[arg(long, env = "FLOTILLA_SIM_DATA_DIR", default_value = "./flotilla-sim")]
    pub data_dir: PathBuf,

    /// Where the seeded App's webhooks are delivered, e.g. `http://127.0.0.1:3000/webhook`.
    #[arg(long, env = "FLOTILLA_SIM_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Secret the simulator signs webhooks with.
    #[arg(long, env = "FLOTILLA_SIM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Create an App, its installation, a user with write access (`alice`), one with
    /// read access only (`bob`) and a repository (`acme/widgets`).
    #[arg(long)]
    pub seed: bool,

    /// A local git repository or folder to import as the seeded repository.
    #[arg(long, requires = "seed")]
    pub seed_repo: Option<PathBuf>,

    /// The seeded App's id.
    #[arg(long, default_value_t = 1)]
    pub app_id: u64,

    /// The seeded App's slug; its bot is `<slug>[bot]`.
    #[arg(long, default_value = "flotilla")]
    pub app_slug: String,

    /// The seeded App's public key (PEM); App JWTs are verified with it.
    #[arg(long, default_value = "fixtures/keys/test-app.pub.pem")]
    pub app_public_key: PathBuf,

    /// Shell command run on a checkout of each pushed pull-request head (the CI).
    #[arg(long, env = "FLOTILLA_SIM_CI")]
    pub ci: Option<String>,
}

/// Settings of the hidden `flotilla sandbox-forward`:
/// `--listen 127.0.0.1:3128 --socket /run/flotilla/egress.sock -- <program> <args...>`.
#[derive(Debug, Args)]
pub struct SandboxForwardArgs {
    /// The loopback address the sandbox's HTTP clients use as their proxy.
    #[arg(long)]
    pub listen: SocketAddr,

    /// The egress proxy's Unix socket, as bind-mounted into the sandbox.
    #[arg(long)]
    pub socket: PathBuf,

    /// The program to run and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

/// Settings of the hidden `flotilla sandbox-run`:
/// `--socket /run/flotilla-run/sock -- <program> <args...>`.
#[derive(Debug, Args)]
pub struct SandboxRunArgs {
    /// The socket on which Flotilla takes the command, as bind-mounted into the sandbox.
    #[arg(long)]
    pub socket: PathBuf,

    /// The program to run and its arguments, after `--`.
    #[arg(last = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

/// The dashboard's login: the GitHub App's OAuth credentials and where users come back.
#[derive(Debug, Clone, Args)]
pub struct DashboardArgs {
    /// The App's OAuth client id (App settings → "Client ID"); without it no
    /// dashboard is served.
    #[arg(long, env = "FLOTILLA_OAUTH_CLIENT_ID")]
    pub oauth_client_id: Option<String>,

    /// The App's OAuth client secret (required with `--oauth-client-id`).
    #[arg(long, env = "FLOTILLA_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_client_secret: Option<String>,

    /// A file holding the OAuth client secret (instead of `--oauth-client-secret`).
    #[arg(
        long,
        env = "FLOTILLA_OAUTH_CLIENT_SECRET_FILE",
        conflicts_with = "oauth_client_secret"
    )]
    pub oauth_client_secret_file: Option<PathBuf>,
}
