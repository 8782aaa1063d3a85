//! Flotilla and the GitHub simulator together: what a person does on GitHub reaches
//! Flotilla as a signed, durable delivery, and Flotilla's own client authenticates,
//! clones, pushes, opens a draft pull request, reviews, reports a check and merges
//! under branch protection — all over real HTTP and real git.

use flotilla::github::{
    CheckConclusion, CheckOutput, CheckRunUpdate, CheckStatus, GithubError, MergeMethod,
    MergeOutcome, NewCheckRun, NewPull, NewReview, ReviewComment, ReviewEvent, ReviewSide,
};
use flotilla::sim::{CI_APP_ID, MergeMethod as WebMerge};
use flotilla::store::DeliveryOutcome;
use flotilla::types::IssueNumber;

use crate::support::world::{TestWorld, WORLD_APP_ID};

#[tokio::test]
async fn labelling_an_issue_on_github_reaches_flotilla_as_a_processed_delivery() {
    let world = TestWorld::start().await;
    let issue = world.open_issue("Add a greeting", "- [ ] say hello").await;

    world
        .label_issue_as(issue, "help wanted", &world.writer)
        .await;

    let delivery = world.flotilla_processed("issues", "labeled").await;
    assert_eq!(delivery.outcome, DeliveryOutcome::Processed);
    assert_eq!(delivery.repository.as_ref(), Some(&world.repo));
    let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["label"]["name"], "help wanted");
    assert_eq!(body["sender"]["login"], world.writer.0.as_str());
    world.teardown().await;
}

#[tokio::test]
async fn the_apps_own_comment_comes_back_as_a_webhook_and_is_ignored() {
    let world = TestWorld::start().await;
    let issue = world.open_issue("Anything", "body").await;

    world
        .client()
        .await
        .create_issue_comment(&world.repo, issue, "Flotilla was here")
        .await
        .unwrap();

    let delivery = world.flotilla_processed("issue_comment", "created").await;
    assert_eq!(delivery.outcome, DeliveryOutcome::Ignored);
    assert_eq!(world.bot_comments(issue), ["Flotilla was here"]);
    world.teardown().await;
}

#[tokio::test]
async fn flotillas_client_clones_pushes_opens_a_draft_reviews_checks_and_merges_under_protection() {
    let world = TestWorld::start().await;
    let client = world.client().await;
    let checkout = world.clone_repo("work").await;
    world
        .git(
            &checkout,
            &["checkout", "--quiet", "-b", "flotilla/1-greeting"],
        )
        .await;
    std::fs::write(checkout.join("greeting.txt"), "hello\nworld\n").unwrap();
    world.git(&checkout, &["add", "greeting.txt"]).await;
    world
        .git(&checkout, &["commit", "--quiet", "-m", "Add a greeting"])
        .await;
    world
        .git(
            &checkout,
            &["push", "--quiet", "origin", "flotilla/1-greeting"],
        )
        .await;
    let config = std::fs::read_to_string(checkout.join(".git/config")).unwrap();
    assert!(
        !config.contains("ghs_") && !config.to_lowercase().contains("extraheader"),
        "no token in the clone's git config:\n{config}"
    );

    let pull = client
        .create_pull(
            &world.repo,
            &NewPull {
                title: "Add a greeting".into(),
                head: "flotilla/1-greeting".into(),
                base: "main".into(),
                body: "Part of #1".into(),
                draft: true,
            },
        )
        .await
        .unwrap();
    assert!(pull.draft);
    client
        .create_review(
            &world.repo,
            pull.number,
            &NewReview {
                commit_id: pull.head_sha.clone(),
                body: "correctness: upheld".into(),
                event: ReviewEvent::Comment,
                comments: vec![ReviewComment {
                    path: "greeting.txt".into(),
                    line: 2,
                    side: ReviewSide::Right,
                    body: "second line checked".into(),
                }],
            },
        )
        .await
        .unwrap();
    let own_approval = client
        .create_review(
            &world.repo,
            pull.number,
            &NewReview {
                commit_id: pull.head_sha.clone(),
                body: "LGTM".into(),
                event: ReviewEvent::Approve,
                comments: vec![],
            },
        )
        .await;
    assert!(
        matches!(own_approval, Err(GithubError::Validation { .. })),
        "{own_approval:?}"
    );

    world.require_check_on_main("flotilla/verify", WORLD_APP_ID);
    // The same squash merge, tried again as the pull request's state changes.
    let squash = || {
        client.merge_pull(
            &world.repo,
            pull.number,
            &pull.head_sha,
            MergeMethod::Squash,
        )
    };
    let before_check = squash().await;
    assert!(
        matches!(before_check, Err(GithubError::NotMergeable { .. })),
        "{before_check:?}"
    );

    client
        .create_check_run(
            &world.repo,
            &NewCheckRun {
                name: "flotilla/verify".into(),
                head_sha: pull.head_sha.clone(),
                details_url: None,
                external_id: Some("task-1".into()),
                report: CheckRunUpdate {
                    status: Some(CheckStatus::Completed),
                    conclusion: Some(CheckConclusion::Success),
                    output: Some(CheckOutput {
                        title: "verified".into(),
                        summary: "all lenses upheld".into(),
                        text: None,
                        annotations: vec![],
                    }),
                    actions: Vec::new(),
                },
            },
        )
        .await
        .unwrap();
    let still_draft = squash().await;
    assert!(
        matches!(still_draft, Err(GithubError::NotMergeable { .. })),
        "drafts never merge: {still_draft:?}"
    );
    client.mark_ready_for_review(&pull.node_id).await.unwrap();

    let merged = squash().await.unwrap();

    assert!(matches!(merged, MergeOutcome::Merged { .. }), "{merged:?}");
    assert_eq!(
        world.on_main("greeting.txt").await.as_deref(),
        Some("hello\nworld\n")
    );
    let reviews = world.reviews(pull.number);
    assert_eq!(reviews.len(), 1, "the refused approval left no review");
    assert_eq!(reviews[0].comments[0].1, 2);
    world.flotilla_processed("pull_request", "closed").await;
    world.teardown().await;
}

#[tokio::test]
async fn a_reader_labelling_an_issue_is_delivered_with_the_readers_login() {
    let world = TestWorld::start().await;
    let issue: IssueNumber = world.open_issue("From a reader", "text").await;

    world.label_issue_as(issue, "flotilla", &world.reader).await;

    let delivery = world.flotilla_processed("issues", "labeled").await;
    let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["sender"]["login"], world.reader.0.as_str());
    world.bot_comment_with(issue, "write access").await;
    world.teardown().await;
}

#[tokio::test]
async fn a_command_comment_reaches_flotilla_and_is_answered_on_the_issue() {
    let world = TestWorld::start().await;
    let issue = world.open_issue("Status please", "body").await;

    world.comment(issue, "/flotilla status").await;

    let replies = world.bot_comment_with(issue, "Flotilla has no run").await;
    assert_eq!(replies.len(), 1);
    world.teardown().await;
}

#[tokio::test]
async fn the_repositorys_ci_runs_on_pushed_heads_and_its_required_check_gates_the_merge() {
    let world = TestWorld::start_with_ci(Some("grep -q hello greeting.txt")).await;
    world.require_check_on_main("ci", CI_APP_ID);
    let bad = world
        .writer_pushes("wrong", &[("greeting.txt", "bye\n")], "Wrong")
        .await;
    let good = world
        .writer_pushes("right", &[("greeting.txt", "hello\n")], "Right")
        .await;
    let bad_pr = world
        .sim
        .open_pr(&world.repo, "wrong", "main", "Wrong", false, &world.writer)
        .await
        .unwrap();
    let good_pr = world
        .sim
        .open_pr(&world.repo, "right", "main", "Right", false, &world.writer)
        .await
        .unwrap();

    world.ci_fails(&bad).await;
    world.ci_passes(&good).await;

    let refused = world
        .sim
        .merge_pr(&world.repo, bad_pr, WebMerge::Merge, &world.writer)
        .await;
    assert!(refused.is_err(), "a red required check blocks the merge");
    world
        .sim
        .merge_pr(&world.repo, good_pr, WebMerge::Merge, &world.writer)
        .await
        .unwrap();
    assert_eq!(
        world.on_main("greeting.txt").await.as_deref(),
        Some("hello\n")
    );
    world.teardown().await;
}
