//! A real `flotilla serve` process against the simulator, for the scenarios that kill it
//! (`kill -9`) and start it again on the same data directory.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use flotilla::sim::{SeedConfig, SimHandle};

use super::world::{WORLD_APP_ID, seeded_sim};
use super::{APP_SLUG, SECRET, fixture_path, wait_for};

/// Starts `flotilla serve` against the simulator at `api`, listening on `port`, with its
/// data in `dir/data` and its log in `dir/flotilla.log`. Agents run in the default
/// sandbox with `fixtures/` (the scripted agents) exposed read-only; `extra_env` adds
/// or overrides settings (`FLOTILLA_DATABASE_URL` included: several processes may share
/// one database).
pub fn serve(dir: &Path, api: &str, port: u16, extra_env: &[(&str, OsString)]) -> Child {
    let mut env: Vec<(&str, OsString)> = vec![
        ("FLOTILLA_APP_ID", WORLD_APP_ID.0.to_string().into()),
        (
            "FLOTILLA_PRIVATE_KEY",
            fixture_path("keys/test-app.pem").into(),
        ),
        ("FLOTILLA_WEBHOOK_SECRET", SECRET.into()),
        ("FLOTILLA_APP_SLUG", APP_SLUG.into()),
    ];
    env.extend(extra_env.iter().cloned());
    serve_unregistered(dir, api, port, &env)
}

/// Starts `flotilla serve` as [`serve`] does but with no App credentials in its
/// settings: it serves the setup page, or runs with the credentials stored in its data
/// dir. `FLOTILLA_PUBLIC_URL` is `http://127.0.0.1:{port}`.
pub fn serve_unregistered(
    dir: &Path,
    api: &str,
    port: u16,
    extra_env: &[(&str, OsString)],
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("flotilla.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("serve")
        .env("FLOTILLA_LISTEN", format!("127.0.0.1:{port}"))
        .env("FLOTILLA_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("FLOTILLA_DATA_DIR", dir.join("data"))
        .env("FLOTILLA_GITHUB_API_URL", api)
        .env("FLOTILLA_JOB_LEASE", "2s")
        .env("FLOTILLA_LOG", "debug")
        .env("FLOTILLA_SANDBOX_RO", fixture_path(""))
        .env_remove("FLOTILLA_DATABASE_URL")
        .envs(extra_env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("flotilla starts")
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until the server on `port` answers `/healthz`.
pub async fn healthy(port: u16) {
    wait_for("flotilla to answer /healthz", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
}

/// A simulator seeded under `dir` whose repository's `.github/flotilla.yml` is `yaml`,
/// with the App's webhook pointed at a free port for a [`serve`] process to take.
pub async fn sim_for_serve(dir: &Path, yaml: &str) -> (SimHandle, SeedConfig, u16) {
    let (sim, seed) = seeded_sim(dir, None).await;
    sim.push_commit(
        &seed.repo_name(),
        "main",
        &[(".github/flotilla.yml", yaml)],
        "Configure",
        &seed.writer,
    )
    .await
    .expect("config committed");
    let port = free_port();
    sim.set_webhook_url(WORLD_APP_ID, &format!("http://127.0.0.1:{port}/webhook"))
        .expect("webhook pointed at the port");
    (sim, seed, port)
}
