//! A minimal HTTP "browser" for the dashboard's login: it follows redirects by hand
//! (so tests see each hop), keeps Flotilla's cookies (the session and the login
//! attempt), and signs in on the simulator's GitHub sign-in page as a person the
//! simulator knows.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla::server::{self, RunningServer, ServerConfig};
use flotilla::sim::{SeedConfig, SimHandle};
use flotilla::store::Store;
use flotilla::web::auth::{AuthConfig, SESSION_COOKIE};
use tempfile::TempDir;

use super::serve::free_port;
use super::server_config;
use super::world::seeded_sim;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

/// Login settings for a Flotilla served at `public_url` against `sim`'s seeded App.
pub fn auth_config(sim: &SimHandle, seed: &SeedConfig, public_url: &str) -> AuthConfig {
    AuthConfig {
        client_id: seed.oauth_client_id.clone(),
        client_secret: seed.oauth_client_secret.clone().into(),
        web_base: sim.base_url(),
        api_base: sim.api_url(),
        public_url: public_url.to_owned(),
        session_ttl: Duration::from_secs(3600),
        access_ttl: Duration::from_secs(60),
    }
}

/// One answer: status, `Location` and body.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Where a redirect points.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

/// A browser with Flotilla's cookies (one host: Flotilla's).
pub struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// A browser that is not logged in.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("an HTTP client"),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder, to_flotilla: bool) -> Page {
        let request = match self.cookie_header().filter(|_| to_flotilla) {
            Some(cookies) => request.header(COOKIE, cookies),
            None => request,
        };
        let response = request.send().await.expect("the request is answered");
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().expect("an ASCII cookie");
            let pair = value.split(';').next().unwrap_or_default();
            let cleared = value.to_ascii_lowercase().contains("max-age=0");
            if let Some((name, value)) = pair.split_once('=') {
                if cleared || value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().expect("an ASCII location").to_owned()),
            body: response.text().await.expect("a text body"),
        }
    }

    /// The `Cookie` header with every cookie Flotilla set; `None` when it set none.
    fn cookie_header(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// `GET url` of Flotilla.
    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(request, true).await
    }

    /// `POST url` of Flotilla with a form body.
    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(url).form(form);
        self.send(request, true).await
    }

    /// `GET url` of (simulated) GitHub, which gets none of Flotilla's cookies.
    async fn get_github(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(request, false).await
    }

    /// `POST url` of (simulated) GitHub with a form body.
    async fn post_github(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(url).form(form);
        self.send(request, false).await
    }

    /// Logs in at `base` as `login` through the simulator's sign-in page; returns the
    /// page Flotilla sends the browser to afterwards.
    pub async fn log_in_as(&mut self, base: &str, login: &str) -> String {
        let (_, landed) = self.log_in_returning_callback(base, login).await;
        let next = landed.location.expect("the callback redirects");
        format!("{base}{next}")
    }

    /// Logs in at `base` as `login`; returns the callback URL GitHub sent the browser
    /// to, and Flotilla's answer to it.
    pub async fn log_in_returning_callback(&mut self, base: &str, login: &str) -> (String, Page) {
        let page = self.get(&format!("{base}/login")).await;
        assert_eq!(page.status, 200, "the login page: {}", page.body);
        let authorize = attribute(&page.body, "href").replace("&amp;", "&");
        let sign_in = self.get_github(&authorize).await;
        assert_eq!(
            sign_in.status, 200,
            "GitHub's sign-in page: {}",
            sign_in.body
        );
        let (action_base, query) = authorize.split_once('?').expect("authorize has a query");
        let mut form: Vec<(String, String)> = url_pairs(query)
            .into_iter()
            .filter(|(k, _)| k != "login")
            .collect();
        form.push(("login".to_owned(), login.to_owned()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let back = self.post_github(action_base, &pairs).await;
        let callback = back.location.expect("GitHub redirects back with a code");
        let landed = self.get(&callback).await;
        assert!(
            self.session().is_some(),
            "a session cookie after the callback: {landed:?}"
        );
        (callback, landed)
    }

    /// `GET url` as a stream (Server-Sent Events): the response, its body unread.
    pub async fn open_stream(&self, url: &str) -> reqwest::Response {
        let request = self.http.get(url).header("accept", "text/event-stream");
        let request = match self.cookie_header() {
            Some(cookies) => request.header(COOKIE, cookies),
            None => request,
        };
        request.send().await.expect("the stream is answered")
    }

    /// Forgets every cookie (another browser, or a forged request).
    pub fn clear_cookie(&mut self) {
        self.cookies.clear();
    }

    /// The session cookie's value, as the browser holds it.
    pub fn session(&self) -> Option<&str> {
        self.cookies.get(SESSION_COOKIE).map(String::as_str)
    }

    /// Replaces the session cookie's value (a copied or altered cookie).
    pub fn set_session(&mut self, value: &str) {
        self.cookies
            .insert(SESSION_COOKIE.to_owned(), value.to_owned());
    }
}

/// The value of the first `name="…"` attribute of `id="login"`'s element.
fn attribute(html: &str, name: &str) -> String {
    let element = html
        .split("id=\"login\"")
        .nth(1)
        .expect("an element with id=login");
    let start = element.find(&format!("{name}=\"")).expect("the attribute") + name.len() + 2;
    element[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_owned()
}

/// Decodes a query string's pairs.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .expect("a query")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The value of the hidden `csrf` input in `html`.
pub fn csrf_field(html: &str) -> String {
    let after = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("a csrf field");
    after.split('"').next().expect("a closing quote").to_owned()
}

/// The simulator and a Flotilla serving only the dashboard (no fleet) against it, at
/// an address chosen before it starts (GitHub's OAuth sends people back to it).
pub struct DashboardServer {
    _dir: TempDir,
    /// The simulator.
    pub sim: SimHandle,
    /// Flotilla.
    pub flotilla: RunningServer,
    /// Where Flotilla answers (`http://127.0.0.1:<port>`).
    pub base: String,
}

impl DashboardServer {
    /// Starts both; nothing is installed but the seeded App, and no fleet runs.
    pub async fn start() -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let (sim, seed) = seeded_sim(dir.path(), None).await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let store = Store::connect(&Store::default_url(dir.path()))
            .await
            .expect("store migrates");
        let flotilla = server::start(ServerConfig {
            auth: Some(auth_config(&sim, &seed, &base)),
            listen: format!("127.0.0.1:{port}").parse().expect("an address"),
            ..server_config(store)
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

    /// Stops both.
    pub async fn stop(self) {
        self.flotilla.shutdown().await.expect("flotilla stops");
        self.sim.shutdown().await;
    }
}
