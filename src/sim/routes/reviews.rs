//! Review routes: submit a review with inline comments (GitHub's author and diff-line
//! rules), list reviews and review comments.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::types::{CommitSha, Login, RepoName};

use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::state::{Review, ReviewComment};
use super::super::webhooks::announce;
use super::super::{Sim, git, json, merge};
use super::{InRepo, NumberPath, Page};

/// Review routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/reviews",
            get(list_reviews).post(create_review),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/comments",
            get(list_review_comments),
        )
}

/// One inline comment of a review request.
#[derive(Deserialize, Clone, Debug)]
pub struct DraftComment {
    /// File path.
    pub path: String,
    /// Line on `side` (GitHub's multi-line form; `position` is the legacy form).
    pub line: Option<u64>,
    /// Legacy diff position.
    pub position: Option<u64>,
    /// `RIGHT` (default) or `LEFT`.
    pub side: Option<String>,
    /// Comment text.
    pub body: String,
}

/// A review as submitted (the REST body).
#[derive(Deserialize, Default)]
pub struct NewReview {
    /// Reviewed commit (default: the head).
    pub commit_id: Option<String>,
    /// Review body.
    pub body: Option<String>,
    /// `APPROVE`, `REQUEST_CHANGES`, `COMMENT`; absent: pending.
    pub event: Option<String>,
    /// Inline comments.
    #[serde(default)]
    pub comments: Vec<DraftComment>,
}

/// Submits a review as `by`; returns its id. Enforces: the author cannot approve or
/// request changes; inline comments must target lines of the diff.
pub async fn submit_review(
    sim: &Sim,
    name: &RepoName,
    number: u64,
    by: &Login,
    review: NewReview,
) -> ApiResult<u64> {
    let NewReview {
        commit_id,
        body,
        event,
        comments,
    } = review;
    let (event, body) = (
        event.as_deref().unwrap_or_default(),
        body.as_deref().unwrap_or_default(),
    );
    let snap = merge::snapshot(sim, name, number)?;
    let state = match event {
        "APPROVE" => "APPROVED",
        "REQUEST_CHANGES" => "CHANGES_REQUESTED",
        "COMMENT" => "COMMENTED",
        "" => "PENDING",
        other => {
            return Err(ApiError::unprocessable(format!(
                "Unprocessable Entity: event {other} is not valid"
            )));
        }
    };
    if &snap.author == by && state == "APPROVED" {
        return Err(ApiError::unprocessable(
            "Unprocessable Entity: \"Can not approve your own pull request\"",
        ));
    }
    if &snap.author == by && state == "CHANGES_REQUESTED" {
        return Err(ApiError::unprocessable(
            "Unprocessable Entity: \"Can not request changes on your own pull request\"",
        ));
    }
    if matches!(state, "CHANGES_REQUESTED" | "COMMENTED") && body.is_empty() && comments.is_empty()
    {
        return Err(ApiError::unprocessable(format!(
            "Unprocessable Entity: \"Review Can not be blank when the event is {event}\""
        )));
    }
    let bare = sim.repo_path(name);
    let base = git::branch_sha(&bare, &snap.base_ref)
        .await
        .ok_or_else(ApiError::not_found)?;
    let files = git::diff(&bare, &base, &snap.head_sha).await?;
    for c in &comments {
        let file = files.iter().find(|f| f.path == c.path).ok_or_else(|| {
            ApiError::unprocessable("Unprocessable Entity: \"Path could not be resolved\"")
        })?;
        if let Some(line) = c.line {
            let lines = if c.side.as_deref() == Some("LEFT") {
                &file.left_lines
            } else {
                &file.right_lines
            };
            if !lines.contains(&line) {
                return Err(ApiError::unprocessable(
                    "Unprocessable Entity: \"Line could not be resolved\"",
                ));
            }
        } else if c.position.is_none() {
            return Err(ApiError::unprocessable(
                "Unprocessable Entity: \"line\" is required",
            ));
        }
    }
    let commit = CommitSha(commit_id.unwrap_or_else(|| snap.head_sha.clone()));
    let id = {
        let mut world = sim.world();
        world.user(by);
        let id = world.id();
        let ids: Vec<u64> = comments.iter().map(|_| world.id()).collect();
        let now = world.now();
        let r = world.repos.get_mut(name).ok_or_else(ApiError::not_found)?;
        r.reviews.push(Review {
            id,
            pull: number,
            user: by.clone(),
            state: state.to_owned(),
            body: body.to_owned(),
            commit_id: commit.clone(),
            submitted_at: now,
        });
        for (c, cid) in comments.into_iter().zip(ids) {
            r.review_comments.push(ReviewComment {
                id: cid,
                review_id: id,
                pull: number,
                user: by.clone(),
                path: c.path,
                line: c.line.or(c.position).unwrap_or(0),
                side: c.side.unwrap_or_else(|| "RIGHT".to_owned()),
                body: c.body,
                commit_id: commit.clone(),
            });
        }
        id
    };
    if state != "PENDING" {
        let pull = merge::pull_json(sim, name, number).await?;
        let world = sim.world();
        let r = world.repo(name).ok_or_else(ApiError::not_found)?;
        if let Some(review) = r.reviews.iter().find(|x| x.id == id) {
            let mut fields = Map::new();
            fields.insert("review".into(), json::review(&world, r, review));
            fields.insert("pull_request".into(), pull);
            announce(
                &world,
                sim.outbox(),
                r,
                "pull_request_review",
                Some("submitted"),
                fields,
                by,
            );
        }
    }
    sim.kick_auto_merge();
    Ok(id)
}

async fn create_review(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(req): JsonBody<NewReview>,
) -> ApiResult<Json<Value>> {
    let id = submit_review(&sim, &name, path.number, &auth.bot, req).await?;
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let review = r
        .reviews
        .iter()
        .find(|x| x.id == id)
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "review vanished"))?;
    Ok(Json(json::review(&world, r, review)))
}

async fn list_reviews(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    r.pulls.get(&path.number).ok_or_else(ApiError::not_found)?;
    // A pending review is visible to its author only.
    let list = r
        .reviews
        .iter()
        .filter(|x| x.pull == path.number && (x.state != "PENDING" || x.user == auth.bot))
        .map(|x| json::review(&world, r, x))
        .collect();
    Ok(Json(Value::Array(page.apply(list))))
}

async fn list_review_comments(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    r.pulls.get(&path.number).ok_or_else(ApiError::not_found)?;
    Ok(Json(Value::Array(
        r.review_comments
            .iter()
            .filter(|x| x.pull == path.number)
            .map(|x| json::review_comment(&world, r, x))
            .collect(),
    )))
}
