//! Links from GitHub to the dashboard: with a dashboard, every `flotilla/verify` check
//! run's "Details" opens the verification page of its task and head, and the plan
//! comment links the run's page (both open for a logged-in reader); without one,
//! Flotilla writes no link at all.

use flotilla::sim::CheckRun;
use flotilla::store::TaskState;

use crate::support::login::Browser;
use crate::support::world::{TestWorld, WORLD_APP_ID};

/// Flotilla's check runs on the merged task's head, and the pull request.
fn own_checks(world: &TestWorld, head: &flotilla::types::CommitSha) -> Vec<CheckRun> {
    world
        .check_runs(head)
        .into_iter()
        .filter(|c| c.app_id == WORLD_APP_ID)
        .collect()
}

#[tokio::test]
async fn check_runs_and_the_plan_comment_link_to_the_dashboard() {
    let world = TestWorld::start_with_dashboard().await;
    let dashboard = world.flotilla.url();
    let (issue, run, tasks) = world
        .dispatch_until_run_ends("Tidy", "- [ ] Add `tidy.txt`\n")
        .await;

    let task = &tasks[0];
    assert_eq!(task.state, TaskState::Merged, "{task:?}");
    let head = task.head_sha.clone().expect("a head");
    let checks = own_checks(&world, &head);
    assert!(!checks.is_empty(), "flotilla/verify ran");
    let page = format!(
        "{dashboard}/runs/{}/tasks/{}/verifications/{}",
        run.id, task.position, head.0
    );
    for check in &checks {
        assert_eq!(
            check.details_url.as_deref(),
            Some(page.as_str()),
            "{check:?}"
        );
    }
    let pr_page = reqwest::get(format!(
        "{}/{}/pull/{}",
        world.sim.base_url(),
        world.repo,
        task.pr.expect("a pull request")
    ))
    .await
    .expect("the pull request's page answers")
    .text()
    .await
    .expect("a body");
    assert!(
        pr_page.contains(&format!("<a class=\"details\" href=\"{page}\">Details</a>")),
        "the simulator's page shows the link: {pr_page}"
    );

    let comments = world.bot_comments(issue);
    let plan = comments
        .iter()
        .find(|c| c.contains("Flotilla plan for"))
        .expect("a plan comment");
    assert!(
        plan.contains(&format!("[Dashboard]({dashboard}/runs/{})", run.id)),
        "{plan}"
    );

    let mut alice = Browser::new();
    alice.log_in_as(&dashboard, "alice").await;
    for link in [page, format!("{dashboard}/runs/{}", run.id)] {
        let opened = alice.get(&link).await;
        assert_eq!(opened.status, 200, "{link} opens for alice: {opened:?}");
    }
    world.teardown().await;
}

#[tokio::test]
async fn without_a_dashboard_nothing_links_to_one() {
    let world = TestWorld::start().await;
    let (issue, _, tasks) = world
        .dispatch_until_run_ends("Tidy", "- [ ] Add `tidy.txt`\n")
        .await;

    let head = tasks[0].head_sha.clone().expect("a head");
    let checks = own_checks(&world, &head);
    assert!(!checks.is_empty(), "flotilla/verify ran");
    assert!(checks.iter().all(|c| c.details_url.is_none()), "{checks:?}");
    let comments = world.bot_comments(issue);
    assert!(
        comments.iter().all(|c| !c.contains("Dashboard")),
        "{comments:?}"
    );
    world.teardown().await;
}
