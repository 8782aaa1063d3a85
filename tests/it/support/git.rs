//! Running git from a test: plain in a local repository, or as the App against the
//! simulator with its token on the command line. Either way a failure fails the test
//! with git's own stderr.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Runs plain git (no credentials) in `dir` and returns its trimmed stdout.
pub async fn git(dir: &Path, args: &[&str]) -> String {
    run(dir, &[], args).await
}

/// Runs git in `dir` as the App, the way a test needs it and not the way Flotilla's
/// workspace does: `token` travels in an `http.extraHeader` on the command line (never
/// in the clone's config) and commits are made as Flotilla. Returns the trimmed stdout.
pub async fn git_with_token(dir: &Path, token: &str, args: &[&str]) -> String {
    let basic = STANDARD.encode(format!("x-access-token:{token}"));
    let header = format!("http.extraHeader=Authorization: Basic {basic}");
    let config = [
        "-c",
        header.as_str(),
        "-c",
        "user.name=Flotilla",
        "-c",
        "user.email=bot@flotilla.invalid",
    ];
    run(dir, &config, args).await
}

/// Runs git with `config` options before `args`, never prompting for credentials.
async fn run(dir: &Path, config: &[&str], args: &[&str]) -> String {
    let output = tokio::process::Command::new("git")
        .current_dir(dir)
        .args(config)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
