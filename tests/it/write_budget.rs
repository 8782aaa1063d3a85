//! The GitHub write budget every process shares through the database (SQLite, or
//! PostgreSQL when the suite runs on it): a bucket per installation that grants up to
//! its burst, refills with time and holds every write while GitHub's secondary rate
//! limit lasts; and the client that waits for it before each write, and tells GitHub's
//! secondary limit from a refusal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use flotilla::clock::ManualClock;
use flotilla::github::{
    AppCredentials, GithubApp, GithubError, GithubSettings, Grant, WriteBudget, WriteRate,
};
use flotilla::sim::{Fault, FaultKind};
use flotilla::types::{InstallationId, IssueNumber};

use crate::github_client::{
    COMMENTS_PATH, INSTALLATION, ISSUE_PATH, app_for, comment_json, issue_json, repo,
};
use crate::support::fake_github::{Canned, FakeGithub};
use crate::support::world::{WORLD_APP_ID, seeded_sim};
use crate::support::{TestStore, fixture_path};

const ACME: InstallationId = InstallationId(41);
const OTHER: InstallationId = InstallationId(42);

/// Three writes at once, then one a second.
const RATE: WriteRate = WriteRate {
    burst: 3,
    per_hour: 3600,
};

async fn on_a_manual_clock() -> (ManualClock, TestStore) {
    let clock = ManualClock::new();
    let test = TestStore::with_clock(Arc::new(clock.clone())).await;
    (clock, test)
}

fn waits(grant: Grant) -> Duration {
    match grant {
        Grant::Wait(wait) => wait,
        Grant::Granted => panic!("expected the budget to refuse"),
    }
}

#[tokio::test]
async fn the_budget_grants_its_burst_then_says_how_long_until_the_next_write() {
    let (_clock, test) = on_a_manual_clock().await;
    for n in 1..=3 {
        assert_eq!(
            test.store.take_github_write(ACME, RATE).await.unwrap(),
            Grant::Granted,
            "write {n} of the burst"
        );
    }
    let wait = waits(test.store.take_github_write(ACME, RATE).await.unwrap());
    assert_eq!(wait, Duration::from_secs(1), "one token a second");
    assert_eq!(
        test.store.take_github_write(OTHER, RATE).await.unwrap(),
        Grant::Granted,
        "another installation has a bucket of its own"
    );
}

#[tokio::test]
async fn the_budget_refills_with_time_up_to_its_burst() {
    let (clock, test) = on_a_manual_clock().await;
    for _ in 0..3 {
        test.store.take_github_write(ACME, RATE).await.unwrap();
    }
    clock.advance(Duration::from_millis(400));
    let wait = waits(test.store.take_github_write(ACME, RATE).await.unwrap());
    assert_eq!(
        wait,
        Duration::from_millis(600),
        "a refused ask spends nothing: the refill so far still counts"
    );
    clock.advance(Duration::from_millis(600));
    assert_eq!(
        test.store.take_github_write(ACME, RATE).await.unwrap(),
        Grant::Granted
    );

    clock.advance(Duration::from_secs(3600));
    for n in 1..=3 {
        assert_eq!(
            test.store.take_github_write(ACME, RATE).await.unwrap(),
            Grant::Granted,
            "write {n} after an idle hour"
        );
    }
    assert!(
        matches!(
            test.store.take_github_write(ACME, RATE).await.unwrap(),
            Grant::Wait(_)
        ),
        "an idle hour refills the burst, no more"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_holds_every_write_until_it_passes() {
    let (clock, test) = on_a_manual_clock().await;
    test.store
        .pause_github_writes(ACME, RATE, Duration::from_secs(60))
        .await
        .unwrap();
    let wait = waits(test.store.take_github_write(ACME, RATE).await.unwrap());
    assert_eq!(
        wait,
        Duration::from_secs(60),
        "the bucket is full, the pause holds"
    );

    test.store
        .pause_github_writes(ACME, RATE, Duration::from_secs(5))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(30));
    let wait = waits(test.store.take_github_write(ACME, RATE).await.unwrap());
    assert_eq!(
        wait,
        Duration::from_secs(30),
        "a shorter pause does not cut a longer one"
    );

    clock.advance(Duration::from_secs(30));
    assert_eq!(
        test.store.take_github_write(ACME, RATE).await.unwrap(),
        Grant::Granted
    );
    assert_eq!(
        test.store.take_github_write(OTHER, RATE).await.unwrap(),
        Grant::Granted,
        "only the installation GitHub limited is paused"
    );
}

#[tokio::test]
async fn two_processes_spend_from_one_bucket() {
    let (clock, test) = on_a_manual_clock().await;
    let other = test.another_process().await;
    let rate = WriteRate {
        burst: 20,
        per_hour: 3600,
    };
    let asks = (0..30).map(|n| {
        let store = if n % 2 == 0 {
            test.store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { store.take_github_write(ACME, rate).await.unwrap() })
    });
    let mut granted = 0;
    for ask in asks {
        if ask.await.unwrap() == Grant::Granted {
            granted += 1;
        }
    }
    assert_eq!(
        granted, 20,
        "thirty asks from two processes at once share one burst of twenty"
    );

    other
        .pause_github_writes(ACME, rate, Duration::from_secs(10))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let wait = waits(test.store.take_github_write(ACME, rate).await.unwrap());
    assert_eq!(
        wait,
        Duration::from_secs(5),
        "a pause one process records holds the other's writes"
    );
}

/// The client against a fake GitHub, spending from `test`'s budget at `rate`.
async fn budgeted_client(
    test: &TestStore,
    rate: WriteRate,
) -> (FakeGithub, flotilla::github::InstallationClient) {
    let fake = FakeGithub::start().await;
    let budget: Arc<dyn WriteBudget> = Arc::new(test.store.clone());
    let client = app_for(&fake.base_url)
        .with_write_budget(budget, rate)
        .installation(INSTALLATION)
        .await
        .expect("installation client");
    (fake, client)
}

#[tokio::test]
async fn the_client_waits_for_the_budget_before_each_write_but_never_before_a_read() {
    let test = TestStore::new().await;
    let rate = WriteRate {
        burst: 1,
        per_hour: 7200,
    };
    let (fake, client) = budgeted_client(&test, rate).await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![Canned::json(201, comment_json(1))],
    );
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![Canned::json(200, issue_json())],
    );

    let started = Instant::now();
    for _ in 0..3 {
        client
            .create_issue_comment(&repo(), IssueNumber(3), "hello")
            .await
            .expect("comment posted");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "the second and third comments waited half a second each: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    for _ in 0..5 {
        client
            .get_issue(&repo(), IssueNumber(3))
            .await
            .expect("read");
    }
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "reads do not spend the budget"
    );
    assert_eq!(fake.requests_to(Method::POST, COMMENTS_PATH).len(), 3);
}

#[tokio::test]
async fn a_budget_spent_for_longer_than_the_client_may_wait_is_a_rate_limit_and_sends_nothing() {
    let test = TestStore::new().await;
    let rate = WriteRate {
        burst: 1,
        per_hour: 60,
    };
    let (fake, client) = budgeted_client(&test, rate).await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![Canned::json(201, comment_json(1))],
    );
    client
        .create_issue_comment(&repo(), IssueNumber(3), "first")
        .await
        .expect("the burst");

    let error = client
        .create_issue_comment(&repo(), IssueNumber(3), "second")
        .await
        .expect_err("a minute's wait is past the policy's three seconds");
    let GithubError::RateLimited { retry_after, .. } = &error else {
        panic!("expected a rate limit the job queue postpones on: {error:?}");
    };
    assert!(
        retry_after.is_some_and(|wait| wait > Duration::from_secs(50)),
        "{error:?}"
    );
    assert!(
        error.transient().is_some(),
        "the job is postponed, not failed"
    );
    assert_eq!(
        fake.requests_to(Method::POST, COMMENTS_PATH).len(),
        1,
        "the refused write never reached GitHub"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_pauses_the_installations_writes_in_every_process() {
    let test = TestStore::new().await;
    let (fake, client) = budgeted_client(&test, WriteRate::default()).await;
    fake.script(
        Method::POST,
        COMMENTS_PATH,
        vec![Canned::secondary_rate_limit("30")],
    );
    let error = client
        .create_issue_comment(&repo(), IssueNumber(3), "hello")
        .await
        .expect_err("thirty seconds is past the policy's three");
    assert!(
        matches!(error, GithubError::RateLimited { .. }),
        "{error:?}"
    );

    let other = test.another_process().await;
    let wait = waits(
        other
            .take_github_write(INSTALLATION, WriteRate::default())
            .await
            .unwrap(),
    );
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "another process holds its writes until GitHub's retry-after: {wait:?}"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_on_minting_a_token_is_a_rate_limit_not_a_refusal() {
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    sim.inject_fault(Fault {
        method: Some("POST".to_owned()),
        route: "/app/installations/{installation_id}/access_tokens".to_owned(),
        times: 1,
        kind: FaultKind::SecondaryRateLimit { retry_after: 1 },
    });
    let app = GithubApp::new(
        AppCredentials::from_pem_file(WORLD_APP_ID, &fixture_path("keys/test-app.pem"))
            .expect("test key"),
        GithubSettings {
            base_url: sim.api_url(),
            ..GithubSettings::default()
        },
    )
    .expect("App client");
    let client = app
        .installation(seed.installation_id)
        .await
        .expect("installation client");

    let error = client
        .get_issue(&seed.repo_name(), IssueNumber(1))
        .await
        .expect_err("no token to send it with");
    assert!(
        matches!(error, GithubError::RateLimited { .. }),
        "a job that meets it is postponed, not failed: {error:?}"
    );
    assert!(error.transient().is_some());
    sim.shutdown().await;
}
