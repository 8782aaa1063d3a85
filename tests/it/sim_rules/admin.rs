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
        .send_as(reqwest::Method::GET, w.repo_url("/issues"), &w.token)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&response, "retry-after"), Some("7"));
    assert_eq!(w.get("/issues").await.0, StatusCode::OK);
    w.sim.inject_fault(Fault {
        method: None,
        route: "/repos/{owner}/{repo}/pulls".into(),
        times: 1,
        kind: FaultKind::RateLimitExhausted,
    });
    let response = w
        .send_as(reqwest::Method::GET, w.repo_url("/pulls"), &w.token)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));
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
    commit_all(&work, "x");
    let refused = w.push_as_app(&work, "HEAD:refs/heads/paused");
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

/// Calls the simulator's admin API at `/_sim{path}` as a script would, without a
/// token, and returns the status and the JSON answer (`null` when there is none).
async fn admin(
    w: &World,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("{}/_sim{path}", w.sim.base_url());
    send_json(w.http.request(method, url), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_drives_scenarios_over_http() {
    let w = world().await;
    let (_, opened) = admin(
        &w,
        reqwest::Method::POST,
        "/repos/acme/widgets/issues",
        Some(json!({"title": "From a script", "body": "b", "user": "alice"})),
    )
    .await;
    let number = opened["number"].as_u64().expect("number");
    let (status, _) = admin(
        &w,
        reqwest::Method::POST,
        &format!("/repos/acme/widgets/issues/{number}/labels"),
        Some(json!({"label": "flotilla", "user": "alice"})),
    )
    .await;
    assert!(status.is_success());
    assert_eq!(w.sim.issue_labels(&w.repo, number), ["flotilla"]);
    let (status, permission) = w.get("/collaborators/bob/permission").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(permission["permission"], "read");
    let (_, permission) = w.get("/collaborators/alice/permission").await;
    assert_eq!(permission["permission"], "write");
    let (_, calls) = admin(&w, reqwest::Method::GET, "/calls", None).await;
    assert_eq!(
        calls["GET /repos/{owner}/{repo}/collaborators/{username}/permission"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_lists_a_commits_check_runs_with_their_annotation_count() {
    let w = world().await;
    let sha = w.push_branch("checked", "c.txt", "c\n").0;
    let annotation = json!({"path": "c.txt", "start_line": 1, "end_line": 1, "annotation_level": "warning", "message": "m"});
    let (status, run) = w.post("/check-runs", json!({"name": "lint", "head_sha": sha, "details_url": "https://ci.example/1", "output": {"title": "t", "summary": "s", "annotations": [annotation]}})).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let (status, runs) = admin(
        &w,
        reqwest::Method::GET,
        &format!("/repos/acme/widgets/commits/{sha}/check-runs"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        runs,
        json!([{
            "id": run["id"],
            "name": "lint",
            "app_id": run["app"]["id"],
            "head_sha": sha,
            "status": run["status"],
            "conclusion": null,
            "title": "t",
            "summary": "s",
            "text": null,
            "annotations": 1,
            "details_url": "https://ci.example/1",
        }])
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
