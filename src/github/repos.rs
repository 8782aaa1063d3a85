//! Repository-level reads: who may command Flotilla, files at a ref and the default
//! branch. Branch protection (the merge gate) is in `protection.rs`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;
pub use crate::types::Permission;
use crate::types::{Login, RepoName};

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

impl InstallationClient {
    /// A user's permission on a repository; a non-collaborator (404) has none.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoName,
        user: &Login,
    ) -> Result<Permission, GithubError> {
        let request = ApiRequest::on_repo(Route::CollaboratorPermission, repo, &[&user.0])?;
        let Some(response) = self.send_if_found(request).await? else {
            return Ok(Permission::None);
        };
        let wire: PermissionWire = response.json()?;
        Ok(Permission::from_wire(
            wire.role_name.as_deref(),
            &wire.permission,
        ))
    }

    /// A file's bytes at `git_ref`, or `None` when there is no such file (404).
    pub async fn file_contents(
        &self,
        repo: &RepoName,
        file: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, GithubError> {
        let request =
            ApiRequest::on_repo(Route::GetContents, repo, &[file.trim_start_matches('/')])?
                .query(&[("ref", git_ref)]);
        let Some(response) = self.send_if_found(request).await? else {
            return Ok(None);
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
        let request = ApiRequest::on_repo(Route::GetRepository, repo, &[])?;
        self.send(request).await?.json()
    }

    /// Whether branch `branch` exists: a person may delete a task's branch while
    /// Flotilla is away, and then its pull request can never land.
    pub async fn branch_exists(&self, repo: &RepoName, branch: &str) -> Result<bool, GithubError> {
        let request = ApiRequest::on_repo(Route::GetRef, repo, &[&format!("heads/{branch}")])?;
        Ok(self.send_if_found(request).await?.is_some())
    }
}
