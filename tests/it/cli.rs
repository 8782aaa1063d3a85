//! The `flotilla` binary as an operator meets it: settings fail fast with one clear line.

use std::process::Command;

fn flotilla() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(name);
        }
    }
    command
}

fn stderr_of(command: &mut Command) -> String {
    let output = command.output().expect("flotilla runs");
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn serve_with_part_of_the_apps_settings_names_the_first_missing_one() {
    let stderr = stderr_of(
        flotilla()
            .arg("serve")
            .env("FLOTILLA_WEBHOOK_SECRET", "super-secret-value"),
    );
    assert!(stderr.contains("FLOTILLA_APP_ID"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn serve_with_an_unreadable_key_names_the_setting_and_the_file() {
    let stderr = stderr_of(
        flotilla()
            .arg("serve")
            .env("FLOTILLA_APP_ID", "1")
            .env("FLOTILLA_PRIVATE_KEY", "/nonexistent/key.pem"),
    );
    assert!(
        stderr.contains("FLOTILLA_PRIVATE_KEY") && stderr.contains("/nonexistent/key.pem"),
        "{stderr}"
    );
}

#[test]
fn serve_never_prints_the_webhook_secret() {
    let stderr = stderr_of(
        flotilla()
            .arg("serve")
            .env("FLOTILLA_APP_ID", "1")
            .env(
                "FLOTILLA_PRIVATE_KEY",
                crate::support::fixture_path("keys/test-app.pem"),
            )
            .env("FLOTILLA_WEBHOOK_SECRET", "super-secret-value")
            .env("FLOTILLA_DATABASE_URL", "mysql://nope"),
    );
    assert!(stderr.contains("FLOTILLA_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("super-secret-value"));
    let help = flotilla()
        .args(["serve", "--help"])
        .env("FLOTILLA_WEBHOOK_SECRET", "super-secret-value")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("FLOTILLA_WEBHOOK_SECRET"),
        "documented in --help"
    );
    assert!(!help.contains("super-secret-value"));
}

#[test]
fn manifest_prints_the_json_githubs_manifest_flow_expects() {
    let output = flotilla()
        .args(["manifest", "--public-url", "https://fleet.example.org"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["hook_attributes"]["url"],
        "https://fleet.example.org/webhook"
    );
    assert_eq!(
        json["callback_urls"],
        serde_json::json!(["https://fleet.example.org/oauth/callback"])
    );
    assert_eq!(json["request_oauth_on_install"], false);
    assert!(json["default_permissions"].get("workflows").is_none());
}

#[test]
fn serve_without_bubblewrap_refuses_to_run_agents_and_names_the_setting_that_allows_it() {
    let data = tempfile::TempDir::new().unwrap();
    let stderr = stderr_of(
        flotilla()
            .arg("serve")
            .env("PATH", data.path())
            .env("FLOTILLA_APP_ID", "1")
            .env(
                "FLOTILLA_PRIVATE_KEY",
                crate::support::fixture_path("keys/test-app.pem"),
            )
            .env("FLOTILLA_WEBHOOK_SECRET", "dev-secret")
            .env("FLOTILLA_APP_SLUG", "flotilla-dev")
            .env("FLOTILLA_LISTEN", "127.0.0.1:0")
            .env("FLOTILLA_DATA_DIR", data.path()),
    );
    let refusal: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("bubblewrap"))
        .collect();
    assert_eq!(refusal.len(), 1, "one line: {stderr}");
    assert!(refusal[0].contains("--sandbox none"), "{stderr}");

    let help = flotilla().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for documented in ["--sandbox", "bubblewrap", "kernel exploit", "network.allow"] {
        assert!(
            help.contains(documented),
            "`{documented}` in --help:\n{help}"
        );
    }
}

#[test]
fn prune_reports_what_it_forgot_and_refuses_an_unreadable_age() {
    let dir = tempfile::TempDir::new().unwrap();
    let output = flotilla()
        .args(["prune", "--older-than", "1h", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("flotilla runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("pruned: 0 delivery bodies, 0 finished jobs, 0 verdict outputs"),
        "{stdout}"
    );

    let stderr = stderr_of(
        flotilla()
            .args(["prune", "--older-than", "soon", "--data-dir"])
            .arg(dir.path()),
    );
    assert!(stderr.contains("--older-than"), "{stderr}");
}
