//! Repository-level reads and settings: who may command Flotilla, files at a ref, the
//! default branch and the merge gate (branch protection).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::{Route, query};
use super::split_repo;
use crate::types::{AppId, Login, RepoName};

/// A user's effective access to a repository, as Flotilla's authorization sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// No access (or not a collaborator at all).
    None,
    /// Read or triage: may not command Flotilla.
    Read,
    /// Write or maintain: may dispatch agents and give commands.
    Write,
    /// Admin.
    Admin,
}

impl Permission {
    /// True for the levels allowed to dispatch agents and give commands.
    pub fn can_command(self) -> bool {
        self >= Permission::Write
    }

    /// Maps GitHub's `role_name` (finer: maintain, triage, custom roles) or, when it is
    /// unknown, the legacy `permission` field.
    fn from_wire(role_name: Option<&str>, permission: &str) -> Self {
        match role_name.unwrap_or(permission) {
            "admin" => Self::Admin,
            "maintain" | "write" => Self::Write,
            "triage" | "read" => Self::Read,
            "none" => Self::None,
            _ => match permission {
                "admin" => Self::Admin,
                "write" => Self::Write,
                "read" => Self::Read,
                _ => Self::None,
            },
        }
    }
}

/// The repository facts the orchestrator needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RepoInfo {
    /// `owner/name`.
    #[serde(rename = "full_name")]
    pub name: RepoName,
    /// Where config is read from and PRs are based.
    pub default_branch: String,
    /// Whether GraphQL auto-merge may be enabled; absent means no.
    #[serde(default)]
    pub allow_auto_merge: bool,
}

/// A required check bound, where possible, to the App that must report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheck {
    /// Check name, e.g. `flotilla/verify`.
    pub context: String,
    /// The App that must report it; `None` for any source.
    pub app_id: Option<AppId>,
}

/// The parts of branch protection that make up Flotilla's merge gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchProtection {
    /// Whether the branch must be up to date before merging.
    pub strict: bool,
    /// Checks that must pass.
    pub required_checks: Vec<RequiredCheck>,
    /// Whether admins are held to the rules too.
    pub enforce_admins: bool,
    /// Required approving reviews; `None` when reviews are not required.
    pub required_approving_review_count: Option<u32>,
}

#[derive(Deserialize)]
struct PermissionWire {
    permission: String,
    role_name: Option<String>,
}

#[derive(Deserialize)]
struct ContentWire {
    content: String,
    encoding: String,
}

#[derive(Deserialize)]
struct ProtectionWire {
    required_status_checks: Option<StatusChecksWire>,
    enforce_admins: Option<EnabledWire>,
    required_pull_request_reviews: Option<ReviewsWire>,
}

#[derive(Serialize, Deserialize)]
struct StatusChecksWire {
    strict: bool,
    #[serde(default)]
    checks: Vec<RequiredCheck>,
}

#[derive(Deserialize)]
struct EnabledWire {
    enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct ReviewsWire {
    #[serde(default)]
    required_approving_review_count: u32,
}

#[derive(Serialize)]
struct ProtectionBody {
    required_status_checks: StatusChecksWire,
    enforce_admins: bool,
    required_pull_request_reviews: Option<ReviewsWire>,
    restrictions: Option<()>,
}

impl InstallationClient {
    /// A user's permission on a repository; a non-collaborator (404) has none.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoName,
        user: &Login,
    ) -> Result<Permission, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let path = Route::CollaboratorPermission.path(&[owner, name, &user.0]);
        match self
            .send(ApiRequest::new(Route::CollaboratorPermission, path))
            .await
        {
            Ok(response) => {
                let wire: PermissionWire = response.json()?;
                Ok(Permission::from_wire(
                    wire.role_name.as_deref(),
                    &wire.permission,
                ))
            }
            Err(e) if e.is_not_found() => Ok(Permission::None),
            Err(e) => Err(e),
        }
    }

    /// A file's bytes at `git_ref`, or `None` when there is no such file (404).
    pub async fn file_contents(
        &self,
        repo: &RepoName,
        file: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let path = Route::GetContents.path(&[owner, name, file.trim_start_matches('/')])
            + &query(&[("ref", git_ref)]);
        let response = match self.send(ApiRequest::new(Route::GetContents, path)).await {
            Ok(response) => response,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let wire: ContentWire = response.json()?;
        if wire.encoding != "base64" {
            return Err(GithubError::InvalidInput {
                message: format!(
                    "{file} at {git_ref} has encoding `{}`: too large to read through the contents API",
                    wire.encoding
                ),
            });
        }
        let compact: String = wire.content.split_ascii_whitespace().collect();
        STANDARD
            .decode(compact)
            .map(Some)
            .map_err(|e| GithubError::InvalidInput {
                message: format!("{file} at {git_ref}: invalid base64 content: {e}"),
            })
    }

    /// Default branch and auto-merge setting.
    pub async fn get_repository(&self, repo: &RepoName) -> Result<RepoInfo, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let path = Route::GetRepository.path(&[owner, name]);
        self.send(ApiRequest::new(Route::GetRepository, path))
            .await?
            .json()
    }

    /// The branch's protection, or `None` when it has none (404).
    pub async fn get_branch_protection(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<BranchProtection>, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let path = Route::GetBranchProtection.path(&[owner, name, branch]);
        let response = match self
            .send(ApiRequest::new(Route::GetBranchProtection, path))
            .await
        {
            Ok(response) => response,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let wire: ProtectionWire = response.json()?;
        let (strict, required_checks) = match wire.required_status_checks {
            Some(checks) => (checks.strict, checks.checks),
            None => (false, Vec::new()),
        };
        Ok(Some(BranchProtection {
            strict,
            required_checks,
            enforce_admins: wire.enforce_admins.is_some_and(|e| e.enabled),
            required_approving_review_count: wire
                .required_pull_request_reviews
                .map(|r| r.required_approving_review_count),
        }))
    }

    /// Replaces the branch's protection (needs `administration: write`). Sends `checks`
    /// without `contexts` (GitHub rejects some requests carrying both) and all four
    /// top-level keys, `restrictions` as null.
    pub async fn put_branch_protection(
        &self,
        repo: &RepoName,
        branch: &str,
        protection: &BranchProtection,
    ) -> Result<(), GithubError> {
        let (owner, name) = split_repo(repo)?;
        let path = Route::PutBranchProtection.path(&[owner, name, branch]);
        let body = ProtectionBody {
            required_status_checks: StatusChecksWire {
                strict: protection.strict,
                checks: protection.required_checks.clone(),
            },
            enforce_admins: protection.enforce_admins,
            required_pull_request_reviews: protection.required_approving_review_count.map(
                |count| ReviewsWire {
                    required_approving_review_count: count,
                },
            ),
            restrictions: None,
        };
        let request = ApiRequest::new(Route::PutBranchProtection, path).json(&body)?;
        self.send(request).await.map(drop)
    }
}
