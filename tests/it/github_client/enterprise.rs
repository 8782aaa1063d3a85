//! GitHub Enterprise Server's layout: REST under `https://host/api/v3` and GraphQL at
//! `https://host/api/graphql`, not under the REST root. The client derives the GraphQL
//! endpoint (or takes `FLOTILLA_GITHUB_GRAPHQL_URL`) and is run against the simulator,
//! which serves both layouts over the same world.

use flotilla::github::{GithubApp, GithubSettings, NewPull};
use flotilla::sim::SimHandle;
use tempfile::TempDir;

use super::credentials;
use crate::support::world::{WORLD_APP_ID, seeded_sim};

#[test]
fn the_graphql_endpoint_is_derived_from_the_rest_root_as_github_lays_them_out() {
    let derived = |base: &str| {
        GithubSettings {
            base_url: base.to_owned(),
            ..GithubSettings::default()
        }
        .graphql_url()
    };
    assert_eq!(
        derived("https://api.github.com"),
        "https://api.github.com/graphql"
    );
    assert_eq!(
        derived("https://ghes.example.com/api/v3"),
        "https://ghes.example.com/api/graphql"
    );
    assert_eq!(
        derived("https://ghes.example.com/api/v3/"),
        "https://ghes.example.com/api/graphql"
    );
    let configured = GithubSettings {
        base_url: "https://ghes.example.com/api/v3".to_owned(),
        graphql_url: Some("https://graphql.example.com/".to_owned()),
        ..GithubSettings::default()
    };
    assert_eq!(configured.graphql_url(), "https://graphql.example.com/");
}

/// On a fresh simulator, opens a pull request over REST and reads its merge state over
/// GraphQL through a client configured with the `settings` made for that simulator, and
/// asserts the simulator counted each call once: both reached it by their own roots.
async fn rest_and_graphql_through(settings: impl FnOnce(&SimHandle) -> GithubSettings) {
    let dir = TempDir::new().unwrap();
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let (repo, writer) = (&seed.repo_name(), &seed.writer);
    let settings = settings(&sim);
    let mut credentials = credentials();
    credentials.app_id = WORLD_APP_ID;
    let app = GithubApp::new(credentials, settings).expect("app client");
    let installation = app
        .installation_for_repo(repo)
        .await
        .expect("installation over REST");
    let client = app.installation(installation).await.expect("client");
    sim.push_commit(repo, "topic", &[("t.txt", "t\n")], "Topic", writer)
        .await
        .expect("push");
    let before = sim.call_counts();
    let pull = client
        .create_pull(
            repo,
            &NewPull {
                title: "Topic".to_owned(),
                head: "topic".to_owned(),
                base: "main".to_owned(),
                body: String::new(),
                draft: true,
            },
        )
        .await
        .expect("pull request over REST");
    let state = client
        .pull_merge_state(repo, pull.number)
        .await
        .expect("merge state over GraphQL");
    assert!(state.is_draft);
    let calls = sim.call_counts().since(&before);
    assert_eq!(
        calls.by_route.get("POST /repos/{owner}/{repo}/pulls"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.by_route.get("GRAPHQL query repository"),
        Some(&1),
        "GraphQL went to its endpoint: {calls:?}"
    );
}

#[tokio::test]
async fn a_client_on_an_enterprise_server_root_reaches_rest_and_the_derived_graphql_endpoint() {
    rest_and_graphql_through(|sim| GithubSettings {
        base_url: sim.enterprise_api_url(),
        ..GithubSettings::default()
    })
    .await;
}

#[tokio::test]
async fn a_configured_graphql_endpoint_is_used_whatever_the_rest_root() {
    rest_and_graphql_through(|sim| GithubSettings {
        base_url: sim.api_url(),
        graphql_url: Some(format!("{}/api/graphql", sim.base_url())),
        ..GithubSettings::default()
    })
    .await;
}
