//! Branch protection: get, put (required status checks with `contexts` and/or
//! app-bound `checks`, required reviews, strictness) and delete. Reading needs the
//! App's `administration: read`, changing it `administration: write` (403 otherwise).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::{AppId, RepoName};

use super::super::error::{ApiError, ApiResult, parse_body};
use super::super::state::Access;
use super::super::state::{Protection, RequiredCheck};
use super::super::{Sim, git};
use super::{BranchPath, InRepo, require_permission};

/// Protection routes.
pub fn router() -> Router<Sim> {
    Router::new().route(
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        get(get_protection)
            .put(put_protection)
            .delete(delete_protection),
    )
}

/// Replaces the protection of `branch` and wakes auto-merge.
pub fn set_protection(
    sim: &Sim,
    repo: &RepoName,
    branch: &str,
    protection: Option<Protection>,
) -> ApiResult<()> {
    {
        let mut world = sim.world();
        let r = world.repos.get_mut(repo).ok_or_else(ApiError::not_found)?;
        match protection {
            Some(p) => r.protection.insert(branch.to_owned(), p),
            None => r.protection.remove(branch),
        };
    }
    sim.kick_auto_merge();
    Ok(())
}

/// The JSON GitHub returns for a branch's protection.
fn protection_json(base: &str, repo: &RepoName, branch: &str, p: &Protection) -> Value {
    let url = format!("{base}/repos/{repo}/branches/{branch}/protection");
    // Sections that are not configured are absent, never `null` (GitHub's schema has
    // no nullable section; `restrictions` is absent as the simulator has none).
    let mut value = json!({
        "url": url,
        "enforce_admins": {"url": format!("{url}/enforce_admins"), "enabled": p.enforce_admins},
        "required_linear_history": {"enabled": false},
        "allow_force_pushes": {"enabled": false},
        "allow_deletions": {"enabled": false},
    });
    if let Some(checks) = &p.required_checks {
        value["required_status_checks"] = json!({
            "url": format!("{url}/required_status_checks"),
            "strict": p.strict,
            "contexts": checks.iter().map(|c| c.context.clone()).collect::<Vec<_>>(),
            "contexts_url": format!("{url}/required_status_checks/contexts"),
            "checks": checks.iter().map(|c| json!({"context": c.context, "app_id": c.app_id.map(|a| a.0)})).collect::<Vec<_>>(),
        });
    }
    if let Some(n) = p.required_approvals {
        value["required_pull_request_reviews"] = json!({
            "url": format!("{url}/required_pull_request_reviews"),
            "dismiss_stale_reviews": false,
            "require_code_owner_reviews": false,
            "require_last_push_approval": false,
            "required_approving_review_count": n,
        });
    }
    value
}

async fn get_protection(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<BranchPath>,
) -> ApiResult<Json<Value>> {
    require_permission(&sim, &auth, "administration", Access::Read)?;
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let protection = r
        .protection
        .get(&path.branch)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Branch not protected"))?;
    Ok(Json(protection_json(
        &world.base_url,
        &name,
        &path.branch,
        protection,
    )))
}

#[derive(Deserialize)]
struct CheckSpec {
    context: String,
    app_id: Option<i64>,
}

#[derive(Deserialize)]
struct StatusChecks {
    #[serde(default)]
    strict: bool,
    contexts: Option<Vec<String>>,
    checks: Option<Vec<CheckSpec>>,
}

#[derive(Deserialize)]
struct Reviews {
    #[serde(default = "one")]
    required_approving_review_count: u32,
}

fn one() -> u32 {
    1
}

/// Parses a protection PUT body; all four top-level keys must be present.
pub fn parse_protection(body: &Value) -> ApiResult<Protection> {
    for key in [
        "required_status_checks",
        "enforce_admins",
        "required_pull_request_reviews",
        "restrictions",
    ] {
        if body.get(key).is_none() {
            return Err(ApiError::unprocessable(format!(
                "Invalid request.\n\n\"{key}\" wasn't supplied."
            )));
        }
    }
    let invalid =
        |e: serde_json::Error| ApiError::unprocessable(format!("Invalid request.\n\n{e}"));
    let checks: Option<StatusChecks> =
        serde_json::from_value(body["required_status_checks"].clone()).map_err(invalid)?;
    let reviews: Option<Reviews> =
        serde_json::from_value(body["required_pull_request_reviews"].clone()).map_err(invalid)?;
    let required_checks = checks.as_ref().map(|c| {
        let mut list: Vec<RequiredCheck> = c
            .checks
            .iter()
            .flatten()
            .map(|s| RequiredCheck {
                context: s.context.clone(),
                app_id: s.app_id.and_then(|a| u64::try_from(a).ok()).map(AppId),
            })
            .collect();
        for context in c.contexts.iter().flatten() {
            if !list.iter().any(|r| &r.context == context) {
                list.push(RequiredCheck {
                    context: context.clone(),
                    app_id: None,
                });
            }
        }
        list
    });
    Ok(Protection {
        required_checks,
        strict: checks.is_some_and(|c| c.strict),
        required_approvals: reviews.map(|r| r.required_approving_review_count),
        enforce_admins: body["enforce_admins"].as_bool().unwrap_or(false),
    })
}

async fn put_protection(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<BranchPath>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    require_permission(&sim, &auth, "administration", Access::Write)?;
    let body: Value = parse_body(&body)?;
    let protection = parse_protection(&body)?;
    git::branch_sha(&sim.repo_path(&name), &path.branch)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Branch not found"))?;
    set_protection(&sim, &name, &path.branch, Some(protection.clone()))?;
    let base = sim.world().base_url.clone();
    Ok(Json(protection_json(
        &base,
        &name,
        &path.branch,
        &protection,
    )))
}

async fn delete_protection(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<BranchPath>,
) -> ApiResult<StatusCode> {
    require_permission(&sim, &auth, "administration", Access::Write)?;
    set_protection(&sim, &name, &path.branch, None)?;
    Ok(StatusCode::NO_CONTENT)
}
