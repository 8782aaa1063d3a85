//! The `flotilla` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use flotilla::cli::{
    Cli, Command, LogFormat, ManifestArgs, ProtectArgs, PruneArgs, ServeArgs, SimArgs,
};
use flotilla::github::GithubApp;
use flotilla::manifest::AppManifest;
use flotilla::protect::ProtectRequest;
use flotilla::settings::{AppSettings, DatabaseSettings, ServeSettings};
use flotilla::sim::{SeedConfig, SimConfig};
use flotilla::store::Store;
use flotilla::types::{AppId, RepoName};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // The demo prints its own progress; Flotilla's info logs would drown it.
    let log = match cli.command {
        Command::Demo(_) if matches.value_source("log") == Some(ValueSource::DefaultValue) => {
            "warn"
        }
        _ => cli.log.as_str(),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    let outcome = match cli.command {
        Command::Serve(args) => run_async(serve(*args)),
        Command::Doctor(args) => run_async(flotilla::doctor::run(args)),
        Command::Manifest(args) => manifest(args),
        Command::Prune(args) => run_async(prune(args)),
        Command::Sim(args) => run_async(simulate(args)),
        Command::Demo(args) => run_async(flotilla::demo::run(args)),
        Command::Protect(args) => run_async(protect(args)),
        Command::SandboxForward(args) => {
            let mut command = args.command.into_iter();
            let program = command.next().unwrap_or_default();
            return flotilla::sandbox::forward::run(
                args.listen,
                args.socket,
                program,
                command.collect(),
            );
        }
        Command::SandboxRun(args) => {
            return flotilla::sandbox::separate::run(&args.socket, args.command);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flotilla: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `flotilla prune`: forgets what finished before `--older-than`, once.
async fn prune(args: PruneArgs) -> anyhow::Result<()> {
    let age = flotilla::settings::parse_age(&args.older_than)
        .map_err(|reason| anyhow::anyhow!("--older-than is invalid: {reason}"))?;
    let database = DatabaseSettings::from_args(&args.storage)?;
    let store = Store::connect(&database.url)
        .await
        .context("opening the database (FLOTILLA_DATABASE_URL)")?;
    let pruned = flotilla::retention::prune_older_than(&store, age).await?;
    println!(
        "pruned: {} delivery bodies, {} finished jobs, {} verdict outputs, {} step transcripts \
         (older than {})",
        pruned.delivery_bodies,
        pruned.jobs,
        pruned.verdict_outputs,
        pruned.step_texts,
        args.older_than
    );
    Ok(())
}

fn run_async(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let serving = flotilla::launch::serve(ServeSettings::from_args(args)?).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    serving.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn protect(args: ProtectArgs) -> anyhow::Result<()> {
    let repo = RepoName(args.repo);
    if !repo
        .split()
        .is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
    {
        anyhow::bail!("`{repo}` is not a repository: expected owner/name");
    }
    let settings = AppSettings::from_args(args.app)?;
    let app_id = settings.credentials.app_id;
    let github = GithubApp::new(settings.credentials, settings.github)?;
    let request = ProtectRequest {
        repo,
        branch: args.branch,
        strict: args.strict.then_some(true),
        extra_checks: args.require_check,
    };
    let report = flotilla::protect::protect(&github, app_id, &request).await?;
    print!("{report}");
    Ok(())
}

fn manifest(args: ManifestArgs) -> anyhow::Result<()> {
    let mut manifest = AppManifest::committed()?;
    if let Some(url) = args.public_url {
        manifest = manifest.with_public_url(&url);
    }
    println!("{}", manifest.to_json()?);
    Ok(())
}

async fn simulate(args: SimArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::new(args.data_dir);
    config.listen = args.listen;
    config.webhook_url = args.webhook_url;
    config.webhook_secret = args.webhook_secret;
    config.ci_command = args.ci;
    if args.seed {
        let key = std::fs::read_to_string(&args.app_public_key).with_context(|| {
            format!(
                "cannot read --app-public-key {}",
                args.app_public_key.display()
            )
        })?;
        let mut seed = SeedConfig::new(key);
        seed.app_id = AppId(args.app_id);
        seed.app_slug = args.app_slug;
        seed.source = args.seed_repo;
        config.seed = Some(seed);
    }
    flotilla::sim::run(config).await
}
