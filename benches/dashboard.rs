//! Dashboard benchmark: how long the run page takes to build (store reads, template,
//! SVG timeline) for a run of 20 tasks with 3 worker attempts each, every attempt
//! verified by a build and three lenses with their transcripts stored — against the
//! same page for a run of one task with one attempt, built alternately in the same
//! process (the ratio says what size costs).
//!
//! `cargo bench --bench dashboard` — knobs: `BENCH_TASKS` (20), `BENCH_ATTEMPTS` (3),
//! `BENCH_ROUNDS` (200 renders of each page).

use std::time::{Duration, Instant};

use flotilla::clock::Millis;
use flotilla::store::{
    NewRun, NewStep, NewTask, NewVerdict, RecordedPlan, RunId, StartRun, StepEnd, StepKind,
    StepOutcome, Store, VerdictOutcome, VerdictSource,
};
use flotilla::types::{CommitSha, InstallationId, IssueNumber, Login, RepoName};
use flotilla::web::auth::Access;
use flotilla::web::dashboard::run;

const LENSES: [&str; 3] = ["correctness", "security", "scope"];

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A run of `tasks` tasks, each with `attempts` attempts, each attempt verified.
async fn seed_run(store: &Store, issue: u64, tasks: usize, attempts: u32) -> anyhow::Result<RunId> {
    let StartRun::Started(id) = store
        .start_run(&NewRun {
            repo: RepoName::from("acme/widgets"),
            issue: IssueNumber(issue),
            installation: InstallationId(1),
            clone_url: "https://github.com/acme/widgets.git".to_owned(),
            default_branch: "main".to_owned(),
            title: format!("A run of {tasks} tasks"),
            body: String::new(),
            force_single: false,
            config: String::new(),
            requested_by: Login::from("alice"),
            max_parallel: 4,
        })
        .await?
    else {
        anyhow::bail!("the run did not start");
    };
    let plan = RecordedPlan {
        base_sha: CommitSha("0".repeat(40)),
        source: "the issue's task list".to_owned(),
        decisions: vec![format!("task list in the issue: {tasks} tasks")],
        tasks: (1..=tasks)
            .map(|i| NewTask {
                position: i64::try_from(i).expect("few tasks"),
                title: format!("Task number {i}"),
                instructions: "Change a file.".to_owned(),
                paths: vec![format!("src/file_{i}.rs")],
                depends_on: Vec::new(),
                branch: format!("flotilla/{issue}-task-{i}"),
                max_attempts: attempts,
            })
            .collect(),
    };
    store.record_plan(id, &plan).await?;
    let transcript = "the agent's output line\n".repeat(400);
    for task in store.tasks_of_run(id).await? {
        for attempt in 1..=attempts {
            let head = CommitSha(format!("{:040x}", task.id.0 * 100 + i64::from(attempt)));
            let step = |kind, lens: Option<&str>| NewStep {
                run: id,
                task: Some(task.id),
                kind,
                lens: lens.map(str::to_owned),
                attempt: (kind == StepKind::Work).then_some(attempt),
                head: (kind != StepKind::Work).then(|| head.clone()),
                prompt: Some("You are a coding agent…".repeat(20)),
            };
            let end = |outcome| StepEnd {
                outcome,
                reason: "done".to_owned(),
                transcript: transcript.clone(),
            };
            let work = store.start_step(&step(StepKind::Work, None)).await?;
            store
                .finish_step(work, &end(StepOutcome::Succeeded))
                .await?;
            let build = store.start_step(&step(StepKind::Build, None)).await?;
            store
                .finish_step(build, &end(StepOutcome::Succeeded))
                .await?;
            for lens in LENSES {
                let review = store
                    .start_step(&step(StepKind::Review, Some(lens)))
                    .await?;
                let refuted = attempt < attempts && lens == "correctness";
                let outcome = if refuted {
                    StepOutcome::Failed
                } else {
                    StepOutcome::Succeeded
                };
                store.finish_step(review, &end(outcome)).await?;
                store
                    .record_verdict(
                        task.id,
                        &head,
                        &NewVerdict {
                            source: VerdictSource::Lens,
                            name: lens.to_owned(),
                            outcome: if refuted { VerdictOutcome::Refuted } else { VerdictOutcome::Upheld },
                            summary: format!("The {lens} lens looked at the change."),
                            detail: serde_json::json!({"decision": "upheld", "summary": "", "findings": []}),
                            output: Some(transcript.clone()),
                            patch_id: None,
                            carried_from: None,
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(id)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tasks = knob("BENCH_TASKS", 20);
    let attempts = u32::try_from(knob("BENCH_ATTEMPTS", 3))?;
    let rounds = knob("BENCH_ROUNDS", 200);
    let dir = tempfile::TempDir::new()?;
    let store = Store::connect(&Store::default_url(dir.path())).await?;
    let big = seed_run(&store, 1, tasks, attempts).await?;
    let small = seed_run(&store, 2, 1, 1).await?;
    let big_run = store.run(big).await?.expect("stored");
    let small_run = store.run(small).await?.expect("stored");
    let now: Millis = chrono::Utc::now().timestamp_millis();
    let mut big_times = Vec::with_capacity(rounds);
    let mut small_times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let page = run::render(&store, &big_run, Access::Write, "alice", "token", now).await;
        big_times.push(started.elapsed());
        bytes = page.map_err(|e| anyhow::anyhow!("{e:?}"))?.len();
        let started = Instant::now();
        run::render(&store, &small_run, Access::Write, "alice", "token", now)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        small_times.push(started.elapsed());
    }
    big_times.sort();
    small_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("run page render, {rounds} rounds each, SQLite, same process:");
    println!(
        "  {tasks} tasks x {attempts} attempts (+ build and {} lenses each): p50 {:.2} ms, p99 {:.2} ms, {} KiB",
        LENSES.len(),
        ms(percentile(&big_times, 0.5)),
        ms(percentile(&big_times, 0.99)),
        bytes / 1024
    );
    println!(
        "  baseline 1 task x 1 attempt: p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&small_times, 0.5)),
        ms(percentile(&small_times, 0.99))
    );
    println!(
        "  ratio (p50): {:.1}x",
        ms(percentile(&big_times, 0.5)) / ms(percentile(&small_times, 0.5))
    );
    Ok(())
}
