//! A task's states and the one table of the moves between them. Every statement of the
//! store that changes a task's state names the states it moves from through
//! [`TaskState::moving_from`], which refuses a move the table does not allow, so the
//! table is the whole truth about where a task may go.

use super::columns::named_in_text;

/// Where a task is in its life:
/// `planned → queued → working → proposed → verifying → verified → ready → merging →
/// merged`, with `refuted` sending it back to a worker, and `failed`, `needs_human`
/// and `cancelled` as the other ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for the tasks it depends on.
    Planned,
    /// Ready; waiting for a free slot.
    Queued,
    /// An agent works on it (or is about to).
    Working,
    /// Its draft pull request is open; verification is queued.
    Proposed,
    /// Gates and reviewer lenses run on its head commit.
    Verifying,
    /// A lens or gate refuted the head; waiting for a slot to retry with the findings.
    Refuted,
    /// Every gate and lens holds on the head; waiting for the required checks.
    Verified,
    /// Marked ready for review; waiting for a person or GitHub's auto-merge.
    Ready,
    /// Flotilla is merging it.
    Merging,
    /// Merged into the base branch.
    Merged,
    /// It used its attempts, or what it depends on failed.
    Failed,
    /// Needs a person: a protected path, or still refuted after its last attempt.
    NeedsHuman,
    /// Stopped by a command or the issue being closed.
    Cancelled,
}

impl TaskState {
    /// Whether nothing more happens to the task without a person (a command, a push,
    /// a re-verify).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Merged | Self::Failed | Self::NeedsHuman | Self::Cancelled
        )
    }

    /// The states of a task whose pull request is open and moving towards a merge: a
    /// new base or a new head means verifying again.
    pub const IN_REVIEW: [TaskState; 6] = [
        Self::Proposed,
        Self::Verifying,
        Self::Refuted,
        Self::Verified,
        Self::Ready,
        Self::Merging,
    ];

    /// [`TaskState::IN_REVIEW`] and `needs_human`: the pull request is open and awaits
    /// a merge or a person.
    pub const OPEN_PULL: [TaskState; 7] = [
        Self::Proposed,
        Self::Verifying,
        Self::Refuted,
        Self::Verified,
        Self::Ready,
        Self::Merging,
        Self::NeedsHuman,
    ];

    /// Whether the task has pushed work a dependent task may build on.
    pub fn has_pushed_work(self) -> bool {
        self == Self::Merged || self.is_in_review()
    }

    /// Whether its pull request is open and moving towards a merge (one of
    /// [`TaskState::IN_REVIEW`]).
    pub fn is_in_review(self) -> bool {
        Self::IN_REVIEW.contains(&self)
    }
}

named_in_text! {
    /// The name stored in the `state` column and shown in the plan.
    TaskState as "task state" {
        Planned => "planned",
        Queued => "queued",
        Working => "working",
        Proposed => "proposed",
        Verifying => "verifying",
        Refuted => "refuted",
        Verified => "verified",
        Ready => "ready",
        Merging => "merging",
        Merged => "merged",
        Failed => "failed",
        NeedsHuman => "needs_human",
        Cancelled => "cancelled",
    }
}

/// Every move a task may make, by the state it leaves. A person merging a pull request
/// by hand ends any task that has one; `refuted` and `failed` tasks go back to work;
/// a new head sends a task in review back to `proposed`.
fn successors(state: TaskState) -> &'static [TaskState] {
    use TaskState::*;
    match state {
        Planned => &[Queued, Failed, Cancelled],
        Queued => &[Working, Cancelled, Merged],
        Working => &[Proposed, Queued, Failed, Cancelled, Merged],
        Proposed => &[Verifying, Proposed, Failed, NeedsHuman, Cancelled, Merged],
        Verifying => &[
            Verifying, Verified, Refuted, NeedsHuman, Proposed, Failed, Cancelled, Merged,
        ],
        Refuted => &[Working, Proposed, Failed, NeedsHuman, Cancelled, Merged],
        Verified => &[
            Ready, Merging, Refuted, NeedsHuman, Proposed, Failed, Cancelled, Merged,
        ],
        Ready => &[
            Merging, Refuted, NeedsHuman, Proposed, Failed, Cancelled, Merged,
        ],
        Merging => &[
            Merging, Merged, Ready, Verified, Proposed, NeedsHuman, Failed,
        ],
        Merged => &[],
        Failed => &[Queued, Merged],
        NeedsHuman => &[Queued, Proposed, Failed, Merged],
        Cancelled => &[Merged],
    }
}

/// A move the transition table does not allow: a bug in the caller, refused before
/// any row changes.
#[derive(Debug, thiserror::Error)]
#[error("a task may not move from {from} to {to}")]
pub struct IllegalMove {
    /// Where it would leave.
    pub from: &'static str,
    /// Where it would go.
    pub to: &'static str,
}

impl TaskState {
    /// Whether the table allows a task in this state to move to `to`.
    pub fn can_move_to(self, to: TaskState) -> bool {
        successors(self).contains(&to)
    }

    /// Every state a task may move to `to` from.
    pub fn predecessors(to: TaskState) -> Vec<TaskState> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_move_to(to))
            .collect()
    }

    /// The SQL list (`'a', 'b'`) of `from`, for a statement moving tasks in one of
    /// those states to each of `to`; refused when the table forbids any of the moves.
    pub(super) fn moving_from(from: &[TaskState], to: &[TaskState]) -> Result<String, IllegalMove> {
        for f in from {
            for t in to {
                if !f.can_move_to(*t) {
                    return Err(IllegalMove {
                        from: f.as_str(),
                        to: t.as_str(),
                    });
                }
            }
        }
        Ok(sql_list(from))
    }

    /// The SQL list of every state the table lets a task move to `to` from, for a
    /// statement that moves tasks wherever they are (cancelled, merged by hand).
    pub(super) fn moving_to(to: TaskState) -> String {
        sql_list(&Self::predecessors(to))
    }
}

/// `states` as a SQL list: `'a', 'b'`.
fn sql_list(states: &[TaskState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, drawn as a matrix: a row per state left, a column per state reached,
    /// in [`TaskState::ALL`]'s order (planned, queued, working, proposed, verifying,
    /// refuted, verified, ready, merging, merged, failed, needs_human, cancelled).
    const MATRIX: [&str; 13] = [
        "-x--------x-x", // planned
        "--x------x--x", // queued
        "-x-x-----xx-x", // working
        "---xx----xxxx", // proposed
        "---xxxx--xxxx", // verifying
        "--xx-----xxxx", // refuted
        "---x-x-xxxxxx", // verified
        "---x-x--xxxxx", // ready
        "---x--xxxxxx-", // merging
        "-------------", // merged
        "-x-------x---", // failed
        "-x-x-----xx--", // needs_human
        "---------x---", // cancelled
    ];

    #[test]
    fn every_pair_of_states_is_allowed_exactly_as_the_matrix_says() {
        for (row, from) in MATRIX.iter().zip(TaskState::ALL) {
            for (mark, to) in row.chars().zip(TaskState::ALL) {
                assert_eq!(
                    from.can_move_to(to),
                    mark == 'x',
                    "{} -> {}",
                    from.as_str(),
                    to.as_str()
                );
            }
        }
    }

    #[test]
    fn nothing_leaves_merged_and_everything_else_may_be_merged_by_hand() {
        assert!(successors(TaskState::Merged).is_empty());
        let merged_from = TaskState::predecessors(TaskState::Merged);
        assert_eq!(
            merged_from.len(),
            TaskState::ALL.len() - 2,
            "{merged_from:?}"
        );
        assert!(!merged_from.contains(&TaskState::Planned));
    }

    #[test]
    fn a_forbidden_move_is_refused_before_any_sql_is_built() {
        let refused = TaskState::moving_from(
            &[TaskState::Failed, TaskState::Merged],
            &[TaskState::Queued],
        )
        .expect_err("merged never moves");
        assert_eq!(
            refused.to_string(),
            "a task may not move from merged to queued"
        );
        assert_eq!(
            TaskState::moving_from(
                &[TaskState::Failed, TaskState::NeedsHuman],
                &[TaskState::Queued]
            )
            .expect("allowed"),
            "'failed', 'needs_human'"
        );
    }
}
