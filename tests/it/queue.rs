//! Scenarios for the durable job queue, on SQLite or PostgreSQL (whichever the suite
//! runs against): leases, retries, dead jobs and concurrent claims.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flotilla::clock::Clock;
use flotilla::orchestrator::worker::{JobHandler, WorkerConfig, WorkerPool};
use flotilla::store::{ClaimedJob, JobFate, JobLane, JobState, NewJob, RetryPolicy, Store};
use flotilla::types::DeliveryId;

use crate::support::{TestStore, fast_workers, wait_for};

const LEASE: Duration = Duration::from_secs(60);

fn job(name: &str) -> NewJob {
    NewJob::process_delivery(&DeliveryId::from(name))
}

#[tokio::test]
async fn enqueueing_the_same_key_twice_creates_one_job() {
    let test = TestStore::new().await;
    assert!(test.store.enqueue(&job("a")).await.unwrap());
    assert!(!test.store.enqueue(&job("a")).await.unwrap());
    assert_eq!(test.store.count_jobs(JobState::Queued).await.unwrap(), 1);
}

#[tokio::test]
async fn a_job_whose_worker_vanished_is_taken_again_after_its_lease_expires() {
    let (test, clock) = TestStore::on_manual_clock().await;
    test.store.enqueue(&job("lost")).await.unwrap();

    let first = test
        .claim_event("worker-a", LEASE)
        .await
        .expect("a job to claim");
    assert!(
        test.claim_event("worker-b", LEASE).await.is_none(),
        "leased jobs are not claimed twice"
    );

    clock.advance(LEASE + Duration::from_secs(1));
    let second = test
        .claim_event("worker-b", LEASE)
        .await
        .expect("the expired job");

    assert_eq!(second.id, first.id);
    assert_eq!(
        (second.attempts, second.postponements),
        (1, 1),
        "losing a worker continues the attempt: it costs no attempt"
    );
    assert!(
        second.tried_before(),
        "its handler looks for half-done work"
    );
    assert!(
        !test.store.complete(&first).await.unwrap(),
        "the vanished worker lost its lease"
    );
    assert!(test.store.complete(&second).await.unwrap());
    let row = test.store.job_by_key(&first.key).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Done);
}

#[tokio::test]
async fn the_record_of_job_runs_shows_a_job_that_ran_twice_at_once_and_only_then() {
    let (test, clock) = TestStore::on_manual_clock().await;
    test.store.enqueue(&job("crashed")).await.unwrap();
    let first = test.claim_event("worker-a", LEASE).await.unwrap();
    clock.advance(LEASE / 3);
    test.store.job_run_alive(&first).await.unwrap();
    clock.advance(LEASE);
    let second = test
        .claim_event("worker-b", LEASE)
        .await
        .expect("the lease ran out after the last heartbeat");
    assert!(
        test.store.overlapping_job_runs().await.unwrap().is_empty(),
        "a worker that died after its last heartbeat did not run beside its successor"
    );

    clock.advance(Duration::from_secs(1));
    test.store.job_run_alive(&first).await.unwrap();
    test.store.end_job_run(&first).await.unwrap();
    test.store.end_job_run(&second).await.unwrap();
    let overlaps = test.store.overlapping_job_runs().await.unwrap();
    assert_eq!(
        overlaps.len(),
        1,
        "the first worker was alive after the second took the job: {overlaps:?}"
    );
    assert_eq!(
        (
            overlaps[0].first_owner.as_str(),
            overlaps[0].second_owner.as_str()
        ),
        ("worker-a", "worker-b")
    );
    assert_eq!(test.store.count_job_runs().await.unwrap(), 2);
}

#[tokio::test]
async fn a_renewed_lease_keeps_the_job_from_other_workers() {
    let (test, clock) = TestStore::on_manual_clock().await;
    test.store.enqueue(&job("long")).await.unwrap();
    let claimed = test.claim_event("worker-a", LEASE).await.unwrap();

    clock.advance(LEASE / 2);
    assert!(test.store.renew_lease(&claimed, LEASE).await.unwrap());
    clock.advance(LEASE / 2 + Duration::from_secs(1));

    assert!(test.claim_event("worker-b", LEASE).await.is_none());
}

#[tokio::test]
async fn failures_retry_with_backoff_and_end_in_a_dead_job_that_keeps_its_error() {
    let (test, clock) = TestStore::on_manual_clock().await;
    let policy = RetryPolicy {
        base: Duration::from_secs(10),
        max: Duration::from_secs(15),
    };
    test.store.enqueue(&job("doomed")).await.unwrap();
    let max_attempts = job("doomed").max_attempts;

    for attempt in 1..=max_attempts {
        let claimed = test.claim_event("worker", LEASE).await.expect("due job");
        assert_eq!(claimed.attempts, attempt);
        let fate = test
            .store
            .fail(&claimed, &format!("boom {attempt}"), &policy)
            .await
            .unwrap();
        if attempt < max_attempts {
            assert!(
                matches!(fate, JobFate::Retry { .. }),
                "attempt {attempt}: {fate:?}"
            );
            assert!(
                test.claim_event("worker", LEASE).await.is_none(),
                "not due before its backoff"
            );
            clock.advance(policy.delay(attempt));
        } else {
            assert_eq!(fate, JobFate::Dead);
        }
    }

    clock.advance(Duration::from_secs(3600));
    assert!(
        test.claim_event("worker", LEASE).await.is_none(),
        "dead jobs are never claimed"
    );
    let row = test
        .store
        .job_by_key(&job("doomed").key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, JobState::Dead);
    assert_eq!(row.attempts, max_attempts);
    assert_eq!(
        row.last_error.as_deref(),
        Some(format!("boom {max_attempts}").as_str())
    );
}

#[tokio::test]
async fn postponements_wait_longer_each_time_at_least_the_retry_after_and_then_spend_attempts() {
    let (test, clock) = TestStore::on_manual_clock().await;
    let policy = RetryPolicy {
        base: Duration::from_secs(10),
        max: Duration::from_secs(25),
    };
    test.store.enqueue(&job("throttled")).await.unwrap();

    let retry_after = Some(Duration::from_secs(60));
    for (n, (at_least, wait)) in [(None, 10), (None, 20), (retry_after, 60), (None, 25)]
        .into_iter()
        .enumerate()
    {
        let claimed = test.claim_event("worker", LEASE).await.expect("due job");
        assert_eq!((claimed.attempts, claimed.postponements), (1, n as i64));
        let fate = test
            .store
            .postpone(&claimed, "rate limited", &policy, at_least)
            .await
            .unwrap();
        assert_eq!(
            fate,
            JobFate::Retry {
                at: clock.now_ms() + wait * 1000
            },
            "postponement {n}"
        );
        clock.advance(Duration::from_secs(wait as u64 - 1));
        assert!(test.claim_event("worker", LEASE).await.is_none());
        clock.advance(Duration::from_secs(1));
    }

    let spent = loop {
        let claimed = test.claim_event("worker", LEASE).await.expect("due job");
        if claimed.attempts > 1 {
            break claimed;
        }
        test.store
            .postpone(&claimed, "rate limited", &policy, None)
            .await
            .unwrap();
        clock.advance(policy.max);
    };
    assert_eq!(
        spent.postponements, 30,
        "after its last postponement a transient error fails as any error does"
    );
}

#[test]
fn the_backoff_doubles_and_is_capped() {
    let policy = RetryPolicy {
        base: Duration::from_secs(2),
        max: Duration::from_secs(10),
    };
    let delays: Vec<u64> = (1..=5).map(|n| policy.delay(n).as_secs()).collect();
    assert_eq!(delays, [2, 4, 8, 10, 10]);
}

#[tokio::test]
async fn concurrent_workers_never_take_the_same_job() {
    let test = TestStore::new().await;
    for n in 0..60 {
        test.store.enqueue(&job(&format!("job-{n}"))).await.unwrap();
    }

    let all = claim_until_empty(vec![test.store.clone(); 6]).await;

    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 60, "every job claimed");
    assert_eq!(unique.len(), 60, "no job claimed twice");
}

#[tokio::test]
async fn two_processes_sharing_one_database_never_take_the_same_job() {
    let test = TestStore::new().await;
    let other = test.another_process().await;
    for n in 0..40 {
        test.store
            .enqueue(&job(&format!("shared-{n}")))
            .await
            .unwrap();
    }

    let all = claim_until_empty(vec![
        test.store.clone(),
        other.clone(),
        test.store.clone(),
        other,
    ])
    .await;

    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (40, 40),
        "each job taken exactly once"
    );
}

/// One claimer per store handle, each taking jobs until none is left; returns the ids
/// of every job taken, in no particular order.
async fn claim_until_empty(stores: Vec<Store>) -> Vec<i64> {
    let claimers: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(n, store)| {
            tokio::spawn(async move {
                let mut taken = Vec::new();
                while let Some(job) = store
                    .claim(&format!("claimer-{n}"), LEASE, JobLane::Events)
                    .await
                    .unwrap()
                {
                    taken.push(job.id);
                }
                taken
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    all
}

/// Fails the first `failures` attempts of every job, then succeeds; counts calls.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

impl JobHandler for Flaky {
    async fn run(&self, _job: ClaimedJob) -> anyhow::Result<()> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        anyhow::ensure!(call >= self.failures, "transient failure {call}");
        Ok(())
    }
}

/// Panics every time.
struct Panicky;

impl JobHandler for Panicky {
    async fn run(&self, _job: ClaimedJob) -> anyhow::Result<()> {
        panic!("handler bug")
    }
}

#[tokio::test]
async fn the_worker_pool_retries_a_failing_job_until_it_succeeds() {
    let test = TestStore::new().await;
    let handler = Arc::new(Flaky {
        failures: 2,
        calls: AtomicUsize::new(0),
    });
    let pool = WorkerPool::spawn(test.store.clone(), Arc::clone(&handler), fast_workers());
    test.store.enqueue(&job("flaky")).await.unwrap();
    pool.waker().notify_one();

    let row = wait_for("the flaky job to finish", || async {
        test.store
            .job_by_key(&job("flaky").key)
            .await
            .unwrap()
            .filter(|r| r.state == JobState::Done)
    })
    .await;

    assert_eq!(row.attempts, 3);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_until_dead_and_the_workers_survive() {
    let test = TestStore::new().await;
    let pool = WorkerPool::spawn(test.store.clone(), Arc::new(Panicky), fast_workers());
    test.store.enqueue(&job("panics")).await.unwrap();

    let row = wait_for("the panicking job to be dead", || async {
        test.store
            .job_by_key(&job("panics").key)
            .await
            .unwrap()
            .filter(|r| r.state == JobState::Dead)
    })
    .await;

    assert_eq!(
        row.last_error.as_deref(),
        Some("the job's handler panicked")
    );
    test.store.enqueue(&job("after-panic")).await.unwrap();
    wait_for("the workers to take the next job", || async {
        test.store
            .job_by_key(&job("after-panic").key)
            .await
            .unwrap()
            .filter(|r| r.attempts > 0)
    })
    .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn the_merge_lock_of_a_repository_holds_across_processes_until_released_or_expired() {
    let (test, clock) = TestStore::on_manual_clock().await;
    let other = test.another_process().await;
    let repo = flotilla::types::RepoName("acme/widgets".into());
    let elsewhere = flotilla::types::RepoName("acme/gadgets".into());
    let [first, second, third] = landing_jobs(&test, JOB_LEASE).await;

    assert!(
        test.store
            .try_lock_merges(&repo, "task-1", first.id, LEASE)
            .await
            .unwrap()
    );
    assert!(
        !other
            .try_lock_merges(&repo, "task-2", second.id, LEASE)
            .await
            .unwrap(),
        "a second process waits for the first merge"
    );
    assert!(
        other
            .try_lock_merges(&elsewhere, "task-2", second.id, LEASE)
            .await
            .unwrap(),
        "another repository merges independently"
    );
    assert!(
        test.store
            .try_lock_merges(&repo, "task-1", first.id, LEASE)
            .await
            .unwrap(),
        "the holder renews its own lock"
    );

    test.store.unlock_merges(&repo, "task-1").await.unwrap();
    assert!(
        other
            .try_lock_merges(&repo, "task-2", second.id, LEASE)
            .await
            .unwrap()
    );

    clock.advance(LEASE + Duration::from_secs(1));
    assert!(
        test.store
            .try_lock_merges(&repo, "task-3", third.id, LEASE)
            .await
            .unwrap(),
        "a holder that overstays the lock's lease loses the lock"
    );
    other.unlock_merges(&repo, "task-2").await.unwrap();
    assert!(
        !other
            .try_lock_merges(&repo, "task-2", second.id, LEASE)
            .await
            .unwrap(),
        "releasing a lock one no longer holds frees nothing"
    );

    assert!(test.store.complete(&third).await.unwrap());
    assert!(
        other
            .try_lock_merges(&repo, "task-2", second.id, LEASE)
            .await
            .unwrap(),
        "a lock whose landing job finished without releasing it is free"
    );
}

#[tokio::test]
async fn a_landing_job_whose_worker_died_frees_the_merge_lock_when_its_job_lease_lapses() {
    let (test, clock) = TestStore::on_manual_clock().await;
    let repo = flotilla::types::RepoName("acme/widgets".into());
    let [dead, waiting, _] = landing_jobs(&test, JOB_LEASE).await;
    let lock_lease = JOB_LEASE * 10;

    assert!(
        test.store
            .try_lock_merges(&repo, "task-1", dead.id, lock_lease)
            .await
            .unwrap()
    );
    assert!(
        !test
            .store
            .try_lock_merges(&repo, "task-2", waiting.id, lock_lease)
            .await
            .unwrap(),
        "the holder's job still runs under its lease"
    );
    assert_eq!(test.store.merge_locks().await.unwrap().len(), 1);

    clock.advance(JOB_LEASE + Duration::from_secs(1));
    assert!(
        test.store.merge_locks().await.unwrap().is_empty(),
        "the dashboard no longer shows the dead holder's lock"
    );
    assert!(
        test.store
            .try_lock_merges(&repo, "task-2", waiting.id, lock_lease)
            .await
            .unwrap(),
        "the dead holder's lock is free long before the lock's own lease ends"
    );
}

/// How long the landing jobs of the merge-lock scenarios are leased.
const JOB_LEASE: Duration = Duration::from_secs(600);

/// Three jobs claimed by three workers for `lease`: the landing jobs whose merges take
/// the lock.
async fn landing_jobs(test: &TestStore, lease: Duration) -> [ClaimedJob; 3] {
    let mut claimed = Vec::new();
    for (name, worker) in [
        ("land-1", "worker-1"),
        ("land-2", "worker-2"),
        ("land-3", "worker-3"),
    ] {
        test.store.enqueue(&job(name)).await.unwrap();
        claimed.push(test.claim_event(worker, lease).await.expect("a due job"));
    }
    claimed.try_into().expect("three jobs")
}

/// The backend of the job listener a pool holds on `schema`'s channel, once its
/// `LISTEN` has completed (`PgListener` ends it with `;` when it reconnects); `except` skips a backend already seen (a terminated one).
async fn listening_backend(admin: &sqlx::PgPool, schema: &str, except: Option<i32>) -> i32 {
    let listen = format!("LISTEN \"flotilla_jobs.{schema}\"");
    wait_for("the pool's job listener to listen", || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'flotilla job listener' \
             AND state = 'idle' AND rtrim(query, ';') = $1",
        )
        .bind(&listen)
        .fetch_all(admin)
        .await
        .unwrap()
        .into_iter()
        .find(|pid| Some(*pid) != except)
    })
    .await
}

/// Waits (up to 20 s, far below the pool's 60 s poll) for the job `name` to be done.
async fn wait_done(store: &Store, name: &str) {
    wait_for("the job to run in the other process", || async {
        store
            .job_by_key(&job(name).key)
            .await
            .unwrap()
            .filter(|r| r.state == JobState::Done)
    })
    .await;
}

#[tokio::test]
async fn a_job_queued_by_one_process_wakes_the_idle_workers_of_another_and_survives_a_dropped_listener()
 {
    let test = TestStore::new().await;
    let Some((url, schema)) = test.postgres() else {
        println!(
            "skipped: LISTEN/NOTIFY wake-ups need PostgreSQL (set FLOTILLA_TEST_DATABASE_URL)"
        );
        return;
    };
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    let other_process = test.another_process().await;
    let pool = WorkerPool::spawn(
        other_process,
        Arc::new(Flaky {
            failures: 0,
            calls: AtomicUsize::new(0),
        }),
        WorkerConfig {
            workers: 1,
            poll_interval: Duration::from_secs(60),
            ..fast_workers()
        },
    );
    let first_listener = listening_backend(&admin, schema, None).await;

    test.store
        .enqueue(&job("from-the-web-process"))
        .await
        .unwrap();
    wait_done(&test.store, "from-the-web-process").await;

    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first_listener)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(terminated, "the listener's backend is terminated");
    listening_backend(&admin, schema, Some(first_listener)).await;

    test.store
        .enqueue(&job("after-the-listener-dropped"))
        .await
        .unwrap();
    wait_done(&test.store, "after-the-listener-dropped").await;

    pool.shutdown().await;
    admin.close().await;
}

#[tokio::test]
async fn the_fleets_agent_slots_are_the_sum_over_the_processes_heard_from_lately() {
    let (test, clock) = TestStore::on_manual_clock().await;
    let fresh = flotilla::orchestrator::worker::CAPACITY_FRESH;
    assert_eq!(test.store.fleet_agent_slots(fresh).await.unwrap(), None);

    let other = test.another_process().await;
    test.store
        .announce_agent_slots("machine-a", 2)
        .await
        .unwrap();
    other.announce_agent_slots("machine-b", 3).await.unwrap();
    assert_eq!(test.store.fleet_agent_slots(fresh).await.unwrap(), Some(5));
    assert_eq!(other.fleet_agent_slots(fresh).await.unwrap(), Some(5));

    clock.advance(fresh / 2);
    test.store
        .announce_agent_slots("machine-a", 2)
        .await
        .unwrap();
    clock.advance(fresh / 2 + Duration::from_secs(1));
    assert_eq!(
        other.fleet_agent_slots(fresh).await.unwrap(),
        Some(2),
        "machine-b went silent (killed): its slots no longer count"
    );

    test.store.withdraw_agent_slots("machine-a").await.unwrap();
    assert_eq!(test.store.fleet_agent_slots(fresh).await.unwrap(), None);
}

#[tokio::test]
async fn an_agents_pool_announces_its_slots_while_it_runs_and_withdraws_them_when_it_stops() {
    let test = TestStore::new().await;
    let fresh = flotilla::orchestrator::worker::CAPACITY_FRESH;
    let pool = WorkerPool::spawn(
        test.store.clone(),
        Arc::new(Flaky {
            failures: 0,
            calls: AtomicUsize::new(0),
        }),
        WorkerConfig {
            workers: 3,
            lane: JobLane::Agents,
            ..fast_workers()
        },
    );
    wait_for("the pool announces its slots", || async {
        (test.store.fleet_agent_slots(fresh).await.ok()? == Some(3)).then_some(())
    })
    .await;
    pool.shutdown().await;
    assert_eq!(test.store.fleet_agent_slots(fresh).await.unwrap(), None);
}
