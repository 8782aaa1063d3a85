//! App routes (JWT): the App itself, installations, installation tokens, and webhook
//! deliveries with redelivery. Also `GET /installation/repositories` (token).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::{InstallationId, RepoName};

use super::super::Sim;
use super::super::auth::{AppAuth, InstallationAuth, mint_token};
use super::super::error::{ApiError, ApiResult};
use super::super::json;
use super::super::webhooks::{delivery_summary, redeliver};
use super::RepoPath;

/// App routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/app", get(get_app))
        .route("/app/installations", get(list_installations))
        .route(
            "/app/installations/{installation_id}",
            get(get_installation),
        )
        .route(
            "/app/installations/{installation_id}/access_tokens",
            post(create_token),
        )
        .route("/repos/{owner}/{repo}/installation", get(repo_installation))
        .route("/app/hook/deliveries", get(list_deliveries))
        .route("/app/hook/deliveries/{delivery_id}", get(get_delivery))
        .route(
            "/app/hook/deliveries/{delivery_id}/attempts",
            post(redeliver_attempt),
        )
        .route("/installation/repositories", get(installation_repositories))
}

async fn get_app(State(sim): State<Sim>, AppAuth(app_id): AppAuth) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let app = world.apps.get(&app_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(json::app(&world, app)))
}

fn installation_json(sim: &Sim, id: InstallationId) -> ApiResult<Value> {
    let world = sim.world();
    let inst = world
        .installations
        .get(&id)
        .ok_or_else(ApiError::not_found)?;
    let app = world
        .apps
        .get(&inst.app_id)
        .ok_or_else(ApiError::not_found)?;
    let account = json::user(&world, &inst.account);
    Ok(json!({
        "id": inst.id.0,
        "target_id": account["id"],
        "account": account,
        "app_id": app.id.0,
        "app_slug": app.slug,
        "target_type": "Organization",
        "repository_selection": "all",
        "access_tokens_url": format!("{}/app/installations/{}/access_tokens", world.base_url, inst.id.0),
        "repositories_url": format!("{}/installation/repositories", world.base_url),
        "html_url": format!("{}/organizations/{}/settings/installations/{}", world.base_url, inst.account.0, inst.id.0),
        "permissions": json::app(&world, app)["permissions"],
        "events": json::app(&world, app)["events"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    }))
}

async fn list_installations(
    State(sim): State<Sim>,
    AppAuth(app_id): AppAuth,
) -> ApiResult<Json<Value>> {
    let ids: Vec<InstallationId> = sim
        .world()
        .installations
        .values()
        .filter(|i| i.app_id == app_id)
        .map(|i| i.id)
        .collect();
    let list: ApiResult<Vec<Value>> = ids
        .into_iter()
        .map(|id| installation_json(&sim, id))
        .collect();
    Ok(Json(Value::Array(list?)))
}

/// Resolves an installation of the calling App, or 404.
fn own_installation(sim: &Sim, app_id: crate::types::AppId, id: u64) -> ApiResult<InstallationId> {
    let world = sim.world();
    world
        .installations
        .get(&InstallationId(id))
        .filter(|i| i.app_id == app_id)
        .map(|i| i.id)
        .ok_or_else(ApiError::not_found)
}

async fn get_installation(
    State(sim): State<Sim>,
    AppAuth(app_id): AppAuth,
    Path(id): Path<u64>,
) -> ApiResult<Json<Value>> {
    let id = own_installation(&sim, app_id, id)?;
    Ok(Json(installation_json(&sim, id)?))
}

async fn repo_installation(
    State(sim): State<Sim>,
    AppAuth(app_id): AppAuth,
    Path(p): Path<RepoPath>,
) -> ApiResult<Json<Value>> {
    let id = {
        let world = sim.world();
        let name = RepoName(format!("{}/{}", p.owner, p.repo));
        world.repo(&name).ok_or_else(ApiError::not_found)?;
        world
            .installations
            .values()
            .find(|i| i.app_id == app_id && i.account.0.eq_ignore_ascii_case(&p.owner))
            .map(|i| i.id)
            .ok_or_else(ApiError::not_found)?
    };
    Ok(Json(installation_json(&sim, id)?))
}

async fn create_token(
    State(sim): State<Sim>,
    AppAuth(app_id): AppAuth,
    Path(id): Path<u64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = own_installation(&sim, app_id, id)?;
    let ttl = sim.0.token_ttl;
    let mut world = sim.world();
    let (token, expires_at) = mint_token(&mut world, id, ttl);
    let permissions = world
        .apps
        .get(&app_id)
        .map(|a| json::app(&world, a)["permissions"].clone())
        .unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": json::time(expires_at),
            "permissions": permissions,
            "repository_selection": "all",
        })),
    ))
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    per_page: Option<usize>,
    cursor: Option<u64>,
}

async fn list_deliveries(
    State(sim): State<Sim>,
    AppAuth(app_id): AppAuth,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<axum::response::Response> {
    let world = sim.world();
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let mine = |d: &&super::super::state::Delivery| {
        d.installation_id
            .and_then(|i| world.installations.get(&i))
            .is_some_and(|i| i.app_id == app_id)
    };
    let matching: Vec<&super::super::state::Delivery> = world
        .deliveries
        .iter()
        .rev()
        .filter(mine)
        .filter(|d| q.cursor.is_none_or(|c| d.id < c))
        .filter(|d| match q.status.as_deref() {
            Some("failure") => !d.succeeded(),
            Some("success") => d.succeeded(),
            _ => true,
        })
        .take(per_page + 1)
        .collect();
    // Cursor pagination as GitHub does it: a `Link: <…&cursor=…>; rel="next"` header.
    let link = match (matching.len() > per_page, matching.get(per_page - 1)) {
        (true, Some(last)) => {
            let status = q
                .status
                .as_deref()
                .map(|s| format!("&status={s}"))
                .unwrap_or_default();
            format!(
                "<{}/app/hook/deliveries?per_page={per_page}&cursor={}{status}>; rel=\"next\"",
                world.base_url, last.id
            )
        }
        _ => String::new(),
    };
    let list = matching
        .into_iter()
        .take(per_page)
        .map(delivery_summary)
        .collect();
    let mut response = axum::response::IntoResponse::into_response(Json(Value::Array(list)));
    if !link.is_empty()
        && let Ok(value) = link.parse()
    {
        response.headers_mut().insert("link", value);
    }
    Ok(response)
}

async fn get_delivery(
    State(sim): State<Sim>,
    AppAuth(_): AppAuth,
    Path(id): Path<u64>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let d = world
        .deliveries
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(ApiError::not_found)?;
    let mut value = delivery_summary(d);
    value["request"] = json!({"headers": {"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid}, "payload": d.payload});
    value["response"] = json!({"headers": {}, "payload": null});
    Ok(Json(value))
}

async fn redeliver_attempt(
    State(sim): State<Sim>,
    AppAuth(_): AppAuth,
    Path(id): Path<u64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let world = sim.world();
    if !redeliver(&world, sim.outbox(), id) {
        return Err(ApiError::not_found());
    }
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

async fn installation_repositories(
    State(sim): State<Sim>,
    auth: InstallationAuth,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let account = world
        .installations
        .get(&auth.installation)
        .map(|i| i.account.clone());
    let repos: Vec<Value> = world
        .repos
        .values()
        .filter(|r| {
            account
                .as_ref()
                .is_some_and(|a| r.name.split().is_some_and(|(o, _)| o == a.0))
        })
        .map(|r| json::repo(&world, r))
        .collect();
    Ok(Json(
        json!({"total_count": repos.len(), "repository_selection": "all", "repositories": repos}),
    ))
}
