//! Transient GitHub errors never cost a task: a step whose GitHub call failed is tried
//! again where it failed, and work already pushed is proposed without running the agent
//! again (which would find nothing left to do: "the agent made no change").

use flotilla::sim::{Fault, FaultKind};
use flotilla::store::{RunState, TaskState};
use flotilla::types::IssueNumber;

use crate::support::world::TestWorld;

/// A fault on the next `times` calls of `method route`.
fn fault(method: &str, route: &str, times: u32, kind: FaultKind) -> Fault {
    Fault {
        method: Some(method.into()),
        route: route.into(),
        times,
        kind,
    }
}

/// Labels an issue of one task per file in `files`, waits for the run to end, and
/// checks that every task merged with one pull request each, and that the scripted
/// worker (which appends one line to its file each time it runs) ran once per task.
async fn every_task_merges_with_one_agent_run(world: &TestWorld, files: &[&str]) -> IssueNumber {
    let body: String = files
        .iter()
        .map(|file| format!("- [ ] Add `{file}`\n"))
        .collect();
    let (issue, run, tasks) = world
        .dispatch_until_run_ends("Transient GitHub trouble", &body)
        .await;

    assert_eq!(run.state, RunState::Settled);
    assert_eq!(tasks.len(), files.len());
    for task in &tasks {
        assert_eq!(task.state, TaskState::Merged, "{task:?}");
    }
    assert_eq!(
        world.sim.pulls(&world.repo).len(),
        files.len(),
        "one pull request per task, none opened twice"
    );
    let clone = world.clone_repo("merged").await;
    for file in files {
        let lines = std::fs::read_to_string(clone.join(file)).expect("the task's file merged");
        assert_eq!(
            lines.lines().count(),
            1,
            "{file}: the worker ran once; its pushed work was proposed, not redone:\n{lines}"
        );
    }
    issue
}

#[tokio::test]
async fn the_issues_thirteen_faults_cost_no_task_and_no_agent_run() {
    let world = TestWorld::start().await;
    for armed in [
        fault(
            "POST",
            "/repos/{owner}/{repo}/pulls",
            2,
            FaultKind::ServerError,
        ),
        fault(
            "POST",
            "/repos/{owner}/{repo}/check-runs",
            4,
            FaultKind::BadGateway,
        ),
        fault(
            "PATCH",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            3,
            FaultKind::SecondaryRateLimit { retry_after: 1 },
        ),
        fault(
            "PUT",
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            2,
            FaultKind::BadGateway,
        ),
        fault("POST", "/graphql", 2, FaultKind::ServerError),
    ] {
        world.sim.inject_fault(armed);
    }

    let issue = every_task_merges_with_one_agent_run(
        &world,
        &["src/alpha.txt", "src/beta.txt", "src/gamma.txt"],
    )
    .await;

    let comments = world.bot_comment_with(issue, "are merged into").await;
    for needle in ["Flotilla plan", "are merged into"] {
        assert_eq!(
            comments.iter().filter(|c| c.contains(needle)).count(),
            1,
            "one {needle:?} comment, none posted twice: {comments:#?}"
        );
    }
    world.teardown().await;
}

#[tokio::test]
async fn a_failure_at_each_github_call_from_push_to_merge_is_tried_again_there() {
    let steps = [
        (
            "POST",
            "/repos/{owner}/{repo}/pulls",
            FaultKind::ServerError,
        ),
        (
            "POST",
            "/repos/{owner}/{repo}/check-runs",
            FaultKind::BadGateway,
        ),
        (
            "PATCH",
            "/repos/{owner}/{repo}/check-runs/{check_run_id}",
            FaultKind::BadGateway,
        ),
        (
            "POST",
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            FaultKind::SecondaryRateLimit { retry_after: 1 },
        ),
        (
            "POST",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            FaultKind::ServerError,
        ),
        (
            "PATCH",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            FaultKind::SecondaryRateLimit { retry_after: 1 },
        ),
        ("POST", "/graphql", FaultKind::BadGateway),
        (
            "PUT",
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            FaultKind::ServerError,
        ),
    ];
    for (method, route, kind) in steps {
        let world = TestWorld::start().await;
        world.sim.inject_fault(fault(method, route, 3, kind));

        every_task_merges_with_one_agent_run(&world, &["src/alpha.txt"]).await;

        world.teardown().await;
    }
}

#[tokio::test]
async fn a_write_github_did_although_it_answered_502_is_found_not_made_twice() {
    for (method, route) in [
        ("POST", "/repos/{owner}/{repo}/pulls"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        (
            "POST",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        ),
    ] {
        let world = TestWorld::start().await;
        world
            .sim
            .inject_fault(fault(method, route, 1, FaultKind::BadGatewayAfterWrite));

        let issue = every_task_merges_with_one_agent_run(&world, &["src/alpha.txt"]).await;

        let pr = world.sim.pulls(&world.repo)[0].number;
        let reviews = world.reviews(pr);
        let mut bodies: Vec<&str> = reviews.iter().map(|r| r.body.as_str()).collect();
        bodies.sort_unstable();
        let before = bodies.len();
        bodies.dedup();
        assert_eq!(
            bodies.len(),
            before,
            "{route}: no review posted twice: {reviews:#?}"
        );
        let comments = world.bot_comment_with(issue, "are merged into").await;
        let mut unique = comments.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            comments.len(),
            "{route}: no comment posted twice"
        );
        world.teardown().await;
    }
}
