//! What a merged task costs GitHub: GitHub limits an App to about 80 content-creating
//! requests a minute and 500 an hour, so the writes per merged task, not the hardware,
//! cap how many tasks the fleet lands. Counted by the simulator, route by route.

use flotilla::sim::{CallCounts, Protection};
use flotilla::store::TaskRecord;
use flotilla::types::IssueNumber;

use crate::support::world::{TestWorld, WORLD_APP_ID, required};

/// Content-creating requests (POST, PATCH, PUT, DELETE, GraphQL mutations) a merged
/// task may cost, everything the run does included.
const WRITES_PER_MERGED_TASK: u64 = 8;

/// API calls of any kind a merged task may cost.
const CALLS_PER_MERGED_TASK: u64 = 15;

/// A run whose every task merged, and what it cost GitHub.
struct MergedRun {
    issue: IssueNumber,
    tasks: Vec<TaskRecord>,
    /// How many tasks merged.
    merged: u64,
    /// Every call the run made, by route.
    spent: CallCounts,
}

/// Dispatches `body` as issue `title`, waits until every task merged (asserted), and
/// checks the GitHub writes the run spent stayed within [`WRITES_PER_MERGED_TASK`] each.
async fn every_task_merges(world: &TestWorld, title: &str, body: &str) -> MergedRun {
    let before = world.sim.call_counts();
    let issue = world.dispatch(title, body).await;
    let tasks = world.every_task_merges(issue).await;
    let merged = u64::try_from(tasks.len()).expect("a few tasks");
    let spent = world.github_calls_since(&before).await;
    assert!(
        spent.writes() <= WRITES_PER_MERGED_TASK * merged,
        "{} writes for {merged} merged tasks (at most {WRITES_PER_MERGED_TASK} each); by route:\n{}",
        spent.writes(),
        spent.breakdown()
    );
    MergedRun {
        issue,
        tasks,
        merged,
        spent,
    }
}

#[tokio::test]
async fn a_three_task_issue_merges_within_eight_writes_and_fifteen_calls_per_task() {
    let world = TestWorld::start().await;
    let run = every_task_merges(
        &world,
        "Spring cleaning",
        "- [ ] Add `src/alpha.txt`\n- [ ] Add `src/beta.txt`\n- [ ] Write `docs/gamma.md`\n",
    )
    .await;

    assert!(
        run.spent.total() <= CALLS_PER_MERGED_TASK * run.merged,
        "{} calls for {} merged tasks (at most {CALLS_PER_MERGED_TASK} each); by route:\n{}",
        run.spent.total(),
        run.merged,
        run.spent.breakdown()
    );
    let comments = world.bot_comments(run.issue);
    assert_eq!(
        comments.len(),
        2,
        "the plan, edited in place, and the summary: {comments:?}"
    );
    assert_eq!(
        comments[0].matches("| merged |").count(),
        3,
        "the plan's last edit shows the final state: {}",
        comments[0]
    );
    world.teardown().await;
}

#[tokio::test]
async fn behind_a_strict_base_tasks_are_brought_up_to_date_one_at_a_time_within_eight_writes_each()
{
    let world = TestWorld::start().await;
    world.protect_main(Protection {
        required_checks: Some(vec![required("flotilla/verify", WORLD_APP_ID)]),
        strict: true,
        ..Protection::default()
    });
    let run = every_task_merges(
        &world,
        "Three at once",
        "- [ ] Add `src/one.txt`\n- [ ] Add `src/two.txt`\n- [ ] Add `src/three.txt`\n",
    )
    .await;

    let updates = run
        .spent
        .by_route
        .get("PUT /repos/{owner}/{repo}/pulls/{number}/update-branch")
        .copied()
        .unwrap_or(0);
    assert!(
        updates < run.merged,
        "one task at a time is brought up to date to land, each at most once: {updates} \
         update-branch calls for {} tasks; by route:\n{}",
        run.merged,
        run.spent.breakdown()
    );
    let lens_runs: usize = run
        .tasks
        .iter()
        .map(|t| world.reviewer_runs(t.id).len())
        .sum();
    assert_eq!(
        lens_runs,
        3 * run.tasks.len(),
        "each lens judged each change once; base updates carried the verdicts"
    );
    world.teardown().await;
}
