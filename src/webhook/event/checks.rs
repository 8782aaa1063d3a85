//! `check_suite`, `check_run` and `status`: requests to verify a head, and CI results.

use serde::Deserialize;

use super::{AppRef, EventParseError, InstallationRef, PrRef, Repository, Sender, typed};
use crate::types::CommitSha;
pub use crate::types::{CheckConclusion, CheckStatus};

/// A `check_suite` delivery: a push asks the App to verify a head, or a suite finished.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckSuiteEvent {
    /// What happened to the suite.
    pub action: CheckSuiteAction,
    /// The suite.
    pub check_suite: CheckSuite,
    /// The repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `check_suite` actions Flotilla handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSuiteAction {
    /// New commits were pushed: create `flotilla/verify` for the head.
    Requested,
    /// Someone asked to re-run the whole suite.
    Rerequested,
    /// Every run in the suite finished.
    Completed,
}

/// The parts of a check suite Flotilla reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckSuite {
    /// The suite's id.
    pub id: u64,
    /// The commit the suite checks.
    pub head_sha: CommitSha,
    /// The branch, `null` for pushes that are on no branch (e.g. from forks).
    pub head_branch: Option<String>,
    /// Progress; GitHub documents `null` too.
    pub status: Option<CheckStatus>,
    /// The result once completed.
    pub conclusion: Option<CheckConclusion>,
    /// The App owning the suite: Flotilla ignores other Apps' suites.
    pub app: AppRef,
    /// Open PRs whose head is `head_sha` (empty for forks).
    #[serde(default)]
    pub pull_requests: Vec<PrRef>,
}

/// A `check_run` delivery: a re-run or button click on Flotilla's check, or another
/// check (the repository's CI) that finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRunEvent {
    /// What happened to the run, with the data the action carries.
    pub action: CheckRunAction,
    /// The run.
    pub check_run: CheckRun,
    /// The repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// The `check_run` actions Flotilla handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckRunAction {
    /// A run was created.
    Created,
    /// A run finished.
    Completed,
    /// Someone clicked "Re-run" on it.
    Rerequested,
    /// Someone clicked one of the run's action buttons.
    RequestedAction {
        /// The button's `identifier`, as Flotilla set it; the schema allows it absent.
        identifier: Option<String>,
    },
}

/// The parts of a check run Flotilla reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    /// The run's id, to update it.
    pub id: u64,
    /// The run's name, e.g. `flotilla/verify`.
    pub name: String,
    /// The commit it checks.
    pub head_sha: CommitSha,
    /// Progress.
    pub status: CheckStatus,
    /// The result once completed.
    pub conclusion: Option<CheckConclusion>,
    /// The id Flotilla stored on the run (its task), if any.
    pub external_id: Option<String>,
    /// The App owning the run: only Flotilla's own runs are re-run by Flotilla.
    pub app: AppRef,
    /// The suite the run belongs to.
    pub check_suite: CheckSuiteRef,
    /// Open PRs whose head is `head_sha`.
    #[serde(default)]
    pub pull_requests: Vec<PrRef>,
}

/// A check suite referred to by id.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckSuiteRef {
    /// The suite's id.
    pub id: u64,
}

/// A `status` delivery: a commit status from CI that does not use check runs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct StatusEvent {
    /// The commit the status is on.
    pub sha: CommitSha,
    /// The status's name, e.g. `ci/circleci`.
    pub context: String,
    /// Its state.
    pub state: StatusState,
    /// Where CI's details are; `null` when none.
    pub target_url: Option<String>,
    /// The repository.
    pub repository: Repository,
    /// Who set the status.
    pub sender: Sender,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
}

/// A commit status's `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    /// Not finished.
    Pending,
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// CI itself broke.
    Error,
    /// A state GitHub adds later.
    #[serde(other)]
    Unknown,
}

/// The `check_run` actions Flotilla handles, before their data is read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CheckRunKind {
    Created,
    Completed,
    Rerequested,
    RequestedAction,
}

/// The wire shape of a `check_run` delivery.
#[derive(Deserialize)]
struct CheckRunWire {
    check_run: CheckRun,
    repository: Repository,
    sender: Sender,
    installation: Option<InstallationRef>,
    requested_action: Option<RequestedAction>,
}

/// The `requested_action` object of a button click.
#[derive(Deserialize)]
struct RequestedAction {
    identifier: Option<String>,
}

/// Types a `check_run` delivery; `Ok(None)` for an unhandled action.
pub(super) fn parse_check_run(
    action: &str,
    body: &[u8],
) -> Result<Option<CheckRunEvent>, EventParseError> {
    typed(action, body, |kind, wire: CheckRunWire| CheckRunEvent {
        action: match kind {
            CheckRunKind::Created => CheckRunAction::Created,
            CheckRunKind::Completed => CheckRunAction::Completed,
            CheckRunKind::Rerequested => CheckRunAction::Rerequested,
            CheckRunKind::RequestedAction => CheckRunAction::RequestedAction {
                identifier: wire.requested_action.and_then(|a| a.identifier),
            },
        },
        check_run: wire.check_run,
        repository: wire.repository,
        sender: wire.sender,
        installation: wire.installation,
    })
}
