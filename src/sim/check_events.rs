//! Check suites and runs as state changes: creating a run (in its App's suite for the
//! commit), completing it, and the `check_run` / `check_suite` events GitHub sends.
//! Shared by the checks REST routes and the simulated CI.

use serde_json::{Map, json};

use crate::types::{AppId, CommitSha, Login, RepoName};

use super::json;
use super::state::{CheckRun, CheckSuite, World};
use super::webhooks::{Outbox, announce};

/// Creates a check run for `app_id` on `sha` (creating the App's suite if needed).
pub fn create_run(
    world: &mut World,
    repo_name: &RepoName,
    app_id: AppId,
    name: &str,
    sha: &str,
) -> Option<u64> {
    let suite_id = world.id();
    let run_id = world.id();
    let now = world.now();
    let repo = world.repos.get_mut(repo_name)?;
    let suite_id = match repo
        .check_suites
        .iter()
        .find(|s| s.app_id == app_id && s.head_sha.0 == sha)
    {
        Some(suite) => suite.id,
        None => {
            repo.check_suites.push(CheckSuite {
                id: suite_id,
                app_id,
                head_sha: CommitSha(sha.to_owned()),
                head_branch: None,
                completed_announced: false,
            });
            suite_id
        }
    };
    if let Some(suite) = repo.check_suites.iter_mut().find(|s| s.id == suite_id) {
        suite.completed_announced = false;
    }
    repo.check_runs.push(CheckRun {
        id: run_id,
        suite_id,
        app_id,
        name: name.to_owned(),
        head_sha: CommitSha(sha.to_owned()),
        status: "queued".to_owned(),
        conclusion: None,
        external_id: None,
        details_url: None,
        started_at: now,
        completed_at: None,
        title: None,
        summary: None,
        text: None,
        annotations: Vec::new(),
    });
    Some(run_id)
}

/// Announces `check_run.<action>` for run `id`.
pub fn announce_run(
    world: &World,
    outbox: &Outbox,
    repo_name: &RepoName,
    id: u64,
    action: &str,
    sender: &Login,
) {
    let Some(repo) = world.repo(repo_name) else {
        return;
    };
    let Some(run) = repo.check_runs.iter().find(|r| r.id == id) else {
        return;
    };
    let mut value = json::check_run(world, repo, run);
    if let Some(suite) = repo.check_suites.iter().find(|s| s.id == run.suite_id) {
        value["check_suite"] = json::check_suite(world, repo, suite);
    }
    let mut fields = Map::new();
    fields.insert("check_run".into(), value);
    announce(
        world,
        outbox,
        repo,
        "check_run",
        Some(action),
        fields,
        sender,
    );
}

/// After a run completes: announces `check_suite.completed` once every run of its suite
/// has completed.
pub fn after_completion(
    world: &mut World,
    outbox: &Outbox,
    repo_name: &RepoName,
    run_id: u64,
    sender: &Login,
) {
    let Some(repo) = world.repos.get_mut(repo_name) else {
        return;
    };
    let Some(suite_id) = repo
        .check_runs
        .iter()
        .find(|r| r.id == run_id)
        .map(|r| r.suite_id)
    else {
        return;
    };
    let all_done = repo
        .check_runs
        .iter()
        .filter(|r| r.suite_id == suite_id)
        .all(|r| r.status == "completed");
    let Some(suite) = repo.check_suites.iter_mut().find(|s| s.id == suite_id) else {
        return;
    };
    if !all_done || suite.completed_announced {
        return;
    }
    suite.completed_announced = true;
    let repo = &world.repos[repo_name];
    if let Some(suite) = repo.check_suites.iter().find(|s| s.id == suite_id) {
        let mut fields = Map::new();
        fields.insert("check_suite".into(), json::check_suite(world, repo, suite));
        announce(
            world,
            outbox,
            repo,
            "check_suite",
            Some("completed"),
            fields,
            sender,
        );
    }
}

/// Validates and applies a check run's `output` (title, summary, text, annotations).
pub fn apply_output(run: &mut CheckRun, output: &serde_json::Value) -> Result<(), String> {
    if output.is_null() {
        return Ok(());
    }
    let annotations = output
        .get("annotations")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    if annotations.len() > 50 {
        return Err("Only 50 annotations are allowed per request".to_owned());
    }
    for field in ["summary", "text"] {
        if output
            .get(field)
            .and_then(|v| v.as_str())
            .is_some_and(|s| s.chars().count() > 65_535)
        {
            return Err(format!(
                "output.{field} is too long (maximum is 65535 characters)"
            ));
        }
    }
    if let Some(title) = output.get("title").and_then(|v| v.as_str()) {
        run.title = Some(title.to_owned());
    }
    if let Some(summary) = output.get("summary").and_then(|v| v.as_str()) {
        run.summary = Some(summary.to_owned());
    }
    if let Some(text) = output.get("text").and_then(|v| v.as_str()) {
        run.text = Some(text.to_owned());
    }
    run.annotations.extend(annotations);
    Ok(())
}

/// A fresh `{}` payload map with `key: value` (small helper for callers).
pub fn fields(key: &str, value: serde_json::Value) -> Map<String, serde_json::Value> {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    map
}

/// The JSON GitHub returns for a list of runs.
pub fn run_list(world: &World, repo_name: &RepoName, runs: &[&CheckRun]) -> serde_json::Value {
    let Some(repo) = world.repo(repo_name) else {
        return json!({"total_count": 0, "check_runs": []});
    };
    json!({
        "total_count": runs.len(),
        "check_runs": runs.iter().map(|r| json::check_run(world, repo, r)).collect::<Vec<_>>(),
    })
}
