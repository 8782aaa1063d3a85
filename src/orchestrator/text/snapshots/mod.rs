//! Every message Flotilla writes on GitHub, pinned as an inline snapshot (`insta`): a
//! change of wording is a reviewed diff here. `cargo insta test --accept` rewrites the
//! snapshots after a deliberate change. The fixtures are one small run with two tasks,
//! a verdict of each kind, and every gate outcome.

mod checks;
mod issue;
mod pull;

use std::collections::HashMap;

use crate::config::{AgentConfig, Lens};
use crate::cost::{Spend, Usd};
use crate::redact::{KnownSecrets, Redactor};
use crate::review::{Decision, Finding, Gate, GateOutcome, GateResult, Severity, Verdict};
use crate::store::{NewRun, RunId, RunRecord, RunState, TaskId, TaskRecord, TaskState};
use crate::types::{CommitSha, InstallationId, IssueNumber, Login, PrNumber, RepoName};

use super::RunSpend;

/// A redactor holding no value: the snapshots show text as written.
fn redactor() -> Redactor {
    KnownSecrets::default().redactor()
}

/// A head commit.
fn head() -> CommitSha {
    CommitSha("0123456789abcdef0123456789abcdef01234567".to_owned())
}

/// Dollars, as the cost module counts them.
fn dollars(amount: f64) -> Spend {
    Spend {
        usd: Usd::from_dollars(amount).expect("a valid amount"),
        ..Spend::default()
    }
}

/// The run of issue #7 in `acme/widgets`, active.
fn run() -> RunRecord {
    RunRecord {
        id: RunId(3),
        spec: NewRun {
            repo: RepoName("acme/widgets".to_owned()),
            issue: IssueNumber(7),
            installation: InstallationId(11),
            clone_url: "https://github.com/acme/widgets.git".to_owned(),
            default_branch: "main".to_owned(),
            title: "Speed up the parser".to_owned(),
            body: "- [ ] cache tokens\n- [ ] skip blank lines".to_owned(),
            force_single: false,
            config: String::new(),
            requested_by: Login("alice".to_owned()),
            max_parallel: 2,
        },
        state: RunState::Active,
        base_sha: Some(head()),
        plan_source: Some("the issue's task list (2 items)".to_owned()),
        plan_decisions: vec!["2 unchecked items → 2 tasks".to_owned()],
        plan_comment_id: Some(99),
        budget_override: None,
        budget_stopped: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// Task `position` of [`run`], in `state`.
fn task(position: i64, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: TaskId(position),
        run_id: RunId(3),
        position,
        title: ["cache tokens", "skip blank lines"][(position as usize - 1) % 2].to_owned(),
        instructions: "Make the parser cache its tokens.".to_owned(),
        paths: vec!["src/parser.rs".to_owned()],
        depends_on: Vec::new(),
        branch: format!("flotilla/7-{position}"),
        state,
        attempts: 1,
        max_attempts: 3,
        pr: Some(PrNumber(20 + position as u64)),
        pr_node_id: None,
        head_sha: Some(head()),
        last_reason: None,
        summary: None,
        merged_sha: None,
        pending_proposal: None,
        updated_at: 0,
    }
}

/// What the run's agents spent: $0.40 in all, $0.25 on task 1.
fn spend() -> RunSpend {
    RunSpend {
        total: dollars(0.40),
        by_task: HashMap::from([(TaskId(1), dollars(0.25))]),
    }
}

/// A finding, on a line when `line` is given.
fn finding(severity: Severity, line: Option<u32>, message: &str) -> Finding {
    Finding {
        path: Some("src/parser.rs".to_owned()),
        line,
        severity,
        message: message.to_owned(),
    }
}

/// A lens's refutation with two findings.
fn refuted() -> Verdict {
    Verdict {
        decision: Decision::Refuted,
        summary: "The cache is never invalidated.".to_owned(),
        findings: vec![
            finding(Severity::High, Some(12), "stale tokens after an edit"),
            finding(Severity::Low, None, "no test covers the cache"),
        ],
    }
}

/// A lens that could not refute.
fn upheld() -> Verdict {
    Verdict {
        decision: Decision::Upheld,
        summary: "Tried edits and reloads; the cache holds.".to_owned(),
        findings: Vec::new(),
    }
}

/// A lens named `name`.
fn lens(name: &str) -> Lens {
    Lens {
        name: name.to_owned(),
        agent: AgentConfig::default(),
    }
}

/// The build gate failed by `cargo test`, with the tail of its output.
fn failed_build(output: &str) -> GateResult {
    GateResult {
        output: Some(output.to_owned()),
        ..gate(
            Gate::Build,
            GateOutcome::Failed,
            "`cargo test` exited with status 101",
        )
    }
}

/// A gate's result.
fn gate(gate: Gate, outcome: GateOutcome, summary: &str) -> GateResult {
    GateResult {
        gate,
        outcome,
        summary: summary.to_owned(),
        findings: Vec::new(),
        output: None,
    }
}
