//! GitHub's REST routes, one file per area. Every route but the App ones takes an
//! `InstallationAuth` (a live installation token) and sees only the repositories of
//! its installation's account.

pub mod apps;
pub mod checks;
pub mod comments;
pub mod issues;
pub mod protection;
pub mod pulls;
pub mod refs;
pub mod repos;
pub mod reviews;
pub mod rules;
pub mod statuses;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::types::RepoName;

use super::Sim;
use super::auth::InstallationAuth;
use super::error::{ApiError, ApiResult};
use super::state::{Access, Repo, World};

/// All REST routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .merge(apps::router())
        .merge(repos::router())
        .merge(refs::router())
        .merge(issues::router())
        .merge(comments::router())
        .merge(pulls::router())
        .merge(reviews::router())
        .merge(checks::router())
        .merge(statuses::router())
        .merge(protection::router())
        .merge(rules::router())
}

/// `{owner}/{repo}` path parameters.
#[derive(Deserialize)]
pub struct RepoPath {
    /// Owner login.
    pub owner: String,
    /// Repository name.
    pub repo: String,
}

/// The `{number}` of a `{owner}/{repo}/.../{number}` path (the repository comes through
/// [`InRepo`]).
#[derive(Deserialize)]
pub struct NumberPath {
    /// Issue or pull request number.
    pub number: u64,
}

/// The `{branch}` of a `{owner}/{repo}/.../{branch}` path (the repository comes through
/// [`InRepo`]).
#[derive(Deserialize)]
pub struct BranchPath {
    /// Branch name.
    pub branch: String,
}

/// Resolves `owner/repo` for a token: 404 unless it exists and the installation covers it.
pub fn repo_for(
    sim: &Sim,
    auth: &InstallationAuth,
    owner: &str,
    repo: &str,
) -> ApiResult<RepoName> {
    let name = RepoName(format!("{owner}/{repo}"));
    let world = sim.world();
    let covered = world
        .installations
        .get(&auth.installation)
        .is_some_and(|i| i.account.0.eq_ignore_ascii_case(owner));
    if !covered || world.repo(&name).is_none() {
        return Err(ApiError::not_found());
    }
    Ok(name)
}

/// A request by an installation's bot about one repository: its name, checked by
/// [`repo_for`] (the installation covers it and it exists, else 404), the path's
/// parameters `P`, and who asks. GitHub answers a path it cannot read with 404 too.
pub struct InRepo<P> {
    /// `owner/name`, as the path spells it.
    pub name: RepoName,
    /// Every parameter of the path (`owner` and `repo` included).
    pub path: P,
    /// The installation token's bot.
    pub auth: InstallationAuth,
}

impl<P: DeserializeOwned + Send> FromRequestParts<Sim> for InRepo<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        let auth = InstallationAuth::from_request_parts(parts, sim).await?;
        let Path(repo) = Path::<RepoPath>::from_request_parts(parts, sim)
            .await
            .map_err(|_| ApiError::not_found())?;
        let Path(path) = Path::<P>::from_request_parts(parts, sim)
            .await
            .map_err(|_| ApiError::not_found())?;
        let name = repo_for(sim, &auth, &repo.owner, &repo.repo)?;
        Ok(Self { name, path, auth })
    }
}

/// GitHub's JSON for one thing a repository holds (a comment, a check run, a suite…):
/// `find` picks it out of the repository, `render` writes it. 404 when either is gone.
pub fn render_found<T>(
    sim: &Sim,
    name: &RepoName,
    find: impl FnOnce(&Repo) -> Option<&T>,
    render: impl FnOnce(&World, &Repo, &T) -> Value,
) -> ApiResult<Value> {
    let world = sim.world();
    let repo = world.repo(name).ok_or_else(ApiError::not_found)?;
    let found = find(repo).ok_or_else(ApiError::not_found)?;
    Ok(render(&world, repo, found))
}

/// 403 as GitHub answers an installation token whose App lacks `permission` at `level`
/// (e.g. classic branch protection without `administration`).
pub fn require_permission(
    sim: &Sim,
    auth: &InstallationAuth,
    permission: &str,
    level: Access,
) -> ApiResult<()> {
    let world = sim.world();
    let granted = world
        .apps
        .get(&auth.app_id)
        .is_some_and(|app| app.may(permission, level));
    if granted {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ))
    }
}

/// `per_page` / `page` query parameters.
#[derive(Deserialize, Default)]
pub struct Page {
    /// Items per page (default 30, max 100).
    pub per_page: Option<usize>,
    /// 1-based page.
    pub page: Option<usize>,
}

impl Page {
    /// Applies the page to `items`.
    pub fn apply<T>(&self, items: Vec<T>) -> Vec<T> {
        let per = self.per_page.unwrap_or(30).clamp(1, 100);
        let page = self.page.unwrap_or(1).max(1);
        items.into_iter().skip((page - 1) * per).take(per).collect()
    }
}
