//! `flotilla doctor`: checks what a real deployment needs, with the same settings as
//! `flotilla serve`, and prints one line per item — git, bubblewrap and the sandbox, the
//! agent CLIs, the App's key and GitHub's answer to its JWT, the database, the public
//! URL — instead of stopping at the first problem as `serve` does. Exits non-zero when
//! any required item fails; a missing agent CLI is a warning (only repositories that
//! configure that adapter need it).

use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::process::Command;

use crate::cli::DoctorArgs;
use crate::github::GithubApp;
use crate::sandbox::{Engine, Sandbox};
use crate::settings::ServeSettings;
use crate::setup::stored::StoredApp;
use crate::store::Store;

/// How long a `--version` or an HTTP probe may take.
const PROBE_TIME_LIMIT: Duration = Duration::from_secs(20);

/// The agent CLIs the built-in adapters run, by adapter name.
const AGENT_CLIS: [(&str, &str); 4] = [
    ("claude-code", "claude"),
    ("codex", "codex"),
    ("aider", "aider"),
    ("opencode", "opencode"),
];

/// One item's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// Missing but not needed by every deployment.
    Warn,
    /// A deployment cannot work without it.
    Fail,
}

/// One printed line.
#[derive(Debug)]
pub struct Check {
    /// What was checked.
    pub item: &'static str,
    /// Its result.
    pub status: Status,
    /// What was found, or what is wrong.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{mark} {}: {}", self.item, self.detail)
    }
}

fn check(item: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        item,
        status,
        detail: detail.into(),
    }
}

/// Runs every check, prints one line each, and fails when a required one failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let checks = checks(args).await;
    for line in &checks {
        println!("{line}");
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    anyhow::ensure!(failed == 0, "{failed} required check(s) failed");
    Ok(())
}

/// Every check, in the order an operator fixes them.
pub async fn checks(args: DoctorArgs) -> Vec<Check> {
    let mut checks = vec![version_of("git", "git", Status::Fail).await];
    let public_url = args.serve.public_url.clone();
    let settings = match ServeSettings::from_args(*args.serve) {
        Ok(settings) => {
            checks.push(check("settings", Status::Ok, "every setting is usable"));
            settings
        }
        Err(error) => {
            checks.push(check("settings", Status::Fail, error.to_string()));
            return checks;
        }
    };
    if settings.sandbox.engine == Engine::Bwrap {
        checks.push(version_of("bubblewrap", "bwrap", Status::Fail).await);
    }
    checks.push(match Sandbox::new(settings.sandbox.clone()).await {
        Ok(sandbox) => check(
            "sandbox",
            Status::Ok,
            format!("an agent sandbox starts ({:?})", sandbox.engine()),
        ),
        Err(error) => check("sandbox", Status::Fail, error.to_string()),
    });
    for (adapter, program) in AGENT_CLIS {
        let mut found = version_of("agent CLI", program, Status::Warn).await;
        if found.status == Status::Warn {
            found.detail = format!(
                "{}; needed only by repositories whose agents use adapter: {adapter}",
                found.detail
            );
        }
        checks.push(found);
    }
    checks.push(github_accepts_the_jwt(&settings).await);
    checks.push(database_is_migrated(settings.database_url.expose_secret()).await);
    checks.push(match public_url {
        Some(url) => public_url_answers(&url).await,
        None => check(
            "public URL",
            Status::Warn,
            "FLOTILLA_PUBLIC_URL is not set: GitHub's webhooks must reach this server somehow",
        ),
    });
    checks
}

/// `program --version`'s first line, or why it did not answer.
async fn version_of(item: &'static str, program: &str, missing: Status) -> Check {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PROBE_TIME_LIMIT, output).await {
        Ok(Ok(output)) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let first = text.lines().next().unwrap_or("").trim();
            check(item, Status::Ok, format!("{program}: {first}"))
        }
        Ok(Ok(output)) => check(
            item,
            missing,
            format!("{program} --version exited with {}", output.status),
        ),
        Ok(Err(error)) => check(item, missing, format!("{program} not runnable: {error}")),
        Err(_) => check(
            item,
            missing,
            format!("{program} --version did not answer within {PROBE_TIME_LIMIT:?}"),
        ),
    }
}

/// The key signs a JWT GitHub accepts: `GET /app` answers with the App.
async fn github_accepts_the_jwt(settings: &ServeSettings) -> Check {
    let credentials = match (&settings.app, StoredApp::load(&settings.data_dir)) {
        (Some(app), _) => app.credentials.clone(),
        (None, Ok(Some(stored))) => match stored.to_given() {
            Ok(app) => app.credentials,
            Err(error) => return check("GitHub App", Status::Fail, format!("{error:#}")),
        },
        (None, Ok(None)) => {
            return check(
                "GitHub App",
                Status::Fail,
                "no App credentials: set FLOTILLA_APP_ID, FLOTILLA_PRIVATE_KEY and \
                 FLOTILLA_WEBHOOK_SECRET, or register the App from `flotilla serve`'s / page",
            );
        }
        (None, Err(error)) => return check("GitHub App", Status::Fail, format!("{error:#}")),
    };
    let app = match GithubApp::new(credentials, settings.github.clone()) {
        Ok(app) => app,
        Err(error) => return check("GitHub App", Status::Fail, error.to_string()),
    };
    match app.app_info().await {
        Ok(info) => check(
            "GitHub App",
            Status::Ok,
            format!(
                "{}/app accepts the App's JWT: App `{}`",
                settings.github.base_url, info.slug
            ),
        ),
        Err(error) => check(
            "GitHub App",
            Status::Fail,
            format!(
                "{}/app refused the App's JWT: {error}",
                settings.github.base_url
            ),
        ),
    }
}

/// The public URL reaches a Flotilla: `GET <url>/healthz` answers 2xx.
async fn public_url_answers(url: &str) -> Check {
    let health = format!("{}/healthz", url.trim_end_matches('/'));
    let answer = reqwest::Client::builder()
        .timeout(PROBE_TIME_LIMIT)
        .build()
        .map(|client| client.get(&health).send());
    match answer {
        Ok(request) => match request.await {
            Ok(response) if response.status().is_success() => {
                check("public URL", Status::Ok, format!("{health} answers"))
            }
            Ok(response) => check(
                "public URL",
                Status::Fail,
                format!("{health} answered {}", response.status()),
            ),
            Err(error) => check("public URL", Status::Fail, format!("{health}: {error}")),
        },
        Err(error) => check("public URL", Status::Fail, error.to_string()),
    }
}

/// The database answers and every migration of this build is applied. Only looks:
/// migrating is `flotilla serve`'s job, and a doctor that migrated would hide the
/// very problem it is asked about.
async fn database_is_migrated(url: &str) -> Check {
    let store = match Store::connect_unmigrated(url).await {
        Ok(store) => store,
        Err(error) => return check("database", Status::Fail, format!("{error:#}")),
    };
    let found = match store.migrations_match().await {
        Ok(Ok(())) => check("database", Status::Ok, "reachable, every migration applied"),
        Ok(Err(reason)) => check("database", Status::Fail, format!("not migrated: {reason}")),
        Err(error) => check("database", Status::Fail, format!("not migrated: {error:#}")),
    };
    store.close().await;
    found
}
