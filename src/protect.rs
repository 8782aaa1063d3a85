//! `flotilla protect`: makes `flotilla/verify` a required check of a branch, bound to
//! this App, so a commit status or another App's check of the same name cannot stand
//! in for it.
//!
//! Owns the decision of what the new protection is (everything the branch had, plus the
//! gate) and the operator-facing wording of the outcome. It must not drop a setting it
//! read: GitHub's PUT replaces the whole protection.

use std::fmt;

use crate::github::{BranchProtection, GithubApp, GithubError, RequiredCheck};
use crate::types::{AppId, InstallationId, RepoName};

/// The check Flotilla publishes as its merge gate.
pub const VERIFY_CHECK: &str = "flotilla/verify";

/// What to protect, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectRequest {
    /// `owner/name`.
    pub repo: RepoName,
    /// The branch; `None` for the repository's default branch.
    pub branch: Option<String>,
    /// Require up-to-date branches; `None` keeps the current setting.
    pub strict: Option<bool>,
    /// Further checks to require from any source (e.g. the repository's CI).
    pub extra_checks: Vec<String>,
}

/// Why a branch could not be protected; callers branch on the missing permission to
/// tell the operator how to grant it.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// The App has no installation that covers the repository.
    #[error(
        "the App is not installed on {repo} (or the installation does not include it): install it there first"
    )]
    NotInstalled {
        /// The repository.
        repo: RepoName,
    },
    /// GitHub refused to show or change the protection: the App lacks `administration`.
    #[error(
        "GitHub refused to let the App change the protection of {repo} `{branch}` ({message}). \
         The App needs the `administration: write` repository permission: in the App's \
         settings, Permissions & events → Repository permissions → Administration → \
         Read and write, then the installation's owner accepts the new permission. \
         Or protect the branch by hand: the repository's Settings → Branches → add a \
         branch protection rule (or a ruleset) for `{branch}` → Require status checks \
         to pass → add `{VERIFY_CHECK}` with the Flotilla App as its source."
    )]
    MissingPermission {
        /// The repository.
        repo: RepoName,
        /// The branch.
        branch: String,
        /// GitHub's message.
        message: String,
    },
    /// Any other failure talking to GitHub.
    #[error("{0}")]
    Github(#[from] GithubError),
}

/// What `protect` did, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectReport {
    /// The repository.
    pub repo: RepoName,
    /// The branch that is now protected.
    pub branch: String,
    /// The installation that acted.
    pub installation: InstallationId,
    /// Whether the branch had protection before.
    pub was_protected: bool,
    /// The protection as written.
    pub protection: BranchProtection,
}

impl fmt::Display for ProtectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = if self.was_protected {
            "its other protection settings kept"
        } else {
            "it had no protection before"
        };
        writeln!(
            f,
            "Protected {} `{}` (installation {}); {kept}.",
            self.repo, self.branch, self.installation
        )?;
        let strict = if self.protection.strict { "yes" } else { "no" };
        writeln!(f, "Branches must be up to date before merging: {strict}")?;
        writeln!(f, "Required checks:")?;
        for check in &self.protection.required_checks {
            match check.app_id {
                Some(app) => writeln!(f, "  {} (from App {app} only)", check.context)?,
                None => writeln!(f, "  {} (from any source)", check.context)?,
            }
        }
        Ok(())
    }
}

/// The branch's protection with Flotilla's gate added: every current setting kept,
/// `flotilla/verify` required from `app_id` (re-bound if it was required from elsewhere),
/// each extra check required from any source unless it is already required,
/// strictness as asked or as it was (off for an unprotected branch).
pub fn with_gate(
    current: Option<BranchProtection>,
    app_id: AppId,
    request: &ProtectRequest,
) -> BranchProtection {
    let mut protection = current.unwrap_or_default();
    let checks = &mut protection.required_checks;
    match checks.iter_mut().find(|c| c.context == VERIFY_CHECK) {
        Some(verify) => verify.app_id = Some(app_id),
        None => checks.push(RequiredCheck {
            context: VERIFY_CHECK.to_owned(),
            app_id: Some(app_id),
        }),
    }
    for context in &request.extra_checks {
        if !checks.iter().any(|c| &c.context == context) {
            checks.push(RequiredCheck {
                context: context.clone(),
                app_id: None,
            });
        }
    }
    if let Some(strict) = request.strict {
        protection.strict = strict;
    }
    protection
}

/// Finds the repository's installation, reads the branch's protection and writes it
/// back with the gate ([`with_gate`]). `app_id` must be the id `app` authenticates as.
pub async fn protect(
    app: &GithubApp,
    app_id: AppId,
    request: &ProtectRequest,
) -> Result<ProtectReport, ProtectError> {
    let repo = &request.repo;
    let installation = match app.installation_for_repo(repo).await {
        Ok(id) => id,
        Err(e) if e.is_not_found() => {
            return Err(ProtectError::NotInstalled { repo: repo.clone() });
        }
        Err(e) => return Err(e.into()),
    };
    let client = app.installation(installation).await?;
    let branch = match &request.branch {
        Some(branch) => branch.clone(),
        None => client.get_repository(repo).await?.default_branch,
    };
    let forbidden = |error: GithubError| match error {
        GithubError::Forbidden { message } => ProtectError::MissingPermission {
            repo: repo.clone(),
            branch: branch.clone(),
            message,
        },
        other => other.into(),
    };
    let current = client
        .get_branch_protection(repo, &branch)
        .await
        .map_err(forbidden)?;
    let was_protected = current.is_some();
    let protection = with_gate(current, app_id, request);
    client
        .put_branch_protection(repo, &branch, &protection)
        .await
        .map_err(forbidden)?;
    tracing::info!(%repo, %branch, "branch protection now requires {VERIFY_CHECK}");
    Ok(ProtectReport {
        repo: repo.clone(),
        branch,
        installation,
        was_protected,
        protection,
    })
}
