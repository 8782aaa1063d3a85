//! What Flotilla says about one task on its pull request and to its worker: the body,
//! why it failed or needs a person, the review a lens posts, and the short reasons.

use insta::assert_snapshot;

use super::{dollars, failed_build, gate, head, lens, redactor, refuted, run, task, upheld};
use crate::github::CheckConclusion;
use crate::orchestrator::text::reasons::{self, ConflictSeen};
use crate::orchestrator::text::{
    branch_deleted_reason, needs_human, pull_body, pull_closed_reason, refutation_feedback, review,
    task_failed,
};
use crate::review::diff::Diff;
use crate::review::{Gate, GateOutcome};
use crate::store::{TaskState, VerdictOutcome, VerdictRecord, VerdictSource};
use crate::types::{Login, PrNumber};

#[test]
fn a_draft_pull_request_says_what_the_task_is_and_what_the_agent_did() {
    let body = pull_body(
        &run(),
        &task(1, TaskState::Proposed),
        "Cached tokens per line.",
        "$ cargo test\n```\nok",
        &dollars(0.25),
        &redactor(),
    );
    assert_snapshot!(body, @"
    Part of #7

    Flotilla task 1 (`task-1`), attempt 1. Agents spent $0.25 (0 tokens) on this task so far.

    ### Task

    Make the parser cache its tokens.

    Expected to touch: `src/parser.rs`

    ### Agent's summary

    Cached tokens per line.

    <details><summary>Transcript excerpt</summary>

    ````text
    $ cargo test
    ```
    ok
    ````
    </details>
    ");
}

#[test]
fn a_failed_task_shows_the_end_of_its_output() {
    let mut failed = task(2, TaskState::Failed);
    failed.attempts = 3;
    failed.last_reason = Some("the agent exited with status 1".to_owned());
    assert_snapshot!(task_failed(&run(), &failed, "panic: index out of range", &redactor()), @"
    Task 2 of #7 (skip blank lines) failed after 3 attempt(s): the agent exited with status 1

    <details><summary>End of the agent's output</summary>

    ```text
    panic: index out of range
    ```
    </details>

    `/flotilla retry 2` tries it again.
    ");
}

#[test]
fn a_task_that_needs_a_person_lists_what_failed() {
    let mut stuck = task(1, TaskState::NeedsHuman);
    stuck.last_reason = Some("protected-paths: `.github/workflows/ci.yml` changed".to_owned());
    let verdicts = [
        VerdictRecord {
            kind: VerdictSource::Gate,
            name: "protected-paths".to_owned(),
            outcome: VerdictOutcome::NeedsHuman,
            summary: "`.github/workflows/ci.yml` | changed".to_owned(),
            detail: String::new(),
            review_id: None,
            patch_id: None,
            carried_from: None,
            output: None,
        },
        VerdictRecord {
            kind: VerdictSource::Lens,
            name: "correctness".to_owned(),
            outcome: VerdictOutcome::Upheld,
            summary: "holds".to_owned(),
            detail: String::new(),
            review_id: None,
            patch_id: None,
            carried_from: None,
            output: None,
        },
    ];
    assert_snapshot!(needs_human(&run(), &stuck, &head(), &verdicts, &redactor()), @r"
    Flotilla stopped here: task 1 of #7 needs a person. This pull request stays a draft and will not be merged automatically.

    Tried: 1 attempt(s) of 3; last verified head `0123456789abcdef0123456789abcdef01234567`.

    Why: protected-paths: `.github/workflows/ci.yml` changed

    | Part | Result | Evidence |
    |---|---|---|
    | gate `protected-paths` | needs_human | `.github/workflows/ci.yml` \| changed |

    Push a fix to `flotilla/7-1` (Flotilla verifies it again), or comment `/flotilla retry 1` on #7 to give the worker more attempts.
    ");
}

#[test]
fn the_next_attempt_is_told_each_failed_gate_and_refuting_lens() {
    let build = failed_build("test parser::cache ... FAILED");
    let correctness = lens("correctness");
    let verdict = refuted();
    assert_snapshot!(refutation_feedback(&[&build], &[(&correctness, &verdict)]), @"
    verification refuted the previous change.
    - gate `build`: `cargo test` exited with status 101
      Output (end):
    ```text
    test parser::cache ... FAILED
    ```
    - reviewer `correctness` refuted it: The cache is never invalidated.
      - `src/parser.rs:12` [high] stale tokens after an edit
      - `src/parser.rs` [low] no test covers the cache
    Fix these on the same branch; keep what was right.
    ");
}

#[test]
fn a_closed_pull_request_and_a_deleted_branch_say_who_and_what() {
    let reasons = [
        pull_closed_reason(PrNumber(21), Some(&Login("bob".to_owned()))),
        pull_closed_reason(PrNumber(21), None),
        branch_deleted_reason("flotilla/7-1", PrNumber(21)),
    ];
    assert_snapshot!(reasons.join("\n"), @"
    pull request #21 was closed without merging by @bob
    pull request #21 was closed without merging
    branch `flotilla/7-1` was deleted, so pull request #21 cannot land
    ");
}

#[test]
fn a_refuting_review_puts_findings_on_diff_lines_inline() {
    let diff = Diff::parse(
        "diff --git a/src/parser.rs b/src/parser.rs\n--- a/src/parser.rs\n+++ b/src/parser.rs\n\
         @@ -10,2 +10,4 @@\n fn parse() {\n+    let cache = Cache::new();\n+    cache.fill();\n }\n",
    );
    let draft = review("correctness", &head(), &refuted(), &diff, 10);
    let inline: Vec<String> = draft
        .comments
        .iter()
        .map(|c| format!("{}:{} {}", c.path, c.line, c.body))
        .collect();
    assert_snapshot!(format!("{}\n---\n{}", draft.body, inline.join("\n")), @"
    <!-- flotilla:review lens=correctness sha=0123456789abcdef0123456789abcdef01234567 -->
    ### ❌ flotilla/correctness: Refuted

    The correctness reviewer refuted commit `0123456789abcdef0123456789abcdef01234567`.

    > The cache is never invalidated.

    1 finding on lines of the diff is an inline comment.

    #### Other findings

    - 🟡 **low** `src/parser.rs`: no test covers the cache
    ---
    src/parser.rs:12 🔴 **high** · flotilla/correctness

    stale tokens after an edit
    ");
}

#[test]
fn an_upholding_review_says_the_lens_could_not_refute() {
    let draft = review("security", &head(), &upheld(), &Diff::parse(""), 10);
    assert_snapshot!(draft.body, @"
    <!-- flotilla:review lens=security sha=0123456789abcdef0123456789abcdef01234567 -->
    ### ✅ flotilla/security: Upheld

    The security reviewer tried and could not refute commit `0123456789abcdef0123456789abcdef01234567`.

    > Tried edits and reloads; the cache holds.
    ");
}

#[test]
fn every_reason_reads_as_a_short_sentence() {
    let lines = [
        reasons::check_concluded(Some(CheckConclusion::TimedOut)),
        reasons::check_concluded(None),
        reasons::status_failing(),
        reasons::required_checks_failed(&[
            (
                "ci/test".to_owned(),
                "check run concluded failure".to_owned(),
            ),
            ("lint".to_owned(), "commit status is failing".to_owned()),
        ]),
        reasons::conflicts(PrNumber(21), "main", ConflictSeen::Before),
        reasons::conflicts(
            PrNumber(21),
            "main",
            ConflictSeen::MergeRefused("Merge conflict"),
        ),
        reasons::conflicts(
            PrNumber(21),
            "main",
            ConflictSeen::AfterAnotherMerged("conflict"),
        ),
        reasons::reviewer_stopped("security", "the run's budget of $1.00"),
        reasons::reviewer_failed("security", "timed out after 10m"),
        reasons::answer_unreadable("security", "no JSON object in the output"),
        reasons::answer_invalid("security", "`decision` must be upheld or refuted"),
        reasons::no_build_commands(),
        reasons::build_command_failed("cargo test", "exited with status 101"),
        reasons::build_succeeded(&["cargo build".to_owned(), "cargo test".to_owned()]),
        reasons::gate_needs_person(&gate(
            Gate::ProtectedPaths,
            GateOutcome::NeedsHuman,
            "`Makefile` changed",
        )),
        reasons::could_not_verify(&anyhow::anyhow!("fetching the head failed")),
    ];
    assert_snapshot!(lines.join("\n"), @"
    check run concluded timed_out
    check run concluded without a conclusion
    commit status is failing
    required checks failed on the previous change: `ci/test` (check run concluded failure), `lint` (commit status is failing). Make them pass on the same branch.
    #21 conflicts with `main`
    #21 conflicts with `main`; GitHub refused the merge: Merge conflict
    #21 conflicts with `main` after another task merged: conflict
    the security reviewer was stopped at the run's budget of $1.00
    the security reviewer timed out after 10m; counted as refuted
    the security reviewer's answer could not be read (no JSON object in the output); counted as refuted
    the security reviewer's answer is not a valid verdict (`decision` must be upheld or refuted); counted as refuted
    no build or test command is configured (`verify.commands`)
    `cargo test` exited with status 101
    2 command(s) succeeded: `cargo build`, `cargo test`
    protected_paths: `Makefile` changed
    Flotilla could not verify this head: fetching the head failed
    ");
}
