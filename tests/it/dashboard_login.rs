//! Login with GitHub: an anonymous visitor is sent to the login page, signs in on
//! (simulated) GitHub and comes back logged in; access on a repository is what GitHub
//! says through the person's own token; a write action needs write access and the
//! session's CSRF token.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flotilla::types::RepoName;
use flotilla::web::auth::{self, Access, AuthConfig, AuthState, Viewer, verify_csrf};
use std::time::Duration;

use tempfile::TempDir;

use crate::support::login::{Browser, DashboardServer, auth_config, csrf_field};
use crate::support::world::seeded_sim;

#[tokio::test]
async fn an_anonymous_visitor_logs_in_with_github_and_out_again() {
    let DashboardServer {
        sim,
        flotilla,
        base,
        ..
    } = DashboardServer::start().await;
    let mut browser = Browser::new();

    let home = browser.get(&format!("{base}/")).await;
    assert_eq!(home.status, 303, "anonymous: {home:?}");
    assert_eq!(home.location.as_deref(), Some("/login?next=%2F"));
    let login = browser.get(&format!("{base}/login?next=%2F")).await;
    assert!(login.body.contains("Log in with GitHub"), "{}", login.body);
    let anonymous_post = browser.post(&format!("{base}/logout"), &[]).await;
    assert_eq!(anonymous_post.status, 401, "{anonymous_post:?}");

    let landed = browser.log_in_as(&base, "alice").await;
    assert_eq!(landed, format!("{base}/"));
    let home = browser.get(&landed).await;
    assert_eq!(home.status, 200, "{home:?}");
    assert!(
        home.body.contains("<span id=\"viewer\">alice</span>"),
        "{}",
        home.body
    );

    let forged = browser.post(&format!("{base}/logout"), &[]).await;
    assert_eq!(
        forged.status, 403,
        "logout without the CSRF token: {forged:?}"
    );
    let wrong = browser
        .post(&format!("{base}/logout"), &[("csrf", "not-the-token")])
        .await;
    assert_eq!(wrong.status, 403, "logout with another token: {wrong:?}");
    let csrf = csrf_field(&home.body);
    let out = browser
        .post(&format!("{base}/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303, "{out:?}");
    assert_eq!(browser.get(&landed).await.status, 303, "logged out");

    flotilla.shutdown().await.expect("flotilla stops");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_login_whose_state_was_not_issued_here_is_refused() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let base = serve_probe(&sim, &seed).await;
    let mut browser = Browser::new();
    let page = browser
        .get(&format!("{base}/oauth/callback?code=abc&state=forged"))
        .await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(page.body.contains("start again at /login"), "{}", page.body);
    sim.shutdown().await;
}

/// A page and a write action on a repository, guarded as the dashboard's pages are.
async fn probe_page(
    State(auth): State<AuthState>,
    viewer: Viewer,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    let repo = RepoName(format!("{owner}/{repo}"));
    match viewer.access(&auth, &repo).await {
        Ok(access) => format!("{access:?} csrf={}", viewer.csrf_token().0).into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("{error:#}")).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ActionForm {
    csrf: Option<String>,
}

async fn probe_action(
    State(auth): State<AuthState>,
    viewer: Viewer,
    Path((owner, repo)): Path<(String, String)>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Response {
    if let Err(rejected) = verify_csrf(&viewer, form.csrf.as_deref()) {
        return rejected.into_response();
    }
    let repo = RepoName(format!("{owner}/{repo}"));
    match viewer.access(&auth, &repo).await {
        Ok(Access::Write) => "done".into_response(),
        Ok(_) => (StatusCode::FORBIDDEN, "write access needed").into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("{error:#}")).into_response(),
    }
}

/// Serves the login routes and the probe on a free port; returns the base URL.
async fn serve_probe(sim: &flotilla::sim::SimHandle, seed: &flotilla::sim::SeedConfig) -> String {
    serve_probe_with(sim, seed, |_| {}).await
}

/// Like [`serve_probe`], with the login settings changed by `change`.
async fn serve_probe_with(
    sim: &flotilla::sim::SimHandle,
    seed: &flotilla::sim::SeedConfig,
    change: impl FnOnce(&mut AuthConfig),
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let mut config = auth_config(sim, seed, &base);
    change(&mut config);
    let state = AuthState::new(config).expect("auth state");
    let app: Router = auth::routes()
        .route("/repos/{owner}/{repo}", get(probe_page).post(probe_action))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn access_is_what_github_grants_the_person_and_writes_need_write_and_csrf() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let base = serve_probe(&sim, &seed).await;
    let repo_page = format!("{base}/repos/{}", seed.repo_name());

    let mut alice = Browser::new();
    alice.log_in_as(&base, "alice").await;
    let page = alice.get(&repo_page).await;
    assert!(page.body.starts_with("Write "), "alice: {page:?}");
    let csrf = page.body.split("csrf=").nth(1).expect("a token").to_owned();
    let done = alice.post(&repo_page, &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.body.as_str()), (200, "done"));
    let no_csrf = alice.post(&repo_page, &[]).await;
    assert_eq!(no_csrf.status, 403, "a POST without CSRF: {no_csrf:?}");

    let mut bob = Browser::new();
    bob.log_in_as(&base, "bob").await;
    let page = bob.get(&repo_page).await;
    assert!(page.body.starts_with("Read "), "bob: {page:?}");
    let bob_csrf = page.body.split("csrf=").nth(1).expect("a token").to_owned();
    let refused = bob.post(&repo_page, &[("csrf", &bob_csrf)]).await;
    assert_eq!(refused.status, 403, "bob may only read: {refused:?}");
    let borrowed = bob.post(&repo_page, &[("csrf", &csrf)]).await;
    assert_eq!(
        borrowed.status, 403,
        "alice's token is not bob's: {borrowed:?}"
    );

    let elsewhere = alice.get(&format!("{base}/repos/other/private")).await;
    assert!(elsewhere.body.starts_with("None "), "{elsewhere:?}");

    let mut mallory = Browser::new();
    let page = mallory.get(&format!("{base}/login")).await;
    assert_eq!(page.status, 200);
    mallory.clear_cookie();
    assert_eq!(mallory.post(&repo_page, &[]).await.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_session_started_by_one_process_is_read_by_any_other_of_the_same_app() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let first = serve_probe(&sim, &seed).await;
    let second = serve_probe(&sim, &seed).await;
    let other_app = serve_probe_with(&sim, &seed, |config| {
        config.client_secret = "another App's client secret".to_owned().into();
    })
    .await;
    let repo = format!("/repos/{}", seed.repo_name());

    let mut alice = Browser::new();
    alice.log_in_as(&first, "alice").await;
    let cookie = alice.session().expect("a session cookie").to_owned();
    assert!(
        !cookie.contains("alice"),
        "the cookie does not show what it holds: {cookie}"
    );

    let mut same_browser_elsewhere = Browser::new();
    same_browser_elsewhere.set_session(&cookie);
    let page = same_browser_elsewhere.get(&format!("{second}{repo}")).await;
    assert_eq!(page.status, 200, "another process of the fleet: {page:?}");
    assert!(page.body.starts_with("Write "), "{page:?}");

    let refused = same_browser_elsewhere
        .get(&format!("{other_app}{repo}"))
        .await;
    assert_eq!(refused.status, 303, "another App's Flotilla: {refused:?}");
    assert!(
        refused
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login?next=")),
        "{refused:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_altered_or_expired_session_cookie_sends_the_browser_to_log_in() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let base = serve_probe_with(&sim, &seed, |config| {
        config.session_ttl = Duration::from_secs(2);
    })
    .await;
    let repo = format!("{base}/repos/{}", seed.repo_name());
    let mut alice = Browser::new();
    alice.log_in_as(&base, "alice").await;
    assert_eq!(alice.get(&repo).await.status, 200, "logged in");

    let cookie = alice.session().expect("a session cookie").to_owned();
    let middle = cookie.len() / 2;
    let flipped = if &cookie[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let altered = format!("{}{flipped}{}", &cookie[..middle], &cookie[middle + 1..]);
    let mut mallory = Browser::new();
    mallory.set_session(&altered);
    let page = mallory.get(&repo).await;
    assert_eq!(page.status, 303, "an altered cookie: {page:?}");
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login?next=")),
        "{page:?}"
    );

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let page = alice.get(&repo).await;
    assert_eq!(page.status, 303, "an expired session: {page:?}");
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login?next=")),
        "{page:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_login_link_works_once_and_only_in_the_browser_that_started_it() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let base = serve_probe(&sim, &seed).await;
    let mut alice = Browser::new();
    let (callback, landed) = alice.log_in_returning_callback(&base, "alice").await;
    assert_eq!(landed.status, 303, "{landed:?}");

    let again = alice.get(&callback).await;
    assert_eq!(again.status, 400, "the same callback twice: {again:?}");
    let mut mallory = Browser::new();
    let stolen = mallory.get(&callback).await;
    assert_eq!(stolen.status, 400, "another browser: {stolen:?}");
    assert!(mallory.session().is_none());
    sim.shutdown().await;
}
