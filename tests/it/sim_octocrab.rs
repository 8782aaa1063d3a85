//! The simulator speaks GitHub well enough for octocrab (the client Flotilla uses):
//! App auth, installation tokens, repositories, pull requests, comments, check runs and
//! a merge all deserialize into octocrab's models.

use std::time::Duration;

use flotilla::sim::{self, SeedConfig, SimConfig};
use flotilla::types::PrNumber;
use secrecy::ExposeSecret;

use crate::support::fixture_path;

/// A fixture's text, by its path under `fixtures/`.
fn read(path: &str) -> String {
    std::fs::read_to_string(fixture_path(path)).expect("fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn octocrab_authenticates_opens_checks_and_merges_a_pull_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = SeedConfig::new(read("keys/test-app.pub.pem"));
    let mut config = SimConfig::new(dir.path().join("sim"));
    config.seed = Some(seed.clone());
    let sim = sim::start(config).await.expect("simulator");
    let repo = seed.repo_name();

    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(read("keys/test-app.pem").as_bytes()).expect("key");
    let app = octocrab::Octocrab::builder()
        .base_uri(sim.api_url())
        .expect("base uri")
        .app(octocrab::models::AppId(seed.app_id.0), key)
        .build()
        .expect("app client");
    let me = app.current().app().await.expect("GET /app");
    assert_eq!(me.slug.as_deref(), Some("flotilla"));
    let (client, token) = app
        .installation_and_token(octocrab::models::InstallationId(seed.installation_id.0))
        .await
        .expect("installation token");
    assert!(token.expose_secret().starts_with("ghs_"));

    let (owner, name) = repo.split().expect("owner/name");
    let r = client.repos(owner, name).get().await.expect("repository");
    assert_eq!(r.default_branch.as_deref(), Some("main"));

    let human = seed.writer.clone();
    let head = sim
        .push_commit(
            &repo,
            "topic",
            &[("topic.txt", "topic\n")],
            "Add topic",
            &human,
        )
        .await
        .expect("push");
    let pr = client
        .pulls(owner, name)
        .create("Topic", "topic", "main")
        .body("b")
        .draft(Some(true))
        .send()
        .await
        .expect("create PR");
    assert_eq!(pr.draft, Some(true));
    assert_eq!(pr.head.sha, head.0);
    let fetched = client
        .pulls(owner, name)
        .get(pr.number)
        .await
        .expect("get PR");
    assert_eq!(fetched.number, pr.number);
    let listed = client
        .pulls(owner, name)
        .list()
        .state(octocrab::params::State::Open)
        .send()
        .await
        .expect("list PRs");
    assert_eq!(listed.items.len(), 1);

    let comment = client
        .issues(owner, name)
        .create_comment(pr.number, "on it")
        .await
        .expect("comment");
    assert_eq!(comment.body.as_deref(), Some("on it"));
    let comments = client
        .issues(owner, name)
        .list_comments(pr.number)
        .send()
        .await
        .expect("list comments");
    assert_eq!(comments.items.len(), 1);

    let run = client
        .checks(owner, name)
        .create_check_run("flotilla/verify", head.0.clone())
        .status(octocrab::params::checks::CheckRunStatus::Completed)
        .conclusion(octocrab::params::checks::CheckRunConclusion::Success)
        .send()
        .await
        .expect("check run");
    assert_eq!(run.name, "flotilla/verify");
    let runs = client
        .checks(owner, name)
        .list_check_runs_for_git_ref(octocrab::params::repos::Commitish(head.0.clone()))
        .send()
        .await
        .expect("list check runs");
    assert_eq!(runs.total_count, 1);

    // Drafts cannot merge; a person marks it ready in this test.
    sim.approve_pr(&repo, PrNumber(pr.number), &human)
        .await
        .expect("approve");
    let refused = client
        .pulls(owner, name)
        .merge(pr.number)
        .sha(head.0.clone())
        .send()
        .await;
    assert!(refused.is_err(), "a draft must not merge");

    let token = sim.installation_token(seed.installation_id);
    let http = reqwest::Client::new();
    let node_id = fetched.node_id.clone().expect("node id");
    let response: serde_json::Value = http
        .post(format!("{}/graphql", sim.api_url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": format!("mutation {{ markPullRequestReadyForReview(input: {{pullRequestId: \"{node_id}\"}}) {{ pullRequest {{ isDraft }} }} }}")}))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json");
    assert_eq!(
        response["data"]["markPullRequestReadyForReview"]["pullRequest"]["isDraft"], false,
        "{response}"
    );

    let merged = client
        .pulls(owner, name)
        .merge(pr.number)
        .sha(head.0.clone())
        .method(octocrab::params::pulls::MergeMethod::Squash)
        .send()
        .await
        .expect("merge");
    assert!(merged.merged);
    sim.wait_until("merged", Duration::from_secs(5), |s| {
        s.pull(&repo, PrNumber(pr.number)).is_some_and(|p| p.merged)
    })
    .await
    .expect("merged state");
}
