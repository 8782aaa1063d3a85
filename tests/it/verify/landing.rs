//! Landing what verification let through: red CI keeps a change out, a head that moves
//! during the merge, approvals, siblings brought up to date or in conflict, merge
//! groups.

use super::*;

#[tokio::test]
async fn red_ci_keeps_a_verified_change_out_while_green_ci_lets_its_sibling_merge() {
    let world = TestWorld::start_with_ci(Some("! grep -rq CIFAIL --exclude-dir=.git .")).await;
    // Classic protection names the required CI; the App may read it here.
    world.grant_app("administration", Access::Read);
    world.protect_main(Protection {
        required_checks: Some(vec![
            required("ci", CI_APP_ID),
            required("flotilla/verify", WORLD_APP_ID),
        ]),
        ..Protection::default()
    });
    let (issue, _, tasks) = world
        .dispatch_until_run_ends(
            "CI",
            "- [ ] ci-red edit in `red.txt`\n- [ ] Add `green.txt`\n",
        )
        .await;

    let (red, green) = (&tasks[0], &tasks[1]);
    assert_eq!(green.state, TaskState::Merged, "{green:?}");
    world.handed_to_a_person(red, Some(true)).await;
    let head = red.head_sha.clone().unwrap();
    assert_eq!(
        conclusion(&world, &head, "flotilla/verify").as_deref(),
        Some("success"),
        "the gates and reviewers upheld it; CI is what failed"
    );
    let ci = outcome(&world, red, &head, "ci").await;
    assert!(ci.starts_with("failed"), "{ci}");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_head_that_moves_during_the_merge_is_verified_again_and_merged_once() {
    let world = TestWorld::start().await;
    let merge_route = "/repos/{owner}/{repo}/pulls/{number}/merge";
    world.sim.inject_fault(Fault {
        method: Some("PUT".into()),
        route: merge_route.into(),
        times: 1,
        kind: FaultKind::Latency { millis: 1500 },
    });
    let issue = world.dispatch("Moving", "- [ ] Add `moving.txt`\n").await;
    wait_for("Flotilla's merge request to be in flight", || async {
        world
            .sim
            .api_calls()
            .contains_key(&format!("PUT {merge_route}"))
            .then_some(())
    })
    .await;
    let task = world.task_reaches(issue, TaskState::Merging).await;
    world
        .writer_pushes(
            &task.branch,
            &[("reviewed-by-hand.txt", "a maintainer's addition\n")],
            "A maintainer adds a file",
        )
        .await;

    let task = &world.sole_task_ends(issue, TaskState::Merged).await;
    assert_eq!(
        world.sim.api_calls().get(&format!("PUT {merge_route}")),
        Some(&2),
        "one merge refused for the moved head (409), one merge of the new head"
    );
    let final_head = task.head_sha.clone().unwrap();
    assert_eq!(
        conclusion(&world, &final_head, "flotilla/verify").as_deref(),
        Some("success"),
        "the maintainer's head was verified before it merged"
    );
    assert!(world.on_main("reviewed-by-hand.txt").await.is_some());
    world.teardown().await;
}

#[tokio::test]
async fn with_an_approval_required_auto_merge_waits_for_a_person_and_the_merge_is_recorded() {
    let world = TestWorld::start().await;
    // Readable protection requiring flotilla/verify from this App: auto-merge is safe.
    world.grant_app("administration", Access::Read);
    world.protect_main(Protection {
        required_checks: Some(vec![required("flotilla/verify", WORLD_APP_ID)]),
        required_approvals: Some(1),
        ..Protection::default()
    });
    let issue = world
        .dispatch("Approve", "- [ ] Add `approved.txt`\n")
        .await;

    let task = world.task_reaches(issue, TaskState::Ready).await;
    let pr = task.pr.unwrap();
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(!view.draft && view.auto_merge && !view.merged, "{view:?}");
    world.writer_approves(pr).await;

    world.sole_task_ends(issue, TaskState::Merged).await;
    assert!(world.sim.pull(&world.repo, pr).unwrap().merged);
    world.teardown().await;
}

#[tokio::test]
async fn a_sibling_behind_the_new_base_is_brought_up_to_date_and_verified_again() {
    let world = TestWorld::start().await;
    world.protect_main(Protection {
        required_checks: Some(vec![required("flotilla/verify", WORLD_APP_ID)]),
        strict: true,
        ..Protection::default()
    });
    let issue = world
        .dispatch("Pair", "- [ ] Add `first.txt`\n- [ ] Add `second.txt`\n")
        .await;

    let tasks = world.every_task_merges(issue).await;
    let mut reverified = 0;
    for task in &tasks {
        let head = task.head_sha.clone().unwrap();
        let parents = world.sim.commit_parents(&world.repo, &head.0).await;
        if parents.len() == 2 {
            reverified += 1;
            let verdicts = world.flotilla.store.verdicts(task.id, &head).await.unwrap();
            let kinds = |kind: &str| verdicts.iter().filter(|v| v.kind.as_str() == kind).count();
            assert!(
                kinds("gate") > 0,
                "the gates ran on the new head: {verdicts:?}"
            );
            assert_eq!(kinds("lens"), 3, "every lens holds on it: {verdicts:?}");
            assert_eq!(
                conclusion(&world, &head, "flotilla/verify").as_deref(),
                Some("success"),
                "the head that merges the new base in was verified"
            );
        }
    }
    assert_eq!(
        reverified, 1,
        "the task that merged second was verified on its updated head too"
    );
    world.teardown().await;
}

#[tokio::test]
async fn siblings_that_conflict_leave_the_second_to_a_person() {
    let world = TestWorld::start().await;
    let (issue, run, tasks) = world
        .dispatch_until_run_ends(
            "Clash",
            "- [ ] also-shared edit of `one.txt`\n- [ ] also-shared edit of `two.txt`\n",
        )
        .await;

    assert_eq!(run.state, RunState::Settled);
    let merged: Vec<_> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Merged)
        .collect();
    let stuck: Vec<_> = tasks
        .iter()
        .filter(|t| t.state == TaskState::NeedsHuman)
        .collect();
    assert_eq!((merged.len(), stuck.len()), (1, 1), "{tasks:?}");
    let evidence = world.handed_to_a_person(stuck[0], None).await;
    assert!(evidence.contains("conflicts"), "{evidence}");
    let issue_now = world
        .client()
        .await
        .get_issue(&world.repo, issue)
        .await
        .unwrap();
    assert_eq!(issue_now.state, IssueState::Open, "not everything merged");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_merge_group_gets_flotilla_verify_so_the_queue_never_waits() {
    let world = TestWorld::start().await;
    let issue = world.dispatch("Queue", "- [ ] Update `.mcp.json`\n").await;
    let (task, _) = world.sole_task_needs_a_person(issue).await;
    let stuck = task.pr.unwrap();
    world.verify_blocked(
        task.head_sha.as_ref().unwrap(),
        "protected_paths needs a person",
    );
    let main = world.sim.branch_sha(&world.repo, "main").await.unwrap();

    for (n, pr, expected) in [(1, PrNumber(999), "success"), (2, stuck, "failure")] {
        let mut payload = crate::support::webhook_fixture_json("merge_group.checks_requested");
        payload["merge_group"]["head_sha"] = main.0.clone().into();
        payload["merge_group"]["head_ref"] =
            format!("refs/heads/gh-readonly-queue/main/pr-{pr}-{}", main.0).into();
        payload["repository"]["full_name"] = world.repo.0.clone().into();
        payload["installation"]["id"] = 2002.into();
        let delivery = format!("merge-group-{n}");
        world
            .flotilla
            .deliver("merge_group", &delivery, payload.to_string().as_bytes())
            .await;
        world.flotilla.processed(&delivery).await;
        let runs = wait_for("flotilla/verify on the merge group", || async {
            let runs: Vec<_> = world
                .check_runs(&main)
                .into_iter()
                .filter(|c| c.name == "flotilla/verify" && c.status == "completed")
                .collect();
            (runs.len() == n).then_some(runs)
        })
        .await;
        let newest = runs.iter().max_by_key(|c| c.id).unwrap();
        assert_eq!(newest.conclusion.as_deref(), Some(expected), "{newest:?}");
    }
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn with_human_approval_required_flotilla_stops_at_ready_for_review() {
    let world = TestWorld::start().await;
    let (issue, task) = world.task_awaits_approval("Careful", "careful.txt").await;
    let pr = task.pr.unwrap();
    let view = world.sim.pull(&world.repo, pr).unwrap();
    assert!(
        !view.draft && !view.merged,
        "ready for review, not merged: {view:?}"
    );
    world
        .sim
        .merge_pr(&world.repo, pr, MergeMethod::Squash, &world.writer)
        .await
        .unwrap();

    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    assert!(task.merged_sha.is_some(), "the person's merge is recorded");
    world.teardown().await;
}
