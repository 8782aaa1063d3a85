//! Restarts of a real `flotilla serve` process on the same database and data
//! directory: after a `kill -9` mid-run the run completes with no duplicate pull
//! request or comment; webhooks sent while it was down are asked for again; a push
//! GitHub never announced is found by reconciliation and verified; where recovery
//! stopped reading is kept in the store, and never passes an attempt still to ask for.

use flotilla::sim::{Fault, FaultKind};
use flotilla::store::{RunState, Store, TaskState};
use flotilla::webhook::recovery::Recovery;
use tempfile::TempDir;

use crate::support::serve::{healthy, serve, sim_for_serve};
use crate::support::world::{TestWorld, WORLD_APP_ID};
use crate::support::{APP_SLUG, TestStore, fixture_path, wait_for};

#[tokio::test]
async fn kill_9_mid_run_then_restart_completes_the_run_without_duplicates() {
    let dir = TempDir::new().unwrap();
    let yaml = format!(
        "worker:\n  adapter: command\n  command: exec sh {}\n  time_limit: 30s\n\
         max_parallel_tasks: 1\nreviewers:\n  correctness:\n    adapter: command\n    \
         command: exec sh {}\n",
        fixture_path("agents/scripted-worker.sh").display(),
        fixture_path("agents/scripted-reviewer.sh").display()
    );
    let (sim, seed, port) = sim_for_serve(dir.path(), &yaml).await;
    let repo = seed.repo_name();
    let mut first = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;
    let issue = sim
        .open_issue(
            &repo,
            "Three slow things",
            "- [ ] slowly add `one.txt`\n- [ ] slowly add `two.txt`\n- [ ] slowly add `three.txt`",
            &seed.writer,
        )
        .await
        .unwrap();
    sim.label_issue(&repo, issue.0, "flotilla", &seed.writer)
        .await
        .unwrap();
    let store = Store::connect(&Store::default_url(&dir.path().join("data")))
        .await
        .unwrap();
    wait_for("the first task pushed and the second working", || async {
        let run = store.latest_run(&repo, issue).await.unwrap()?;
        let tasks = store.tasks_of_run(run.id).await.unwrap();
        (tasks.len() == 3
            && tasks[0].state.has_pushed_work()
            && tasks[1].state == TaskState::Working)
            .then_some(())
    })
    .await;

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let mut second = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;

    let tasks = wait_for("the run to settle after the restart", || async {
        let run = store.latest_run(&repo, issue).await.unwrap()?;
        (run.state == RunState::Settled).then_some(())?;
        Some(store.tasks_of_run(run.id).await.unwrap())
    })
    .await;
    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "{tasks:?}"
    );
    let pulls = sim.pulls(&repo);
    assert_eq!(pulls.len(), 3, "one pull request per task, none twice");
    for task in &tasks {
        assert_eq!(
            pulls.iter().filter(|p| p.head_ref == task.branch).count(),
            1
        );
    }
    let bot = format!("{APP_SLUG}[bot]");
    let comments = wait_for("the plan comment to show the settled run", || async {
        let comments: Vec<_> = sim
            .issue_comments(&repo, issue.0)
            .into_iter()
            .filter(|c| c.user.0 == bot)
            .collect();
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
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    let log = std::fs::read_to_string(dir.path().join("flotilla.log")).unwrap();
    assert!(
        log.contains("agent started"),
        "the processes logged their work"
    );
    assert!(
        !log.contains("ghs_"),
        "an installation token reached the log"
    );
    store.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_sent_while_flotilla_was_down_are_asked_for_again_at_start() {
    let dir = TempDir::new().unwrap();
    let yaml = format!(
        "worker:\n  adapter: command\n  command: exec sh {}\n  time_limit: 30s\n\
         landing:\n  require_human_approval: true\nreviewers:\n  correctness:\n    \
         adapter: command\n    command: exec sh {}\n",
        fixture_path("agents/scripted-worker.sh").display(),
        fixture_path("agents/scripted-reviewer.sh").display()
    );
    let (sim, seed, port) = sim_for_serve(dir.path(), &yaml).await;
    let repo = seed.repo_name();
    let store = Store::connect(&Store::default_url(&dir.path().join("data")))
        .await
        .unwrap();
    let mut first = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;
    let before = sim
        .open_issue(&repo, "Before", "- [ ] Add `before.txt`", &seed.writer)
        .await
        .unwrap();
    sim.label_issue(&repo, before.0, "flotilla", &seed.writer)
        .await
        .unwrap();
    let waiting = wait_for("the task to wait for a person's approval", || async {
        let run = store.latest_run(&repo, before).await.unwrap()?;
        let tasks = store.tasks_of_run(run.id).await.unwrap();
        (tasks.first()?.state == TaskState::Ready).then(|| tasks[0].clone())
    })
    .await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let during = sim
        .open_issue(&repo, "While down", "- [ ] Add `during.txt`", &seed.writer)
        .await
        .unwrap();
    sim.label_issue(&repo, during.0, "flotilla", &seed.writer)
        .await
        .unwrap();
    let pushed = sim
        .push_commit(
            &repo,
            &waiting.branch,
            &[("before-too.txt", "a person's addition\n")],
            "A person adds a file",
            &seed.writer,
        )
        .await
        .unwrap();
    wait_for("the webhooks to fail while Flotilla is down", || async {
        let failed = sim
            .deliveries()
            .into_iter()
            .filter(|d| !d.success && (d.event == "issues" || d.event == "pull_request"))
            .count();
        (failed >= 2).then_some(())
    })
    .await;
    let mut second = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;

    let run = wait_for("the run of the issue labelled while down", || async {
        store.latest_run(&repo, during).await.unwrap()
    })
    .await;
    wait_for("the person's push to be verified", || async {
        let task = store.task(waiting.id).await.unwrap()?;
        (task.head_sha.as_ref() == Some(&pushed) && task.state == TaskState::Ready).then_some(())
    })
    .await;
    assert_eq!(run.issue, during);
    let bot = format!("{APP_SLUG}[bot]");
    let plans = wait_for("the plan comment of the recovered run", || async {
        let plans = sim
            .issue_comments(&repo, during.0)
            .into_iter()
            .filter(|c| c.user.0 == bot && c.body.contains("Flotilla plan"))
            .count();
        (plans > 0).then_some(plans)
    })
    .await;
    assert_eq!(plans, 1, "one plan comment, not one per attempt");
    let verify_runs: Vec<_> = sim
        .check_runs(&repo, &pushed)
        .into_iter()
        .filter(|c| c.name == "flotilla/verify")
        .collect();
    assert_eq!(verify_runs.len(), 1, "{verify_runs:?}");
    assert_eq!(verify_runs[0].conclusion.as_deref(), Some("success"));
    for issue in [before, during] {
        let mut bodies: Vec<String> = sim
            .issue_comments(&repo, issue.0)
            .into_iter()
            .filter(|c| c.user.0 == bot)
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
    second.start_kill().unwrap();
    second.wait().await.unwrap();
}

#[tokio::test]
async fn a_push_github_never_announced_is_verified_after_a_restart_by_reconciliation() {
    let dir = TempDir::new().unwrap();
    let yaml = format!(
        "worker:\n  adapter: command\n  command: exec sh {}\n  time_limit: 30s\n\
         landing:\n  require_human_approval: true\nreviewers:\n  correctness:\n    \
         adapter: command\n    command: exec sh {}\n",
        fixture_path("agents/scripted-worker.sh").display(),
        fixture_path("agents/scripted-reviewer.sh").display()
    );
    let (sim, seed, port) = sim_for_serve(dir.path(), &yaml).await;
    let repo = seed.repo_name();
    let store = Store::connect(&Store::default_url(&dir.path().join("data")))
        .await
        .unwrap();
    let mut first = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;
    let issue = sim
        .open_issue(&repo, "Waiting", "- [ ] Add `waiting.txt`", &seed.writer)
        .await
        .unwrap();
    sim.label_issue(&repo, issue.0, "flotilla", &seed.writer)
        .await
        .unwrap();
    let waiting = wait_for("the task to wait for a person's approval", || async {
        let run = store.latest_run(&repo, issue).await.unwrap()?;
        let tasks = store.tasks_of_run(run.id).await.unwrap();
        (tasks.first()?.state == TaskState::Ready).then(|| tasks[0].clone())
    })
    .await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    // The App's webhook is inactive meanwhile: GitHub keeps no delivery to send again.
    sim.set_webhook_active(seed.app_id, false).unwrap();
    let pushed = sim
        .push_commit(
            &repo,
            &waiting.branch,
            &[("waiting-too.txt", "a person's addition\n")],
            "A person adds a file",
            &seed.writer,
        )
        .await
        .unwrap();
    sim.set_webhook_active(seed.app_id, true).unwrap();
    let mut second = serve(dir.path(), &sim.api_url(), port, &[]);
    healthy(port).await;

    wait_for("the unannounced push to be verified", || async {
        let task = store.task(waiting.id).await.unwrap()?;
        (task.head_sha.as_ref() == Some(&pushed) && task.state == TaskState::Ready).then_some(())
    })
    .await;
    let verify_runs: Vec<_> = sim
        .check_runs(&repo, &pushed)
        .into_iter()
        .filter(|c| c.name == "flotilla/verify")
        .collect();
    assert_eq!(verify_runs.len(), 1, "{verify_runs:?}");
    assert_eq!(verify_runs[0].conclusion.as_deref(), Some("success"));
    let bot = format!("{APP_SLUG}[bot]");
    let caught_up = sim
        .issue_comments(&repo, issue.0)
        .into_iter()
        .filter(|c| c.user.0 == bot && c.body.contains("caught up"))
        .count();
    assert_eq!(
        caught_up, 1,
        "the issue is told once what reconciliation did"
    );
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    store.close().await;
    sim.shutdown().await;
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
