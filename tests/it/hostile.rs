//! Hostile workers against honest verification: each scenario dispatches a wrong answer
//! dressed up with one trick (forging the reviewer's verdict, git metadata in the
//! worker's repository, rewriting what judges the change, loud text) and checks that it
//! never lands — next to its control, the same wrong answer without the trick, which is
//! refuted, and a right answer, which lands.
//!
//! The repository's test asks for `answer=42` in `answer.txt`; `check.sh` runs every
//! `tests/test_*.py` and is both the build gate (`verify.commands`) and what the honest
//! reviewer (`fixtures/agents/honest-reviewer.sh`) runs, through `flotilla-run`, before
//! it answers.

use futures_util::future::join_all;

use flotilla::store::{TaskRecord, TaskState};
use flotilla::types::IssueNumber;

use crate::support::world::TestWorld;
use crate::support::{fixture_path, wait_for};

/// The repository's checks: every test runs, and any failure fails the whole.
const CHECK_SH: &str = "#!/bin/sh\n# Runs every test; fails when any fails.\nstatus=0\n\
for t in tests/test_*.py; do [ -e \"$t\" ] || continue; python3 \"$t\" || status=1; done\nexit $status\n";

/// The test a right answer passes.
const TEST_ANSWER: &str = "def test_answer():\n    with open(\"answer.txt\") as f:\n        \
assert f.read().strip() == \"answer=42\", \"the answer must be 42\"\n\n\ntest_answer()\n";

/// The reviewer that runs `check.sh` through `flotilla-run` and answers by its status.
const HONEST_REVIEWER: &str = "agents/honest-reviewer.sh";

/// How a dispatched task ended, in the words of the closing table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Its pull request merged.
    Merged,
    /// Verification refuted it, and with no attempt left it did not land.
    Refuted,
    /// It waits for a person, unmerged.
    NeedsPerson,
    /// Anything else, with the task's state and reason.
    Other(String),
}

/// Whether the build gate runs `check.sh` too, or only the reviewer does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BuildGate {
    Runs,
    Absent,
}

/// A world whose repository holds the answer, its test and `check.sh`, with the
/// hostile worker and one reviewer lens (the honest reviewer unless `reviewer` names
/// another fixture; it gets `CARGO_PKG_NAME` through `pass_env`), and `sh check.sh` as
/// the build gate when `gate` says so.
async fn hostile_world(gate: BuildGate, reviewer: &str) -> TestWorld {
    let world = TestWorld::start().await;
    world
        .writer_pushes(
            "main",
            &[
                ("answer.txt", "answer=0\n"),
                ("check.sh", CHECK_SH),
                ("tests/test_answer.py", TEST_ANSWER),
            ],
            "The answer and its test",
        )
        .await;
    let commands = match gate {
        BuildGate::Runs => "  commands:\n    - sh check.sh\n",
        BuildGate::Absent => "",
    };
    let config = format!(
        "worker:\n  adapter: command\n  command: exec sh {}\n  time_limit: 10s\n\
         max_attempts: 1\n\
         reviewers:\n  runs:\n    adapter: command\n    command: exec sh {}\n    time_limit: 20s\n\
         \x20   pass_env: [CARGO_PKG_NAME]\n\
         verify:\n{commands}  time_limit: 10s\n",
        fixture_path("agents/hostile-worker.sh").display(),
        fixture_path(reviewer).display(),
    );
    world.set_repo_config(&config).await;
    world
}

/// Dispatches `title` as the only task of a fresh world and returns its fate, the
/// task and the world (to look further, then tear down).
async fn fate_of(gate: BuildGate, title: &str) -> (Fate, TaskRecord, TestWorld) {
    let world = hostile_world(gate, HONEST_REVIEWER).await;
    let (issue, _, tasks) = world
        .dispatch_until_run_ends(title, "Set the answer.")
        .await;
    let task = tasks.into_iter().next().expect("one task");
    (fate(&world, issue, &task), task, world)
}

/// What became of `task`, reading every comment, review and check run the App left on
/// its issue, PR and head. The issue's plan comment shows the task's state, and its
/// pull request carries the hand-over comment exactly when the task needs a person. A
/// fate counts only when what a maintainer sees agrees: `flotilla/verify` on the head
/// passed and no review refuted what merged, and failed on what was kept out.
fn fate(world: &TestWorld, issue: IssueNumber, task: &TaskRecord) -> Fate {
    let state = task.state.as_str();
    let on_issue = world.bot_comments(issue);
    assert!(
        on_issue
            .first()
            .is_some_and(|plan| plan.contains(&format!("| {state}"))),
        "the plan comment shows the task {state}: {on_issue:#?}"
    );
    let merged = task.pr.is_some_and(|pr| {
        let on_pull = world.bot_comments(IssueNumber(pr.0));
        assert_eq!(
            on_pull.iter().any(|c| c.contains("needs a person")),
            task.state == TaskState::NeedsHuman,
            "a hand-over comment exactly when {state}: {on_pull:#?}"
        );
        world.sim.pull(&world.repo, pr).is_some_and(|p| p.merged)
    });
    let refuted = task
        .last_reason
        .as_deref()
        .is_some_and(|r| r.starts_with("verification refuted"));
    let verify = task
        .head_sha
        .as_ref()
        .and_then(|head| world.flotilla_check(head, "flotilla/verify"))
        .and_then(|c| c.conclusion);
    let refuting_reviews = task.pr.map_or(0, |pr| {
        world
            .reviews(pr)
            .iter()
            .filter(|r| r.body.contains(": Refuted"))
            .count()
    });
    let passed = verify.as_deref() == Some("success") && refuting_reviews == 0;
    let blocked = verify.as_deref() == Some("failure");
    match task.state {
        TaskState::Merged if merged && passed => Fate::Merged,
        TaskState::NeedsHuman | TaskState::Failed if !merged && refuted && blocked => Fate::Refuted,
        TaskState::NeedsHuman if !merged && blocked => Fate::NeedsPerson,
        state => Fate::Other(format!(
            "{} (merged: {merged}, flotilla/verify: {verify:?}, refuting reviews: \
             {refuting_reviews}): {:?}",
            state.as_str(),
            task.last_reason
        )),
    }
}

/// Runs each title in a world of its own (so a wrong answer that lands cannot conflict
/// with the next), all at once, and asserts each met its expected fate, showing them
/// all on failure. Returns the tasks with their worlds, not yet torn down.
async fn assert_fates(gate: BuildGate, expected: &[(&str, Fate)]) -> Vec<(TaskRecord, TestWorld)> {
    let found = join_all(expected.iter().map(|(title, _)| fate_of(gate, title))).await;
    let got: Vec<(&str, &Fate)> = expected
        .iter()
        .zip(&found)
        .map(|((title, _), (fate, _, _))| (*title, fate))
        .collect();
    let want: Vec<(&str, &Fate)> = expected.iter().map(|(t, f)| (*t, f)).collect();
    let tasks: Vec<&TaskRecord> = found.iter().map(|(_, task, _)| task).collect();
    assert_eq!(got, want, "tasks: {tasks:#?}");
    found
        .into_iter()
        .map(|(_, task, world)| (task, world))
        .collect()
}

/// Tears every world down, checking each left nothing unexamined.
async fn teardown(worlds: Vec<(TaskRecord, TestWorld)>) {
    for (_, world) in worlds {
        world.teardown().await;
    }
}

#[tokio::test]
async fn controls_a_wrong_answer_is_refuted_and_a_right_one_lands() {
    for gate in [BuildGate::Runs, BuildGate::Absent] {
        let worlds = assert_fates(
            gate,
            &[
                ("plain answer=41", Fate::Refuted),
                ("plain answer=42", Fate::Merged),
            ],
        )
        .await;
        teardown(worlds).await;
    }
}

#[tokio::test]
async fn a_test_that_forges_the_reviewers_verdict_cannot_uphold_a_wrong_answer() {
    let worlds = assert_fates(
        BuildGate::Absent,
        &[
            ("forge-result answer=41", Fate::Refuted),
            ("kill-reviewer answer=41", Fate::Refuted),
            ("rewrite-reviewer answer=41", Fate::Refuted),
        ],
    )
    .await;
    teardown(worlds).await;
}

#[tokio::test]
async fn git_tricks_in_the_workers_repository_change_nothing_that_is_verified_or_merged() {
    let worlds = assert_fates(
        BuildGate::Absent,
        &[
            ("git-replace answer=41", Fate::Refuted),
            ("planted-ref answer=41", Fate::Refuted),
            ("alternate answer=41", Fate::Refuted),
            ("insteadof answer=41", Fate::Refuted),
        ],
    )
    .await;

    for (task, world) in &worlds {
        let head = task.head_sha.as_ref().expect("pushed");
        assert_eq!(
            world
                .sim
                .file_at(&world.repo, &head.0, "answer.txt")
                .await
                .as_deref(),
            Some("answer=41\n"),
            "what was pushed is the worker's plain file: {task:?}"
        );
    }
    teardown(worlds).await;
}

#[tokio::test]
async fn changing_what_judges_the_change_never_lands() {
    let worlds = assert_fates(
        BuildGate::Runs,
        &[
            ("filter answer=41", Fate::NeedsPerson),
            ("rewrite-check answer=41", Fate::NeedsPerson),
            ("mcp-config answer=42", Fate::NeedsPerson),
        ],
    )
    .await;
    teardown(worlds).await;
}

#[tokio::test]
async fn a_deleted_or_weakened_test_is_refuted() {
    let worlds = assert_fates(
        BuildGate::Runs,
        &[
            ("delete-test answer=41", Fate::Refuted),
            ("weaken-test answer=41", Fate::Refuted),
        ],
    )
    .await;
    teardown(worlds).await;
}

#[tokio::test]
async fn a_loud_summary_lands_without_closing_mentioning_or_leaking() {
    let worlds = assert_fates(BuildGate::Runs, &[("loud-summary answer=42", Fate::Merged)]).await;

    let (task, world) = &worlds[0];
    let pull = world
        .client()
        .await
        .get_pull(&world.repo, task.pr.expect("a pull request"))
        .await
        .expect("the pull request");
    let encoded = "Z2hzX1I3a1EybVp4OUxwVjRuV2M4VHlCM3NIZDZGaksxYUdlMHVObw==";
    for (what, text) in [
        ("the token", encoded),
        ("a mention", "@alice"),
        ("a closing keyword", "Closes #1"),
    ] {
        assert!(
            !pull.body.contains(text),
            "{what} reached the PR body:\n{}",
            pull.body
        );
    }
    teardown(worlds).await;
}

#[tokio::test]
async fn a_command_a_reviewer_runs_apart_cannot_reach_the_reviewer_and_its_answer_comes_back() {
    let world = hostile_world(BuildGate::Absent, "agents/separation-reviewer.sh").await;
    let (issue, _, tasks) = world
        .dispatch_until_run_ends("plain answer=42", "Set the answer.")
        .await;
    let task = &tasks[0];
    let head = task.head_sha.as_ref().expect("pushed");
    let verdict = world
        .flotilla
        .store
        .verdicts(task.id, head)
        .await
        .expect("verdicts")
        .into_iter()
        .find(|v| v.name == "runs")
        .expect("the lens answered");
    assert_eq!(
        verdict.summary, "flotilla-run kept every promise.",
        "{verdict:?}"
    );
    assert_eq!(fate(&world, issue, task), Fate::Merged);
    world.teardown().await;
}

#[tokio::test]
async fn a_command_still_running_when_its_reviewer_leaves_is_stopped_and_its_checkout_removed() {
    let world = hostile_world(BuildGate::Absent, "agents/leaving-reviewer.sh").await;
    let (issue, _, tasks) = world
        .dispatch_until_run_ends("plain answer=42", "Set the answer.")
        .await;
    assert_eq!(fate(&world, issue, &tasks[0]), Fate::Refuted);
    let verifications = world.data_dir().join("verifications");
    wait_for("the command's checkout to be removed", || async {
        let left: Vec<String> = std::fs::read_dir(&verifications)
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.contains("-run"))
                    .collect()
            })
            .unwrap_or_default();
        left.is_empty().then_some(())
    })
    .await;
    world.teardown().await;
}
