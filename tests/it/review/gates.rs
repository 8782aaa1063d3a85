//! The static gates: protected paths, declared paths, secrets, symlinks and submodules, sizes.

use super::*;

#[test]
fn an_ordinary_change_passes_every_static_gate_once() {
    let results = static_gates(&touching(&["src/lib.rs"]), &settings());
    let gates: Vec<Gate> = results.iter().map(|r| r.gate).collect();
    assert_eq!(
        gates,
        vec![
            Gate::ProtectedPaths,
            Gate::Scope,
            Gate::Tests,
            Gate::Secrets,
            Gate::DiffSize
        ]
    );
    assert!(
        results.iter().all(|r| r.outcome == GateOutcome::Passed),
        "{results:#?}"
    );
    assert!(results.iter().all(|r| !r.summary.contains('\n')));
}

#[test]
fn a_workflow_or_a_nested_agents_file_needs_a_person() {
    for path in [
        ".github/workflows/ci.yml",
        "crates/core/AGENTS.md",
        "AGENTS.md",
        "docs/deep/CLAUDE.md",
        ".claude/settings.json",
        ".github/CODEOWNERS",
        ".gitmodules",
    ] {
        let results = static_gates(&touching(&["src/lib.rs", path]), &settings());
        let protected = gate(&results, Gate::ProtectedPaths);
        assert_eq!(protected.outcome, GateOutcome::NeedsHuman, "{path}");
        assert_eq!(protected.findings.len(), 1, "{path}");
        assert_eq!(protected.findings[0].path.as_deref(), Some(path));
        assert!(protected.findings[0].message.contains(path));
    }
}

#[test]
fn moving_a_protected_file_away_needs_a_person() {
    let diff = Diff::parse(
        "diff --git a/.github/workflows/ci.yml b/ci.yml\nsimilarity index 100%\n\
         rename from .github/workflows/ci.yml\nrename to ci.yml\n",
    );
    let results = static_gates(&diff, &settings());
    let protected = gate(&results, Gate::ProtectedPaths);
    assert_eq!(protected.outcome, GateOutcome::NeedsHuman);
    assert_eq!(
        protected.findings[0].path.as_deref(),
        Some(".github/workflows/ci.yml")
    );
}

#[test]
fn configured_globs_protect_directories_and_stay_within_segments() {
    let settings = GateSettings {
        protected_paths: vec!["src/auth".to_owned(), "keys/*.pem".to_owned()],
        ..settings()
    };
    let outcome = |path: &str| {
        gate(
            &static_gates(&touching(&[path]), &settings),
            Gate::ProtectedPaths,
        )
        .outcome
    };
    assert_eq!(outcome("src/auth/login.rs"), GateOutcome::NeedsHuman);
    assert_eq!(outcome("keys/prod.pem"), GateOutcome::NeedsHuman);
    assert_eq!(
        outcome("keys/old/prod.pem"),
        GateOutcome::Passed,
        "`*` stays in a segment"
    );
    assert_eq!(outcome("src/authz.rs"), GateOutcome::Passed);
}

#[test]
fn a_bad_configured_glob_is_reported_and_never_panics() {
    assert!(validate_glob("src/**/*.rs").is_ok());
    let error = validate_glob("src/[unclosed").expect_err("an unclosed class");
    assert!(error.contains("src/[unclosed"), "{error}");
    assert!(validate_glob("  ").is_err());

    let settings = GateSettings {
        protected_paths: vec!["src/[unclosed".to_owned()],
        ..settings()
    };
    let results = static_gates(&touching(&["src/lib.rs"]), &settings);
    let protected = gate(&results, Gate::ProtectedPaths);
    assert_eq!(protected.outcome, GateOutcome::NeedsHuman);
    assert!(protected.findings[0].message.contains("src/[unclosed"));
}

#[test]
fn files_outside_the_declared_paths_warn_or_fail_as_configured() {
    let diff = touching(&["src/parse.rs", "docs/guide.md", "README.md"]);
    let declared = GateSettings {
        declared_paths: vec!["src/**".to_owned(), "docs/*.md".to_owned()],
        ..settings()
    };

    let warned = static_gates(&diff, &declared);
    let scope = gate(&warned, Gate::Scope);
    assert_eq!(scope.outcome, GateOutcome::Warned);
    let outside: Vec<_> = scope
        .findings
        .iter()
        .filter_map(|f| f.path.as_deref())
        .collect();
    assert_eq!(outside, vec!["README.md"]);

    let failing = GateSettings {
        scope_fails: true,
        ..declared.clone()
    };
    assert_eq!(
        gate(&static_gates(&diff, &failing), Gate::Scope).outcome,
        GateOutcome::Failed
    );

    let inside = touching(&["src/parse.rs", "docs/guide.md"]);
    assert_eq!(
        gate(&static_gates(&inside, &failing), Gate::Scope).outcome,
        GateOutcome::Passed
    );
    assert_eq!(
        gate(&static_gates(&diff, &settings()), Gate::Scope).outcome,
        GateOutcome::Passed,
        "no declared paths: no scope to leave"
    );
}

#[test]
fn an_added_secret_fails_the_secrets_gate_with_its_line() {
    let key = ["AKIA", "Z7Q2MX4RT9PLK3WB"].concat();
    let results = static_gates(
        &adding("deploy.sh", &["set -e", &format!("ID={key}")]),
        &settings(),
    );
    let secrets = gate(&results, Gate::Secrets);
    assert_eq!(secrets.outcome, GateOutcome::Failed);
    assert_eq!(secrets.findings[0].line, Some(2));
    assert!(!secrets.summary.contains(&key));
}

#[test]
fn a_symlink_or_a_submodule_needs_a_person_and_a_binary_file_fails_the_size_gate() {
    let repo = Repo::new();
    repo.write("README.md", "hello\n");
    let base = repo.commit();
    std::os::unix::fs::symlink("../.github/workflows/ci.yml", repo.path("docs-link"))
        .expect("symlink");
    repo.write("blob.bin", [0u8, 1, 2, 3, 0, 5]);
    repo.git(&["add", "-A"]);
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,vendor/lib",
    ]);
    repo.git(&["commit", "-q", "-m", "link, blob and submodule"]);
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();

    let results = static_gates(&repo.diff(&base, &head), &settings());

    let protected = gate(&results, Gate::ProtectedPaths);
    assert_eq!(protected.outcome, GateOutcome::NeedsHuman);
    let named: Vec<Option<&str>> = protected
        .findings
        .iter()
        .map(|f| f.path.as_deref())
        .collect();
    assert!(named.contains(&Some("docs-link")), "{protected:?}");
    assert!(named.contains(&Some("vendor/lib")), "{protected:?}");
    let size = gate(&results, Gate::DiffSize);
    assert_eq!(size.outcome, GateOutcome::Failed);
    assert!(size.summary.contains("blob.bin"), "{}", size.summary);
}

#[test]
fn an_empty_change_and_an_oversized_one_fail_the_size_gate() {
    let empty = static_gates(&Diff::parse(""), &settings());
    let size = gate(&empty, Gate::DiffSize);
    assert_eq!(size.outcome, GateOutcome::Failed);
    assert_eq!(size.summary, "the change is empty");

    let lines: Vec<String> = (0..30).map(|n| format!("line {n}")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let small_limit = GateSettings {
        max_changed_lines: 25,
        ..settings()
    };
    let big = static_gates(&adding("big.txt", &lines), &small_limit);
    let size = gate(&big, Gate::DiffSize);
    assert_eq!(size.outcome, GateOutcome::Failed);
    assert!(
        size.summary.contains("30") && size.summary.contains("25"),
        "{}",
        size.summary
    );
}
