//! Typed calls: request bodies and the mapping of answers to results and errors.

use axum::http::Method;
use flotilla::github::{
    Annotation, AnnotationLevel, BranchProtection, CheckConclusion, CheckOutput, CheckRunAction,
    CheckRunUpdate, CheckStatus, GithubError, MergeMethod, MergeOutcome, NewCheckRun, NewReview,
    Permission, RequiredCheck, ReviewComment, ReviewEvent, ReviewSide,
};
use flotilla::types::{AppId, CommitSha, IssueNumber, Login, PrNumber};
use serde_json::json;

use super::fake_github::Canned;
use super::{COMMENTS_PATH, MERGE_PATH, comment_json, repo, setup};

#[tokio::test]
async fn merge_sends_the_sha_guard_and_maps_refusals() {
    let (fake, _app, client) = setup().await;
    let (repo, head) = (repo(), CommitSha::from("abc123"));
    let merge = || client.merge_pull(&repo, PrNumber(5), &head, MergeMethod::Squash);

    fake.script(
        Method::PUT,
        MERGE_PATH,
        vec![Canned::json(200, json!({ "sha": "def456", "merged": true, "message": "Pull Request successfully merged" }))],
    );
    let outcome = merge().await.expect("merged");
    assert_eq!(
        outcome,
        MergeOutcome::Merged {
            sha: CommitSha::from("def456")
        }
    );
    let sent = fake.requests_to(Method::PUT, MERGE_PATH);
    assert_eq!(
        sent[0].body,
        json!({ "sha": "abc123", "merge_method": "squash" })
    );

    fake.script(
        Method::PUT,
        MERGE_PATH,
        vec![Canned::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        )],
    );
    assert!(matches!(merge().await, Err(GithubError::Conflict { .. })));
    fake.script(
        Method::PUT,
        MERGE_PATH,
        vec![Canned::error(405, "Pull Request is not mergeable")],
    );
    assert!(matches!(
        merge().await,
        Err(GithubError::NotMergeable { .. })
    ));
    fake.script(
        Method::PUT,
        MERGE_PATH,
        vec![Canned::json(
            422,
            json!({ "message": "Validation Failed", "errors": [{ "message": "sha is invalid" }] }),
        )],
    );
    let Err(GithubError::Validation { message }) = merge().await else {
        panic!("expected Validation");
    };
    assert_eq!(message, "Validation Failed (sha is invalid)");
}

#[tokio::test]
async fn auto_merge_on_a_clean_pull_request_says_merge_it_yourself() {
    let (fake, _app, client) = setup().await;
    fake.script(
        Method::POST,
        "/graphql",
        vec![Canned::json(200, json!({
            "data": { "enablePullRequestAutoMerge": null },
            "errors": [{ "type": "UNPROCESSABLE", "message": "Pull request Pull request is in clean status" }]
        }))],
    );
    let error = client
        .enable_auto_merge("PR_node5", MergeMethod::Squash, &CommitSha::from("abc123"))
        .await
        .expect_err("clean status");
    assert!(
        matches!(error, GithubError::AutoMergeUnavailable { .. }),
        "{error:?}"
    );
    let sent = fake.requests_to(Method::POST, "/graphql");
    assert_eq!(
        sent[0].body["variables"],
        json!({ "pullRequestId": "PR_node5", "mergeMethod": "SQUASH", "expectedHeadOid": "abc123" })
    );
}

#[tokio::test]
async fn collaborator_permission_folds_roles_into_four_levels() {
    let (fake, _app, client) = setup().await;
    let cases = [
        ("maria", Some(("write", "maintain")), Permission::Write),
        ("tom", Some(("read", "triage")), Permission::Read),
        ("ada", Some(("admin", "admin")), Permission::Admin),
        ("eve", None, Permission::None),
    ];
    for (user, answer, expected) in cases {
        let path = format!("/repos/octo/widgets/collaborators/{user}/permission");
        let canned = match answer {
            Some((permission, role)) => {
                Canned::json(200, json!({ "permission": permission, "role_name": role }))
            }
            None => Canned::error(404, "Not Found"),
        };
        fake.script(Method::GET, &path, vec![canned]);
        let got = client
            .collaborator_permission(&repo(), &Login::from(user))
            .await
            .expect("permission");
        assert_eq!(got, expected, "{user}");
    }
    assert!(Permission::Write.can_command() && !Permission::Read.can_command());
}

#[tokio::test]
async fn review_body_carries_inline_comments() {
    let (fake, _app, client) = setup().await;
    let path = "/repos/octo/widgets/pulls/5/reviews";
    fake.script(
        Method::POST,
        path,
        vec![Canned::json(200, json!({ "id": 99 }))],
    );
    let review = NewReview {
        commit_id: CommitSha::from("abc123"),
        body: "Refuted: see inline.".to_owned(),
        event: ReviewEvent::Comment,
        comments: vec![ReviewComment {
            path: "src/lib.rs".to_owned(),
            line: 12,
            side: ReviewSide::Right,
            body: "Off by one.".to_owned(),
        }],
    };
    let id = client
        .create_review(&repo(), PrNumber(5), &review)
        .await
        .expect("review");
    assert_eq!(id.0, 99);
    assert_eq!(
        fake.requests_to(Method::POST, path)[0].body,
        json!({
            "commit_id": "abc123", "body": "Refuted: see inline.", "event": "COMMENT",
            "comments": [{ "path": "src/lib.rs", "line": 12, "side": "RIGHT", "body": "Off by one." }]
        })
    );
}

#[tokio::test]
async fn file_contents_are_decoded_and_absent_files_are_none() {
    let (fake, _app, client) = setup().await;
    let path = "/repos/octo/widgets/contents/.github/flotilla.yml";
    fake.script(
        Method::GET,
        path,
        vec![Canned::json(
            200,
            json!({ "encoding": "base64", "content": "dHJpZ2dl\ncjogZmxv\ndGlsbGEK\n" }),
        )],
    );
    let bytes = client
        .file_contents(&repo(), ".github/flotilla.yml", "main")
        .await
        .expect("file");
    assert_eq!(bytes.as_deref(), Some(&b"trigger: flotilla\n"[..]));
    assert_eq!(
        fake.requests_to(Method::GET, path)[0].query.as_deref(),
        Some("ref=main")
    );

    let absent = client
        .file_contents(&repo(), "nope.yml", "main")
        .await
        .expect("404");
    assert_eq!(absent, None);
}

#[tokio::test]
async fn comments_are_read_across_pages_and_labels_are_encoded() {
    let (fake, _app, client) = setup().await;
    let next = format!(
        "<{}{COMMENTS_PATH}?per_page=100&page=2>; rel=\"next\"",
        fake.base_url
    );
    fake.script(
        Method::GET,
        COMMENTS_PATH,
        vec![
            Canned::json(200, json!([comment_json(1)])).header("link", &next),
            Canned::json(200, json!([comment_json(2)])),
        ],
    );
    let comments = client
        .list_issue_comments(&repo(), IssueNumber(3))
        .await
        .expect("comments");
    assert_eq!(
        comments.iter().map(|c| c.id.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let pages = fake.requests_to(Method::GET, COMMENTS_PATH);
    assert_eq!(pages[1].query.as_deref(), Some("per_page=100&page=2"));
    assert!(
        pages[1].bearer.is_some(),
        "the next page is authenticated too"
    );

    client
        .remove_label(&repo(), IssueNumber(3), "needs review")
        .await
        .expect("an absent label is fine");
    assert_eq!(
        fake.requests_to(
            Method::DELETE,
            "/repos/octo/widgets/issues/3/labels/needs%20review"
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn check_run_carries_its_output_and_annotations() {
    let (fake, _app, client) = setup().await;
    let path = "/repos/octo/widgets/check-runs";
    fake.script(
        Method::POST,
        path,
        vec![Canned::json(
            201,
            json!({
                "id": 77, "name": "flotilla/verify", "head_sha": "abc123", "status": "completed",
                "conclusion": "failure", "app": { "id": 4242 }
            }),
        )],
    );
    let run = NewCheckRun {
        name: "flotilla/verify".to_owned(),
        head_sha: CommitSha::from("abc123"),
        details_url: None,
        external_id: Some("task-1/attempt-2".to_owned()),
        report: CheckRunUpdate {
            status: Some(CheckStatus::Completed),
            conclusion: Some(CheckConclusion::Failure),
            output: Some(CheckOutput {
                title: "Refuted".to_owned(),
                summary: "1 finding".to_owned(),
                text: None,
                annotations: vec![Annotation {
                    path: "src/lib.rs".to_owned(),
                    start_line: 3,
                    end_line: 4,
                    annotation_level: AnnotationLevel::Failure,
                    message: "Panics on empty input.".to_owned(),
                    title: None,
                }],
            }),
            actions: Vec::new(),
        },
    };
    let id = client
        .create_check_run(&repo(), &run)
        .await
        .expect("check run");
    assert_eq!(id.0, 77);
    assert_eq!(
        fake.requests_to(Method::POST, path)[0].body,
        json!({
            "name": "flotilla/verify", "head_sha": "abc123", "status": "completed",
            "conclusion": "failure", "external_id": "task-1/attempt-2",
            "output": { "title": "Refuted", "summary": "1 finding", "annotations": [{
                "path": "src/lib.rs", "start_line": 3, "end_line": 4,
                "annotation_level": "failure", "message": "Panics on empty input."
            }] }
        })
    );
}

#[tokio::test]
async fn branch_protection_is_sent_with_all_four_keys_and_absent_is_none() {
    let (fake, _app, client) = setup().await;
    let path = "/repos/octo/widgets/branches/release%2F1.0/protection";
    fake.script(Method::PUT, path, vec![Canned::json(200, json!({}))]);
    let protection = BranchProtection {
        strict: true,
        required_checks: vec![RequiredCheck {
            context: "flotilla/verify".to_owned(),
            app_id: Some(AppId(4242)),
        }],
        enforce_admins: false,
        required_pull_request_reviews: None,
        ..BranchProtection::default()
    };
    client
        .put_branch_protection(&repo(), "release/1.0", &protection)
        .await
        .expect("protected");
    assert_eq!(
        fake.requests_to(Method::PUT, path)[0].body,
        json!({
            "required_status_checks": {
                "strict": true, "checks": [{ "context": "flotilla/verify", "app_id": 4242 }]
            },
            "enforce_admins": false,
            "required_pull_request_reviews": null,
            "restrictions": null
        })
    );

    let absent = client
        .get_branch_protection(&repo(), "main")
        .await
        .expect("404 is no protection");
    assert_eq!(absent, None);
}

#[tokio::test]
async fn every_protection_setting_read_is_written_back() {
    let (fake, _app, client) = setup().await;
    let path = "/repos/octo/widgets/branches/main/protection";
    let actors = json!({
        "users": [{ "login": "alice", "id": 1 }],
        "teams": [{ "slug": "core", "id": 2 }],
        "apps": [{ "slug": "ci-app", "id": 3 }]
    });
    fake.script(
        Method::GET,
        path,
        vec![Canned::json(
            200,
            json!({
                "url": "https://api.github.com/repos/octo/widgets/branches/main/protection",
                "required_status_checks": {
                    "strict": true, "contexts": ["ci", "lint"],
                    "checks": [{ "context": "ci", "app_id": 15368 }]
                },
                "enforce_admins": { "enabled": true },
                "required_pull_request_reviews": {
                    "dismissal_restrictions": actors,
                    "dismiss_stale_reviews": true, "require_code_owner_reviews": true,
                    "require_last_push_approval": false, "required_approving_review_count": 2
                },
                "restrictions": actors,
                "required_linear_history": { "enabled": true },
                "allow_force_pushes": { "enabled": false },
                "allow_deletions": { "enabled": false },
                "block_creations": { "enabled": false },
                "required_conversation_resolution": { "enabled": true },
                "lock_branch": { "enabled": false },
                "allow_fork_syncing": { "enabled": false }
            }),
        )],
    );
    fake.script(Method::PUT, path, vec![Canned::json(200, json!({}))]);
    let read = client
        .get_branch_protection(&repo(), "main")
        .await
        .expect("protection read")
        .expect("protection present");
    assert_eq!(
        read.required_checks,
        vec![
            RequiredCheck {
                context: "ci".to_owned(),
                app_id: Some(AppId(15368)),
            },
            RequiredCheck {
                context: "lint".to_owned(),
                app_id: None,
            },
        ],
        "a context without a check entry is kept, bound to no App"
    );
    client
        .put_branch_protection(&repo(), "main", &read)
        .await
        .expect("protection written");
    let names = json!({ "users": ["alice"], "teams": ["core"], "apps": ["ci-app"] });
    assert_eq!(
        fake.requests_to(Method::PUT, path)[0].body,
        json!({
            "required_status_checks": {
                "strict": true,
                "checks": [{ "context": "ci", "app_id": 15368 }, { "context": "lint", "app_id": null }]
            },
            "enforce_admins": true,
            "required_pull_request_reviews": {
                "required_approving_review_count": 2, "dismiss_stale_reviews": true,
                "require_code_owner_reviews": true, "dismissal_restrictions": names
            },
            "restrictions": names,
            "required_linear_history": true,
            "required_conversation_resolution": true
        })
    );
}

#[tokio::test]
async fn check_run_actions_beyond_github_limits_are_refused_before_sending() {
    let (fake, _app, client) = setup().await;
    let action = |label: &str| CheckRunAction {
        label: label.to_owned(),
        description: "Run the reviewers again".to_owned(),
        identifier: "reverify".to_owned(),
    };
    let run = |actions| NewCheckRun {
        name: "flotilla/verify".to_owned(),
        head_sha: CommitSha::from("abc123"),
        details_url: None,
        external_id: None,
        report: CheckRunUpdate {
            status: Some(CheckStatus::InProgress),
            conclusion: None,
            output: None,
            actions,
        },
    };
    for actions in [
        vec![action("Verify again, all lenses")],
        vec![action("a"), action("b"), action("c"), action("d")],
    ] {
        let refused = client
            .create_check_run(&repo(), &run(actions))
            .await
            .expect_err("over GitHub's limits");
        assert!(
            matches!(refused, GithubError::InvalidInput { .. }),
            "{refused}"
        );
    }
    assert!(
        fake.requests_to(Method::POST, "/repos/octo/widgets/check-runs")
            .is_empty()
    );
}
