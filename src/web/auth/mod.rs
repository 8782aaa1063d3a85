//! Login with GitHub for the dashboard: the App's own OAuth flow (user-to-server),
//! sessions in an encrypted cookie any process of the fleet can read ([`session`]),
//! per-repository access checked with the viewer's own token, and CSRF tokens bound to
//! the session.
//!
//! Handlers take [`Viewer`] to require a logged-in user, ask [`Viewer::access`] what
//! that user may do on a repository, put [`CsrfToken`] in every form's hidden `csrf`
//! field and call [`verify_csrf`] first thing in every POST handler.

mod access;
mod csrf;
mod oauth;
mod session;
mod viewer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use secrecy::SecretString;

pub use access::Access;
pub use csrf::{CsrfRejected, CsrfToken, verify_csrf};
pub use viewer::Viewer;

use access::AccessCache;
use session::SessionCookies;

/// The name of the cookie that carries the session (encrypted).
pub const SESSION_COOKIE: &str = "flotilla_session";
/// The name of the cookie that carries a login attempt's OAuth `state` (encrypted).
pub const LOGIN_COOKIE: &str = "flotilla_login";

/// How the dashboard talks to GitHub's OAuth endpoints.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The App's OAuth client id (`Iv1…` / `Iv23…`).
    pub client_id: String,
    /// The App's OAuth client secret; the session cookies' key is derived from it, so
    /// every process with the same App reads the same sessions.
    pub client_secret: SecretString,
    /// GitHub's web base, where users authorize (`https://github.com`).
    pub web_base: String,
    /// GitHub's REST base (`https://api.github.com`).
    pub api_base: String,
    /// Flotilla's own public base URL; the callback is `{public_url}/oauth/callback`.
    pub public_url: String,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// How long an access answer is reused before GitHub is asked again.
    pub access_ttl: Duration,
}

impl AuthConfig {
    /// Whether cookies must carry `Secure` (the dashboard is served over HTTPS).
    fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Where GitHub sends the user back after they authorize.
    fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url.trim_end_matches('/'))
    }
}

/// Everything login needs, shared by the auth routes and the extractors.
#[derive(Clone, Debug)]
pub struct AuthState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: AuthConfig,
    http: reqwest::Client,
    sessions: SessionCookies,
    access: AccessCache,
}

impl AuthState {
    /// Builds the state. Sessions live in the browser's cookie, sealed with a key
    /// derived from the client secret: another state built from the same secret (in
    /// another process, or after a restart) reads them.
    pub fn new(config: AuthConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                sessions: SessionCookies::new(
                    &config.client_secret,
                    config.session_ttl,
                    config.secure_cookies(),
                ),
                access: AccessCache::new(config.access_ttl),
                config,
                http,
            }),
        })
    }

    fn config(&self) -> &AuthConfig {
        &self.inner.config
    }
}

/// The login routes: `GET /login`, `GET /oauth/callback`, `POST /logout`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthState: FromRef<S>,
{
    Router::new()
        .route("/login", get(oauth::login))
        .route("/oauth/callback", get(oauth::callback))
        .route("/logout", post(oauth::logout))
}
