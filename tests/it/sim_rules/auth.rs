//! App JWTs, installation tokens, smart-HTTP auth and what an App may push.

use super::*;

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
    assert!(message(&body).contains("too far in the future"), "{body}");
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
    let response = w.send_as(reqwest::Method::POST, w.url(&path), &good).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("ghs_"));
    assert!(body["expires_at"].is_string());

    let response = w
        .send_as(reqwest::Method::GET, w.repo_url(""), &token)
        .await;
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
        .send_as(reqwest::Method::GET, w.repo_url(""), &token)
        .await;
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
async fn an_app_cannot_push_workflow_files() {
    let w = world().await;
    let work = w.clone_as_app("wf");
    std::fs::create_dir_all(work.join(".github/workflows")).expect("mkdir");
    std::fs::write(work.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    commit_all(&work, "ci");
    let refused = w.push_as_app(&work, "HEAD:refs/heads/wf");
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
