//! What the scenario API hands back for assertions: plain, serializable snapshots of
//! comments, pull requests, reviews and webhook deliveries (check runs are handed back
//! as the simulator holds them).

use serde::Serialize;

use crate::types::{CommitSha, Login, PrNumber};

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
