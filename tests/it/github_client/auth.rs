//! App JWT, key loading, and installation token caching and renewal.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::Method;
use flotilla::github::{AppCredentials, KeyError};
use flotilla::types::{AppId, InstallationId, IssueNumber};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::fake_github::{APP_ID, Canned, key_path};
use super::{INSTALLATION, ISSUE_PATH, credentials, issue_json, repo, setup, unix_now};

#[tokio::test]
async fn app_jwt_is_accepted_by_github_and_has_the_right_claims() {
    let (fake, app, _) = setup().await;
    fake.script(
        Method::GET,
        "/app",
        vec![Canned::json(
            200,
            json!({ "id": APP_ID, "slug": "flotilla-test", "name": "Flotilla Test" }),
        )],
    );

    let info = app.app_info().await.expect("app info");
    assert_eq!(
        (info.id, info.slug.as_str()),
        (AppId(APP_ID), "flotilla-test")
    );
    let claims = fake.jwt_claims();
    let sent = claims.first().expect("a verified JWT");
    assert_eq!(sent.iss, APP_ID);
    assert!(sent.iat + 59 <= unix_now(), "iat is backdated: {sent:?}");
    assert!(sent.exp - sent.iat <= 660, "exp is within 10 min: {sent:?}");

    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let jwt = credentials().app_jwt(at).expect("jwt");
    let public = std::fs::read(key_path("test-app.pub.pem")).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    let decoded = jsonwebtoken::decode::<Value>(
        &jwt,
        &DecodingKey::from_rsa_pem(&public).expect("public key"),
        &validation,
    )
    .expect("RS256 signature verifies");
    assert_eq!(
        decoded.claims,
        json!({ "iat": 1_800_000_000u64 - 60, "exp": 1_800_000_000u64 + 540, "iss": APP_ID })
    );
}

#[test]
fn key_errors_name_the_file() {
    let missing = key_path("no-such-key.pem");
    let error = AppCredentials::from_pem_file(AppId(1), &missing).expect_err("missing file");
    assert!(matches!(error, KeyError::Read { .. }));
    assert!(error.to_string().contains("no-such-key.pem"), "{error}");

    let public = key_path("test-app.pub.pem");
    let error = AppCredentials::from_pem_file(AppId(1), &public).expect_err("not a private key");
    assert!(matches!(error, KeyError::Parse { .. }));
    assert!(error.to_string().contains("test-app.pub.pem"), "{error}");
}

#[tokio::test]
async fn installation_token_is_minted_once_and_shared() {
    let (fake, app, client) = setup().await;
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![Canned::json(200, issue_json())],
    );

    let issue = client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("issue");
    assert_eq!(
        (issue.title.as_str(), issue.labels.as_slice()),
        ("Add widgets", &["flotilla".to_owned()][..])
    );
    let again = app.installation(INSTALLATION).await.expect("cached client");
    again
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("issue");
    let token = app.installation_token(INSTALLATION).await.expect("token");

    let minted = fake.minted();
    assert_eq!(minted.len(), 1, "one token for one installation");
    assert_eq!(minted[0].installation, INSTALLATION.0);
    assert_eq!(token.expose_secret(), minted[0].token);
    let requests = fake.requests_to(Method::GET, ISSUE_PATH);
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.bearer.as_deref(), Some(minted[0].token.as_str()));
        assert_eq!(request.headers["accept"], "application/vnd.github+json");
        assert_eq!(
            request
                .headers
                .get_all("x-github-api-version")
                .iter()
                .count(),
            1
        );
        assert_eq!(request.headers["x-github-api-version"], "2022-11-28");
    }

    app.installation(InstallationId(8))
        .await
        .expect("other installation")
        .token()
        .await
        .expect("token");
    assert_eq!(
        fake.minted().len(),
        2,
        "each installation has its own token"
    );
}

#[tokio::test]
async fn installation_token_is_renewed_when_it_nears_expiry() {
    let (fake, _app, client) = setup().await;
    // octocrab renews when fewer than 30 s remain: a 30.6 s token is good for ~0.6 s.
    fake.set_token_ttl(Duration::from_millis(30_600));
    fake.script(
        Method::GET,
        ISSUE_PATH,
        vec![Canned::json(200, issue_json())],
    );

    client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("first");
    client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("second");
    assert_eq!(fake.minted().len(), 1, "reused while valid");

    tokio::time::sleep(Duration::from_millis(800)).await;
    client
        .get_issue(&repo(), IssueNumber(3))
        .await
        .expect("third");
    let minted = fake.minted();
    assert_eq!(minted.len(), 2, "re-minted near expiry");
    let last = fake
        .requests_to(Method::GET, ISSUE_PATH)
        .pop()
        .expect("request");
    assert_eq!(last.bearer.as_deref(), Some(minted[1].token.as_str()));
}
