//! The dashboard's "Login with GitHub" settings: the App's OAuth client and the URLs
//! GitHub and the browser move between.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::DashboardArgs;
use crate::web::auth::AuthConfig;

use super::SettingsError;
use super::secrets::read_secret;

/// How long a dashboard login lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long a user's repository access is reused before GitHub is asked again.
const ACCESS_TTL: Duration = Duration::from_secs(60);

/// The dashboard's login, validated.
pub struct Dashboard {
    /// What the login routes need.
    pub auth: AuthConfig,
    /// The `FLOTILLA_OAUTH_CLIENT_SECRET_FILE` it was read from, which no agent may see.
    pub secret_file: Option<PathBuf>,
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

/// Validates the login settings; `None` when no OAuth client id is set.
pub fn from_args(
    args: DashboardArgs,
    urls: LoginUrls<'_>,
) -> Result<Option<Dashboard>, SettingsError> {
    let Some(client_id) = args.oauth_client_id.filter(|id| !id.trim().is_empty()) else {
        return Ok(None);
    };
    let secret = read_secret(
        "FLOTILLA_OAUTH_CLIENT_SECRET",
        args.oauth_client_secret,
        args.oauth_client_secret_file,
    )?
    .ok_or(SettingsError::Missing {
        env: "FLOTILLA_OAUTH_CLIENT_SECRET",
        flag: "oauth-client-secret",
        what: "the GitHub App's OAuth client secret (FLOTILLA_OAUTH_CLIENT_ID is set)",
    })?;
    let is_http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    let public_url = urls
        .public_url
        .unwrap_or_else(|| format!("http://{}", urls.listen));
    if !is_http(&public_url) {
        return Err(SettingsError::Invalid {
            env: "FLOTILLA_PUBLIC_URL",
            reason: format!("{public_url:?} is not an http(s) URL"),
        });
    }
    Ok(Some(Dashboard {
        auth: AuthConfig {
            client_id: client_id.trim().to_owned(),
            client_secret: secret.value.into(),
            web_base: urls.web_base,
            api_base: urls.api_base.to_owned(),
            public_url,
            session_ttl: SESSION_TTL,
            access_ttl: ACCESS_TTL,
        },
        secret_file: secret.file,
    }))
}
