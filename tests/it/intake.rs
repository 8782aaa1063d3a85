//! Scenarios for `POST /webhook`: GitHub signs and sends, Flotilla stores then answers.

use flotilla::store::{DeliveryOutcome, JobState};
use flotilla::types::{DeliveryId, InstallationId, RepoName};
use flotilla::webhook::signature::sign;
use reqwest::StatusCode;

use crate::support::{APP_SLUG, SECRET, TestApp, wait_for, webhook_fixture, webhook_fixture_json};

#[tokio::test]
async fn a_signed_labeled_issue_is_stored_with_its_job_then_processed() {
    let app = TestApp::start().await;
    let body = webhook_fixture("issues.labeled");

    let response = app.deliver("issues", "guid-labeled-1", &body).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = app.processed("guid-labeled-1").await;
    assert_eq!(stored.event, "issues");
    assert_eq!(stored.action.as_deref(), Some("labeled"));
    assert!(stored.installation.is_some(), "installation recorded");
    assert!(stored.repository.is_some(), "repository recorded");
    assert_eq!(stored.body, body, "the raw body is kept byte for byte");
    assert_eq!(stored.outcome, DeliveryOutcome::Processed);
    // The delivery is marked processed inside the job; the job itself ends just after.
    wait_for("the delivery's job to be done", || async {
        app.store
            .job_by_key("delivery:guid-labeled-1")
            .await
            .expect("store answers")
            .filter(|job| job.state == JobState::Done)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_envelope_columns_come_from_the_payload() {
    let app = TestApp::start().await;
    let mut payload = webhook_fixture_json("issues.labeled");
    payload["installation"]["id"] = 4242.into();
    payload["repository"]["full_name"] = "octo/fleet".into();
    let body = serde_json::to_vec(&payload).unwrap();

    app.deliver("issues", "guid-envelope", &body).await;

    let stored = app.processed("guid-envelope").await;
    assert_eq!(stored.installation, Some(InstallationId(4242)));
    assert_eq!(stored.repository, Some(RepoName::from("octo/fleet")));
    app.stop().await;
}

#[tokio::test]
async fn wrong_missing_or_malformed_signatures_are_refused_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let body = webhook_fixture("issues.labeled");
    let wrong = sign("not-the-secret", &body);
    let cases: [(&str, Option<&str>); 4] = [
        ("wrong", Some(wrong.as_str())),
        ("missing", None),
        ("not hex", Some("sha256=nothex")),
        (
            "sha1",
            Some("sha1=0123456789abcdef0123456789abcdef01234567"),
        ),
    ];
    for (case, signature) in cases {
        let delivery = format!("guid-bad-{case}");
        let mut headers = vec![
            ("x-github-event", "issues"),
            ("x-github-delivery", delivery.as_str()),
        ];
        if let Some(signature) = signature {
            headers.push(("x-hub-signature-256", signature));
        }

        let response = app.post_webhook(&headers, &body).await;

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            app.store
                .delivery(&DeliveryId(delivery))
                .await
                .unwrap()
                .is_none(),
            "{case}"
        );
    }
    assert_eq!(app.store.count_deliveries().await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_list_accepts_the_old_and_the_new_secret() {
    let app = TestApp::start_with_secrets("old-secret,new-secret").await;
    let body = webhook_fixture("ping");
    for (secret, delivery) in [("old-secret", "guid-old"), ("new-secret", "guid-new")] {
        let signature = sign(secret, &body);
        let response = app
            .post_webhook(
                &[
                    ("x-github-event", "ping"),
                    ("x-github-delivery", delivery),
                    ("x-hub-signature-256", &signature),
                ],
                &body,
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{secret}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_redelivery_is_acknowledged_once_stored_and_creates_no_second_job() {
    let app = TestApp::start().await;
    let body = webhook_fixture("issues.labeled");

    let first = app.deliver("issues", "guid-redelivered", &body).await;
    let second = app.deliver("issues", "guid-redelivered", &body).await;

    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(second.status(), StatusCode::OK);
    app.processed("guid-redelivered").await;
    assert_eq!(app.store.count_deliveries().await.unwrap(), 1);
    let job = app
        .store
        .job_by_key("delivery:guid-redelivered")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 1, "processed exactly once");
    app.stop().await;
}

#[tokio::test]
async fn missing_event_or_delivery_headers_are_a_400_that_names_the_header() {
    let app = TestApp::start().await;
    let body = webhook_fixture("ping");
    let signature = sign(SECRET, &body);

    let no_event = app
        .post_webhook(
            &[
                ("x-github-delivery", "guid-x"),
                ("x-hub-signature-256", &signature),
            ],
            &body,
        )
        .await;
    assert_eq!(no_event.status(), StatusCode::BAD_REQUEST);
    assert!(no_event.text().await.unwrap().contains("x-github-event"));

    let no_delivery = app
        .post_webhook(
            &[
                ("x-github-event", "ping"),
                ("x-hub-signature-256", &signature),
            ],
            &body,
        )
        .await;
    assert_eq!(no_delivery.status(), StatusCode::BAD_REQUEST);
    assert!(
        no_delivery
            .text()
            .await
            .unwrap()
            .contains("x-github-delivery")
    );
    assert_eq!(app.store.count_deliveries().await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_event_is_acknowledged_and_recorded_as_ignored() {
    let app = TestApp::start().await;

    let response = app
        .deliver("star", "guid-star", br#"{"action":"created"}"#)
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = app.processed("guid-star").await;
    assert_eq!(stored.outcome, DeliveryOutcome::Ignored);
    assert!(stored.outcome_detail.unwrap().contains("star"));
    app.stop().await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_kept_and_marked_failed_without_retries() {
    let app = TestApp::start().await;

    let response = app.deliver("issues", "guid-garbage", b"{not json").await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = app.processed("guid-garbage").await;
    assert_eq!(stored.outcome, DeliveryOutcome::Failed);
    assert_eq!(stored.body, b"{not json");
    assert!(stored.outcome_detail.is_some());
    // The outcome is recorded inside the job; the job is completed just after.
    let job = wait_for("the delivery's job to finish its attempt", || async {
        app.store
            .job_by_key("delivery:guid-garbage")
            .await
            .unwrap()
            .filter(|job| job.state != JobState::Running)
    })
    .await;
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Done, 1),
        "a bad payload is not retried"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_payload_missing_a_required_field_fails_with_its_json_path() {
    let app = TestApp::start().await;
    let mut payload = webhook_fixture_json("issues.labeled");
    payload["issue"].as_object_mut().unwrap().remove("number");
    let body = serde_json::to_vec(&payload).unwrap();

    app.deliver("issues", "guid-no-number", &body).await;

    let stored = app.processed("guid-no-number").await;
    assert_eq!(stored.outcome, DeliveryOutcome::Failed);
    let detail = stored.outcome_detail.unwrap();
    assert!(
        detail.contains("issue") && detail.contains("number"),
        "{detail}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_20_mb_delivery_is_accepted_and_stored_whole() {
    let app = TestApp::start().await;
    let mut payload = webhook_fixture_json("issues.edited");
    payload["issue"]["body"] = "x".repeat(20 * 1024 * 1024).into();
    let body = serde_json::to_vec(&payload).unwrap();
    assert!(body.len() > 20 * 1024 * 1024);

    let response = app.deliver("issues", "guid-large", &body).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = app.processed("guid-large").await;
    assert_eq!(stored.body.len(), body.len());
    assert_eq!(stored.outcome, DeliveryOutcome::Processed);
    app.stop().await;
}

#[tokio::test]
async fn the_apps_own_bot_events_are_ignored_but_a_user_with_the_same_name_is_not() {
    let app = TestApp::start().await;
    let bot_login = format!("{APP_SLUG}[bot]");
    let mut from_bot = webhook_fixture_json("issue_comment.created");
    from_bot["sender"]["login"] = bot_login.clone().into();
    from_bot["sender"]["type"] = "Bot".into();
    let mut from_user = from_bot.clone();
    from_user["sender"]["type"] = "User".into();

    app.deliver(
        "issue_comment",
        "guid-own",
        &serde_json::to_vec(&from_bot).unwrap(),
    )
    .await;
    app.deliver(
        "issue_comment",
        "guid-user",
        &serde_json::to_vec(&from_user).unwrap(),
    )
    .await;

    let own = app.processed("guid-own").await;
    assert_eq!(own.outcome, DeliveryOutcome::Ignored);
    assert!(own.outcome_detail.unwrap().contains(&bot_login));
    assert_eq!(
        app.processed("guid-user").await.outcome,
        DeliveryOutcome::Processed
    );
    app.stop().await;
}

#[tokio::test]
async fn every_fixture_is_accepted_and_processed() {
    let app = TestApp::start().await;
    let dir = crate::support::fixture_path("webhooks");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 25, "fixtures present: {names:?}");
    for name in &names {
        let event = name.split('.').next().unwrap();
        let response = app
            .deliver(
                event,
                &format!("guid-fixture-{name}"),
                &webhook_fixture(name),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{name}");
    }
    for name in &names {
        let stored = app.processed(&format!("guid-fixture-{name}")).await;
        assert_eq!(
            stored.outcome,
            DeliveryOutcome::Processed,
            "{name}: {:?}",
            stored.outcome_detail
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn health_is_ok_while_the_store_answers_and_503_when_it_does_not() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    app.store.close().await;

    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.stop().await;
}
