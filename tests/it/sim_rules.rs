//! The GitHub simulator's own rules, over real HTTP and real git: App JWTs and
//! installation tokens, smart-HTTP auth, pull request and review rules, merges under
//! branch protection, auto-merge, check-run limits, fault injection and webhooks.

use std::path::Path;
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

const WAIT: Duration = Duration::from_secs(20);

/// A fixture's text, by its path under `fixtures/`.
fn read(path: &str) -> String {
    std::fs::read_to_string(fixture_path(path)).expect("fixture exists")
}

/// A running simulator with a seeded App, a token and an HTTP client.
struct World {
    sim: SimHandle,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    repo: RepoName,
    token: String,
    seed: SeedConfig,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(configure: impl FnOnce(&mut SimConfig)) -> World {
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
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("user-agent", "sim-test");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, value)
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

    fn writer(&self) -> Login {
        self.seed.writer.clone()
    }

    fn bot(&self) -> Login {
        Login(format!("{}[bot]", self.seed.app_slug))
    }

    /// Pushes a branch with one file change as the App, over smart HTTP.
    fn push_branch(&self, branch: &str, file: &str, content: &str) -> CommitSha {
        let work = self.dir.path().join(format!("clone-{branch}"));
        if !work.exists() {
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

/// Runs git with an isolated configuration; panics with stderr on failure.
fn git_ok(dir: &Path, pre: &[String], args: &[&str]) -> String {
    let output = git(dir, pre, args);
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn git(dir: &Path, pre: &[String], args: &[&str]) -> std::process::Output {
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

fn jwt(key_path: &str, iss: u64, iat_offset: i64, exp_offset: i64) -> String {
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

async fn app_get(w: &World, path: &str, jwt: &str) -> (StatusCode, Value) {
    let response = w
        .http
        .get(w.url(path))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_jwt_is_verified_with_the_apps_key_issuer_and_lifetime() {
    let w = world().await;
    let app = w.seed.app_id.0;
    let good = jwt("keys/test-app.pem", app, -60, 540);
    let (status, body) = app_get(&w, "/app", &good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["slug"], "flotilla");

    let derived = SeedConfig::from_private_key_pem(&read("keys/test-app.pem")).expect("derive");
    let from_private = world_with(move |c| c.seed = Some(derived)).await;
    assert_eq!(
        app_get(&from_private, "/app", &good).await.0,
        StatusCode::OK
    );
    let wrong_key = jwt("sim/other-app.pem", app, -60, 540);
    assert_eq!(
        app_get(&w, "/app", &wrong_key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong_iss = jwt("keys/test-app.pem", app + 1, -60, 540);
    assert_eq!(
        app_get(&w, "/app", &wrong_iss).await.0,
        StatusCode::UNAUTHORIZED
    );
    let too_long = jwt("keys/test-app.pem", app, -60, 20 * 60);
    let (status, body) = app_get(&w, "/app", &too_long).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too far in the future"),
        "{body}"
    );
    let expired = jwt("keys/test-app.pem", app, -700, -60);
    assert_eq!(
        app_get(&w, "/app", &expired).await.0,
        StatusCode::UNAUTHORIZED
    );
    // An installation token is not an App JWT.
    assert_eq!(
        app_get(&w, "/app", &w.token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn installation_tokens_are_minted_with_a_jwt_and_expire() {
    let w = world().await;
    let good = jwt("keys/test-app.pem", w.seed.app_id.0, -60, 540);
    let path = format!(
        "/app/installations/{}/access_tokens",
        w.seed.installation_id
    );
    let response = w
        .http
        .post(w.url(&path))
        .bearer_auth(&good)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("ghs_"));
    assert!(body["expires_at"].is_string());

    let response = w
        .http
        .get(w.repo_url(""))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
    ] {
        assert!(response.headers().contains_key(header), "missing {header}");
    }
    let anonymous = w.http.get(w.repo_url("")).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    w.sim.advance_clock(Duration::from_secs(61 * 60));
    let response = w
        .http
        .get(w.repo_url(""))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_smart_http_needs_a_live_installation_token() {
    let w = world().await;
    let url = w.sim.git_url(&w.repo);
    let refused = git(w.dir.path(), &[], &["clone", "--quiet", &url, "anonymous"]);
    assert!(!refused.status.success());
    let bad = vec![
        "-c".to_owned(),
        format!(
            "http.extraHeader=Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode("x-access-token:ghs_wrong")
        ),
    ];
    assert!(
        !git(w.dir.path(), &bad, &["clone", "--quiet", &url, "wrong"])
            .status
            .success()
    );

    let sha = w.push_branch("feature", "new.txt", "hello\n");
    assert_eq!(
        w.sim.branch_sha(&w.repo, "feature").await,
        Some(sha.clone())
    );
    let (status, branch) = w.get("/branches/feature").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(branch["commit"]["sha"], sha.0.as_str());
    let (status, file) = w.get("/contents/new.txt?ref=feature").await;
    assert_eq!(status, StatusCode::OK);
    let content = file["content"]
        .as_str()
        .unwrap_or_default()
        .replace('\n', "");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(content)
            .expect("base64"),
        b"hello\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_request_needs_a_pushed_head() {
    let w = world().await;
    let (status, _) = w
        .post(
            "/pulls",
            json!({"title": "t", "head": "nowhere", "base": "main"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (number, sha) = w.open_pr("work", true).await;
    let (status, pr) = w.get(&format!("/pulls/{number}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pr["draft"], true);
    assert_eq!(pr["head"]["sha"], sha.as_str());
    assert_eq!(pr["head"]["ref"], "work");
    assert_eq!(pr["user"]["login"], w.bot().0.as_str());
    assert!(pr["node_id"].is_string());
    let (_, list) = w.get("/pulls?head=acme:work&state=open").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_author_cannot_approve_and_comments_must_be_in_the_diff() {
    let w = world().await;
    let (number, sha) = w.open_pr("review-me", false).await;
    let reviews = format!("/pulls/{number}/reviews");
    let (status, _) = w
        .post(
            &reviews,
            json!({"commit_id": sha, "event": "APPROVE", "body": "lgtm"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w
        .post(&reviews, json!({"event": "REQUEST_CHANGES", "body": "no"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let outside = json!({"event": "COMMENT", "body": "see", "comments": [{"path": "review-me.txt", "line": 40, "side": "RIGHT", "body": "x"}]});
    assert_eq!(
        w.post(&reviews, outside).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let inside = json!({"event": "COMMENT", "body": "see", "comments": [{"path": "review-me.txt", "line": 2, "side": "RIGHT", "body": "x"}]});
    let (status, review) = w.post(&reviews, inside).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["state"], "COMMENTED");
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &w.writer())
        .await
        .expect("a person may approve");
    let states: Vec<String> = w
        .sim
        .reviews(&w.repo, PrNumber(number))
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, ["COMMENTED", "APPROVED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merge_is_guarded_by_sha_draft_and_required_checks_then_really_merges() {
    let w = world().await;
    let (number, sha) = w.open_pr("guarded", true).await;
    let merge = format!("/pulls/{number}/merge");
    let (status, _) = w
        .put(
            &merge,
            json!({"sha": "0000000000000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = w.put(&merge, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("draft")
    );

    w.call(
        reqwest::Method::PATCH,
        w.repo_url(&format!("/pulls/{number}")),
        Some(json!({"title": "Guarded"})),
    )
    .await;
    let pr = w.sim.pull(&w.repo, PrNumber(number)).expect("pr");
    assert!(pr.draft);
    // Ready for review through GraphQL, as GitHub requires.
    let (_, pr_json) = w.get(&format!("/pulls/{number}")).await;
    let query = json!({"query": "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }", "variables": {"id": pr_json["node_id"]}});
    let (status, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(query))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["markPullRequestReadyForReview"]["pullRequest"]["isDraft"], false,
        "{body}"
    );

    w.protect(json!([{"context": "ci"}])).await;
    let (status, body) = w.put(&merge, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expected"),
        "{body}"
    );
    w.check_run("ci", &sha, "failure").await;
    let (status, body) = w.put(&merge, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("failing"),
        "{body}"
    );
    w.check_run("ci", &sha, "success").await;
    let (status, body) = w
        .put(&merge, json!({"sha": sha, "merge_method": "merge"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["merged"], true);
    let tip = w.sim.branch_sha(&w.repo, "main").await.expect("main");
    assert_eq!(body["sha"], tip.0.as_str());
    let parents = w.sim.commit_parents(&w.repo, &tip.0).await;
    assert_eq!(parents.len(), 2);
    assert_eq!(parents[1].0, sha);
    assert_eq!(
        w.sim
            .file_at(&w.repo, "main", "guarded.txt")
            .await
            .as_deref(),
        Some("one\ntwo\nthree\n")
    );
    let pr = w.sim.pull(&w.repo, PrNumber(number)).expect("pr");
    assert!(pr.merged);
    assert_eq!(pr.state, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_bound_required_check_ignores_another_apps_check_of_the_same_name() {
    let w = world_with(|c| {
        c.ci_command = Some("test -f bound.txt".to_owned());
        c.ci_check_name = "verify".to_owned();
    })
    .await;
    w.protect(json!([{"context": "verify", "app_id": CI_APP_ID.0}]))
        .await;
    let (number, sha) = w.open_pr("bound", false).await;
    let head = CommitSha(sha.clone());
    w.sim
        .wait_until("CI to finish", WAIT, |s| {
            s.check_runs(&w.repo, &head)
                .iter()
                .any(|r| r.app_id == CI_APP_ID && r.status == "completed")
        })
        .await
        .expect("CI completes");
    // Flotilla's own "verify" check does not satisfy a check bound to the CI App...
    let flotilla_only = world_with(|_| {}).await;
    flotilla_only
        .protect(json!([{"context": "verify", "app_id": CI_APP_ID.0}]))
        .await;
    let (n2, sha2) = flotilla_only.open_pr("impostor", false).await;
    flotilla_only.check_run("verify", &sha2, "success").await;
    let (status, body) = flotilla_only
        .put(&format!("/pulls/{n2}/merge"), json!({"sha": sha2}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    // ...while the CI App's passing run does.
    let runs = w.sim.check_runs(&w.repo, &head);
    assert_eq!(
        runs.iter()
            .find(|r| r.app_id == CI_APP_ID)
            .and_then(|r| r.conclusion.clone())
            .as_deref(),
        Some("success")
    );
    let (status, body) = w
        .put(
            &format!("/pulls/{number}/merge"),
            json!({"sha": sha, "merge_method": "squash"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tip = w.sim.branch_sha(&w.repo, "main").await.expect("main");
    assert_eq!(
        w.sim.commit_parents(&w.repo, &tip.0).await.len(),
        1,
        "squash has one parent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classic_protection_read_without_administration_is_403_while_rulesets_are_readable() {
    let w = world().await;
    w.protect(json!([{"context": "ci", "app_id": null}])).await;
    w.sim
        .set_app_permission(w.seed.app_id, "administration", None)
        .expect("administration withdrawn");
    let (status, body) = w.get("/branches/main/protection").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["message"], "Resource not accessible by integration");
    let (status, body) = w
        .put(
            "/branches/main/protection",
            json!({"required_status_checks": null, "enforce_admins": null, "required_pull_request_reviews": null, "restrictions": null}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = w.get("/rules/branches/main").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]), "classic protection is not a ruleset rule");

    let id = w
        .sim
        .add_ruleset(
            &w.repo,
            Ruleset {
                name: "gate".to_owned(),
                branches: vec!["~DEFAULT_BRANCH".to_owned()],
                required_checks: vec![RequiredCheck {
                    context: "flotilla/verify".to_owned(),
                    app_id: Some(w.seed.app_id),
                }],
                ..Ruleset::default()
            },
        )
        .expect("ruleset added");
    let (status, body) = w.get("/rules/branches/main").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!([{
            "type": "required_status_checks",
            "parameters": {
                "strict_required_status_checks_policy": false,
                "required_status_checks": [
                    {"context": "flotilla/verify", "integration_id": w.seed.app_id.0}
                ],
            },
            "ruleset_source_type": "Repository",
            "ruleset_source": w.repo.0,
            "ruleset_id": id,
        }])
    );
    let (_, other) = w.get("/rules/branches/feature").await;
    assert_eq!(
        other,
        json!([]),
        "the ruleset targets the default branch only"
    );
    // The ruleset gates merges: CI's passing `ci` is not enough without the App's check.
    let (number, sha) = w.open_pr("ruled", false).await;
    w.check_run("ci", &sha, "success").await;
    let (status, body) = w
        .put(&format!("/pulls/{number}/merge"), json!({"sha": sha}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("flotilla/verify")),
        "{body}"
    );
    w.check_run("flotilla/verify", &sha, "success").await;
    let (status, body) = w
        .put(&format!("/pulls/{number}/merge"), json!({"sha": sha}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_merge_refuses_a_clean_pr_and_merges_once_the_required_check_passes() {
    let w = world().await;
    let (number, sha) = w.open_pr("auto", false).await;
    let (_, pr) = w.get(&format!("/pulls/{number}")).await;
    let enable = json!({
        "query": "mutation Enable($id: ID!, $sha: GitObjectID) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH, expectedHeadOid: $sha}) { pullRequest { autoMergeRequest { mergeMethod } } } }",
        "variables": {"id": pr["node_id"], "sha": sha},
    });
    let (_, body) = w
        .call(
            reqwest::Method::POST,
            w.url("/graphql"),
            Some(enable.clone()),
        )
        .await;
    // As on GitHub: the failed root field is `null` in `data`, and its error has a path.
    assert_eq!(
        body["errors"][0]["message"], "Pull request Pull request is in clean status",
        "{body}"
    );
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE", "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["enablePullRequestAutoMerge"]),
        "{body}"
    );
    assert!(body["errors"][0]["locations"][0]["line"].is_u64(), "{body}");
    assert!(body["data"].is_object(), "{body}");
    assert!(
        body["data"]["enablePullRequestAutoMerge"].is_null(),
        "{body}"
    );

    w.protect(json!([{"context": "flotilla/verify", "app_id": w.seed.app_id.0}]))
        .await;
    let state_query = json!({
        "query": "query($owner: String!, $name: String!, $number: Int!) { repository(owner: $owner, name: $name) { pullRequest(number: $number) { id isDraft mergeStateStatus headRefOid autoMergeRequest { mergeMethod } } } }",
        "variables": {"owner": "acme", "name": "widgets", "number": number},
    });
    let (_, body) = w
        .call(
            reqwest::Method::POST,
            w.url("/graphql"),
            Some(state_query.clone()),
        )
        .await;
    let pull = &body["data"]["repository"]["pullRequest"];
    assert_eq!(pull["mergeStateStatus"], "BLOCKED", "{body}");
    assert_eq!(pull["headRefOid"], sha.as_str());
    assert!(pull["autoMergeRequest"].is_null());

    let (_, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(enable))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]["mergeMethod"],
        "SQUASH"
    );
    assert!(!w.sim.pull(&w.repo, PrNumber(number)).expect("pr").merged);

    w.check_run("flotilla/verify", &sha, "success").await;
    w.sim
        .wait_until("auto-merge", WAIT, |s| {
            s.pull(&w.repo, PrNumber(number)).is_some_and(|p| p.merged)
        })
        .await
        .expect("auto-merged");
    assert_eq!(
        w.sim.file_at(&w.repo, "main", "auto.txt").await.as_deref(),
        Some("one\ntwo\nthree\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_check_run_takes_at_most_50_annotations_per_request() {
    let w = world().await;
    let sha = w.push_branch("annotated", "a.txt", "a\n").0;
    let annotation = json!({"path": "a.txt", "start_line": 1, "end_line": 1, "annotation_level": "warning", "message": "m"});
    let many = vec![annotation.clone(); 51];
    let (status, _) = w.post("/check-runs", json!({"name": "lint", "head_sha": sha, "output": {"title": "t", "summary": "s", "annotations": many}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fifty = vec![annotation; 50];
    let (status, run) = w.post("/check-runs", json!({"name": "lint", "head_sha": sha, "output": {"title": "t", "summary": "s", "annotations": fifty}})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(run["output"]["annotations_count"], 50);
    let (_, list) = w.get(&format!("/commits/{sha}/check-runs")).await;
    assert_eq!(list["total_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_fail_the_next_calls_then_clear() {
    let w = world().await;
    w.sim.inject_fault(Fault {
        method: Some("GET".into()),
        route: "/repos/{owner}/{repo}".into(),
        times: 2,
        kind: FaultKind::ServerError,
    });
    assert_eq!(w.get("").await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(w.get("").await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(w.get("").await.0, StatusCode::OK);

    w.sim.inject_fault(Fault {
        method: None,
        route: format!("/repos/{}/issues", w.repo),
        times: 1,
        kind: FaultKind::SecondaryRateLimit { retry_after: 7 },
    });
    let response = w
        .http
        .get(w.repo_url("/issues"))
        .bearer_auth(&w.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(w.get("/issues").await.0, StatusCode::OK);
    w.sim.inject_fault(Fault {
        method: None,
        route: "/repos/{owner}/{repo}/pulls".into(),
        times: 1,
        kind: FaultKind::RateLimitExhausted,
    });
    let response = w
        .http
        .get(w.repo_url("/pulls"))
        .bearer_auth(&w.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    let calls = w.sim.api_calls();
    assert_eq!(calls.get("GET /repos/{owner}/{repo}"), Some(&3));
    assert_eq!(calls.get("GET /repos/{owner}/{repo}/issues"), Some(&2));

    w.sim.inject_push_fault(
        &w.repo,
        PushFault::Reject {
            message: "pushes are paused".into(),
        },
    );
    let work = w.dir.path().join("clone-main");
    git_ok(
        w.dir.path(),
        &w.git_auth(),
        &[
            "clone",
            "--quiet",
            &w.sim.git_url(&w.repo),
            work.to_str().expect("utf-8"),
        ],
    );
    std::fs::write(work.join("x.txt"), "x").expect("write");
    git_ok(&work, &[], &["add", "-A"]);
    git_ok(
        &work,
        &[],
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "--quiet",
            "-m",
            "x",
        ],
    );
    let refused = git(
        &work,
        &w.git_auth(),
        &["push", "origin", "HEAD:refs/heads/paused"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pushes are paused"));
    git_ok(
        &work,
        &w.git_auth(),
        &["push", "--quiet", "origin", "HEAD:refs/heads/paused"],
    );
}

/// What the test webhook receiver saw.
#[derive(Default)]
struct Received {
    requests: Vec<(axum::http::HeaderMap, Vec<u8>)>,
    fail: bool,
}

async fn receiver() -> (String, Arc<Mutex<Received>>) {
    let seen = Arc::new(Mutex::new(Received::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let mut seen = state.lock().expect("lock");
                    seen.requests.push((headers, body.to_vec()));
                    if seen.fail {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::ACCEPTED
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_signed_recorded_and_redelivered() {
    let (url, seen) = receiver().await;
    let secret = "It's a Secret to Everybody";
    let w = world_with(|c| {
        c.webhook_url = Some(url);
        c.webhook_secret = Some(secret.to_owned());
    })
    .await;
    let issue = w
        .sim
        .open_issue(&w.repo, "Do it", "please", &w.writer())
        .await
        .expect("issue");
    w.sim
        .label_issue(&w.repo, issue.0, "flotilla", &w.writer())
        .await
        .expect("label");
    w.sim
        .wait_until("two deliveries", WAIT, |s| s.deliveries().len() >= 2)
        .await
        .expect("delivered");
    {
        let seen = seen.lock().expect("lock");
        let (headers, body) = &seen.requests[1];
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-github-event"), "issues");
        assert_eq!(header("x-hub-signature-256"), sign(secret, body));
        assert_eq!(header("x-github-hook-installation-target-type"), "app");
        assert!(!header("x-github-delivery").is_empty());
        assert!(!header("x-github-hook-id").is_empty());
        let payload: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(payload["action"], "labeled");
        assert_eq!(payload["label"]["name"], "flotilla");
        assert_eq!(payload["sender"]["login"], "alice");
        assert_eq!(payload["installation"]["id"], w.seed.installation_id.0);
        assert_eq!(payload["repository"]["full_name"], "acme/widgets");
        assert_eq!(payload["issue"]["number"], issue.0);
    }

    seen.lock().expect("lock").fail = true;
    w.sim
        .comment(&w.repo, issue.0, "hello", &w.writer())
        .await
        .expect("comment");
    w.sim
        .wait_until("failed delivery", WAIT, |s| {
            s.deliveries().iter().any(|d| !d.success)
        })
        .await
        .expect("recorded");
    seen.lock().expect("lock").fail = false;

    let app_jwt = jwt("keys/test-app.pem", w.seed.app_id.0, -60, 540);
    let (status, failures) = app_get(&w, "/app/hook/deliveries?status=failure", &app_jwt).await;
    assert_eq!(status, StatusCode::OK);
    let paged = w
        .http
        .get(w.url("/app/hook/deliveries?per_page=1"))
        .bearer_auth(&app_jwt)
        .send()
        .await
        .expect("sent");
    let link = paged
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        link.contains("cursor=") && link.contains("rel=\"next\""),
        "{link}"
    );
    let failed = failures.as_array().expect("list");
    assert_eq!(failed.len(), 1, "{failures}");
    assert_eq!(failed[0]["event"], "issue_comment");
    let id = failed[0]["id"].as_u64().expect("id");
    let guid = failed[0]["guid"].as_str().expect("guid").to_owned();
    let response = w
        .http
        .post(w.url(&format!("/app/hook/deliveries/{id}/attempts")))
        .bearer_auth(&app_jwt)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    w.sim
        .wait_until("redelivery", WAIT, |s| {
            s.deliveries()
                .iter()
                .any(|d| d.redelivery && d.success && d.guid == guid)
        })
        .await
        .expect("redelivered with the same GUID");
    let seen = seen.lock().expect("lock");
    let last = seen.requests.last().expect("request");
    assert_eq!(
        last.0
            .get("x-github-delivery")
            .and_then(|v| v.to_str().ok()),
        Some(guid.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protection_put_requires_all_four_keys_and_round_trips() {
    let w = world().await;
    let (status, _) = w
        .put(
            "/branches/main/protection",
            json!({"required_status_checks": null}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    w.sim
        .set_protection(
            &w.repo,
            "main",
            Some(Protection {
                required_checks: Some(vec![RequiredCheck {
                    context: "ci".into(),
                    app_id: Some(AppId(7)),
                }]),
                strict: false,
                required_approvals: Some(1),
                enforce_admins: false,
            }),
        )
        .expect("set");
    let (status, body) = w.get("/branches/main/protection").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["required_status_checks"]["checks"][0]["app_id"], 7);
    assert_eq!(
        body["required_pull_request_reviews"]["required_approving_review_count"],
        1
    );
}

/// Keys of `fixture` missing from `ours`, one level into objects named in `nested`.
fn missing_keys(
    prefix: &str,
    fixture: &Value,
    ours: &Value,
    nested: &[&str],
    out: &mut Vec<String>,
) {
    let (Some(f), Some(o)) = (fixture.as_object(), ours.as_object()) else {
        return;
    };
    for (key, value) in f {
        if ["enterprise", "organization", "performed_via_github_app"].contains(&key.as_str()) {
            continue;
        }
        // Only a run created for a deployment has one; the schema has it optional, not
        // nullable, so the simulator leaves it out.
        if format!("{prefix}{key}") == "check_run.deployment" {
            continue;
        }
        match o.get(key) {
            None => out.push(format!("{prefix}{key}")),
            Some(mine) if nested.contains(&key.as_str()) => {
                missing_keys(&format!("{prefix}{key}."), value, mine, &[], out)
            }
            Some(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_payloads_carry_the_fields_of_githubs_examples() {
    let (url, _seen) = receiver().await;
    let w = world_with(|c| {
        c.webhook_url = Some(url);
        c.webhook_secret = Some("s".to_owned());
        c.ci_command = Some("true".to_owned());
    })
    .await;
    let alice = w.writer();
    let issue = w
        .sim
        .open_issue(&w.repo, "Issue", "body", &alice)
        .await
        .expect("issue");
    w.sim
        .label_issue(&w.repo, issue.0, "bug", &alice)
        .await
        .expect("label");
    w.sim
        .unlabel_issue(&w.repo, issue.0, "bug", &alice)
        .await
        .expect("unlabel");
    w.sim
        .comment(&w.repo, issue.0, "hi", &alice)
        .await
        .expect("comment");
    let (_, mine) = w
        .post(
            &format!("/issues/{}/comments", issue.0),
            json!({"body": "bot says"}),
        )
        .await;
    let comment_id = mine["id"].as_u64().expect("id");
    w.call(
        reqwest::Method::PATCH,
        w.repo_url(&format!("/issues/comments/{comment_id}")),
        Some(json!({"body": "bot said"})),
    )
    .await;
    let (number, sha) = w.open_pr("shapes", true).await;
    let sha2 = w.push_branch("shapes", "more.txt", "more\n").0;
    let (_, pr) = w.get(&format!("/pulls/{number}")).await;
    let ready = json!({"query": "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { clientMutationId } }", "variables": {"id": pr["node_id"]}});
    w.call(reqwest::Method::POST, w.url("/graphql"), Some(ready))
        .await;
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &alice)
        .await
        .expect("approve");
    w.post(
        &format!("/statuses/{sha2}"),
        json!({"state": "success", "context": "legacy"}),
    )
    .await;
    let (_, run) = w
        .post(
            "/check-runs",
            json!({"name": "flotilla/verify", "head_sha": sha2, "status": "in_progress"}),
        )
        .await;
    let run_id = run["id"].as_u64().expect("id");
    w.protect(json!([{"context": "flotilla/verify", "app_id": w.seed.app_id.0}]))
        .await;
    let enable = json!({"query": "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) { clientMutationId } }", "variables": {"id": pr["node_id"]}});
    let (_, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(enable))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    w.call(
        reqwest::Method::PATCH,
        w.repo_url(&format!("/check-runs/{run_id}")),
        Some(json!({"conclusion": "success"})),
    )
    .await;
    w.sim
        .wait_until("merge", WAIT, |s| {
            s.pull(&w.repo, PrNumber(number)).is_some_and(|p| p.merged)
        })
        .await
        .expect("merged");
    w.sim
        .rerequest_check_run(&w.repo, run_id, &alice)
        .expect("rerequest");
    w.sim
        .request_check_run_action(&w.repo, run_id, "fix", &alice)
        .expect("action");
    w.call(
        reqwest::Method::PATCH,
        w.repo_url(&format!("/issues/{}", issue.0)),
        Some(json!({"state": "closed"})),
    )
    .await;
    let _ = sha;

    let expected = [
        "issues.labeled",
        "issues.unlabeled",
        "issues.closed",
        "issue_comment.created",
        "issue_comment.edited",
        "pull_request.opened",
        "pull_request.synchronize",
        "pull_request.ready_for_review",
        "pull_request.auto_merge_enabled",
        "pull_request.closed",
        "pull_request_review.submitted",
        "check_suite.requested",
        "check_suite.completed",
        "check_run.created",
        "check_run.completed",
        "check_run.rerequested",
        "check_run.requested_action",
        "status",
    ];
    w.sim
        .wait_until("every event", WAIT, |s| {
            let seen: Vec<String> = s
                .deliveries()
                .iter()
                .map(|d| match &d.action {
                    Some(a) => format!("{}.{a}", d.event),
                    None => d.event.clone(),
                })
                .collect();
            expected.iter().all(|e| seen.iter().any(|s| s == e))
        })
        .await
        .expect("all events delivered");
    let deliveries = w.sim.deliveries();
    let opened = deliveries
        .iter()
        .find(|d| d.event == "pull_request" && d.action.as_deref() == Some("opened"))
        .expect("opened");
    assert_eq!(opened.payload["sender"]["login"], "flotilla[bot]");
    assert_eq!(opened.payload["sender"]["type"], "Bot");
    assert_eq!(opened.payload["pull_request"]["draft"], true);
    let merged = deliveries
        .iter()
        .find(|d| d.event == "pull_request" && d.action.as_deref() == Some("closed"))
        .expect("closed");
    assert_eq!(merged.payload["pull_request"]["merged"], true);
    let mut problems = Vec::new();
    for delivery in w.sim.deliveries() {
        let name = match &delivery.action {
            Some(a) => format!("{}.{a}", delivery.event),
            None => delivery.event.clone(),
        };
        let path = fixture_path(&format!("webhooks/{name}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let example: Value = serde_json::from_str(&text).expect("fixture json");
        let mut missing = Vec::new();
        missing_keys(
            "",
            &example,
            &delivery.payload,
            &[
                "issue",
                "comment",
                "pull_request",
                "review",
                "check_run",
                "check_suite",
                "label",
                "repository",
                "sender",
                "installation",
            ],
            &mut missing,
        );
        if !missing.is_empty() {
            problems.push(format!("{name}: {}", missing.join(", ")));
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "payload fields missing:\n{}",
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_cannot_push_workflow_files() {
    let w = world().await;
    let work = w.dir.path().join("clone-wf");
    git_ok(
        w.dir.path(),
        &w.git_auth(),
        &[
            "clone",
            "--quiet",
            &w.sim.git_url(&w.repo),
            work.to_str().expect("utf-8"),
        ],
    );
    std::fs::create_dir_all(work.join(".github/workflows")).expect("mkdir");
    std::fs::write(work.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    git_ok(&work, &[], &["add", "-A"]);
    git_ok(
        &work,
        &[],
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "--quiet",
            "-m",
            "ci",
        ],
    );
    let refused = git(
        &work,
        &w.git_auth(),
        &["push", "origin", "HEAD:refs/heads/wf"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "refusing to allow a GitHub App to create or update workflow \
             `.github/workflows/ci.yml` without `workflows` permission"
        ),
        "{stderr}"
    );
    assert_eq!(w.sim.branch_sha(&w.repo, "wf").await, None);
    // Granted the permission, the same App may push the same commit.
    w.sim
        .set_app_permission(w.seed.app_id, "workflows", Some(Access::Write))
        .expect("workflows granted");
    git_ok(
        &work,
        &w.git_auth(),
        &["push", "--quiet", "origin", "HEAD:refs/heads/wf"],
    );
    assert!(w.sim.branch_sha(&w.repo, "wf").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_imports_a_folder_or_a_git_repository() {
    let src = tempfile::tempdir().expect("tempdir");
    std::fs::write(src.path().join("hello.txt"), "from a folder\n").expect("write");
    let folder = src.path().to_owned();
    let w = world_with(move |c| {
        if let Some(seed) = c.seed.as_mut() {
            seed.source = Some(folder);
        }
    })
    .await;
    assert_eq!(
        w.sim.file_at(&w.repo, "main", "hello.txt").await.as_deref(),
        Some("from a folder\n")
    );

    let upstream = tempfile::tempdir().expect("tempdir");
    git_ok(upstream.path(), &[], &["init", "--quiet", "-b", "trunk"]);
    std::fs::write(upstream.path().join("lib.rs"), "// lib\n").expect("write");
    git_ok(upstream.path(), &[], &["add", "-A"]);
    git_ok(
        upstream.path(),
        &[],
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "--quiet",
            "-m",
            "init",
        ],
    );
    let repo_dir = upstream.path().to_owned();
    let w = world_with(move |c| {
        if let Some(seed) = c.seed.as_mut() {
            seed.source = Some(repo_dir);
        }
    })
    .await;
    let (status, repo) = w.get("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["default_branch"], "trunk");
    assert_eq!(repo["allow_auto_merge"], true);
    assert_eq!(
        w.sim.file_at(&w.repo, "trunk", "lib.rs").await.as_deref(),
        Some("// lib\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_drives_scenarios_over_http() {
    let w = world().await;
    let admin = |path: &str| format!("{}/_sim{path}", w.sim.base_url());
    let opened: Value = w
        .http
        .post(admin("/repos/acme/widgets/issues"))
        .json(&json!({"title": "From a script", "body": "b", "user": "alice"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let number = opened["number"].as_u64().expect("number");
    let response = w
        .http
        .post(admin(&format!(
            "/repos/acme/widgets/issues/{number}/labels"
        )))
        .json(&json!({"label": "flotilla", "user": "alice"}))
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success());
    assert_eq!(w.sim.issue_labels(&w.repo, number), ["flotilla"]);
    let (status, permission) = w.get("/collaborators/bob/permission").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(permission["permission"], "read");
    let (_, permission) = w.get("/collaborators/alice/permission").await;
    assert_eq!(permission["permission"], "write");
    let calls: Value = w
        .http
        .get(admin("/calls"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        calls["GET /repos/{owner}/{repo}/collaborators/{username}/permission"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_branch_and_rebase_merge_rewrite_history_as_github_does() {
    let w = world().await;
    let alice = w.writer();
    let (number, head) = w.open_pr("behind", false).await;
    let main_tip = w
        .sim
        .push_commit(
            &w.repo,
            "main",
            &[("other.txt", "other\n")],
            "Other",
            &alice,
        )
        .await
        .expect("push");
    let update = format!("/pulls/{number}/update-branch");
    let (status, _) = w
        .put(&update, json!({"expected_head_sha": main_tip.0}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w.put(&update, json!({"expected_head_sha": head})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let pr = w.sim.pull(&w.repo, PrNumber(number)).expect("pr");
    assert_ne!(pr.head_sha.0, head);
    assert!(
        w.sim
            .commit_parents(&w.repo, &pr.head_sha.0)
            .await
            .contains(&main_tip)
    );

    let (second, _) = w.open_pr("linear", false).await;
    w.sim
        .merge_pr(
            &w.repo,
            PrNumber(second),
            flotilla::sim::MergeMethod::Rebase,
            &alice,
        )
        .await
        .expect("rebase merge");
    let tip = w.sim.branch_sha(&w.repo, "main").await.expect("main");
    assert_eq!(w.sim.commit_parents(&w.repo, &tip.0).await, [main_tip]);
    assert_eq!(
        w.sim
            .file_at(&w.repo, "main", "linear.txt")
            .await
            .as_deref(),
        Some("one\ntwo\nthree\n")
    );
    let (status, reference) = w.get("/git/ref/heads/linear").await;
    assert_eq!(status, StatusCode::OK);
    assert!(reference["object"]["sha"].is_string());
    let (status, _) = w
        .call(
            reqwest::Method::DELETE,
            w.repo_url("/git/refs/heads/linear"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.get("/git/ref/heads/linear").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = w
        .call(
            reqwest::Method::DELETE,
            w.repo_url("/git/refs/heads/main"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graphql_reads_a_pull_request_by_node_and_rejects_unknown_fields() {
    let w = world().await;
    let (number, sha) = w.open_pr("gql", true).await;
    let (_, pr) = w.get(&format!("/pulls/{number}")).await;
    let query = json!({
        "query": "query($id: ID!) { node(id: $id) { __typename ... on PullRequest { number isDraft mergeStateStatus headRefOid } } }",
        "variables": {"id": pr["node_id"]},
    });
    let (status, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(query))
        .await;
    assert_eq!(status, StatusCode::OK);
    let node = &body["data"]["node"];
    assert_eq!(node["__typename"], "PullRequest", "{body}");
    assert_eq!(node["number"], number);
    assert_eq!(node["isDraft"], true);
    assert_eq!(node["mergeStateStatus"], "DRAFT");
    assert_eq!(node["headRefOid"], sha.as_str());
    let bad = json!({"query": "{ repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { noSuchField } } }"});
    let (_, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(bad))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("noSuchField"),
        "{body}"
    );
    let broken = json!({"query": "mutation { enablePullRequestAutoMerge(input: {"});
    let (_, body) = w
        .call(reqwest::Method::POST, w.url("/graphql"), Some(broken))
        .await;
    assert!(body["errors"].is_array(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflicting_push_is_rejected_because_someone_pushed_first() {
    let w = world().await;
    w.push_branch("busy", "a.txt", "1\n");
    w.sim.inject_push_fault(&w.repo, PushFault::Conflict);
    let work = w.dir.path().join("clone-busy");
    std::fs::write(work.join("a.txt"), "2\n").expect("write");
    git_ok(
        &work,
        &[],
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "--quiet",
            "-am",
            "two",
        ],
    );
    let refused = git(&work, &w.git_auth(), &["push", "origin", "busy"]);
    assert!(!refused.status.success(), "the push must be rejected");
    let tip = w.sim.branch_sha(&w.repo, "busy").await.expect("branch");
    let (_, commit) = w.get(&format!("/commits/{}", tip.0)).await;
    assert_eq!(commit["commit"]["message"], "Concurrent change");
    let mut with_identity = w.git_auth();
    with_identity.extend([
        "-c".to_owned(),
        "user.name=a".to_owned(),
        "-c".to_owned(),
        "user.email=a@b".to_owned(),
    ]);
    git_ok(
        &work,
        &with_identity,
        &["pull", "--quiet", "--rebase", "origin", "busy"],
    );
    git_ok(&work, &w.git_auth(), &["push", "--quiet", "origin", "busy"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn required_reviews_count_only_approvals_from_people_with_write_access() {
    let w = world().await;
    let (number, sha) = w.open_pr("reviewed", false).await;
    let (status, body) = w
        .put(
            "/branches/main/protection",
            json!({"required_status_checks": null, "enforce_admins": false, "required_pull_request_reviews": {"required_approving_review_count": 1}, "restrictions": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let merge = format!("/pulls/{number}/merge");
    let (status, body) = w.put(&merge, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("approving review"),
        "{body}"
    );
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &w.seed.reader)
        .await
        .expect("a reader may review");
    assert_eq!(
        w.put(&merge, json!({"sha": sha})).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &w.writer())
        .await
        .expect("a writer approves");
    let (status, body) = w.put(&merge, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_moves_the_pull_request_head_and_runs_ci_without_a_webhook() {
    // No `webhook_url`: nothing is delivered, but a push must still move the open pull
    // request's head, request a check suite and start CI.
    let w = world_with(|c| {
        c.ci_command = Some("true".to_owned());
        c.ci_check_name = "ci".to_owned();
    })
    .await;
    let (number, first) = w.open_pr("nohook", false).await;
    let pr_number = PrNumber(number);
    let ci_completed = |sha: CommitSha| {
        let w = &w;
        async move {
            w.sim
                .wait_until("CI on the new head", WAIT, |s| {
                    s.check_runs(&w.repo, &sha)
                        .iter()
                        .any(|r| r.app_id == CI_APP_ID && r.status == "completed")
                })
                .await
                .expect("CI runs on the pushed head");
        }
    };
    ci_completed(CommitSha(first.clone())).await;

    // The App pushes over smart HTTP.
    let second = w.push_branch("nohook", "nohook.txt", "one\ntwo\nthree\nfour\n");
    assert_ne!(second.0, first);
    let (status, pr) = w.get(&format!("/pulls/{number}")).await;
    assert_eq!(status, StatusCode::OK, "{pr}");
    assert_eq!(pr["head"]["sha"], second.0.as_str(), "{pr}");
    assert_eq!(
        w.sim.pull(&w.repo, pr_number).expect("pull").head_sha,
        second
    );
    ci_completed(second.clone()).await;

    // A person pushes (the scenario API).
    let third = w
        .sim
        .push_commit(
            &w.repo,
            "nohook",
            &[("later.txt", "later\n")],
            "Add later",
            &w.writer(),
        )
        .await
        .expect("push");
    let (_, pr) = w.get(&format!("/pulls/{number}")).await;
    assert_eq!(pr["head"]["sha"], third.0.as_str(), "{pr}");
    ci_completed(third).await;
    assert!(
        w.sim.deliveries().is_empty(),
        "no hook configured, nothing delivered"
    );
}
