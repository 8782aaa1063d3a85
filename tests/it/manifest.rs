//! The committed App manifest stays parseable and asks for exactly the permissions
//! Flotilla needs — never `workflows`.

use std::collections::BTreeMap;

use flotilla::manifest::{Access, AppManifest};

#[test]
fn the_manifest_asks_for_exactly_the_needed_permissions_and_no_workflows() {
    let manifest = AppManifest::committed().expect("app-manifest.yml parses");

    let expected: BTreeMap<String, Access> = [
        ("checks", Access::Write),
        ("contents", Access::Write),
        ("issues", Access::Write),
        ("merge_queues", Access::Read),
        ("metadata", Access::Read),
        ("pull_requests", Access::Write),
        ("statuses", Access::Read),
    ]
    .into_iter()
    .map(|(name, access)| (name.to_owned(), access))
    .collect();
    assert_eq!(manifest.default_permissions, expected);
    assert!(!manifest.default_permissions.contains_key("workflows"));
    assert!(!manifest.public);
}

#[test]
fn the_manifest_subscribes_to_every_subscribable_event_flotilla_handles() {
    let manifest = AppManifest::committed().unwrap();
    for event in [
        "issues",
        "issue_comment",
        "pull_request",
        "pull_request_review",
        "check_suite",
        "check_run",
        "status",
        "merge_group",
    ] {
        assert!(
            manifest.default_events.iter().any(|e| e == event),
            "{event}"
        );
    }
}

#[test]
fn a_public_url_points_the_webhook_and_redirect_at_flotilla() {
    let manifest = AppManifest::committed()
        .unwrap()
        .with_public_url("https://fleet.example.org/");
    let json: serde_json::Value = serde_json::from_str(&manifest.to_json().unwrap()).unwrap();
    assert_eq!(
        json["hook_attributes"]["url"],
        "https://fleet.example.org/webhook"
    );
    assert_eq!(json["redirect_url"], "https://fleet.example.org/setup");
    assert_eq!(json["default_permissions"]["contents"], "write");
}
