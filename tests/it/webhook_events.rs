//! Typed webhook events against GitHub's published example payloads
//! (`fixtures/webhooks/`), plus the ways a delivery can be ignored or rejected.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use flotilla::types::{AppId, CommitSha, InstallationId, IssueNumber, Login, PrNumber, RepoName};
use flotilla::webhook::event::{
    AccountKind, CheckConclusion, CheckRunAction, CheckStatus, CheckSuiteAction, DeliveryEnvelope,
    EventParseError, IgnoreReason, InstallationAction, InstallationRepositoriesAction,
    IssueCommentAction, IssueState, IssuesAction, Label, MergeGroup, MergeGroupAction,
    MergeGroupDestroyReason, Parsed, PrState, PullRequestAction, PullRequestReviewAction,
    ReviewState, StatusState, WebhookEvent, parse,
};

/// The head sha most of the `Codertocat/Hello-World` examples share.
const HELLO_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/webhooks")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.json"));
    fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `X-GitHub-Event` a fixture named `<event>[.<action>]` was delivered with.
fn event_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn parse_fixture(name: &str) -> WebhookEvent {
    match parse(event_of(name), &fixture(name)) {
        Ok(Parsed::Event(event)) => event,
        other => panic!("{name}: expected an event, got {other:?}"),
    }
}

/// Unwraps one `WebhookEvent` variant or fails naming the one found.
macro_rules! variant {
    ($event:expr, $variant:ident) => {
        match $event {
            WebhookEvent::$variant(inner) => inner,
            other => panic!("expected {}, got {}", stringify!($variant), other.name()),
        }
    };
}

fn label(name: &str) -> Option<Label> {
    Some(Label {
        name: name.to_owned(),
    })
}

fn sha(s: &str) -> CommitSha {
    CommitSha(s.to_owned())
}

/// Spot checks on the event one fixture parses to.
type Expectation = (&'static str, fn(&WebhookEvent));

/// What each fixture must parse to. A fixture without an entry, or an entry
/// without a fixture, fails `every_fixture_parses_as_expected`.
fn expectations() -> Vec<Expectation> {
    vec![
        ("issues.labeled", |e| {
            let e = variant!(e, Issues);
            assert_eq!(e.action, IssuesAction::Labeled(label("bug")));
            assert_eq!(e.issue.number, IssueNumber(1));
            assert_eq!(e.issue.title, "Spelling error in the README file");
            assert_eq!(e.issue.state, IssueState::Open);
            assert_eq!(e.issue.labels, vec![Label { name: "bug".into() }]);
            assert_eq!(e.issue.user.login, Login::from("Codertocat"));
            assert!(!e.issue.is_pull_request);
        }),
        ("issues.unlabeled", |e| {
            let e = variant!(e, Issues);
            assert_eq!(e.action, IssuesAction::Unlabeled(label("bug")));
        }),
        ("issues.edited", |e| {
            let e = variant!(e, Issues);
            assert_eq!(e.action, IssuesAction::Edited);
            assert!(e.issue.body.is_some());
        }),
        ("issues.closed", |e| {
            let e = variant!(e, Issues);
            assert_eq!(e.action, IssuesAction::Closed);
            assert_eq!(e.issue.state, IssueState::Closed);
        }),
        ("issues.reopened", |e| {
            let e = variant!(e, Issues);
            assert_eq!(e.action, IssuesAction::Reopened);
            assert_eq!(e.issue.state, IssueState::Open);
        }),
        ("issue_comment.created", |e| {
            let e = variant!(e, IssueComment);
            assert_eq!(e.action, IssueCommentAction::Created);
            assert_eq!(e.comment.id, 492700400);
            assert_eq!(e.comment.user.login, Login::from("Codertocat"));
            assert_eq!(e.comment.user.kind, AccountKind::User);
            assert!(!e.comment.body.is_empty());
            assert_eq!(e.issue.number, IssueNumber(1));
            assert!(!e.issue.is_pull_request);
        }),
        ("issue_comment.edited", |e| {
            let e = variant!(e, IssueComment);
            assert_eq!(e.action, IssueCommentAction::Edited);
            assert_eq!(e.comment.id, 492700400);
        }),
        ("pull_request.opened", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::Opened);
            assert_eq!(e.number, PrNumber(2));
            let pr = &e.pull_request;
            assert_eq!(pr.number, PrNumber(2));
            assert_eq!(pr.node_id, "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3");
            assert_eq!(pr.state, PrState::Open);
            assert!(!pr.draft);
            assert_eq!(pr.merged, Some(false));
            assert_eq!(pr.head.branch, "changes");
            assert_eq!(pr.head.sha, sha(HELLO_HEAD));
            assert_eq!(pr.base.branch, "master");
            assert_eq!(pr.user.login, Login::from("Codertocat"));
        }),
        ("pull_request.synchronize", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::Synchronize);
        }),
        ("pull_request.reopened", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::Reopened);
        }),
        ("pull_request.closed", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::Closed);
            assert_eq!(e.pull_request.state, PrState::Closed);
            assert_eq!(e.pull_request.merged, Some(false));
        }),
        ("pull_request.ready_for_review", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::ReadyForReview);
            assert!(!e.pull_request.draft);
        }),
        ("pull_request.converted_to_draft", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::ConvertedToDraft);
            assert!(e.pull_request.draft);
        }),
        ("pull_request.auto_merge_enabled", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(e.action, PullRequestAction::AutoMergeEnabled);
        }),
        ("pull_request.auto_merge_disabled", |e| {
            let e = variant!(e, PullRequest);
            assert_eq!(
                e.action,
                PullRequestAction::AutoMergeDisabled {
                    reason: Some("Auto-merge was disabled by the user".into())
                }
            );
        }),
        ("pull_request_review.submitted", |e| {
            let e = variant!(e, PullRequestReview);
            assert_eq!(e.action, PullRequestReviewAction::Submitted);
            assert_eq!(e.review.state, ReviewState::Commented);
            assert_eq!(e.review.commit_id, sha(HELLO_HEAD));
            assert_eq!(e.review.body, None);
            assert_eq!(e.pull_request.number, PrNumber(2));
            assert_eq!(e.pull_request.head.sha, sha(HELLO_HEAD));
            assert_eq!(e.pull_request.merged, None);
        }),
        ("pull_request_review.dismissed", |e| {
            let e = variant!(e, PullRequestReview);
            assert_eq!(e.action, PullRequestReviewAction::Dismissed);
            assert_eq!(e.review.state, ReviewState::Dismissed);
        }),
        ("check_suite.requested", |e| {
            let e = variant!(e, CheckSuite);
            assert_eq!(e.action, CheckSuiteAction::Requested);
            let s = &e.check_suite;
            assert_eq!(s.id, 118578174);
            assert_eq!(s.head_branch.as_deref(), Some("master"));
            assert_eq!(s.status, Some(CheckStatus::Queued));
            assert_eq!(s.conclusion, None);
            assert_eq!(s.app.id, AppId(29310));
            assert!(s.pull_requests.is_empty());
        }),
        ("check_suite.rerequested", |e| {
            let e = variant!(e, CheckSuite);
            assert_eq!(e.action, CheckSuiteAction::Rerequested);
            assert_eq!(e.sender.kind, AccountKind::Bot);
            assert_eq!(e.check_suite.pull_requests[0].number, PrNumber(2));
        }),
        ("check_suite.completed", |e| {
            let e = variant!(e, CheckSuite);
            assert_eq!(e.action, CheckSuiteAction::Completed);
            assert_eq!(e.check_suite.status, Some(CheckStatus::Completed));
            assert_eq!(e.check_suite.conclusion, Some(CheckConclusion::Success));
            assert_eq!(e.check_suite.head_sha, sha(HELLO_HEAD));
        }),
        ("check_run.created", |e| {
            let e = variant!(e, CheckRun);
            assert_eq!(e.action, CheckRunAction::Created);
            let r = &e.check_run;
            assert_eq!(r.id, 128620228);
            assert_eq!(r.name, "Octocoders-linter");
            assert_eq!(r.status, CheckStatus::Queued);
            assert_eq!(r.conclusion, None);
            assert_eq!(r.external_id.as_deref(), Some(""));
            assert_eq!(r.app.id, AppId(29310));
            assert_eq!(r.check_suite.id, 118578147);
            assert_eq!(r.pull_requests[0].number, PrNumber(2));
        }),
        ("check_run.completed", |e| {
            let e = variant!(e, CheckRun);
            assert_eq!(e.action, CheckRunAction::Completed);
            assert_eq!(e.check_run.status, CheckStatus::Completed);
            assert_eq!(e.check_run.conclusion, Some(CheckConclusion::Failure));
        }),
        ("check_run.rerequested", |e| {
            let e = variant!(e, CheckRun);
            assert_eq!(e.action, CheckRunAction::Rerequested);
            assert_eq!(e.check_run.conclusion, Some(CheckConclusion::Neutral));
            assert!(e.check_run.pull_requests.is_empty());
        }),
        ("check_run.requested_action", |e| {
            let e = variant!(e, CheckRun);
            assert_eq!(
                e.action,
                CheckRunAction::RequestedAction {
                    identifier: Some("lgtm|26764".into())
                }
            );
            assert_eq!(e.check_run.status, CheckStatus::InProgress);
            assert_eq!(e.check_run.pull_requests[0].number, PrNumber(26764));
        }),
        ("status", |e| {
            let e = variant!(e, Status);
            assert_eq!(e.sha, sha("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
            assert_eq!(e.context, "default");
            assert_eq!(e.state, StatusState::Success);
            assert_eq!(e.target_url, None);
        }),
        ("merge_group.checks_requested", |e| {
            let e = variant!(e, MergeGroup);
            assert_eq!(e.action, MergeGroupAction::ChecksRequested);
            let g = &e.merge_group;
            assert_eq!(g.head_sha, sha("2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"));
            assert_eq!(
                g.head_ref,
                "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"
            );
            assert_eq!(g.base_sha, sha("380387fbc80638b734a49e1be1c4dfec1c01b33c"));
            assert_eq!(g.base_ref, "refs/heads/main");
            assert_eq!(g.pull_numbers(), vec![PrNumber(104)]);
            assert_eq!(e.repository.full_name, RepoName::from("octo-org/octo-repo"));
        }),
        ("merge_group.destroyed", |e| {
            let e = variant!(e, MergeGroup);
            assert_eq!(
                e.action,
                MergeGroupAction::Destroyed {
                    reason: Some(MergeGroupDestroyReason::Merged)
                }
            );
            assert_eq!(e.merge_group.pull_numbers(), vec![PrNumber(104)]);
        }),
        ("installation.created", |e| {
            let e = variant!(e, Installation);
            assert_eq!(e.action, InstallationAction::Created);
            assert_eq!(e.installation.id, InstallationId(957387));
            assert_eq!(e.installation.account.login, Login::from("Codertocat"));
            let repos = e.repositories.as_ref().map(|r| r[0].full_name.clone());
            assert_eq!(repos, Some(RepoName::from("Codertocat/Hello-World")));
        }),
        ("installation.deleted", |e| {
            let e = variant!(e, Installation);
            assert_eq!(e.action, InstallationAction::Deleted);
            assert_eq!(e.installation.id, InstallationId(2));
        }),
        ("installation_repositories.added", |e| {
            let e = variant!(e, InstallationRepositories);
            assert_eq!(e.action, InstallationRepositoriesAction::Added);
            assert_eq!(
                e.repositories_added[0].full_name,
                RepoName::from("Codertocat/Space")
            );
            assert!(e.repositories_removed.is_empty());
        }),
        ("installation_repositories.removed", |e| {
            let e = variant!(e, InstallationRepositories);
            assert_eq!(e.action, InstallationRepositoriesAction::Removed);
            assert_eq!(
                e.repositories_removed[0].full_name,
                RepoName::from("octocat/Hello-World")
            );
        }),
        ("ping", |e| {
            let e = variant!(e, Ping);
            assert_eq!(e.zen, "Anything added dilutes everything else.");
            assert_eq!(e.hook_id, 109948940);
        }),
    ]
}

#[test]
fn every_fixture_parses_as_expected() {
    let on_disk: BTreeSet<String> = fs::read_dir(fixtures_dir())
        .expect("fixtures/webhooks exists")
        .map(|entry| entry.expect("readable entry").file_name())
        .filter_map(|name| name.to_str()?.strip_suffix(".json").map(str::to_owned))
        .collect();
    let expectations = expectations();
    let expected: BTreeSet<String> = expectations.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(on_disk, expected, "fixtures and expectations differ");

    for (name, check) in expectations {
        let event = parse_fixture(name);
        assert_eq!(event.name(), event_of(name), "{name}");
        check(&event);

        assert!(event.sender().is_some(), "{name}: sender");
        let installation_level = event.name().starts_with("installation");
        assert_eq!(
            event.repository().is_none(),
            installation_level,
            "{name}: repository"
        );
        if let Some(repo) = event.repository() {
            assert_eq!(repo.full_name.split().map(|(_, n)| n), Some(&*repo.name));
            assert_eq!(
                repo.full_name.split().map(|(o, _)| o),
                Some(&*repo.owner.login.0)
            );
            assert!(!repo.default_branch.is_empty(), "{name}: default branch");
        }
        // App deliveries carry their installation; a ping may not.
        assert_eq!(event.installation_id().is_some(), name != "ping", "{name}");
    }
}

fn merge_group(head_ref: &str, base_ref: &str) -> MergeGroup {
    MergeGroup {
        head_sha: sha("2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"),
        head_ref: head_ref.to_owned(),
        base_sha: sha("380387fbc80638b734a49e1be1c4dfec1c01b33c"),
        base_ref: base_ref.to_owned(),
    }
}

#[test]
fn merge_queue_branches_name_their_pull_request() {
    let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
    let cases = [
        (
            format!("refs/heads/gh-readonly-queue/main/pr-7-{sha}"),
            "refs/heads/main",
            vec![PrNumber(7)],
        ),
        // A base branch with slashes, and a ref given without `refs/heads/`.
        (
            format!("gh-readonly-queue/release/2.x/pr-31-{sha}"),
            "refs/heads/release/2.x",
            vec![PrNumber(31)],
        ),
        // Not the queue's shape: no PR can be named.
        (
            format!("refs/heads/feature/pr-7-{sha}"),
            "refs/heads/main",
            vec![],
        ),
        (
            "refs/heads/gh-readonly-queue/main/pr-x-abc".to_owned(),
            "refs/heads/main",
            vec![],
        ),
        (
            "refs/heads/gh-readonly-queue/main/pr-7-not-a-sha".to_owned(),
            "refs/heads/main",
            vec![],
        ),
        (
            "refs/heads/gh-readonly-queue/pr-7".to_owned(),
            "refs/heads/main",
            vec![],
        ),
    ];
    for (head_ref, base_ref, expected) in cases {
        assert_eq!(
            merge_group(&head_ref, base_ref).pull_numbers(),
            expected,
            "{head_ref}"
        );
    }
}

#[test]
fn unknown_merge_group_action_and_reason() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("merge_group.destroyed")).expect("fixture is JSON");
    body["reason"] = "tidied_away".into();
    let event = match parse("merge_group", body.to_string().as_bytes()) {
        Ok(Parsed::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    };
    let e = variant!(&event, MergeGroup);
    assert_eq!(
        e.action,
        MergeGroupAction::Destroyed {
            reason: Some(MergeGroupDestroyReason::Unknown)
        }
    );

    body["action"] = "checks_completed".into();
    let parsed = parse("merge_group", body.to_string().as_bytes());
    assert_eq!(
        parsed,
        Ok(Parsed::Ignored(IgnoreReason::UnhandledAction {
            event: "merge_group".into(),
            action: "checks_completed".into(),
        }))
    );
}

#[test]
fn repository_and_installation_accessors() {
    let event = parse_fixture("issues.labeled");
    let repo = event.repository().expect("issues have a repository");
    assert_eq!(repo.full_name, RepoName::from("Codertocat/Hello-World"));
    assert_eq!(repo.id, 186853002);
    assert_eq!(repo.owner.login, Login::from("Codertocat"));
    assert_eq!(repo.default_branch, "master");
    assert_eq!(event.installation_id(), Some(InstallationId(1)));
    let sender = event.sender().expect("issues have a sender");
    assert_eq!(sender.login, Login::from("Codertocat"));
    assert_eq!(sender.kind, AccountKind::User);
    assert_eq!(sender.id, 21031067);

    let event = parse_fixture("installation.created");
    assert_eq!(event.installation_id(), Some(InstallationId(957387)));
}

#[test]
fn a_comment_on_a_pull_request_is_marked_as_such() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("issue_comment.created")).expect("fixture is JSON");
    body["issue"]["pull_request"] = serde_json::json!({"url": "https://example.test/pulls/1"});
    let parsed = parse("issue_comment", body.to_string().as_bytes());
    let Ok(Parsed::Event(WebhookEvent::IssueComment(e))) = parsed else {
        panic!("expected an issue comment, got {parsed:?}");
    };
    assert!(e.issue.is_pull_request);
}

#[test]
fn labeled_without_a_label_still_parses() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("issues.labeled")).expect("fixture is JSON");
    body.as_object_mut().map(|o| o.remove("label"));
    let parsed = parse("issues", body.to_string().as_bytes());
    let Ok(Parsed::Event(WebhookEvent::Issues(e))) = parsed else {
        panic!("expected an issues event, got {parsed:?}");
    };
    assert_eq!(e.action, IssuesAction::Labeled(None));
}

#[test]
fn unknown_values_fall_back_instead_of_failing() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("check_run.completed")).expect("fixture is JSON");
    body["check_run"]["conclusion"] = "something_new".into();
    body["sender"]["type"] = "Mannequin".into();
    let parsed = parse("check_run", body.to_string().as_bytes());
    let Ok(Parsed::Event(event)) = parsed else {
        panic!("expected an event, got {parsed:?}");
    };
    assert_eq!(event.sender().map(|s| s.kind), Some(AccountKind::Other));
    let e = variant!(&event, CheckRun);
    assert_eq!(e.check_run.conclusion, Some(CheckConclusion::Other));
}

#[test]
fn unknown_event_is_ignored_without_reading_the_body() {
    let parsed = parse("watch", b"not even json").expect("unknown events are not errors");
    let Parsed::Ignored(reason) = parsed else {
        panic!("expected Ignored, got {parsed:?}");
    };
    assert_eq!(
        reason,
        IgnoreReason::UnknownEvent {
            event: "watch".into()
        }
    );
    assert_eq!(reason.to_string(), "unknown event `watch`");
}

#[test]
fn unknown_action_is_ignored_without_schema_checks() {
    // Only the action is read: the rest of the body need not be an issue at all.
    let parsed = parse("issues", br#"{"action": "assigned", "issue": 42}"#)
        .expect("unhandled actions are not errors");
    let Parsed::Ignored(reason) = parsed else {
        panic!("expected Ignored, got {parsed:?}");
    };
    assert_eq!(
        reason,
        IgnoreReason::UnhandledAction {
            event: "issues".into(),
            action: "assigned".into()
        }
    );
    assert_eq!(
        reason.to_string(),
        "unhandled action `assigned` of `issues`"
    );

    let parsed = parse("check_run", br#"{"action": "deleted"}"#);
    assert!(matches!(parsed, Ok(Parsed::Ignored(_))), "{parsed:?}");
}

#[test]
fn body_that_is_not_json_is_invalid_json() {
    for (event, body) in [
        ("issues", &b"not json"[..]),
        ("status", b""),
        ("ping", b"{\"zen\": "),
        ("pull_request", b"{\"action\": \"opened\"} trailing"),
        ("check_run", b"\xff\xfe"),
    ] {
        let error = parse(event, body).expect_err("garbage must not parse");
        assert!(
            matches!(error, EventParseError::InvalidJson { .. }),
            "{event} {body:?}: {error:?}"
        );
    }
}

/// Removes the field at `path` (dotted) from a fixture and returns the error.
fn without(name: &str, path: &[&str]) -> EventParseError {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut parent = &mut body;
    for key in parents {
        parent = &mut parent[*key];
    }
    let removed = parent.as_object_mut().and_then(|o| o.remove(*last));
    assert!(removed.is_some(), "{name} has no {path:?}");
    parse(event_of(name), body.to_string().as_bytes()).expect_err("a required field is gone")
}

#[test]
fn missing_required_field_names_its_path() {
    for (name, path, expected) in [
        ("issues.labeled", &["issue", "number"][..], "issue.number"),
        (
            "pull_request.opened",
            &["pull_request", "head", "sha"],
            "pull_request.head.sha",
        ),
        ("pull_request.opened", &["number"], "number"),
        (
            "check_run.completed",
            &["check_run", "app", "id"],
            "check_run.app.id",
        ),
        ("status", &["sha"], "sha"),
        ("issues.edited", &["action"], "action"),
    ] {
        match without(name, path) {
            EventParseError::Schema { path, message } => {
                assert_eq!(path, expected, "{name}");
                assert!(message.starts_with("missing field"), "{name}: {message}");
            }
            other => panic!("{name}: expected a schema error, got {other:?}"),
        }
    }
}

#[test]
fn wrong_type_names_its_path() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("issues.labeled")).expect("fixture is JSON");
    body["issue"]["labels"][0]["name"] = serde_json::json!(7);
    let error = parse("issues", body.to_string().as_bytes()).expect_err("name must be a string");
    let EventParseError::Schema { path, message } = &error else {
        panic!("expected a schema error, got {error:?}");
    };
    assert_eq!(path, "issue.labels[0].name");
    assert!(message.contains("invalid type"), "{message}");
    assert!(!message.contains("line"), "location is stripped: {message}");
    assert_eq!(error.to_string(), format!("{path}: {message}"));

    let error = parse("issues", br#"{"action": 3}"#).expect_err("action must be a string");
    assert!(
        matches!(&error, EventParseError::Schema { path, .. } if path == "action"),
        "{error:?}"
    );
    let error = parse("ping", b"[]").expect_err("a payload is an object");
    assert!(matches!(error, EventParseError::Schema { .. }), "{error:?}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let valid = fixture("pull_request.opened");
    let events = [
        "issues",
        "pull_request",
        "check_run",
        "status",
        "ping",
        "nope",
    ];
    for cut in (0..valid.len()).step_by(97) {
        for event in events {
            let _ = parse(event, &valid[..cut]);
            let _ = DeliveryEnvelope::from_body(&valid[..cut]);
        }
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let deep = |key: &str| {
        let depth = 100_000;
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        format!(r#"{{"action": "labeled", "{key}": {nested}}}"#)
    };
    for key in ["issue", "unread", "installation", "repository"] {
        let body = deep(key);
        assert!(parse("issues", body.as_bytes()).is_err(), "{key}");
        assert_eq!(
            DeliveryEnvelope::from_body(body.as_bytes()).installation,
            None,
            "{key}"
        );
    }
}

fn with_sender(login: &str, kind: &str) -> WebhookEvent {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("issue_comment.created")).expect("fixture is JSON");
    body["sender"]["login"] = login.into();
    body["sender"]["type"] = kind.into();
    match parse("issue_comment", body.to_string().as_bytes()) {
        Ok(Parsed::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn is_from_app_needs_the_exact_bot_login_and_bot_type() {
    assert!(with_sender("flotilla[bot]", "Bot").is_from_app("flotilla"));
    assert!(!with_sender("flotilla[bot]", "User").is_from_app("flotilla"));
    assert!(!with_sender("dependabot[bot]", "Bot").is_from_app("flotilla"));
    assert!(!with_sender("xflotilla[bot]", "Bot").is_from_app("flotilla"));
    assert!(!with_sender("flotilla", "Bot").is_from_app("flotilla"));
    assert!(!parse_fixture("check_suite.rerequested").is_from_app("flotilla"));
    assert!(parse_fixture("check_suite.rerequested").is_from_app("octocoders-linter"));
}

#[test]
fn envelope_of_a_fixture() {
    let envelope = DeliveryEnvelope::from_body(&fixture("issues.labeled"));
    assert_eq!(
        envelope,
        DeliveryEnvelope {
            action: Some("labeled".into()),
            installation: Some(InstallationId(1)),
            repository: Some(RepoName::from("Codertocat/Hello-World")),
        }
    );
    let envelope = DeliveryEnvelope::from_body(&fixture("status"));
    assert_eq!(envelope.action, None);
    assert_eq!(
        envelope.repository,
        Some(RepoName::from("Codertocat/Hello-World"))
    );
    let envelope = DeliveryEnvelope::from_body(&fixture("installation_repositories.added"));
    assert_eq!(envelope.installation, Some(InstallationId(957387)));
    assert_eq!(envelope.repository, None);
}

#[test]
fn envelope_of_garbage_is_empty() {
    let empty = DeliveryEnvelope::default();
    for body in [
        &b""[..],
        b"not json",
        b"[1, 2]",
        b"42",
        b"null",
        b"{\"action\": \"x\"",
    ] {
        assert_eq!(DeliveryEnvelope::from_body(body), empty, "{body:?}");
    }
}

#[test]
fn envelope_keeps_what_is_well_shaped() {
    let body = br#"{
        "action": {"nested": true},
        "installation": {"id": "12", "extra": [1, {"a": null}]},
        "repository": {"full_name": "o/r", "owner": {"login": "o"}},
        "sender": {"login": "x"}
    }"#;
    assert_eq!(
        DeliveryEnvelope::from_body(body),
        DeliveryEnvelope {
            action: None,
            installation: None,
            repository: Some(RepoName::from("o/r")),
        }
    );
    let body = br#"{"action": 5, "installation": {"id": 7}, "repository": ["o/r"]}"#;
    assert_eq!(
        DeliveryEnvelope::from_body(body),
        DeliveryEnvelope {
            action: None,
            installation: Some(InstallationId(7)),
            repository: None,
        }
    );
    let body = br#"{"installation": {"id": -1}, "repository": {"full_name": null}}"#;
    assert_eq!(
        DeliveryEnvelope::from_body(body),
        DeliveryEnvelope::default()
    );
}
