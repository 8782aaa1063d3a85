//! A worker agent that tries to change what judges it: CI and agent configuration, the
//! scripts the build commands run, and the tests themselves. Each change here is a real
//! `git diff` of a throwaway repository, read by the real gates.

use std::collections::HashMap;

use flotilla::review::gates::{GateSettings, static_gates};
use flotilla::review::verify_files::{self, VerifyFile};
use flotilla::review::{Gate, GateOutcome, GateResult};

use super::{Repo, gate, settings, touching};

/// The protected-paths gate on a change touching `path` (and an ordinary file).
fn protected(path: &str, settings: &GateSettings) -> GateResult {
    gate(
        &static_gates(&touching(&["src/lib.rs", path]), settings),
        Gate::ProtectedPaths,
    )
    .clone()
}

#[test]
fn ci_of_every_system_git_attributes_and_every_agents_configuration_need_a_person() {
    for path in [
        ".gitlab-ci.yml",
        ".circleci/config.yml",
        "Jenkinsfile",
        ".buildkite/pipeline.yml",
        "azure-pipelines.yml",
        ".travis.yml",
        "bitbucket-pipelines.yml",
        ".gitattributes",
        "vendor/lib/.gitattributes",
        ".gitmodules",
        "opencode.json",
        ".opencode/agent/review.md",
        ".gemini/settings.json",
        ".aider.conf.yml",
        ".aiderignore",
        ".aider.model.settings.yml",
        "CLAUDE.local.md",
        "pkg/CLAUDE.local.md",
        "AGENTS.override.md",
        ".github/instructions/rust.instructions.md",
        ".github/prompts/review.prompt.md",
        ".github/copilot-instructions.md",
        ".codex/config.toml",
        ".cursor/rules/style.mdc",
        ".claude/settings.json",
        "AGENTS.md",
    ] {
        let result = protected(path, &settings());
        assert_eq!(result.outcome, GateOutcome::NeedsHuman, "{path}");
        assert_eq!(result.findings.len(), 1, "{path}: {result:?}");
        assert_eq!(result.findings[0].path.as_deref(), Some(path));
    }
    for ordinary in ["src/aider.rs", "docs/gitlab.md", "ci/notes.md"] {
        assert_eq!(
            protected(ordinary, &settings()).outcome,
            GateOutcome::Passed,
            "{ordinary}"
        );
    }
}

#[test]
fn protected_globs_match_whatever_the_case_built_in_and_configured() {
    for path in [".GitHub/Workflows/ci.yml", "agents.md", ".GITMODULES"] {
        assert_eq!(
            protected(path, &settings()).outcome,
            GateOutcome::NeedsHuman,
            "{path}"
        );
    }
    let configured = GateSettings {
        protected_paths: vec!["Src/Auth/**".to_owned()],
        ..settings()
    };
    let result = protected("src/auth/x", &configured);
    assert_eq!(result.outcome, GateOutcome::NeedsHuman);
    assert!(
        result.findings[0].message.contains("Src/Auth/**"),
        "{result:?}"
    );
}

/// What `resolve` protects, globs only.
fn resolved(commands: &[&str], base: &[(&str, &str)]) -> Vec<String> {
    let commands: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
    let files: HashMap<&str, &str> = base.iter().copied().collect();
    verify_files::resolve(&commands, |path| files.get(path).map(|t| (*t).to_owned()))
        .into_iter()
        .map(|f| f.glob)
        .collect()
}

fn assert_protects(globs: &[String], expected: &[&str], not: &[&str]) {
    for glob in expected {
        assert!(globs.iter().any(|g| g == glob), "{glob} in {globs:?}");
    }
    for glob in not {
        assert!(!globs.iter().any(|g| g == glob), "{glob} not in {globs:?}");
    }
}

#[test]
fn make_protects_the_makefile_its_includes_and_what_its_recipes_run() {
    let makefile = "include tools/common.mk\n\
                    VERSION := 1\n\n\
                    test: build\n\
                    \t./scripts/run-tests.sh --fast\n\
                    build:\n\
                    \t@$(MAKE) -C web lint\n\
                    deploy:\n\
                    \t./scripts/deploy.sh\n";
    let globs = resolved(&["make test"], &[("Makefile", makefile)]);
    assert_protects(
        &globs,
        &[
            "Makefile",
            "makefile",
            "GNUmakefile",
            "tools/common.mk",
            "scripts/run-tests.sh",
            "web/Makefile",
        ],
        &["scripts/deploy.sh"],
    );
    let custom = resolved(&["make -f ci.mk"], &[]);
    assert_protects(&custom, &["ci.mk"], &["Makefile"]);
}

#[test]
fn npm_scripts_are_read_from_package_json_and_what_they_run_is_protected() {
    let package = r#"{
        "scripts": {
            "pretest": "sh ./scripts/prepare.sh",
            "test": "npm run check && jest --config jest.config.js",
            "check": "node scripts/check.js",
            "lint": "eslint . && node scripts/lint.js"
        }
    }"#;
    let globs = resolved(&["npm test"], &[("package.json", package)]);
    assert_protects(
        &globs,
        &[
            "package.json",
            "scripts/prepare.sh",
            "scripts/check.js",
            "jest.config.js",
            "jest.config.*",
        ],
        &["scripts/lint.js"],
    );
    for command in ["npm run lint", "yarn lint", "pnpm run lint"] {
        assert_protects(
            &resolved(&[command], &[("package.json", package)]),
            &["package.json", "scripts/lint.js"],
            &["scripts/check.js"],
        );
    }
}

#[test]
fn scripts_shell_lines_and_test_runners_protect_what_they_run_but_not_manifests() {
    let globs = resolved(
        &[
            "./run-tests.sh",
            "sh scripts/test.sh",
            "bash -c 'cd tools && python check.py --strict'",
            "CI=1 timeout 60 pytest -q tests/ 2>&1 | tee out.log",
            "cargo test --manifest-path Cargo.toml",
        ],
        &[],
    );
    assert_protects(
        &globs,
        &[
            "run-tests.sh",
            "scripts/test.sh",
            "tools/check.py",
            "**/conftest.py",
            "pytest.ini",
            "tox.ini",
            "setup.cfg",
            "**/build.rs",
            "**/.cargo/config.toml",
        ],
        &["tests", "tests/", "Cargo.toml", "out.log", "tools"],
    );
    assert_protects(
        &resolved(&["python -m pytest", "tox -e py", "just test"], &[]),
        &["**/conftest.py", "tox.ini", "justfile"],
        &[],
    );
    assert_protects(
        &resolved(&["cat /etc/passwd ../outside.sh", "sh ../../x.sh"], &[]),
        &[],
        &["etc/passwd", "outside.sh", "x.sh"],
    );
}

#[test]
fn the_base_files_resolve_needs_are_asked_for_round_by_round() {
    let commands = vec!["make".to_owned()];
    let mut known = HashMap::new();
    assert_eq!(
        verify_files::wanted(&commands, &known),
        vec!["GNUmakefile", "makefile", "Makefile"]
    );
    known.insert("GNUmakefile".to_owned(), None);
    known.insert("makefile".to_owned(), None);
    known.insert(
        "Makefile".to_owned(),
        Some("all:\n\tcd web && npm test\n".to_owned()),
    );
    assert_eq!(
        verify_files::wanted(&commands, &known),
        vec!["web/package.json"]
    );
    known.insert(
        "web/package.json".to_owned(),
        Some(r#"{"scripts": {"test": "node check.mjs"}}"#.to_owned()),
    );
    assert!(verify_files::wanted(&commands, &known).is_empty());
    let globs = verify_files::resolve(&commands, |path| known.get(path).cloned().flatten());
    assert!(globs.iter().any(|f| f.glob == "web/check.mjs"), "{globs:?}");
}

#[test]
fn a_change_to_a_file_the_build_commands_run_needs_a_person_and_says_which_command() {
    let settings = GateSettings {
        verify_files: vec![
            VerifyFile {
                glob: "scripts/test.sh".to_owned(),
                command: "sh scripts/test.sh".to_owned(),
            },
            VerifyFile {
                glob: "**/conftest.py".to_owned(),
                command: "pytest".to_owned(),
            },
        ],
        ..settings()
    };
    let script = protected("scripts/test.sh", &settings);
    assert_eq!(script.outcome, GateOutcome::NeedsHuman);
    assert_eq!(
        script.findings[0].message,
        "`scripts/test.sh` is run by `verify.commands` (`sh scripts/test.sh`): a person must \
         approve changes to it"
    );
    let conftest = protected("tests/unit/ConfTest.py", &settings);
    assert_eq!(conftest.outcome, GateOutcome::NeedsHuman);
    assert!(
        conftest.findings[0].message.contains("as `**/conftest.py`"),
        "{conftest:?}"
    );
    assert_eq!(
        protected("scripts/other.sh", &settings).outcome,
        GateOutcome::Passed
    );
}

/// The tests gate on the change from `before` to `after` (path, content; `None`
/// deletes), with `declared` as the task's paths.
fn tests_gate(
    before: &[(&str, &str)],
    after: &[(&str, Option<&str>)],
    declared: &[&str],
) -> GateResult {
    let repo = Repo::new();
    repo.write("README.md", "hello\n");
    for (path, content) in before {
        repo.write(path, content);
    }
    let base = repo.commit();
    for (path, content) in after {
        match content {
            Some(content) => {
                repo.write(path, content);
            }
            None => std::fs::remove_file(repo.path(path)).expect("remove"),
        }
    }
    let head = repo.commit();
    let settings = GateSettings {
        declared_paths: declared.iter().map(|p| (*p).to_owned()).collect(),
        ..settings()
    };
    gate(
        &static_gates(&repo.diff(&base, &head), &settings),
        Gate::Tests,
    )
    .clone()
}

/// A Rust library with a test module: two tests, three assertions.
const LIB: &str = "\
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn adds_negatives() {
        assert_eq!(add(-1, -2), -3);
        assert_eq!(add(-1, 1), 0);
    }
}
";

/// [`LIB`] with `from` replaced by `to`.
fn lib(from: &str, to: &str) -> String {
    assert!(LIB.contains(from), "{from}");
    LIB.replacen(from, to, 1)
}

fn assert_fails_at(result: &GateResult, path: &str, needle: &str) {
    assert_eq!(result.outcome, GateOutcome::Failed, "{result:#?}");
    let finding = result
        .findings
        .iter()
        .find(|f| f.path.as_deref() == Some(path) && f.message.contains(needle))
        .unwrap_or_else(|| panic!("a finding on {path} saying {needle}: {result:#?}"));
    assert!(
        finding.line.is_some() || finding.message.contains("line"),
        "{finding:?}"
    );
}

#[test]
fn a_deleted_test_function_fails_with_its_file_and_line() {
    let removed = lib(
        "    #[test]\n    fn adds_negatives() {\n        assert_eq!(add(-1, -2), -3);\n        assert_eq!(add(-1, 1), 0);\n    }\n",
        "",
    );
    let result = tests_gate(
        &[("src/lib.rs", LIB)],
        &[("src/lib.rs", Some(&removed))],
        &[],
    );
    assert_fails_at(&result, "src/lib.rs", "`adds_negatives`");
    assert!(
        result
            .findings
            .iter()
            .any(|f| f.message.contains("line 14 before")),
        "{result:#?}"
    );

    let unmarked = lib("    #[test]\n    fn adds() {", "    fn adds() {");
    let result = tests_gate(
        &[("src/lib.rs", LIB)],
        &[("src/lib.rs", Some(&unmarked))],
        &[],
    );
    assert_fails_at(&result, "src/lib.rs", "`adds`");
}

#[test]
fn fewer_assertions_in_test_code_fail_with_the_first_removed_line() {
    let weakened = lib("        assert_eq!(add(-1, 1), 0);\n", "");
    let result = tests_gate(
        &[("src/lib.rs", LIB)],
        &[("src/lib.rs", Some(&weakened))],
        &[],
    );
    assert_fails_at(&result, "src/lib.rs", "assert_eq!(add(-1, 1), 0);");
    assert_eq!(result.findings[0].line, Some(17), "{result:#?}");

    let before = "test('parses', () => {\n  expect(parse('1')).toBe(1);\n  expect(parse('x')).toBeNaN();\n});\n";
    let after = "test('parses', () => {\n  parse('1');\n});\n";
    let result = tests_gate(
        &[("web/parse.test.js", before)],
        &[("web/parse.test.js", Some(after))],
        &[],
    );
    assert_fails_at(
        &result,
        "web/parse.test.js",
        "2 assertion lines removed, 0 added",
    );
}

#[test]
fn a_newly_added_skip_fails_in_every_language() {
    let ignored = lib(
        "    #[test]\n    fn adds() {",
        "    #[test]\n    #[ignore]\n    fn adds() {",
    );
    let result = tests_gate(
        &[("src/lib.rs", LIB)],
        &[("src/lib.rs", Some(&ignored))],
        &[],
    );
    assert_fails_at(&result, "src/lib.rs", "#[ignore]");
    assert_eq!(result.findings[0].line, Some(10));

    let cases = [
        (
            "tests/test_api.py",
            "def test_get():\n    assert get() == 1\n",
            "import pytest\n\n@pytest.mark.skip(reason=\"flaky\")\ndef test_get():\n    assert get() == 1\n",
            "@pytest.mark.skip",
        ),
        (
            "src/api.spec.ts",
            "it('gets', () => {\n  expect(get()).toBe(1);\n});\n",
            "it.skip('gets', () => {\n  expect(get()).toBe(1);\n});\n",
            "it.skip(",
        ),
        (
            "api_test.go",
            "func TestGet(t *testing.T) {\n\tif get() != 1 {\n\t\tt.Fatal(\"no\")\n\t}\n}\n",
            "func TestGet(t *testing.T) {\n\tt.Skip(\"later\")\n\tif get() != 1 {\n\t\tt.Fatal(\"no\")\n\t}\n}\n",
            "t.Skip(",
        ),
        (
            "src/test/java/ApiTest.java",
            "class ApiTest {\n  @Test\n  void gets() {\n    assertEquals(1, get());\n  }\n}\n",
            "class ApiTest {\n  @Disabled\n  @Test\n  void gets() {\n    assertEquals(1, get());\n  }\n}\n",
            "@Disabled",
        ),
        (
            "web/only.test.js",
            "test('a', () => {\n  expect(1).toBe(1);\n});\n",
            "test.only('a', () => {\n  expect(1).toBe(1);\n});\n",
            "test.only(",
        ),
    ];
    for (path, before, after, marker) in cases {
        let result = tests_gate(&[(path, before)], &[(path, Some(after))], &[]);
        assert_fails_at(&result, path, marker);
    }
}

#[test]
fn a_deleted_test_file_fails() {
    let result = tests_gate(
        &[(
            "tests/parse.rs",
            "#[test]\nfn parses() {\n    assert!(true);\n}\n",
        )],
        &[("tests/parse.rs", None)],
        &[],
    );
    assert_fails_at(&result, "tests/parse.rs", "is deleted");
}

#[test]
fn the_same_changes_pass_when_the_task_declares_the_file() {
    let weakened = lib("        assert_eq!(add(-1, 1), 0);\n", "");
    let result = tests_gate(
        &[
            ("src/lib.rs", LIB),
            ("tests/old.rs", "#[test]\nfn old() {}\n"),
        ],
        &[("src/lib.rs", Some(&weakened)), ("tests/old.rs", None)],
        &["src/lib.rs", "tests/**"],
    );
    assert_eq!(result.outcome, GateOutcome::Passed, "{result:#?}");
}

#[test]
fn renamed_moved_reindented_and_new_tests_pass() {
    let renamed = lib("fn adds_negatives()", "fn adds_two_negatives()");
    let moved = lib(
        "    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n\n",
        "",
    )
    .replace(
        "}\n}\n",
        "}\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}\n",
    );
    let added = lib(
        "mod tests {\n    use super::*;\n",
        "mod tests {\n    use super::*;\n\n    #[test]\n    fn adds_zero() {\n        assert_eq!(add(0, 0), 0);\n    }\n",
    );
    let reworded = lib(
        "assert_eq!(add(1, 2), 3);",
        "assert_eq!(add(2, 1), 3, \"commutes\");",
    );
    for (what, after) in [
        ("renamed", renamed),
        ("moved", moved),
        ("added", added),
        ("reworded", reworded),
    ] {
        let result = tests_gate(&[("src/lib.rs", LIB)], &[("src/lib.rs", Some(&after))], &[]);
        assert_eq!(result.outcome, GateOutcome::Passed, "{what}: {result:#?}");
    }
    let moved_file = tests_gate(
        &[("tests/a.rs", "#[test]\nfn one() {\n    assert!(true);\n}\n")],
        &[
            ("tests/a.rs", Some("")),
            (
                "tests/b.rs",
                Some("#[test]\nfn one() {\n    assert!(true);\n}\n"),
            ),
        ],
        &[],
    );
    assert_eq!(
        moved_file.outcome,
        GateOutcome::Passed,
        "a test moved to another file: {moved_file:#?}"
    );
}
