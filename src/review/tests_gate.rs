//! The tests gate: a change must not make the existing tests prove less.
//!
//! Threat: a worker agent that cannot make a test pass deletes it, skips it, or strips
//! its assertions, and the build gate then passes. This module reads the diff alone (no
//! process, no checkout) and finds a deleted test file, a removed test that no added
//! test replaces, fewer assertion lines in test code, and a newly added skip or focus
//! marker. It errs towards few false positives: a renamed or moved test, a reindented
//! assertion and new tests pass. Files the task's declared paths name are exempt, since
//! the planner meant them to change. Deciding the outcome is the caller's business.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::diff::{ChangeStatus, DiffLine, FileChange, LineKind};
use super::{Finding, Severity};

/// Whether a path looks like a test file, by the conventions of the common ecosystems:
/// a `tests/`, `test/`, `__tests__/` or `spec/` directory, or a name such as
/// `*_test.go`, `test_*.py`, `*.test.ts`, `*.spec.js`, `FooTest.java` or `foo_spec.rb`.
pub fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut segments: Vec<&str> = lower.split('/').collect();
    let Some(name) = segments.pop() else {
        return false;
    };
    if segments
        .iter()
        .any(|s| matches!(*s, "tests" | "test" | "__tests__" | "spec" | "specs"))
    {
        return true;
    }
    let original = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
        || [".java", ".kt", ".cs", ".scala"].iter().any(|ext| {
            original.strip_suffix(ext).is_some_and(|stem| {
                stem.ends_with("Test") || stem.ends_with("Tests") || stem.ends_with("Spec")
            })
        })
}

/// Every way the change deletes or weakens an existing test, each finding naming its
/// file and line, leaving out files `exempt` says the task may change.
pub fn weakened(files: &[FileChange], exempt: impl Fn(&str) -> bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut removed_tests = Vec::new();
    let mut added_tests = 0usize;
    let added_assertions: HashSet<(&str, &str)> = files
        .iter()
        .flat_map(|f| {
            f.added
                .iter()
                .map(move |l| (f.path.as_str(), l.text.trim()))
        })
        .filter(|(_, text)| is_assertion(text))
        .collect();
    for file in files {
        if exempt(&file.path) || file.old_path.as_deref().is_some_and(&exempt) {
            continue;
        }
        if let Some(finding) = deleted_test_file(file) {
            findings.push(finding);
            continue;
        }
        let lines = classify(file);
        let (removed, added) = test_definitions(&file.path, &lines);
        removed_tests.extend(removed);
        added_tests += added;
        let moved_here = |text: &str| {
            added_assertions
                .iter()
                .any(|(path, added)| *path != file.path && *added == text)
        };
        findings.extend(fewer_assertions(&file.path, &lines, moved_here));
        findings.extend(added_skips(&file.path, &lines));
    }
    if removed_tests.len() > added_tests {
        let (removed, added) = (removed_tests.len(), added_tests);
        findings.extend(removed_tests.into_iter().map(|test| Finding {
            path: Some(test.path.clone()),
            line: (test.new > 0).then_some(test.new),
            severity: Severity::High,
            message: format!(
                "the test `{}` (`{}`, line {} before the change) is removed, and the change \
                 adds fewer tests than it removes ({added} added, {removed} removed)",
                test.name, test.path, test.old
            ),
        }));
    }
    findings.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    findings
}

/// A deleted test file, or one moved where it no longer looks like a test.
fn deleted_test_file(file: &FileChange) -> Option<Finding> {
    let (path, how) = match (file.status, file.old_path.as_deref()) {
        (ChangeStatus::Deleted, _) if is_test_path(&file.path) => (&file.path, "deleted"),
        (ChangeStatus::Renamed, Some(old)) if is_test_path(old) && !is_test_path(&file.path) => {
            (&file.path, "moved where it no longer looks like a test")
        }
        _ => return None,
    };
    let name = file.old_path.as_deref().unwrap_or(path);
    Some(Finding {
        path: Some(path.clone()),
        line: None,
        severity: Severity::High,
        message: format!(
            "the test file `{name}` is {how} (lines 1 to {} before the change)",
            file.removed.max(1)
        ),
    })
}

/// A hunk line with whether it lies in test code.
struct Classified<'d> {
    line: &'d DiffLine,
    in_test: bool,
}

/// Marks which lines are test code: all of a test file, and in other files whatever
/// follows a visible `#[cfg(test)]` or `mod tests` (such modules end Rust files).
fn classify(file: &FileChange) -> Vec<Classified<'_>> {
    let whole_file = is_test_path(&file.path);
    let mut in_test = whole_file;
    file.lines
        .iter()
        .map(|line| {
            in_test = in_test || TEST_MODULE.is_match(&line.text);
            Classified { line, in_test }
        })
        .collect()
}

/// A test the change removes, found on the old side.
struct RemovedTest {
    path: String,
    name: String,
    old: u32,
    new: u32,
}

/// The tests whose definition the change removes and does not define again in the same
/// file, and how many tests it adds.
fn test_definitions(path: &str, lines: &[Classified]) -> (Vec<RemovedTest>, usize) {
    let old = definitions(lines, LineKind::Removed);
    let new = definitions(lines, LineKind::Added);
    let old_names: HashSet<&str> = old.iter().map(|d| d.name.as_str()).collect();
    let new_names: HashSet<&str> = new.iter().map(|d| d.name.as_str()).collect();
    let added = new
        .iter()
        .filter(|d| d.changed && !old_names.contains(d.name.as_str()))
        .count();
    let removed = old
        .iter()
        .filter(|d| d.changed && !new_names.contains(d.name.as_str()))
        .map(|d| RemovedTest {
            path: path.to_owned(),
            name: d.name.clone(),
            old: d.line.old,
            new: d.line.new,
        })
        .collect();
    (removed, added)
}

/// A test defined on one side of the diff.
struct Definition<'d> {
    name: String,
    /// Where the definition starts.
    line: &'d DiffLine,
    /// Whether its marker or declaration line is on the changed side (removed on the
    /// old side, added on the new side).
    changed: bool,
}

/// The tests visible on one side: `changed` is the kind that side adds to the context
/// (removed lines for the old side, added ones for the new).
fn definitions<'d>(lines: &[Classified<'d>], changed: LineKind) -> Vec<Definition<'d>> {
    let side: Vec<&Classified<'d>> = lines
        .iter()
        .filter(|c| c.line.kind == LineKind::Context || c.line.kind == changed)
        .collect();
    let mut found: Vec<Definition<'d>> = Vec::new();
    let mut seen = HashSet::new();
    for (at, entry) in side.iter().enumerate() {
        let text = entry.line.text.trim();
        let named = if TEST_ATTRIBUTE.is_match(text) {
            side[at + 1..]
                .iter()
                .take(6)
                .find_map(|next| {
                    let captures = FUNCTION_NAME.captures(&next.line.text)?;
                    let name = captures.get(1).or(captures.get(2))?;
                    Some((name.as_str().to_owned(), next.line.kind == changed))
                })
                .or_else(|| Some((format!("{text} at line {}", entry.line.old), false)))
        } else if entry.in_test {
            TEST_DECLARATION
                .captures(text)
                .and_then(|c| c.iter().skip(1).flatten().next().map(|m| m.as_str()))
                .map(|name| (name.to_owned(), false))
        } else {
            None
        };
        let Some((name, declared_changed)) = named else {
            continue;
        };
        let changed_here = entry.line.kind == changed || declared_changed;
        if seen.insert(name.clone()) {
            found.push(Definition {
                name,
                line: entry.line,
                changed: changed_here,
            });
        } else if let Some(existing) = found.iter_mut().find(|d| d.name == name) {
            existing.changed |= changed_here;
        }
    }
    found
}

/// Fails a test file (or test module) that loses more assertion lines than it gains;
/// an assertion `moved_away` (added as is to another file) is not lost.
fn fewer_assertions(
    path: &str,
    lines: &[Classified],
    moved_away: impl Fn(&str) -> bool,
) -> Option<Finding> {
    let assertions = |kind: LineKind| -> Vec<&DiffLine> {
        lines
            .iter()
            .filter(|c| c.in_test && c.line.kind == kind && is_assertion(&c.line.text))
            .map(|c| c.line)
            .collect()
    };
    let mut removed = assertions(LineKind::Removed);
    removed.retain(|l| !moved_away(l.text.trim()));
    let added = assertions(LineKind::Added);
    if removed.len() <= added.len() {
        return None;
    }
    let kept: HashSet<&str> = added.iter().map(|l| l.text.trim()).collect();
    let first = removed
        .iter()
        .find(|l| !kept.contains(l.text.trim()))
        .unwrap_or(&removed[0]);
    Some(Finding {
        path: Some(path.to_owned()),
        line: (first.new > 0).then_some(first.new),
        severity: Severity::High,
        message: format!(
            "`{path}` loses assertions: {} assertion lines removed, {} added (the first \
             removed is line {} before the change: `{}`)",
            removed.len(),
            added.len(),
            first.old,
            first.text.trim()
        ),
    })
}

/// Every skip or focus marker the change adds to test code that it did not just move.
fn added_skips(path: &str, lines: &[Classified]) -> Vec<Finding> {
    let mut moved: HashMap<&str, usize> = HashMap::new();
    for c in lines {
        if c.line.kind == LineKind::Removed && SKIP.is_match(&c.line.text) {
            *moved.entry(c.line.text.trim()).or_default() += 1;
        }
    }
    lines
        .iter()
        .filter(|c| c.in_test && c.line.kind == LineKind::Added)
        .filter(|c| !is_comment(&c.line.text) && SKIP.is_match(&c.line.text))
        .filter(|c| {
            let left = moved.entry(c.line.text.trim()).or_default();
            let was_there = *left > 0;
            *left = left.saturating_sub(1);
            !was_there
        })
        .map(|c| Finding {
            path: Some(path.to_owned()),
            line: Some(c.line.new),
            severity: Severity::High,
            message: format!(
                "`{path}` line {} skips or singles out tests: `{}`",
                c.line.new,
                c.line.text.trim()
            ),
        })
        .collect()
}

/// Whether a line asserts something, in the test idioms of the common languages.
fn is_assertion(text: &str) -> bool {
    !is_comment(text) && ASSERTION.is_match(text)
}

/// Whether a line is only a comment (a Rust attribute is not).
fn is_comment(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with("//")
        || text.starts_with("/*")
        || text.starts_with('*')
        || (text.starts_with('#') && !text.starts_with("#["))
}

/// The start of a Rust test module.
static TEST_MODULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#\[cfg\(test\)\]|^\s*(pub\s+)?mod\s+tests?\b").expect("a valid regex")
});

/// An attribute that makes the next function a test: Rust's `#[test]` and its async
/// and parametrized kin, JUnit's `@Test`.
static TEST_ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(#\[(\w+::)*(test|rstest|test_case|quickcheck)\b|@(Test|ParameterizedTest|RepeatedTest|TestFactory)\b)")
        .expect("a valid regex")
});

/// The name of the function a test attribute applies to (Rust `fn`, or a Java method).
static FUNCTION_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bfn\s+(\w+)|^\s*(?:(?:public|protected|private|static|final|async|suspend|fun|void)\s+)*(?:\w+\s+)?(\w+)\s*\(")
        .expect("a valid regex")
});

/// A test declared by its own line, in test code: `fn test_…`, Python `def test_…`, Go
/// `func Test…`, JavaScript `it(…)` / `test(…)` / `describe(…)`, RSpec `it "…"`.
static TEST_DECLARATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:pub\s+)?(?:async\s+)?fn\s+(test_\w+)",
        r"|^(?:async\s+)?def\s+(test\w*)\s*\(",
        r"|^func\s+(Test\w*)\s*\(",
        r#"|^(?:it|test|describe|context|specify|xit|xtest|xdescribe|fit|fdescribe)(?:\.\w+)*\s*\(\s*(?:'([^']*)'|"([^"]*)"|`([^`]*)`)"#,
        r#"|^(?:it|describe|context|specify)\s+(?:'([^']*)'|"([^"]*)")"#,
    ))
    .expect("a valid regex")
});

/// A line that checks something: assertions, expectations and test failures.
static ASSERTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i:assert)|(?:^|[^.\w])expect!?\(|\.should\b|\bshould[.(]|should_panic|\bt\.(Error|Fatal)|\brequire\.[A-Z]",
    )
    .expect("a valid regex")
});

/// A marker that skips a test or runs only some: Rust `#[ignore]`, pytest and unittest
/// skips and xfail, Jest/Mocha/Vitest `.skip` / `.only` / `xit` / `fit`, Go `t.Skip`,
/// JUnit `@Disabled` / `@Ignore`, RSpec `skip` / `pending`.
static SKIP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"#\[ignore\b",
        r"|@pytest\.mark\.(skip|skipif|xfail)\b|\bpytest\.(skip|xfail)\(|@unittest\.(skip|skipIf|skipUnless|expectedFailure)\b|\.skipTest\(",
        r"|\b(it|test|describe|context|suite)\.(skip|only)\b|\b(xit|xtest|xdescribe|xcontext|fit|fdescribe)\s*\(",
        r"|\b[tb]\.Skip(f|Now)?\(",
        r"|@(Disabled|Ignore)\b",
        r#"|^\s*(skip|pending)(\s*\(|\s+['"]|\s*$)"#,
    ))
    .expect("a valid regex")
});
