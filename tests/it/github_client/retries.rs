//! The one retry policy: what is retried, how long it waits, what is not retried.

use std::time::{Duration, Instant};

use axum::http::Method;
use flotilla::github::{GithubError, MergeStateStatus};
use flotilla::types::{CommitSha, IssueNumber, Login, PrNumber};
use serde_json::json;

use super::fake_github::Canned;
use super::{
    COMMENTS_PATH, INSTALLATION, ISSUE_PATH, app_for, comment_json, issue_json, repo, setup,
    unix_now,
};

#[tokio::test]
async fn get_is_retried_after_server_errors() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![
            Canned::error(502, "Bad Gateway"),
            Canned::error(503, "Unavailable"),
            Canned::json(200, issue_json()),
        ],
    );
    let issue = client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("third try");
    assert_eq!(issue.author, Login::from("alice"));
    assert_eq!(fake.requests_to(Method::GET, ISSUE_PATH).len(), 3);
}

#[tokio::test]
async fn get_gives_up_after_the_attempt_cap() {
    let (fake, _app, client) = setup().await;
    fake.script(Method::GET, ISSUE_PATH, vec![Canned::error(500, "boom")]);
    let error = client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect_err("fails");
    assert!(
        matches!(error, GithubError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests_to(Method::GET, ISSUE_PATH).len(), 3);
}

#[tokio::test]
async fn post_is_not_retried_after_a_server_error() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![
            Canned::error(500, "boom"),
            Canned::json(201, comment_json(1)),
        ],
    );
    let error = client
        .create_issue_comment(&repo(), IssueNumber(3), "hello")
        .await
        .expect_err("not retried");
    assert!(
        matches!(error, GithubError::Server { status: 500, .. }),
        "{error:?}"
    );
    let requests = fake.requests_to(Method::POST, COMMENTS_PATH);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body, json!({ "body": "hello" }));
}

#[tokio::test]
async fn secondary_rate_limit_on_post_is_retried_after_retry_after() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![
            Canned::secondary_rate_limit("1"),
            Canned::json(201, comment_json(11)),
        ],
    );
    let started = Instant::now();
    let comment = client
        .create_issue_comment(&repo(), IssueNumber(3), "hello")
        .await
        .expect("retried");
    assert_eq!(comment.id.0, 11);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited retry-after"
    );
    assert_eq!(fake.requests_to(Method::POST, COMMENTS_PATH).len(), 2);
}

#[tokio::test]
async fn exhausted_quota_waits_for_the_reset() {
    let (fake, _app, client) = setup().await;
    let reset_at = unix_now() + 1;
    let reset = reset_at.to_string();
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![
            Canned::primary_rate_limit(&reset),
            Canned::json(200, issue_json()),
        ],
    );
    client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("after reset");
    assert_eq!(fake.requests_to(Method::GET, ISSUE_PATH).len(), 2);
    assert!(unix_now() >= reset_at, "retried only once the quota reset");
}

#[tokio::test]
async fn a_reset_beyond_the_wait_budget_is_returned_at_once() {
    let (fake, _app, client) = setup().await;
    let reset = (unix_now() + 3600).to_string();
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![Canned::primary_rate_limit(&reset)],
    );
    let error = client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect_err("budget");
    let GithubError::RateLimited {
        retry_after: Some(wait),
        ..
    } = error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert!(wait > Duration::from_secs(3500), "{wait:?}");
    assert_eq!(fake.requests_to(Method::GET, ISSUE_PATH).len(), 1);
}

#[tokio::test]
async fn permission_refusal_is_not_retried() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![Canned::error(403, "Resource not accessible by integration")],
    );
    let error = client
        .create_issue_comment(&repo(), IssueNumber(3), "hello")
        .await
        .expect_err("forbidden");
    let GithubError::Forbidden { message } = error else {
        panic!("expected Forbidden, got {error:?}");
    };
    assert_eq!(message, "Resource not accessible by integration");
    assert_eq!(fake.requests_to(Method::POST, COMMENTS_PATH).len(), 1);
}

#[tokio::test]
async fn graphql_mutations_are_not_retried_but_queries_are() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::POST,
        "/graphql",
        vec![Canned::error(502, "Bad Gateway")],
    );
    let error = client
        .mark_ready_for_review("PR_node5")
        .await
        .expect_err("502");
    assert!(
        matches!(error, GithubError::Server { status: 502, .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests_to(Method::POST, "/graphql").len(), 1);

    let state = json!({ "data": { "repository": { "pullRequest": {
        "id": "PR_node5", "isDraft": false, "state": "OPEN", "mergeStateStatus": "BLOCKED",
        "headRefOid": "abc123", "autoMergeRequest": { "enabledAt": "2026-01-01T00:00:00Z" }
    } } } });
    fake.script(
        Method::POST,
        "/graphql",
        vec![Canned::error(502, "Bad Gateway"), Canned::json(200, state)],
    );
    let merge_state = client
        .pull_merge_state(&repo(), PrNumber(5))
        .await
        .expect("retried query");
    assert_eq!(merge_state.merge_state_status, MergeStateStatus::Blocked);
    assert!(merge_state.auto_merge_enabled && !merge_state.is_draft);
    assert_eq!(merge_state.head_sha, CommitSha::from("abc123"));
    assert_eq!(fake.requests_to(Method::POST, "/graphql").len(), 3);
}

#[tokio::test]
async fn unreachable_github_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let app = app_for(&base_url);
    let client = app.installation(INSTALLATION).await.expect("client");
    let error = client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect_err("no server");
    assert!(matches!(error, GithubError::Transport { .. }), "{error:?}");
}

#[tokio::test]
async fn writes_go_one_at_a_time_per_installation() {
    let (fake, _app, client) = setup().await;
    let slow = Duration::from_millis(200);
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![Canned::json(201, comment_json(1)).delayed(slow)],
    );
    let (other, repo) = (client.clone(), repo());
    let started = Instant::now();
    let (first, second) = tokio::join!(
        client.create_issue_comment(&repo, IssueNumber(3), "one"),
        other.create_issue_comment(&repo, IssueNumber(3), "two"),
    );
    first.expect("first");
    second.expect("second");
    assert_eq!(fake.max_in_flight(), 1, "never two writes at once");
    assert!(started.elapsed() >= slow * 2);
}
