//! Commit statuses: create (with the `status` event), list, and the combined status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::CommitSha;

use super::super::check_events::fields;
use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::state::Status;
use super::super::webhooks::announce;
use super::super::{Sim, json};
use super::InRepo;
use super::checks::{AtCommit, resolve};

/// Status routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/commits/{reference}/status",
            get(combined_status),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{reference}/statuses",
            get(list_statuses),
        )
        .route("/repos/{owner}/{repo}/statuses/{sha}", post(create_status))
}

#[derive(Deserialize)]
struct StatusPath {
    sha: String,
}

#[derive(Deserialize)]
struct NewStatus {
    state: String,
    target_url: Option<String>,
    description: Option<String>,
    context: Option<String>,
}

async fn create_status(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<StatusPath>,
    JsonBody(req): JsonBody<NewStatus>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !["error", "failure", "pending", "success"].contains(&req.state.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "Validation Failed: state {} is not included in the list",
            req.state
        )));
    }
    let sha = resolve(&sim, &name, &path.sha).await?;
    let value = {
        let mut world = sim.world();
        let id = world.id();
        let now = world.now();
        let status = Status {
            id,
            sha: CommitSha(sha.clone()),
            context: req.context.unwrap_or_else(|| "default".to_owned()),
            state: req.state,
            description: req.description,
            target_url: req.target_url,
            creator: auth.bot.clone(),
            created_at: now,
        };
        let r = world.repos.get_mut(&name).ok_or_else(ApiError::not_found)?;
        r.statuses.push(status.clone());
        let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
        let value = json::status(&world, r, &status);
        let mut f = fields("sha", json!(sha));
        f.insert("id".into(), json!(id));
        f.insert("name".into(), json!(name.0));
        f.insert("context".into(), json!(status.context));
        f.insert("state".into(), json!(status.state));
        f.insert("description".into(), json!(status.description));
        f.insert("target_url".into(), json!(status.target_url));
        f.insert("branches".into(), json!([]));
        f.insert("avatar_url".into(), json!(null));
        f.insert("created_at".into(), json!(json::time(now)));
        f.insert("updated_at".into(), json!(json::time(now)));
        f.insert(
            "commit".into(),
            json!({
                "sha": sha,
                "node_id": json::node_id("C", &sha),
                "url": format!("{}/repos/{}/commits/{sha}", world.base_url, name),
                "html_url": format!("{}/{}/commit/{sha}", world.base_url, name),
            }),
        );
        announce(&world, sim.outbox(), r, "status", None, f, &auth.bot);
        value
    };
    sim.kick_auto_merge();
    Ok((StatusCode::CREATED, Json(value)))
}

async fn list_statuses(
    State(sim): State<Sim>,
    AtCommit { name, sha }: AtCommit,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    Ok(Json(Value::Array(
        r.statuses
            .iter()
            .rev()
            .filter(|s| s.sha.0 == sha)
            .map(|s| json::status(&world, r, s))
            .collect(),
    )))
}

async fn combined_status(
    State(sim): State<Sim>,
    AtCommit { name, sha }: AtCommit,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let mut latest: Vec<&Status> = Vec::new();
    for s in r.statuses.iter().rev().filter(|s| s.sha.0 == sha) {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    let state = if latest
        .iter()
        .any(|s| s.state == "failure" || s.state == "error")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    Ok(Json(json!({
        "state": state,
        "sha": sha,
        "total_count": latest.len(),
        "statuses": latest.iter().map(|s| json::status(&world, r, s)).collect::<Vec<_>>(),
        "repository": json::repo(&world, r),
        "commit_url": format!("{}/repos/{}/commits/{sha}", world.base_url, name),
        "url": format!("{}/repos/{}/commits/{sha}/status", world.base_url, name),
    })))
}
