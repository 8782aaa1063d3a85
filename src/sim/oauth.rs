//! The OAuth web application flow of GitHub Apps, as a person sees it: the sign-in
//! page at `GET /login/oauth/authorize`, the redirect back with `code` and `state`,
//! the code exchange at `POST /login/oauth/access_token`, and user tokens (`ghu_…`)
//! that act as that person (`GET /user`, repositories they can see).
//!
//! The tester "is" whoever they type on the sign-in page: any person the simulator
//! knows (the seed's writer and reader, or anyone added since). There are no passwords.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::escape;
use crate::types::{AppId, Login};

use super::Sim;
use super::auth::UserAuth;
use super::error::ApiResult;
use super::json;
use super::state::{UserKind, World};

/// How long an authorization code may be exchanged (GitHub: ten minutes).
const CODE_TTL_MINUTES: i64 = 10;

/// The OAuth side of the world: registered clients, codes and user tokens.
#[derive(Default)]
pub struct OAuthState {
    /// Client id → the App it belongs to and its secret.
    pub clients: HashMap<String, OAuthClient>,
    codes: HashMap<String, Code>,
    /// User token → who it acts as.
    pub user_tokens: HashMap<String, UserAuth>,
}

/// A GitHub App's OAuth credentials.
#[derive(Clone)]
pub struct OAuthClient {
    /// The App.
    pub app_id: AppId,
    /// The client secret the code exchange must present.
    pub secret: String,
}

/// An authorization code handed to the browser, not yet exchanged.
struct Code {
    client_id: String,
    redirect_uri: Option<String>,
    login: Login,
    expires_at: DateTime<Utc>,
}

/// OAuth routes (on the web host, github.com, not the API host).
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/login/oauth/authorize",
            get(authorize_page).post(authorize),
        )
        .route("/login/oauth/access_token", post(access_token))
        .route("/user", get(current_user))
}

/// `client_id`, `redirect_uri`, `state` and `login` as GitHub reads them.
#[derive(Debug, Deserialize)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    login: Option<String>,
}

/// Whether `redirect_uri` is usable: an absolute http(s) URL (the simulator registers
/// no callback URL, so any is accepted, but the exchange must repeat it).
fn valid_redirect(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// The sign-in page: who are you? (People the simulator knows are listed.)
async fn authorize_page(State(sim): State<Sim>, Query(params): Query<AuthorizeParams>) -> Response {
    sign_in_page(&sim, &params, None)
}

fn sign_in_page(sim: &Sim, params: &AuthorizeParams, problem: Option<&str>) -> Response {
    let world = sim.world();
    let app_name = match params
        .client_id
        .as_deref()
        .and_then(|id| world.oauth.clients.get(id))
        .and_then(|client| world.apps.get(&client.app_id))
    {
        Some(app) => app.name.clone(),
        None => return (StatusCode::NOT_FOUND, Html("<h1>404</h1>")).into_response(),
    };
    let people: Vec<String> = world
        .users
        .values()
        .filter(|u| u.kind == UserKind::User)
        .map(|u| format!("<li><code>{}</code></li>", escape::html(&u.login.0)))
        .collect();
    let hidden = |name: &str, value: &Option<String>| {
        value.as_deref().map_or(String::new(), |v| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape::html(v)
            )
        })
    };
    let problem = problem.map_or(String::new(), |p| {
        format!(
            "<p id=\"js-flash-container\" role=\"alert\">{}</p>",
            escape::html(p)
        )
    });
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to GitHub · GitHub</title></head>\n\
         <body><main><h1>Sign in to GitHub</h1><p>to continue to <strong>{app}</strong></p>{problem}\n\
         <form method=\"post\" action=\"/login/oauth/authorize\">{client_id}{redirect}{state}\n\
         <label for=\"login_field\">Username</label>\n\
         <input type=\"text\" name=\"login\" id=\"login_field\" value=\"{login}\" autofocus>\n\
         <input type=\"submit\" name=\"commit\" value=\"Sign in\">\n\
         </form><p>People in this simulated GitHub:</p><ul>{people}</ul></main></body></html>\n",
        app = escape::html(&app_name),
        client_id = hidden("client_id", &params.client_id),
        redirect = hidden("redirect_uri", &params.redirect_uri),
        state = hidden("state", &params.state),
        login = escape::html(params.login.as_deref().unwrap_or("")),
        people = people.concat(),
    ))
    .into_response()
}

/// The person signs in (and authorizes the App): back to `redirect_uri` with a code.
async fn authorize(State(sim): State<Sim>, Form(params): Form<AuthorizeParams>) -> Response {
    let Some(redirect_uri) = params.redirect_uri.clone().filter(|u| valid_redirect(u)) else {
        return (
            StatusCode::BAD_REQUEST,
            "The redirect_uri MUST match the registered callback URL for this application.",
        )
            .into_response();
    };
    let login = Login(params.login.clone().unwrap_or_default().trim().to_owned());
    let code = {
        let mut world = sim.world();
        let known_client = params
            .client_id
            .as_deref()
            .is_some_and(|id| world.oauth.clients.contains_key(id));
        if !known_client {
            return (StatusCode::NOT_FOUND, Html("<h1>404</h1>")).into_response();
        }
        let is_person = world
            .users
            .get(&login)
            .is_some_and(|u| u.kind == UserKind::User);
        if !is_person {
            drop(world);
            return sign_in_page(&sim, &params, Some("Incorrect username or password."));
        }
        let code = hex::encode(uuid::Uuid::new_v4().as_bytes())[..20].to_owned();
        let expires_at = world.now() + Duration::minutes(CODE_TTL_MINUTES);
        world.oauth.codes.insert(
            code.clone(),
            Code {
                client_id: params.client_id.clone().unwrap_or_default(),
                redirect_uri: Some(redirect_uri.clone()),
                login,
                expires_at,
            },
        );
        code
    };
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let state = params
        .state
        .map_or(String::new(), |s| format!("&state={}", escape::percent(&s)));
    Redirect::to(&format!("{redirect_uri}{separator}code={code}{state}")).into_response()
}

/// The code exchange's parameters.
#[derive(Debug, Deserialize)]
struct ExchangeParams {
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
}

/// An exchange error: GitHub answers these with 200 and an `error` field.
fn exchange_error(json_wanted: bool, error: &str, description: &str) -> Response {
    let uri = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";
    if json_wanted {
        Json(json!({"error": error, "error_description": description, "error_uri": uri}))
            .into_response()
    } else {
        form_body(&[
            ("error", error),
            ("error_description", description),
            ("error_uri", uri),
        ])
    }
}

fn form_body(pairs: &[(&str, &str)]) -> Response {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", escape::percent(v)))
        .collect::<Vec<_>>()
        .join("&");
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

/// `POST /login/oauth/access_token`: a code for a user token (JSON when the client
/// sends `Accept: application/json`, a form-encoded body otherwise).
async fn access_token(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Form(params): Form<ExchangeParams>,
) -> Response {
    let json_wanted = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let mut world = sim.world();
    let client = params
        .client_id
        .as_deref()
        .and_then(|id| world.oauth.clients.get(id).cloned());
    let Some(client) = client.filter(|c| params.client_secret.as_deref() == Some(&c.secret)) else {
        return exchange_error(
            json_wanted,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    };
    let now = world.now();
    let code = params
        .code
        .as_deref()
        .and_then(|c| world.oauth.codes.remove(c))
        .filter(|c| c.expires_at > now && Some(&c.client_id) == params.client_id.as_ref());
    let Some(code) = code else {
        return exchange_error(
            json_wanted,
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        );
    };
    if params.redirect_uri.is_some() && params.redirect_uri != code.redirect_uri {
        return exchange_error(
            json_wanted,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    let token = mint_user_token(&mut world, client.app_id, code.login);
    if json_wanted {
        Json(json!({"access_token": token, "token_type": "bearer", "scope": ""})).into_response()
    } else {
        form_body(&[
            ("access_token", &token),
            ("scope", ""),
            ("token_type", "bearer"),
        ])
    }
}

/// Mints a `ghu_…` user-to-server token acting as `login` through `app_id`.
fn mint_user_token(world: &mut World, app_id: AppId, login: Login) -> String {
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let token = format!("ghu_{}", &random[..36]);
    world
        .oauth
        .user_tokens
        .insert(token.clone(), UserAuth { login, app_id });
    token
}

/// `GET /user`: the person a user token acts as.
async fn current_user(
    State(sim): State<Sim>,
    auth: UserAuth,
) -> ApiResult<Json<serde_json::Value>> {
    let world = sim.world();
    Ok(Json(json::user(&world, &auth.login)))
}
