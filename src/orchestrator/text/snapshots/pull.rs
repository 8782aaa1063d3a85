//! What Flotilla says about one task on its pull request and to its worker: the body,
//! why it failed or needs a person, the review a lens posts, and the short reasons.

use insta::assert_snapshot;

use super::{dollars, gate, head, lens, redactor, refuted, run, task, upheld};
use crate::github::CheckConclusion;
use crate::orchestrator::text::reasons::{self, ConflictSeen};
use crate::orchestrator::text::{
    branch_deleted_reason, needs_human, pull_body, pull_closed_reason, refutation_feedback,
    review, task_failed,
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
    assert_snapshot!(body, @"");
}

#[test]
fn a_failed_task_shows_the_end_of_its_output() {
    let mut failed = task(2, TaskState::Failed);
    failed.attempts = 3;
    failed.last_reason = Some("the agent exited with status 1".to_owned());
    assert_snapshot!(task_failed(&run(), &failed, "panic: index out of range", &redactor()), @"");
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
    assert_snapshot!(needs_human(&run(), &stuck, &head(), &verdicts, &redactor()), @"");
}

#[test]
fn the_next_attempt_is_told_each_failed_gate_and_refuting_lens() {
    let mut build = gate(Gate::Build, GateOutcome::Failed, "`cargo test` exited with status 101");
    build.output = Some("test parser::cache ... FAILED".to_owned());
    let correctness = lens("correctness");
    let verdict = refuted();
    assert_snapshot!(refutation_feedback(&[&build], &[(&correctness, &verdict)]), @"");
}

#[test]
fn a_closed_pull_request_and_a_deleted_branch_say_who_and_what() {
    let reasons = [
        pull_closed_reason(PrNumber(21), Some(&Login("bob".to_owned()))),
        pull_closed_reason(PrNumber(21), None),
        branch_deleted_reason("flotilla/7-1", PrNumber(21)),
    ];
    assert_snapshot!(reasons.join("\n"), @"");
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
    assert_snapshot!(format!("{}\n---\n{}", draft.body, inline.join("\n")), @"");
}

#[test]
fn an_upholding_review_says_the_lens_could_not_refute() {
    let draft = review("security", &head(), &upheld(), &Diff::parse(""), 10);
    assert_snapshot!(draft.body, @"");
}

#[test]
fn every_reason_reads_as_a_short_sentence() {
    let lines = [
        reasons::check_concluded(Some(CheckConclusion::TimedOut)),
        reasons::check_concluded(None),
        reasons::status_failing(),
        reasons::required_checks_failed(&[
            ("ci/test".to_owned(), "check run concluded failure".to_owned()),
            ("lint".to_owned(), "commit status is failing".to_owned()),
        ]),
        reasons::conflicts(PrNumber(21), "main", ConflictSeen::Before),
        reasons::conflicts(PrNumber(21), "main", ConflictSeen::MergeRefused("Merge conflict")),
        reasons::conflicts(PrNumber(21), "main", ConflictSeen::AfterAnotherMerged("conflict")),
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
    assert_snapshot!(lines.join("\n"), @"");
}
