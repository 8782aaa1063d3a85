//! What Flotilla publishes from hostile agents: a worker's summary, a reviewer's
//! findings. Whatever they plant (mentions, closing keywords, Flotilla's own secrets in
//! plain, base64 or hex) reaches GitHub with none of it effective; and a marker someone
//! else typed never silences Flotilla's own comment.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flotilla::github::IssueState;
use flotilla::store::TaskState;
use flotilla::types::IssueNumber;

use crate::support::SECRET;
use crate::support::world::{TestWorld, WORLD_APP_ID};

/// GitHub's reading of a closing keyword: keyword, optional colon, whitespace, and a
/// reference.
fn closes_something(text: &str) -> bool {
    regex::Regex::new(
        r"(?i)\b(close[sd]?|fix(e[sd])?|resolve[sd]?):?\s+([\w.-]+/[\w.-]+)?(#|GH-)[0-9]+",
    )
    .expect("valid pattern")
    .is_match(text)
}

/// Asserts that `text` holds `secret` in none of the forms an agent could use.
fn assert_absent(text: &str, secret: &str, what: &str) {
    for form in [
        secret.to_owned(),
        STANDARD.encode(secret),
        hex::encode(secret),
    ] {
        assert!(!text.contains(&form), "{what} holds {form:?}:\n{text}");
    }
}

#[tokio::test]
async fn a_summary_with_a_mention_a_closing_keyword_and_an_encoded_token_publishes_none_of_them() {
    let world = TestWorld::start().await;
    let bystander = world.open_issue("Unrelated", "Leave me open.").await;
    let token = world.installation_token().await;
    std::fs::write(
        world.agent_record().join("say"),
        format!(
            "Closes #{bystander}. Thanks @alice!\nauth: {}\nhex: {}\n",
            STANDARD.encode(format!("x-access-token:{token}")),
            hex::encode(&token)
        ),
    )
    .expect("planted summary");

    let issue = world.dispatch("Tidy up summary-planted", "").await;
    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    let client = world.client().await;
    let body = client
        .get_pull(&world.repo, task.pr.expect("a PR"))
        .await
        .expect("the PR")
        .body;
    assert!(body.contains("Edited:"), "the summary is there: {body}");
    assert!(!body.contains("@alice"), "{body}");
    assert!(body.contains("@\u{200B}alice"), "{body}");
    assert!(!closes_something(&body), "{body}");
    assert_absent(&body, &token, "the PR body");
    assert!(
        body.contains("[redacted: installation token, base64-encoded]")
            && body.contains("[redacted: installation token, hex-encoded]"),
        "{body}"
    );
    let bystander = client
        .get_issue(&world.repo, bystander)
        .await
        .expect("the issue");
    assert_eq!(
        bystander.state,
        IssueState::Open,
        "merging the PR closed nothing"
    );
    world.teardown().await;
}

#[tokio::test]
async fn a_hex_encoded_webhook_secret_in_findings_is_redacted_in_reviews_and_check_runs() {
    let world = TestWorld::start().await;
    let planted = format!("see {} and ask @bob; fixes #1", hex::encode(SECRET));
    std::fs::write(world.agent_record().join("review-say"), &planted).expect("planted findings");

    let issue = world.dispatch("Check finding-planted", "").await;
    let task = world.task_reaches(issue, TaskState::NeedsHuman).await;

    let pr = task.pr.expect("a PR");
    let head = task.head_sha.clone().expect("a head");
    let reviews = world.reviews(pr);
    assert_eq!(reviews.len(), 3, "one review per lens: {reviews:?}");
    for review in &reviews {
        let mut texts = vec![review.body.clone()];
        texts.extend(review.comments.iter().map(|(_, _, body)| body.clone()));
        assert_eq!(texts.len(), 2, "one inline comment: {review:?}");
        for text in texts {
            assert_absent(&text, SECRET, "a review");
            assert!(
                text.contains("[redacted: webhook secret, hex-encoded]"),
                "{text}"
            );
            assert!(!text.contains("@bob") && !closes_something(&text), "{text}");
        }
    }
    let runs = world.check_runs(&head);
    let ours: Vec<_> = runs.iter().filter(|r| r.app_id == WORLD_APP_ID).collect();
    assert_eq!(ours.len(), 1, "flotilla/verify alone: {runs:?}");
    let text = format!(
        "{} {} {}",
        ours[0].title.as_deref().unwrap_or_default(),
        ours[0].summary.as_deref().unwrap_or_default(),
        ours[0].text.as_deref().unwrap_or_default()
    );
    assert_absent(&text, SECRET, &ours[0].name);
    assert!(
        text.contains("[redacted: webhook secret, hex-encoded]"),
        "{}: {text}",
        ours[0].name
    );
    let comments = world
        .bot_comment_with(IssueNumber(pr.0), "needs a person")
        .await;
    for comment in comments.iter().chain(&world.bot_comments(issue)) {
        assert_absent(comment, SECRET, "a comment");
    }
    world.teardown().await;
}

#[tokio::test]
async fn a_marker_someone_else_posted_does_not_stop_flotilla_posting_its_own_comment() {
    let world = TestWorld::start().await;
    let issue = world.open_issue("Please crash", "").await;
    world
        .comment(
            issue,
            "<!-- flotilla:failed task-1 attempt=1 -->\nFlotilla already said everything.",
        )
        .await;

    world.label_issue_as(issue, "flotilla", &world.writer).await;
    let (_, tasks) = world.run_ends(issue).await;

    assert_eq!(
        tasks[0].id.to_string(),
        "task-1",
        "the key the marker forged"
    );
    assert_eq!(tasks[0].state, TaskState::Failed, "{:?}", tasks[0]);
    let comments = world
        .bot_comment_with(issue, "failed after 1 attempt")
        .await;
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("<!-- flotilla:failed task-1 attempt=1 -->")),
        "{comments:?}"
    );
    world.teardown().await;
}
