//! What the scenario API hands back for assertions: plain, serializable snapshots of
//! comments, pull requests, check runs, reviews and webhook deliveries.

use serde::Serialize;

use crate::types::{AppId, CommitSha, Login, PrNumber};

/// A conversation comment, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct CommentView {
    /// Comment id.
    pub id: u64,
    /// Author.
    pub user: Login,
    /// Body.
    pub body: String,
}

/// A pull request, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct PullRequestView {
    /// Number.
    pub number: PrNumber,
    /// Title.
    pub title: String,
    /// Author.
    pub user: Login,
    /// `open` or `closed`.
    pub state: String,
    /// Draft?
    pub draft: bool,
    /// Merged?
    pub merged: bool,
    /// Head branch.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: CommitSha,
    /// Base branch.
    pub base_ref: String,
    /// Whether auto-merge is enabled.
    pub auto_merge: bool,
    /// Merge commit once merged.
    pub merge_commit_sha: Option<CommitSha>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A check run, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRunView {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// App that created it.
    pub app_id: AppId,
    /// Commit.
    pub head_sha: CommitSha,
    /// Status.
    pub status: String,
    /// Conclusion.
    pub conclusion: Option<String>,
    /// Output title.
    pub title: Option<String>,
    /// Output summary.
    pub summary: Option<String>,
    /// Output details.
    pub text: Option<String>,
    /// Annotations received.
    pub annotations: usize,
    /// Where its "Details" link points.
    pub details_url: Option<String>,
}

/// A review and its inline comments, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewView {
    /// Id.
    pub id: u64,
    /// Reviewer.
    pub user: Login,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`.
    pub state: String,
    /// Body.
    pub body: String,
    /// (path, line, body) of each inline comment.
    pub comments: Vec<(String, u64, String)>,
}

/// A webhook delivery attempt, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryView {
    /// Attempt id.
    pub id: u64,
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// Event name.
    pub event: String,
    /// Action.
    pub action: Option<String>,
    /// Receiver's status code (0 when unreachable).
    pub status_code: u16,
    /// 2xx?
    pub success: bool,
    /// Redelivery?
    pub redelivery: bool,
    /// Payload sent.
    pub payload: serde_json::Value,
}
