//! `flotilla doctor` as an operator runs it before going live: one line per item of a
//! deployment, the whole list even when something fails, and a non-zero exit then.

use std::process::Output;

use flotilla::store::Store;
use tempfile::TempDir;
use tokio::process::Command;

use crate::support::world::{TestWorld, WORLD_APP_ID};
use crate::support::{APP_SLUG, SECRET, fixture_path};

/// `flotilla doctor` with the test App's settings, GitHub at `api` and the public URL
/// `public`, and no other `FLOTILLA_*` variable from the test's environment.
async fn doctor(data_dir: &TempDir, api: &str, public: &str) -> (Output, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(name);
        }
    }
    let output = command
        .arg("doctor")
        .env("FLOTILLA_APP_ID", WORLD_APP_ID.0.to_string())
        .env("FLOTILLA_PRIVATE_KEY", fixture_path("keys/test-app.pem"))
        .env("FLOTILLA_WEBHOOK_SECRET", SECRET)
        .env("FLOTILLA_DATA_DIR", data_dir.path())
        .env("FLOTILLA_GITHUB_API_URL", api)
        .env("FLOTILLA_PUBLIC_URL", public)
        .output()
        .await
        .expect("flotilla doctor runs");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (output, lines)
}

/// A data directory holding a database `flotilla serve` has migrated.
async fn migrated_data_dir() -> TempDir {
    let data_dir = TempDir::new().unwrap();
    Store::connect(&Store::default_url(data_dir.path()))
        .await
        .unwrap()
        .close()
        .await;
    data_dir
}

fn line<'a>(lines: &'a [String], item: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l[5..].starts_with(&format!("{item}:")))
        .unwrap_or_else(|| panic!("no {item} line: {lines:#?}"))
}

/// Runs the doctor against `world` and asserts it fails, its database line saying
/// `reason`.
async fn database_fails(world: &TestWorld, data_dir: &TempDir, reason: &str) {
    let (output, lines) = doctor(data_dir, &world.sim.api_url(), &world.flotilla.url()).await;
    assert!(!output.status.success());
    let database = line(&lines, "database");
    assert!(
        database.starts_with("FAIL ") && database.contains(reason),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_working_deployment_gets_one_ok_line_per_item() {
    let world = TestWorld::start().await;
    let data_dir = migrated_data_dir().await;

    let (output, lines) = doctor(&data_dir, &world.sim.api_url(), &world.flotilla.url()).await;

    assert!(
        output.status.success(),
        "{lines:#?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for item in [
        "git",
        "settings",
        "bubblewrap",
        "sandbox",
        "GitHub App",
        "database",
        "public URL",
    ] {
        assert!(line(&lines, item).starts_with("ok   "), "{lines:#?}");
    }
    assert!(
        line(&lines, "GitHub App").contains(&format!("App `{APP_SLUG}`")),
        "{lines:#?}"
    );
    let clis: Vec<&String> = lines.iter().filter(|l| l.contains("agent CLI:")).collect();
    assert_eq!(clis.len(), 4, "claude, codex, aider, opencode: {lines:#?}");
    assert!(
        clis.iter()
            .all(|l| l.starts_with("ok   ") || l.contains("needed only by repositories")),
        "a missing agent CLI is a warning that says who needs it: {clis:#?}"
    );
    world.teardown().await;
}

#[tokio::test]
async fn an_unreachable_github_and_public_url_fail_by_name_and_the_rest_is_still_checked() {
    let data_dir = migrated_data_dir().await;

    let (output, lines) = doctor(&data_dir, "http://127.0.0.1:1", "http://127.0.0.1:1").await;

    assert!(!output.status.success());
    assert!(
        line(&lines, "GitHub App").starts_with("FAIL "),
        "{lines:#?}"
    );
    assert!(
        line(&lines, "public URL").starts_with("FAIL "),
        "{lines:#?}"
    );
    assert!(line(&lines, "database").starts_with("ok   "), "{lines:#?}");
    assert!(line(&lines, "git").starts_with("ok   "), "{lines:#?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 required check(s) failed"), "{stderr}");
}

#[tokio::test]
async fn a_database_nobody_migrated_fails_and_the_doctor_leaves_it_as_it_was() {
    let world = TestWorld::start().await;
    let data_dir = TempDir::new().unwrap();
    let database = data_dir.path().join("flotilla.db");

    database_fails(&world, &data_dir, "no database at").await;
    assert!(!database.exists(), "the doctor created a database");

    std::fs::File::create(&database).unwrap();
    database_fails(&world, &data_dir, "not migrated").await;
    let after = Store::connect_unmigrated(&Store::default_url(data_dir.path()))
        .await
        .unwrap();
    assert!(
        after.migrations_match().await.is_err(),
        "the doctor applied migrations"
    );
    after.close().await;
    world.teardown().await;
}
