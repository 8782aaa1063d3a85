//! Authentication as the GitHub App and the per-installation clients.
//!
//! Owns the App's private key, the App JWT, the octocrab client authenticated as the
//! App and the cache of one client per installation (each caching its installation
//! token, which octocrab renews when fewer than 30 s remain). Tokens never leave this
//! module except as a `SecretString`, and are never logged; every token handed out is
//! first added to the App's [`KnownSecrets`], so nothing Flotilla publishes repeats it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::budget::{WriteBudget, WriteRate};
use super::error::GithubError;
use super::request::{self, ApiRequest, ApiResponse, Channel, Meter, RetryPolicy, WriteGate};
use super::routes::Route;
use crate::metrics::Metrics;
use crate::redact::{KnownSecrets, SecretKind};
use crate::types::{AppId, InstallationId, RepoName};

/// How far back the JWT's `iat` is set, for clock drift between us and GitHub.
const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// JWT lifetime from now; GitHub refuses more than 10 minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// Why the App's key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM file could not be read.
    #[error("cannot read the GitHub App private key {}: {source}", path.display())]
    Read {
        /// The file named in configuration.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an RSA private key in PEM form.
    #[error("{} is not an RSA private key in PEM form: {source}", path.display())]
    Parse {
        /// The file named in configuration.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// A key given inline (a PEM in a setting's value) is not an RSA private key.
    #[error("the inline key is not an RSA private key in PEM form: {source}")]
    ParseInline {
        /// The parser's error.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// The App's identity: its id and private key. Needed to sign every App JWT.
#[derive(Clone)]
pub struct AppCredentials {
    /// The App id, the JWT's `iss`.
    pub app_id: AppId,
    /// The App's RSA private key.
    pub key: EncodingKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// The claims GitHub reads from an App JWT.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppJwtClaims {
    /// Issued at, seconds since the epoch, backdated 60 s.
    pub iat: u64,
    /// Expiry, seconds since the epoch, at most 10 minutes ahead.
    pub exp: u64,
    /// The App id.
    pub iss: u64,
}

impl AppCredentials {
    /// Loads the key GitHub issued for the App (`.pem`), naming the file on failure.
    pub fn from_pem_file(app_id: AppId, path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(app_id, &pem).map_err(|source| KeyError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Takes the key from a PEM given inline (a setting holding the key itself, as
    /// container platforms pass secrets).
    pub fn from_pem(app_id: AppId, pem: &str) -> Result<Self, KeyError> {
        Self::parse(app_id, pem.as_bytes()).map_err(|source| KeyError::ParseInline { source })
    }

    /// Parses an RSA private key; the parser accepts a public key too, so signing once
    /// proves it is a private one.
    fn parse(app_id: AppId, pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = EncodingKey::from_rsa_pem(pem)?;
        let credentials = Self { app_id, key };
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &credentials.jwt_claims(SystemTime::now()),
            &credentials.key,
        )?;
        Ok(credentials)
    }

    /// The claims of a JWT issued at `now`: backdated 60 s, valid 9 minutes.
    pub fn jwt_claims(&self, now: SystemTime) -> AppJwtClaims {
        let now = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        AppJwtClaims {
            iat: now.saturating_sub(JWT_BACKDATE.as_secs()),
            exp: now + JWT_LIFETIME.as_secs(),
            iss: self.app_id.0,
        }
    }

    /// An RS256 App JWT issued at `now` (the clock is injected so tests can check the
    /// claims). octocrab signs the same claims for the requests it authenticates.
    pub fn app_jwt(&self, now: SystemTime) -> Result<String, GithubError> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &self.jwt_claims(now),
            &self.key,
        )
        .map_err(|e| GithubError::InvalidInput {
            message: format!("cannot sign the App JWT: {e}"),
        })
    }
}

/// Where GitHub is and how patiently to talk to it. Tests point `base_url` at a fake.
#[derive(Clone, Debug)]
pub struct GithubSettings {
    /// The REST root, `https://api.github.com` for github.com.
    pub base_url: String,
    /// The GraphQL endpoint when it is not where [`GithubSettings::graphql_url`] derives
    /// it from `base_url`.
    pub graphql_url: Option<String>,
    /// The one retry policy.
    pub retry: RetryPolicy,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between bytes of an answer.
    pub read_timeout: Duration,
}

/// Where GraphQL requests go, decided once from the settings.
#[derive(Clone)]
enum GraphqlEndpoint {
    /// A path under the REST root (github.com's `/graphql`): octocrab joins it to the
    /// root and authenticates it like any REST call.
    UnderRoot(Arc<str>),
    /// An absolute URL outside the REST root (GHES's `https://host/api/graphql`).
    /// octocrab prefixes every path with its root's path and authenticates only paths
    /// under that root, so it gets a client rooted at the endpoint itself, and each
    /// request carries the installation token explicitly.
    Elsewhere {
        /// The endpoint.
        url: Arc<str>,
        /// An unauthenticated client rooted at `url`.
        client: Arc<Octocrab>,
    },
}

impl GraphqlEndpoint {
    fn from_settings(settings: &GithubSettings) -> Result<Self, GithubError> {
        let url = settings.graphql_url();
        let base = settings.base_url.trim_end_matches('/');
        if let Some(path) = url.strip_prefix(base).filter(|p| p.starts_with('/')) {
            return Ok(Self::UnderRoot(Arc::from(path)));
        }
        let client = Octocrab::builder()
            .base_uri(url.as_str())
            .map_err(|e| GithubError::InvalidInput {
                message: format!("invalid GitHub GraphQL URL {url}: {e}"),
            })?
            .set_connect_timeout(Some(settings.connect_timeout))
            .set_read_timeout(Some(settings.read_timeout))
            .build()
            .map_err(GithubError::from_octocrab)?;
        Ok(Self::Elsewhere {
            url: Arc::from(url),
            client: Arc::new(client),
        })
    }
}

impl GithubSettings {
    /// The GraphQL endpoint: the one configured, else derived from the REST root the
    /// way GitHub lays them out: `https://api.github.com` → `…/graphql`, and a GitHub
    /// Enterprise Server's `https://host/api/v3` → `https://host/api/graphql`.
    pub fn graphql_url(&self) -> String {
        if let Some(url) = &self.graphql_url {
            return url.clone();
        }
        let base = self.base_url.trim_end_matches('/');
        match base.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{base}/graphql"),
        }
    }
}

impl Default for GithubSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.github.com".to_owned(),
            graphql_url: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// What `GET /app` tells us about ourselves; the slug identifies our own bot's events.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AppInfo {
    /// The App id.
    pub id: AppId,
    /// The URL name; our bot's login is `<slug>[bot]`.
    pub slug: String,
    /// The display name.
    pub name: String,
}

#[derive(Deserialize)]
struct InstallationWire {
    id: InstallationId,
}

/// The entry point to GitHub: authenticates as the App and hands out one client per
/// installation. Cheap to clone; clones share the installation cache.
#[derive(Clone)]
pub struct GithubApp {
    app: Arc<Octocrab>,
    policy: Arc<RetryPolicy>,
    graphql: GraphqlEndpoint,
    installations: Arc<Mutex<HashMap<InstallationId, InstallationClient>>>,
    known: KnownSecrets,
    metrics: Metrics,
    /// The write budget installations spend from, when one is shared.
    write_budget: Option<(Arc<dyn WriteBudget>, WriteRate)>,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp").finish_non_exhaustive()
    }
}

impl GithubApp {
    /// Builds the App client. octocrab's own retry layer is absent (its `retry` feature
    /// is not enabled), so the only retries are `request.rs`'s. Must run inside a tokio
    /// runtime (octocrab spawns its request buffer).
    pub fn new(credentials: AppCredentials, settings: GithubSettings) -> Result<Self, GithubError> {
        let app = Octocrab::builder()
            .base_uri(settings.base_url.as_str())
            .map_err(|e| GithubError::InvalidInput {
                message: format!("invalid GitHub base URL {}: {e}", settings.base_url),
            })?
            .app(
                octocrab::models::AppId(credentials.app_id.0),
                credentials.key,
            )
            .set_connect_timeout(Some(settings.connect_timeout))
            .set_read_timeout(Some(settings.read_timeout))
            .build()
            .map_err(GithubError::from_octocrab)?;
        let graphql = GraphqlEndpoint::from_settings(&settings)?;
        Ok(Self {
            app: Arc::new(app),
            graphql,
            policy: Arc::new(settings.retry),
            installations: Arc::new(Mutex::new(HashMap::new())),
            known: KnownSecrets::default(),
            metrics: Metrics::default(),
            write_budget: None,
        })
    }

    /// The same client reporting its tokens to `known` instead of a registry of its
    /// own, so several Apps (Flotilla's and a reviewer App) and the server's webhook
    /// secrets share one. Call before any installation client is made.
    pub fn with_known_secrets(mut self, known: KnownSecrets) -> Self {
        self.known = known;
        self
    }

    /// The same client counting its requests in `metrics` (a running server's) instead
    /// of a registry nobody scrapes. Installation clients handed out afterwards count
    /// there too, cached ones included.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same client spending every installation's writes from `budget` at `rate`
    /// (the database's, shared by every process), instead of writing unpaced.
    /// Installation clients handed out afterwards spend from it, cached ones included.
    pub fn with_write_budget(mut self, budget: Arc<dyn WriteBudget>, rate: WriteRate) -> Self {
        self.write_budget = Some((budget, rate));
        self
    }

    /// The gate an installation's writes pass, when a budget is shared.
    fn write_gate(&self, installation: InstallationId) -> Option<WriteGate> {
        self.write_budget.as_ref().map(|(budget, rate)| WriteGate {
            budget: Arc::clone(budget),
            rate: *rate,
            installation,
        })
    }

    /// How this App's own (JWT) requests are counted.
    fn meter(&self) -> Meter {
        Meter {
            metrics: self.metrics.clone(),
            installation: None,
        }
    }

    /// The registry every token this App hands out is added to.
    pub fn known_secrets(&self) -> &KnownSecrets {
        &self.known
    }

    /// Sends a request as the App itself (JWT), for the App's own routes.
    pub(crate) async fn send_as_app(
        &self,
        request: &ApiRequest,
    ) -> Result<request::ApiResponse, GithubError> {
        let via = Channel {
            crab: &self.app,
            policy: &self.policy,
            meter: &self.meter(),
            gate: None,
        };
        request::send(via, request).await
    }

    /// `GET /app`, authenticated with the App JWT.
    pub async fn app_info(&self) -> Result<AppInfo, GithubError> {
        self.send_as_app(&ApiRequest::to(Route::GetApp, &[]))
            .await?
            .json()
    }

    /// The installation of this App that covers `repo`, for commands run outside a
    /// webhook (which would carry it). A repository the App is not installed on is
    /// [`GithubError::NotFound`].
    pub async fn installation_for_repo(
        &self,
        repo: &RepoName,
    ) -> Result<InstallationId, GithubError> {
        let request = ApiRequest::on_repo(Route::GetRepoInstallation, repo, &[])?;
        let wire: InstallationWire = self.send_as_app(&request).await?.json()?;
        Ok(wire.id)
    }

    /// The client for an installation, created once and then shared, so its cached
    /// token is reused by every caller.
    pub async fn installation(
        &self,
        id: InstallationId,
    ) -> Result<InstallationClient, GithubError> {
        let mut cache = self.installations.lock().await;
        if let Some(client) = cache.get(&id) {
            let mut client = client.clone();
            client.meter.metrics = self.metrics.clone();
            client.gate = self.write_gate(id);
            return Ok(client);
        }
        let crab = self
            .app
            .installation(octocrab::models::InstallationId(id.0))
            .map_err(GithubError::from_octocrab)?;
        let client = InstallationClient {
            id,
            crab: Arc::new(crab),
            policy: Arc::clone(&self.policy),
            graphql: self.graphql.clone(),
            writes: Arc::new(Mutex::new(())),
            known: self.known.clone(),
            meter: Meter {
                metrics: self.metrics.clone(),
                installation: Some(id),
            },
            gate: self.write_gate(id),
        };
        cache.insert(id, client.clone());
        Ok(client)
    }

    /// The installation's current token (minted or renewed as needed), for git over
    /// HTTPS. It has at least 30 s of validity left; never log it.
    pub async fn installation_token(
        &self,
        id: InstallationId,
    ) -> Result<SecretString, GithubError> {
        self.installation(id).await?.token().await
    }
}

/// API access as one installation. Clones share one octocrab client and so one token
/// cache (an octocrab client cloned by value would copy its cache and mint again), and
/// one write lock: content-creating calls go one at a time per installation in this
/// process, and each waits for the installation's write budget shared by all of them.
#[derive(Clone)]
pub struct InstallationClient {
    id: InstallationId,
    crab: Arc<Octocrab>,
    policy: Arc<RetryPolicy>,
    /// Where GraphQL requests go.
    graphql: GraphqlEndpoint,
    writes: Arc<Mutex<()>>,
    known: KnownSecrets,
    meter: Meter,
    /// The shared write budget every write waits for, when there is one.
    gate: Option<WriteGate>,
}

impl fmt::Debug for InstallationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationClient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl InstallationClient {
    /// The installation this client acts as.
    pub fn id(&self) -> InstallationId {
        self.id
    }

    /// The cached token, renewed by octocrab when fewer than 30 s remain. It is added
    /// to the known secrets before it is handed out.
    pub async fn token(&self) -> Result<SecretString, GithubError> {
        let token = self
            .crab
            .installation_token()
            .await
            .map_err(GithubError::from_octocrab)?;
        self.known
            .add(SecretKind::InstallationToken, token.expose_secret());
        Ok(token)
    }

    /// Sends a GraphQL document to this installation's endpoint (queries may be
    /// repeated, mutations may not); writes wait for each other.
    pub(crate) async fn send_graphql(
        &self,
        document: &'static str,
        variables: serde_json::Value,
        is_query: bool,
    ) -> Result<ApiResponse, GithubError> {
        match &self.graphql {
            GraphqlEndpoint::UnderRoot(path) => {
                let request = ApiRequest::graphql(path, document, variables, is_query);
                self.send_with(&self.crab, request).await
            }
            GraphqlEndpoint::Elsewhere { url, client } => {
                let request = ApiRequest::graphql(url, document, variables, is_query)
                    .with_bearer(self.token().await?);
                self.send_with(client, request).await
            }
        }
    }

    /// Sends one request through the shared retry path; writes wait for each other.
    pub(crate) async fn send(&self, request: ApiRequest) -> Result<ApiResponse, GithubError> {
        self.send_with(&self.crab, request).await
    }

    /// Sends `request` with `crab`, writes one at a time per installation.
    async fn send_with(
        &self,
        crab: &Octocrab,
        request: ApiRequest,
    ) -> Result<ApiResponse, GithubError> {
        let _one_write_at_a_time = if request.is_write() {
            Some(self.writes.lock().await)
        } else {
            None
        };
        request::send(self.channel(crab), &request).await
    }

    /// Sends `request`; a 404 is `None`, for reads where absence is an answer (no such
    /// file, branch, label, protection or collaborator).
    pub(crate) async fn send_if_found(
        &self,
        request: ApiRequest,
    ) -> Result<Option<ApiResponse>, GithubError> {
        match self.send(request).await {
            Ok(response) => Ok(Some(response)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a GET and follows pagination.
    pub(crate) async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        first: ApiRequest,
    ) -> Result<Vec<T>, GithubError> {
        request::get_all(self.channel(&self.crab), first).await
    }

    /// This installation's way to GitHub through `crab`.
    fn channel<'a>(&'a self, crab: &'a Octocrab) -> Channel<'a> {
        Channel {
            crab,
            policy: &self.policy,
            meter: &self.meter,
            gate: self.gate.as_ref(),
        }
    }
}
