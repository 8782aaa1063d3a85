//! Check runs and protection: App-bound required checks, classic protection read without `administration`, the annotation limit, the protection PUT.

use super::*;

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
    let (status, body) = flotilla_only.merge(n2, json!({"sha": sha2})).await;
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
        .merge(number, json!({"sha": sha, "merge_method": "squash"}))
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
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(message(&body).contains("flotilla/verify"), "{body}");
    w.check_run("flotilla/verify", &sha, "success").await;
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
