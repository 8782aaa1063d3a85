//! Retention: old delivery bodies, finished jobs and the verdict outputs of finished runs
//! are forgotten, the database gets smaller, and a live run is left exactly as it was.

use flotilla::store::{JobState, RunState, TaskState};
use flotilla::types::{DeliveryId, IssueNumber};

use crate::support::world::TestWorld;
use crate::support::{fixture_path, wait_for};

/// A minute from now: everything finished so far is older than that.
fn after_everything() -> i64 {
    chrono::Utc::now().timestamp_millis() + 60_000
}

#[tokio::test]
async fn pruning_forgets_what_finished_shrinks_the_database_and_leaves_a_live_run_alone() {
    let world = TestWorld::start().await;
    let store = &world.flotilla.store;
    let finished = world.dispatch("Finished", "- [ ] Add `done.txt`\n").await;
    let (run, done_tasks) = world.run_ends(finished).await;
    assert_eq!(run.state, RunState::Settled);
    let merged_head = done_tasks[0].head_sha.clone().unwrap();
    let landed_job = format!("{}:land:{merged_head}:verified", done_tasks[0].id);
    assert!(store.job_by_key(&landed_job).await.unwrap().is_some());
    let (live, waiting) = world.task_awaits_approval("Live", "live.txt").await;
    let head = waiting.head_sha.clone().unwrap();
    let live_verdicts = store.verdicts(waiting.id, &head).await.unwrap();
    let done_jobs = store.count_jobs(JobState::Done).await.unwrap();
    let delivery = world
        .sim
        .deliveries()
        .into_iter()
        .find(|d| d.success)
        .expect("a delivered webhook");
    let size_before = world.flotilla.sqlite_file().map(|f| file_size(&f));

    let pruned = store.prune(after_everything()).await.unwrap();

    assert!(pruned.delivery_bodies > 0, "{pruned:?}");
    assert!(
        pruned.jobs >= u64::try_from(done_jobs).unwrap(),
        "{pruned:?}"
    );
    assert!(
        pruned.verdict_outputs > 0,
        "the finished run's outputs: {pruned:?}"
    );
    // The server keeps running, so a job may finish after the prune: check a job that
    // finished before it.
    assert!(
        store.job_by_key(&landed_job).await.unwrap().is_none(),
        "the finished run's landing job is deleted"
    );
    let kept = store
        .delivery(&DeliveryId(delivery.guid.clone()))
        .await
        .unwrap()
        .expect("the delivery's row is kept, so a redelivery is still recognised");
    assert!(kept.body.is_empty(), "its body is gone");
    if let (Some(before), Some(file)) = (size_before, world.flotilla.sqlite_file()) {
        let after = file_size(&file);
        assert!(
            after < before,
            "the database shrank: {before} → {after} bytes"
        );
    }
    let untouched = store.verdicts(waiting.id, &head).await.unwrap();
    assert_eq!(
        format!("{untouched:?}"),
        format!("{live_verdicts:?}"),
        "the live run's verdicts are as they were"
    );

    world.writer_approves(waiting.pr.unwrap()).await;
    let (run, tasks) = world.run_ends(live).await;
    assert_eq!(run.state, RunState::Settled);
    assert_eq!(tasks[0].state, TaskState::Merged, "the live run went on");
    let later = store.prune(after_everything()).await.unwrap();
    assert!(
        later.verdict_outputs > 0,
        "the live run's outputs were kept by the first prune and go once it finished: {later:?}"
    );
    world.teardown().await;
}

/// The database's bytes on disk: the file and its write-ahead log.
fn file_size(path: &std::path::Path) -> u64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(std::path::Path::new(&wal))
}

/// Flotilla's bare copy of the seeded repository under `kind`: `mirrors` (the
/// workers' mirror) or `verify` (the verification store).
fn repo_copy(world: &TestWorld, kind: &str) -> std::path::PathBuf {
    let (owner, name) = world.repo.split().expect("owner/name");
    world
        .data_dir()
        .join(kind)
        .join(owner)
        .join(format!("{name}.git"))
}

/// Waits until the issue's run is cancelled: with the repository gone from the
/// installation, the store is the only place the run can end.
async fn run_cancelled(world: &TestWorld, issue: IssueNumber) {
    wait_for("the run to be cancelled", || async {
        let run = world.latest_run(issue).await?;
        (run.state == RunState::Cancelled).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_repository_removed_from_the_installation_stops_its_runs_and_loses_its_mirror() {
    let world = TestWorld::start().await;
    let (issue, _) = world.task_awaits_approval("Live", "live.txt").await;
    let mirror = repo_copy(&world, "mirrors");
    assert!(mirror.exists(), "{}", mirror.display());

    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_path(
            "webhooks/installation_repositories.removed.json",
        ))
        .unwrap(),
    )
    .unwrap();
    event["installation"]["id"] = serde_json::json!(world.installation_id().0);
    event["repositories_removed"][0]["full_name"] = serde_json::json!(world.repo.0);
    let answer = world
        .flotilla
        .deliver(
            "installation_repositories",
            "repositories-removed-1",
            event.to_string().as_bytes(),
        )
        .await;
    assert!(answer.status().is_success(), "{}", answer.status());

    run_cancelled(&world, issue).await;
    let verify_store = repo_copy(&world, "verify");
    // The mirror goes first, then the verification store: wait for both.
    wait_for(
        "the mirror and the verification store to be deleted",
        || async { (!mirror.exists() && !verify_store.exists()).then_some(()) },
    )
    .await;
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn an_uninstall_that_lists_no_repositories_forgets_the_ones_the_store_knows() {
    let world = TestWorld::start().await;
    let (issue, _) = world.task_awaits_approval("Live", "live.txt").await;
    let mirror = repo_copy(&world, "mirrors");
    assert!(mirror.exists(), "{}", mirror.display());

    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_path("webhooks/installation.deleted.json")).unwrap(),
    )
    .unwrap();
    event["installation"]["id"] = serde_json::json!(world.installation_id().0);
    event
        .as_object_mut()
        .unwrap()
        .remove("repositories")
        .expect("the fixture lists repositories");
    let answer = world
        .flotilla
        .deliver(
            "installation",
            "installation-deleted-1",
            event.to_string().as_bytes(),
        )
        .await;
    assert!(answer.status().is_success(), "{}", answer.status());

    run_cancelled(&world, issue).await;
    wait_for("the mirror to be deleted", || async {
        (!mirror.exists()).then_some(())
    })
    .await;
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}
