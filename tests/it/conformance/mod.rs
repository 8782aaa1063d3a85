//! Conformance with GitHub: every typed call of Flotilla's client, run once against the
//! simulator in a realistic order through a recording reverse proxy. The exchanges
//! (method, path, bodies, status) and the client's full route and GraphQL document list
//! are written to `FLOTILLA_CONFORMANCE_OUT` (default
//! `$CARGO_TARGET_DIR/conformance/exchanges.json`), which `conformance/validate.mjs`
//! checks against GitHub's published OpenAPI description and GraphQL schema
//! (`conformance/run.sh` does both). This test asserts only that the calls succeed; it
//! needs no Node. `client_surface_is_written` writes the route and document list alone
//! (`surface.json`, same directory) for `validate.mjs --routes-only`.

mod proxy;

use proxy::{Exchange, Recorder, WriteOnPanic, start_proxy, start_webhook_sink};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use flotilla::github::routes::graphql_documents;
use flotilla::github::{
    Annotation, AnnotationLevel, AppCredentials, BranchProtection, CheckConclusion, CheckOutput,
    CheckRunAction, CheckRunUpdate, CheckStatus, GithubApp, GithubError, GithubSettings,
    IssueState, MergeMethod, MergeOutcome, MergeStateStatus, NewCheckRun, NewPull, NewReview,
    Permission, PullUpdate, RequiredCheck, RetryPolicy, ReviewComment, ReviewEvent, ReviewSide,
    Route,
};
use flotilla::sim::{self, Access, Ruleset, SeedConfig, SimConfig, SimHandle};
use flotilla::types::{CommitSha, IssueNumber, Login, RepoName};
use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::git::git_with_token;
use crate::support::{fixture_path, wait_for};

/// Where the exchanges go unless `FLOTILLA_CONFORMANCE_OUT` says otherwise.
const OUT_ENV: &str = "FLOTILLA_CONFORMANCE_OUT";
/// The task branch the scenario pushes.
const BRANCH: &str = "flotilla/conformance-1";
/// The check Flotilla publishes and protection requires.
const VERIFY: &str = "flotilla/verify";

/// Where to write the exchanges.
fn out_path() -> PathBuf {
    if let Some(path) = std::env::var_os(OUT_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("conformance").join("exchanges.json")
}

/// The client's whole surface: every route (method + template) and GraphQL document.
fn surface() -> (Value, Value) {
    let routes = Route::ALL
        .iter()
        .map(|route| {
            let (method, template) = route.spec();
            json!({ "name": format!("{route:?}"), "method": method.as_str(), "template": template })
        })
        .collect();
    let documents = graphql_documents()
        .iter()
        .map(|(name, document)| json!({ "name": name, "document": document }))
        .collect();
    (Value::Array(routes), Value::Array(documents))
}

/// Writes the client's route and document list alone, next to the exchanges, for
/// `validate.mjs --routes-only` (useful while the simulator cannot run the scenario).
#[test]
fn client_surface_is_written() {
    let (routes, documents) = surface();
    assert_eq!(routes.as_array().map(Vec::len), Some(Route::ALL.len()));
    let out = out_path().with_file_name("surface.json");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("output directory");
    }
    let file = json!({ "routes": routes, "graphql_documents": documents });
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&file).expect("surface serialises"),
    )
    .expect("surface written");
}

fn write_exchanges(exchanges: &[Exchange]) -> PathBuf {
    let (routes, documents) = surface();
    let out = out_path();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("output directory");
    }
    let file = json!({
        "routes": routes,
        "graphql_documents": documents,
        "exchanges": exchanges,
    });
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&file).expect("exchanges serialise"),
    )
    .expect("exchanges written");
    out
}

/// Clones the repository, commits a new file on [`BRANCH`] and pushes it over smart HTTP.
async fn push_task_branch(sim: &SimHandle, repo: &RepoName, token: &str, work: &Path) {
    let url = sim.git_url(repo);
    git_with_token(work, token, &["clone", "--quiet", &url, "checkout"]).await;
    let checkout = work.join("checkout");
    git_with_token(&checkout, token, &["checkout", "--quiet", "-b", BRANCH]).await;
    std::fs::create_dir_all(checkout.join("src")).expect("src dir");
    std::fs::write(
        checkout.join("src/widget.rs"),
        "/// A widget.\npub struct Widget;\n\nimpl Widget {\n    pub fn spin(&self) {}\n}\n",
    )
    .expect("file written");
    git_with_token(&checkout, token, &["add", "-A"]).await;
    git_with_token(
        &checkout,
        token,
        &["commit", "--quiet", "-m", "Add a widget"],
    )
    .await;
    git_with_token(&checkout, token, &["push", "--quiet", "origin", BRANCH]).await;
}

fn settings(base_url: String) -> GithubSettings {
    GithubSettings {
        base_url,
        retry: RetryPolicy {
            max_attempts: 2,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_total_wait: Duration::from_secs(5),
            secondary_rate_limit_wait: Duration::from_millis(50),
            rate_limit_leeway: Duration::ZERO,
            jitter: false,
        },
        ..GithubSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_call_against_the_simulator_is_recorded() {
    let data = TempDir::new().expect("temporary directory");
    let public_key =
        std::fs::read_to_string(fixture_path("keys/test-app.pub.pem")).expect("test public key");
    let seed = SeedConfig::new(public_key);
    let repo = seed.repo_name();
    let installation = seed.installation_id;
    let app_id = seed.app_id;
    let writer = seed.writer.clone();
    let reader = seed.reader.clone();
    let mut config = SimConfig::new(data.path().join("sim"));
    config.seed = Some(seed);
    config.webhook_url = Some(start_webhook_sink().await);
    config.webhook_secret = Some("conformance".to_owned());
    let sim = sim::start(config).await.expect("simulator starts");

    let recorder = Arc::new(Recorder {
        upstream: sim.api_url(),
        http: reqwest::Client::new(),
        exchanges: Mutex::new(Vec::new()),
    });
    let proxy = start_proxy(Arc::clone(&recorder)).await;
    let _on_panic = WriteOnPanic(Arc::clone(&recorder));
    let credentials =
        AppCredentials::from_pem_file(app_id, &fixture_path("keys/test-app.pem")).expect("key");
    let app = GithubApp::new(credentials, settings(proxy.clone())).expect("app client");

    // The App and its installation.
    let info = app.app_info().await.expect("GET /app");
    assert_eq!(info.id, app_id);
    let bot = Login(format!("{}[bot]", info.slug));
    assert_eq!(
        app.installation_for_repo(&repo)
            .await
            .expect("GET /repos/{owner}/{repo}/installation"),
        installation
    );
    let client = app.installation(installation).await.expect("installation");
    let token = app
        .installation_token(installation)
        .await
        .expect("installation token");

    // Who may command Flotilla.
    let permission = |user: Login| {
        let client = client.clone();
        let repo = repo.clone();
        async move { client.collaborator_permission(&repo, &user).await }
    };
    assert_eq!(
        permission(writer.clone()).await.expect("writer"),
        Permission::Write
    );
    assert_eq!(
        permission(reader.clone()).await.expect("reader"),
        Permission::Read
    );

    // The repository and its configuration.
    let info = client.get_repository(&repo).await.expect("repository");
    assert_eq!(info.name, repo);
    let base = info.default_branch.clone();
    let readme = client
        .file_contents(&repo, "README.md", &base)
        .await
        .expect("contents");
    assert!(
        readme.is_some_and(|bytes| !bytes.is_empty()),
        "README.md is readable"
    );
    let config = client
        .file_contents(&repo, ".github/flotilla.yml", &base)
        .await
        .expect("contents of a missing file");
    assert_eq!(config, None, "a missing file reads as None");
    assert!(
        client.branch_exists(&repo, &base).await.expect("a branch"),
        "the default branch exists"
    );
    assert!(
        !client
            .branch_exists(&repo, "flotilla/no-such-task")
            .await
            .expect("a missing branch"),
        "a missing branch reads as false"
    );

    // The issue, its comments and labels.
    let number: IssueNumber = sim
        .open_issue(&repo, "Add a widget", "Please add a widget.", &writer)
        .await
        .expect("issue opened");
    sim.label_issue(&repo, number.0, "flotilla", &writer)
        .await
        .expect("labelled");
    let issue = client.get_issue(&repo, number).await.expect("issue");
    assert_eq!(issue.title, "Add a widget");
    assert!(issue.labels.iter().any(|l| l == "flotilla"));
    assert!(!issue.is_pull_request);
    let comment = client
        .create_issue_comment(&repo, number, "Planning: one task.")
        .await
        .expect("comment created");
    assert_eq!(comment.author, bot);
    let edited = client
        .update_issue_comment(&repo, comment.id, "Planning: one task (working).")
        .await
        .expect("comment edited");
    assert_eq!(edited.body, "Planning: one task (working).");
    let comments = client
        .list_issue_comments(&repo, number)
        .await
        .expect("comments listed");
    assert!(comments.iter().any(|c| c.id == comment.id));
    client
        .add_labels(&repo, number, &["flotilla:working"])
        .await
        .expect("labels added");
    client
        .remove_label(&repo, number, "flotilla:working")
        .await
        .expect("label removed");

    // The task's branch, pushed with git over smart HTTP with the installation token,
    // and its draft pull request.
    let work = TempDir::new().expect("work directory");
    push_task_branch(&sim, &repo, token.expose_secret(), work.path()).await;
    let pull = client
        .create_pull(
            &repo,
            &NewPull {
                title: "Add a widget".to_owned(),
                head: BRANCH.to_owned(),
                base: base.clone(),
                body: format!("Part of #{number}."),
                draft: true,
            },
        )
        .await
        .expect("draft pull request opened");
    assert!(pull.draft);
    assert_eq!(pull.author, bot);
    let found = client
        .list_pulls_by_head(&repo, BRANCH)
        .await
        .expect("pulls listed");
    assert_eq!(
        found.iter().map(|p| p.number).collect::<Vec<_>>(),
        [pull.number]
    );
    let updated = client
        .update_pull(
            &repo,
            pull.number,
            &PullUpdate {
                body: Some(format!("Part of #{number}: adds `Widget`.")),
                ..PullUpdate::default()
            },
        )
        .await
        .expect("pull updated");
    assert!(updated.body.contains("adds `Widget`"));
    let pull = client
        .get_pull(&repo, pull.number)
        .await
        .expect("pull read");
    let head = pull.head_sha.clone();

    // A reviewer's findings, inline. The App authored the PR, so it may only comment.
    client
        .create_review(
            &repo,
            pull.number,
            &NewReview {
                commit_id: head.clone(),
                body: "correctness: upheld, one note.".to_owned(),
                event: ReviewEvent::Comment,
                comments: vec![ReviewComment {
                    path: "src/widget.rs".to_owned(),
                    line: 5,
                    side: ReviewSide::Right,
                    body: "`spin` does nothing yet.".to_owned(),
                }],
            },
        )
        .await
        .expect("review posted");
    let reviews = client
        .list_reviews(&repo, pull.number)
        .await
        .expect("reviews listed");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].author, bot);
    assert_eq!(reviews[0].state, "COMMENTED");
    assert_eq!(reviews[0].commit_id.as_ref(), Some(&head));

    // The merge gate. Classic protection is not readable with the manifest's
    // permissions; rulesets are.
    let refused = client
        .get_branch_protection(&repo, &base)
        .await
        .expect_err("classic protection needs administration");
    assert!(
        matches!(&refused, GithubError::Forbidden { .. }),
        "{refused}"
    );
    sim.add_ruleset(
        &repo,
        Ruleset {
            name: "gate".to_owned(),
            branches: vec!["~DEFAULT_BRANCH".to_owned()],
            required_checks: vec![sim::RequiredCheck {
                context: VERIFY.to_owned(),
                app_id: Some(app_id),
            }],
            ..Ruleset::default()
        },
    )
    .expect("ruleset added");
    let rules = client
        .get_branch_rules(&repo, &base)
        .await
        .expect("rules read");
    assert_eq!(
        rules.required_checks,
        [RequiredCheck {
            context: VERIFY.to_owned(),
            app_id: Some(app_id),
        }]
    );
    // An administrator grants `administration: write`; protection requiring
    // flotilla/verify from this App.
    sim.set_app_permission(app_id, "administration", Some(Access::Write))
        .expect("permission granted");
    let protection = BranchProtection {
        strict: false,
        required_checks: vec![RequiredCheck {
            context: VERIFY.to_owned(),
            app_id: Some(app_id),
        }],
        enforce_admins: true,
        required_pull_request_reviews: None,
        ..BranchProtection::default()
    };
    client
        .put_branch_protection(&repo, &base, &protection)
        .await
        .expect("protection set");
    let read_back = client
        .get_branch_protection(&repo, &base)
        .await
        .expect("protection read")
        .expect("protection present");
    assert_eq!(read_back.required_checks, protection.required_checks);

    // The base moves on; bring the task's branch up to date.
    sim.push_commit(
        &repo,
        &base,
        &[("CHANGELOG.md", "# Changes\n")],
        "Changelog",
        &writer,
    )
    .await
    .expect("base moved");
    client
        .update_pull_branch(&repo, pull.number, &head)
        .await
        .expect("update-branch accepted");
    let head = wait_for("the PR head to include the base", || async {
        let pull = client.get_pull(&repo, pull.number).await.ok()?;
        (pull.head_sha != head).then_some(pull.head_sha)
    })
    .await;

    // flotilla/verify on the new head: in progress with an annotation, then passing.
    let run = client
        .create_check_run(
            &repo,
            &NewCheckRun {
                name: VERIFY.to_owned(),
                head_sha: head.clone(),
                details_url: Some("https://flotilla.example/runs/1".to_owned()),
                external_id: Some("task-1/attempt-1".to_owned()),
                report: CheckRunUpdate {
                    status: Some(CheckStatus::InProgress),
                    conclusion: None,
                    output: Some(CheckOutput {
                        title: "Verifying".to_owned(),
                        summary: "Reviewers are looking at the change.".to_owned(),
                        text: None,
                        annotations: vec![Annotation {
                            path: "src/widget.rs".to_owned(),
                            start_line: 5,
                            end_line: 5,
                            annotation_level: AnnotationLevel::Notice,
                            message: "`spin` does nothing yet.".to_owned(),
                            title: Some("correctness".to_owned()),
                        }],
                    }),
                    actions: vec![CheckRunAction {
                        label: "Verify again".to_owned(),
                        description: "Run every reviewer lens again".to_owned(),
                        identifier: "reverify".to_owned(),
                    }],
                },
            },
        )
        .await
        .expect("check run created");
    client
        .update_check_run(
            &repo,
            run,
            &CheckRunUpdate {
                status: Some(CheckStatus::Completed),
                conclusion: Some(CheckConclusion::Success),
                output: Some(CheckOutput {
                    title: "Verified".to_owned(),
                    summary: "Every lens upheld the change.".to_owned(),
                    text: Some("correctness: upheld\nsecurity: upheld".to_owned()),
                    annotations: Vec::new(),
                }),
                actions: vec![CheckRunAction {
                    label: "Re-verify".to_owned(),
                    description: "Run the gates and reviewers again".to_owned(),
                    identifier: "reverify".to_owned(),
                }],
            },
        )
        .await
        .expect("check run completed");
    let runs = client
        .list_check_runs(&repo, &head.0)
        .await
        .expect("check runs listed");
    let ours = runs
        .iter()
        .find(|r| r.id == run)
        .expect("our check run is listed");
    assert_eq!(ours.conclusion, Some(CheckConclusion::Success));
    assert_eq!(ours.app_id, Some(app_id));
    client
        .combined_status(&repo, &head.0)
        .await
        .expect("combined status");

    // Landing: ready for review, auto-merge (refused: the PR can merge now), REST merge
    // behind the head guard.
    let state = client
        .pull_merge_state(&repo, pull.number)
        .await
        .expect("merge state");
    assert!(state.is_draft);
    assert_eq!(state.head_sha, head);
    client
        .mark_ready_for_review(&state.node_id)
        .await
        .expect("ready for review");
    let state = client
        .pull_merge_state(&repo, pull.number)
        .await
        .expect("merge state");
    assert!(!state.is_draft);
    assert_eq!(state.merge_state_status, MergeStateStatus::Clean);
    let refused = client
        .enable_auto_merge(&state.node_id, MergeMethod::Merge, &head)
        .await
        .expect_err("auto-merge on a clean PR is refused");
    assert!(
        matches!(&refused, GithubError::AutoMergeUnavailable { message } if message.contains("clean status")),
        "unexpected answer: {refused}"
    );
    client
        .disable_auto_merge(&state.node_id)
        .await
        .expect("disabling auto-merge that is off is harmless");
    let stale = CommitSha("0".repeat(40));
    let moved = client
        .merge_pull(&repo, pull.number, &stale, MergeMethod::Merge)
        .await
        .expect_err("a stale head guard is refused");
    assert!(matches!(moved, GithubError::Conflict { .. }), "{moved}");
    let merged = client
        .merge_pull(&repo, pull.number, &head, MergeMethod::Merge)
        .await
        .expect("merged");
    assert!(matches!(merged, MergeOutcome::Merged { .. }), "{merged:?}");
    let pull = client
        .get_pull(&repo, pull.number)
        .await
        .expect("pull read");
    assert!(pull.merged);

    // Every task landed: close the issue.
    client
        .close_issue(&repo, number)
        .await
        .expect("issue closed");
    let issue = client.get_issue(&repo, number).await.expect("issue");
    assert_eq!(issue.state, IssueState::Closed);

    // Missed-event recovery: the App's delivery attempts, and one asked for again.
    let attempts = wait_for("the scenario's webhooks to be recorded", || async {
        let attempts = app.hook_deliveries_after(None).await.ok()?;
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    app.redeliver(attempts[0].id)
        .await
        .expect("a delivery asked for again");

    // The setup page's exchange of a manifest flow's code.
    let code = app_created_from_the_manifest(&sim).await;
    let created = flotilla::setup::conversion::convert(&reqwest::Client::new(), &proxy, &code)
        .await
        .expect("the code is exchanged for the App");
    assert_eq!(created.slug, "flotilla-conformance");

    let exchanges = recorder.exchanges();
    let out = write_exchanges(&exchanges);
    eprintln!("{} exchanges written to {}", exchanges.len(), out.display());

    // Every REST route the client lists was exercised (GraphQL counts once).
    let exercised: std::collections::HashSet<(String, String)> = exchanges
        .iter()
        .map(|x| {
            (
                x.method.clone(),
                x.path.split('?').next().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for route in Route::ALL {
        let (method, template) = route.spec();
        let hit = exercised
            .iter()
            .any(|(m, path)| m == method.as_str() && matches_template(template, path));
        assert!(hit, "{route:?} ({method} {template}) was never called");
    }
    sim.shutdown().await;
}

/// Creates an App on the simulator's new-App confirm page, as a browser would, and
/// returns the code its redirect carries.
async fn app_created_from_the_manifest(sim: &SimHandle) -> String {
    let manifest = flotilla::manifest::AppManifest::committed()
        .expect("the manifest")
        .with_public_url("http://127.0.0.1:9");
    let created = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
        .post(format!("{}/settings/apps/new/confirm", sim.base_url()))
        .form(&[
            ("manifest", manifest.to_json().expect("JSON").as_str()),
            ("state", "conformance"),
            ("org", ""),
            ("name", "Flotilla conformance"),
            ("user", "octocat"),
        ])
        .send()
        .await
        .expect("the App is created");
    let location = created
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("a redirect with the code")
        .to_owned();
    let code = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("a code");
    code.to_owned()
}

/// Whether a concrete path fits a template (a final `{path}` or `{ref}` may span
/// segments).
fn matches_template(template: &str, path: &str) -> bool {
    let mut t = template.trim_start_matches('/').split('/').peekable();
    let mut p = path.trim_start_matches('/').split('/').peekable();
    while let Some(segment) = t.next() {
        if matches!(segment, "{path}" | "{ref}") && t.peek().is_none() {
            return p.next().is_some();
        }
        match p.next() {
            Some(part) if segment.starts_with('{') || segment == part => {}
            _ => return false,
        }
    }
    p.next().is_none()
}
