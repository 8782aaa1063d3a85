//! The check runs Flotilla concludes, shown as GitHub shows them: conclusion, title,
//! summary, details and how many annotations.

use insta::assert_snapshot;

use super::{failed_build, gate, head, refuted, upheld};
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
        shown(&lens_output(
            "correctness",
            &refuted(),
            &Given::CarriedFrom(head()),
        )),
    ];
    assert_snapshot!(both.join("\n=====\n"), @"
    conclusion: Success
    title: Upheld: the security reviewer could not refute the change

    | Lens | Decision | Findings |
    | --- | --- | --- |
    | security | ✅ Upheld | none |

    > Tried edits and reloads; the cache holds.

    annotations: 0
    =====
    conclusion: Failure
    title: Refuted (carried over from 0123456789ab) by the correctness reviewer (2 findings)

    | Lens | Decision | Findings |
    | --- | --- | --- |
    | correctness | ❌ Refuted (carried over from `0123456789ab`) | 2 (1 high, 1 low) |

    The correctness reviewer ran on commit `0123456789abcdef0123456789abcdef01234567`, not on this one. This head only merges a newer base into the change it judged there (the same patch-id, merged without a conflict), so its verdict is carried over; the gates and CI ran again on this head.

    > The cache is never invalidated.

    #### Findings

    - 🔴 **high** `src/parser.rs:12`: stale tokens after an edit
    - 🟡 **low** `src/parser.rs`: no test covers the cache

    annotations: 1
    ");
}

#[test]
fn the_gates_check_shows_each_gate_and_the_build_output() {
    let build = failed_build("running 3 tests\ntest parser ... FAILED");
    let results = [
        build,
        gate(
            Gate::Scope,
            GateOutcome::Warned,
            "`README.md` is outside the declared paths",
        ),
        gate(
            Gate::Secrets,
            GateOutcome::Passed,
            "no credential on an added line",
        ),
        gate(
            Gate::ProtectedPaths,
            GateOutcome::NeedsHuman,
            "`Makefile` changed",
        ),
    ];
    assert_snapshot!(shown(&gates_output(&results)), @"
    conclusion: Failure
    title: Blocked: build failed; protected_paths needs a person

    | Gate | Result | Summary |
    | --- | --- | --- |
    | build | ❌ failed | `cargo test` exited with status 101 |
    | scope | ⚠️ warned | `README.md` is outside the declared paths |
    | secrets | ✅ passed | no credential on an added line |
    | protected_paths | ❌ needs a person | `Makefile` changed |

    #### build output

    ```text
    running 3 tests
    test parser ... FAILED
    ```

    annotations: 0
    ");
}

#[test]
fn verify_is_pending_until_every_part_answered() {
    let lenses = vec![
        ("correctness".to_owned(), Some((upheld(), Given::Here))),
        ("security".to_owned(), None),
    ];
    assert_snapshot!(shown(&verify_output(&lenses, None)), @"
    conclusion: Failure
    title: Blocked: security pending; gates pending

    | Check | Result | Summary |
    | --- | --- | --- |
    | flotilla/correctness | ✅ Upheld | Tried edits and reloads; the cache holds. |
    | flotilla/security | ⏳ pending |  |
    | gates | ⏳ pending | |


    annotations: 0
    ");
}

#[test]
fn a_verification_report_holds_every_part_and_what_it_cost() {
    let lenses = vec![
        ("correctness".to_owned(), upheld(), Given::Here),
        ("security".to_owned(), upheld(), Given::Here),
    ];
    let gates = [gate(
        Gate::Build,
        GateOutcome::Passed,
        "1 command(s) succeeded: `make`",
    )];
    let spent = SpentOn {
        head: Spend::default(),
        task: super::dollars(0.25),
    };
    assert_snapshot!(shown(&verification_report(&lenses, &gates, &spent)), @"
    conclusion: Success
    title: Ready to merge: every lens upheld the change and every gate passed

    | Check | Result | Summary |
    | --- | --- | --- |
    | flotilla/correctness | ✅ Upheld | Tried edits and reloads; the cache holds. |
    | flotilla/security | ✅ Upheld | Tried edits and reloads; the cache holds. |
    | gate: build | ✅ passed | 1 command(s) succeeded: `make` |


    The reviewers spent $0.00 (0 tokens) on this head; the task's agents spent $0.25 (0 tokens) in all.

    --- text
    ### flotilla/correctness: Upheld: the correctness reviewer could not refute the change

    | Lens | Decision | Findings |
    | --- | --- | --- |
    | correctness | ✅ Upheld | none |

    > Tried edits and reloads; the cache holds.

    ### flotilla/security: Upheld: the security reviewer could not refute the change

    | Lens | Decision | Findings |
    | --- | --- | --- |
    | security | ✅ Upheld | none |

    > Tried edits and reloads; the cache holds.

    ### Gates: All gates passed

    | Gate | Result | Summary |
    | --- | --- | --- |
    | build | ✅ passed | 1 command(s) succeeded: `make` |

    annotations: 0
    ");
}

#[test]
fn a_stopped_or_interrupted_verification_never_passes() {
    let all = [
        shown(&stopped_by_budget("the run's budget of $1.00 is spent")),
        shown(&check_interrupted(true)),
        shown(&check_interrupted(false)),
    ];
    assert_snapshot!(all.join("\n=====\n"), @"
    conclusion: Cancelled
    title: Stopped: a budget is spent

    the run's budget of $1.00 is spent

    annotations: 0
    =====
    conclusion: Cancelled
    title: Interrupted: verifying this head again

    Flotilla stopped while this verification ran. The head is being verified again; the result will be a new `flotilla/verify` check run.

    annotations: 0
    =====
    conclusion: Neutral
    title: Interrupted: superseded

    Flotilla stopped while this verification ran. A later verification of the same head published its result in another `flotilla/verify` check run.

    annotations: 0
    ");
}

#[test]
fn a_merge_group_passes_only_when_every_flotilla_change_in_it_is_verified() {
    let both = [
        shown(&merge_group_report(&[])),
        shown(&merge_group_report(&["#21".to_owned(), "#22".to_owned()])),
    ];
    assert_snapshot!(both.join("\n=====\n"), @"
    conclusion: Success
    title: Every Flotilla change in this merge group is verified

    Each pull request in the group is either not Flotilla's or a task whose current head passed every gate and reviewer.

    annotations: 0
    =====
    conclusion: Failure
    title: 2 pull request(s) in this group are not verified

    Not verified on their current head: #21, #22.

    annotations: 0
    ");
}
