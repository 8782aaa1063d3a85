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
    Outcome, all_merged, budget_report, budget_stopped, caught_up, command_reply,
    dashboard_reply, invalid_config, not_allowed, plan, status, unknown_command,
};
use crate::store::{DashboardAction, RunId, TaskState};
use crate::types::{CommitSha, IssueNumber, Login, PrNumber};

#[test]
fn the_plan_comment_has_a_row_per_task_and_the_commands() {
    let mut failed = task(2, TaskState::Failed);
    failed.last_reason = Some("the agent timed out after 30m".to_owned());
    let tasks = [task(1, TaskState::Verifying), failed];
    let links = DashboardLinks::new("https://flotilla.example");
    assert_snapshot!(plan(&run(), &tasks, &spend(), Some(&links), &redactor()), @"");
}

#[test]
fn status_without_a_run_says_so() {
    assert_snapshot!(status(None, IssueNumber(7), None, &redactor()), @"");
}

#[test]
fn every_task_merged_lists_each_with_its_commit_and_spend() {
    let mut first = task(1, TaskState::Merged);
    first.merged_sha = Some(CommitSha("fedcba9876543210fedcba9876543210fedcba98".to_owned()));
    let tasks = [first, task(2, TaskState::Merged)];
    assert_snapshot!(all_merged(&run(), &tasks, &spend(), &redactor()), @"");
}

#[test]
fn catching_up_lists_every_repair() {
    let repairs = [
        Repair::IssueClosed,
        Repair::Merged { task: 1, pr: PrNumber(21) },
        Repair::CannotLand { task: 2, reason: "pull request #22 was closed without merging".to_owned() },
        Repair::Pushed { task: 1, pr: PrNumber(21), head: super::head() },
        Repair::CheckInterrupted { task: 1, head: super::head(), again: true },
        Repair::CheckInterrupted { task: 2, head: super::head(), again: false },
    ];
    assert_snapshot!(caught_up(&repairs), @"");
}

#[test]
fn a_reader_is_told_who_may_act() {
    assert_snapshot!(not_allowed(&Login("mallory".to_owned()), "start agents"), @"");
}

#[test]
fn an_invalid_configuration_names_its_line() {
    let error = ConfigError {
        line: Some(4),
        column: Some(3),
        message: "`max_tasks` must be at least 1".to_owned(),
    };
    assert_snapshot!(invalid_config(&error), @"");
}

#[test]
fn an_unknown_command_lists_the_valid_ones() {
    assert_snapshot!(unknown_command("deploy now\nplease"), @"");
}

#[test]
fn each_command_outcome_has_its_reply() {
    let replies: Vec<String> = [
        (Command::Status, Outcome::Report("the plan, as the plan comment shows it".to_owned())),
        (Command::Retry(None), Outcome::NoRun(IssueNumber(7))),
        (Command::Retry(None), Outcome::NotResumed("`budget.run.usd` must be positive".to_owned())),
        (Command::Retry(None), Outcome::StillSpent("the run's budget of $1.00 is spent".to_owned())),
        (Command::Retry(None), Outcome::Resumed { reverified: 2 }),
        (Command::Retry(Some(2)), Outcome::NothingToRetry),
        (Command::Retry(None), Outcome::Queued(2)),
        (Command::Cancel, Outcome::NotRunning(IssueNumber(7))),
        (Command::Cancel, Outcome::Cancelled { stopped: 1, pulls: vec![PrNumber(21), PrNumber(22)] }),
        (Command::Cancel, Outcome::Cancelled { stopped: 0, pulls: Vec::new() }),
        (Command::Replan, Outcome::NotReplanned("line 2: unknown field `workers`".to_owned())),
        (Command::Replan, Outcome::Replanning { run: RunId(4), cancelled: Some(vec![PrNumber(21)]) }),
        (Command::Replan, Outcome::Replanning { run: RunId(4), cancelled: None }),
        (Command::Replan, Outcome::AlreadyLive),
    ]
    .iter()
    .map(|(command, outcome)| command_reply(command, outcome))
    .collect();
    assert_snapshot!(replies.join("\n"), @"");
}

#[test]
fn each_dashboard_button_outcome_has_its_reply() {
    let actor = Login("alice".to_owned());
    let replies: Vec<String> = [
        (DashboardAction::Reverify { position: 9 }, Outcome::NoSuchTask(9)),
        (DashboardAction::Reverify { position: 1 }, Outcome::NoHead(1)),
        (
            DashboardAction::Reverify { position: 1 },
            Outcome::CannotReverify { position: 1, state: TaskState::Working },
        ),
        (DashboardAction::Reverify { position: 1 }, Outcome::Reverifying(1)),
        (DashboardAction::Retry { position: 2 }, Outcome::Queued(1)),
        (DashboardAction::Cancel, Outcome::Cancelled { stopped: 2, pulls: vec![PrNumber(21)] }),
    ]
    .iter()
    .map(|(action, outcome)| dashboard_reply(&actor, action, outcome))
    .collect();
    assert_snapshot!(replies.join("\n"), @"");
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
    assert_snapshot!(budget_stopped(&exhausted, &dollars(0.95)), @"");
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
    assert_snapshot!(report, @"");
}
