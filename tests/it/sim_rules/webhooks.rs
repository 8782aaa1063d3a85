//! Webhooks: signed, recorded and redelivered; payloads with the fields of GitHub's examples.

use super::*;

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
        .send_as(
            reqwest::Method::GET,
            w.url("/app/hook/deliveries?per_page=1"),
            &app_jwt,
        )
        .await;
    let link = header(&paged, "link").unwrap_or_default().to_owned();
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
        .send_as(
            reqwest::Method::POST,
            w.url(&format!("/app/hook/deliveries/{id}/attempts")),
            &app_jwt,
        )
        .await;
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
