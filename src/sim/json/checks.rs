//! JSON shapes of Apps, check suites, check runs and commit statuses.

use serde_json::{Value, json};

use super::{node_id, repo as repo_json, time, user};
use crate::sim::state::{App, CheckRun, CheckSuite, Repo, Status, World};

/// An App object.
pub fn app(world: &World, app: &App) -> Value {
    json!({
        "id": app.id.0,
        "slug": app.slug,
        "node_id": node_id("A", &app.id.to_string()),
        "client_id": format!("Iv1.{:016x}", app.id.0),
        "owner": user(world, &app.owner),
        "name": app.name,
        "description": "",
        "external_url": format!("{}/apps/{}", world.base_url, app.slug),
        "html_url": format!("{}/apps/{}", world.base_url, app.slug),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {"checks": "write", "contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read", "statuses": "write"},
        "events": ["check_run", "check_suite", "issue_comment", "issues", "pull_request", "pull_request_review", "status"],
    })
}

/// Pull requests (number, head, base) whose head is `sha`, as checks list them.
fn pulls_for_sha(world: &World, repo: &Repo, sha: &str) -> Vec<Value> {
    repo.pulls
        .values()
        .filter(|p| p.head_sha.0 == sha && repo.issues.get(&p.number).is_some_and(|i| i.open))
        .map(|p| json!({
            "url": format!("{}/repos/{}/pulls/{}", world.base_url, repo.name.0, p.number),
            "id": p.id,
            "number": p.number,
            "head": {"ref": p.head_ref, "sha": p.head_sha.0, "repo": {"id": repo.id, "url": format!("{}/repos/{}", world.base_url, repo.name.0), "name": repo.name.split().map(|(_, n)| n).unwrap_or_default()}},
            "base": {"ref": p.base_ref, "sha": "", "repo": {"id": repo.id, "url": format!("{}/repos/{}", world.base_url, repo.name.0), "name": repo.name.split().map(|(_, n)| n).unwrap_or_default()}},
        }))
        .collect()
}

/// A check suite object; status and conclusion are derived from its runs.
pub fn check_suite(world: &World, repo: &Repo, suite: &CheckSuite) -> Value {
    let runs: Vec<&CheckRun> = repo
        .check_runs
        .iter()
        .filter(|r| r.suite_id == suite.id)
        .collect();
    let (status, conclusion) = suite_status(&runs);
    json!({
        "id": suite.id,
        "node_id": node_id("CS", &suite.id.to_string()),
        "head_branch": suite.head_branch,
        "head_sha": suite.head_sha.0,
        "status": status,
        "conclusion": conclusion,
        "url": format!("{}/repos/{}/check-suites/{}", world.base_url, repo.name.0, suite.id),
        "before": null,
        "after": suite.head_sha.0,
        "pull_requests": pulls_for_sha(world, repo, &suite.head_sha.0),
        "app": world.apps.get(&suite.app_id).map(|a| app(world, a)),
        "latest_check_runs_count": runs.len(),
        "check_runs_url": format!("{}/repos/{}/check-suites/{}/check-runs", world.base_url, repo.name.0, suite.id),
        "head_commit": {"id": suite.head_sha.0},
        "repository": repo_json(world, repo),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    })
}

/// A suite's status and conclusion from its runs (GitHub derives them the same way).
pub fn suite_status(runs: &[&CheckRun]) -> (&'static str, Option<String>) {
    if runs.is_empty() {
        return ("queued", None);
    }
    if runs.iter().any(|r| r.status != "completed") {
        return (
            if runs.iter().any(|r| r.status == "in_progress") {
                "in_progress"
            } else {
                "queued"
            },
            None,
        );
    }
    let rank = |c: &str| match c {
        "action_required" => 6,
        "cancelled" => 5,
        "timed_out" => 4,
        "failure" => 3,
        "neutral" => 1,
        "skipped" => 0,
        _ => 2,
    };
    let worst = runs
        .iter()
        .filter_map(|r| r.conclusion.clone())
        .max_by_key(|c| rank(c))
        .unwrap_or_else(|| "success".to_owned());
    (
        "completed",
        Some(if worst == "neutral" || worst == "skipped" {
            "success".to_owned()
        } else {
            worst
        }),
    )
}

/// A check run object.
pub fn check_run(world: &World, repo: &Repo, run: &CheckRun) -> Value {
    let base = &world.base_url;
    json!({
        "id": run.id,
        "node_id": node_id("CR", &run.id.to_string()),
        "head_sha": run.head_sha.0,
        "external_id": run.external_id,
        "url": format!("{base}/repos/{}/check-runs/{}", repo.name.0, run.id),
        "html_url": format!("{base}/{}/runs/{}", repo.name.0, run.id),
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": time(run.started_at),
        "completed_at": run.completed_at.map(time),
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": run.annotations.len(),
            "annotations_url": format!("{base}/repos/{}/check-runs/{}/annotations", repo.name.0, run.id),
        },
        "name": run.name,
        "check_suite": {"id": run.suite_id},
        "app": world.apps.get(&run.app_id).map(|a| app(world, a)),
        "pull_requests": pulls_for_sha(world, repo, &run.head_sha.0),
    })
}

/// A commit status object.
pub fn status(world: &World, repo: &Repo, s: &Status) -> Value {
    json!({
        "url": format!("{}/repos/{}/statuses/{}", world.base_url, repo.name.0, s.sha.0),
        "id": s.id,
        "node_id": node_id("SC", &s.id.to_string()),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": time(s.created_at),
        "updated_at": time(s.created_at),
        "creator": user(world, &s.creator),
    })
}
