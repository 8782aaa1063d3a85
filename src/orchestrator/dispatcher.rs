//! Routes each typed event to its handler.
//!
//! One exhaustive `match`: adding an event variant without deciding what to do with it
//! does not compile. Events the fleet does not act on are recorded in the delivery's
//! span.

use super::Orchestrator;
use crate::types::{DeliveryId, RepoName};
use crate::webhook::event::{
    CheckSuiteAction, InstallationAction, IssuesAction, MergeGroupAction, StatusState, WebhookEvent,
};

impl Orchestrator {
    /// Hands one event to its handler. Runs inside the delivery's span (delivery id,
    /// event, repository, installation). Without a fleet, events are only logged.
    pub(super) async fn dispatch(
        &self,
        delivery: &DeliveryId,
        event: &WebhookEvent,
    ) -> anyhow::Result<()> {
        let fleet = self.fleet.as_deref();
        match event {
            WebhookEvent::Issues(e) => {
                tracing::info!(action = ?e.action, issue = %e.issue.number, "issues event");
                let Some(fleet) = fleet else { return Ok(()) };
                match &e.action {
                    IssuesAction::Labeled(Some(label)) => {
                        self.on_issue_labeled(fleet, delivery, e, &label.name)
                            .await?;
                    }
                    IssuesAction::Closed => {
                        self.on_issue_closed(fleet, &e.repository.full_name, e.issue.number)
                            .await?;
                    }
                    IssuesAction::Labeled(None)
                    | IssuesAction::Unlabeled(_)
                    | IssuesAction::Edited
                    | IssuesAction::Reopened => {}
                }
            }
            WebhookEvent::IssueComment(e) => {
                tracing::info!(action = ?e.action, issue = %e.issue.number, comment = e.comment.id, "issue comment");
                if let Some(fleet) = fleet {
                    self.on_comment(fleet, delivery, e).await?;
                }
            }
            WebhookEvent::PullRequest(e) => {
                tracing::info!(action = ?e.action, pr = %e.number, head = %e.pull_request.head.sha, "pull request event");
                if let Some(fleet) = fleet {
                    self.on_pull_request(fleet, e).await?;
                }
            }
            WebhookEvent::PullRequestReview(e) => {
                tracing::info!(action = ?e.action, pr = %e.pull_request.number, review = e.review.id, "pull request review");
                if fleet.is_some() {
                    self.on_review(delivery, e).await?;
                }
            }
            WebhookEvent::CheckSuite(e) => {
                tracing::info!(action = ?e.action, head = %e.check_suite.head_sha, "check suite event");
                if let Some(fleet) = fleet
                    && e.action == CheckSuiteAction::Completed
                    && e.check_suite.app.id != fleet.config.app_id
                {
                    self.try_land(&e.repository.full_name, &e.check_suite.head_sha, delivery)
                        .await?;
                }
            }
            WebhookEvent::CheckRun(e) => {
                tracing::info!(action = ?e.action, name = %e.check_run.name, head = %e.check_run.head_sha, "check run event");
                if let Some(fleet) = fleet {
                    self.on_check_run(fleet, delivery, e).await?;
                }
            }
            WebhookEvent::Status(e) => {
                tracing::info!(context = %e.context, state = ?e.state, sha = %e.sha, "commit status");
                if fleet.is_some() && e.state != StatusState::Pending {
                    self.try_land(&e.repository.full_name, &e.sha, delivery)
                        .await?;
                }
            }
            WebhookEvent::MergeGroup(e) => {
                tracing::info!(action = ?e.action, head = %e.merge_group.head_sha, head_ref = %e.merge_group.head_ref, "merge group event");
                if let Some(fleet) = fleet
                    && e.action == MergeGroupAction::ChecksRequested
                    && let Some(installation) = &e.installation
                {
                    self.on_merge_group(fleet, installation.id, e).await?;
                }
            }
            WebhookEvent::Installation(e) => {
                tracing::info!(action = ?e.action, account = %e.installation.account.login, "installation event");
                if let Some(fleet) = fleet
                    && e.action == InstallationAction::Deleted
                {
                    // GitHub may leave the list out: the store knows the rest.
                    let mut repos: Vec<RepoName> = e
                        .repositories
                        .iter()
                        .flatten()
                        .map(|r| r.full_name.clone())
                        .collect();
                    for repo in self.store.repos_of_installation(e.installation.id).await? {
                        if !repos.contains(&repo) {
                            repos.push(repo);
                        }
                    }
                    self.forget_repositories(fleet, &repos).await?;
                }
            }
            WebhookEvent::InstallationRepositories(e) => {
                tracing::info!(action = ?e.action, "installation repositories event");
                if let Some(fleet) = fleet {
                    let removed: Vec<RepoName> = e
                        .repositories_removed
                        .iter()
                        .map(|r| r.full_name.clone())
                        .collect();
                    self.forget_repositories(fleet, &removed).await?;
                }
            }
            WebhookEvent::Ping(e) => {
                tracing::info!(zen = %e.zen, "ping");
            }
        }
        Ok(())
    }
}
