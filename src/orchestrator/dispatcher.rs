//! Routes each typed event to its handler.
//!
//! One exhaustive `match`: adding an event variant without deciding what to do with it
//! does not compile. For now every handler records the event in the delivery's span;
//! the fleet (planning, workers, verification) hangs its handlers here.

use crate::webhook::event::WebhookEvent;

/// Hands one event to its handler. Runs inside the delivery's span (delivery id, event,
/// repository, installation).
pub async fn dispatch(event: &WebhookEvent) -> anyhow::Result<()> {
    match event {
        WebhookEvent::Issues(e) => {
            tracing::info!(action = ?e.action, issue = %e.issue.number, "issues event");
        }
        WebhookEvent::IssueComment(e) => {
            tracing::info!(action = ?e.action, issue = %e.issue.number, comment = e.comment.id, "issue comment");
        }
        WebhookEvent::PullRequest(e) => {
            tracing::info!(action = ?e.action, pr = %e.number, head = %e.pull_request.head.sha, "pull request event");
        }
        WebhookEvent::PullRequestReview(e) => {
            tracing::info!(action = ?e.action, pr = %e.pull_request.number, review = e.review.id, "pull request review");
        }
        WebhookEvent::CheckSuite(e) => {
            tracing::info!(action = ?e.action, head = %e.check_suite.head_sha, "check suite event");
        }
        WebhookEvent::CheckRun(e) => {
            tracing::info!(action = ?e.action, name = %e.check_run.name, head = %e.check_run.head_sha, "check run event");
        }
        WebhookEvent::Status(e) => {
            tracing::info!(context = %e.context, state = ?e.state, sha = %e.sha, "commit status");
        }
        WebhookEvent::Installation(e) => {
            tracing::info!(action = ?e.action, account = %e.installation.account.login, "installation event");
        }
        WebhookEvent::InstallationRepositories(e) => {
            tracing::info!(action = ?e.action, "installation repositories event");
        }
        WebhookEvent::Ping(e) => {
            tracing::info!(zen = %e.zen, "ping");
        }
    }
    Ok(())
}
