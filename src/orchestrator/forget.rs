//! The App lost repositories (removed from an installation, or uninstalled): their live
//! runs stop and what Flotilla keeps of them on disk goes, so nothing of a repository
//! the App may no longer read stays on the machine or keeps running.

use super::FleetHandlers;
use crate::types::RepoName;
use crate::workspace;

impl FleetHandlers {
    /// Cancels the live runs of each of `repos` (their agents are stopped) and deletes
    /// its mirror and verification store; task worktrees go with the reaper.
    pub(super) async fn forget_repositories(&self, repos: &[RepoName]) -> anyhow::Result<()> {
        for repo in repos {
            for run in self.store.live_runs_of_repo(repo).await? {
                let cancelled = self.store.cancel_run(run).await?;
                tracing::info!(%repo, %run, tasks = cancelled.len(), "run cancelled: the App no longer has the repository");
            }
            workspace::forget_repository(&self.fleet.config.data_dir, repo).await?;
        }
        Ok(())
    }
}
