//! Secrets as container platforms hand them over: the App key inline (the PEM in
//! `FLOTILLA_PRIVATE_KEY`) or in a file, and `_FILE` variants of every secret setting,
//! each file hidden from the agents' sandbox like the key file.

use std::path::{Path, PathBuf};

use clap::Parser;
use flotilla::cli::{Cli, Command};
use flotilla::settings::ServeSettings;
use secrecy::ExposeSecret;
use tempfile::TempDir;

use crate::support::{SECRET, fixture_path};

/// `flotilla serve` with `args`, parsed and validated as `main` does.
fn serve_settings(args: &[&str]) -> Result<ServeSettings, String> {
    let cli = Cli::try_parse_from(["flotilla", "serve"].iter().chain(args))
        .map_err(|error| error.to_string())?;
    let Command::Serve(serve) = cli.command else {
        panic!("parsed as serve");
    };
    ServeSettings::from_args(*serve).map_err(|error| error.to_string())
}

/// [`serve_settings`] for the App 1001 with the test key named by `--private-key`,
/// then `rest`: where only the webhook secret's flags vary.
fn serve_settings_with_test_key(rest: &[&str]) -> Result<ServeSettings, String> {
    let key = fixture_path("keys/test-app.pem");
    let mut args = vec!["--app-id", "1001", "--private-key", key.to_str().unwrap()];
    args.extend_from_slice(rest);
    serve_settings(&args)
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("secret file written");
    path
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().expect("canonical path")
}

#[test]
fn an_inline_key_and_secrets_from_files_are_used_and_their_files_hidden_from_agents() {
    let dir = TempDir::new().unwrap();
    let pem = std::fs::read_to_string(fixture_path("keys/test-app.pem")).unwrap();
    let secret_file = write(dir.path(), "webhook-secret", &format!("{SECRET}\n"));
    let database = format!("sqlite://{}/elsewhere.db", dir.path().display());
    let database_file = write(dir.path(), "database-url", &format!("{database}\n"));
    let data_dir = dir.path().join("data");

    let settings = serve_settings(&[
        "--app-id",
        "1001",
        "--private-key",
        &pem,
        "--webhook-secret-file",
        secret_file.to_str().unwrap(),
        "--database-url-file",
        database_file.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .expect("settings hold");

    let app = settings.app.as_ref().expect("the App is given");
    assert_eq!(app.credentials.app_id.0, 1001);
    assert_eq!(
        settings.database_url.expose_secret(),
        database,
        "the file's URL, without its trailing newline"
    );
    let body = br#"{"zen":"hi"}"#;
    let signature = flotilla::webhook::signature::sign(SECRET, body);
    app.secrets
        .verify(Some(signature.as_bytes()), body)
        .expect("the file's secret, without its trailing newline, verifies");
    for file in [&secret_file, &database_file] {
        assert!(
            settings.sandbox.never.contains(&canonical(file)),
            "{} is hidden from agents: {:?}",
            file.display(),
            settings.sandbox.never
        );
    }
}

#[test]
fn a_key_file_named_by_the_file_variant_is_loaded_and_hidden_from_agents() {
    let key = fixture_path("keys/test-app.pem");
    let settings = serve_settings(&[
        "--app-id",
        "1001",
        "--private-key-file",
        key.to_str().unwrap(),
        "--webhook-secret",
        SECRET,
    ])
    .expect("settings hold");

    assert!(settings.sandbox.never.contains(&canonical(&key)));
}

#[test]
fn a_secret_and_its_file_variant_together_are_refused() {
    let dir = TempDir::new().unwrap();
    let secret_file = write(dir.path(), "webhook-secret", SECRET);
    let error = serve_settings_with_test_key(&[
        "--webhook-secret",
        SECRET,
        "--webhook-secret-file",
        secret_file.to_str().unwrap(),
    ])
    .err()
    .expect("refused");

    assert!(error.contains("--webhook-secret"), "{error}");
}

#[test]
fn an_inline_key_that_is_not_a_private_key_is_refused_without_echoing_it() {
    let bogus = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----\n";
    let error = serve_settings(&[
        "--app-id",
        "1001",
        "--private-key",
        bogus,
        "--webhook-secret",
        SECRET,
    ])
    .err()
    .expect("refused");

    assert!(error.contains("FLOTILLA_PRIVATE_KEY"), "{error}");
    assert!(error.contains("inline key"), "{error}");
    assert!(
        !error.contains("c2VjcmV0"),
        "the key is not echoed: {error}"
    );
}

#[test]
fn an_unreadable_secret_file_names_the_setting_and_the_file() {
    let error =
        serve_settings_with_test_key(&["--webhook-secret-file", "/nonexistent/webhook-secret"])
            .err()
            .expect("refused");

    assert!(
        error.contains("FLOTILLA_WEBHOOK_SECRET_FILE")
            && error.contains("/nonexistent/webhook-secret"),
        "{error}"
    );
}
