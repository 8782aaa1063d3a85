//! Conversation comments on issues and pull requests: create, edit (author only),
//! get, list, and the `issue_comment` events they cause.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::types::{Login, RepoName};

use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::state::Comment;
use super::super::webhooks::announce;
use super::super::{Sim, json};
use super::{InRepo, NumberPath, Page, render_found};

/// Comment routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            get(get_comment).patch(edit_comment_route),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment_route),
        )
}
/// Comments on an issue or pull request as `by`; returns the comment id.
pub async fn add_comment(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    body: &str,
    by: &Login,
) -> ApiResult<u64> {
    if body.is_empty() {
        return Err(ApiError::unprocessable(
            "Validation Failed: body is missing",
        ));
    }
    let mut world = sim.world();
    world.user(by);
    let id = world.id();
    let now = world.now();
    let r = world.repos.get_mut(repo).ok_or_else(ApiError::not_found)?;
    if !r.issues.contains_key(&number) {
        return Err(ApiError::not_found());
    }
    r.comments.push(Comment {
        id,
        issue: number,
        user: by.clone(),
        body: body.to_owned(),
        created_at: now,
        updated_at: now,
    });
    announce_comment(&world, sim, repo, id, "created", by, None);
    Ok(id)
}

fn announce_comment(
    world: &super::super::state::World,
    sim: &Sim,
    repo: &RepoName,
    id: u64,
    action: &str,
    by: &Login,
    changes: Option<Value>,
) {
    let Some(r) = world.repo(repo) else { return };
    let Some(c) = r.comments.iter().find(|c| c.id == id) else {
        return;
    };
    let Some(issue) = r.issues.get(&c.issue) else {
        return;
    };
    let mut fields = Map::new();
    if let Some(changes) = changes {
        fields.insert("changes".into(), changes);
    }
    fields.insert("issue".into(), json::issue(world, r, issue));
    fields.insert("comment".into(), json::comment(world, r, c));
    announce(
        world,
        sim.outbox(),
        r,
        "issue_comment",
        Some(action),
        fields,
        by,
    );
}

/// Edits a comment (only its author may, as for an App's own comments).
pub fn edit_comment(
    sim: &Sim,
    repo: &RepoName,
    id: u64,
    body: &str,
    by: &Login,
) -> ApiResult<Value> {
    let mut world = sim.world();
    let now = world.now();
    let r = world.repos.get_mut(repo).ok_or_else(ApiError::not_found)?;
    let c = r
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    if &c.user != by {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    let old = std::mem::replace(&mut c.body, body.to_owned());
    c.updated_at = now;
    announce_comment(
        &world,
        sim,
        repo,
        id,
        "edited",
        by,
        Some(json!({"body": {"from": old}})),
    );
    let r = world.repo(repo).ok_or_else(ApiError::not_found)?;
    let c = r
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(json::comment(&world, r, c))
}

async fn list_comments(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    if !r.issues.contains_key(&path.number) {
        return Err(ApiError::not_found());
    }
    let list = r
        .comments
        .iter()
        .filter(|c| c.issue == path.number)
        .map(|c| json::comment(&world, r, c))
        .collect();
    Ok(Json(Value::Array(page.apply(list))))
}

#[derive(Deserialize)]
struct CommentBody {
    body: String,
}

async fn create_comment_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(new): JsonBody<CommentBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = add_comment(&sim, &name, path.number, &new.body, &auth.bot).await?;
    let comment = render_found(
        &sim,
        &name,
        |r| r.comments.iter().find(|c| c.id == id),
        json::comment,
    )?;
    Ok((StatusCode::CREATED, Json(comment)))
}

#[derive(Deserialize)]
struct CommentPath {
    comment_id: u64,
}

async fn get_comment(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<CommentPath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(render_found(
        &sim,
        &name,
        |r| r.comments.iter().find(|c| c.id == path.comment_id),
        json::comment,
    )?))
}

async fn edit_comment_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<CommentPath>,
    JsonBody(new): JsonBody<CommentBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(edit_comment(
        &sim,
        &name,
        path.comment_id,
        &new.body,
        &auth.bot,
    )?))
}
