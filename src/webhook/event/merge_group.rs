//! `merge_group`: GitHub's merge queue asks the required checks to run on a group, or
//! drops the group. A required check that ignores these deliveries stalls the queue.

use serde::Deserialize;

use super::{EventParseError, InstallationRef, Repository, Sender, typed};
use crate::types::{CommitSha, PrNumber};

/// The prefix of every branch the merge queue creates, after `refs/heads/`.
const QUEUE_BRANCH_PREFIX: &str = "gh-readonly-queue/";

/// A `merge_group` delivery: the queue built a group that needs its checks, or
/// discarded one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeGroupEvent {
    /// What happened to the group, with the data the action carries.
    pub action: MergeGroupAction,
    /// The group.
    pub merge_group: MergeGroup,
    /// The repository.
    pub repository: Repository,
    /// The installation to act with.
    pub installation: Option<InstallationRef>,
    /// Who acted (the person who queued the PR, for `checks_requested`).
    pub sender: Sender,
}

/// The `merge_group` actions Flotilla handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeGroupAction {
    /// The group's head needs every required check: `flotilla/verify` must report on
    /// `merge_group.head_sha` or the queue waits forever.
    ChecksRequested,
    /// The group is gone: merged, or dropped before it could merge.
    Destroyed {
        /// Why; GitHub's schema does not promise it.
        reason: Option<MergeGroupDestroyReason>,
    },
}

/// Why the queue discarded a merge group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeGroupDestroyReason {
    /// The group landed on the base branch.
    Merged,
    /// An entry ahead of it in the queue left: the group no longer tests what would land.
    Invalidated,
    /// One of its PRs was removed from the queue (by a person, or a failed check).
    Dequeued,
    /// A reason GitHub adds later.
    #[serde(other)]
    Unknown,
}

/// The parts of a merge group Flotilla reads. Both refs are full (`refs/heads/…`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MergeGroup {
    /// The commit the queue tests: the base with the group's PRs merged on top.
    pub head_sha: CommitSha,
    /// The queue's temporary branch,
    /// `refs/heads/gh-readonly-queue/<base>/pr-<number>-<sha of the PR's head>`.
    pub head_ref: String,
    /// The base branch's commit the group was built on.
    pub base_sha: CommitSha,
    /// The branch the group merges into, e.g. `refs/heads/main`.
    pub base_ref: String,
}

impl MergeGroup {
    /// The pull requests named by the queue branch, so a group can be tied back to the
    /// PRs Flotilla opened. GitHub names a group's branch
    /// `refs/heads/gh-readonly-queue/<base branch>/pr-<number>-<head sha>` after the PR
    /// whose queue entry it tests (PRs queued ahead of it are in the group's commits but
    /// not in its name); `<base branch>` may itself contain slashes. Empty when the ref
    /// does not have that shape.
    pub fn pull_numbers(&self) -> Vec<PrNumber> {
        self.queue_entry().into_iter().collect()
    }

    /// The `<number>` of `pr-<number>-<sha>` at the end of the queue branch.
    fn queue_entry(&self) -> Option<PrNumber> {
        let branch = strip_heads(&self.head_ref).strip_prefix(QUEUE_BRANCH_PREFIX)?;
        // The entry has no slash; everything before the last one is the base branch.
        let (_base, entry) = branch.rsplit_once('/')?;
        let (number, sha) = entry.strip_prefix("pr-")?.split_once('-')?;
        let is_sha = !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let is_number = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        if !is_sha || !is_number {
            return None;
        }
        number.parse().ok().map(PrNumber)
    }
}

/// A branch name without its `refs/heads/` prefix, when it has one.
fn strip_heads(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// The `merge_group` actions Flotilla handles, before their data is read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum MergeGroupKind {
    ChecksRequested,
    Destroyed,
}

/// The wire shape of a `merge_group` delivery.
#[derive(Deserialize)]
struct MergeGroupWire {
    merge_group: MergeGroup,
    repository: Repository,
    installation: Option<InstallationRef>,
    sender: Sender,
    reason: Option<MergeGroupDestroyReason>,
}

/// Types a `merge_group` delivery; `Ok(None)` for an unhandled action.
pub(super) fn parse_merge_group(
    action: &str,
    body: &[u8],
) -> Result<Option<MergeGroupEvent>, EventParseError> {
    typed(action, body, |kind, wire: MergeGroupWire| MergeGroupEvent {
        action: match kind {
            MergeGroupKind::ChecksRequested => MergeGroupAction::ChecksRequested,
            MergeGroupKind::Destroyed => MergeGroupAction::Destroyed {
                reason: wire.reason,
            },
        },
        merge_group: wire.merge_group,
        repository: wire.repository,
        installation: wire.installation,
        sender: wire.sender,
    })
}
