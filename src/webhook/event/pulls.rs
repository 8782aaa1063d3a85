//! `pull_request` and `pull_request_review`: the lifecycle of the PRs Flotilla opens.

use serde::Deserialize;

use super::{Account, EventParseError, InstallationRef, Repository, Sender, typed};
use crate::types::{CommitSha, PrNumber};

/// A `pull_request` delivery: a task's PR moved (new head, closed, merged, drafted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// What happened to the pull request.
    pub action: PullRequestAction,
    /// The pull request's number (also in `pull_request.number`).
    pub number: PrNumber,
    /// The pull request as it is after the action.
    pub pull_request: PullRequest,
    /// The base repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `pull_request` actions Flotilla handles, with the data each carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullRequestAction {
    /// A PR was opened.
    Opened,
    /// The head branch moved: verdicts on the old head no longer count.
    Synchronize,
    /// A closed PR was reopened.
    Reopened,
    /// Closed, merged or not (`pull_request.merged` tells which).
    Closed,
    /// Draft → ready.
    ReadyForReview,
    /// Ready → draft.
    ConvertedToDraft,
    /// Auto-merge was turned on.
    AutoMergeEnabled,
    /// Auto-merge was turned off, by a person or by GitHub (e.g. after a push).
    AutoMergeDisabled {
        /// GitHub's explanation, when it gives one.
        reason: Option<String>,
    },
}

/// The parts of a pull request Flotilla needs to track, verify and land it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    /// The PR's number.
    pub number: PrNumber,
    /// GraphQL id: ready-for-review and auto-merge exist only in GraphQL.
    pub node_id: String,
    /// Open or closed.
    pub state: PrState,
    /// Whether it is a draft; absent in some payloads, which means not a draft.
    #[serde(default)]
    pub draft: bool,
    /// Whether it was merged; absent from the PR summary in review events.
    pub merged: Option<bool>,
    /// The merge commit of a merged pull request, so recording the merge needs no read.
    #[serde(default)]
    pub merge_commit_sha: Option<CommitSha>,
    /// The task branch and its current head.
    pub head: GitRef,
    /// The branch it merges into.
    pub base: GitRef,
    /// The PR's author (Flotilla's bot for task PRs).
    pub user: Account,
    /// Whether auto-merge was on when the event was sent, so a handler that only needs
    /// to know it is off does not ask GitHub again.
    #[serde(default, deserialize_with = "auto_merge_state")]
    pub auto_merge: AutoMergeState,
}

/// What a payload says of a pull request's auto-merge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoMergeState {
    /// The payload has no `auto_merge` field (a review event's pull request summary).
    #[default]
    Unknown,
    /// `auto_merge: null`.
    Off,
    /// An `auto_merge` request is set.
    On,
}

/// `auto_merge` present: `null` is off, an object is on (an absent field stays
/// [`AutoMergeState::Unknown`] through `default`).
fn auto_merge_state<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<AutoMergeState, D::Error> {
    Ok(
        match Option::<serde::de::IgnoredAny>::deserialize(deserializer)? {
            Some(_) => AutoMergeState::On,
            None => AutoMergeState::Off,
        },
    )
}

/// A pull request's `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open (draft or not).
    Open,
    /// Closed, merged or not.
    Closed,
    /// A state GitHub adds later.
    #[serde(other)]
    Unknown,
}

/// One side of a pull request: a branch and the commit it points at.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct GitRef {
    /// The branch name, without `refs/heads/`.
    #[serde(rename = "ref")]
    pub branch: String,
    /// The commit the branch pointed at when the event was sent.
    pub sha: CommitSha,
}

/// A `pull_request_review` delivery: a human review that may gate a merge.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PullRequestReviewEvent {
    /// What happened to the review.
    pub action: PullRequestReviewAction,
    /// The review.
    pub review: Review,
    /// The reviewed pull request.
    pub pull_request: PullRequest,
    /// The base repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `pull_request_review` actions Flotilla handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestReviewAction {
    /// A review was submitted.
    Submitted,
    /// A review was dismissed.
    Dismissed,
}

/// The parts of a review Flotilla reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Review {
    /// The review's id.
    pub id: u64,
    /// Its verdict.
    pub state: ReviewState,
    /// The head it reviewed: a review of an older head does not count.
    pub commit_id: CommitSha,
    /// The reviewer.
    pub user: Account,
    /// The review's summary text; `null` when empty.
    pub body: Option<String>,
}

/// A review's `state` as webhooks spell it (lower case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Comment only.
    Commented,
    /// Dismissed.
    Dismissed,
    /// A state GitHub adds later.
    #[serde(other)]
    Unknown,
}

/// The `pull_request` actions Flotilla handles, before their data is read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PullRequestKind {
    Opened,
    Synchronize,
    Reopened,
    Closed,
    ReadyForReview,
    ConvertedToDraft,
    AutoMergeEnabled,
    AutoMergeDisabled,
}

/// The wire shape of a `pull_request` delivery.
#[derive(Deserialize)]
struct PullRequestWire {
    number: PrNumber,
    pull_request: PullRequest,
    repository: Repository,
    sender: Sender,
    installation: Option<InstallationRef>,
    reason: Option<String>,
}

/// Types a `pull_request` delivery; `Ok(None)` for an unhandled action.
pub(super) fn parse_pull_request(
    action: &str,
    body: &[u8],
) -> Result<Option<PullRequestEvent>, EventParseError> {
    typed(action, body, |kind, wire: PullRequestWire| {
        PullRequestEvent {
            action: match kind {
                PullRequestKind::Opened => PullRequestAction::Opened,
                PullRequestKind::Synchronize => PullRequestAction::Synchronize,
                PullRequestKind::Reopened => PullRequestAction::Reopened,
                PullRequestKind::Closed => PullRequestAction::Closed,
                PullRequestKind::ReadyForReview => PullRequestAction::ReadyForReview,
                PullRequestKind::ConvertedToDraft => PullRequestAction::ConvertedToDraft,
                PullRequestKind::AutoMergeEnabled => PullRequestAction::AutoMergeEnabled,
                PullRequestKind::AutoMergeDisabled => PullRequestAction::AutoMergeDisabled {
                    reason: wire.reason,
                },
            },
            number: wire.number,
            pull_request: wire.pull_request,
            repository: wire.repository,
            sender: wire.sender,
            installation: wire.installation,
        }
    })
}
