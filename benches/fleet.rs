//! Fleet benchmark: a repository of 20,000 files on the simulator, its `main` protected
//! as a careful maintainer would (`flotilla/verify` from the App required, branches up
//! to date before merging, so each task after the first is brought up to date and
//! verified again), an issue with a task list, a no-op agent (it stamps the time and
//! adds one line) and three no-op reviewer lenses (they answer "upheld").
//!
//! Reports, per task: the time from the label webhook to the agent's start (run it with
//! `BENCH_FILES=100` for the figure without a large checkout), from the agent's exit to
//! the draft pull request, from the draft pull request to a verified head and to the
//! merge, and the GitHub API calls the simulator counted up to the draft pull requests
//! and up to the merges, with the content-creating ones (writes, which GitHub's
//! secondary rate limit caps) per merged task and a breakdown by route, and the reviewer
//! runs per merged task (each lens appends a line to a file; a base update after a sibling
//! merged should re-run none). Verification is compared with what it cannot avoid, measured in
//! this process: a plain `git worktree add` and remove of the head, plus the same three
//! reviewer commands run one after another (the ratio is Flotilla's overhead: fetch,
//! diff, gates, read-only checkout, reviews, check runs). Separately, worktree set-up by Flotilla's
//! workspace module against a plain `git worktree add` on the same mirror, run
//! alternately in the same process; the figure is the ratio. The whole scenario runs
//! twice, agents unconfined (`--sandbox none`) and then in the bubblewrap sandbox, so
//! the sandbox's cost shows in the same run.
//!
//! `cargo bench --bench fleet` — knobs: `BENCH_FILES` (20000), `BENCH_TASKS` (3),
//! `BENCH_WORKTREES` (10 rounds of each kind), `BENCH_SANDBOX` (`none` or `bwrap`: only
//! that one).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use flotilla::agent::HostEnv;
use flotilla::github::{AppCredentials, GithubApp, GithubSettings};
use flotilla::orchestrator::worker::WorkerConfig;
use flotilla::orchestrator::{FleetConfig, GithubPacing};
use flotilla::sandbox::{Engine, Sandbox, SandboxSettings};
use flotilla::server::{self, ServerConfig};
use flotilla::sim::{Protection, RequiredCheck, SeedConfig, SimConfig};
use flotilla::store::{RunState, SlotLimits, Store, TaskState};
use flotilla::types::AppId;
use flotilla::webhook::signature::WebhookSecrets;
use flotilla::workspace::{BotIdentity, GitAuth, Mirror};

const SECRET: &str = "bench-secret";
const APP_ID: AppId = AppId(1001);
const SLUG: &str = "flotilla-bench";

/// The no-op reviewer: reads its prompt and upholds the change.
const REVIEWER: &str = "cat >/dev/null\n\
    echo '{\"verdict\": \"upheld\", \"summary\": \"nothing to refute\", \"findings\": []}'\n";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn fixture(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// A plain folder of `files` small files in 100 directories.
/// The sandbox the benchmark's agents run in, hiding the benchmark's scratch directory
/// but for the reviewer script (read-only) and the time stamps the agents write.
async fn bench_sandbox(
    engine: Engine,
    data_dir: &Path,
    api_url: &str,
    scratch: &Path,
    exposed: (&Path, &Path),
) -> anyhow::Result<Sandbox> {
    let (reviewer, stamps) = exposed;
    let mut settings = SandboxSettings::new(engine, data_dir, api_url);
    settings.read_only = vec![reviewer.to_owned()];
    settings.writable = vec![stamps.to_owned()];
    settings.never = vec![scratch.to_owned(), fixture("keys/test-app.pem")];
    settings.forwarder = Some(env!("CARGO_BIN_EXE_flotilla").into());
    Ok(Sandbox::new(settings).await?)
}

fn make_repo(dir: &Path, files: usize) -> anyhow::Result<()> {
    for i in 0..files {
        let sub = dir.join(format!("src/d{:03}", i % 100));
        std::fs::create_dir_all(&sub)?;
        std::fs::write(sub.join(format!("f{i:05}.txt")), format!("file {i}\n"))?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let files = env_usize("BENCH_FILES", 20_000);
    let tasks = env_usize("BENCH_TASKS", 3);
    let rounds = env_usize("BENCH_WORKTREES", 10);
    let engines = match std::env::var("BENCH_SANDBOX").as_deref() {
        Ok("none") => vec![Engine::None],
        Ok("bwrap") => vec![Engine::Bwrap],
        _ => vec![Engine::None, Engine::Bwrap],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for engine in engines {
        runtime.block_on(run(files, tasks, rounds, engine))?;
    }
    Ok(())
}

async fn run(files: usize, tasks: usize, rounds: usize, engine: Engine) -> anyhow::Result<()> {
    let dir = tempfile::TempDir::new()?;
    let source = dir.path().join("source");
    make_repo(&source, files)?;
    let stamps = dir.path().join("stamps");
    std::fs::create_dir_all(&stamps)?;
    let reviewer = dir.path().join("reviewer.sh");
    std::fs::write(&reviewer, REVIEWER)?;
    let reviews = stamps.join("reviews");
    let lens = |name: &str| {
        format!(
            "  {name}:\n    adapter: command\n    command: \"echo $FLOTILLA_TASK_ID >> {}; sh {}\"\n",
            reviews.display(),
            reviewer.display()
        )
    };
    let config = format!(
        "worker:\n  adapter: command\n  command: \"echo $(date +%s%N) > {s}/start-$FLOTILLA_TASK_ID; \
         echo done >> bench-$FLOTILLA_TASK_ID.txt; echo $(date +%s%N) > {s}/exit-$FLOTILLA_TASK_ID\"\n\
         max_parallel_tasks: {tasks}\nreviewers:\n{}{}{}",
        lens("correctness"),
        lens("security"),
        lens("runs"),
        s = stamps.display()
    );
    std::fs::create_dir_all(source.join(".github"))?;
    std::fs::write(source.join(".github/flotilla.yml"), config)?;

    let mut seed = SeedConfig::new(std::fs::read_to_string(fixture("keys/test-app.pub.pem"))?);
    seed.app_id = APP_ID;
    seed.app_slug = SLUG.to_owned();
    seed.source = Some(source.clone());
    let mut sim_config = SimConfig::new(dir.path().join("sim"));
    sim_config.webhook_url = Some("http://127.0.0.1:9/webhook".to_owned());
    sim_config.webhook_secret = Some(SECRET.to_owned());
    sim_config.seed = Some(seed.clone());
    let sim = flotilla::sim::start(sim_config).await?;
    let repo = seed.repo_name();
    sim.set_protection(
        &repo,
        "main",
        Some(Protection {
            required_checks: Some(vec![RequiredCheck {
                context: "flotilla/verify".to_owned(),
                app_id: Some(APP_ID),
            }]),
            strict: true,
            ..Protection::default()
        }),
    )?;
    let github = GithubApp::new(
        AppCredentials::from_pem_file(APP_ID, &fixture("keys/test-app.pem"))?,
        GithubSettings {
            base_url: sim.api_url(),
            ..GithubSettings::default()
        },
    )?;
    let data_dir = dir.path().join("flotilla-data");
    let store = Store::connect(&Store::default_url(&data_dir)).await?;
    let flotilla = server::start(ServerConfig {
        metrics_token: None,
        role: flotilla::role::Role::All,
        auth: None,
        listen: "127.0.0.1:0".parse()?,
        secrets: WebhookSecrets::from_comma_separated(SECRET).context("secret")?,
        store: store.clone(),
        app_slug: SLUG.to_owned(),
        workers: WorkerConfig {
            poll_interval: Duration::from_millis(200),
            ..WorkerConfig::default()
        },
        fleet: Some(FleetConfig {
            github: github.clone(),
            sandbox: bench_sandbox(
                engine,
                &data_dir,
                &sim.api_url(),
                dir.path(),
                (&reviewer, &stamps),
            )
            .await?,
            data_dir: data_dir.clone(),
            host_env: HostEnv::current(),
            limits: SlotLimits {
                global: u32::try_from(tasks)?,
                per_repo: u32::try_from(tasks)?,
            },
            app_id: APP_ID,
            reviewer_app: None,
            bot: BotIdentity::for_app(APP_ID, SLUG),
            kill_grace: Duration::from_secs(1),
            transcript_cap: 1 << 20,
            cancel_poll: Duration::from_secs(1),
            pricing: flotilla::cost::Pricing::default(),
            daily_budget: flotilla::cost::Limit::default(),
            pacing: GithubPacing::default(),
            dashboard: None,
        }),
    })
    .await?;
    sim.set_webhook_url(APP_ID, &format!("{}/webhook", flotilla.url()))?;

    let body: String = (1..=tasks)
        .map(|i| format!("- [ ] Add `bench-{i}.txt`\n"))
        .collect();
    let issue = sim
        .open_issue(&repo, "Benchmark", &body, &seed.writer)
        .await?;
    let calls_before = sim.call_counts();
    let labelled_at = now_ms();
    sim.label_issue(&repo, issue.0, "flotilla", &seed.writer)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut pr_seen_at = HashMap::new();
    let mut verified_at = HashMap::new();
    let mut merged_at = HashMap::new();
    let mut calls_to_prs = None;
    let records = loop {
        anyhow::ensure!(Instant::now() < deadline, "the run did not settle in time");
        if let Some(run) = store.latest_run(&repo, issue).await? {
            let records = store.tasks_of_run(run.id).await?;
            for task in &records {
                if task.pr.is_some() {
                    pr_seen_at.entry(task.id).or_insert_with(now_ms);
                }
                if matches!(
                    task.state,
                    TaskState::Verified | TaskState::Ready | TaskState::Merging | TaskState::Merged
                ) {
                    verified_at.entry(task.id).or_insert_with(now_ms);
                }
                if task.state == TaskState::Merged {
                    merged_at.entry(task.id).or_insert_with(now_ms);
                }
            }
            if calls_to_prs.is_none() && pr_seen_at.len() == tasks {
                calls_to_prs = Some(sim.call_counts().since(&calls_before).total());
            }
            if !records.is_empty()
                && records.iter().all(|t| t.state.is_final())
                && run.state != RunState::Active
            {
                break records;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // Stopping Flotilla lets it finish what it was doing (the last comment edits), so
    // every call the run made is counted.
    flotilla.shutdown().await?;
    let counts = sim.call_counts().since(&calls_before);
    let calls = counts.total();
    let calls_to_prs = calls_to_prs.unwrap_or(calls);
    anyhow::ensure!(
        records.iter().all(|t| t.state == TaskState::Merged),
        "every task should have merged: {records:?}"
    );
    let reviewer_runs = std::fs::read_to_string(&reviews)?.lines().count();
    let by_hand = reviewers_by_hand(&reviewer, dir.path()).await?;
    let stamp = |kind: &str, id: &str| -> anyhow::Result<f64> {
        let text = std::fs::read_to_string(stamps.join(format!("{kind}-{id}")))?;
        Ok(text.trim().parse::<f64>()? / 1e6)
    };
    println!("fleet benchmark: {files} files, {tasks} tasks, no-op agent, sandbox {engine:?}");
    let mut to_start = Vec::new();
    let mut to_pr = Vec::new();
    let mut to_verified = Vec::new();
    let mut to_merged = Vec::new();
    for task in &records {
        let id = task.id.to_string();
        to_start.push(stamp("start", &id)? - labelled_at);
        to_pr.push(pr_seen_at[&task.id] - stamp("exit", &id)?);
        to_verified.push(verified_at[&task.id] - pr_seen_at[&task.id]);
        to_merged.push(merged_at[&task.id] - verified_at[&task.id]);
    }
    let worktree = worktree_setup(&data_dir, &repo, &sim.git_url(&repo), &github, rounds).await?;
    println!(
        "  label → agent start:        first {:.0} ms, last {:.0} ms (includes fetch + checkout of {files} files)",
        min(&to_start),
        max(&to_start)
    );
    println!(
        "  agent exit → draft PR:      median {:.0} ms, max {:.0} ms (includes commit, push, PR; 5 ms polling)",
        median(&mut to_pr),
        max(&to_pr)
    );
    let verify_median = median(&mut to_verified);
    println!(
        "  draft PR → verified head:   median {verify_median:.0} ms, max {:.0} ms (fetch, checkout, gates, 3 lenses, 3 reviews, 5 check runs)",
        max(&to_verified)
    );
    let baseline = worktree.plain_ms + by_hand;
    println!(
        "  baseline: plain `git worktree add` + remove {:.0} ms + the three reviewer commands run by hand {by_hand:.0} ms = {baseline:.0} ms → verification takes {:.2}× that",
        worktree.plain_ms,
        verify_median / baseline
    );
    println!(
        "  verified → merged:          median {:.0} ms, max {:.0} ms (required checks, ready for review, merge, siblings brought up to date)",
        median(&mut to_merged),
        max(&to_merged)
    );
    println!(
        "  label → all merged:         {:.0} ms",
        merged_at.values().copied().fold(0.0_f64, f64::max) - labelled_at
    );
    println!(
        "  GitHub API calls:           {calls_to_prs} for {tasks} tasks up to the last draft PR = {:.1} per task (target ≤ 12; includes the first tasks' verification calls); {calls} up to the merges = {:.1} per task",
        calls_to_prs as f64 / tasks as f64,
        calls as f64 / tasks as f64
    );
    println!(
        "  GitHub writes (POST/PATCH/PUT/DELETE, GraphQL mutations) up to the merges: {} = {:.1} per merged task (target ≤ 8); all calls {calls} = {:.1} per merged task (target ≤ 15); by route:\n{}",
        counts.writes(),
        counts.writes() as f64 / tasks as f64,
        calls as f64 / tasks as f64,
        counts.breakdown().trim_end()
    );
    println!(
        "  reviewer runs:              {reviewer_runs} for {tasks} merged tasks = {:.1} per task (target: 3 lenses × attempts, none again after an unrelated base update)",
        reviewer_runs as f64 / tasks as f64
    );
    println!(
        "  worktree set-up:            Flotilla {:.0} ms vs plain `git worktree add` {:.0} ms = {:.2}× (target ≤ 1.2×)",
        worktree.flotilla_ms,
        worktree.plain_ms,
        worktree.flotilla_ms / worktree.plain_ms
    );
    sim.shutdown().await;
    Ok(())
}

/// Milliseconds to run the reviewer command three times in a row, as a lens would be
/// run (median of 5 such rounds): the cost verification cannot avoid.
async fn reviewers_by_hand(reviewer: &Path, dir: &Path) -> anyhow::Result<f64> {
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..3 {
            let output = tokio::process::Command::new("sh")
                .arg(reviewer)
                .current_dir(dir)
                .stdin(std::process::Stdio::null())
                .output()
                .await?;
            anyhow::ensure!(output.status.success(), "the reviewer failed");
        }
        rounds.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(&mut rounds))
}

struct WorktreeFigures {
    flotilla_ms: f64,
    plain_ms: f64,
}

/// Median time of `Mirror::add_worktree` + `remove` (a staging worktree plus the
/// agent's own repository by shallow fetch) against `git worktree add` + `git worktree
/// remove` on the same mirror, alternating.
async fn worktree_setup(
    data_dir: &Path,
    repo: &flotilla::types::RepoName,
    url: &str,
    github: &GithubApp,
    rounds: usize,
) -> anyhow::Result<WorktreeFigures> {
    let mirror = Mirror::open(data_dir, repo)?;
    let installation = github
        .installation(flotilla::types::InstallationId(
            SeedConfig::new(String::new()).installation_id.0,
        ))
        .await?;
    mirror
        .ensure(url, &GitAuth::new(installation.token().await?))
        .await?;
    let base = mirror.branch_head("main").await?;
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        let worktree = mirror
            .add_worktree(
                &format!("bench-{round}"),
                &format!("bench/{round}"),
                &base.0,
                &[],
                &BotIdentity::for_app(flotilla::types::AppId(1), "bench"),
            )
            .await?;
        ours.push(started.elapsed().as_secs_f64() * 1000.0);
        worktree.remove().await?;

        let dir = data_dir.join(format!("plain-{round}"));
        let started = Instant::now();
        let status = tokio::process::Command::new("git")
            .current_dir(mirror.path())
            .args([
                "worktree",
                "add",
                "--quiet",
                "-B",
                &format!("plain/{round}"),
            ])
            .arg(&dir)
            .arg(&base.0)
            .status()
            .await?;
        plain.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.success(), "git worktree add failed");
        tokio::process::Command::new("git")
            .current_dir(mirror.path())
            .args(["worktree", "remove", "--force"])
            .arg(&dir)
            .status()
            .await?;
    }
    Ok(WorktreeFigures {
        flotilla_ms: median(&mut ours),
        plain_ms: median(&mut plain),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
