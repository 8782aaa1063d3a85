//! What a merged task costs GitHub: GitHub limits an App to about 80 content-creating
//! requests a minute and 500 an hour, so the writes per merged task, not the hardware,
//! cap how many tasks the fleet lands. Counted by the simulator, route by route.

use flotilla::store::TaskState;

use crate::support::world::TestWorld;

/// Content-creating requests (POST, PATCH, PUT, DELETE, GraphQL mutations) a merged
/// task may cost, everything the run does included.
const WRITES_PER_MERGED_TASK: u64 = 8;

/// API calls of any kind a merged task may cost.
const CALLS_PER_MERGED_TASK: u64 = 15;

#[tokio::test]
async fn a_three_task_issue_merges_within_eight_writes_and_fifteen_calls_per_task() {
    let world = TestWorld::start().await;
    let before = world.sim.call_counts();
    let issue = world
        .dispatch(
            "Spring cleaning",
            "- [ ] Add `src/alpha.txt`\n- [ ] Add `src/beta.txt`\n- [ ] Write `docs/gamma.md`\n",
        )
        .await;

    let (_, tasks) = world.run_ends(issue).await;

    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "{tasks:?}"
    );
    let merged = u64::try_from(tasks.len()).expect("a few tasks");
    let spent = world.github_calls_since(&before).await;
    assert!(
        spent.writes() <= WRITES_PER_MERGED_TASK * merged,
        "{} writes for {merged} merged tasks (at most {WRITES_PER_MERGED_TASK} each); by route:\n{}",
        spent.writes(),
        spent.breakdown()
    );
    assert!(
        spent.total() <= CALLS_PER_MERGED_TASK * merged,
        "{} calls for {merged} merged tasks (at most {CALLS_PER_MERGED_TASK} each); by route:\n{}",
        spent.total(),
        spent.breakdown()
    );
    let comments = world.bot_comments(issue);
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
