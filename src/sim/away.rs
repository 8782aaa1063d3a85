//! Scenario controls for what happens while Flotilla may not be listening: a person
//! closes a pull request or deletes a branch, and the App's webhook is switched off
//! and on (GitHub's "Active" box), so an event can be lost for good.

use anyhow::Context;

use crate::types::{AppId, Login, PrNumber, RepoName};

use super::routes::issues;
use super::scenario::api;
use super::{SimHandle, git};

impl SimHandle {
    /// `by` closes a pull request without merging it, from the web UI.
    pub async fn close_pr(&self, repo: &RepoName, pr: PrNumber, by: &Login) -> anyhow::Result<()> {
        issues::update_issue(self, repo, pr.0, serde_json::json!({"state": "closed"}), by)
            .await
            .map_err(api)
    }

    /// `by` deletes a branch (the "Delete branch" button, or `git push --delete`);
    /// as on GitHub, the open pull requests whose head it was are closed.
    pub async fn delete_branch(
        &self,
        repo: &RepoName,
        branch: &str,
        by: &Login,
    ) -> anyhow::Result<()> {
        let bare = self.repo_path(repo);
        {
            let _guard = self.0.git_lock.lock().await;
            let old = git::branch_sha(&bare, branch)
                .await
                .with_context(|| format!("no branch {branch}"))?;
            let full = format!("refs/heads/{branch}");
            git::run(&bare, &["update-ref", "-d", &full, &old], &[]).await?;
        }
        for pull in self.pulls(repo) {
            if pull.state == "open" && pull.head_ref == branch {
                self.close_pr(repo, pull.number, by).await?;
            }
        }
        Ok(())
    }

    /// Ticks or unticks the App's webhook "Active" box: while inactive, events are
    /// neither sent nor listed among the App's deliveries.
    pub fn set_webhook_active(&self, app: AppId, active: bool) -> anyhow::Result<()> {
        let mut world = self.world();
        let app = world.apps.get_mut(&app).context("no such App")?;
        app.webhook
            .as_mut()
            .context("the App has no webhook")?
            .active = active;
        Ok(())
    }
}
