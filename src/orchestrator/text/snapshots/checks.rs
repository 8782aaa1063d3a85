//! The check runs Flotilla concludes, shown as GitHub shows them: conclusion, title,
//! summary, details and how many annotations.

use insta::assert_snapshot;

use super::{gate, head, refuted, upheld};
use crate::cost::Spend;
use crate::orchestrator::text::{
    CheckReport, SpentOn, check_interrupted, gates_output, lens_output, merge_group_report,
    stopped_by_budget, verification_report, verify_output,
};
use crate::review::{Gate, GateOutcome, Given};

/// A check report as one text: what a maintainer reads on the check's page.
fn shown(report: &CheckReport) -> String {
    format!(
        "conclusion: {:?}\ntitle: {}\n\n{}\n{}\nannotations: {}",
        report.conclusion,
        report.output.title,
        report.output.summary,
        report
            .output
            .text
            .as_deref()
            .map_or(String::new(), |text| format!("\n--- text\n{text}\n")),
        report.annotations.len()
    )
}

#[test]
fn a_lens_check_succeeds_when_upheld_and_fails_when_refuted() {
    let both = [
        shown(&lens_output("security", &upheld(), &Given::Here)),
        shown(&lens_output("correctness", &refuted(), &Given::CarriedFrom(head()))),
    ];
    assert_snapshot!(both.join("\n=====\n"), @"");
}

#[test]
fn the_gates_check_shows_each_gate_and_the_build_output() {
    let mut build = gate(Gate::Build, GateOutcome::Failed, "`cargo test` exited with status 101");
    build.output = Some("running 3 tests\ntest parser ... FAILED".to_owned());
    let results = [
        build,
        gate(Gate::Scope, GateOutcome::Warned, "`README.md` is outside the declared paths"),
        gate(Gate::Secrets, GateOutcome::Passed, "no credential on an added line"),
        gate(Gate::ProtectedPaths, GateOutcome::NeedsHuman, "`Makefile` changed"),
    ];
    assert_snapshot!(shown(&gates_output(&results)), @"");
}

#[test]
fn verify_is_pending_until_every_part_answered() {
    let lenses = vec![
        ("correctness".to_owned(), Some((upheld(), Given::Here))),
        ("security".to_owned(), None),
    ];
    assert_snapshot!(shown(&verify_output(&lenses, None)), @"");
}

#[test]
fn a_verification_report_holds_every_part_and_what_it_cost() {
    let lenses = vec![
        ("correctness".to_owned(), upheld(), Given::Here),
        ("security".to_owned(), upheld(), Given::Here),
    ];
    let gates = [gate(Gate::Build, GateOutcome::Passed, "1 command(s) succeeded: `make`")];
    let spent = SpentOn {
        head: Spend::default(),
        task: super::dollars(0.25),
    };
    assert_snapshot!(shown(&verification_report(&lenses, &gates, &spent)), @"");
}

#[test]
fn a_stopped_or_interrupted_verification_never_passes() {
    let all = [
        shown(&stopped_by_budget("the run's budget of $1.00 is spent")),
        shown(&check_interrupted(true)),
        shown(&check_interrupted(false)),
    ];
    assert_snapshot!(all.join("\n=====\n"), @"");
}

#[test]
fn a_merge_group_passes_only_when_every_flotilla_change_in_it_is_verified() {
    let both = [
        shown(&merge_group_report(&[])),
        shown(&merge_group_report(&["#21".to_owned(), "#22".to_owned()])),
    ];
    assert_snapshot!(both.join("\n=====\n"), @"");
}
