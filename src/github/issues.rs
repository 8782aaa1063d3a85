//! Issues, their comments and labels: how Flotilla reads a request and answers on it.
//!
//! Pull requests are issues for these routes: pass `IssueNumber(pr.0)` to comment on one.

use serde::{Deserialize, Serialize};

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;
pub use crate::types::IssueState;
use crate::types::{IssueNumber, Login, RepoName};

/// An issue comment's id, to edit a status comment in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentId(pub u64);

/// The parts of an issue Flotilla plans from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// The issue number.
    pub number: IssueNumber,
    /// Title.
    pub title: String,
    /// Body (empty when GitHub has none).
    pub body: String,
    /// Open or closed.
    pub state: IssueState,
    /// Label names.
    pub labels: Vec<String>,
    /// Who opened it.
    pub author: Login,
    /// True when this "issue" is a pull request.
    pub is_pull_request: bool,
}

/// A comment on an issue or a pull request's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "CommentWire")]
pub struct IssueComment {
    /// Its id.
    pub id: CommentId,
    /// Markdown body.
    pub body: String,
    /// Who wrote it.
    pub author: Login,
}

#[derive(Deserialize)]
struct UserWire {
    login: Login,
}

#[derive(Deserialize)]
struct LabelWire {
    name: String,
}

#[derive(Deserialize)]
struct IssueWire {
    number: IssueNumber,
    title: String,
    body: Option<String>,
    state: IssueState,
    #[serde(default)]
    labels: Vec<LabelWire>,
    user: UserWire,
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CommentWire {
    id: CommentId,
    body: Option<String>,
    user: UserWire,
}

impl From<CommentWire> for IssueComment {
    fn from(wire: CommentWire) -> Self {
        Self {
            id: wire.id,
            body: wire.body.unwrap_or_default(),
            author: wire.user.login,
        }
    }
}

#[derive(Serialize)]
struct BodyOnly<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct Labels<'a> {
    labels: &'a [&'a str],
}

#[derive(Serialize)]
struct StateOnly {
    state: IssueState,
}

impl InstallationClient {
    /// Reads an issue, to plan from its current text rather than a webhook's copy.
    pub async fn get_issue(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> Result<Issue, GithubError> {
        let request = ApiRequest::on_repo(Route::GetIssue, repo, &[&issue.to_string()])?;
        let wire: IssueWire = self.send(request).await?.json()?;
        Ok(Issue {
            number: wire.number,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            state: wire.state,
            labels: wire.labels.into_iter().map(|l| l.name).collect(),
            author: wire.user.login,
            is_pull_request: wire.pull_request.is_some(),
        })
    }

    /// Every comment on an issue, oldest first (all pages), to find our own.
    pub async fn list_issue_comments(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let request = ApiRequest::on_repo(Route::ListIssueComments, repo, &[&issue.to_string()])?
            .query(&[("per_page", "100")]);
        self.get_all(request).await
    }

    /// Posts a comment. Not retried on 5xx: a retry could post it twice.
    pub async fn create_issue_comment(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        self.write_comment(Route::CreateIssueComment, repo, &issue.to_string(), body)
            .await
    }

    /// Rewrites a comment, to keep one status comment current instead of posting many.
    pub async fn update_issue_comment(
        &self,
        repo: &RepoName,
        comment: CommentId,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        self.write_comment(
            Route::UpdateIssueComment,
            repo,
            &comment.0.to_string(),
            body,
        )
        .await
    }

    /// Sends `body` as a comment's text to `route` (creating on an issue, or rewriting
    /// a comment, by the one path parameter) and reads the comment GitHub answers with.
    async fn write_comment(
        &self,
        route: Route,
        repo: &RepoName,
        on: &str,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let request = ApiRequest::on_repo(route, repo, &[on])?.json(&BodyOnly { body })?;
        self.send(request).await?.json()
    }

    /// Adds labels (GitHub creates unknown ones).
    pub async fn add_labels(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        labels: &[&str],
    ) -> Result<(), GithubError> {
        let request = ApiRequest::on_repo(Route::AddLabels, repo, &[&issue.to_string()])?
            .json(&Labels { labels })?;
        self.send(request).await.map(drop)
    }

    /// Removes a label; a label that is already gone is not an error.
    pub async fn remove_label(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        label: &str,
    ) -> Result<(), GithubError> {
        let request = ApiRequest::on_repo(Route::RemoveLabel, repo, &[&issue.to_string(), label])?;
        self.send_if_found(request).await.map(drop)
    }

    /// Closes an issue once every task has landed.
    pub async fn close_issue(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> Result<(), GithubError> {
        let request = ApiRequest::on_repo(Route::UpdateIssue, repo, &[&issue.to_string()])?.json(
            &StateOnly {
                state: IssueState::Closed,
            },
        )?;
        self.send(request).await.map(drop)
    }
}
