//! Reconciliation after downtime: a person acts on GitHub while Flotilla hears nothing
//! (the App's webhook is inactive, so no delivery exists that recovery could ask for
//! again), then one reconciliation pass compares the live run with GitHub, repairs the
//! store through the handlers' own functions, says once on the issue what it did, and
//! a second pass changes nothing. The live `pull_request.closed` handling it mirrors,
//! and the trigger label it leaves alone, are shown here too.

use flotilla::github::{CheckRunUpdate, CheckStatus, NewCheckRun};
use flotilla::review::VERIFY_CHECK;
use flotilla::sim::MergeMethod;
use flotilla::store::{RunState, TaskRecord, TaskState};
use flotilla::types::{CommitSha, IssueNumber};

use crate::support::wait_for;
use crate::support::world::{TestWorld, WORLD_APP_ID};

/// What the comment about a reconciliation starts with.
const CAUGHT_UP: &str = "Flotilla caught up with changes made on GitHub";

/// A person does `act` on GitHub while Flotilla hears nothing: the App's webhook is
/// unticked meanwhile, so GitHub keeps no delivery that recovery could ask for again.
/// Then one reconciliation pass runs, which must repair `repairs` runs; returns what
/// `act` returned.
async fn reconciled_after_away<T>(
    world: &TestWorld,
    act: impl Future<Output = T>,
    repairs: usize,
) -> T {
    world
        .sim
        .set_webhook_active(WORLD_APP_ID, false)
        .expect("webhook unticked");
    let done = act.await;
    world
        .sim
        .set_webhook_active(WORLD_APP_ID, true)
        .expect("webhook ticked");
    assert_eq!(world.flotilla.reconcile().await, repairs);
    done
}

/// The bot's comments on `issue` that report a reconciliation.
fn caught_up_comments(world: &TestWorld, issue: IssueNumber) -> Vec<String> {
    world
        .bot_comments(issue)
        .into_iter()
        .filter(|c| c.contains(CAUGHT_UP))
        .collect()
}

/// Starts a world whose one task, adding `file`, waits for a person's approval: the
/// live run every scenario here acts on behind Flotilla's back.
async fn awaiting_approval(file: &str) -> (TestWorld, IssueNumber, TaskRecord) {
    let world = TestWorld::start().await;
    let (issue, task) = world.task_awaits_approval("Reconcile me", file).await;
    (world, issue, task)
}

/// Asserts the bot reported exactly one reconciliation on `issue` and that it says
/// `saying`.
fn caught_up_once(world: &TestWorld, issue: IssueNumber, saying: &str) {
    let said = caught_up_comments(world, issue);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains(saying), "{}", said[0]);
}

/// Waits for the run of `issue` to end, asserts it settled with its first task in
/// `state`, and returns that task.
async fn run_settles_with(world: &TestWorld, issue: IssueNumber, state: TaskState) -> TaskRecord {
    let (run, mut tasks) = world.run_ends(issue).await;
    assert_eq!(run.state, RunState::Settled);
    assert_eq!(tasks[0].state, state);
    tasks.remove(0)
}

/// Runs a second reconciliation pass and asserts it repaired nothing and said nothing
/// more: the one comment about the first pass stays the only one.
async fn second_pass_changes_nothing(world: &TestWorld, issue: IssueNumber) {
    assert_eq!(
        world.flotilla.reconcile().await,
        0,
        "nothing left to repair"
    );
    assert_eq!(
        caught_up_comments(world, issue).len(),
        1,
        "no second comment"
    );
}

/// The completed `flotilla/verify` check runs on `head`, by conclusion.
fn verify_conclusions(world: &TestWorld, head: &CommitSha) -> Vec<Option<String>> {
    world
        .check_runs(head)
        .into_iter()
        .filter(|c| c.name == VERIFY_CHECK && c.app_id == WORLD_APP_ID)
        .map(|c| c.conclusion)
        .collect()
}

#[tokio::test]
async fn a_push_made_while_away_is_verified_once_and_a_second_pass_changes_nothing() {
    let (world, issue, task) = awaiting_approval("pushed.txt").await;
    let pr = task.pr.expect("the task has a pull request");

    let pushed = reconciled_after_away(
        &world,
        world.writer_pushes(
            &task.branch,
            &[("pushed-too.txt", "a person's addition\n")],
            "A person adds a file",
        ),
        1,
    )
    .await;
    wait_for("the pushed head to be verified", || async {
        let task = world.flotilla.store.task(task.id).await.unwrap()?;
        (task.head_sha.as_ref() == Some(&pushed) && task.state == TaskState::Ready).then_some(())
    })
    .await;
    assert_eq!(
        verify_conclusions(&world, &pushed),
        vec![Some("success".to_owned())],
        "one flotilla/verify on the pushed head"
    );
    caught_up_once(
        &world,
        issue,
        &format!("was pushed to #{pr}; it is being verified"),
    );

    second_pass_changes_nothing(&world, issue).await;
    assert_eq!(
        verify_conclusions(&world, &pushed).len(),
        1,
        "no second verification"
    );
    world.teardown().await;
}

#[tokio::test]
async fn a_pull_request_merged_by_a_person_while_away_is_recorded_as_flotilla_would() {
    let (world, issue, task) = awaiting_approval("merged.txt").await;
    let pr = task.pr.expect("the task has a pull request");

    let merged = reconciled_after_away(
        &world,
        world
            .sim
            .merge_pr(&world.repo, pr, MergeMethod::Merge, &world.writer),
        1,
    )
    .await
    .unwrap();
    let task = run_settles_with(&world, issue, TaskState::Merged).await;
    assert_eq!(task.merged_sha.as_ref(), Some(&merged));
    caught_up_once(
        &world,
        issue,
        &format!("pull request #{pr} was merged; the merge is recorded"),
    );
    world.bot_comment_with(issue, "| merged |").await;

    // The run is no longer live, so the second pass has nothing to look at.
    second_pass_changes_nothing(&world, issue).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_pull_request_closed_while_away_fails_its_task_with_the_reason_in_the_plan() {
    let (world, issue, task) = awaiting_approval("closed.txt").await;
    let pr = task.pr.expect("the task has a pull request");

    reconciled_after_away(
        &world,
        world.sim.close_pr(&world.repo, pr, &world.writer),
        1,
    )
    .await
    .unwrap();
    let task = run_settles_with(&world, issue, TaskState::Failed).await;
    let reason = format!("pull request #{pr} was closed without merging");
    assert_eq!(task.last_reason.as_deref(), Some(reason.as_str()));
    world
        .bot_comment_with(issue, &format!("| failed: {reason} |"))
        .await;
    assert_eq!(caught_up_comments(&world, issue).len(), 1);

    second_pass_changes_nothing(&world, issue).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_branch_deleted_while_away_fails_its_task_saying_so() {
    let (world, issue, task) = awaiting_approval("deleted.txt").await;

    reconciled_after_away(
        &world,
        world
            .sim
            .delete_branch(&world.repo, &task.branch, &world.writer),
        1,
    )
    .await
    .unwrap();
    let failed = world.sole_task_ends(issue, TaskState::Failed).await;
    assert!(
        failed
            .last_reason
            .as_deref()
            .is_some_and(|r| r.contains(&format!("branch `{}` was deleted", task.branch))),
        "{:?}",
        failed.last_reason
    );
    caught_up_once(&world, issue, "was deleted");
    world.teardown().await;
}

#[tokio::test]
async fn a_check_run_a_crash_left_in_progress_is_closed_and_its_head_verified_again() {
    let (world, issue, task) = awaiting_approval("interrupted.txt").await;
    let head = task.head_sha.clone().expect("the task has a head");
    // What a crash mid-verification leaves: the check shown in progress, the task
    // verifying, and no job that will finish either.
    let left = world
        .client()
        .await
        .create_check_run(
            &world.repo,
            &NewCheckRun {
                name: VERIFY_CHECK.to_owned(),
                head_sha: head.clone(),
                details_url: None,
                external_id: Some(task.id.to_string()),
                report: CheckRunUpdate {
                    status: Some(CheckStatus::InProgress),
                    conclusion: None,
                    output: None,
                    actions: Vec::new(),
                },
            },
        )
        .await
        .unwrap();
    for (from, to) in [
        (TaskState::Ready, TaskState::Proposed),
        (TaskState::Proposed, TaskState::Verifying),
    ] {
        assert!(
            world
                .flotilla
                .store
                .move_task(task.id, &head, &[from], to, None)
                .await
                .unwrap()
        );
    }

    assert_eq!(world.flotilla.reconcile().await, 1);
    let closed = world
        .check_runs(&head)
        .into_iter()
        .find(|c| c.id == left.0)
        .expect("the check run is still there");
    assert_eq!(closed.status, "completed");
    assert_eq!(closed.conclusion.as_deref(), Some("cancelled"));
    let newest = wait_for("a new flotilla/verify to report the head", || async {
        world
            .check_runs(&head)
            .into_iter()
            .filter(|c| c.name == VERIFY_CHECK && c.id > left.0 && c.status == "completed")
            .max_by_key(|c| c.id)
    })
    .await;
    assert_eq!(newest.conclusion.as_deref(), Some("success"));
    wait_for("the task to hold its verdict again", || async {
        let task = world.flotilla.store.task(task.id).await.unwrap()?;
        matches!(task.state, TaskState::Verified | TaskState::Ready).then_some(())
    })
    .await;
    caught_up_once(&world, issue, "verified again");

    second_pass_changes_nothing(&world, issue).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_pull_request_closed_while_listening_fails_its_task_naming_who_closed_it() {
    let (world, issue, task) = awaiting_approval("closed-live.txt").await;
    let pr = task.pr.expect("the task has a pull request");

    world
        .sim
        .close_pr(&world.repo, pr, &world.writer)
        .await
        .unwrap();

    let failed = world.sole_task_ends(issue, TaskState::Failed).await;
    let reason = format!(
        "pull request #{pr} was closed without merging by @{}",
        world.writer
    );
    assert_eq!(failed.last_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(
        world.flotilla.reconcile().await,
        0,
        "nothing left to repair"
    );
    assert!(caught_up_comments(&world, issue).is_empty());
    world.teardown().await;
}

#[tokio::test]
async fn a_trigger_label_removed_while_away_leaves_the_run_going_as_it_does_live() {
    let (world, issue, task) = awaiting_approval("unlabelled.txt").await;

    reconciled_after_away(
        &world,
        world
            .sim
            .unlabel_issue(&world.repo, issue.0, "flotilla", &world.writer),
        0,
    )
    .await
    .unwrap();
    let now = world.flotilla.store.task(task.id).await.unwrap().unwrap();
    assert_eq!(now.state, TaskState::Ready);
    assert!(caught_up_comments(&world, issue).is_empty());
    world.teardown().await;
}
