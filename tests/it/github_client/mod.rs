//! The GitHub client against a fake GitHub over real HTTP: App auth, token caching and
//! renewal, the one retry policy, error mapping and the bodies of typed calls.

mod auth;
mod calls;
mod enterprise;
mod retries;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::fake_github::{self, APP_ID, FakeGithub, key_path};
use flotilla::github::{
    AppCredentials, GithubApp, GithubSettings, InstallationClient, RetryPolicy,
};
use flotilla::types::{AppId, InstallationId, RepoName};
use serde_json::{Value, json};

pub const INSTALLATION: InstallationId = InstallationId(7);
pub const ISSUE_PATH: &str = "/repos/octo/widgets/issues/3";
pub const COMMENTS_PATH: &str = "/repos/octo/widgets/issues/3/comments";
pub const MERGE_PATH: &str = "/repos/octo/widgets/pulls/5/merge";

pub fn repo() -> RepoName {
    RepoName::from("octo/widgets")
}

pub fn credentials() -> AppCredentials {
    AppCredentials::from_pem_file(AppId(APP_ID), &key_path("test-app.pem")).expect("test key")
}

pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_total_wait: Duration::from_secs(3),
        secondary_rate_limit_wait: Duration::from_millis(50),
        rate_limit_leeway: Duration::ZERO,
        jitter: false,
    }
}

pub fn app_for(base_url: &str) -> GithubApp {
    let settings = GithubSettings {
        base_url: base_url.to_owned(),
        retry: fast_policy(),
        ..GithubSettings::default()
    };
    GithubApp::new(credentials(), settings).expect("app client")
}

pub async fn setup() -> (FakeGithub, GithubApp, InstallationClient) {
    let fake = FakeGithub::start().await;
    let app = app_for(&fake.base_url);
    let client = app.installation(INSTALLATION).await.expect("installation");
    (fake, app, client)
}

pub fn issue_json() -> Value {
    json!({
        "number": 3, "title": "Add widgets", "body": null, "state": "open",
        "labels": [{ "name": "flotilla" }], "user": { "login": "alice" }
    })
}

pub fn comment_json(id: u64) -> Value {
    json!({ "id": id, "body": "hello", "user": { "login": "flotilla[bot]" } })
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
