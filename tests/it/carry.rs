//! Not paying twice for the same judgement: after a sibling merged, a pull request
//! brought up to the new base keeps its lenses' verdicts — recorded as carried over,
//! with the head the lens ran on — while the gates run again on the new head; a lens
//! that asks to (`rerun_on_base_change`), a change to the pull request's own diff, and
//! a merge of the base that was not clean run the lenses again.

use flotilla::store::{TaskRecord, TaskState, VerdictOutcome, VerdictRecord, VerdictSource};
use flotilla::types::{CommitSha, IssueNumber};

use crate::support::world::{TestWorld, WORLD_APP_ID};

/// Every lens of the scripted configuration.
const LENSES: [&str; 3] = ["correctness", "runs", "security"];

/// The verdicts recorded on a task's head, lenses and gates apart.
async fn verdicts(
    world: &TestWorld,
    task: &TaskRecord,
    head: &CommitSha,
) -> (Vec<VerdictRecord>, Vec<VerdictRecord>) {
    world
        .flotilla
        .store
        .verdicts(task.id, head)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.kind != VerdictSource::Check)
        .partition(|v| v.kind == VerdictSource::Lens)
}

/// The summary and details of Flotilla's newest completed `flotilla/verify` on `sha`.
fn verify_report(world: &TestWorld, sha: &CommitSha) -> String {
    world
        .check_runs(sha)
        .into_iter()
        .filter(|c| {
            c.name == "flotilla/verify" && c.app_id == WORLD_APP_ID && c.status == "completed"
        })
        .max_by_key(|c| c.id)
        .map(|c| {
            format!(
                "{}\n\n{}",
                c.summary.unwrap_or_default(),
                c.text.unwrap_or_default()
            )
        })
        .unwrap_or_else(|| panic!("no completed flotilla/verify on {sha}"))
}

/// With human approval required (so both pull requests wait, verified, before either
/// merges), dispatches two tasks with `extra` configuration, approves the first, and
/// returns the second as it was verified first and once more on its updated head.
async fn second_task_after_the_first_merged(
    world: &TestWorld,
    extra: &str,
) -> (IssueNumber, TaskRecord, TaskRecord) {
    world
        .set_repo_config(&world.scripted_config(&format!(
            "landing:\n  require_human_approval: true\n{extra}"
        )))
        .await;
    let issue = world
        .dispatch("Pair", "- [ ] Add `first.txt`\n- [ ] Add `second.txt`\n")
        .await;
    let tasks = world.all_tasks_reach(issue, TaskState::Ready).await;
    let (first, second) = (&tasks[0], &tasks[1]);
    world.writer_approves(first.pr.unwrap()).await;
    let before = second.head_sha.clone().unwrap();
    let after = world
        .task_moves_on(second.id, &before, TaskState::Ready)
        .await;
    let head = after.head_sha.clone().unwrap();
    let parents = world.sim.commit_parents(&world.repo, &head.0).await;
    assert_eq!(parents.first(), Some(&before), "the new base merged in");
    (issue, second.clone(), after)
}

/// Approves the task's current head and waits until every task merged.
async fn approve_and_all_merge(world: &TestWorld, issue: IssueNumber, task: &TaskRecord) {
    world.writer_approves(task.pr.unwrap()).await;
    world.every_task_merges(issue).await;
}

#[tokio::test]
async fn a_pull_request_brought_up_to_the_new_base_keeps_its_lens_verdicts_and_reruns_the_gates() {
    let world = TestWorld::start().await;
    let (issue, before, after) = second_task_after_the_first_merged(&world, "").await;
    let (judged, updated) = (
        before.head_sha.clone().unwrap(),
        after.head_sha.clone().unwrap(),
    );

    let runs = world.reviewer_runs(after.id);
    assert_eq!(
        runs.len(),
        3,
        "each lens ran once, on the first head: {runs:?}"
    );
    assert!(runs.iter().all(|(_, head)| *head == judged), "{runs:?}");
    let (first_lenses, first_gates) = verdicts(&world, &after, &judged).await;
    let (lenses, gates) = verdicts(&world, &after, &updated).await;
    assert_eq!(
        lenses.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        LENSES
    );
    for lens in &lenses {
        assert_eq!(lens.outcome, VerdictOutcome::Upheld, "{lens:?}");
        assert_eq!(lens.carried_from(), Some(judged.clone()), "{lens:?}");
        assert_eq!(lens.patch_id, first_lenses[0].patch_id, "the same change");
        assert_eq!(lens.review_id, None, "no review for a carried verdict");
    }
    assert!(first_lenses.iter().all(|v| v.carried_from.is_none()));
    assert!(lenses[0].patch_id.is_some());
    assert_eq!(
        gates.len(),
        first_gates.len(),
        "every gate ran again on the updated head"
    );
    assert!(
        gates.iter().all(|g| g.carried_from.is_none() && g.holds()),
        "{gates:?}"
    );
    let verify = verify_report(&world, &updated);
    let (table, details) = verify
        .split_once("### ")
        .expect("lens reports in the details");
    assert_eq!(
        table.matches("carried over from").count(),
        3,
        "each lens row says where it was given:\n{table}"
    );
    assert!(table.contains(&judged.0[..12]), "{table}");
    assert!(
        details.contains(&format!("`{}`", judged.0)),
        "each lens's report names the head it ran on:\n{details}"
    );
    let reviews = world.reviews(after.pr.unwrap());
    assert!(
        reviews.iter().all(|r| !r.body.contains(&updated.0)),
        "no review of the updated head for a carried verdict: {reviews:?}"
    );

    approve_and_all_merge(&world, issue, &after).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_lens_set_to_rerun_on_base_change_runs_again_while_the_others_carry_over() {
    let world = TestWorld::start().await;
    let reviewer = world.scripted_reviewer();
    let lens = |name: &str, extra: &str| {
        format!(
            "  {name}:\n    adapter: command\n    command: {reviewer}\n    time_limit: 5s\n{extra}"
        )
    };
    let reviewers = format!(
        "reviewers:\n{}{}{}",
        lens("correctness", ""),
        lens("security", ""),
        lens("runs", "    rerun_on_base_change: true\n")
    );
    let (issue, before, after) = second_task_after_the_first_merged(&world, &reviewers).await;
    let (judged, updated) = (
        before.head_sha.clone().unwrap(),
        after.head_sha.clone().unwrap(),
    );

    let on_updated: Vec<String> = world
        .reviewer_runs(after.id)
        .into_iter()
        .filter(|(_, head)| *head == updated)
        .map(|(lens, _)| lens)
        .collect();
    assert_eq!(on_updated, ["runs"]);
    let (lenses, _) = verdicts(&world, &after, &updated).await;
    let carried: Vec<(&str, Option<CommitSha>)> = lenses
        .iter()
        .map(|v| (v.name.as_str(), v.carried_from()))
        .collect();
    assert_eq!(
        carried,
        [
            ("correctness", Some(judged.clone())),
            ("runs", None),
            ("security", Some(judged.clone())),
        ]
    );
    let reviews = world.reviews(after.pr.unwrap());
    assert!(
        reviews
            .iter()
            .filter(|r| r.body.contains(&updated.0))
            .all(|r| r.body.contains("lens=runs")),
        "only the rerun lens may review the updated head: {reviews:?}"
    );
    let verify = verify_report(&world, &updated);
    let (table, _) = verify
        .split_once("### ")
        .expect("lens reports in the details");
    assert_eq!(table.matches("carried over from").count(), 2, "{table}");

    approve_and_all_merge(&world, issue, &after).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_push_that_changes_the_pull_requests_own_diff_runs_every_lens_again() {
    let world = TestWorld::start().await;
    let (issue, task) = world.task_awaits_approval("Careful", "careful.txt").await;
    let judged = task.head_sha.clone().unwrap();

    world
        .writer_pushes(
            &task.branch,
            &[("careful-too.txt", "a person's addition\n")],
            "A person adds a file",
        )
        .await;
    let task = world
        .task_moves_on(task.id, &judged, TaskState::Ready)
        .await;
    let pushed = task.head_sha.clone().unwrap();

    let on_pushed: Vec<String> = world
        .reviewer_runs(task.id)
        .into_iter()
        .filter(|(_, head)| *head == pushed)
        .map(|(lens, _)| lens)
        .collect();
    assert_eq!(on_pushed.len(), 3, "every lens ran again: {on_pushed:?}");
    let (lenses, _) = verdicts(&world, &task, &pushed).await;
    let (first, _) = verdicts(&world, &task, &judged).await;
    assert!(
        lenses.iter().all(|v| v.carried_from.is_none()),
        "{lenses:?}"
    );
    assert_ne!(lenses[0].patch_id, first[0].patch_id, "another change");
    let verify = verify_report(&world, &pushed);
    assert!(!verify.contains("carried over"), "{verify}");

    approve_and_all_merge(&world, issue, &task).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_base_update_that_conflicts_carries_nothing_and_the_persons_resolution_is_judged_afresh()
{
    let world = TestWorld::start().await;
    let issue = world
        .dispatch(
            "Clash",
            "- [ ] also-shared edit of `one.txt`\n- [ ] also-shared edit of `two.txt`\n",
        )
        .await;
    let stuck = world.task_reaches(issue, TaskState::NeedsHuman).await;
    let merged = world.task_reaches(issue, TaskState::Merged).await;
    let judged = stuck.head_sha.clone().unwrap();
    let pr = stuck.pr.unwrap();
    world
        .bot_comment_with(IssueNumber(pr.0), "needs a person")
        .await;
    assert_eq!(
        world.reviewer_runs(stuck.id).len(),
        3,
        "the conflicting update made no head to verify"
    );

    let file = |rev: String, path: &'static str| {
        let world = &world;
        async move { world.sim.file_at(&world.repo, &rev, path).await.unwrap() }
    };
    let own = |path| file(judged.0.clone(), path);
    let on_main = |path| file("main".to_owned(), path);
    let shared = format!(
        "{}{}",
        on_main("SHARED.md").await,
        own("SHARED.md")
            .await
            .lines()
            .last()
            .map(|l| format!("{l}\n"))
            .unwrap()
    );
    let touched = if stuck.title.contains("two.txt") {
        "two.txt"
    } else {
        "one.txt"
    };
    let resolved = world
        .sim
        .push_merge(
            &world.repo,
            &stuck.branch,
            &[("SHARED.md", &shared), (touched, &own(touched).await)],
            &world.writer,
        )
        .await
        .unwrap();

    world
        .task_moves_on(stuck.id, &judged, TaskState::Merged)
        .await;
    let (_, tasks) = world.run_ends(issue).await;
    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "{tasks:?} (first merged: {})",
        merged.id
    );
    let on_resolved = world
        .reviewer_runs(stuck.id)
        .into_iter()
        .filter(|(_, head)| *head == resolved)
        .count();
    assert_eq!(on_resolved, 3, "every lens judged the resolution");
    let (lenses, _) = verdicts(&world, &stuck, &resolved).await;
    assert!(
        lenses.iter().all(|v| v.carried_from.is_none()),
        "{lenses:?}"
    );
    world
        .bot_comments_are(IssueNumber(pr.0), &["conflicts with `main`"])
        .await;
    world.teardown().await;
}

#[tokio::test]
async fn a_sibling_whose_lenses_are_still_running_when_another_merges_is_not_updated_under_them() {
    let world = TestWorld::start().await;
    world
        .set_repo_config(
            &world.scripted_config(
                "reviewers:\n  correctness:\n    adapter: command\n    command: REVIEWER\n    \
             time_limit: 30s\n  security:\n    adapter: command\n    command: REVIEWER\n    \
             time_limit: 30s\n  runs:\n    adapter: command\n    command: REVIEWER\n    \
             time_limit: 30s\n"
                    .replace("REVIEWER", &world.scripted_reviewer())
                    .as_str(),
            ),
        )
        .await;
    let issue = world
        .dispatch(
            "Pair",
            "- [ ] Add `first.txt`\n- [ ] reviewer-waits: add `second.txt`\n",
        )
        .await;
    let first = world.task_reaches(issue, TaskState::Merged).await;
    std::fs::write(world.agent_record().join("release"), "").unwrap();

    let tasks = world.every_task_merges(issue).await;
    let second = tasks.iter().find(|t| t.id != first.id).unwrap();
    let lenses: Vec<String> = world
        .reviewer_runs(second.id)
        .into_iter()
        .map(|(lens, _)| lens)
        .collect();
    assert_eq!(
        lenses.len(),
        3,
        "each lens judged the change once; the base merged in later carried them: {lenses:?}"
    );
    world.teardown().await;
}
