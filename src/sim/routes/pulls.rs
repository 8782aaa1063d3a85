//! Pull request routes: create (head must be a pushed branch), get, list, update,
//! files, commits, merge (sha guard, protection) and update-branch.

use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::types::{CommitSha, Login, RepoName};

use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::state::{Issue, MergeMethod, Pull};
use super::super::{Sim, ci, git, merge, push};
use super::repos::{commit_json, files_json};
use super::{InRepo, NumberPath, Page, RepoPath};

/// Pull request routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/pulls",
            get(list_pulls).post(create_pull_route),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}",
            get(get_pull).patch(update_pull),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/files",
            get(list_files),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/commits",
            get(list_commits),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/merge",
            put(merge_route).get(is_merged),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/update-branch",
            put(update_branch),
        )
}

/// Strips an `owner:` prefix from a `head` parameter.
fn branch_of(head: &str) -> &str {
    head.split_once(':').map(|(_, b)| b).unwrap_or(head)
}

/// Opens a pull request as `by`; the head must be a pushed branch with commits the base
/// lacks. Returns its number.
pub async fn create_pull(sim: &Sim, name: &RepoName, new: NewPull, by: &Login) -> ApiResult<u64> {
    let NewPull {
        title,
        head,
        base,
        body,
        draft,
    } = new;
    let (title, head, base) = (title.as_str(), head.as_str(), base.as_str());
    let invalid = |field: &str| {
        ApiError::unprocessable(format!(
            "Validation Failed: {{\"resource\":\"PullRequest\",\"field\":\"{field}\",\"code\":\"invalid\"}}"
        ))
    };
    let head = branch_of(head);
    let bare = sim.repo_path(name);
    let head_sha = git::branch_sha(&bare, head)
        .await
        .ok_or_else(|| invalid("head"))?;
    let base_sha = git::branch_sha(&bare, base)
        .await
        .ok_or_else(|| invalid("base"))?;
    if title.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "Validation Failed: title is missing",
        ));
    }
    if git::commits_between(&bare, &base_sha, &head_sha)
        .await?
        .is_empty()
    {
        return Err(ApiError::unprocessable(format!(
            "Validation Failed: No commits between {base} and {head}"
        )));
    }
    let number = {
        let mut world = sim.world();
        world.user(by);
        let issue_id = world.id();
        let pull_id = world.id();
        let now = world.now();
        let r = world.repos.get_mut(name).ok_or_else(ApiError::not_found)?;
        if r.open_pull_for_head(head).is_some() {
            let owner = name.split().map(|(o, _)| o).unwrap_or_default();
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: A pull request already exists for {owner}:{head}."
            )));
        }
        let number = r.next_number;
        r.next_number += 1;
        r.issues.insert(
            number,
            Issue {
                id: issue_id,
                number,
                title: title.to_owned(),
                body,
                user: by.clone(),
                labels: Vec::new(),
                open: true,
                state_reason: None,
                created_at: now,
                updated_at: now,
                closed_at: None,
                is_pull: true,
            },
        );
        r.pulls.insert(
            number,
            Pull {
                id: pull_id,
                number,
                head_ref: head.to_owned(),
                head_sha: CommitSha(head_sha.clone()),
                base_ref: base.to_owned(),
                draft,
                merged: false,
                merged_at: None,
                merged_by: None,
                merge_commit_sha: None,
                auto_merge: None,
            },
        );
        number
    };
    merge::announce_pull(sim, name, number, "opened", by, Map::new()).await?;
    ci::trigger(sim, name, &head_sha, head);
    Ok(number)
}

/// Marks a draft ready for review as `by` (GraphQL `markPullRequestReadyForReview`).
pub async fn mark_ready(sim: &Sim, name: &RepoName, number: u64, by: &Login) -> ApiResult<()> {
    let changed = {
        let mut world = sim.world();
        let pull = world
            .repos
            .get_mut(name)
            .and_then(|r| r.pulls.get_mut(&number))
            .ok_or_else(ApiError::not_found)?;
        std::mem::replace(&mut pull.draft, false)
    };
    if changed {
        merge::announce_pull(sim, name, number, "ready_for_review", by, Map::new()).await?;
        sim.kick_auto_merge();
    }
    Ok(())
}

/// What opening a pull request takes (the REST body).
#[derive(Deserialize)]
pub struct NewPull {
    /// Title.
    pub title: String,
    /// Head branch (`owner:` prefix allowed).
    pub head: String,
    /// Base branch.
    pub base: String,
    /// Description.
    pub body: Option<String>,
    /// Open as a draft.
    #[serde(default)]
    pub draft: bool,
}

async fn create_pull_route(
    State(sim): State<Sim>,
    InRepo { name, auth, .. }: InRepo<RepoPath>,
    JsonBody(new): JsonBody<NewPull>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let number = create_pull(&sim, &name, new, &auth.bot).await?;
    Ok((
        StatusCode::CREATED,
        Json(merge::pull_json(&sim, &name, number).await?),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    head: Option<String>,
    base: Option<String>,
}

async fn list_pulls(
    State(sim): State<Sim>,
    InRepo { name, .. }: InRepo<RepoPath>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let numbers: Vec<u64> = {
        let world = sim.world();
        let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
        let state = q.state.as_deref().unwrap_or("open");
        r.pulls
            .values()
            .rev()
            .filter(|pull| {
                let open = r.issues.get(&pull.number).is_some_and(|i| i.open);
                match state {
                    "all" => true,
                    "closed" => !open,
                    _ => open,
                }
            })
            .filter(|pull| {
                q.head
                    .as_deref()
                    .is_none_or(|h| branch_of(h) == pull.head_ref)
            })
            .filter(|pull| q.base.as_deref().is_none_or(|b| b == pull.base_ref))
            .map(|pull| pull.number)
            .collect()
    };
    let mut list = Vec::new();
    for number in page.apply(numbers) {
        list.push(merge::pull_json(&sim, &name, number).await?);
    }
    Ok(Json(Value::Array(list)))
}

async fn get_pull(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(merge::pull_json(&sim, &name, path.number).await?))
}

async fn update_pull(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if let Some(base) = patch.get("base").and_then(Value::as_str) {
        if git::branch_sha(&sim.repo_path(&name), base).await.is_none() {
            return Err(ApiError::unprocessable(
                "Validation Failed: base is invalid",
            ));
        }
        let mut world = sim.world();
        if let Some(pull) = world
            .repos
            .get_mut(&name)
            .and_then(|r| r.pulls.get_mut(&path.number))
        {
            pull.base_ref = base.to_owned();
        }
    }
    let mut issue_patch = Map::new();
    for key in ["title", "body", "state"] {
        if let Some(v) = patch.get(key) {
            issue_patch.insert(key.to_owned(), v.clone());
        }
    }
    super::issues::update_issue(
        &sim,
        &name,
        path.number,
        Value::Object(issue_patch),
        &auth.bot,
    )
    .await?;
    Ok(Json(merge::pull_json(&sim, &name, path.number).await?))
}

/// What a pull request's files and commits are read from: the bare repository, the
/// base branch's sha (404 when the branch is gone) and the head sha.
async fn commit_range(
    sim: &Sim,
    name: &RepoName,
    number: u64,
) -> ApiResult<(PathBuf, String, String)> {
    let snap = merge::snapshot(sim, name, number)?;
    let bare = sim.repo_path(name);
    let base = git::branch_sha(&bare, &snap.base_ref)
        .await
        .ok_or_else(ApiError::not_found)?;
    Ok((bare, base, snap.head_sha))
}

async fn list_files(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (bare, base, head) = commit_range(&sim, &name, path.number).await?;
    let files = git::diff(&bare, &base, &head).await?;
    let Value::Array(list) = files_json(&files) else {
        return Ok(Json(json!([])));
    };
    Ok(Json(Value::Array(page.apply(list))))
}

async fn list_commits(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<Json<Value>> {
    let (bare, base, head) = commit_range(&sim, &name, path.number).await?;
    let mut list = Vec::new();
    for sha in git::commits_between(&bare, &base, &head).await? {
        if let Some(c) = commit_json(&sim, &name, &sha).await {
            list.push(c);
        }
    }
    Ok(Json(Value::Array(list)))
}

/// A merge as asked for: the `sha` guard, method and commit text.
pub struct MergeRequest {
    /// Expected head; 409 when the head moved.
    pub sha: Option<String>,
    /// Merge, squash or rebase.
    pub method: MergeMethod,
    /// Commit title.
    pub title: Option<String>,
    /// Commit message.
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct MergeBody {
    commit_title: Option<String>,
    commit_message: Option<String>,
    sha: Option<String>,
    merge_method: Option<String>,
}

/// Merges as `by` after GitHub's checks: open, `sha` guard (409), mergeability (405).
pub async fn merge_pull(
    sim: &Sim,
    name: &RepoName,
    number: u64,
    request: MergeRequest,
    by: &Login,
) -> ApiResult<String> {
    let MergeRequest {
        sha,
        method,
        title,
        message,
    } = request;
    let snap = merge::snapshot(sim, name, number)?;
    if !snap.open || snap.merged {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        ));
    }
    if sha.as_deref().is_some_and(|s| s != snap.head_sha) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    merge::perform_merge(sim, name, number, method, title, message, by).await
}

async fn merge_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(req): JsonBody<MergeBody>,
) -> ApiResult<Json<Value>> {
    let method = match req.merge_method.as_deref() {
        None => MergeMethod::Merge,
        Some(m) => MergeMethod::parse(m)
            .ok_or_else(|| ApiError::unprocessable(format!("Invalid merge_method: {m}")))?,
    };
    let request = MergeRequest {
        sha: req.sha,
        method,
        title: req.commit_title,
        message: req.commit_message,
    };
    let sha = merge_pull(&sim, &name, path.number, request, &auth.bot).await?;
    Ok(Json(
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

async fn is_merged(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<StatusCode> {
    let snap = merge::snapshot(&sim, &name, path.number)?;
    if snap.merged {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Deserialize)]
struct UpdateBranchBody {
    expected_head_sha: Option<String>,
}

async fn update_branch(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(req): JsonBody<UpdateBranchBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let snap = merge::snapshot(&sim, &name, path.number)?;
    if req
        .expected_head_sha
        .as_deref()
        .is_some_and(|s| s != snap.head_sha)
    {
        return Err(ApiError::unprocessable(
            "expected head sha didn't match current head ref.",
        ));
    }
    let bare = sim.repo_path(&name);
    let base = git::branch_sha(&bare, &snap.base_ref)
        .await
        .ok_or_else(ApiError::not_found)?;
    if git::is_ancestor(&bare, &base, &snap.head_sha).await {
        return Err(ApiError::unprocessable(
            "There are no new commits on the base branch.",
        ));
    }
    let tree = git::merge_tree(&bare, &snap.head_sha, &base, None)
        .await?
        .ok_or_else(|| ApiError::unprocessable("merge conflict between base and head"))?;
    let message = format!("Merge branch '{}' into {}", snap.base_ref, snap.head_ref);
    let email = format!("{}@users.noreply.github.com", auth.bot.0);
    let commit = git::commit_tree(
        &bare,
        &tree,
        &[&snap.head_sha, &base],
        &message,
        (&auth.bot.0, &email),
        git::GITHUB_COMMITTER,
    )
    .await?;
    {
        let _guard = sim.0.git_lock.lock().await;
        git::update_ref(
            &bare,
            &format!("refs/heads/{}", snap.head_ref),
            &commit,
            Some(&snap.head_sha),
        )
        .await?;
    }
    push::on_push(
        &sim,
        &name,
        vec![(
            snap.head_ref.clone(),
            Some(snap.head_sha.clone()),
            Some(commit),
        )],
        &auth.bot,
    )
    .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"message": "Updating pull request branch.", "url": format!("{}/{}/pull/{}", sim.world().base_url, name, path.number)}),
        ),
    ))
}
