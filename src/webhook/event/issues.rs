//! `issues` and `issue_comment`: the trigger label and the `/flotilla` commands.

use serde::Deserialize;

use super::{Account, EventParseError, InstallationRef, Label, Repository, Sender, present, typed};
use crate::types::IssueNumber;
pub use crate::types::IssueState;

/// An `issues` delivery: labelling an issue starts a run; edits, closing and
/// reopening change what Flotilla should do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuesEvent {
    /// What happened to the issue.
    pub action: IssuesAction,
    /// The issue as it is after the action.
    pub issue: Issue,
    /// Where the issue lives.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `issues` actions Flotilla handles, with the data each carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuesAction {
    /// A label was added; `None` when GitHub omits `label` (the schema allows it).
    Labeled(Option<Label>),
    /// A label was removed; same caveat as `Labeled`.
    Unlabeled(Option<Label>),
    /// Title or body changed: the plan may need to be redone.
    Edited,
    /// The issue was closed: its run is cancelled.
    Closed,
    /// The issue was reopened.
    Reopened,
}

/// The parts of an issue Flotilla reads to plan and to report.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Issue {
    /// The issue's number.
    pub number: IssueNumber,
    /// Its title, used in task and PR titles.
    pub title: String,
    /// Its Markdown body (the task description); `null` when empty.
    pub body: Option<String>,
    /// Open or closed.
    pub state: IssueState,
    /// Its labels, to check the trigger label is (still) there.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// The issue's author.
    pub user: Account,
    /// Whether this "issue" is a pull request's conversation (GitHub sends
    /// `issue_comment` for both): set when the payload has `issue.pull_request`.
    #[serde(default, rename = "pull_request", deserialize_with = "present")]
    pub is_pull_request: bool,
}

/// An `issue_comment` delivery: where `/flotilla` commands arrive.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IssueCommentEvent {
    /// What happened to the comment.
    pub action: IssueCommentAction,
    /// The comment.
    pub comment: Comment,
    /// The issue or pull request it was posted on.
    pub issue: Issue,
    /// Where the issue lives.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `issue_comment` actions Flotilla handles (a command may be edited in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCommentAction {
    /// A new comment.
    Created,
    /// An existing comment's body changed.
    Edited,
}

/// A comment on an issue or PR conversation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Comment {
    /// The comment's id, to react to or quote it.
    pub id: u64,
    /// Its Markdown body, where a command is parsed from.
    pub body: String,
    /// Its author, whose type tells Flotilla's own comments apart.
    pub user: Sender,
}

/// The `issues` actions Flotilla handles, before their data is read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum IssuesKind {
    Labeled,
    Unlabeled,
    Edited,
    Closed,
    Reopened,
}

/// The wire shape of an `issues` delivery.
#[derive(Deserialize)]
struct IssuesWire {
    issue: Issue,
    repository: Repository,
    sender: Sender,
    installation: Option<InstallationRef>,
    label: Option<Label>,
}

/// Types an `issues` delivery; `Ok(None)` for an action Flotilla does not handle.
pub(super) fn parse_issues(
    action: &str,
    body: &[u8],
) -> Result<Option<IssuesEvent>, EventParseError> {
    typed(action, body, |kind, wire: IssuesWire| IssuesEvent {
        action: match kind {
            IssuesKind::Labeled => IssuesAction::Labeled(wire.label),
            IssuesKind::Unlabeled => IssuesAction::Unlabeled(wire.label),
            IssuesKind::Edited => IssuesAction::Edited,
            IssuesKind::Closed => IssuesAction::Closed,
            IssuesKind::Reopened => IssuesAction::Reopened,
        },
        issue: wire.issue,
        repository: wire.repository,
        sender: wire.sender,
        installation: wire.installation,
    })
}
