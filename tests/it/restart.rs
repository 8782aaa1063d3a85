//! Restarts of a real `flotilla serve` process on the same database and data
//! directory: after a `kill -9` mid-run the run completes with no duplicate pull
//! request or comment; webhooks sent while it was down are asked for again; a push
//! GitHub never announced is found by reconciliation and verified; where recovery
//! stopped reading is kept in the store, and never passes an attempt still to ask for.

use flotilla::sim::{Fault, FaultKind};
use flotilla::store::TaskState;
use flotilla::webhook::recovery::Recovery;

use crate::support::serve::{
    Served, a_person_pushes, dispatch_on, kill, ready_at, run_settles, scripted_serve_config,
    verified_once,
};
use crate::support::world::{TestWorld, WORLD_APP_ID};
use crate::support::{TestStore, wait_for};

#[tokio::test]
async fn kill_9_mid_run_then_restart_completes_the_run_without_duplicates() {
    let served = Served::start(&scripted_serve_config("max_parallel_tasks: 1\n")).await;
    let Served {
        dir,
        sim,
        seed,
        repo,
        store,
        ..
    } = &served;
    let mut first = served.serve().await;
    let issue = dispatch_on(
        sim,
        seed,
        "Three slow things",
        "- [ ] slowly add `one.txt`\n- [ ] slowly add `two.txt`\n- [ ] slowly add `three.txt`",
    )
    .await;
    wait_for("the first task pushed and the second working", || async {
        let run = store.latest_run(repo, issue).await.unwrap()?;
        let tasks = store.tasks_of_run(run.id).await.unwrap();
        (tasks.len() == 3
            && tasks[0].state.has_pushed_work()
            && tasks[1].state == TaskState::Working)
            .then_some(())
    })
    .await;

    kill(&mut first).await;
    let mut second = served.serve().await;

    let tasks = run_settles(store, repo, issue).await;
    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "{tasks:?}"
    );
    let pulls = sim.pulls(repo);
    assert_eq!(pulls.len(), 3, "one pull request per task, none twice");
    for task in &tasks {
        assert_eq!(
            pulls.iter().filter(|p| p.head_ref == task.branch).count(),
            1
        );
    }
    let comments = wait_for("the plan comment to show the settled run", || async {
        let comments = served.bot_comments(issue);
        comments
            .iter()
            .any(|c| c.body.contains("(settled)"))
            .then_some(comments)
    })
    .await;
    assert_eq!(
        comments.len(),
        2,
        "one plan comment and the summary: {comments:?}"
    );
    assert_eq!(
        comments[0].body.matches("| merged |").count(),
        3,
        "{}",
        comments[0].body
    );
    kill(&mut second).await;
    let log = std::fs::read_to_string(dir.path().join("flotilla.log")).unwrap();
    assert!(
        log.contains("agent started"),
        "the processes logged their work"
    );
    assert!(
        !log.contains("ghs_"),
        "an installation token reached the log"
    );
    served.stop().await;
}

#[tokio::test]
async fn webhooks_sent_while_flotilla_was_down_are_asked_for_again_at_start() {
    let (served, before, waiting) = Served::down_with_a_task_waiting("Before", "before.txt").await;
    let Served {
        dir,
        sim,
        seed,
        repo,
        store,
        ..
    } = &served;

    let during = dispatch_on(sim, seed, "While down", "- [ ] Add `during.txt`").await;
    let pushed = a_person_pushes(sim, seed, &waiting.branch, "before-too.txt").await;
    wait_for("the webhooks to fail while Flotilla is down", || async {
        let failed = sim
            .deliveries()
            .into_iter()
            .filter(|d| !d.success && (d.event == "issues" || d.event == "pull_request"))
            .count();
        (failed >= 2).then_some(())
    })
    .await;
    let mut second = served.serve().await;

    let run = wait_for("the run of the issue labelled while down", || async {
        store.latest_run(repo, during).await.unwrap()
    })
    .await;
    ready_at(
        store,
        waiting.id,
        &pushed,
        "the person's push to be verified",
    )
    .await;
    assert_eq!(run.spec.issue, during);
    let plans = wait_for("the plan comment of the recovered run", || async {
        let plans = served
            .bot_comments(during)
            .into_iter()
            .filter(|c| c.body.contains("Flotilla plan"))
            .count();
        (plans > 0).then_some(plans)
    })
    .await;
    assert_eq!(plans, 1, "one plan comment, not one per attempt");
    verified_once(sim, repo, &pushed);
    for issue in [before, during] {
        let mut bodies: Vec<String> = served
            .bot_comments(issue)
            .into_iter()
            .map(|c| c.body)
            .collect();
        let all = bodies.len();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), all, "a comment posted twice on #{issue}");
    }
    let log = std::fs::read_to_string(dir.path().join("flotilla.log")).unwrap();
    assert!(
        log.contains("asked GitHub to send it again"),
        "recovery asked for the missed webhooks"
    );
    let missed = sim
        .deliveries()
        .iter()
        .filter(|d| !d.success)
        .map(|d| d.id)
        .max()
        .expect("failed attempts");
    let cursor = store.recovery_cursor().await.unwrap();
    assert!(
        cursor >= Some(missed),
        "the store keeps where recovery stopped reading ({cursor:?}), past the missed attempts ({missed})"
    );
    kill(&mut second).await;
}

#[tokio::test]
async fn a_push_github_never_announced_is_verified_after_a_restart_by_reconciliation() {
    let (served, issue, waiting) = Served::down_with_a_task_waiting("Waiting", "waiting.txt").await;
    let Served {
        sim,
        seed,
        repo,
        store,
        ..
    } = &served;

    // The App's webhook is inactive meanwhile: GitHub keeps no delivery to send again.
    sim.set_webhook_active(seed.app_id, false).unwrap();
    let pushed = a_person_pushes(sim, seed, &waiting.branch, "waiting-too.txt").await;
    sim.set_webhook_active(seed.app_id, true).unwrap();
    let mut second = served.serve().await;

    ready_at(
        store,
        waiting.id,
        &pushed,
        "the unannounced push to be verified",
    )
    .await;
    verified_once(sim, repo, &pushed);
    let caught_up = served
        .bot_comments(issue)
        .into_iter()
        .filter(|c| c.body.contains("caught up"))
        .count();
    assert_eq!(
        caught_up, 1,
        "the issue is told once what reconciliation did"
    );
    kill(&mut second).await;
    served.stop().await;
}

#[tokio::test]
async fn the_recovery_position_outlives_the_process_and_never_moves_back() {
    let first = TestStore::new().await;
    assert_eq!(first.store.recovery_cursor().await.unwrap(), None);
    first.store.advance_recovery_cursor(42).await.unwrap();

    let next = first.another_process().await;
    assert_eq!(next.recovery_cursor().await.unwrap(), Some(42));
    next.advance_recovery_cursor(7).await.unwrap();
    assert_eq!(
        next.recovery_cursor().await.unwrap(),
        Some(42),
        "a process that read older attempts does not move the position back"
    );
    next.advance_recovery_cursor(50).await.unwrap();
    assert_eq!(first.store.recovery_cursor().await.unwrap(), Some(50));
}

#[tokio::test]
async fn a_redelivery_github_refused_is_asked_for_again_at_the_next_pass() {
    let world = TestWorld::start().await;
    let listening = format!("{}/webhook", world.flotilla.url());
    world
        .sim
        .set_webhook_url(WORLD_APP_ID, "http://127.0.0.1:1/webhook")
        .unwrap();
    world
        .open_issue("Missed", "Sent while nobody listened")
        .await;
    let missed = wait_for("the webhook to fail", || async {
        world.sim.deliveries().into_iter().find(|d| !d.success)
    })
    .await;
    world.sim.set_webhook_url(WORLD_APP_ID, &listening).unwrap();
    world.sim.inject_fault(Fault {
        method: Some("POST".to_owned()),
        route: "/app/hook/deliveries/{delivery_id}/attempts".to_owned(),
        times: 1,
        kind: FaultKind::MissingPermission,
    });

    let mut recovery = Recovery::new(world.github.clone(), world.flotilla.store.clone());
    assert_eq!(
        recovery.pass().await.unwrap(),
        0,
        "GitHub refused the request"
    );
    assert!(
        world.flotilla.store.recovery_cursor().await.unwrap() < Some(missed.id),
        "the position stays before the attempt still to ask for"
    );
    assert_eq!(recovery.pass().await.unwrap(), 1, "asked again");
    world.flotilla.processed(&missed.guid).await;
    assert_eq!(
        recovery.pass().await.unwrap(),
        0,
        "delivered: nothing more to ask"
    );
    // The failed attempt stays in GitHub's list, which `teardown` rejects: stop here.
    world.sim.shutdown().await;
}
