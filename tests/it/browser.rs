//! The dashboard in a real browser (headless Chromium): an anonymous visitor gets the
//! login page, and alice logs in through (simulated) GitHub and sees her dashboard.
//! Each step is kept as a screenshot under `$CARGO_TARGET_DIR/screenshots/`.

use fantoccini::Locator;
use flotilla::server::{self, RunningServer, ServerConfig};
use flotilla::sim::SimHandle;
use flotilla::store::Store;
use flotilla::webhook::signature::WebhookSecrets;
use tempfile::TempDir;

use crate::support::browser::{Chrome, login_as, screenshot};
use crate::support::login::auth_config;
use crate::support::serve::free_port;
use crate::support::world::seeded_sim;
use crate::support::{APP_SLUG, SECRET, fast_workers, wait_for};

/// The simulator and a Flotilla serving the dashboard against it.
struct Dashboard {
    _dir: TempDir,
    sim: SimHandle,
    flotilla: RunningServer,
    base: String,
}

impl Dashboard {
    async fn start() -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (sim, seed) = seeded_sim(dir.path(), None).await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let store = Store::connect(&Store::default_url(dir.path()))
            .await
            .expect("store migrates");
        let flotilla = server::start(ServerConfig {
            metrics_token: None,
            role: flotilla::role::Role::All,
            auth: Some(auth_config(&sim, &seed, &base)),
            listen: format!("127.0.0.1:{port}").parse().expect("an address"),
            secrets: WebhookSecrets::from_comma_separated(SECRET).expect("a secret"),
            store,
            app_slug: APP_SLUG.to_owned(),
            workers: fast_workers(),
            fleet: None,
        })
        .await
        .expect("flotilla starts");
        Self {
            _dir: dir,
            sim,
            flotilla,
            base,
        }
    }

    async fn stop(self) {
        self.flotilla.shutdown().await.expect("flotilla stops");
        self.sim.shutdown().await;
    }
}

#[tokio::test]
async fn an_anonymous_visitor_gets_the_login_page() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let dashboard = Dashboard::start().await;

    chrome
        .client
        .goto(&format!("{}/", dashboard.base))
        .await
        .expect("/ opens");

    let url = chrome.client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/login", "{url}");
    let link = chrome
        .client
        .find(Locator::Id("login"))
        .await
        .expect("a login link");
    assert_eq!(link.text().await.expect("its text"), "Log in with GitHub");
    let shot = screenshot(&chrome.client, "login-page").await;
    assert!(shot.is_file());
    chrome.close().await;
    dashboard.stop().await;
}

#[tokio::test]
async fn alice_logs_in_with_github_and_sees_her_dashboard() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let dashboard = Dashboard::start().await;

    login_as(&chrome.client, &dashboard.base, "alice").await;

    let url = chrome.client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/", "back on the dashboard: {url}");
    let viewer = chrome
        .client
        .find(Locator::Id("viewer"))
        .await
        .expect("who is logged in");
    assert_eq!(viewer.text().await.expect("a login"), "alice");
    let shot = screenshot(&chrome.client, "dashboard-home-alice").await;
    assert!(shot.is_file());

    chrome
        .client
        .find(Locator::Id("logout"))
        .await
        .expect("a logout button")
        .click()
        .await
        .expect("logged out");
    wait_for("the logged-out browser to be on the login page", || async {
        let url = chrome.client.current_url().await.ok()?;
        (url.path() == "/login").then_some(())
    })
    .await;
    chrome.close().await;
    dashboard.stop().await;
}
