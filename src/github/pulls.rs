//! Pull requests: open a task's draft, read it back, review it, bring it up to date and
//! merge it behind a head-sha guard.

use serde::{Deserialize, Serialize};

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;
use super::split_repo;
use crate::types::{CommitSha, Login, PrNumber, RepoName};

/// A review's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReviewId(pub u64);

/// The parts of a pull request the orchestrator acts on.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "PullWire")]
pub struct PullRequest {
    /// Its number.
    pub number: PrNumber,
    /// GraphQL node id, needed for ready-for-review and auto-merge.
    pub node_id: String,
    /// Title.
    pub title: String,
    /// Body (empty when none).
    pub body: String,
    /// `open` or `closed`.
    pub open: bool,
    /// Still a draft.
    pub draft: bool,
    /// Already merged.
    pub merged: bool,
    /// GitHub's mergeability, `None` while it is still computing.
    pub mergeable: Option<bool>,
    /// Head branch name.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: CommitSha,
    /// Base branch name.
    pub base_ref: String,
    /// Who opened it.
    pub author: Login,
    /// Web link, for comments.
    pub html_url: String,
    /// Once merged, the commit the merge made on the base (merge, squash or rebase
    /// tip); before that GitHub's test merge commit, or `None`.
    pub merge_commit_sha: Option<CommitSha>,
}

/// A new pull request; Flotilla opens drafts.
#[derive(Clone, Debug, Serialize)]
pub struct NewPull {
    /// Title.
    pub title: String,
    /// Branch with the change (same repository).
    pub head: String,
    /// Branch to merge into.
    pub base: String,
    /// Description.
    pub body: String,
    /// Open as a draft.
    pub draft: bool,
}

/// Fields to change on a pull request; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullUpdate {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// What a review does. A PR's author (our App, for its own PRs) may only `Comment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewEvent {
    /// Approve.
    Approve,
    /// Request changes.
    RequestChanges,
    /// Comment only.
    Comment,
}

/// Which side of the diff a comment's line is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReviewSide {
    /// The new version (added or context lines).
    Right,
    /// The old version (removed lines).
    Left,
}

/// An inline comment; its line must be inside the diff's hunks or GitHub answers 422.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewComment {
    /// File path in the repository.
    pub path: String,
    /// Line number on `side`.
    pub line: u32,
    /// Diff side.
    pub side: ReviewSide,
    /// Markdown body.
    pub body: String,
}

/// A review with inline comments (octocrab's own review type cannot carry them).
#[derive(Clone, Debug, Serialize)]
pub struct NewReview {
    /// The head the review is about; a stale sha makes GitHub place comments on it.
    pub commit_id: CommitSha,
    /// Summary.
    pub body: String,
    /// What the review does.
    pub event: ReviewEvent,
    /// Inline comments.
    pub comments: Vec<ReviewComment>,
}

/// A review someone posted on a pull request: how Flotilla finds its own findings and
/// the humans' verdicts on a head.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "ReviewWire")]
pub struct Review {
    /// Its id.
    pub id: ReviewId,
    /// Summary (empty when none).
    pub body: String,
    /// The head it was about; GitHub documents `null` for some old reviews.
    pub commit_id: Option<CommitSha>,
    /// Who posted it.
    pub author: Login,
    /// Whether the author is a person (account `type` `User`), not a bot or an App:
    /// only a person's approval counts as the human approval a config asks for.
    pub author_is_person: bool,
    /// GitHub's state: `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or
    /// `PENDING`; kept as text, as GitHub may add more.
    pub state: String,
}

/// How to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// A merge commit.
    Merge,
    /// One squashed commit.
    Squash,
    /// Rebased commits.
    Rebase,
}

/// The answer to a merge that GitHub accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Merged; `sha` is the resulting commit on the base branch.
    Merged {
        /// The merge (or squash/rebase) commit.
        sha: CommitSha,
    },
    /// GitHub answered 200 but did not merge.
    NotMerged {
        /// GitHub's message.
        message: String,
    },
}

#[derive(Deserialize)]
struct UserWire {
    login: Login,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RefWire {
    #[serde(rename = "ref")]
    name: String,
    sha: CommitSha,
}

#[derive(Deserialize)]
struct PullWire {
    number: PrNumber,
    node_id: String,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    mergeable: Option<bool>,
    head: RefWire,
    base: RefWire,
    user: UserWire,
    html_url: String,
    merge_commit_sha: Option<CommitSha>,
}

impl From<PullWire> for PullRequest {
    fn from(wire: PullWire) -> Self {
        Self {
            number: wire.number,
            node_id: wire.node_id,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            open: wire.state == "open",
            draft: wire.draft,
            merged: wire.merged,
            mergeable: wire.mergeable,
            head_ref: wire.head.name,
            head_sha: wire.head.sha,
            base_ref: wire.base.name,
            author: wire.user.login,
            html_url: wire.html_url,
            merge_commit_sha: wire.merge_commit_sha,
        }
    }
}

#[derive(Deserialize)]
struct IdWire {
    id: ReviewId,
}

#[derive(Deserialize)]
struct ReviewWire {
    id: ReviewId,
    body: Option<String>,
    commit_id: Option<CommitSha>,
    user: Option<UserWire>,
    state: String,
}

impl From<ReviewWire> for Review {
    fn from(wire: ReviewWire) -> Self {
        Self {
            id: wire.id,
            body: wire.body.unwrap_or_default(),
            commit_id: wire.commit_id,
            // A deleted account shows as `null`; GitHub shows such content as `ghost`'s.
            author_is_person: wire
                .user
                .as_ref()
                .is_some_and(|u| u.kind.as_deref() == Some("User")),
            author: wire.user.map_or_else(|| Login::from("ghost"), |u| u.login),
            state: wire.state,
        }
    }
}

#[derive(Serialize)]
struct MergeBody<'a> {
    sha: &'a CommitSha,
    merge_method: MergeMethod,
}

#[derive(Deserialize)]
struct MergeWire {
    merged: bool,
    sha: Option<CommitSha>,
    #[serde(default)]
    message: String,
}

#[derive(Serialize)]
struct UpdateBranchBody<'a> {
    expected_head_sha: &'a CommitSha,
}

impl InstallationClient {
    /// Opens a pull request. Not retried on 5xx: a retry could open it twice; look it
    /// up with [`InstallationClient::list_pulls_by_head`] before trying again.
    pub async fn create_pull(
        &self,
        repo: &RepoName,
        pull: &NewPull,
    ) -> Result<PullRequest, GithubError> {
        let request = ApiRequest::on_repo(Route::CreatePull, repo, &[])?.json(pull)?;
        self.send(request).await?.json()
    }

    /// Changes a PR's title or body.
    pub async fn update_pull(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        update: &PullUpdate,
    ) -> Result<PullRequest, GithubError> {
        let request =
            ApiRequest::on_repo(Route::UpdatePull, repo, &[&pr.to_string()])?.json(update)?;
        self.send(request).await?.json()
    }

    /// Reads a PR, to act on its current head rather than a webhook's.
    pub async fn get_pull(
        &self,
        repo: &RepoName,
        pr: PrNumber,
    ) -> Result<PullRequest, GithubError> {
        let request = ApiRequest::on_repo(Route::GetPull, repo, &[&pr.to_string()])?;
        self.send(request).await?.json()
    }

    /// PRs (open or closed) whose head is `branch` in this repository: finds the PR a
    /// task already opened, so a retried job does not open a second one.
    pub async fn list_pulls_by_head(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        let (owner, _) = split_repo(repo)?;
        let head = format!("{owner}:{branch}");
        let request = ApiRequest::on_repo(Route::ListPulls, repo, &[])?.query(&[
            ("head", &head),
            ("state", "all"),
            ("per_page", "100"),
        ]);
        self.get_all(request).await
    }

    /// Posts a review with inline comments.
    pub async fn create_review(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        review: &NewReview,
    ) -> Result<ReviewId, GithubError> {
        let request =
            ApiRequest::on_repo(Route::CreateReview, repo, &[&pr.to_string()])?.json(review)?;
        Ok(self.send(request).await?.json::<IdWire>()?.id)
    }

    /// Every review on a PR, oldest first (all pages).
    pub async fn list_reviews(
        &self,
        repo: &RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Review>, GithubError> {
        let request = ApiRequest::on_repo(Route::ListReviews, repo, &[&pr.to_string()])?
            .query(&[("per_page", "100")]);
        self.get_all(request).await
    }

    /// Merges only if the head is still `expected_head`. 409 (head moved) is
    /// [`GithubError::Conflict`], 405 [`GithubError::NotMergeable`], 422
    /// [`GithubError::Validation`].
    pub async fn merge_pull(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        expected_head: &CommitSha,
        method: MergeMethod,
    ) -> Result<MergeOutcome, GithubError> {
        let request =
            ApiRequest::on_repo(Route::MergePull, repo, &[&pr.to_string()])?.json(&MergeBody {
                sha: expected_head,
                merge_method: method,
            })?;
        let wire: MergeWire = self.send(request).await?.json()?;
        Ok(match (wire.merged, wire.sha) {
            (true, Some(sha)) => MergeOutcome::Merged { sha },
            _ => MergeOutcome::NotMerged {
                message: wire.message,
            },
        })
    }

    /// Asks GitHub to merge the base into the PR's branch (asynchronous: 202). A head
    /// that moved meanwhile is [`GithubError::Validation`].
    pub async fn update_pull_branch(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        expected_head: &CommitSha,
    ) -> Result<(), GithubError> {
        let request = ApiRequest::on_repo(Route::UpdatePullBranch, repo, &[&pr.to_string()])?
            .json(&UpdateBranchBody {
                expected_head_sha: expected_head,
            })?;
        self.send(request).await.map(drop)
    }
}
