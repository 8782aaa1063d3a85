//! Faults, seeding, the admin HTTP API and GraphQL reads.

use super::*;

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
    let work = w.clone_as_app("main");
    std::fs::write(work.join("x.txt"), "x").expect("write");
    git_ok(&work, &[], &["add", "-A"]);
    commit_all(&work, "x");
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
    commit_all(upstream.path(), "init");
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
