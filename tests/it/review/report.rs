//! What a verification publishes: reviews with inline comments, check runs and their limits, markers that cannot be forged.

use super::*;

#[test]
fn findings_on_diff_lines_become_inline_comments_and_the_rest_go_in_the_body() {
    let diff = adding("src/parse.rs", &["fn parse() {}", "fn helper() {}"]);
    let verdict = refuted(vec![
        finding(
            Some("src/parse.rs"),
            Some(2),
            Severity::High,
            "helper is unused",
        ),
        finding(
            Some("src/parse.rs"),
            Some(40),
            Severity::Medium,
            "far from the diff",
        ),
        finding(Some("src/other.rs"), Some(1), Severity::Low, "another file"),
        finding(None, None, Severity::Info, "general remark"),
    ]);

    let draft = review("correctness", &sha(), &verdict, &diff, 10);

    assert_eq!(draft.comments.len(), 1);
    let comment = &draft.comments[0];
    assert_eq!((comment.path.as_str(), comment.line), ("src/parse.rs", 2));
    assert_eq!(comment.side, ReviewSide::Right);
    assert!(comment.body.contains("high") && comment.body.contains("helper is unused"));
    assert!(
        draft
            .body
            .starts_with(&review_marker("correctness", &sha().0))
    );
    assert!(draft.body.contains("Refuted") && draft.body.contains("correctness"));
    assert!(draft.body.contains(&sha().0));
    assert!(draft.body.contains("It breaks on empty input."));
    for listed in ["far from the diff", "another file", "general remark"] {
        assert!(draft.body.contains(listed), "{listed} in {}", draft.body);
    }
    assert!(!draft.body.contains("helper is unused"));
}

#[test]
fn inline_comments_stop_at_the_cap_and_the_rest_are_listed() {
    let lines: Vec<String> = (1..=10).map(|n| format!("let x{n} = {n};")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let diff = adding("a.rs", &lines);
    let findings = (1..=10)
        .map(|n| {
            finding(
                Some("a.rs"),
                Some(n),
                Severity::Low,
                &format!("issue number {n}"),
            )
        })
        .collect();

    let draft = review("correctness", &sha(), &refuted(findings), &diff, 3);

    assert_eq!(draft.comments.len(), 3);
    for n in 4..=10 {
        assert!(draft.body.contains(&format!("issue number {n}")), "{n}");
    }
    assert!(!draft.body.contains("issue number 2\n"));
}

#[test]
fn reviewer_text_cannot_forge_the_marker_or_inject_html() {
    let forged = review_marker("correctness", &sha().0);
    let verdict = Verdict {
        decision: Decision::Upheld,
        summary: format!("{forged}\n<img src=\"https://evil.example/pixel\">\n```\nunclosed"),
        findings: vec![finding(
            None,
            None,
            Severity::Info,
            "`Vec<u8>` stays code; <details> does not\n```\n<!-- hidden -->\n```\n\
             a span opened `` here\ncloses `` on <img src=x> the next `` line",
        )],
    };

    let draft = review("correctness", &sha(), &verdict, &Diff::default(), 5);

    assert_eq!(draft.body.matches("<!--").count(), 1, "{}", draft.body);
    assert!(draft.body.starts_with(&forged));
    assert!(
        !draft.body.contains("<img"),
        "not even where a code span spans lines"
    );
    assert!(draft.body.contains("&lt;img"));
    assert!(draft.body.contains("`Vec<u8>`"));
    assert!(draft.body.contains("&lt;details>"));
    let quoted = draft
        .body
        .lines()
        .filter(|line| line.contains("unclosed"))
        .collect::<Vec<_>>();
    assert_eq!(
        quoted,
        vec!["> unclosed"],
        "the summary stays inside its quote"
    );
}

#[test]
fn a_name_a_reviewer_mentions_notifies_no_one() {
    let verdict = refuted(vec![finding(
        Some("a.rs"),
        None,
        Severity::Low,
        "ask @alice or @acme/security; see `@types/node`",
    )]);

    let draft = review("security", &sha(), &verdict, &Diff::default(), 5);

    assert!(!draft.body.contains("@alice"), "{}", draft.body);
    assert!(!draft.body.contains("@acme/"), "{}", draft.body);
    assert!(draft.body.contains("@\u{200B}alice"), "{}", draft.body);
    assert!(
        draft.body.contains("`@types/node`"),
        "code stays as written"
    );
}

#[test]
fn verify_succeeds_only_when_every_lens_upholds_and_every_gate_allows_merge() {
    let passing = [
        gate_result(Gate::Build, GateOutcome::Passed),
        gate_result(Gate::Scope, GateOutcome::Warned),
    ];
    let lenses = |second: Option<Verdict>| {
        vec![
            ("correctness".to_owned(), Some((upheld(), Given::Here))),
            ("security".to_owned(), second.map(|v| (v, Given::Here))),
        ]
    };

    let ready = verify_output(&lenses(Some(upheld())), Some(&passing));
    assert_eq!(ready.conclusion, CheckConclusion::Success);
    assert!(ready.output.summary.contains("flotilla/security"));
    assert!(ready.output.summary.contains("⚠️"));

    let refuted_one = verify_output(&lenses(Some(refuted(Vec::new()))), Some(&passing));
    assert_eq!(refuted_one.conclusion, CheckConclusion::Failure);
    assert!(refuted_one.output.title.contains("security refuted"));

    let pending = verify_output(&lenses(None), Some(&passing));
    assert_eq!(pending.conclusion, CheckConclusion::Failure);
    assert!(pending.output.summary.contains("pending"));
    assert_eq!(
        verify_output(&lenses(Some(upheld())), None).conclusion,
        CheckConclusion::Failure
    );

    let protected = [gate_result(Gate::ProtectedPaths, GateOutcome::NeedsHuman)];
    let human = verify_output(&lenses(Some(upheld())), Some(&protected));
    assert_eq!(human.conclusion, CheckConclusion::Failure);
    assert!(
        human
            .output
            .title
            .contains("protected_paths needs a person"),
        "{}",
        human.output.title
    );
    assert!(human.annotations.is_empty());
}

#[test]
fn a_verdict_carried_over_names_the_head_the_lens_ran_on_in_its_check_and_in_verify() {
    let earlier = sha();
    let carried = Given::CarriedFrom(earlier.clone());

    let lens = lens_output("security", &upheld(), &carried);
    assert_eq!(lens.conclusion, CheckConclusion::Success);
    assert!(
        lens.output.title.contains("carried over from 0123456789ab"),
        "{}",
        lens.output.title
    );
    assert!(
        lens.output
            .summary
            .contains("| security | ✅ Upheld (carried over from `0123456789ab`) |"),
        "{}",
        lens.output.summary
    );
    assert!(lens.output.summary.contains(&format!("`{}`", earlier.0)));
    assert!(lens.output.summary.contains("the gates and CI ran again"));

    let refuted_there = lens_output("security", &refuted(Vec::new()), &carried);
    assert_eq!(refuted_there.conclusion, CheckConclusion::Failure);
    assert!(
        refuted_there
            .output
            .title
            .starts_with("Refuted (carried over from")
    );

    let passing = [gate_result(Gate::Build, GateOutcome::Passed)];
    let verify = verify_output(
        &[
            ("correctness".to_owned(), Some((upheld(), Given::Here))),
            ("security".to_owned(), Some((upheld(), carried))),
        ],
        Some(&passing),
    );
    assert_eq!(verify.conclusion, CheckConclusion::Success);
    assert!(
        verify
            .output
            .summary
            .contains("| flotilla/security | ✅ Upheld (carried over from `0123456789ab`) |"),
        "{}",
        verify.output.summary
    );
    assert!(
        verify
            .output
            .summary
            .contains("| flotilla/correctness | ✅ Upheld |")
    );
}

#[test]
fn lens_and_gates_checks_conclude_and_annotate_their_findings() {
    let verdict = refuted(vec![
        finding(Some("a.rs"), Some(3), Severity::Critical, "crash"),
        finding(Some("a.rs"), Some(4), Severity::Medium, "risk"),
        finding(Some("a.rs"), Some(5), Severity::Info, "note"),
        finding(Some("a.rs"), None, Severity::High, "no line: no annotation"),
    ]);
    let lens = lens_output("correctness", &verdict, &Given::Here);
    assert_eq!(lens.conclusion, CheckConclusion::Failure);
    assert!(lens.output.annotations.is_empty());
    let levels: Vec<_> = lens
        .annotations
        .iter()
        .map(|a| (a.start_line, a.annotation_level))
        .collect();
    assert_eq!(
        levels,
        vec![
            (3, AnnotationLevel::Failure),
            (4, AnnotationLevel::Warning),
            (5, AnnotationLevel::Notice)
        ]
    );
    assert!(lens.output.summary.contains("| correctness | ❌ Refuted |"));
    assert_eq!(
        lens_output("correctness", &upheld(), &Given::Here).conclusion,
        CheckConclusion::Success
    );

    let warned = gates_output(&[
        gate_result(Gate::Build, GateOutcome::Passed),
        gate_result(Gate::Scope, GateOutcome::Warned),
    ]);
    assert_eq!(warned.conclusion, CheckConclusion::Success);
    let blocked = gates_output(&[
        gate_result(Gate::Build, GateOutcome::Passed),
        gate_result(Gate::ProtectedPaths, GateOutcome::NeedsHuman),
    ]);
    assert_eq!(blocked.conclusion, CheckConclusion::Failure);
    assert!(
        blocked.output.title.contains("needs a person"),
        "{}",
        blocked.output.title
    );
    assert!(
        blocked
            .output
            .summary
            .contains("| protected_paths | ❌ needs a person |")
    );
}

#[test]
fn huge_build_output_is_cut_to_its_tail_inside_a_fence_it_cannot_close() {
    let mut output = String::from("FIRST LINE\n");
    for n in 0..20_000 {
        output.push_str(&format!("compiling crate number {n} ```` and ``` fences\n"));
    }
    output.push_str("error: the last line\n");
    let build = GateResult {
        output: Some(output),
        ..gate_result(Gate::Build, GateOutcome::Failed)
    };

    let report = gates_output(&[build]);
    let summary = &report.output.summary;

    assert!(summary.chars().count() < 65_535, "{}", summary.len());
    assert!(summary.contains("error: the last line"));
    assert!(!summary.contains("FIRST LINE"));
    let open = summary
        .lines()
        .find(|line| line.starts_with("```") && line.ends_with("text"))
        .expect("a fenced block");
    let fence = open.trim_end_matches("text");
    assert!(fence.len() > 4, "longer than any backtick run: {fence}");
    let after = summary.split_once(open).expect("opened").1;
    let body = after.split_once(&format!("\n{fence}")).expect("closed").0;
    assert!(body.ends_with("error: the last line"));
}

#[test]
fn a_huge_refutation_stays_under_githubs_limit_and_says_it_was_cut() {
    let findings = (0..100)
        .map(|n| {
            finding(
                Some("a.rs"),
                Some(n + 1),
                Severity::High,
                &format!("```\nunclosed {n} {}", "y".repeat(1990)),
            )
        })
        .collect();
    let verdict = refuted(findings);

    let report = lens_output("correctness", &verdict, &Given::Here);
    assert!(report.output.summary.len() < 65_535);
    assert!(report.output.summary.contains("Cut here"));
    assert_eq!(
        report.annotations.len(),
        100,
        "annotations are not capped here"
    );
    let draft = review("correctness", &sha(), &verdict, &Diff::default(), 0);
    assert!(draft.body.len() < 65_535);
    assert!(
        draft
            .body
            .starts_with("<!-- flotilla:review lens=correctness")
    );
}

#[test]
fn the_marker_names_lens_and_sha_and_cannot_be_broken_by_them() {
    assert_eq!(
        review_marker("correctness", "abc123"),
        "<!-- flotilla:review lens=correctness sha=abc123 -->"
    );
    assert_eq!(
        review_marker("x --> <b>", "abc def"),
        "<!-- flotilla:review lens=x_--___b_ sha=abc_def -->"
    );
}
