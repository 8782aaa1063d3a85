//! GitHub's App manifest flow, simulated: the new-App pages a browser POSTs a manifest
//! to (`/settings/apps/new`, `/organizations/{org}/settings/apps/new`), the confirm
//! step that creates the App (fresh RSA key pair, webhook secret, OAuth client) and
//! redirects to the manifest's `redirect_url` with a one-time code, and
//! `POST /app-manifests/{code}/conversions`, which hands the App and its secrets over
//! once, within an hour. Installing such an App on an account is [`Sim::install`].

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::{AppId, InstallationId, Login};

use super::Sim;
use super::error::{ApiError, ApiResult};
use super::json;
use super::oauth::OAuthClient;
use super::state::{Access, App, Installation, UserKind, WebhookTarget};

/// How long a manifest code can be exchanged, as GitHub documents.
const CODE_TTL_HOURS: i64 = 1;

/// An App created from a manifest whose secrets wait for their one conversion.
pub struct ManifestCode {
    /// The App created.
    pub app_id: AppId,
    /// Its private key, PEM (GitHub keeps only the public half).
    pub pem: String,
    /// Its OAuth client secret.
    pub client_secret: String,
    /// The manifest's `default_events`.
    pub events: Vec<String>,
    /// After this instant the code answers 404.
    pub expires_at: DateTime<Utc>,
}

/// The manifest fields GitHub reads; others are ignored as GitHub ignores them.
#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    url: String,
    hook_attributes: Option<HookAttributes>,
    redirect_url: Option<String>,
    #[serde(default)]
    callback_urls: Vec<String>,
    #[serde(default)]
    default_permissions: BTreeMap<String, String>,
    #[serde(default)]
    default_events: Vec<String>,
}

#[derive(Deserialize)]
struct HookAttributes {
    url: String,
    #[serde(default = "active")]
    active: bool,
}

fn active() -> bool {
    true
}

/// The browser-facing pages (outside the REST root).
pub fn web_router() -> Router<Sim> {
    Router::new()
        .route("/settings/apps/new", post(new_app_for_user))
        .route(
            "/organizations/{org}/settings/apps/new",
            post(new_app_for_org),
        )
        .route("/settings/apps/new/confirm", post(confirm))
}

/// The REST endpoint (under the REST root, GHES's prefix too).
pub fn api_router() -> Router<Sim> {
    Router::new().route("/app-manifests/{code}/conversions", post(conversion))
}

#[derive(Deserialize)]
struct StateQuery {
    state: Option<String>,
}

#[derive(Deserialize)]
struct ManifestForm {
    manifest: String,
}

#[derive(Template)]
#[template(path = "sim/new_app.html")]
struct NewAppPage {
    owner: String,
    manifest: String,
    state: String,
    org: String,
    name: String,
    user: String,
}

/// The person the simulator pretends is signed in to its web pages.
const SIGNED_IN: &str = "sim-operator";

fn page_error(message: impl Into<String>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Html(format!("<p>{}</p>", html_escape(&message.into()))),
    )
        .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn new_app_for_user(query: Query<StateQuery>, form: Form<ManifestForm>) -> Response {
    new_app_page(None, query.0, form.0)
}

async fn new_app_for_org(
    Path(org): Path<String>,
    query: Query<StateQuery>,
    form: Form<ManifestForm>,
) -> Response {
    new_app_page(Some(org), query.0, form.0)
}

/// The page where the person names and confirms the App the manifest describes.
fn new_app_page(org: Option<String>, query: StateQuery, form: ManifestForm) -> Response {
    let manifest: Manifest = match serde_json::from_str(&form.manifest) {
        Ok(manifest) => manifest,
        Err(error) => return page_error(format!("Invalid manifest: {error}")),
    };
    let page = NewAppPage {
        owner: org.clone().unwrap_or_else(|| SIGNED_IN.to_owned()),
        manifest: form.manifest,
        state: query.state.unwrap_or_default(),
        org: org.unwrap_or_default(),
        name: manifest.name.unwrap_or_default(),
        user: SIGNED_IN.to_owned(),
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => page_error(error.to_string()),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    manifest: String,
    state: String,
    org: String,
    name: String,
    user: String,
}

/// A slug as GitHub derives it from a name: lowercase, runs of other characters as `-`.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn random_hex(bytes: usize) -> String {
    (0..bytes.div_ceil(16))
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect::<String>()[..bytes * 2]
        .to_owned()
}

/// Creates the App and sends the browser to the manifest's `redirect_url` with a code.
async fn confirm(State(sim): State<Sim>, Form(form): Form<ConfirmForm>) -> Response {
    let manifest: Manifest = match serde_json::from_str(&form.manifest) {
        Ok(manifest) => manifest,
        Err(error) => return page_error(format!("Invalid manifest: {error}")),
    };
    let Some(redirect_url) = manifest.redirect_url.clone() else {
        return page_error("The manifest has no redirect_url");
    };
    let slug = slug_of(&form.name);
    if slug.is_empty() {
        return page_error("Name can't be blank");
    }
    if sim.world().apps.values().any(|app| app.slug == slug) {
        return page_error("Name is already in use");
    }
    let mut permissions = BTreeMap::new();
    for (name, level) in &manifest.default_permissions {
        match Access::parse(level) {
            Some(access) => {
                permissions.insert(name.clone(), access);
            }
            None => return page_error(format!("Default permission records {name} is invalid")),
        }
    }
    let generated = tokio::task::spawn_blocking(|| {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
        let private = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)?.to_string();
        let public = key
            .to_public_key()
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)?;
        anyhow::Ok((private, public))
    })
    .await;
    let (pem, public) = match generated {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => return page_error(format!("key generation failed: {error}")),
        Err(error) => return page_error(format!("key generation failed: {error}")),
    };
    let public_key = match jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()) {
        Ok(key) => key,
        Err(error) => return page_error(format!("key generation failed: {error}")),
    };
    let owner = Login(if form.org.is_empty() {
        form.user
    } else {
        form.org.clone()
    });
    let code = random_hex(20);
    {
        let mut world = sim.world();
        let owner_kind = if form.org.is_empty() {
            UserKind::User
        } else {
            UserKind::Organization
        };
        if !world.users.contains_key(&owner) {
            world.add_user(&owner, owner_kind);
        }
        let app_id = loop {
            let id = AppId(world.id());
            if !world.apps.contains_key(&id) {
                break id;
            }
        };
        let bot = Login(format!("{slug}[bot]"));
        world.add_user(&bot, UserKind::Bot);
        let hook_id = world.id();
        let webhook = manifest.hook_attributes.as_ref().map(|hook| WebhookTarget {
            url: hook.url.clone(),
            secret: Some(random_hex(20)),
            hook_id,
            active: hook.active,
        });
        world.apps.insert(
            app_id,
            App {
                id: app_id,
                slug: slug.clone(),
                name: form.name.trim().to_owned(),
                owner,
                public_key: Some(public_key),
                webhook,
                bot,
                permissions,
                callback_urls: manifest.callback_urls.clone(),
            },
        );
        let expires_at = world.now() + chrono::Duration::hours(CODE_TTL_HOURS);
        world.manifest_codes.insert(
            code.clone(),
            ManifestCode {
                app_id,
                pem,
                client_secret: random_hex(20),
                events: manifest.default_events.clone(),
                expires_at,
            },
        );
    }
    let separator = if redirect_url.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect_url}{separator}code={code}&state={}",
        urlencoding(&form.state)
    );
    tracing::debug!(%slug, url = %manifest.url, "simulator: App created from a manifest");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Percent-encodes a query value.
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /app-manifests/{code}/conversions`: 201 with the App, its key and secrets;
/// 404 for a code unknown, used or older than an hour.
async fn conversion(State(sim): State<Sim>, Path(code): Path<String>) -> ApiResult<Response> {
    let mut world = sim.world();
    let pending = world
        .manifest_codes
        .remove(&code)
        .filter(|pending| pending.expires_at > world.now())
        .ok_or_else(ApiError::not_found)?;
    let app = world
        .apps
        .get(&pending.app_id)
        .ok_or_else(ApiError::not_found)?;
    let mut body = json::app(&world, app);
    let permissions: serde_json::Map<String, Value> = app
        .permissions
        .iter()
        .map(|(name, access)| {
            let level = match access {
                Access::Read => "read",
                Access::Write => "write",
            };
            (name.clone(), json!(level))
        })
        .collect();
    body["permissions"] = Value::Object(permissions);
    body["events"] = json!(pending.events);
    body["description"] = json!(null);
    body["pem"] = json!(pending.pem);
    body["webhook_secret"] = json!(app.webhook.as_ref().and_then(|hook| hook.secret.clone()));
    body["client_secret"] = json!(pending.client_secret);
    if let Some(client_id) = body["client_id"].as_str() {
        world.oauth.clients.insert(
            client_id.to_owned(),
            OAuthClient {
                app_id: pending.app_id,
                secret: pending.client_secret.clone(),
            },
        );
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

impl Sim {
    /// Installs the App `app` on `account` (all its repositories), as a person does on
    /// the App's install page; the account's events then reach the App's webhook too.
    pub fn install(&self, app: AppId, account: &Login) -> anyhow::Result<InstallationId> {
        let mut world = self.world();
        anyhow::ensure!(world.apps.contains_key(&app), "no App {app}");
        anyhow::ensure!(world.users.contains_key(account), "no account {account}");
        let id = InstallationId(world.id());
        world.installations.insert(
            id,
            Installation {
                id,
                app_id: app,
                account: account.clone(),
            },
        );
        Ok(id)
    }

    /// The OAuth callback URLs App `app` was created with (`None`: no such App), as its
    /// settings page on GitHub shows them.
    pub fn app_callback_urls(&self, app: AppId) -> Option<Vec<String>> {
        self.world()
            .apps
            .get(&app)
            .map(|app| app.callback_urls.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_are_lowercase_with_single_hyphens() {
        assert_eq!(slug_of("Flotilla"), "flotilla");
        assert_eq!(slug_of("  My  App (staging) "), "my-app-staging");
    }
}
