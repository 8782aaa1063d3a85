//! The GitHub simulator's own rules, over real HTTP and real git: App JWTs and
//! installation tokens, smart-HTTP auth, pull request and review rules, merges under
//! branch protection, auto-merge, check-run limits, fault injection and webhooks.

mod admin;
mod auth;
mod checks;
mod pulls;
mod webhooks;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use flotilla::sim::{
    self, Access, CI_APP_ID, Fault, FaultKind, Protection, PushFault, RequiredCheck, Ruleset,
    SeedConfig, SimConfig, SimHandle,
};
use flotilla::types::{AppId, CommitSha, Login, PrNumber, RepoName};
use flotilla::webhook::signature::sign;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::fixture_path;

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// A fixture's text, by its path under `fixtures/`.
pub(super) fn read(path: &str) -> String {
    std::fs::read_to_string(fixture_path(path)).expect("fixture exists")
}

/// A running simulator with a seeded App, a token and an HTTP client.
pub(super) struct World {
    sim: SimHandle,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    repo: RepoName,
    token: String,
    seed: SeedConfig,
}

pub(super) async fn world() -> World {
    world_with(|_| {}).await
}

pub(super) async fn world_with(configure: impl FnOnce(&mut SimConfig)) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = SeedConfig::new(read("keys/test-app.pub.pem"));
    let mut config = SimConfig::new(dir.path().join("sim"));
    config.seed = Some(seed.clone());
    configure(&mut config);
    let seed = config.seed.clone().expect("seeded");
    let sim = sim::start(config).await.expect("simulator starts");
    // These scenarios set branch protection through the API, as an App granted
    // `administration: write` may; Flotilla's own manifest does not ask for it.
    sim.set_app_permission(seed.app_id, "administration", Some(Access::Write))
        .expect("administration granted");
    let token = sim.installation_token(seed.installation_id);
    World {
        repo: seed.repo_name(),
        sim,
        dir,
        http: reqwest::Client::new(),
        token,
        seed,
    }
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.api_url())
    }

    fn repo_url(&self, rest: &str) -> String {
        self.url(&format!("/repos/{}{rest}", self.repo))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("user-agent", "sim-test");
        send_json(request, body).await
    }

    /// A bare request with `token` as the bearer, for scenarios that read a response's
    /// status and headers themselves, or authenticate as someone other than the App.
    async fn send_as(
        &self,
        method: reqwest::Method,
        url: String,
        token: &str,
    ) -> reqwest::Response {
        self.http
            .request(method, url)
            .bearer_auth(token)
            .send()
            .await
            .expect("sent")
    }

    async fn get(&self, rest: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, self.repo_url(rest), None)
            .await
    }

    async fn post(&self, rest: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, self.repo_url(rest), Some(body))
            .await
    }

    async fn put(&self, rest: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, self.repo_url(rest), Some(body))
            .await
    }

    /// Asks to merge pull request `number` with `body` (the expected head `sha`, the
    /// method): where the simulator enforces drafts, checks and reviews.
    async fn merge(&self, number: u64, body: Value) -> (StatusCode, Value) {
        self.put(&format!("/pulls/{number}/merge"), body).await
    }

    fn writer(&self) -> Login {
        self.seed.writer.clone()
    }

    fn bot(&self) -> Login {
        Login(format!("{}[bot]", self.seed.app_slug))
    }

    /// A fresh clone of the seeded repository at `dir/clone-{name}`, fetched as the App
    /// over smart HTTP: where a scenario makes the commits it pushes.
    fn clone_as_app(&self, name: &str) -> PathBuf {
        let work = self.dir.path().join(format!("clone-{name}"));
        git_ok(
            self.dir.path(),
            &self.git_auth(),
            &[
                "clone",
                "--quiet",
                &self.sim.git_url(&self.repo),
                work.to_str().expect("utf-8"),
            ],
        );
        work
    }

    /// Pushes a branch with one file change as the App, over smart HTTP.
    fn push_branch(&self, branch: &str, file: &str, content: &str) -> CommitSha {
        let work = self.dir.path().join(format!("clone-{branch}"));
        if !work.exists() {
            self.clone_as_app(branch);
            git_ok(&work, &[], &["checkout", "--quiet", "-b", branch]);
        }
        std::fs::write(work.join(file), content).expect("write file");
        git_ok(&work, &[], &["add", "-A"]);
        git_ok(
            &work,
            &[],
            &[
                "-c",
                "user.name=Flotilla",
                "-c",
                "user.email=bot@example.com",
                "commit",
                "--quiet",
                "-m",
                &format!("change {file}"),
            ],
        );
        git_ok(
            &work,
            &self.git_auth(),
            &["push", "--quiet", "origin", branch],
        );
        CommitSha(git_ok(&work, &[], &["rev-parse", "HEAD"]).trim().to_owned())
    }

    /// Pushes `refspec` from the work tree `work` as the App and returns git's output,
    /// for scenarios in which the simulator may refuse the push.
    fn push_as_app(&self, work: &Path, refspec: &str) -> std::process::Output {
        git(work, &self.git_auth(), &["push", "origin", refspec])
    }

    fn git_auth(&self) -> Vec<String> {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("x-access-token:{}", self.token));
        vec![
            "-c".into(),
            format!("http.extraHeader=Authorization: Basic {basic}"),
        ]
    }

    /// Pushes `branch` and opens a pull request from it as the App.
    async fn open_pr(&self, branch: &str, draft: bool) -> (u64, String) {
        let sha = self.push_branch(branch, &format!("{branch}.txt"), "one\ntwo\nthree\n");
        let (status, pr) = self.post("/pulls", json!({"title": format!("Add {branch}"), "head": branch, "base": "main", "body": "b", "draft": draft})).await;
        assert_eq!(status, StatusCode::CREATED, "{pr}");
        (pr["number"].as_u64().expect("number"), sha.0)
    }

    async fn check_run(&self, name: &str, sha: &str, conclusion: &str) {
        let (status, body) = self.post("/check-runs", json!({"name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn protect(&self, checks: Value) {
        let (status, body) = self
            .put(
                "/branches/main/protection",
                json!({"required_status_checks": {"strict": false, "checks": checks}, "enforce_admins": null, "required_pull_request_reviews": null, "restrictions": null}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Stages everything in the work tree `dir` and commits it as a throwaway author: the
/// commit a scenario then tries to push.
pub(super) fn commit_all(dir: &Path, message: &str) {
    git_ok(dir, &[], &["add", "-A"]);
    git_ok(
        dir,
        &[],
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    );
}

/// Runs git with an isolated configuration; panics with stderr on failure.
pub(super) fn git_ok(dir: &Path, pre: &[String], args: &[&str]) -> String {
    let output = git(dir, pre, args);
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(super) fn git(dir: &Path, pre: &[String], args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(pre)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs")
}

pub(super) fn jwt(key_path: &str, iss: u64, iat_offset: i64, exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(read(key_path).as_bytes()).expect("private key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iat": now + iat_offset, "exp": now + exp_offset, "iss": iss}),
        &key,
    )
    .expect("signed JWT")
}

pub(super) async fn app_get(w: &World, path: &str, jwt: &str) -> (StatusCode, Value) {
    send_json(w.http.get(w.url(path)).bearer_auth(jwt), None).await
}

/// Sends `request` with `body` as JSON, if there is one, and returns the status and the
/// JSON answer (`null` when there is none).
pub(super) async fn send_json(
    mut request: reqwest::RequestBuilder,
    body: Option<Value>,
) -> (StatusCode, Value) {
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GitHub's error message in a response `body`, empty when it has none.
pub(super) fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// The header `name` of `response` as text, if it has a readable one.
pub(super) fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
