//! Git references over REST: read one (`GET …/git/ref/{ref}`), create one
//! (`POST …/git/refs`) and delete one (`DELETE …/git/refs/{ref}`, e.g. a merged branch).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::RepoName;

use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::{Sim, git, push};
use super::{InRepo, RepoPath};

/// Reference routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/git/ref/{*reference}", get(get_ref))
        .route("/repos/{owner}/{repo}/git/refs", post(create_ref))
        .route(
            "/repos/{owner}/{repo}/git/refs/{*reference}",
            delete(delete_ref),
        )
}

#[derive(Deserialize)]
struct RefPath {
    reference: String,
}

fn ref_json(sim: &Sim, name: &RepoName, full: &str, sha: &str) -> Value {
    let base = sim.world().base_url.clone();
    json!({
        "ref": full,
        "node_id": super::super::json::node_id("REF", full),
        "url": format!("{base}/repos/{name}/git/{full}"),
        "object": {"type": "commit", "sha": sha, "url": format!("{base}/repos/{name}/git/commits/{sha}")},
    })
}

async fn get_ref(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<RefPath>,
) -> ApiResult<Json<Value>> {
    let full = format!("refs/{}", path.reference.trim_start_matches('/'));
    let sha = git::rev_parse(&sim.repo_path(&name), &full)
        .await
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(ref_json(&sim, &name, &full, &sha)))
}

#[derive(Deserialize)]
struct NewRef {
    #[serde(rename = "ref")]
    reference: String,
    sha: String,
}

async fn create_ref(
    State(sim): State<Sim>,
    InRepo { name, auth, .. }: InRepo<RepoPath>,
    JsonBody(new): JsonBody<NewRef>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(branch) = new.reference.strip_prefix("refs/heads/") else {
        return Err(ApiError::unprocessable(
            "Reference name must start with 'refs/heads/'",
        ));
    };
    let bare = sim.repo_path(&name);
    if git::rev_parse(&bare, &new.sha).await.as_deref() != Some(new.sha.as_str()) {
        return Err(ApiError::unprocessable("Object does not exist"));
    }
    {
        let _guard = sim.0.git_lock.lock().await;
        if git::branch_sha(&bare, branch).await.is_some() {
            return Err(ApiError::unprocessable("Reference already exists"));
        }
        git::update_ref(&bare, &new.reference, &new.sha, None).await?;
    }
    push::on_push(
        &sim,
        &name,
        vec![(branch.to_owned(), None, Some(new.sha.clone()))],
        &auth.bot,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(ref_json(&sim, &name, &new.reference, &new.sha)),
    ))
}

async fn delete_ref(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<RefPath>,
) -> ApiResult<StatusCode> {
    let full = format!("refs/{}", path.reference.trim_start_matches('/'));
    let bare = sim.repo_path(&name);
    let _guard = sim.0.git_lock.lock().await;
    let Some(sha) = git::rev_parse(&bare, &full).await else {
        return Err(ApiError::unprocessable("Reference does not exist"));
    };
    let protected = full.strip_prefix("refs/heads/").is_some_and(|b| {
        sim.world()
            .repo(&name)
            .is_some_and(|r| r.default_branch == b || r.protection.contains_key(b))
    });
    if protected {
        return Err(ApiError::unprocessable("Cannot delete a protected branch"));
    }
    git::run(&bare, &["update-ref", "-d", &full, &sha], &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}
