//! The dashboard's "Login with GitHub" settings: the App's OAuth client (from the
//! settings, else from the App the setup page registered) and the URLs GitHub and the
//! browser move between.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::cli::DashboardArgs;
use crate::links::DashboardLinks;
use crate::setup::stored::StoredApp;
use crate::web::auth::AuthConfig;

use super::SettingsError;
use super::secrets::read_secret;

/// How long a dashboard login lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long a user's repository access is reused before GitHub is asked again.
const ACCESS_TTL: Duration = Duration::from_secs(60);

/// The dashboard's login settings, validated.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// GitHub's REST root.
    pub api_base: String,
    /// GitHub's web root, where users authorize the App.
    pub web_base: String,
    /// Flotilla's public base URL (`FLOTILLA_PUBLIC_URL`, else `http://` and the listen
    /// address): the OAuth callback and every dashboard link hang off it.
    pub public_url: String,
    /// The OAuth client the settings give; `None` leaves it to the App's stored
    /// credentials.
    pub client: Option<OAuthClient>,
    /// The `FLOTILLA_OAUTH_CLIENT_SECRET_FILE` it was read from, which no agent may see.
    pub secret_file: Option<PathBuf>,
}

/// A GitHub App's OAuth client.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    /// The client id (`Iv1…` / `Iv23…`).
    pub id: String,
    /// The client secret.
    pub secret: SecretString,
}

impl Dashboard {
    /// The login the dashboard serves with: the settings' OAuth client, else the one
    /// the setup page stored with the App; `None` (no dashboard) without either.
    pub fn auth(&self, stored: Option<&StoredApp>) -> Option<AuthConfig> {
        let client = self.client.clone().or_else(|| {
            stored
                .filter(|app| !app.client_id.trim().is_empty())
                .map(|app| OAuthClient {
                    id: app.client_id.trim().to_owned(),
                    secret: app.client_secret.clone().into(),
                })
        })?;
        Some(AuthConfig {
            client_id: client.id,
            client_secret: client.secret,
            web_base: self.web_base.clone(),
            api_base: self.api_base.clone(),
            public_url: self.public_url.clone(),
            session_ttl: SESSION_TTL,
            access_ttl: ACCESS_TTL,
        })
    }

    /// The dashboard's pages, linked from GitHub.
    pub fn links(&self) -> DashboardLinks {
        DashboardLinks::new(&self.public_url)
    }
}

/// Where the login's URLs point: GitHub's API and web roots, and this Flotilla.
pub struct LoginUrls<'a> {
    /// GitHub's REST API root.
    pub api_base: &'a str,
    /// GitHub's web root, where users authorize the App.
    pub web_base: String,
    /// `FLOTILLA_PUBLIC_URL`, when set.
    pub public_url: Option<String>,
    /// The listen address, the public URL's stand-in when it is not set.
    pub listen: SocketAddr,
}

/// Validates the login settings; an OAuth client id without its secret is an error.
pub fn from_args(args: DashboardArgs, urls: LoginUrls<'_>) -> Result<Dashboard, SettingsError> {
    let client_id = args.oauth_client_id.filter(|id| !id.trim().is_empty());
    let secret = read_secret(
        "FLOTILLA_OAUTH_CLIENT_SECRET",
        args.oauth_client_secret,
        args.oauth_client_secret_file,
    )?;
    let (client, secret_file) = match (client_id, secret) {
        (Some(id), Some(secret)) => (
            Some(OAuthClient {
                id: id.trim().to_owned(),
                secret: secret.value.into(),
            }),
            secret.file,
        ),
        (Some(_), None) => {
            return Err(SettingsError::Missing {
                env: "FLOTILLA_OAUTH_CLIENT_SECRET",
                flag: "oauth-client-secret",
                what: "the GitHub App's OAuth client secret (FLOTILLA_OAUTH_CLIENT_ID is set)",
            });
        }
        (None, secret) => (None, secret.and_then(|s| s.file)),
    };
    let is_http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    let public_url = urls
        .public_url
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| format!("http://{}", urls.listen));
    if !is_http(&public_url) {
        return Err(SettingsError::Invalid {
            env: "FLOTILLA_PUBLIC_URL",
            reason: format!("{public_url:?} is not an http(s) URL"),
        });
    }
    Ok(Dashboard {
        api_base: urls.api_base.to_owned(),
        web_base: urls.web_base,
        public_url: public_url.trim_end_matches('/').to_owned(),
        client,
        secret_file,
    })
}
