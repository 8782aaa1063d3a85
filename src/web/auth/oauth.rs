//! The OAuth web application flow of GitHub Apps (user-to-server): `/login` sends
//! the user to `{web}/login/oauth/authorize`, GitHub sends them back to
//! `/oauth/callback` with a `code` that is exchanged for the user's token, and
//! `GET /user` tells who they are.

use anyhow::Context;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::PrivateCookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::escape;

use super::{AuthState, Viewer, verify_csrf};

/// `GET /login?next=…`.
#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    next: Option<String>,
}

/// Only paths on this site are followed after login (no open redirect).
fn local_path(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".to_owned())
}

/// The login page: one link to GitHub's authorize page, carrying a fresh `state`.
pub(super) async fn login(
    State(auth): State<AuthState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> (PrivateCookieJar, Html<String>) {
    let config = auth.config();
    let (state, jar) = auth
        .inner
        .sessions
        .begin_login(&headers, local_path(query.next));
    let authorize = format!(
        "{}/login/oauth/authorize?client_id={}&redirect_uri={}&state={}",
        config.web_base.trim_end_matches('/'),
        escape::percent(&config.client_id),
        escape::percent(&config.redirect_uri()),
        state,
    );
    let page = Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Flotilla — log in</title></head>\n\
         <body><main><h1>Flotilla</h1>\n\
         <p>The dashboard shows the runs of the repositories you can read on GitHub.</p>\n\
         <p><a id=\"login\" href=\"{}\">Log in with GitHub</a></p></main></body></html>\n",
        escape::html(&authorize)
    ));
    (jar, page)
}

/// `GET /oauth/callback?code=…&state=…` (or `?error=…` when the user declined).
#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GitHub's answer to the code exchange: a token, or an error in a 200 body.
#[derive(Debug, Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserBody {
    login: String,
}

/// Finishes a login: checks `state`, exchanges the code, learns the login, starts a
/// session and returns to the page that asked for it.
pub(super) async fn callback(
    State(auth): State<AuthState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let sessions = &auth.inner.sessions;
    let Some(next) = query
        .state
        .as_deref()
        .and_then(|s| sessions.finish_login(&headers, s))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "this login link expired or was not started here; start again at /login",
        )
            .into_response();
    };
    if let Some(error) = query.error {
        let why = query.error_description.unwrap_or(error);
        return (
            StatusCode::FORBIDDEN,
            sessions.abandon_login(&headers),
            format!("GitHub did not log you in: {why}"),
        )
            .into_response();
    }
    let Some(code) = query.code else {
        return (
            StatusCode::BAD_REQUEST,
            sessions.abandon_login(&headers),
            "GitHub sent no code; start again at /login",
        )
            .into_response();
    };
    match sign_in(&auth, &code).await {
        Ok((login, token)) => {
            tracing::info!(%login, "dashboard login");
            let jar = sessions.start(&headers, login, &token);
            (jar, Redirect::to(&next)).into_response()
        }
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "dashboard login failed");
            (
                StatusCode::BAD_GATEWAY,
                sessions.abandon_login(&headers),
                format!("login failed: {error:#}"),
            )
                .into_response()
        }
    }
}

/// Exchanges `code` for the user's token and reads their login with it.
async fn sign_in(auth: &AuthState, code: &str) -> anyhow::Result<(String, SecretString)> {
    let config = auth.config();
    let http = &auth.inner.http;
    let redirect_uri = config.redirect_uri();
    let exchange = http
        .post(format!(
            "{}/login/oauth/access_token",
            config.web_base.trim_end_matches('/')
        ))
        .header(header::ACCEPT, "application/json")
        .form(&[
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose_secret()),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
        ]);
    let exchanged: TokenBody = answer(
        exchange,
        "exchanging the OAuth code",
        "reading GitHub's token answer",
    )
    .await?;
    let token = match exchanged {
        TokenBody {
            access_token: Some(token),
            ..
        } => SecretString::from(token),
        TokenBody {
            error,
            error_description,
            ..
        } => anyhow::bail!(
            "GitHub refused the code: {}",
            error_description
                .or(error)
                .unwrap_or_else(|| "no reason given".to_owned())
        ),
    };
    let user = http
        .get(format!("{}/user", config.api_base.trim_end_matches('/')))
        .bearer_auth(token.expose_secret())
        .header(header::ACCEPT, "application/vnd.github+json");
    let user: UserBody = answer(
        user,
        "reading the logged-in user",
        "reading the logged-in user",
    )
    .await?;
    Ok((user.login, token))
}

/// Sends `request` and reads GitHub's JSON answer; a failure to send or an error status
/// is `sending`, an answer that does not read is `reading`.
async fn answer<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    sending: &'static str,
    reading: &'static str,
) -> anyhow::Result<T> {
    request
        .send()
        .await
        .context(sending)?
        .error_for_status()
        .context(sending)?
        .json()
        .await
        .context(reading)
}

/// `POST /logout` with the session's `csrf`.
#[derive(Debug, Deserialize)]
pub(super) struct LogoutForm {
    csrf: Option<String>,
}

/// Ends the session and clears the cookie.
pub(super) async fn logout(
    State(auth): State<AuthState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(rejected) = verify_csrf(&viewer, form.csrf.as_deref()) {
        return rejected.into_response();
    }
    (auth.inner.sessions.end(&headers), Redirect::to("/login")).into_response()
}
