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
        let handlers = self.handlers.as_ref();
        match event {
            WebhookEvent::Issues(e) => {
                tracing::info!(action = ?e.action, issue = %e.issue.number, "issues event");
                let Some(handlers) = handlers else {
                    return Ok(());
                };
                match &e.action {
                    IssuesAction::Labeled(Some(label)) => {
                        handlers.on_issue_labeled(delivery, e, &label.name).await?;
                    }
                    IssuesAction::Closed => {
                        handlers
                            .on_issue_closed(&e.repository.full_name, e.issue.number)
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
                if let Some(handlers) = handlers {
                    handlers.on_comment(delivery, e).await?;
                }
            }
            WebhookEvent::PullRequest(e) => {
                tracing::info!(action = ?e.action, pr = %e.number, head = %e.pull_request.head.sha, "pull request event");
                if let Some(handlers) = handlers {
                    handlers.on_pull_request(e).await?;
                }
            }
            WebhookEvent::PullRequestReview(e) => {
                tracing::info!(action = ?e.action, pr = %e.pull_request.number, review = e.review.id, "pull request review");
                if let Some(handlers) = handlers {
                    handlers.on_review(delivery, e).await?;
                }
            }
            WebhookEvent::CheckSuite(e) => {
                tracing::info!(action = ?e.action, head = %e.check_suite.head_sha, "check suite event");
                if let Some(handlers) = handlers
                    && e.action == CheckSuiteAction::Completed
                    && e.check_suite.app.id != handlers.fleet.config.app_id
                {
                    handlers
                        .try_land(&e.repository.full_name, &e.check_suite.head_sha, delivery)
                        .await?;
                }
            }
            WebhookEvent::CheckRun(e) => {
                tracing::info!(action = ?e.action, name = %e.check_run.name, head = %e.check_run.head_sha, "check run event");
                if let Some(handlers) = handlers {
                    handlers.on_check_run(delivery, e).await?;
                }
            }
            WebhookEvent::Status(e) => {
                tracing::info!(context = %e.context, state = ?e.state, sha = %e.sha, "commit status");
                if let Some(handlers) = handlers
                    && e.state != StatusState::Pending
                {
                    handlers
                        .try_land(&e.repository.full_name, &e.sha, delivery)
                        .await?;
                }
            }
            WebhookEvent::MergeGroup(e) => {
                tracing::info!(action = ?e.action, head = %e.merge_group.head_sha, head_ref = %e.merge_group.head_ref, "merge group event");
                if let Some(handlers) = handlers
                    && e.action == MergeGroupAction::ChecksRequested
                    && let Some(installation) = &e.installation
                {
                    handlers.on_merge_group(installation.id, e).await?;
                }
            }
            WebhookEvent::Installation(e) => {
                tracing::info!(action = ?e.action, account = %e.installation.account.login, "installation event");
                if let Some(handlers) = handlers
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
                    handlers.forget_repositories(&repos).await?;
                }
            }
            WebhookEvent::InstallationRepositories(e) => {
                tracing::info!(action = ?e.action, "installation repositories event");
                if let Some(handlers) = handlers {
                    let removed: Vec<RepoName> = e
                        .repositories_removed
                        .iter()
                        .map(|r| r.full_name.clone())
                        .collect();
                    handlers.forget_repositories(&removed).await?;
                }
            }
            WebhookEvent::Ping(e) => {
                tracing::info!(zen = %e.zen, "ping");
            }
        }
        Ok(())
    }
}
