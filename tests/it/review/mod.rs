//! Review: reading a real `git diff`, the gates that need no process, a reviewer's
//! answer and brief, and what maintainers see of the result.

mod answers;
mod diff;
mod gates;
mod hostile_change;
mod prompt;
mod report;
mod secret_scan;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use flotilla::github::{AnnotationLevel, CheckConclusion, ReviewSide};
use flotilla::orchestrator::text::{
    gates_output, lens_output, review, review_marker, verify_output,
};
use flotilla::review::diff::{ChangeStatus, Diff};
use flotilla::review::gates::{GateSettings, static_gates, validate_glob};
use flotilla::review::prompt::{ReviewBrief, reviewer_prompt};
use flotilla::review::verdict::{self, ANSWER_FORMAT, VerdictError};
use flotilla::review::{
    Decision, Finding, Gate, GateOutcome, GateResult, Given, Severity, Verdict, secrets,
};
use flotilla::types::CommitSha;
use serde_json::json;

/// A throwaway git repository with two commits to compare.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        repo.git(&["init", "-q"]);
        repo
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn write(&self, file: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.path(file);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
        self
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(["-c", "commit.gpgsign=false", "-c", "core.quotepath=true"])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    fn commit(&self) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", "change"]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn diff(&self, base: &str, head: &str) -> Diff {
        let text = self.git(&[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "-M",
            "--unified=3",
            base,
            head,
        ]);
        Diff::parse(&text)
    }
}

fn numbered(lines: std::ops::RangeInclusive<u32>) -> String {
    lines.map(|n| format!("line {n}\n")).collect()
}

fn file<'d>(diff: &'d Diff, path: &str) -> &'d flotilla::review::diff::FileChange {
    diff.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is in the diff: {diff:#?}"))
}

/// A diff adding one file with the given lines.
fn adding(path: &str, lines: &[&str]) -> Diff {
    let mut text = format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for line in lines {
        text.push('+');
        text.push_str(line);
        text.push('\n');
    }
    Diff::parse(&text)
}

/// A diff touching each path with one added line.
fn touching(paths: &[&str]) -> Diff {
    let text: String = paths
        .iter()
        .map(|path| {
            format!(
                "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1,2 @@\n x\n+y\n"
            )
        })
        .collect();
    Diff::parse(&text)
}

fn settings() -> GateSettings {
    GateSettings {
        protected_paths: Vec::new(),
        declared_paths: Vec::new(),
        scope_fails: false,
        max_changed_lines: 1000,
        verify_files: Vec::new(),
    }
}

fn gate(results: &[GateResult], gate: Gate) -> &GateResult {
    results
        .iter()
        .find(|r| r.gate == gate)
        .unwrap_or_else(|| panic!("{gate:?} in {results:#?}"))
}

fn brief<'a>(lens: &'a str, title: &'a str, gates: &'a [GateResult]) -> ReviewBrief<'a> {
    ReviewBrief {
        lens,
        task_title: title,
        task_instructions: "Make `parse` accept empty input.",
        declared_paths: &[],
        head_sha: "feedface",
        base_sha: "c0ffee",
        diff_stat: " src/parse.rs | 4 ++--\n 1 file changed",
        gates,
    }
}

fn sha() -> CommitSha {
    CommitSha("0123456789abcdef0123456789abcdef01234567".to_owned())
}

fn finding(path: Option<&str>, line: Option<u32>, severity: Severity, message: &str) -> Finding {
    Finding {
        path: path.map(str::to_owned),
        line,
        severity,
        message: message.to_owned(),
    }
}

fn refuted(findings: Vec<Finding>) -> Verdict {
    Verdict {
        decision: Decision::Refuted,
        summary: "It breaks on empty input.".to_owned(),
        findings,
    }
}

fn gate_result(gate: Gate, outcome: GateOutcome) -> GateResult {
    GateResult {
        gate,
        outcome,
        summary: format!("{} came out {outcome:?}", gate.as_str()),
        findings: Vec::new(),
        output: None,
    }
}

fn upheld() -> Verdict {
    Verdict {
        decision: Decision::Upheld,
        summary: "Could not break it.".to_owned(),
        findings: Vec::new(),
    }
}
