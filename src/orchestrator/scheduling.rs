//! What may start: the scheduling policy. A planned task is queued once every task it
//! builds on has pushed work, and fails when one of them ended without (failed,
//! cancelled, or handed to a person); queued and refuted tasks then start, oldest run
//! first and in plan order, while the deployment, the repository and the run each
//! have a free slot. The store reads the tasks and carries the moves out
//! (`Store::schedule`).

use std::collections::HashMap;

use crate::store::{ScheduleMove, SchedulingTask, SlotLimits, TaskState};

/// Why a planned task fails without starting.
const DEPENDENCY_ENDED: &str = "a task it depends on failed, was cancelled or needs a person";

/// The moves that start what may start, given every task of the active runs.
pub(super) fn decide(tasks: &[SchedulingTask], limits: SlotLimits) -> Vec<ScheduleMove> {
    let mut states: HashMap<(i64, i64), TaskState> = tasks
        .iter()
        .map(|t| ((t.run.0, t.position), t.state))
        .collect();
    let mut moves = Vec::new();
    for task in tasks.iter().filter(|t| t.state == TaskState::Planned) {
        let deps: Vec<TaskState> = task
            .depends_on
            .iter()
            .filter_map(|p| states.get(&(task.run.0, *p)).copied())
            .collect();
        let ended = |s: &TaskState| {
            matches!(
                s,
                TaskState::Failed | TaskState::Cancelled | TaskState::NeedsHuman
            )
        };
        let next = if deps.iter().any(ended) {
            moves.push(ScheduleMove::Fail {
                task: task.id,
                reason: DEPENDENCY_ENDED.to_owned(),
            });
            TaskState::Failed
        } else if deps.iter().all(|s| s.has_pushed_work()) {
            moves.push(ScheduleMove::Queue(task.id));
            TaskState::Queued
        } else {
            continue;
        };
        states.insert((task.run.0, task.position), next);
    }
    let mut global = 0_u32;
    let mut per_repo: HashMap<&str, u32> = HashMap::new();
    let mut per_run: HashMap<i64, u32> = HashMap::new();
    for task in tasks.iter().filter(|t| t.state == TaskState::Working) {
        global += 1;
        *per_repo.entry(task.repo.0.as_str()).or_default() += 1;
        *per_run.entry(task.run.0).or_default() += 1;
    }
    let waiting = tasks.iter().filter(|t| {
        matches!(
            states.get(&(t.run.0, t.position)),
            Some(TaskState::Queued | TaskState::Refuted)
        )
    });
    for task in waiting {
        let repo = per_repo.get(task.repo.0.as_str()).copied().unwrap_or(0);
        let run = per_run.get(&task.run.0).copied().unwrap_or(0);
        if global >= limits.global || repo >= limits.per_repo || run >= task.max_parallel {
            continue;
        }
        moves.push(ScheduleMove::Start {
            task: task.id,
            attempt: task.attempts + 1,
        });
        global += 1;
        *per_repo.entry(task.repo.0.as_str()).or_default() += 1;
        *per_run.entry(task.run.0).or_default() += 1;
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunId, TaskId};
    use crate::types::RepoName;

    fn task(id: i64, run: i64, repo: &str, state: TaskState, depends_on: &[i64]) -> SchedulingTask {
        SchedulingTask {
            id: TaskId(id),
            run: RunId(run),
            repo: RepoName(repo.to_owned()),
            position: id,
            max_parallel: 2,
            state,
            depends_on: depends_on.to_vec(),
            attempts: 0,
        }
    }

    const ROOMY: SlotLimits = SlotLimits {
        global: 10,
        per_repo: 10,
    };

    #[test]
    fn a_planned_task_waits_for_pushed_work_and_fails_with_what_it_builds_on() {
        let tasks = [
            task(1, 1, "a/b", TaskState::Proposed, &[]),
            task(2, 1, "a/b", TaskState::Planned, &[1]),
            task(3, 1, "a/b", TaskState::Failed, &[]),
            task(4, 1, "a/b", TaskState::Planned, &[3]),
            task(5, 1, "a/b", TaskState::Working, &[]),
            task(6, 1, "a/b", TaskState::Planned, &[5]),
        ];
        let moves = decide(&tasks, ROOMY);
        assert_eq!(
            moves,
            vec![
                ScheduleMove::Queue(TaskId(2)),
                ScheduleMove::Fail {
                    task: TaskId(4),
                    reason: DEPENDENCY_ENDED.to_owned()
                },
                ScheduleMove::Start {
                    task: TaskId(2),
                    attempt: 1
                },
            ]
        );
    }

    #[test]
    fn starts_stop_at_the_run_repository_and_global_limits() {
        let mut tasks: Vec<SchedulingTask> = (1..=4)
            .map(|id| task(id, 1, "a/b", TaskState::Queued, &[]))
            .collect();
        tasks.push(task(5, 2, "a/c", TaskState::Refuted, &[]));
        tasks.push(task(6, 3, "a/c", TaskState::Queued, &[]));
        let started = |limits| {
            decide(&tasks, limits)
                .into_iter()
                .filter_map(|m| match m {
                    ScheduleMove::Start { task, .. } => Some(task.0),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(started(ROOMY), vec![1, 2, 5, 6], "two per run");
        assert_eq!(
            started(SlotLimits {
                global: 10,
                per_repo: 1
            }),
            vec![1, 5],
            "one per repository"
        );
        assert_eq!(
            started(SlotLimits {
                global: 3,
                per_repo: 10
            }),
            vec![1, 2, 5],
            "three in all, oldest run first"
        );
    }

    #[test]
    fn working_tasks_hold_their_slots() {
        let tasks = [
            task(1, 1, "a/b", TaskState::Working, &[]),
            task(2, 1, "a/b", TaskState::Working, &[]),
            task(3, 1, "a/b", TaskState::Queued, &[]),
        ];
        assert!(
            decide(&tasks, ROOMY).is_empty(),
            "the run's two slots are taken"
        );
    }
}
