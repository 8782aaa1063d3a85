//! What a viewer may do on a repository, asked of GitHub with the viewer's own token
//! (so GitHub, not Flotilla, decides) and remembered briefly per (login, repository).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::github::Permission;
use crate::types::RepoName;

/// What the dashboard lets a viewer do on one repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Cannot see the repository: its runs are hidden.
    None,
    /// May look at runs, attempts and transcripts.
    Read,
    /// May also act (retry, cancel, …): the same people slash commands obey.
    Write,
}

impl From<Permission> for Access {
    fn from(permission: Permission) -> Self {
        if permission.can_command() {
            Self::Write
        } else if permission == Permission::None {
            Self::None
        } else {
            Self::Read
        }
    }
}

/// The `permissions` object GitHub puts on a repository read with a user's token.
#[derive(Debug, Default, Deserialize)]
struct RepoPermissions {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    maintain: bool,
    #[serde(default)]
    push: bool,
    #[serde(default)]
    triage: bool,
    #[serde(default)]
    pull: bool,
}

impl RepoPermissions {
    fn level(&self) -> Permission {
        if self.admin {
            Permission::Admin
        } else if self.maintain || self.push {
            Permission::Write
        } else if self.triage || self.pull {
            Permission::Read
        } else {
            Permission::None
        }
    }
}

#[derive(Debug, Deserialize)]
struct RepoBody {
    #[serde(default)]
    permissions: Option<RepoPermissions>,
}

/// Answers already fetched, keyed by (login, repository).
#[derive(Debug)]
pub(super) struct AccessCache {
    ttl: Duration,
    answers: Mutex<HashMap<(String, RepoName), (Access, Instant)>>,
}

impl AccessCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            answers: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, login: &str, repo: &RepoName) -> Option<Access> {
        let answers = self.answers.lock().expect("access cache lock");
        answers
            .get(&(login.to_owned(), repo.clone()))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(access, _)| *access)
    }

    fn put(&self, login: &str, repo: &RepoName, access: Access) {
        let mut answers = self.answers.lock().expect("access cache lock");
        answers.retain(|_, (_, at)| at.elapsed() < self.ttl);
        answers.insert((login.to_owned(), repo.clone()), (access, Instant::now()));
    }

    /// The viewer's access, from the cache or from `GET /repos/{owner}/{repo}`.
    pub async fn lookup(
        &self,
        http: &reqwest::Client,
        api_base: &str,
        login: &str,
        token: &SecretString,
        repo: &RepoName,
    ) -> anyhow::Result<Access> {
        if let Some(access) = self.get(login, repo) {
            return Ok(access);
        }
        let url = format!("{}/repos/{}", api_base.trim_end_matches('/'), repo);
        let response = http
            .get(&url)
            .bearer_auth(token.expose_secret())
            .header("accept", "application/vnd.github+json")
            .send()
            .await
            .with_context(|| format!("asking GitHub for {login}'s access to {repo}"))?;
        let access = match response.status() {
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Access::None,
            status if status.is_success() => {
                let body: RepoBody = response
                    .json()
                    .await
                    .with_context(|| format!("reading {repo} as {login}"))?;
                Access::from(body.permissions.unwrap_or_default().level())
            }
            status => anyhow::bail!("GitHub answered {status} to {login}'s read of {repo}"),
        };
        self.put(login, repo, access);
        Ok(access)
    }
}
