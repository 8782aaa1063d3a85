//! Landing is bound to what was verified: auto-merge only where the App can read that
//! `flotilla/verify` is required, a REST merge of the verified sha otherwise, auto-merge
//! switched off the moment an unverified head appears, a human approval that Flotilla
//! checks itself, configured checks bound to an App, and a push GitHub refuses failing
//! the attempt with GitHub's reason.

use flotilla::sim::{DeliveryView, Protection};
use flotilla::store::{TaskRecord, TaskState};
use flotilla::types::{AppId, CommitSha, InstallationId, IssueNumber, Login};
use serde_json::json;

use crate::support::world::{TestWorld, WORLD_APP_ID};
use crate::support::{fixture_path, post_as_installation, wait_for};

/// Whether the simulator sent `pull_request.<action>` for `pr`.
fn announced(world: &TestWorld, action: &str) -> usize {
    world
        .sim
        .deliveries()
        .iter()
        .filter(|d| d.event == "pull_request" && d.action.as_deref() == Some(action))
        .count()
}

/// Flotilla's own `flotilla/verify` conclusion on `sha`.
fn verify_conclusion(world: &TestWorld, sha: &CommitSha) -> Option<String> {
    world
        .flotilla_check(sha, "flotilla/verify")
        .and_then(|c| c.conclusion)
}

/// Waits until the issue's task is `state` with head `head`.
async fn task_at(
    world: &TestWorld,
    issue: IssueNumber,
    state: TaskState,
    head: &CommitSha,
) -> TaskRecord {
    wait_for(
        &format!("the task of #{issue} to be {} at {head}", state.as_str()),
        || async {
            world
                .latest_tasks(issue)
                .await?
                .into_iter()
                .find(|t| t.state == state && t.head_sha.as_ref() == Some(head))
        },
    )
    .await
}

/// An admin's classic protection of `main` requiring one approval: GitHub blocks the
/// merge, but the App (without `administration`) cannot read why.
fn require_an_approval(world: &TestWorld) {
    world.protect_main(Protection {
        required_approvals: Some(1),
        ..Protection::default()
    });
}

/// Asserts that the merge `merged` carries `path` exactly as `head` has it: the head
/// that landed is `head` (the merge method squashes, so `head` is no parent).
async fn landed(world: &TestWorld, merged: &CommitSha, head: &CommitSha, path: &str) {
    let at_head = world.sim.file_at(&world.repo, &head.0, path).await;
    assert!(at_head.is_some(), "{path} at {head}");
    assert_eq!(
        world.sim.file_at(&world.repo, &merged.0, path).await,
        at_head
    );
}

/// The delivery of the review `id`.
fn review(id: u64) -> impl Fn(&DeliveryView) -> bool {
    move |d| d.event == "pull_request_review" && d.payload["review"]["id"] == id
}

#[tokio::test]
async fn with_a_ruleset_requiring_flotilla_verify_it_uses_auto_merge() {
    let world = TestWorld::start().await;
    world.require_verify_by_ruleset();
    require_an_approval(&world);
    let issue = world.dispatch("Ruled", "- [ ] Add `ruled.txt`\n").await;

    let task = world.task_reaches(issue, TaskState::Ready).await;
    let pr = task.pr.unwrap();
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(view.auto_merge && !view.merged, "{view:?}");
    assert_eq!(announced(&world, "auto_merge_enabled"), 1);
    world.writer_approves(pr).await;

    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    landed(
        &world,
        task.merged_sha.as_ref().unwrap(),
        &view.head_sha,
        "ruled.txt",
    )
    .await;
    world.teardown().await;
}

#[tokio::test]
async fn without_readable_protection_flotilla_merges_by_rest_with_the_verified_sha_and_never_enables_auto_merge()
 {
    let world = TestWorld::start().await;
    // Classic protection only: the App lacks `administration: read`, so it cannot see
    // that flotilla/verify is required.
    world.require_check_on_main("flotilla/verify", WORLD_APP_ID);
    let issue = world.dispatch("Plain", "- [ ] Add `plain.txt`\n").await;

    let task = &world.sole_task_ends(issue, TaskState::Merged).await;
    assert_eq!(
        announced(&world, "auto_merge_enabled"),
        0,
        "auto-merge never enabled"
    );
    let calls = world.sim.api_calls();
    assert_eq!(
        calls.get("PUT /repos/{owner}/{repo}/pulls/{number}/merge"),
        Some(&1),
        "{calls:?}"
    );
    assert!(
        calls.contains_key("GET /repos/{owner}/{repo}/branches/{branch}/protection")
            && calls.contains_key("GET /repos/{owner}/{repo}/rules/branches/{branch}"),
        "it looked for the requirement: {calls:?}"
    );
    let head = task.head_sha.clone().unwrap();
    assert_eq!(verify_conclusion(&world, &head).as_deref(), Some("success"));
    landed(
        &world,
        task.merged_sha.as_ref().unwrap(),
        &head,
        "plain.txt",
    )
    .await;
    world.teardown().await;
}

#[tokio::test]
async fn a_persons_push_after_verification_disables_auto_merge_and_nothing_merges_until_that_head_is_verified()
 {
    let world = TestWorld::start().await;
    world.require_verify_by_ruleset();
    require_an_approval(&world);
    let issue = world.dispatch("Pushed", "- [ ] Add `pushed.txt`\n").await;
    let task = world.task_reaches(issue, TaskState::Ready).await;
    let pr = task.pr.unwrap();
    let verified = task.head_sha.clone().unwrap();
    assert!(world.sim.pull(&world.repo, pr).unwrap().auto_merge);

    let pushed = world
        .writer_pushes(
            &task.branch,
            &[("by-hand.txt", "a person's addition\n")],
            "A person adds a file",
        )
        .await;
    wait_for("auto-merge to be disabled", || async {
        (announced(&world, "auto_merge_disabled") == 1).then_some(())
    })
    .await;
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(!view.merged, "the unverified head did not merge: {view:?}");
    assert_eq!(view.head_sha, pushed);

    task_at(&world, issue, TaskState::Ready, &pushed).await;
    assert_eq!(
        verify_conclusion(&world, &pushed).as_deref(),
        Some("success")
    );
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(
        view.auto_merge && !view.merged,
        "auto-merge again, for the verified new head: {view:?}"
    );
    assert_eq!(announced(&world, "auto_merge_enabled"), 2);
    world.writer_approves(pr).await;

    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    landed(
        &world,
        task.merged_sha.as_ref().unwrap(),
        &pushed,
        "by-hand.txt",
    )
    .await;
    assert_ne!(verified, pushed);
    world.teardown().await;
}

#[tokio::test]
async fn human_approval_of_an_older_head_or_by_a_bot_does_not_count_and_a_writers_approval_of_the_head_lands()
 {
    let world = TestWorld::start().await;
    let (issue, task) = world.task_awaits_approval("Careful", "careful.txt").await;
    let pr = task.pr.unwrap();
    let older = task.head_sha.clone().unwrap();
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(!view.auto_merge && !view.merged, "{view:?}");
    let head = world
        .writer_pushes(
            &task.branch,
            &[("careful-too.txt", "one more line\n")],
            "A person adds a file",
        )
        .await;
    let task = task_at(&world, issue, TaskState::Ready, &head).await;

    let stale = world
        .sim
        .approve_commit(&world.repo, pr, &older, &world.writer)
        .await
        .unwrap();
    world.landing_tried(&task, &head, review(stale)).await;
    assert!(
        !world.sim.pull(&world.repo, pr).unwrap().merged,
        "an older head's approval"
    );

    let bot = Login::from("github-actions[bot]");
    world
        .sim
        .set_permission(&world.repo, &bot, "write")
        .unwrap();
    let by_bot = world.sim.approve_pr(&world.repo, pr, &bot).await.unwrap();
    world.landing_tried(&task, &head, review(by_bot)).await;
    assert!(
        !world.sim.pull(&world.repo, pr).unwrap().merged,
        "a bot's approval"
    );

    world.writer_approves(pr).await;
    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    landed(
        &world,
        task.merged_sha.as_ref().unwrap(),
        &head,
        "careful-too.txt",
    )
    .await;
    world.teardown().await;
}

#[tokio::test]
async fn a_required_check_bound_to_another_app_is_not_satisfied_by_a_same_named_check_from_a_different_app()
 {
    let gate = tempfile::TempDir::new().unwrap();
    let release = gate.path().join("go");
    let ci = format!("while [ ! -e {} ]; do sleep 0.1; done", release.display());
    let world = TestWorld::start_with_ci(Some(&ci)).await;
    world
        .set_repo_config(
            &world.scripted_config("landing:\n  required_checks: [ci@github-actions]\n"),
        )
        .await;
    let impostor = InstallationId(3004);
    let public_key = std::fs::read_to_string(fixture_path("keys/test-app.pub.pem")).unwrap();
    world
        .sim
        .install_app(AppId(1003), "impostor", &public_key, impostor, &world.repo)
        .unwrap();
    let issue = world.dispatch("Bound", "- [ ] Add `bound.txt`\n").await;
    let task = world.task_reaches(issue, TaskState::Verified).await;
    let head = task.head_sha.clone().unwrap();

    let response = post_as_installation(
        &world.sim,
        impostor,
        &world.repo,
        "/check-runs",
        json!({"name": "ci", "head_sha": head, "status": "completed", "conclusion": "success"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let run: serde_json::Value = response.json().await.unwrap();
    world
        .landing_tried(&task, &head, |d| {
            d.event == "check_run"
                && d.action.as_deref() == Some("completed")
                && d.payload["check_run"]["id"] == run["id"]
        })
        .await;
    let task = world.flotilla.store.task(task.id).await.unwrap().unwrap();
    assert_eq!(
        task.state,
        TaskState::Verified,
        "still waiting for CI's own `ci`"
    );
    assert!(
        !world
            .sim
            .pull(&world.repo, task.pr.unwrap())
            .unwrap()
            .merged
    );

    std::fs::write(&release, "").unwrap();
    world.ci_passes(&head).await;
    world.sole_task_ends(issue, TaskState::Merged).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_push_touching_workflows_is_refused_without_the_permission_and_the_task_fails_with_that_reason_once()
 {
    let world = TestWorld::start().await;
    let issue = world
        .dispatch("Workflow", "- [ ] Add `.github/workflows/x.yml`\n")
        .await;

    let task = world.sole_task_ends(issue, TaskState::Failed).await;
    let reason = task.last_reason.clone().unwrap_or_default();
    assert!(
        reason.contains(
            "refusing to allow a GitHub App to create or update workflow \
             `.github/workflows/x.yml` without `workflows` permission"
        ),
        "{reason}"
    );
    assert_eq!(task.attempts, 1, "one attempt, not a retry loop");
    assert!(
        world.sim.pulls(&world.repo).is_empty(),
        "nothing was proposed"
    );
    let comments = world.bot_comments(issue);
    assert!(
        comments
            .iter()
            .any(|c| c.contains("without `workflows` permission")),
        "{comments:?}"
    );
    world.teardown().await;
}
