//! Review: deciding whether a proposed change holds, without trusting the agent that
//! wrote it.
//!
//! Everything here is a pure function of its inputs (a diff, a reviewer's answer, the
//! gate settings): reading the change (`diff`), the deterministic gates that need no
//! process (`gates`, `secrets`, `tests_gate`), the files the build commands run
//! (`verify_files`), and a reviewer lens's brief and answer (`prompt`, `verdict`). The
//! orchestrator runs the processes, talks to GitHub, and words what maintainers see of
//! the result (`orchestrator::text`).

pub mod diff;
pub mod gates;
pub mod prompt;
pub mod secrets;
mod shell_words;
pub mod tests_gate;
pub mod verdict;
pub mod verify_files;

use serde::{Deserialize, Serialize};

/// The name of the aggregate check run that branch protection should require.
pub const VERIFY_CHECK: &str = "flotilla/verify";

/// The lenses a repository gets when its configuration names none.
pub const DEFAULT_LENSES: [&str; 3] = ["correctness", "security", "runs"];

/// How a lens is named where maintainers see it (its row in `flotilla/verify`, its
/// review, its annotations): `flotilla/<lens>`.
pub fn lens_check(lens: &str) -> String {
    format!("flotilla/{lens}")
}

/// How serious a finding is, as a reviewer or a gate grades it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the change outright (a crash, a leaked secret, a wrong result).
    Critical,
    /// Very likely wrong in a case that matters.
    High,
    /// Wrong in a corner, or a risk worth fixing.
    Medium,
    /// Minor.
    Low,
    /// A remark, not a defect.
    Info,
}

impl Severity {
    /// The name a reviewer writes and people read: `critical` … `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }
}

/// One piece of evidence against (or about) a change, anchored to a file and line when
/// it can be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The file, relative to the repository root.
    pub path: Option<String>,
    /// The 1-based line in the file at the head commit.
    pub line: Option<u32>,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong and the evidence for it.
    pub message: String,
}

/// A lens's decision on one head commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The reviewer tried and could not refute the change.
    Upheld,
    /// The reviewer refuted it, or Flotilla could not get a usable answer.
    Refuted,
}

impl Decision {
    /// The name stored with the verdict and shown in summaries: `upheld`, `refuted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upheld => "upheld",
            Self::Refuted => "refuted",
        }
    }
}

/// What one reviewer lens concluded about one head commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Upheld or refuted.
    pub decision: Decision,
    /// The reviewer's one-paragraph summary, or why Flotilla refuted on its behalf.
    pub summary: String,
    /// The evidence.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// A refutation Flotilla records when the reviewer gave no usable answer
    /// (timeout, crash, unparsable or schema-invalid output): `reason` says which.
    pub fn refuted_by_flotilla(reason: impl Into<String>) -> Self {
        Self {
            decision: Decision::Refuted,
            summary: reason.into(),
            findings: Vec::new(),
        }
    }
}

/// Where a lens's verdict on a head was given. Exists so that a verdict carried over a
/// base-only update is never shown, stored or reviewed as if the lens had run on the
/// new head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Given {
    /// The lens ran on this head.
    Here,
    /// The lens ran on this earlier head; the head at hand only merged a newer base
    /// into the same change (same patch-id, clean merge), so the verdict was carried
    /// over.
    CarriedFrom(crate::types::CommitSha),
}

/// The deterministic gates, each with its own recorded result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// The configured build/test commands.
    Build,
    /// Changes to CI definitions, Flotilla's config, CODEOWNERS, agent instruction files,
    /// the files the build commands run, or configured paths.
    ProtectedPaths,
    /// Files changed outside the task's declared paths.
    Scope,
    /// Existing tests deleted, stripped of assertions or skipped.
    Tests,
    /// Added lines that look like credentials.
    Secrets,
    /// An empty diff, or one over the size limit.
    DiffSize,
}

impl Gate {
    /// The gate's name in check-run summaries and the demo's summary JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::ProtectedPaths => "protected_paths",
            Self::Scope => "scope",
            Self::Tests => "tests",
            Self::Secrets => "secrets",
            Self::DiffSize => "diff_size",
        }
    }
}

/// How a gate came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// Nothing to object to.
    Passed,
    /// Something to report that does not block (scope, when configured to report).
    Warned,
    /// Blocks the merge; the worker may fix it on a retry.
    Failed,
    /// Blocks the merge and no retry can fix it: a person must look (protected paths).
    NeedsHuman,
}

impl GateOutcome {
    /// The name stored with the gate's result: `passed`, `warned`, `failed`,
    /// `needs_human`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Warned => "warned",
            Self::Failed => "failed",
            Self::NeedsHuman => "needs_human",
        }
    }

    /// Whether the change may still merge after this outcome.
    pub fn allows_merge(self) -> bool {
        matches!(self, Self::Passed | Self::Warned)
    }
}

/// One gate's recorded result on one head commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateResult {
    /// Which gate.
    pub gate: Gate,
    /// How it came out.
    pub outcome: GateOutcome,
    /// One line for people: what was checked and what was found.
    pub summary: String,
    /// Anchored evidence (a protected file, a line with a secret, …).
    pub findings: Vec<Finding>,
    /// For the build gate: the command that ran and the tail of its output.
    pub output: Option<String>,
}
