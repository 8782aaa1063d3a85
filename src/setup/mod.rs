//! Registering the GitHub App from Flotilla itself (GitHub's manifest flow), for a
//! `flotilla serve` started without App credentials:
//!
//! 0. `GET /` asks for the one-time setup token ([`token`]) Flotilla logged and wrote
//!    to the data dir at start; nothing else is shown, and no state issued, without it.
//! 1. `GET /?token=…` renders a form that POSTs the manifest (`app-manifest.yml` pointed at
//!    `FLOTILLA_PUBLIC_URL`) to GitHub's new-App page, for the operator's account or an
//!    organization, with a random `state` remembered here.
//! 2. GitHub creates the App and sends the browser to `GET /setup?code=…&state=…`; the
//!    state is checked, the code exchanged ([`conversion`]), the credentials stored in
//!    the data dir ([`stored`]), and the App's part of the server started through the
//!    activation callback, without a restart. The page links to the App's install page.

pub mod conversion;
mod pages;
pub(crate) mod standby;
pub mod stored;
pub mod token;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use futures_util::future::BoxFuture;
use serde::Deserialize;

use crate::manifest::AppManifest;
use crate::settings::GivenApp;
use conversion::{ConversionError, convert};
use pages::{Link, OutcomePage, RegisterForm, RegisterPage, TokenPage, render};
use stored::StoredApp;
use token::SetupToken;

/// How long a registration may take between the form and GitHub's return.
const STATE_TTL: Duration = Duration::from_secs(60 * 60);
/// The most registrations started and not finished that are remembered.
const MAX_PENDING: usize = 256;

/// Starts the App's part of the server with freshly registered credentials.
pub type Activate =
    Arc<dyn Fn(GivenApp, StoredApp) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// What the setup pages need.
pub struct SetupConfig {
    /// The manifest with this server's public URL; `None` when none is configured.
    pub manifest: Option<AppManifest>,
    /// GitHub's web root (its new-App pages).
    pub web_url: String,
    /// GitHub's REST root (the conversion endpoint).
    pub api_url: String,
    /// Where the credentials are stored.
    pub data_dir: PathBuf,
    /// Called once the credentials are stored.
    pub activate: Activate,
    /// The one-time token that unlocks the register form; deleted after registration.
    pub token: SetupToken,
}

/// The setup pages' shared state.
#[derive(Clone)]
pub struct SetupState(Arc<Inner>);

struct Inner {
    config: SetupConfig,
    http: reqwest::Client,
    /// Registrations started: state → when.
    pending: Mutex<HashMap<String, Instant>>,
    /// The App once registered; serialises `/setup` so one code is exchanged at a time.
    registered: tokio::sync::Mutex<Option<StoredApp>>,
}

impl SetupState {
    /// Setup pages for `config`.
    pub fn new(config: SetupConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self(Arc::new(Inner {
            config,
            http,
            pending: Mutex::new(HashMap::new()),
            registered: tokio::sync::Mutex::new(None),
        })))
    }

    /// A fresh state value, remembered until used or an hour old.
    fn remember_state(&self) -> String {
        let state = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, at| at.elapsed() < STATE_TTL);
        let oldest = (pending.len() >= MAX_PENDING)
            .then(|| {
                pending
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(s, _)| s.clone())
            })
            .flatten();
        if let Some(oldest) = oldest {
            pending.remove(&oldest);
        }
        pending.insert(state.clone(), Instant::now());
        state
    }

    /// Whether `state` was handed out in the last hour and not used yet; it is used now.
    fn take_state(&self, state: &str) -> bool {
        let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .remove(state)
            .is_some_and(|at| at.elapsed() < STATE_TTL)
    }
}

/// `GET /` and `GET /setup`.
pub fn routes<S>(state: SetupState) -> Router<S> {
    Router::new()
        .route("/", get(front))
        .route("/setup", get(finish))
        .with_state(state)
}

#[derive(Deserialize)]
struct FrontQuery {
    org: Option<String>,
    token: Option<String>,
}

/// Whether `org` can be a GitHub login (letters, digits, single hyphens inside).
fn is_login(org: &str) -> bool {
    !org.is_empty()
        && org.len() <= 39
        && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !org.starts_with('-')
        && !org.ends_with('-')
        && !org.contains("--")
}

async fn front(State(setup): State<SetupState>, Query(query): Query<FrontQuery>) -> Response {
    if let Some(app) = setup.0.registered.lock().await.as_ref() {
        return render(StatusCode::OK, &registered_page(app));
    }
    let config = &setup.0.config;
    let token = query.token.unwrap_or_default().trim().to_owned();
    if !config.token.matches(&token) {
        let wrong = !token.is_empty();
        if wrong {
            tracing::warn!("setup: the setup page was asked for with a wrong token");
        }
        let status = if wrong {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        return render(
            status,
            &TokenPage {
                wrong,
                path: SetupToken::path(&config.data_dir).display().to_string(),
            },
        );
    }
    let org = query.org.unwrap_or_default().trim().to_owned();
    if !org.is_empty() && !is_login(&org) {
        return render(
            StatusCode::BAD_REQUEST,
            &OutcomePage::failure(
                "Not an organization",
                format!("`{org}` is not a GitHub organization's login."),
            ),
        );
    }
    let form = match &config.manifest {
        None => None,
        Some(manifest) => match manifest.to_json() {
            Ok(manifest) => {
                let state = setup.remember_state();
                let (page, owner) = if org.is_empty() {
                    (
                        "settings/apps/new".to_owned(),
                        "your personal account".to_owned(),
                    )
                } else {
                    (
                        format!("organizations/{org}/settings/apps/new"),
                        format!("the organization {org}"),
                    )
                };
                Some(RegisterForm {
                    action: format!("{}/{page}?state={state}", config.web_url),
                    manifest,
                    owner,
                })
            }
            Err(error) => {
                return render(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &OutcomePage::failure("The manifest is invalid", format!("{error:#}")),
                );
            }
        },
    };
    render(StatusCode::OK, &RegisterPage { form, org, token })
}

#[derive(Deserialize)]
struct ReturnQuery {
    code: Option<String>,
    state: Option<String>,
}

async fn finish(State(setup): State<SetupState>, Query(query): Query<ReturnQuery>) -> Response {
    let mut registered = setup.0.registered.lock().await;
    if let Some(app) = registered.as_ref() {
        return render(StatusCode::CONFLICT, &registered_page(app));
    }
    if !query
        .state
        .as_deref()
        .is_some_and(|state| setup.take_state(state))
    {
        tracing::warn!("setup: a return from GitHub with an unknown or expired state was refused");
        return render(
            StatusCode::BAD_REQUEST,
            &OutcomePage::failure(
                "Registration not recognised",
                "This address does not come from a registration started on this server in \
                 the last hour (its state does not match). Nothing was stored: start again \
                 from the setup page.",
            ),
        );
    }
    let Some(code) = query.code else {
        return render(
            StatusCode::BAD_REQUEST,
            &OutcomePage::failure(
                "No code from GitHub",
                "GitHub sent no code back. Nothing was stored: start again from the setup page.",
            ),
        );
    };
    let config = &setup.0.config;
    let app = match convert(&setup.0.http, &config.api_url, &code).await {
        Ok(app) => app,
        Err(error) => {
            tracing::warn!(%error, "setup: the manifest code could not be exchanged");
            let status = match error {
                ConversionError::BadCode | ConversionError::Refused { .. } => {
                    StatusCode::BAD_REQUEST
                }
                ConversionError::Unreadable(_) => StatusCode::BAD_GATEWAY,
            };
            return render(
                status,
                &OutcomePage::failure(
                    "GitHub did not hand over the App",
                    format!(
                        "{error}. Nothing was stored. A code works once and for an hour: \
                         register again from the setup page (delete the App GitHub may \
                         have created in its settings first)."
                    ),
                ),
            );
        }
    };
    match activate(config, &app).await {
        Ok(path) => {
            tracing::info!(app_id = app.id, slug = %app.slug, path = %path.display(),
                "GitHub App registered: credentials stored, intake and workers started");
            if let Err(error) = config.token.discard() {
                tracing::warn!(error = %format!("{error:#}"), "setup: the used setup token could not be deleted");
            }
            let page = registered_page(&app);
            *registered = Some(app);
            render(StatusCode::OK, &page)
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "setup: the registered App could not be started");
            render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &OutcomePage::failure(
                    "The App could not be started",
                    format!(
                        "{error:#}. If its credentials were stored ({}), restarting \
                         flotilla serve runs with them.",
                        StoredApp::path(&config.data_dir).display()
                    ),
                ),
            )
        }
    }
}

/// Parses, stores, then starts the App: a key that does not parse is never stored.
async fn activate(config: &SetupConfig, app: &StoredApp) -> anyhow::Result<PathBuf> {
    let given = app.to_given()?;
    let path = app.save(&config.data_dir)?;
    (config.activate)(given, app.clone()).await?;
    Ok(path)
}

fn registered_page(app: &StoredApp) -> OutcomePage {
    OutcomePage {
        heading: format!("Flotilla runs as the GitHub App {}", app.name),
        message: format!(
            "The App `{}` (id {}) is registered and its credentials are stored in the data \
             directory. Install it on the repositories Flotilla should work on.",
            app.slug, app.id
        ),
        failed: false,
        link: Some(Link {
            href: app.install_url(),
            text: format!("Install {}", app.name),
        }),
    }
}
