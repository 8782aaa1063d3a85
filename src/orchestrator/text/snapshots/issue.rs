//! What Flotilla says on an issue: the plan comment, replies to people and commands, and
//! the budget's notices.

use insta::assert_snapshot;

use super::{dollars, redactor, run, spend, task};
use crate::config::ConfigError;
use crate::cost::{BudgetConfig, Exhausted, Limit, Scope, Usd};
use crate::links::DashboardLinks;
use crate::orchestrator::command::Command;
use crate::orchestrator::reconcile::Repair;
use crate::orchestrator::text::{
    Outcome, all_merged, budget_report, budget_stopped, caught_up, command_reply, dashboard_reply,
    invalid_config, not_allowed, plan, status, unknown_command,
};
use crate::store::{DashboardAction, RunId, TaskState};
use crate::types::{CommitSha, IssueNumber, Login, PrNumber};

#[test]
fn the_plan_comment_has_a_row_per_task_and_the_commands() {
    let mut failed = task(2, TaskState::Failed);
    failed.last_reason = Some("the agent timed out after 30m".to_owned());
    let tasks = [task(1, TaskState::Verifying), failed];
    let links = DashboardLinks::new("https://flotilla.example");
    assert_snapshot!(plan(&run(), &tasks, &spend(), Some(&links), &redactor()), @"
    ### Flotilla plan for #7 (working)

    [Dashboard](https://flotilla.example/runs/3): tasks, attempts, verdicts and the timeline of this run.

    Planned from: the issue's task list (2 items).
    - 2 unchecked items → 2 tasks

    | # | Task | State | Branch | Pull request | Attempts | Cost |
    |---|------|-------|--------|--------------|----------|------|
    | 1 | cache tokens | verifying | `flotilla/7-1` | #21 | 1/3 | $0.25 (0 tokens) |
    | 2 | skip blank lines | failed: the agent timed out after 30m | `flotilla/7-2` | #22 | 1/3 | $0.00 (0 tokens) |

    Spent so far: $0.40 (0 tokens).

    Commands (from people with write access): `/flotilla status`, `/flotilla budget`, `/flotilla retry [task]`, `/flotilla cancel`, `/flotilla replan`.
    ");
}

#[test]
fn status_without_a_run_says_so() {
    assert_snapshot!(status(None, IssueNumber(7), None, &redactor()), @"Flotilla has no run for #7.");
}

#[test]
fn every_task_merged_lists_each_with_its_commit_and_spend() {
    let mut first = task(1, TaskState::Merged);
    first.merged_sha = Some(CommitSha(
        "fedcba9876543210fedcba9876543210fedcba98".to_owned(),
    ));
    let tasks = [first, task(2, TaskState::Merged)];
    assert_snapshot!(all_merged(&run(), &tasks, &spend(), &redactor()), @"
    All 2 task(s) of #7 are merged into `main`:

    - #21 cache tokens as `fedcba987654` — $0.25 (0 tokens)
    - #22 skip blank lines — $0.00 (0 tokens)

    The run's agents spent $0.40 (0 tokens) in all.
    ");
}

#[test]
fn catching_up_lists_every_repair() {
    let repairs = [
        Repair::IssueClosed,
        Repair::Merged {
            task: 1,
            pr: PrNumber(21),
        },
        Repair::CannotLand {
            task: 2,
            reason: "pull request #22 was closed without merging".to_owned(),
        },
        Repair::Pushed {
            task: 1,
            pr: PrNumber(21),
            head: super::head(),
        },
        Repair::CheckInterrupted {
            task: 1,
            head: super::head(),
            again: true,
        },
        Repair::CheckInterrupted {
            task: 2,
            head: super::head(),
            again: false,
        },
    ];
    assert_snapshot!(caught_up(&repairs), @"
    Flotilla caught up with changes made on GitHub while it was not listening:

    - the issue was closed: the run is cancelled
    - task 1: pull request #21 was merged; the merge is recorded
    - task 2 failed: pull request #22 was closed without merging
    - task 1: a new head 0123456 was pushed to #21; it is being verified
    - task 1: the `flotilla/verify` check left in progress on 0123456 is closed and the head is being verified again
    - task 2: the `flotilla/verify` check left in progress on 0123456 is closed (a later verification of that head holds the result)
    ");
}

#[test]
fn a_reader_is_told_who_may_act() {
    assert_snapshot!(not_allowed(&Login("mallory".to_owned()), "start agents"), @"@mallory, thanks — only people with write access to this repository can start agents. A maintainer can do it for you.");
}

#[test]
fn an_invalid_configuration_names_its_line() {
    let error = ConfigError {
        line: Some(4),
        column: Some(3),
        message: "`max_tasks` must be at least 1".to_owned(),
    };
    assert_snapshot!(invalid_config(&error), @"
    Flotilla did not start: .github/flotilla.yml line 4: `max_tasks` must be at least 1

    Fix the file on the default branch and add the label again.
    ");
}

#[test]
fn an_unknown_command_lists_the_valid_ones() {
    assert_snapshot!(unknown_command("deploy now\nplease"), @"
    I don't know `/flotilla deploy now`. Valid commands:

    - `/flotilla status` — show the plan and each task's state
    - `/flotilla budget` — show what the run's agents spent and what is left of each budget
    - `/flotilla retry [task]` — try failed tasks again (all, or the one numbered `task`); after a budget stop, resume under the raised budget
    - `/flotilla cancel` — stop the run and its agents (pull requests stay open)
    - `/flotilla replan` — cancel the run and plan again from the issue as it is now
    ");
}

#[test]
fn each_command_outcome_has_its_reply() {
    let replies: Vec<String> = [
        (
            Command::Status,
            Outcome::Report("the plan, as the plan comment shows it".to_owned()),
        ),
        (Command::Retry(None), Outcome::NoRun(IssueNumber(7))),
        (
            Command::Retry(None),
            Outcome::NotResumed("`budget.run.usd` must be positive".to_owned()),
        ),
        (
            Command::Retry(None),
            Outcome::StillSpent("the run's budget of $1.00 is spent".to_owned()),
        ),
        (Command::Retry(None), Outcome::Resumed { reverified: 2 }),
        (Command::Retry(Some(2)), Outcome::NothingToRetry),
        (Command::Retry(None), Outcome::Queued(2)),
        (Command::Cancel, Outcome::NotRunning(IssueNumber(7))),
        (
            Command::Cancel,
            Outcome::Cancelled {
                stopped: 1,
                pulls: vec![PrNumber(21), PrNumber(22)],
            },
        ),
        (
            Command::Cancel,
            Outcome::Cancelled {
                stopped: 0,
                pulls: Vec::new(),
            },
        ),
        (
            Command::Replan,
            Outcome::NotReplanned("line 2: unknown field `workers`".to_owned()),
        ),
        (
            Command::Replan,
            Outcome::Replanning {
                run: RunId(4),
                cancelled: Some(vec![PrNumber(21)]),
            },
        ),
        (
            Command::Replan,
            Outcome::Replanning {
                run: RunId(4),
                cancelled: None,
            },
        ),
        (Command::Replan, Outcome::AlreadyLive),
    ]
    .iter()
    .map(|(command, outcome)| command_reply(command, outcome))
    .collect();
    assert_snapshot!(replies.join("\n"), @"
    the plan, as the plan comment shows it
    `/flotilla retry`: Flotilla has no run for #7.
    `/flotilla retry`: not resumed: `budget.run.usd` must be positive
    `/flotilla retry`: not resumed: the run's budget of $1.00 is spent. Raise `budget:` in `.github/flotilla.yml` on the default branch first.
    `/flotilla retry`: resumed under the raised budget: queued tasks start again and 2 head(s) are verified.
    `/flotilla retry 2`: there is no failed task to retry.
    `/flotilla retry`: 2 task(s) queued again.
    `/flotilla cancel`: the run for #7 is not running.
    `/flotilla cancel`: run cancelled; 1 task(s) stopped. Its pull requests stay open: #21, #22.
    `/flotilla cancel`: run cancelled; 0 task(s) stopped. No pull request was opened.
    `/flotilla replan`: not replanned: line 2: unknown field `workers`
    `/flotilla replan`: planning again (run 4). The previous run was cancelled. Its pull requests stay open: #21.
    `/flotilla replan`: planning again (run 4).
    `/flotilla replan`: the issue already has a live run.
    ");
}

#[test]
fn each_dashboard_button_outcome_has_its_reply() {
    let actor = Login("alice".to_owned());
    let replies: Vec<String> = [
        (
            DashboardAction::Reverify { position: 9 },
            Outcome::NoSuchTask(9),
        ),
        (
            DashboardAction::Reverify { position: 1 },
            Outcome::NoHead(1),
        ),
        (
            DashboardAction::Reverify { position: 1 },
            Outcome::CannotReverify {
                position: 1,
                state: TaskState::Working,
            },
        ),
        (
            DashboardAction::Reverify { position: 1 },
            Outcome::Reverifying(1),
        ),
        (DashboardAction::Retry { position: 2 }, Outcome::Queued(1)),
        (
            DashboardAction::Cancel,
            Outcome::Cancelled {
                stopped: 2,
                pulls: vec![PrNumber(21)],
            },
        ),
    ]
    .iter()
    .map(|(action, outcome)| dashboard_reply(&actor, action, outcome))
    .collect();
    assert_snapshot!(replies.join("\n"), @"
    alice pressed Re-verify on task 9 on the dashboard: the run has no task 9.
    alice pressed Re-verify on task 1 on the dashboard: task 1 has no pull request to verify.
    alice pressed Re-verify on task 1 on the dashboard: task 1 is working; only a proposed or verified head can be verified again.
    alice pressed Re-verify on task 1 on the dashboard: task 1 will be verified again.
    alice pressed Retry on task 2 on the dashboard: 1 task(s) queued again.
    alice pressed Cancel on the dashboard: run cancelled; 2 task(s) stopped. Its pull requests stay open: #21.
    ");
}

/// A limit of `usd` dollars.
fn usd(amount: f64) -> Limit {
    Limit {
        usd: Some(Usd::from_dollars(amount).expect("a valid amount")),
        tokens: None,
    }
}

#[test]
fn a_budget_stop_names_the_budget_and_how_to_go_on() {
    let exhausted = Exhausted {
        scope: Scope::Run,
        limit: usd(1.0),
        spent: dollars(0.95),
        projected: dollars(1.10),
    };
    assert_snapshot!(budget_stopped(&exhausted, &dollars(0.95)), @"
    Flotilla stopped starting agents for this issue: the run's budget of $1.00 is spent: $0.95 (0 tokens) used, $1.10 (0 tokens) with the next agent run.

    The run spent $0.95 (0 tokens) so far. Agents still running when the budget ran out were stopped; open pull requests are labelled `flotilla:needs-human` and none of them merges on its own. To go on, raise `budget:` in `.github/flotilla.yml` on the default branch (or the server's daily budget) and comment `/flotilla retry`; `/flotilla budget` shows what is spent and left.
    ");
}

#[test]
fn the_budget_report_has_a_row_per_budget_and_task() {
    let mut stopped = run();
    stopped.budget_stopped = Some("the run's budget of $1.00 is spent".to_owned());
    let budget = BudgetConfig {
        task: usd(0.5),
        run: usd(1.0),
    };
    let by_task = spend().by_task;
    let tasks = [task(1, TaskState::Working), task(2, TaskState::Queued)];
    let report = budget_report(
        &stopped,
        &tasks,
        &by_task,
        &dollars(0.40),
        &budget,
        (&dollars(2.5), &usd(10.0)),
        &redactor(),
    );
    assert_snapshot!(report, @"
    Spend of the run for #7:

    | Budget | Limit | Spent | Left |
    |---|---|---|---|
    | Run | $1.00 | $0.40 (0 tokens) | $0.60 |
    | Installation today (UTC) | $10.00 | $2.50 (0 tokens) | $7.50 |
    | Task 1: cache tokens | $0.50 | $0.25 (0 tokens) | $0.25 |
    | Task 2: skip blank lines | $0.50 | $0.00 (0 tokens) | $0.50 |

    The run is stopped by its budget: the run's budget of $1.00 is spent. Raise `budget:` and comment `/flotilla retry` to resume.
    ");
}
