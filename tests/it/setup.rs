//! Registering the GitHub App from Flotilla's own setup page (GitHub's manifest flow),
//! driven over HTTP as a browser would: a real `flotilla serve` started without App
//! credentials, the simulator's new-App pages, the redirect back, and the running server
//! switching to the new App without a restart.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use tempfile::TempDir;

use flotilla::github::{AppCredentials, GithubApp, GithubSettings};
use flotilla::setup::stored::StoredApp;
use flotilla::setup::token::SetupToken;
use flotilla::sim::{SeedConfig, SimHandle};
use flotilla::types::AppId;
use flotilla::webhook::signature::sign;

use crate::support::html_form::{HtmlForm, forms, links};
use crate::support::login::Browser;
use crate::support::serve::{free_port, healthy, serve_unregistered};
use crate::support::world::seeded_sim;
use crate::support::{SECRET, wait_for};

/// A simulator (seeded with a repository and another App), and a `flotilla serve`
/// without credentials pointed at it.
struct Unregistered {
    dir: TempDir,
    sim: SimHandle,
    seed: SeedConfig,
    port: u16,
    flotilla: tokio::process::Child,
    /// A browser that follows no redirect by itself.
    browser: reqwest::Client,
}

impl Unregistered {
    async fn start() -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (sim, seed) = seeded_sim(dir.path(), None).await;
        let port = free_port();
        let flotilla = serve_unregistered(dir.path(), &sim.api_url(), port, &[]);
        healthy(port).await;
        let browser = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("http client");
        Self {
            dir,
            sim,
            seed,
            port,
            flotilla,
            browser,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("flotilla.log")).unwrap_or_default()
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let response = self.browser.get(url).send().await.expect("GET answers");
        (response.status(), response.text().await.expect("a body"))
    }

    /// The setup token from the one log line that shows it, with the URL to open.
    fn token(&self) -> String {
        let line = regex::Regex::new(&format!(
            r"open {}/\?token=([0-9a-f]+) ",
            regex::escape(&self.url(""))
        ))
        .expect("regex");
        let log = self.log();
        let tokens: Vec<String> = line
            .captures_iter(&log)
            .map(|found| found[1].to_owned())
            .collect();
        assert_eq!(tokens.len(), 1, "one token line: {log}");
        tokens[0].clone()
    }

    /// `GET /?token=…` and its "Register GitHub App" form (the one posting the manifest).
    async fn register_form(&self, query: &str) -> HtmlForm {
        let url = self.url(&format!("/?token={}{query}", self.token()));
        let (status, page) = self.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        forms(&page)
            .into_iter()
            .find(|form| form.field("manifest").is_some())
            .unwrap_or_else(|| panic!("the setup page has a manifest form: {page}"))
    }

    /// Submits `form` (relative actions resolve against the simulator) as a browser.
    async fn submit(&self, form: &HtmlForm) -> reqwest::Response {
        assert_eq!(form.method, "post");
        let action = if form.action.starts_with('/') {
            format!("{}{}", self.sim.base_url(), form.action)
        } else {
            form.action.clone()
        };
        self.browser
            .post(action)
            .form(&form.fields)
            .send()
            .await
            .expect("the form posts")
    }

    /// Registers the App on the simulator's new-App page for `org` (empty: personal)
    /// and returns where GitHub sends the browser back to.
    async fn create_app_on_github(&self, org: &str) -> String {
        let query = if org.is_empty() {
            String::new()
        } else {
            format!("&org={org}")
        };
        let register = self.register_form(&query).await;
        let page = self.submit(&register).await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.expect("the new-App page");
        let confirm = forms(&page)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("GitHub's new-App page has a form: {page}"));
        let created = self.submit(&confirm).await;
        assert_eq!(created.status(), StatusCode::FOUND);
        created
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("a redirect")
            .to_owned()
    }

    async fn webhook(&self, signature: Option<String>) -> StatusCode {
        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let mut request = self
            .browser
            .post(self.url("/webhook"))
            .header("x-github-event", "ping")
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("the webhook answers").status()
    }

    async fn signed_webhook(&self, secret: &str) -> StatusCode {
        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        self.webhook(Some(sign(secret, body))).await
    }

    async fn restart(&mut self) {
        self.flotilla.kill().await.expect("flotilla stops");
        self.port = free_port();
        self.flotilla = serve_unregistered(self.dir.path(), &self.sim.api_url(), self.port, &[]);
        healthy(self.port).await;
    }
}

/// The port of a `http://127.0.0.1:{port}/…` URL.
fn back_port(url: &str) -> &str {
    url.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn registering_the_app_from_the_setup_page_switches_the_running_server_to_it() {
    let mut flotilla = Unregistered::start().await;
    let (status, reason) = flotilla.get(&flotilla.url("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reason.contains("not registered"), "{reason}");
    assert_eq!(
        flotilla.signed_webhook(SECRET).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let token_file = SetupToken::path(&flotilla.data_dir());
    assert_eq!(mode(&token_file), 0o600);
    let written = std::fs::read_to_string(&token_file).expect("the token file");
    assert_eq!(
        written.trim(),
        flotilla.token(),
        "the file and the log agree"
    );

    let register = flotilla.register_form("").await;
    assert!(
        register.action.starts_with(&format!(
            "{}/settings/apps/new?state=",
            flotilla.sim.base_url()
        )),
        "{}",
        register.action
    );
    let manifest: serde_json::Value =
        serde_json::from_str(register.field("manifest").expect("manifest")).expect("JSON");
    assert_eq!(manifest["hook_attributes"]["url"], flotilla.url("/webhook"));
    assert_eq!(manifest["redirect_url"], flotilla.url("/setup"));
    assert_eq!(
        manifest["callback_urls"],
        serde_json::json!([flotilla.url("/oauth/callback")])
    );
    assert_eq!(manifest["request_oauth_on_install"], false);

    let back = flotilla.create_app_on_github("").await;
    assert!(back.starts_with(&flotilla.url("/setup?code=")), "{back}");
    let (status, page) = flotilla.get(&back).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    let stored = StoredApp::load(&flotilla.data_dir())
        .expect("readable")
        .expect("the App's credentials are stored");
    assert_eq!(stored.slug, "flotilla");
    let file = StoredApp::path(&flotilla.data_dir());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().expect("a directory")), 0o700);
    assert!(!token_file.exists(), "the used setup token is deleted");
    let install = format!(
        "{}/apps/flotilla/installations/new",
        flotilla.sim.base_url()
    );
    assert!(links(&page).contains(&install), "{page}");
    let key_body = stored.pem.lines().nth(1).expect("a PEM body line");
    for secret in [key_body, &stored.webhook_secret, &stored.client_secret] {
        assert!(!page.contains(secret), "the page shows a secret");
        assert!(!flotilla.log().contains(secret), "the log holds a secret");
    }

    wait_for("Flotilla to be ready with the new App", || async {
        let (status, _) = flotilla.get(&flotilla.url("/readyz")).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(
        flotilla.signed_webhook(&stored.webhook_secret).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        flotilla.signed_webhook(SECRET).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(flotilla.webhook(None).await, StatusCode::UNAUTHORIZED);
    let credentials = AppCredentials::from_pem(AppId(stored.id), &stored.pem).expect("a key");
    let github = GithubApp::new(
        credentials,
        GithubSettings {
            base_url: flotilla.sim.api_url(),
            ..GithubSettings::default()
        },
    )
    .expect("a client");
    assert_eq!(github.app_info().await.expect("GET /app").slug, "flotilla");
    assert_eq!(
        flotilla.sim.app_callback_urls(AppId(stored.id)),
        Some(vec![flotilla.url("/oauth/callback")]),
        "GitHub keeps the manifest's callback URLs"
    );

    let installation = flotilla
        .sim
        .install(AppId(stored.id), &flotilla.seed.owner)
        .expect("the App is installed");
    let (repo, writer) = (flotilla.seed.repo_name(), flotilla.seed.writer.clone());
    let issue = flotilla
        .sim
        .open_issue(&repo, "Try the new App", "", &writer)
        .await
        .expect("an issue");
    flotilla
        .sim
        .label_issue(&repo, issue.0, "flotilla", &writer)
        .await
        .expect("labelled");
    wait_for("the label to reach the new App's Flotilla", || async {
        flotilla.sim.deliveries().into_iter().find(|d| {
            d.event == "issues"
                && d.action.as_deref() == Some("labeled")
                && d.payload["installation"]["id"] == installation.0
                && d.status_code == StatusCode::ACCEPTED.as_u16()
        })
    })
    .await;
    let (status, _) = flotilla.get(&back).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a second registration is refused"
    );

    flotilla.restart().await;
    assert!(
        flotilla
            .log()
            .contains("App credentials loaded from the data dir")
    );
    wait_for("the restarted Flotilla to be ready", || async {
        let (status, _) = flotilla.get(&flotilla.url("/readyz")).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(
        flotilla.signed_webhook(&stored.webhook_secret).await,
        StatusCode::ACCEPTED
    );
    let again = back.replacen(
        &format!(":{}/", back_port(&back)),
        &format!(":{}/", flotilla.port),
        1,
    );
    let (status, _) = flotilla.get(&again).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a Flotilla with an App serves no registration"
    );
}

#[tokio::test]
async fn an_organizations_app_is_registered_on_its_new_app_page() {
    let flotilla = Unregistered::start().await;
    let register = flotilla.register_form("&org=acme").await;
    assert!(
        register.action.starts_with(&format!(
            "{}/organizations/acme/settings/apps/new?state=",
            flotilla.sim.base_url()
        )),
        "{}",
        register.action
    );
    let back = flotilla.create_app_on_github("acme").await;
    let (status, page) = flotilla.get(&back).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, page) = flotilla.get(&flotilla.url("/?org=-not--a-login")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "registered: the front page is the dashboard, behind its login: {page}"
    );
}

#[tokio::test]
async fn a_return_whose_state_this_server_never_issued_stores_nothing() {
    let flotilla = Unregistered::start().await;
    let back = flotilla.create_app_on_github("").await;
    let forged = regex::Regex::new(r"state=[0-9a-f]+")
        .expect("regex")
        .replace(&back, "state=forged")
        .into_owned();
    let (status, page) = flotilla.get(&forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("state does not match"), "{page}");
    let (status, _) = flotilla.get(&flotilla.url("/setup?code=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!StoredApp::path(&flotilla.data_dir()).exists());
    assert_eq!(
        flotilla.signed_webhook(SECRET).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn an_expired_code_shows_githubs_refusal_and_stores_nothing() {
    let flotilla = Unregistered::start().await;
    let back = flotilla.create_app_on_github("").await;
    flotilla
        .sim
        .advance_clock(std::time::Duration::from_secs(61 * 60));
    let (status, page) = flotilla.get(&back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("GitHub refused the code (404)"), "{page}");
    assert!(!StoredApp::path(&flotilla.data_dir()).exists());
    let (status, _) = flotilla.get(&flotilla.url("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn without_the_setup_token_the_page_only_asks_for_it_and_issues_no_state() {
    let flotilla = Unregistered::start().await;
    let token = flotilla.token();
    let wrong = match token.strip_prefix('0') {
        Some(rest) => format!("1{rest}"),
        None => format!("0{}", &token[1..]),
    };
    for (query, status) in [
        ("/".to_owned(), StatusCode::OK),
        ("/?org=acme".to_owned(), StatusCode::OK),
        (format!("/?token={wrong}"), StatusCode::UNAUTHORIZED),
        (format!("/?token={}", &token[1..]), StatusCode::UNAUTHORIZED),
    ] {
        let (answered, page) = flotilla.get(&flotilla.url(&query)).await;
        assert_eq!(answered, status, "{query}: {page}");
        let forms = forms(&page);
        assert_eq!(forms.len(), 1, "{query}: only the token form: {page}");
        assert_eq!(
            (forms[0].method.as_str(), forms[0].action.as_str()),
            ("get", "/")
        );
        assert!(forms[0].field("token").is_some(), "{page}");
        assert!(forms[0].field("manifest").is_none(), "{page}");
        assert!(!page.contains("state="), "{query}: no state issued: {page}");
        assert!(!page.contains(&token), "{query}: the page shows no token");
    }
    let (status, _) = flotilla
        .get(&flotilla.url("/setup?code=abc&state=abc"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!StoredApp::path(&flotilla.data_dir()).exists());
    assert!(SetupToken::path(&flotilla.data_dir()).exists());
}

#[tokio::test]
async fn after_registration_the_front_page_is_the_dashboard_behind_the_apps_own_login() {
    let mut flotilla = Unregistered::start().await;
    let back = flotilla.create_app_on_github("").await;
    let (status, page) = flotilla.get(&back).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let stored = StoredApp::load(&flotilla.data_dir())
        .expect("readable")
        .expect("the App's credentials are stored");

    for round in ["the server that registered the App", "after a restart"] {
        let front = flotilla
            .browser
            .get(flotilla.url("/"))
            .send()
            .await
            .expect("/ answers");
        assert_eq!(front.status(), StatusCode::SEE_OTHER, "{round}");
        assert_eq!(
            front
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok()),
            Some("/login?next=%2F"),
            "{round}"
        );
        let (status, login) = flotilla.get(&flotilla.url("/login")).await;
        assert_eq!(status, StatusCode::OK, "{round}: {login}");
        assert!(
            login.contains(&format!("client_id={}", stored.client_id)),
            "{round}: the login uses the registered App's OAuth client: {login}"
        );
        let mut alice = Browser::new();
        let landed = alice.log_in_as(&flotilla.url(""), "alice").await;
        let home = alice.get(&landed).await;
        assert_eq!(home.status, 200, "{round}: {home:?}");
        assert!(
            home.body.contains("<span id=\"viewer\">alice</span>"),
            "{round}: {}",
            home.body
        );
        flotilla.restart().await;
    }
}
