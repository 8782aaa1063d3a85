//! What the sandbox adds to every agent run: a no-op agent (`true`) run through
//! Flotilla's agent runner unconfined (`--sandbox none`) and under bubblewrap (with its
//! control group and limits), alternating, in one process; medians of each and the
//! difference. A third series adds `network.allow` (the egress proxy and the in-sandbox
//! forwarder).
//!
//! `cargo bench --bench sandbox` — knob: `BENCH_RUNS` (50 of each).

use std::time::{Duration, Instant};

use flotilla::agent::{AgentCommand, AgentRun, HostEnv, Outcome, Role, UsageFormat};
use flotilla::sandbox::{Confinement, Engine, Sandbox, SandboxSettings};
use tempfile::TempDir;

fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(runs))
}

/// A sandbox of `engine` for a scratch data dir.
async fn sandbox(engine: Engine, data_dir: &std::path::Path) -> anyhow::Result<Sandbox> {
    let mut settings = SandboxSettings::new(engine, data_dir, "https://api.github.com");
    settings.forwarder = Some(env!("CARGO_BIN_EXE_flotilla").into());
    Ok(Sandbox::new(settings).await?)
}

async fn run(runs: usize) -> anyhow::Result<()> {
    let data_dir = TempDir::new()?;
    let tree = TempDir::new()?;
    let unconfined = sandbox(Engine::None, data_dir.path()).await?;
    let confined = sandbox(Engine::Bwrap, data_dir.path()).await?;
    let agent = AgentRun {
        command: AgentCommand::Program {
            program: "true".to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        },
        working_dir: tree.path().to_owned(),
        prompt: String::new(),
        role: Role::Worker,
        task_id: "bench".to_owned(),
        task_title: "no-op".to_owned(),
        lens: None,
        time_limit: Duration::from_secs(30),
        kill_grace: Duration::from_millis(200),
        pass_env: Vec::new(),
        transcript_cap: 4096,
        confinement: Confinement {
            tree_writable: true,
            ..Confinement::default()
        },
        usage_format: UsageFormat::None,
        usage_cap: None,
    };
    let networked = AgentRun {
        confinement: Confinement {
            network_allow: vec!["127.0.0.1:9".to_owned()],
            ..agent.confinement.clone()
        },
        ..agent.clone()
    };
    let host = HostEnv::current();
    let (mut none, mut bwrap, mut proxied) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        none.push(time(&agent, &host, &unconfined).await?);
        bwrap.push(time(&agent, &host, &confined).await?);
        proxied.push(time(&networked, &host, &confined).await?);
    }
    let (none, bwrap, proxied) = (median(&mut none), median(&mut bwrap), median(&mut proxied));
    println!("no-op agent, median of {runs} runs each, alternating:");
    println!("  unconfined (--sandbox none)        {none:8.2} ms");
    println!(
        "  bubblewrap sandbox                 {bwrap:8.2} ms  (+{:.2} ms, {:.2}x)",
        bwrap - none,
        bwrap / none
    );
    println!(
        "  sandbox with network.allow         {proxied:8.2} ms  (+{:.2} ms, {:.2}x)",
        proxied - none,
        proxied / none
    );
    Ok(())
}

/// Wall time of one run, in milliseconds; the run must succeed.
async fn time(agent: &AgentRun, host: &HostEnv, sandbox: &Sandbox) -> anyhow::Result<f64> {
    let started = Instant::now();
    let report = agent.run(host, sandbox).await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        report.outcome == Outcome::Exited,
        "the no-op agent did not succeed: {} {}",
        report.outcome,
        report.transcript
    );
    Ok(elapsed)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
