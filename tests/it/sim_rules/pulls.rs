//! Pull requests, reviews and merges: pushed heads, approvals, merges under branch protection, auto-merge, update-branch and rebase, conflicting pushes, required reviews.

use super::*;

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
    let (status, _) = w
        .merge(
            number,
            json!({"sha": "0000000000000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(message(&body).contains("draft"));

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
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(message(&body).contains("expected"), "{body}");
    w.check_run("ci", &sha, "failure").await;
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(message(&body).contains("failing"), "{body}");
    w.check_run("ci", &sha, "success").await;
    let (status, body) = w
        .merge(number, json!({"sha": sha, "merge_method": "merge"}))
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
async fn a_conflicting_push_is_rejected_because_someone_pushed_first() {
    let w = world().await;
    w.push_branch("busy", "a.txt", "1\n");
    w.sim.inject_push_fault(&w.repo, PushFault::Conflict);
    let work = w.dir.path().join("clone-busy");
    std::fs::write(work.join("a.txt"), "2\n").expect("write");
    commit_all(&work, "two");
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
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(message(&body).contains("approving review"), "{body}");
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &w.seed.reader)
        .await
        .expect("a reader may review");
    assert_eq!(
        w.merge(number, json!({"sha": sha})).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    w.sim
        .approve_pr(&w.repo, PrNumber(number), &w.writer())
        .await
        .expect("a writer approves");
    let (status, body) = w.merge(number, json!({"sha": sha})).await;
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
