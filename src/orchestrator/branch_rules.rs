//! The checks a base branch requires, as far as the App can read them: its rulesets
//! (`GET …/rules/branches/{branch}`, readable with `metadata: read`) and its classic
//! protection where `administration: read` was granted. Read once per branch and reused
//! for `pacing.branch_rules_ttl` by every landing in this process, instead of two reads
//! per landing.
//!
//! Reuse is safe because GitHub enforces a branch's rules on every merge whatever
//! Flotilla read: a rule added meanwhile makes GitHub refuse a merge Flotilla tried (an
//! outcome `land` handles), and auto-merge is only ever enabled for the verified head.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::github::{GithubError, InstallationClient, RequiredCheck};
use crate::types::RepoName;

/// A repository and one of its branches.
type Branch = (RepoName, String);

/// When a branch's required checks were read, and what they were.
type Read = (Instant, Vec<RequiredCheck>);

/// What this process last read of each branch's required checks, and when.
#[derive(Debug, Default)]
pub(crate) struct BranchRules {
    read: Mutex<HashMap<Branch, Read>>,
}

impl BranchRules {
    /// The required checks of `branch`, read from GitHub unless read within `ttl`.
    pub(crate) async fn required_checks(
        &self,
        client: &InstallationClient,
        repo: &RepoName,
        branch: &str,
        ttl: Duration,
    ) -> anyhow::Result<Vec<RequiredCheck>> {
        let key = (repo.clone(), branch.to_owned());
        if let Some((at, checks)) = self.cache().get(&key)
            && at.elapsed() < ttl
        {
            return Ok(checks.clone());
        }
        let checks = read(client, repo, branch).await?;
        self.cache().insert(key, (Instant::now(), checks.clone()));
        Ok(checks)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Branch, Read>> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the rulesets' and (where readable) classic protection's required checks.
async fn read(
    client: &InstallationClient,
    repo: &RepoName,
    branch: &str,
) -> anyhow::Result<Vec<RequiredCheck>> {
    let mut found: Vec<RequiredCheck> = match client.get_branch_rules(repo, branch).await {
        Ok(rules) => rules.required_checks,
        Err(GithubError::Forbidden { message }) | Err(GithubError::NotFound { message }) => {
            tracing::warn!(%message, "cannot read the branch's rulesets");
            Vec::new()
        }
        Err(error) => return Err(error.into()),
    };
    match client.get_branch_protection(repo, branch).await {
        Ok(protection) => {
            found.extend(protection.into_iter().flat_map(|p| p.required_checks));
        }
        Err(GithubError::Forbidden { message }) => {
            tracing::info!(%message, "classic branch protection is not readable by the App");
        }
        Err(error) => return Err(error.into()),
    }
    Ok(found)
}
