//! The last step of GitHub's manifest flow: exchanging the one-time code GitHub sent
//! the browser back with for the new App's id, key and secrets
//! (`POST /app-manifests/{code}/conversions`, no authentication, as GitHub documents).

use serde::Deserialize;

use super::stored::StoredApp;
use crate::github::routes::Route;

/// Why the code could not be exchanged; each becomes a message on the setup page.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The code holds characters GitHub never puts in one.
    #[error("the code in the address is not one GitHub issues")]
    BadCode,
    /// GitHub refused the code: unknown, already used, or older than an hour.
    #[error("GitHub refused the code ({status}): {message}")]
    Refused {
        /// GitHub's status code.
        status: u16,
        /// GitHub's `message`.
        message: String,
    },
    /// GitHub could not be reached, or answered something that is not an App.
    #[error("GitHub's answer could not be read: {0}")]
    Unreadable(String),
}

/// GitHub's answer: the App, with its secrets.
#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: String,
    name: String,
    html_url: String,
    pem: String,
    webhook_secret: Option<String>,
    client_id: String,
    client_secret: String,
}

/// Exchanges `code` at the REST root `api_url`.
pub async fn convert(
    http: &reqwest::Client,
    api_url: &str,
    code: &str,
) -> Result<StoredApp, ConversionError> {
    if code.is_empty()
        || code.len() > 100
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConversionError::BadCode);
    }
    let url = format!(
        "{}{}",
        api_url.trim_end_matches('/'),
        Route::CreateAppFromManifest.path(&[code])
    );
    let unreadable =
        |error: reqwest::Error| ConversionError::Unreadable(error.without_url().to_string());
    let response = http
        .post(url)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "flotilla")
        .send()
        .await
        .map_err(unreadable)?;
    let status = response.status();
    if !status.is_success() {
        let message = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| body.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        return Err(ConversionError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    let app: Conversion = response.json().await.map_err(unreadable)?;
    let webhook_secret = app
        .webhook_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConversionError::Unreadable("the App has no webhook secret".to_owned()))?;
    Ok(StoredApp {
        id: app.id,
        slug: app.slug,
        name: app.name,
        html_url: app.html_url,
        pem: app.pem,
        webhook_secret,
        client_id: app.client_id,
        client_secret: app.client_secret,
    })
}

/// GitHub's web root for a REST root: `https://github.com` for `api.github.com`, the
/// host of a GitHub Enterprise Server's `https://host/api/v3`, the root itself otherwise
/// (the simulator serves both at one address). `configured` (`FLOTILLA_GITHUB_WEB_URL`)
/// wins.
pub fn web_url(api_url: &str, configured: Option<&str>) -> String {
    if let Some(url) = configured {
        return url.trim_end_matches('/').to_owned();
    }
    let base = api_url.trim_end_matches('/');
    if base == "https://api.github.com" {
        return "https://github.com".to_owned();
    }
    base.strip_suffix("/api/v3").unwrap_or(base).to_owned()
}

#[cfg(test)]
mod tests {
    use super::web_url;

    #[test]
    fn the_web_root_follows_githubs_layouts() {
        assert_eq!(
            web_url("https://api.github.com", None),
            "https://github.com"
        );
        assert_eq!(
            web_url("https://api.github.com/", None),
            "https://github.com"
        );
        assert_eq!(
            web_url("https://ghe.example.com/api/v3", None),
            "https://ghe.example.com"
        );
        assert_eq!(
            web_url("http://127.0.0.1:9000", None),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            web_url("https://api.github.com", Some("https://proxy.example/")),
            "https://proxy.example"
        );
    }
}
