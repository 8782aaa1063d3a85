//! A real browser for the dashboard's page tests: headless Chromium driven through
//! `chromedriver` (WebDriver) by `fantoccini`.
//!
//! [`Chrome::start`] starts `chromedriver` on a free port in its own process group
//! (killed, with every Chromium it started, when the [`Chrome`] is dropped) and opens a
//! headless 1280×900 window with its own profile. Without `chromedriver` on `PATH` it
//! returns `None` after a loud message, and the test skips; CI installs it
//! (`.ci/run`), so there every browser test runs. [`login_as`] signs in through the
//! simulator's GitHub authorize page as a person would; [`screenshot`] keeps PNGs
//! under `$CARGO_TARGET_DIR/screenshots/` (or `target/screenshots/`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

use super::wait_for;

/// The window every test sees, so screenshots compare across runs.
const WINDOW: (u32, u32) = (1280, 900);

/// `chromedriver` on a port, and its process group.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: signals the process group this struct started and owns.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// Where `chromedriver` is, when it is on `PATH`.
fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// A headless Chromium window, and the driver and profile behind it.
pub struct Chrome {
    /// The WebDriver session.
    pub client: Client,
    _driver: Chromedriver,
    _profile: TempDir,
}

impl Chrome {
    /// Starts `chromedriver` and a headless Chromium; `None`, after saying so loudly,
    /// when `chromedriver` is not installed.
    pub async fn start() -> Option<Self> {
        let Some(binary) = chromedriver_path() else {
            eprintln!(
                "\n=== SKIPPED: chromedriver is not installed (Debian: apt-get install chromium \
                 chromium-driver); this browser test did not run ===\n"
            );
            return None;
        };
        let port = super::serve::free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver { child, port };
        let status = format!("http://127.0.0.1:{}/status", driver.port);
        wait_for("chromedriver to answer", || async {
            reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        let profile = TempDir::new().expect("a browser profile directory");
        let mut options = serde_json::json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| std::path::Path::new(path).is_file())
        {
            options["binary"] = chromium.into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a Chromium session");
        client
            .set_window_size(WINDOW.0, WINDOW.1)
            .await
            .expect("the window is sized");
        Some(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Ends the WebDriver session (closing Chromium); the driver stops when dropped.
    pub async fn close(self) {
        let Self {
            client,
            _driver,
            _profile,
        } = self;
        client.close().await.expect("the session closes");
    }
}

/// Finds the element `locator` names (`what` says which, for the failure message) and
/// clicks it.
pub async fn click(client: &Client, locator: Locator<'_>, what: &str) {
    client
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {what}: {e}"));
}

/// Logs in at the dashboard served at `base` as `login`: opens the login page, follows
/// "Log in with GitHub" to the simulator's authorize page, signs in there, and waits
/// until GitHub has sent the browser back to Flotilla.
pub async fn login_as(client: &Client, base: &str, login: &str) {
    client
        .goto(&format!("{base}/login"))
        .await
        .expect("the login page opens");
    click(
        client,
        Locator::Id("login"),
        "a \"Log in with GitHub\" link",
    )
    .await;
    let field = client
        .find(Locator::Id("login_field"))
        .await
        .expect("GitHub's sign-in field");
    field.clear().await.expect("the field clears");
    field.send_keys(login).await.expect("the login is typed");
    click(
        client,
        Locator::Css("input[type=submit]"),
        "GitHub's sign-in button",
    )
    .await;
    wait_for("GitHub to send the browser back to Flotilla", || async {
        client
            .current_url()
            .await
            .ok()
            .filter(|url| url.as_str().starts_with(base) && url.path() != "/login")
    })
    .await;
}

/// Where screenshots are kept: `$CARGO_TARGET_DIR/screenshots`, else
/// `target/screenshots` in the crate.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots")
}

/// Saves what the browser shows now as `<screenshot_dir>/<name>.png`; returns its path.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG"),
        "the screenshot is a PNG ({} bytes)",
        png.len()
    );
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("the screenshot is written");
    path
}
