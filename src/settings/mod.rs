//! Turns `flotilla serve`'s (and `flotilla protect`'s) flags into validated settings,
//! failing fast with one line that names the setting at fault. Secrets are wrapped so
//! they never reach a log; they may come from `_FILE` variants ([`secrets`]).

mod dashboard;
mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AppArgs, ServeArgs, StorageArgs};
use crate::config::time_limit;
use crate::cost::{Limit, ModelPrice, Pricing, Usd};
use crate::github::{AppCredentials, GithubSettings, WriteRate};
use crate::sandbox::SandboxSettings;
use crate::store::{SlotLimits, Store};
use crate::types::AppId;
use crate::webhook::signature::WebhookSecrets;
use secrets::{KeySource, read_secret};

pub use dashboard::{Dashboard, OAuthClient};

/// A setting that is missing or unusable; its message is the whole diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required setting was not given.
    #[error("{env} is not set (or pass --{flag}): {what}")]
    Missing {
        /// The environment variable.
        env: &'static str,
        /// The flag.
        flag: &'static str,
        /// What the setting is.
        what: &'static str,
    },
    /// A setting was given but cannot be used.
    #[error("{env} is invalid: {reason}")]
    Invalid {
        /// The environment variable.
        env: &'static str,
        /// Why.
        reason: String,
    },
}

/// The App's identity and where GitHub is: what every command that calls GitHub as the
/// App needs, validated.
pub struct AppSettings {
    /// The App's id and key.
    pub credentials: AppCredentials,
    /// The file the key was read from, which no agent may see.
    pub key_file: Option<PathBuf>,
    /// Where GitHub is.
    pub github: GithubSettings,
}

impl AppSettings {
    /// Validates the App flags; the first problem found is the error.
    pub fn from_args(args: AppArgs) -> Result<Self, SettingsError> {
        let github = github_settings(&args)?;
        let app_id = args.app_id.ok_or(SettingsError::Missing {
            env: "FLOTILLA_APP_ID",
            flag: "app-id",
            what: "the GitHub App's numeric id",
        })?;
        let key = KeySource::from_settings(
            "FLOTILLA_PRIVATE_KEY",
            args.private_key,
            args.private_key_file,
        )?
        .ok_or(SettingsError::Missing {
            env: "FLOTILLA_PRIVATE_KEY",
            flag: "private-key",
            what: "the GitHub App's private key (a PEM file's path, or the PEM)",
        })?;
        let credentials = key.load("FLOTILLA_PRIVATE_KEY", AppId(app_id))?;
        Ok(Self {
            credentials,
            key_file: key.file().cloned(),
            github,
        })
    }
}

/// Where GitHub is, validated: the REST root and the GraphQL endpoint when given.
fn github_settings(args: &AppArgs) -> Result<GithubSettings, SettingsError> {
    let is_http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    if !is_http(&args.github_api_url) {
        return Err(SettingsError::Invalid {
            env: "FLOTILLA_GITHUB_API_URL",
            reason: format!("{:?} is not an http(s) URL", args.github_api_url),
        });
    }
    for (env, url) in [
        ("FLOTILLA_GITHUB_GRAPHQL_URL", &args.github_graphql_url),
        ("FLOTILLA_GITHUB_WEB_URL", &args.github_web_url),
    ] {
        if let Some(url) = url.as_deref().filter(|url| !is_http(url)) {
            return Err(SettingsError::Invalid {
                env,
                reason: format!("{url:?} is not an http(s) URL"),
            });
        }
    }
    Ok(GithubSettings {
        base_url: args.github_api_url.clone(),
        graphql_url: args.github_graphql_url.clone(),
        ..GithubSettings::default()
    })
}

/// The file of a `sqlite:` database URL, which no agent may see.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The database the storage settings name, validated.
pub struct DatabaseSettings {
    /// The URL (it may carry a password: never log it).
    pub url: String,
    /// The `FLOTILLA_DATABASE_URL_FILE` it was read from, which no agent may see.
    pub file: Option<PathBuf>,
}

impl DatabaseSettings {
    /// The URL given (or read from its file), else the SQLite file in the data dir.
    pub fn from_args(storage: &StorageArgs) -> Result<Self, SettingsError> {
        let given = read_secret(
            "FLOTILLA_DATABASE_URL",
            storage.database_url.clone(),
            storage.database_url_file.clone(),
        )?;
        let file = given.as_ref().and_then(|d| d.file.clone());
        let url = given
            .map(|d| d.value)
            .unwrap_or_else(|| Store::default_url(&storage.data_dir));
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(SettingsError::Invalid {
                env: "FLOTILLA_DATABASE_URL",
                reason: "it must start with sqlite: or postgres://".to_owned(),
            });
        }
        Ok(Self { url, file })
    }
}

/// Everything `flotilla serve` needs, validated.
pub struct ServeSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The App's id, key and webhook secrets when the settings give them; `None` when
    /// none of them is set (the App is then registered from the setup page, or its
    /// credentials are read from the data dir).
    pub app: Option<GivenApp>,
    /// Where GitHub's web pages are (its new-App page), when it cannot be derived from
    /// the REST root.
    pub github_web_url: Option<String>,
    /// The public base URL GitHub reaches this Flotilla at, for the App's manifest.
    pub public_url: Option<String>,
    /// Database URL (secret: it may carry a password).
    pub database_url: secrecy::SecretString,
    /// Where GitHub is.
    pub github: GithubSettings,
    /// The App's slug when given; otherwise asked from GitHub at start.
    pub app_slug: Option<String>,
    /// Concurrent webhook jobs.
    pub workers: usize,
    /// Whether this process takes webhooks, runs jobs, or both.
    pub role: crate::role::Role,
    /// Where mirrors and worktrees live.
    pub data_dir: PathBuf,
    /// Agent slots.
    pub agents: SlotLimits,
    /// How long a job's claim holds without a heartbeat.
    pub job_lease: Duration,
    /// How fast each installation may write to GitHub, across every process.
    pub github_writes: WriteRate,
    /// The separate reviewer App's id and key, when one is configured.
    pub reviewer: Option<AppCredentials>,
    /// How agents are confined, and what they must never see.
    pub sandbox: SandboxSettings,
    /// Dollars per million tokens per model.
    pub pricing: Pricing,
    /// The most each installation may spend per UTC day.
    pub daily_budget: Limit,
    /// How long finished things are kept; `None` keeps everything.
    pub retention: Option<Duration>,
    /// "Login with GitHub" for the dashboard: its URLs, and its OAuth client when the
    /// settings give one (else the stored App's is used).
    pub dashboard: Dashboard,
    /// The token `/metrics` requires as `Authorization: Bearer …`; `None` serves it to
    /// anyone (Prometheus scrapers on a private network).
    pub metrics_token: Option<secrecy::SecretString>,
}

/// The App's identity as `flotilla serve`'s settings give it.
pub struct GivenApp {
    /// The App's id and key.
    pub credentials: AppCredentials,
    /// Accepted webhook secrets.
    pub secrets: WebhookSecrets,
}

impl ServeSettings {
    /// Validates the flags; the first problem found is the error. Giving none of the
    /// App's id, key and webhook secret is valid (`app` is `None`); giving some is not.
    pub fn from_args(args: ServeArgs) -> Result<Self, SettingsError> {
        let none_given = args.app.app_id.is_none()
            && args.app.private_key.is_none()
            && args.app.private_key_file.is_none()
            && args.webhook_secret.is_none()
            && args.webhook_secret_file.is_none();
        let github_web_url = args.app.github_web_url.clone();
        let (app, key_file, secret_file, github) = if none_given {
            (None, None, None, github_settings(&args.app)?)
        } else {
            let AppSettings {
                credentials,
                key_file,
                github,
            } = AppSettings::from_args(args.app)?;
            let secret = read_secret(
                "FLOTILLA_WEBHOOK_SECRET",
                args.webhook_secret,
                args.webhook_secret_file,
            )?
            .ok_or(SettingsError::Missing {
                env: "FLOTILLA_WEBHOOK_SECRET",
                flag: "webhook-secret",
                what: "the webhook secret set on the GitHub App",
            })?;
            let secrets = WebhookSecrets::from_comma_separated(&secret.value).ok_or(
                SettingsError::Invalid {
                    env: "FLOTILLA_WEBHOOK_SECRET",
                    reason: "it holds no secret (empty or only commas)".to_owned(),
                },
            )?;
            let app = GivenApp {
                credentials,
                secrets,
            };
            (Some(app), key_file, secret.file, github)
        };
        let dashboard = dashboard::from_args(
            args.dashboard,
            dashboard::LoginUrls {
                api_base: &github.base_url,
                web_base: crate::setup::conversion::web_url(
                    &github.base_url,
                    github_web_url.as_deref(),
                ),
                public_url: args.public_url.clone(),
                listen: args.listen,
            },
        )?;
        let metrics_token = read_secret(
            "FLOTILLA_METRICS_TOKEN",
            args.metrics_token,
            args.metrics_token_file,
        )?
        .filter(|token| !token.value.trim().is_empty());
        let DatabaseSettings {
            url: database_url,
            file: database_file,
        } = DatabaseSettings::from_args(&args.storage)?;
        if args.workers == 0 {
            return Err(SettingsError::Invalid {
                env: "FLOTILLA_WORKERS",
                reason: "at least one worker is needed".to_owned(),
            });
        }
        if args.max_agents == 0 || args.max_agents_per_repo == 0 {
            return Err(SettingsError::Invalid {
                env: if args.max_agents == 0 {
                    "FLOTILLA_MAX_AGENTS"
                } else {
                    "FLOTILLA_MAX_AGENTS_PER_REPO"
                },
                reason: "at least one agent slot is needed".to_owned(),
            });
        }
        let job_lease =
            time_limit::parse(&args.job_lease).map_err(|reason| SettingsError::Invalid {
                env: "FLOTILLA_JOB_LEASE",
                reason,
            })?;
        for (env, value) in [
            ("FLOTILLA_GITHUB_WRITE_BURST", args.github_write_burst),
            (
                "FLOTILLA_GITHUB_WRITES_PER_HOUR",
                args.github_writes_per_hour,
            ),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    env,
                    reason: "GitHub writes need a budget of at least 1".to_owned(),
                });
            }
        }
        let github_writes = WriteRate {
            burst: args.github_write_burst,
            per_hour: args.github_writes_per_hour,
        };
        let reviewer_key = KeySource::from_settings(
            "FLOTILLA_REVIEWER_PRIVATE_KEY",
            args.reviewer_private_key,
            args.reviewer_private_key_file,
        )?;
        let reviewer = match (args.reviewer_app_id, &reviewer_key) {
            (Some(id), Some(key)) => Some(key.load("FLOTILLA_REVIEWER_PRIVATE_KEY", AppId(id))?),
            (Some(_), None) => {
                return Err(SettingsError::Missing {
                    env: "FLOTILLA_REVIEWER_PRIVATE_KEY",
                    flag: "reviewer-private-key",
                    what: "the reviewer App's private key (a PEM file's path, or the PEM)",
                });
            }
            (None, _) => None,
        };
        let data_dir = std::path::absolute(&args.storage.data_dir).map_err(|error| {
            SettingsError::Invalid {
                env: "FLOTILLA_DATA_DIR",
                reason: error.to_string(),
            }
        })?;
        let mut sandbox = SandboxSettings::new(args.sandbox, &data_dir, &github.base_url);
        sandbox.read_only = args.sandbox_ro;
        sandbox.writable = args.sandbox_rw;
        sandbox.forwarder = std::env::current_exe().ok();
        sandbox.never.extend(
            [
                key_file,
                reviewer_key.as_ref().and_then(KeySource::file).cloned(),
                secret_file,
                dashboard.secret_file.clone(),
                metrics_token.as_ref().and_then(|t| t.file.clone()),
                database_file,
            ]
            .into_iter()
            .flatten()
            .chain(sqlite_file(&database_url))
            .map(|path| {
                path.canonicalize()
                    .or_else(|_| std::path::absolute(&path))
                    .unwrap_or(path)
            }),
        );
        let pricing = match &args.pricing_file {
            Some(path) => load_pricing(path)?,
            None => Pricing::default(),
        };
        let daily_budget = Limit {
            usd: args
                .daily_budget_usd
                .map(|usd| {
                    Usd::from_dollars(usd).ok_or(SettingsError::Invalid {
                        env: "FLOTILLA_DAILY_BUDGET_USD",
                        reason: "it must be a number of dollars of 0 or more".to_owned(),
                    })
                })
                .transpose()?,
            tokens: args.daily_budget_tokens,
        };
        let retention = match args.retention.trim() {
            "off" => None,
            age => Some(parse_age(age).map_err(|reason| SettingsError::Invalid {
                env: "FLOTILLA_RETENTION",
                reason,
            })?),
        };
        Ok(Self {
            dashboard,
            metrics_token: metrics_token.map(|t| t.value.into()),
            retention,
            reviewer,
            sandbox,
            pricing,
            daily_budget,
            listen: args.listen,
            app,
            github_web_url,
            public_url: args.public_url.filter(|url| !url.trim().is_empty()),
            database_url: database_url.into(),
            github,
            app_slug: args.app_slug.filter(|slug| !slug.trim().is_empty()),
            workers: args.workers,
            role: args.role,
            data_dir,
            agents: SlotLimits {
                global: args.max_agents,
                per_repo: args.max_agents_per_repo,
            },
            job_lease,
            github_writes,
        })
    }
}

/// A retention age such as `30d`, `12h` or `2w` (humantime's syntax), never zero.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(age) if age.is_zero() => Err(format!("`{text}` is zero")),
        Ok(age) => Ok(age),
        Err(error) => Err(format!(
            "`{text}` is not an age such as `30d` or `12h`: {error}"
        )),
    }
}

/// The settings file named by `FLOTILLA_PRICING_FILE`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PricingFile {
    #[serde(default)]
    pricing: std::collections::BTreeMap<String, ModelPrice>,
}

/// Reads `FLOTILLA_PRICING_FILE`: the built-in prices with the file's entries on top.
fn load_pricing(path: &Path) -> Result<Pricing, SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        env: "FLOTILLA_PRICING_FILE",
        reason: format!("{}: {reason}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|error| invalid(error.to_string()))?;
    let file: PricingFile =
        serde_saphyr::from_str(&text).map_err(|error| invalid(error.to_string()))?;
    Pricing::with_overrides(file.pricing).map_err(|error| invalid(error.to_string()))
}
