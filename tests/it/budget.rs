//! Budgets end to end on the simulator: a run whose budget is spent starts no agent,
//! says so once on the issue with the figures, and resumes when a writer raises the
//! budget and comments `/flotilla retry`. (An agent stopped mid-run at its cap, which
//! needs a CLI that streams its usage, is in `real_cli`.)

use flotilla::store::{RunState, TaskState};

use crate::support::wait_for;
use crate::support::world::TestWorld;

#[tokio::test]
async fn a_spent_run_budget_starts_no_agent_and_a_writers_retry_after_raising_it_merges_the_task() {
    let world = TestWorld::start().await;
    world
        .set_repo_config(&world.scripted_config("budget:\n  run:\n    tokens: 0\n"))
        .await;
    let issue = world
        .dispatch("Budgeted", "- [ ] Add `budgeted.txt`\n")
        .await;

    let notice = world.budget_stop_notice(issue).await;
    assert!(
        notice.contains("the run's budget of 0 tokens is spent")
            && notice.contains("$0.00 (0 tokens)")
            && notice.contains("/flotilla retry"),
        "the figures and the way on: {notice}"
    );
    let run = world.latest_run(issue).await.unwrap();
    assert!(run.budget_stopped.is_some(), "{run:?}");
    let task = wait_for(
        "the stopped attempt to put its task back in the queue",
        || async {
            let tasks = world.flotilla.store.tasks_of_run(run.id).await.unwrap();
            tasks
                .into_iter()
                .find(|t| t.state == TaskState::Queued && t.last_reason.is_some())
        },
    )
    .await;
    assert_eq!(
        (task.attempts, task.max_attempts),
        (1, 2),
        "a stopped attempt gives its attempt back"
    );
    assert!(
        task.last_reason.as_deref().unwrap().contains("0 tokens"),
        "{task:?}"
    );
    assert!(
        !world
            .agent_record()
            .join(format!("prompt-{}", task.id))
            .exists(),
        "no worker ran"
    );

    world.comment(issue, "/flotilla budget").await;
    let report = world.bot_comment_with(issue, "Spend of the run").await;
    let report = report
        .iter()
        .find(|c| c.contains("Spend of the run"))
        .unwrap();
    assert!(
        report.contains("| Run | 0 tokens | $0.00 (0 tokens) | 0 tokens |")
            && report.contains("Installation today (UTC) | no limit")
            && report.contains("stopped by its budget"),
        "{report}"
    );

    world.comment(issue, "/flotilla retry").await;
    let refused = world.bot_comment_with(issue, "not resumed").await;
    assert!(
        refused
            .iter()
            .any(|c| c.contains("not resumed: the run's budget of 0 tokens is spent")),
        "retry without a raised budget does not resume: {refused:?}"
    );

    world
        .set_repo_config(&world.scripted_config("budget:\n  run:\n    usd: 5\n"))
        .await;
    world.comment(issue, "/flotilla retry").await;
    world
        .bot_comment_with(issue, "resumed under the raised budget")
        .await;
    let (run, tasks) = world.run_ends(issue).await;
    assert_eq!(run.state, RunState::Settled);
    assert_eq!(tasks[0].state, TaskState::Merged, "{:?}", tasks[0]);
    assert_eq!(tasks[0].attempts, 2);
    let plan = world.bot_comment_with(issue, "| Cost |").await;
    assert!(
        plan.iter()
            .any(|c| c.contains("Flotilla plan") && c.contains("Spent so far: $0.00 (0 tokens)")),
        "{plan:?}"
    );
    world.budget_stop_said_once(issue);
    wait_for("the usage of every agent run to be recorded", || async {
        let spent = world.flotilla.store.spend_of_run(run.id).await.unwrap();
        (spent.tokens.total() == 0 && spent.unpriced_runs == 0).then_some(())
    })
    .await;
    world.teardown().await;
}
