//! Verification and landing end to end on the simulator: every draft pull request is
//! checked by the gates and by reviewer lenses that try to refute it, the verdict is
//! published as reviews and check runs, refuted work goes back to its worker, and only
//! what holds — with CI green — is merged, one merge at a time.

mod landing;

use flotilla::github::IssueState;
use flotilla::orchestrator::NEEDS_HUMAN_LABEL;
use flotilla::sim::{
    Access, CI_APP_ID, CheckRun, Fault, FaultKind, MergeMethod, Protection, ReviewView,
};
use flotilla::store::{RunState, TaskRecord, TaskState};
use flotilla::types::{CommitSha, IssueNumber, PrNumber};

use crate::support::wait_for;
use crate::support::world::{GATES, LENSES, REVIEWER_APP_SLUG, TestWorld, WORLD_APP_ID, required};

/// The conclusion of Flotilla's newest check run `name` on `sha`.
fn conclusion(world: &TestWorld, sha: &CommitSha, name: &str) -> Option<String> {
    world.flotilla_check(sha, name).and_then(|c| c.conclusion)
}

/// The recorded outcome of a lens, gate or check on a task's head, with its summary
/// and details.
async fn outcome(world: &TestWorld, task: &TaskRecord, head: &CommitSha, name: &str) -> String {
    world
        .flotilla
        .store
        .verdicts(task.id, head)
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.name == name)
        .map(|v| format!("{}: {} {}", v.outcome, v.summary, v.detail))
        .unwrap_or_else(|| panic!("no verdict {name} on {head}"))
}

/// The head a review by Flotilla judged, read from the marker that opens it.
fn reviewed_head(review: &ReviewView) -> CommitSha {
    let sha = review
        .body
        .split_once(" sha=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a review marker naming its head: {}", review.body));
    CommitSha(sha.to_owned())
}

/// With two attempts allowed, dispatches one task whose first change the scripted
/// reviewer refutes (a WRONG line in `file`) and returns it once the run ended, after
/// checking the first head was blocked by the refuting lens and the retry merged.
async fn refuted_once_then_merged(world: &TestWorld, file: &str) -> TaskRecord {
    world
        .set_repo_config(&world.scripted_config("max_attempts: 2\n"))
        .await;
    let issue = world
        .dispatch("Answer", &format!("- [ ] wrong-first answer in `{file}`\n"))
        .await;
    let task = world.sole_task_ends(issue, TaskState::Merged).await;
    assert_eq!(task.attempts, 2);
    let refuting = world.lens_refuted(task.pr.unwrap(), "correctness");
    let first = reviewed_head(&refuting);
    assert_ne!(
        Some(&first),
        task.head_sha.as_ref(),
        "the retry is a new head"
    );
    world.verify_blocked(&first, "correctness refuted");
    task
}

#[tokio::test]
async fn a_change_that_holds_gets_one_check_run_with_every_lens_and_gate_and_merges() {
    let world = TestWorld::start().await;
    let (issue, run, tasks) = world
        .dispatch_until_run_ends("Tidy", "- [ ] Add `tidy.txt`\n")
        .await;

    assert_eq!(run.state, RunState::Settled);
    let task = &tasks[0];
    assert_eq!(task.state, TaskState::Merged, "{task:?}");
    let head = task.head_sha.clone().unwrap();
    let ours: Vec<CheckRun> = world
        .check_runs(&head)
        .into_iter()
        .filter(|c| c.app_id == WORLD_APP_ID)
        .collect();
    assert_eq!(ours.len(), 1, "one check run per head: {ours:?}");
    let verify = &ours[0];
    assert_eq!(verify.name, "flotilla/verify");
    assert_eq!(verify.conclusion.as_deref(), Some("success"), "{verify:?}");
    let summary = verify.summary.clone().unwrap_or_default();
    let text = verify.text.clone().unwrap_or_default();
    for lens in LENSES {
        assert!(
            summary.contains(&format!("| flotilla/{lens} | ✅ Upheld |")),
            "each lens is a row of the summary: {summary}"
        );
        assert!(
            text.contains(&format!("### flotilla/{lens}: Upheld")),
            "and has its report in the text: {text}"
        );
    }
    assert!(text.contains("### Gates: All gates passed"), "{text}");
    let reviews = world.reviews(task.pr.unwrap());
    assert!(
        reviews.is_empty(),
        "lenses that upheld with nothing found are rows of the check run, not reviews: {reviews:?}"
    );
    for gate in GATES {
        let result = outcome(&world, task, &head, gate).await;
        assert!(result.starts_with("passed"), "{gate}: {result}");
    }
    let pr = world.sim.pull(&world.repo, task.pr.unwrap()).unwrap();
    assert!(pr.merged && !pr.auto_merge, "{pr:?}");
    let calls = world.sim.api_calls();
    assert_eq!(
        calls.get("PUT /repos/{owner}/{repo}/pulls/{number}/merge"),
        Some(&1),
        "GitHub said the PR was in clean status, so Flotilla merged through REST once: {calls:?}"
    );
    let issue_now = world
        .client()
        .await
        .get_issue(&world.repo, issue)
        .await
        .unwrap();
    assert_eq!(issue_now.state, IssueState::Closed);
    world.teardown().await;
}

#[tokio::test]
async fn a_refuted_change_goes_back_to_its_worker_with_the_findings_and_then_merges() {
    let world = TestWorld::start().await;

    let task = &refuted_once_then_merged(&world, "answer.txt").await;

    let reviews = world.reviews(task.pr.unwrap());
    assert_eq!(
        reviews.len(),
        3,
        "three lenses refuted the first head; the second, upheld with nothing found, gets none: {reviews:?}"
    );
    let refuting = reviews
        .iter()
        .find(|r| r.body.contains("lens=correctness") && !r.comments.is_empty())
        .expect("the first head's review carries an inline comment");
    assert_eq!(refuting.comments[0].0, "answer.txt");
    assert_eq!(refuting.comments[0].1, 1);
    let prompt =
        std::fs::read_to_string(world.agent_record().join(format!("prompt-{}", task.id))).unwrap();
    assert!(
        prompt.contains("This line says WRONG") && prompt.contains("answer.txt"),
        "the retry's prompt carries the findings: {prompt}"
    );
    let answer = world.on_main("answer.txt").await.unwrap();
    assert!(
        answer.contains("FIXED") && !answer.contains("WRONG"),
        "{answer}"
    );
    world.teardown().await;
}

#[tokio::test]
async fn a_reviewer_that_prints_garbage_has_refuted_the_change_and_a_retry_gets_the_same() {
    let world = TestWorld::start().await;
    let issue = world
        .dispatch("Noise", "- [ ] reviewer-noise in `noise.txt`\n")
        .await;

    let (task, evidence) = &world.sole_task_needs_a_person(issue).await;
    let head = task.head_sha.clone().unwrap();
    let verdict = outcome(&world, task, &head, "security").await;
    assert!(
        verdict.starts_with("refuted") && verdict.contains("counted as refuted"),
        "{verdict}"
    );
    assert!(evidence.contains("refuted"), "{evidence}");
    assert_eq!(
        conclusion(&world, &head, "flotilla/verify").as_deref(),
        Some("failure")
    );
    let review = world.lens_refuted(task.pr.unwrap(), "security");
    assert!(review.body.contains(&head.0), "{review:?}");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;

    world.comment(issue, "/flotilla retry").await;

    world.bot_comment_with(issue, "queued again").await;
    let pr = task.pr.unwrap();
    let retried = wait_for("the retried task to need a person again", || async {
        let task = world.task_reaches(issue, TaskState::NeedsHuman).await;
        (task.attempts == 2).then_some(task)
    })
    .await;
    assert_ne!(
        retried.head_sha, task.head_sha,
        "the retry pushed a new head"
    );
    wait_for("one evidence comment per head", || async {
        let evidence = world
            .bot_comments(IssueNumber(pr.0))
            .into_iter()
            .filter(|c| c.contains("needs a person"))
            .count();
        (evidence == 2).then_some(())
    })
    .await;
    let new_head = retried.head_sha.clone().unwrap();
    world.verify_blocked(&new_head, "security refuted");
    let again = world.lens_refuted(pr, "security");
    assert!(
        again.body.contains(&new_head.0),
        "the retry's head is refuted the same way: {again:?}"
    );
    assert_eq!(
        world
            .sim
            .api_calls()
            .get("DELETE /repos/{owner}/{repo}/issues/{number}/labels/{name}"),
        Some(&1),
        "the retry took the label off"
    );
    let labels = world.sim.pull(&world.repo, pr).unwrap().labels;
    assert!(
        labels.iter().any(|l| l == NEEDS_HUMAN_LABEL),
        "labelled again: {labels:?}"
    );
    world.run_ends(issue).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_reviewer_that_hangs_is_stopped_and_has_refuted_the_change() {
    let world = TestWorld::start().await;
    let extra = format!(
        "reviewers:\n  correctness:\n    adapter: command\n    command: {}\n    time_limit: 1s\n",
        world.scripted_reviewer()
    );
    world.set_repo_config(&world.scripted_config(&extra)).await;
    let issue = world
        .dispatch("Slow", "- [ ] reviewer-stall over `slow.txt`\n")
        .await;

    let (task, _) = &world.sole_task_needs_a_person(issue).await;
    let head = task.head_sha.clone().unwrap();
    let verdict = outcome(&world, task, &head, "correctness").await;
    assert!(
        verdict.starts_with("refuted") && verdict.contains("time limit"),
        "{verdict}"
    );
    world.verify_blocked(&head, "correctness refuted");
    let review = world.lens_refuted(task.pr.unwrap(), "correctness");
    assert!(review.body.contains(&head.0), "{review:?}");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_change_to_agent_instructions_needs_a_person_without_a_retry() {
    let world = TestWorld::start().await;
    world
        .set_repo_config(&world.scripted_config("max_attempts: 3\n"))
        .await;
    let issue = world.dispatch("Rules", "- [ ] Update `AGENTS.md`\n").await;

    let (task, evidence) = &world.sole_task_needs_a_person(issue).await;
    assert_eq!(
        task.attempts, 1,
        "no retry can make a protected path mergeable"
    );
    let head = task.head_sha.clone().unwrap();
    let gate = outcome(&world, task, &head, "protected_paths").await;
    assert!(
        gate.starts_with("needs_human") && gate.contains("AGENTS.md"),
        "{gate}"
    );
    world.verify_blocked(&head, "protected_paths needs a person");
    assert!(evidence.contains("protected_paths"), "{evidence}");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_change_to_a_script_the_base_makefile_runs_needs_a_person_without_a_retry() {
    let world = TestWorld::start().await;
    world
        .writer_pushes(
            "main",
            &[
                ("Makefile", "check:\n\tsh tools/check.sh\n"),
                ("tools/check.sh", "exit 0\n"),
            ],
            "Add the checks",
        )
        .await;
    world
        .set_repo_config(
            &world.scripted_config("max_attempts: 3\nverify:\n  commands:\n    - make check\n"),
        )
        .await;
    let issue = world
        .dispatch("Checks", "- [ ] Relax `tools/check.sh`\n")
        .await;

    let (task, _) = &world.sole_task_needs_a_person(issue).await;
    assert_eq!(
        task.attempts, 1,
        "no retry can make the judge's script mergeable"
    );
    let head = task.head_sha.clone().unwrap();
    let gate = outcome(&world, task, &head, "protected_paths").await;
    assert!(
        gate.starts_with("needs_human")
            && gate.contains("`tools/check.sh` is run by `verify.commands` (`make check`)"),
        "read from the Makefile at the base: {gate}"
    );
    world.verify_blocked(&head, "protected_paths needs a person");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_secret_in_the_diff_never_merges_until_a_person_pushes_a_fix() {
    let world = TestWorld::start().await;
    let issue = world
        .dispatch("Config", "- [ ] leaks-secret into `settings.txt`\n")
        .await;

    let (task, _) = &world.sole_task_needs_a_person(issue).await;
    let head = task.head_sha.clone().unwrap();
    let gate = outcome(&world, task, &head, "secrets").await;
    assert!(gate.starts_with("failed"), "{gate}");
    let verify = world.flotilla_check(&head, "flotilla/verify").unwrap();
    assert_eq!(verify.conclusion.as_deref(), Some("failure"));
    assert!(
        verify
            .title
            .as_deref()
            .unwrap_or_default()
            .contains("secrets failed"),
        "{verify:?}"
    );
    assert!(
        !verify.annotations.is_empty(),
        "the line is annotated: {verify:?}"
    );
    let main = world.on_main("settings.txt").await;
    assert_eq!(main, None, "nothing reached main");
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;

    world
        .writer_pushes(
            &task.branch,
            &[("settings.txt", "region = eu-west-1\n")],
            "Drop the key; it belongs in the vault",
        )
        .await;

    let task = world.task_reaches(issue, TaskState::Merged).await;
    let pr = world.sim.pull(&world.repo, task.pr.unwrap()).unwrap();
    assert!(
        !pr.labels.iter().any(|l| l == NEEDS_HUMAN_LABEL),
        "the person's fix took the label off: {pr:?}"
    );
    let main = world.on_main("settings.txt").await;
    assert_eq!(main.as_deref(), Some("region = eu-west-1\n"));
    world.run_ends(issue).await;
    world.teardown().await;
}

#[tokio::test]
async fn re_run_and_re_verify_verify_the_head_again_without_a_second_review() {
    // The reviewer App reviews every verdict, upheld ones too.
    let world = TestWorld::start_with_reviewer_app().await;
    let issue = world
        .dispatch("Guarded", "- [ ] Update `CLAUDE.md`\n")
        .await;
    let (task, _) = &world.sole_task_needs_a_person(issue).await;
    let head = task.head_sha.clone().unwrap();
    let verify = world.flotilla_check(&head, "flotilla/verify").unwrap();

    let completed_verify_runs = |n: usize| {
        let world = &world;
        let head = &head;
        async move {
            let runs = world
                .check_runs(head)
                .into_iter()
                .filter(|c| c.name == "flotilla/verify" && c.status == "completed")
                .count();
            (runs == n).then_some(())
        }
    };

    world
        .sim
        .rerequest_check_run(&world.repo, verify.id, &world.writer)
        .unwrap();
    wait_for("a second flotilla/verify run on the head", || {
        completed_verify_runs(2)
    })
    .await;
    world
        .sim
        .request_check_run_action(&world.repo, verify.id, "reverify", &world.writer)
        .unwrap();
    wait_for(
        "a third flotilla/verify run, from the Re-verify button",
        || completed_verify_runs(3),
    )
    .await;
    let reviews = world.reviews(task.pr.unwrap());
    assert_eq!(reviews.len(), 3, "no duplicate review for the same head");
    let task = world.task_reaches(issue, TaskState::NeedsHuman).await;
    assert_eq!(task.head_sha.as_ref(), Some(&head));
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}

#[tokio::test]
async fn a_separate_reviewer_app_approves_what_holds_and_requests_changes_on_what_does_not() {
    let world = TestWorld::start_with_reviewer_app().await;

    let task = &refuted_once_then_merged(&world, "reviewed.txt").await;

    let reviews = world.reviews(task.pr.unwrap());
    assert_eq!(reviews.len(), 6, "{reviews:?}");
    assert!(
        reviews
            .iter()
            .all(|r| r.user.0 == format!("{REVIEWER_APP_SLUG}[bot]")),
        "the reviews come from the reviewer App: {reviews:?}"
    );
    let head = task.head_sha.clone().unwrap();
    for review in &reviews {
        let expected = if review.body.contains(&head.0) {
            "APPROVED"
        } else {
            "CHANGES_REQUESTED"
        };
        assert_eq!(
            review.state, expected,
            "the first head was refuted: {review:?}"
        );
    }
    world.teardown().await;
}

#[tokio::test]
async fn more_than_fifty_findings_reach_the_check_run_and_the_review_keeps_its_cap() {
    let world = TestWorld::start().await;
    let issue = world
        .dispatch("Many", "- [ ] many-wrong lines in `many.txt`\n")
        .await;

    let (task, _) = &world.sole_task_needs_a_person(issue).await;
    let head = task.head_sha.clone().unwrap();
    let verify = world.flotilla_check(&head, "flotilla/verify").unwrap();
    assert_eq!(
        verify.annotations.len(),
        300,
        "every finding kept (100 of 120 per lens, three lenses) is annotated, 50 per request: {verify:?}"
    );
    let reviews = world.reviews(task.pr.unwrap());
    let review = reviews
        .iter()
        .find(|r| r.body.contains("lens=correctness"))
        .unwrap();
    assert_eq!(review.comments.len(), 20, "the default inline cap");
    assert!(
        review.body.contains("many.txt:21"),
        "the rest are listed in the body"
    );
    world.bot_comments_are(issue, &["### Flotilla plan"]).await;
    world.teardown().await;
}
