//! Repository routes backed by the bare repository: the repository, contents, branches,
//! commits, compare, and collaborator permission.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::{Login, Permission, RepoName};

use super::super::auth::{Caller, InstallationAuth};
use super::super::error::{ApiError, ApiResult};
use super::super::{Sim, git, json};
use super::checks::RefPath;
use super::{BranchPath, InRepo, Page, RepoPath, repo_for};

/// Repository routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/repos/{owner}/{repo}/contents", get(get_root_contents))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(get_contents))
        .route("/repos/{owner}/{repo}/branches", get(list_branches))
        .route("/repos/{owner}/{repo}/branches/{branch}", get(get_branch))
        .route("/repos/{owner}/{repo}/commits", get(list_commits))
        .route("/repos/{owner}/{repo}/commits/{reference}", get(get_commit))
        .route("/repos/{owner}/{repo}/compare/{basehead}", get(compare))
        .route(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            get(permission),
        )
}

/// `GET /repos/{owner}/{repo}`: as the App's bot, or as a person through the App (then
/// `permissions` are that person's, and the App must be installed on the owner).
async fn get_repo(
    State(sim): State<Sim>,
    caller: Caller,
    Path(p): Path<RepoPath>,
) -> ApiResult<Json<Value>> {
    let user = match caller {
        Caller::Installation(auth) => {
            let name = repo_for(&sim, &auth, &p.owner, &p.repo)?;
            let world = sim.world();
            let repo = world.repo(&name).ok_or_else(ApiError::not_found)?;
            return Ok(Json(json::repo(&world, repo)));
        }
        Caller::User(user) => user,
    };
    let name = RepoName(format!("{}/{}", p.owner, p.repo));
    let world = sim.world();
    let installed = world
        .installations
        .values()
        .any(|i| i.app_id == user.app_id && i.account.0.eq_ignore_ascii_case(&p.owner));
    let repo = world
        .repo(&name)
        .filter(|_| installed)
        .ok_or_else(ApiError::not_found)?;
    let mut value = json::repo(&world, repo);
    value["permissions"] = json::permissions(repo.permission(&user.login));
    Ok(Json(value))
}

#[derive(Deserialize)]
struct RefQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn default_branch(sim: &Sim, name: &RepoName) -> String {
    sim.world()
        .repo(name)
        .map(|r| r.default_branch.clone())
        .unwrap_or_default()
}

async fn get_root_contents(
    State(sim): State<Sim>,
    auth: InstallationAuth,
    Path(p): Path<RepoPath>,
    Query(q): Query<RefQuery>,
) -> ApiResult<Json<Value>> {
    contents(&sim, &auth, &p.owner, &p.repo, "", q.reference).await
}

#[derive(Deserialize)]
struct ContentsPath {
    owner: String,
    repo: String,
    path: String,
}

async fn get_contents(
    State(sim): State<Sim>,
    auth: InstallationAuth,
    Path(p): Path<ContentsPath>,
    Query(q): Query<RefQuery>,
) -> ApiResult<Json<Value>> {
    contents(
        &sim,
        &auth,
        &p.owner,
        &p.repo,
        p.path.trim_matches('/'),
        q.reference,
    )
    .await
}

async fn contents(
    sim: &Sim,
    auth: &InstallationAuth,
    owner: &str,
    repo: &str,
    path: &str,
    reference: Option<String>,
) -> ApiResult<Json<Value>> {
    let name = repo_for(sim, auth, owner, repo)?;
    let reference = reference.unwrap_or_else(|| default_branch(sim, &name));
    let bare = sim.repo_path(&name);
    let commit = git::rev_parse(&bare, &reference).await.ok_or_else(|| {
        ApiError::not_found().with_message(format!("No commit found for the ref {reference}"))
    })?;
    let base = sim.world().base_url.clone();
    let url = |p: &str| format!("{base}/repos/{name}/contents/{p}?ref={reference}");
    if let Some(bytes) = git::read_file(&bare, &commit, path).await {
        let sha = git::run(&bare, &["rev-parse", &format!("{commit}:{path}")], &[])
            .await?
            .trim()
            .to_owned();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let html_url = format!("{base}/{name}/blob/{reference}/{path}");
        let git_url = format!("{base}/repos/{name}/git/blobs/{sha}");
        return Ok(Json(json!({
            "type": "file",
            "encoding": "base64",
            "size": bytes.len(),
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "content": wrapped.join("\n") + "\n",
            "sha": sha,
            "url": url(path),
            "html_url": html_url,
            "download_url": format!("{base}/{name}/raw/{reference}/{path}"),
            "git_url": git_url,
            "_links": {"self": url(path), "git": git_url, "html": html_url},
        })));
    }
    let entries = git::list_dir(&bare, &commit, path)
        .await
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(Value::Array(
        entries
            .into_iter()
            .map(|(kind, entry, sha, size)| {
                let full = if path.is_empty() {
                    entry.clone()
                } else {
                    format!("{path}/{entry}")
                };
                let dir = kind == "dir";
                let git_url = format!(
                    "{base}/repos/{name}/git/{}/{sha}",
                    if dir { "trees" } else { "blobs" }
                );
                let html_url = format!(
                    "{base}/{name}/{}/{reference}/{full}",
                    if dir { "tree" } else { "blob" }
                );
                let download_url = (!dir).then(|| format!("{base}/{name}/raw/{reference}/{full}"));
                json!({
                    "type": kind,
                    "name": entry,
                    "path": full,
                    "sha": sha,
                    "size": size,
                    "url": url(&full),
                    "git_url": git_url,
                    "html_url": html_url,
                    "download_url": download_url,
                    "_links": {"self": url(&full), "git": git_url, "html": html_url},
                })
            })
            .collect(),
    )))
}

impl ApiError {
    /// Replaces the message (keeps the status).
    fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }
}

fn branch_json(sim: &Sim, name: &RepoName, branch: &str, sha: &str) -> Value {
    let world = sim.world();
    let protected = world
        .repo(name)
        .is_some_and(|r| r.protection.contains_key(branch));
    json!({
        "name": branch,
        "commit": {"sha": sha, "url": format!("{}/repos/{name}/commits/{sha}", world.base_url)},
        "protected": protected,
        "protection_url": format!("{}/repos/{name}/branches/{branch}/protection", world.base_url),
    })
}

async fn list_branches(
    State(sim): State<Sim>,
    InRepo { name, .. }: InRepo<RepoPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let branches = git::branches(&sim.repo_path(&name)).await?;
    let list = branches
        .iter()
        .map(|(b, s)| branch_json(&sim, &name, b, s))
        .collect();
    Ok(Json(Value::Array(page.apply(list))))
}

async fn get_branch(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<BranchPath>,
) -> ApiResult<Json<Value>> {
    let sha = git::branch_sha(&sim.repo_path(&name), &path.branch)
        .await
        .ok_or_else(|| ApiError::not_found().with_message("Branch not found".to_owned()))?;
    Ok(Json(branch_json(&sim, &name, &path.branch, &sha)))
}

/// A commit object as the commits API returns it.
pub async fn commit_json(sim: &Sim, name: &RepoName, rev: &str) -> Option<Value> {
    let bare = sim.repo_path(name);
    let info = git::commit_info(&bare, rev).await?;
    let base = sim.world().base_url.clone();
    let person = |p: &(String, String, String)| json!({"name": p.0, "email": p.1, "date": p.2});
    Some(json!({
        "sha": info.sha,
        "node_id": json::node_id("C", &info.sha),
        "url": format!("{base}/repos/{name}/commits/{}", info.sha),
        "html_url": format!("{base}/{name}/commit/{}", info.sha),
        "commit": {
            "author": person(&info.author),
            "committer": person(&info.committer),
            "message": info.message,
            "tree": {"sha": info.tree},
        },
        "author": null,
        "committer": null,
        "parents": info.parents.iter().map(|p| json!({"sha": p, "url": format!("{base}/repos/{name}/commits/{p}")})).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
struct CommitsQuery {
    sha: Option<String>,
}

async fn list_commits(
    State(sim): State<Sim>,
    InRepo { name, .. }: InRepo<RepoPath>,
    Query(q): Query<CommitsQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let start = q.sha.unwrap_or_else(|| default_branch(&sim, &name));
    let bare = sim.repo_path(&name);
    let tip = git::rev_parse(&bare, &start)
        .await
        .ok_or_else(ApiError::not_found)?;
    let shas: Vec<String> = git::run(&bare, &["rev-list", "--max-count=1000", &tip], &[])
        .await?
        .lines()
        .map(str::to_owned)
        .collect();
    let mut list = Vec::new();
    for sha in page.apply(shas) {
        if let Some(c) = commit_json(&sim, &name, &sha).await {
            list.push(c);
        }
    }
    Ok(Json(Value::Array(list)))
}

async fn get_commit(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<RefPath>,
) -> ApiResult<Json<Value>> {
    let mut value = commit_json(&sim, &name, &path.reference)
        .await
        .ok_or_else(|| {
            ApiError::unprocessable(format!("No commit found for SHA: {}", path.reference))
        })?;
    let bare = sim.repo_path(&name);
    let sha = value["sha"].as_str().unwrap_or_default().to_owned();
    let parent = value["parents"][0]["sha"].as_str().map(str::to_owned);
    if let Some(parent) = parent {
        let files = git::diff(&bare, &parent, &sha).await?;
        value["files"] = files_json(&files);
    }
    Ok(Json(value))
}

/// The `files` array of compare / PR files.
pub fn files_json(files: &[git::FileDiff]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| {
                json!({
                    "filename": f.path,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                    "changes": f.additions + f.deletions,
                    "patch": f.patch,
                })
            })
            .collect(),
    )
}

#[derive(Deserialize)]
struct ComparePath {
    basehead: String,
}

async fn compare(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<ComparePath>,
) -> ApiResult<Json<Value>> {
    let (base, head) = path
        .basehead
        .split_once("...")
        .or_else(|| path.basehead.split_once(".."))
        .ok_or_else(ApiError::not_found)?;
    let bare = sim.repo_path(&name);
    let (Some(base_sha), Some(head_sha)) = (
        git::rev_parse(&bare, base).await,
        git::rev_parse(&bare, head).await,
    ) else {
        return Err(ApiError::not_found());
    };
    let merge_base = git::merge_base(&bare, &base_sha, &head_sha)
        .await
        .unwrap_or_default();
    let ahead = git::commits_between(&bare, &base_sha, &head_sha).await?;
    let behind = git::commits_between(&bare, &head_sha, &base_sha).await?;
    let files = git::diff(&bare, &base_sha, &head_sha).await?;
    let status = match (ahead.is_empty(), behind.is_empty()) {
        (true, true) => "identical",
        (false, true) => "ahead",
        (true, false) => "behind",
        (false, false) => "diverged",
    };
    let mut commits = Vec::new();
    for sha in &ahead {
        if let Some(c) = commit_json(&sim, &name, sha).await {
            commits.push(c);
        }
    }
    Ok(Json(json!({
        "base_commit": commit_json(&sim, &name, &base_sha).await,
        "merge_base_commit": commit_json(&sim, &name, &merge_base).await,
        "status": status,
        "ahead_by": ahead.len(),
        "behind_by": behind.len(),
        "total_commits": ahead.len(),
        "commits": commits,
        "files": files_json(&files),
    })))
}

#[derive(Deserialize)]
struct PermissionPath {
    username: String,
}

async fn permission(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<PermissionPath>,
) -> ApiResult<Json<Value>> {
    let mut world = sim.world();
    let login = Login(path.username.clone());
    if !world.users.contains_key(&login) {
        return Err(ApiError::not_found());
    }
    let permission = world
        .repo(&name)
        .map(|r| r.permission(&login))
        .unwrap_or(Permission::None);
    let user = world.user(&login);
    let role = permission.as_str();
    let mut user = json::user(&world, &user.login);
    user["role_name"] = json!(role);
    user["permissions"] = json!({
        "admin": permission >= Permission::Admin,
        "maintain": permission >= Permission::Admin,
        "push": permission >= Permission::Write,
        "triage": permission >= Permission::Read,
        "pull": permission >= Permission::Read,
    });
    Ok(Json(json!({
        "permission": permission.as_str(),
        "role_name": role,
        "user": user,
    })))
}
