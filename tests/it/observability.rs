//! What an operator watches: `GET /readyz` follows the store, its migrations and the
//! job workers; `GET /metrics` counts what a scenario did, checked against what the
//! store and the simulator recorded; `--log-format json` writes one JSON object a line,
//! each with the fields of the spans it was written in.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla::clock::ManualClock;
use flotilla::orchestrator::worker::{JobHandler, WorkerPool};
use flotilla::server;
use flotilla::store::{
    ClaimedJob, JobKind, JobState, NewJob, RunState, Store, TaskState, VerdictSource,
};
use flotilla::types::{DeliveryId, IssueNumber};
use sqlx::sqlite::SqlitePoolOptions;
use tempfile::TempDir;

use crate::support::serve::{free_port, healthy, serve};
use crate::support::world::TestWorld;
use crate::support::{SECRET, fast_workers, server_config, wait_for, webhook_fixture};

/// `GET path` on `base`: status and body.
async fn get(base: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request reaches flotilla");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

#[tokio::test]
async fn readyz_answers_503_with_the_reason_while_migrations_or_the_store_are_wrong() {
    let dir = TempDir::new().expect("temporary directory");
    let url = Store::default_url(dir.path());
    let store = Store::connect(&url).await.expect("store migrates");
    let server = server::start(server_config(store.clone()))
        .await
        .expect("flotilla starts");
    let base = server.url();
    assert_eq!(get(&base, "/readyz").await, (200, "ready".to_owned()));

    // A newer Flotilla migrated this database: this build must not take traffic.
    let raw = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("a second connection to the SQLite file");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer flotilla', TRUE, X'00', 0)",
    )
    .execute(&raw)
    .await
    .expect("a foreign migration is recorded");
    let (status, reason) = get(&base, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        reason,
        "migrations: the database has migration 99990101000000, which this build does not know"
    );

    // One of ours half-applied.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000")
        .execute(&raw)
        .await
        .expect("the foreign migration is removed");
    let (first,): (i64,) = sqlx::query_as("SELECT MIN(version) FROM _sqlx_migrations")
        .fetch_one(&raw)
        .await
        .expect("migrations are recorded");
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = $1")
        .bind(first)
        .execute(&raw)
        .await
        .expect("marked failed");
    assert_eq!(
        get(&base, "/readyz").await,
        (503, format!("migrations: migration {first} failed"))
    );
    sqlx::query("UPDATE _sqlx_migrations SET success = TRUE WHERE version = $1")
        .bind(first)
        .execute(&raw)
        .await
        .expect("marked applied again");
    assert_eq!(get(&base, "/readyz").await, (200, "ready".to_owned()));
    raw.close().await;

    // The store stops answering: not ready, and neither is the liveness probe.
    store.close().await;
    let (status, reason) = get(&base, "/readyz").await;
    assert_eq!(status, 503);
    assert!(reason.starts_with("store unavailable: "), "{reason}");
    assert_eq!(get(&base, "/healthz").await.0, 503);
    server.shutdown().await.expect("clean shutdown");
}

/// A job handler for a pool that never gets a job.
struct NoJobs;

impl JobHandler for NoJobs {
    async fn run(&self, job: ClaimedJob) -> anyhow::Result<()> {
        anyhow::bail!("no job was expected, got {}", job.kind)
    }
}

#[tokio::test]
async fn worker_liveness_turns_false_once_the_pool_stops() {
    let dir = TempDir::new().expect("temporary directory");
    let store = Store::connect(&Store::default_url(dir.path()))
        .await
        .expect("store migrates");
    let pool = WorkerPool::spawn(store, Arc::new(NoJobs), fast_workers());
    let liveness = pool.liveness();
    assert_eq!(liveness.check(), Ok(()));
    pool.shutdown().await;
    assert_eq!(
        liveness.check(),
        Err("0 of 2 Events workers running".to_owned())
    );
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (
                series.to_owned(),
                value.parse::<f64>().expect("a numeric sample"),
            )
        })
        .collect()
}

/// The sum of the samples of metric `name` whose labels include every one of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            metric == name
                && labels
                    .iter()
                    .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|(_, value)| value)
        .sum()
}

#[tokio::test]
async fn the_queue_gauges_show_a_job_no_worker_takes_and_how_long_it_has_waited() {
    let dir = TempDir::new().expect("temporary directory");
    let clock = ManualClock::new();
    let store = Store::connect_with(
        &Store::default_url(dir.path()),
        None,
        Arc::new(clock.clone()),
    )
    .await
    .expect("store migrates");
    // Intake only: no agent workers, so a plan_run job waits.
    let server = server::start(server_config(store.clone()))
        .await
        .expect("flotilla starts");
    store
        .enqueue(&NewJob {
            kind: JobKind::PlanRun,
            key: "plan:waiting".to_owned(),
            payload: serde_json::json!({ "run_id": 1 }),
            max_attempts: 1,
        })
        .await
        .expect("enqueued");
    clock.advance(std::time::Duration::from_secs(90));

    let (status, text) = get(&server.url(), "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let samples = samples(&text);
    assert_eq!(
        sum(
            &samples,
            "flotilla_jobs",
            &[
                ("kind", "plan_run"),
                ("lane", "agents"),
                ("state", "queued")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &samples,
            "flotilla_job_queue_wait_seconds",
            &[("kind", "plan_run"), ("lane", "agents")]
        ),
        90.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &samples,
            "flotilla_job_queue_wait_seconds",
            &[("kind", "process_delivery")]
        ),
        0.0,
        "{text}"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// Converts a count from the store to a sample's type.
fn float(n: i64) -> f64 {
    f64::from(i32::try_from(n).expect("a small count"))
}

#[tokio::test]
async fn metrics_count_what_a_dispatched_issue_did() {
    let world = TestWorld::start().await;
    let (issue, run, tasks) = world
        .dispatch_until_run_ends("One small thing", "- [ ] Add `src/metrics-note.txt`\n")
        .await;
    assert_eq!(run.state, RunState::Settled);
    assert!(tasks.iter().all(|t| t.state == TaskState::Merged));
    world
        .bot_comments_are(issue, &["| merged |", "are merged into"])
        .await;
    for pull in world.sim.pulls(&world.repo) {
        world
            .bot_comments_are(IssueNumber(pull.number.0), &[])
            .await;
    }
    // Flotilla has gone quiet; whatever it does next is not part of this scenario.
    let before = world.sim.call_counts();
    world.github_calls_since(&before).await;

    let (status, text) = get(&world.flotilla.url(), "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let samples = samples(&text);
    let store = &world.flotilla.store;

    assert_eq!(sum(&samples, "flotilla_merges_total", &[]), 1.0, "{text}");
    assert_eq!(
        sum(
            &samples,
            "flotilla_task_attempts_total",
            &[("outcome", "proposed")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(&samples, "flotilla_task_attempts_total", &[]),
        1.0,
        "{text}"
    );

    // Every delivery of `issues` the simulator sent is counted under its stored outcome.
    let mut issues_by_outcome: BTreeMap<String, f64> = BTreeMap::new();
    for delivery in world.sim.deliveries() {
        if delivery.event != "issues" {
            continue;
        }
        let record = store
            .delivery(&DeliveryId(delivery.guid.clone()))
            .await
            .expect("store answers")
            .expect("every delivery is stored");
        *issues_by_outcome
            .entry(record.outcome.as_str().to_owned())
            .or_default() += 1.0;
    }
    assert!(
        issues_by_outcome.get("processed") >= Some(&1.0),
        "{issues_by_outcome:?}"
    );
    for (outcome, count) in &issues_by_outcome {
        assert_eq!(
            sum(
                &samples,
                "flotilla_deliveries_total",
                &[("event", "issues"), ("outcome", outcome)]
            ),
            *count,
            "issues deliveries {outcome}: {text}"
        );
    }

    // Verdicts: each lens and gate on the merged head, as the store recorded them.
    let task = &tasks[0];
    let head = task.head_sha.as_ref().expect("a head");
    let verdicts = store.verdicts(task.id, head).await.expect("store answers");
    let lenses = verdicts
        .iter()
        .filter(|v| v.kind == VerdictSource::Lens)
        .count();
    assert_eq!(lenses, 3, "three scripted lenses: {verdicts:?}");
    for verdict in &verdicts {
        assert_eq!(
            sum(
                &samples,
                "flotilla_verdicts_total",
                &[
                    ("source", verdict.kind.as_str()),
                    ("name", &verdict.name),
                    ("outcome", verdict.outcome.as_str())
                ]
            ),
            1.0,
            "{verdict:?}: {text}"
        );
    }

    // The queue, read from the store at scrape time.
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            let stored = store
                .job_counts()
                .await
                .expect("store answers")
                .into_iter()
                .find(|(k, s, _)| *k == kind && *s == state)
                .map_or(0, |(_, _, n)| n);
            assert_eq!(
                sum(
                    &samples,
                    "flotilla_jobs",
                    &[("kind", kind.as_str()), ("state", state.as_str())]
                ),
                float(stored),
                "{kind} {}: {text}",
                state.as_str()
            );
        }
    }
    assert_eq!(sum(&samples, "flotilla_dead_jobs", &[]), 0.0);
    assert_eq!(sum(&samples, "flotilla_agent_slots_in_use", &[]), 0.0);
    // One plan, one landing, each timed once with its result.
    for kind in ["plan_run", "land_task"] {
        assert!(
            sum(
                &samples,
                "flotilla_job_duration_seconds_count",
                &[("kind", kind), ("result", "done")]
            ) >= 1.0,
            "{kind}: {text}"
        );
    }
    let done_jobs: i64 = store
        .job_counts()
        .await
        .expect("store answers")
        .into_iter()
        .filter(|(_, state, _)| *state == JobState::Done)
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(
        sum(
            &samples,
            "flotilla_job_duration_seconds_count",
            &[("result", "done")]
        ),
        float(done_jobs),
        "every finished job was timed once: {text}"
    );

    // GitHub: the one pull request created and merged, and the rate limit seen.
    assert_eq!(
        sum(
            &samples,
            "flotilla_github_requests_total",
            &[
                ("method", "POST"),
                ("route", "/repos/{owner}/{repo}/pulls"),
                ("status", "201")
            ]
        ),
        1.0,
        "{text}"
    );
    let remaining = sum(&samples, "flotilla_github_rate_limit_remaining", &[]);
    assert!(remaining > 0.0, "{text}");

    // Spend, as the usage records add up.
    let spend = store.spend_of_run(run.id).await.expect("store answers");
    let tokens = spend.tokens.input
        + spend.tokens.output
        + spend.tokens.cache_read
        + spend.tokens.cache_write;
    assert_eq!(
        sum(&samples, "flotilla_agent_tokens_total", &[]),
        f64::from(u32::try_from(tokens).expect("a small count")),
        "{text}"
    );
    world.teardown().await;
}

/// The JSON log lines whose spans include one with `field` equal to `value`.
fn lines_in_span<'a>(
    lines: &'a [serde_json::Value],
    field: &str,
    value: &str,
) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|span| span[field].as_str() == Some(value)))
        })
        .collect()
}

/// The first of `lines` whose message is `message`.
fn line_saying<'a>(lines: &[&'a serde_json::Value], message: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|line| line["fields"]["message"] == message)
        .unwrap_or_else(|| panic!("no line saying {message:?}: {lines:#?}"))
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_carrying_the_delivery_id_of_its_span() {
    let dir = TempDir::new().expect("temporary directory");
    let port = free_port();
    // Nothing in this scenario calls GitHub; the API URL answers nothing.
    let mut flotilla = serve(
        dir.path(),
        "http://127.0.0.1:9",
        port,
        &[("FLOTILLA_LOG_FORMAT", "json".into())],
    );
    healthy(port).await;
    let body = webhook_fixture("ping");
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", "ping")
        .header("x-github-delivery", "guid-json-logs")
        .header(
            "x-hub-signature-256",
            flotilla::webhook::signature::sign(SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .expect("request reaches flotilla");
    assert_eq!(response.status().as_u16(), 202);

    let log = dir.path().join("flotilla.log");
    let read_lines = || {
        std::fs::read_to_string(&log)
            .expect("the log file")
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"))
            })
            .collect::<Vec<_>>()
    };
    wait_for("the ping to be logged inside its delivery span", || async {
        lines_in_span(&read_lines(), "delivery", "guid-json-logs")
            .iter()
            .any(|line| line["fields"]["message"] == "ping")
            .then_some(())
    })
    .await;
    let pid = i32::try_from(flotilla.id().expect("a running child")).expect("a pid");
    // SIGTERM: the graceful shutdown's lines are JSON too.
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = flotilla.wait().await.expect("flotilla exits");
    assert!(status.success(), "{status}");

    let lines = read_lines();
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "shutting down"),
        "{lines:?}"
    );
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let ping = lines_in_span(&lines, "delivery", "guid-json-logs");
    let handled = line_saying(&ping, "ping");
    assert_eq!(handled["span"]["delivery"], "guid-json-logs", "{handled}");
    assert_eq!(handled["span"]["event"], "ping", "{handled}");
    let job = handled["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|span| span["name"] == "job"))
        .expect("the job span encloses the delivery's");
    assert_eq!(job["kind"], "process_delivery", "{handled}");
    assert_eq!(job["attempt"], 1, "{handled}");
    // The intake's line (FLOTILLA_LOG=debug) is in its own span with the same id.
    let stored = line_saying(&ping, "delivery stored");
    assert_eq!(stored["span"]["name"], "webhook", "{stored}");
    assert_eq!(stored["span"]["event"], "ping", "{stored}");
}

/// `GET /metrics` on `port` with `token` as a bearer token: status and body.
async fn scrape(port: u16, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("/metrics answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

#[tokio::test]
async fn metrics_are_open_by_default_and_closed_to_all_but_the_token_when_one_is_set() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, _seed) = crate::support::world::seeded_sim(dir.path(), None).await;
    let open_dir = dir.path().join("open");
    std::fs::create_dir_all(&open_dir).expect("a directory");
    let open = free_port();
    let _open = serve(&open_dir, &sim.api_url(), open, &[]);
    healthy(open).await;
    let (status, text) = scrape(open, None).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("# TYPE"), "{text}");

    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "scraper-token-7\n").expect("token file");
    let closed_dir = dir.path().join("closed");
    std::fs::create_dir_all(&closed_dir).expect("a directory");
    let closed = free_port();
    let _closed = serve(
        &closed_dir,
        &sim.api_url(),
        closed,
        &[("FLOTILLA_METRICS_TOKEN_FILE", token_file.clone().into())],
    );
    healthy(closed).await;
    assert_eq!(scrape(closed, None).await.0, 401, "no token");
    assert_eq!(
        scrape(closed, Some("scraper-token-8")).await.0,
        401,
        "wrong token"
    );
    let (status, text) = scrape(closed, Some("scraper-token-7")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("# TYPE"), "{text}");
    assert_eq!(
        get(&format!("http://127.0.0.1:{closed}"), "/healthz")
            .await
            .0,
        200,
        "probes stay open"
    );

    let standby_dir = dir.path().join("standby");
    std::fs::create_dir_all(&standby_dir).expect("a directory");
    let standby = free_port();
    let _standby = crate::support::serve::serve_unregistered(
        &standby_dir,
        &sim.api_url(),
        standby,
        &[("FLOTILLA_METRICS_TOKEN", "scraper-token-7".into())],
    );
    healthy(standby).await;
    assert_eq!(
        scrape(standby, None).await.0,
        401,
        "a server waiting for its App's registration too"
    );
    assert_eq!(scrape(standby, Some("scraper-token-7")).await.0, 200);
    sim.shutdown().await;
}
