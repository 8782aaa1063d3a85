//! `flotilla protect`: a repository's branch ends up requiring `flotilla/verify` from
//! this App — and only from this App — with everything it required before.

use flotilla::github::{BranchProtection, GithubApp, RequiredCheck};
use flotilla::protect::{ProtectError, ProtectRequest, VERIFY_CHECK, protect};
use flotilla::sim::RequiredCheck as SimCheck;
use flotilla::sim::{Access, CI_APP_ID, Fault, FaultKind, MergeMethod, Protection, SimHandle};
use flotilla::types::{AppId, CommitSha, Login, PrNumber, RepoName};
use serde_json::json;
use tempfile::TempDir;

use crate::support::world::{WORLD_APP_ID, app_client, seeded_sim};
use crate::support::{fixture_path, post_as_installation};

/// The simulator with the test App installed, and the App's client pointed at it.
struct Setup {
    sim: SimHandle,
    app: GithubApp,
    repo: RepoName,
    writer: Login,
    _dir: TempDir,
}

async fn setup() -> Setup {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    sim.set_app_permission(WORLD_APP_ID, "administration", Some(Access::Write))
        .expect("the operator granted `administration: write` for `flotilla protect`");
    let app = app_client(WORLD_APP_ID, &sim);
    Setup {
        repo: seed.repo_name(),
        writer: seed.writer.clone(),
        sim,
        app,
        _dir: dir,
    }
}

fn request(repo: &RepoName) -> ProtectRequest {
    ProtectRequest {
        repo: repo.clone(),
        branch: None,
        strict: None,
        extra_checks: Vec::new(),
    }
}

fn check(context: &str, app_id: Option<AppId>) -> RequiredCheck {
    RequiredCheck {
        context: context.to_owned(),
        app_id,
    }
}

impl Setup {
    /// The protection of `main` as the App reads it back.
    async fn main_protection(&self) -> Option<BranchProtection> {
        let installation = self
            .app
            .installation_for_repo(&self.repo)
            .await
            .expect("installation");
        self.app
            .installation(installation)
            .await
            .expect("client")
            .get_branch_protection(&self.repo, "main")
            .await
            .expect("protection read")
    }

    /// Sets a commit status on `sha` with an installation token, as a CI would.
    async fn set_status(&self, sha: &CommitSha, context: &str) {
        let seed_installation = self
            .app
            .installation_for_repo(&self.repo)
            .await
            .expect("installation");
        let response = post_as_installation(
            &self.sim,
            seed_installation,
            &self.repo,
            &format!("/statuses/{sha}"),
            json!({"state": "success", "context": context}),
        )
        .await;
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The writer pushes a branch and opens a ready PR from it.
    async fn open_pr(&self) -> (PrNumber, CommitSha) {
        let head = self
            .sim
            .push_commit(
                &self.repo,
                "feature",
                &[("feature.txt", "a feature\n")],
                "Add a feature",
                &self.writer,
            )
            .await
            .expect("pushed");
        let pr = self
            .sim
            .open_pr(
                &self.repo,
                "feature",
                "main",
                "A feature",
                false,
                &self.writer,
            )
            .await
            .expect("PR opened");
        (pr, head)
    }
}

#[tokio::test]
async fn protect_keeps_existing_checks_and_binds_verify_to_the_app() {
    let s = setup().await;
    s.sim
        .set_protection(
            &s.repo,
            "main",
            Some(Protection {
                required_checks: Some(vec![
                    SimCheck {
                        context: "ci".to_owned(),
                        app_id: Some(CI_APP_ID),
                    },
                    SimCheck {
                        context: "lint".to_owned(),
                        app_id: None,
                    },
                ]),
                strict: true,
                required_approvals: None,
                enforce_admins: true,
            }),
        )
        .expect("protection set");

    let report = protect(
        &s.app,
        WORLD_APP_ID,
        &ProtectRequest {
            extra_checks: vec!["lint".to_owned(), "docs".to_owned()],
            ..request(&s.repo)
        },
    )
    .await
    .expect("protected");

    assert_eq!(report.branch, "main", "the default branch");
    assert!(report.was_protected);
    let expected = vec![
        check("ci", Some(CI_APP_ID)),
        check("lint", None),
        check(VERIFY_CHECK, Some(WORLD_APP_ID)),
        check("docs", None),
    ];
    assert_eq!(report.protection.required_checks, expected);
    let read = s.main_protection().await.expect("still protected");
    assert_eq!(read.required_checks, expected);
    assert!(read.strict, "strictness kept");
    assert!(read.enforce_admins, "admin enforcement kept");
    let printed = report.to_string();
    assert!(
        printed.contains(&format!("{VERIFY_CHECK} (from App {WORLD_APP_ID} only)")),
        "{printed}"
    );

    // Running it again changes nothing.
    let again = protect(&s.app, WORLD_APP_ID, &request(&s.repo))
        .await
        .expect("protected again");
    assert_eq!(again.protection.required_checks, expected);
}

#[tokio::test]
async fn a_status_named_flotilla_verify_does_not_satisfy_the_gate() {
    let s = setup().await;
    protect(
        &s.app,
        WORLD_APP_ID,
        &ProtectRequest {
            extra_checks: vec!["ci".to_owned()],
            ..request(&s.repo)
        },
    )
    .await
    .expect("protected");
    let read = s.main_protection().await.expect("protected");
    assert!(
        !read.strict,
        "an unprotected branch starts without strictness"
    );

    let (pr, head) = s.open_pr().await;
    s.set_status(&head, "ci").await;
    s.set_status(&head, VERIFY_CHECK).await;
    let refused = s
        .sim
        .merge_pr(&s.repo, pr, MergeMethod::Merge, &s.writer)
        .await
        .expect_err("a status cannot stand in for the App's check run");
    assert!(refused.to_string().starts_with("405"), "{refused}");

    // The App's own check run is what the gate takes.
    let installation = s.app.installation_for_repo(&s.repo).await.expect("found");
    let client = s.app.installation(installation).await.expect("client");
    client
        .create_check_run(
            &s.repo,
            &flotilla::github::NewCheckRun {
                name: VERIFY_CHECK.to_owned(),
                head_sha: head.clone(),
                details_url: None,
                external_id: None,
                report: flotilla::github::CheckRunUpdate {
                    status: Some(flotilla::github::CheckStatus::Completed),
                    conclusion: Some(flotilla::github::CheckConclusion::Success),
                    output: None,
                    actions: Vec::new(),
                },
            },
        )
        .await
        .expect("check run");
    s.sim
        .merge_pr(&s.repo, pr, MergeMethod::Merge, &s.writer)
        .await
        .expect("merged once the App's check passed");
}

#[tokio::test]
async fn strict_is_set_on_request() {
    let s = setup().await;
    let report = protect(
        &s.app,
        WORLD_APP_ID,
        &ProtectRequest {
            branch: Some("main".to_owned()),
            strict: Some(true),
            ..request(&s.repo)
        },
    )
    .await
    .expect("protected");
    assert!(!report.was_protected);
    assert_eq!(
        report.protection.required_checks,
        vec![check(VERIFY_CHECK, Some(WORLD_APP_ID))]
    );
    assert!(s.main_protection().await.expect("protected").strict);
}

#[tokio::test]
async fn without_administration_the_error_says_what_to_grant_and_the_manual_way() {
    let s = setup().await;
    s.sim.inject_fault(Fault {
        method: Some("PUT".to_owned()),
        route: "/repos/{owner}/{repo}/branches/{branch}/protection".to_owned(),
        times: 1,
        kind: FaultKind::MissingPermission,
    });
    let error = protect(&s.app, WORLD_APP_ID, &request(&s.repo))
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, ProtectError::MissingPermission { branch, .. } if branch == "main"),
        "{error:?}"
    );
    let message = error.to_string();
    for needle in [
        "administration: write",
        "Settings → Branches",
        VERIFY_CHECK,
        "Resource not accessible by integration",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert_eq!(s.main_protection().await, None, "nothing was written");
}

#[tokio::test]
async fn a_repository_without_the_app_is_named() {
    let s = setup().await;
    let error = protect(
        &s.app,
        WORLD_APP_ID,
        &request(&RepoName::from("someone-else/elsewhere")),
    )
    .await
    .expect_err("not installed");
    assert!(
        matches!(error, ProtectError::NotInstalled { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_binary_protects_a_repository() {
    let s = setup().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(["protect", &s.repo.0, "--require-check", "ci", "--strict"])
        .env("FLOTILLA_APP_ID", WORLD_APP_ID.to_string())
        .env("FLOTILLA_PRIVATE_KEY", fixture_path("keys/test-app.pem"))
        .env("FLOTILLA_GITHUB_API_URL", s.sim.api_url())
        .env("FLOTILLA_LOG", "warn")
        .output()
        .await
        .expect("flotilla runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(VERIFY_CHECK), "{stdout}");
    let read = s.main_protection().await.expect("protected");
    assert_eq!(
        read.required_checks,
        vec![check(VERIFY_CHECK, Some(WORLD_APP_ID)), check("ci", None)]
    );
    assert!(read.strict);
}
