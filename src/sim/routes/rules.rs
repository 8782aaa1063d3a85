//! "Get rules for a branch": every active ruleset rule that applies to a branch. Only
//! `metadata: read` is needed, so an App that cannot read classic protection can still
//! learn which checks a ruleset requires. Classic protection does not appear here.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::super::Sim;
use super::super::error::{ApiError, ApiResult};
use super::super::state::Access;
use super::{BranchPath, InRepo, Page, require_permission};

/// The rules route.
pub fn router() -> Router<Sim> {
    Router::new().route(
        "/repos/{owner}/{repo}/rules/branches/{branch}",
        get(branch_rules),
    )
}

async fn branch_rules(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<BranchPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    require_permission(&sim, &auth, "metadata", Access::Read)?;
    let world = sim.world();
    let repo = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let rules: Vec<Value> = repo
        .rulesets
        .iter()
        .filter(|r| r.applies_to(&path.branch, repo) && !r.required_checks.is_empty())
        .map(|r| {
            json!({
                "type": "required_status_checks",
                "parameters": {
                    "strict_required_status_checks_policy": r.strict,
                    "required_status_checks": r.required_checks.iter().map(|c| {
                        let mut check = json!({"context": c.context});
                        if let Some(app) = c.app_id {
                            check["integration_id"] = json!(app.0);
                        }
                        check
                    }).collect::<Vec<_>>(),
                },
                "ruleset_source_type": "Repository",
                "ruleset_source": name.0,
                "ruleset_id": r.id,
            })
        })
        .collect();
    Ok(Json(Value::Array(page.apply(rules))))
}
