//! Reading a reviewer's answer as a verdict.

use super::*;

#[test]
fn a_valid_answer_becomes_a_verdict() {
    let upheld = verdict::parse(&json!({
        "verdict": "upheld", "summary": "Ran the tests; all pass.", "findings": [], "confidence": 0.9
    }))
    .expect("valid");
    assert_eq!(upheld.decision, Decision::Upheld);
    assert_eq!(upheld.summary, "Ran the tests; all pass.");

    let refuted = verdict::parse(&json!({
        "verdict": "refuted",
        "summary": "Empty input panics.",
        "findings": [
            {"path": "src/parse.rs", "line": 12, "severity": "HIGH", "message": "unwrap on None", "extra": 1},
            {"path": null, "severity": "info", "message": "docs could mention it"}
        ]
    }))
    .expect("valid");
    assert_eq!(refuted.decision, Decision::Refuted);
    assert_eq!(
        refuted.findings,
        vec![
            Finding {
                path: Some("src/parse.rs".to_owned()),
                line: Some(12),
                severity: Severity::High,
                message: "unwrap on None".to_owned(),
            },
            Finding {
                path: None,
                line: None,
                severity: Severity::Info,
                message: "docs could mention it".to_owned(),
            },
        ]
    );
}

#[test]
fn a_malformed_answer_is_rejected_with_a_readable_reason() {
    let finding = |extra: serde_json::Value| {
        let mut f = json!({"path": "a.rs", "line": 3, "severity": "low", "message": "m"});
        for (k, v) in extra.as_object().expect("an object") {
            f[k] = v.clone();
        }
        json!({"verdict": "refuted", "summary": "s", "findings": [
            {"severity": "low", "message": "fine"}, f
        ]})
    };
    let cases = [
        (
            json!({"summary": "s", "findings": []}),
            "the reviewer's answer has no `verdict`",
        ),
        (
            json!({"verdict": "approved", "summary": "s", "findings": []}),
            "`verdict` must be \"upheld\" or \"refuted\", not \"approved\"",
        ),
        (
            json!({"verdict": "upheld", "findings": []}),
            "the reviewer's answer has no `summary`",
        ),
        (
            json!({"verdict": "upheld", "summary": "s", "findings": {}}),
            "the reviewer's `findings` is an object, not an array",
        ),
        (
            json!(["upheld"]),
            "the reviewer's answer is an array, not a JSON object",
        ),
        (
            finding(json!({"severity": "urgent"})),
            "finding 2: `severity` must be one of critical, high, medium, low, info, not \"urgent\"",
        ),
        (
            finding(json!({"line": 0})),
            "finding 2: `line` must be a positive integer, not 0",
        ),
        (
            finding(json!({"line": "12"})),
            "finding 2: `line` must be a positive integer, not \"12\"",
        ),
        (
            finding(json!({"message": "  "})),
            "finding 2: `message` is empty",
        ),
        (
            json!({"verdict": "refuted", "summary": "s", "findings": ["oops"]}),
            "finding 1: expected an object, found a string",
        ),
    ];
    for (answer, expected) in cases {
        let error: VerdictError = verdict::parse(&answer).expect_err(expected);
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn an_oversized_answer_is_cut_and_says_so() {
    let findings: Vec<_> = (0..150)
        .map(|n| json!({"severity": "low", "message": format!("finding {n} {}", "x".repeat(3000))}))
        .collect();
    let verdict = verdict::parse(&json!({
        "verdict": "refuted", "summary": "many", "findings": findings
    }))
    .expect("valid");
    assert_eq!(verdict.findings.len(), verdict::MAX_FINDINGS);
    assert!(
        verdict.summary.contains("first 100 of 150 findings"),
        "{}",
        verdict.summary
    );
    let message = &verdict.findings[0].message;
    assert!(message.chars().count() < verdict::MAX_MESSAGE_CHARS + 50);
    assert!(message.ends_with("(cut at 2000 characters)"), "{message}");
}

#[test]
fn the_answer_format_example_is_itself_a_valid_answer() {
    let example = ANSWER_FORMAT
        .lines()
        .find(|line| line.starts_with('{'))
        .expect("the format shows an example");
    let value: serde_json::Value = serde_json::from_str(example).expect("JSON");
    assert!(verdict::parse(&value).is_ok());
    assert!(
        !ANSWER_FORMAT.contains("FLOTILLA_RESULT_FILE"),
        "a reviewer gets no result file, so it is never told of one"
    );
}
