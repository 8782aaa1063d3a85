//! What verified a task's last head, read from Flotilla's store for the progress lines
//! and the summary: each lens's verdict, each gate's outcome, the required checks that
//! failed, and the findings of the lenses that refuted it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::review::{Decision, Verdict};
use crate::store::{Store, TaskId, TaskRecord, VerdictSource};
use crate::types::CommitSha;

/// The verdicts on one head, shaped as the summary JSON's `verdicts`: each lens's by
/// its name, then `gates` and `checks` (those absent when there are none).
#[derive(Debug, Default, Serialize)]
pub(super) struct Verdicts {
    #[serde(flatten)]
    lenses: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    gates: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    checks: BTreeMap<String, String>,
    /// `path:line message` of each distinct finding of a refuting lens.
    #[serde(skip)]
    findings: Vec<String>,
}

impl Verdicts {
    /// The verdicts recorded on the task's last head; none before it pushed one.
    pub(super) async fn load(store: &Store, task: &TaskRecord) -> anyhow::Result<Self> {
        match &task.head_sha {
            Some(head) => Self::on_head(store, task.id, head).await,
            None => Ok(Self::default()),
        }
    }

    /// The verdicts recorded on one head of a task.
    pub(super) async fn on_head(
        store: &Store,
        task: TaskId,
        head: &CommitSha,
    ) -> anyhow::Result<Self> {
        let mut verdicts = Self::default();
        for record in store.verdicts(task, head).await? {
            let outcome = record.outcome.as_str().to_owned();
            match record.kind {
                VerdictSource::Lens => {
                    if let Ok(verdict) = serde_json::from_str::<Verdict>(&record.detail)
                        && verdict.decision == Decision::Refuted
                    {
                        for finding in verdict.findings {
                            let at = match (finding.path, finding.line) {
                                (Some(path), Some(line)) => format!("{path}:{line} "),
                                (Some(path), None) => format!("{path} "),
                                (None, _) => String::new(),
                            };
                            let shown = format!("{at}{}", finding.message);
                            if !verdicts.findings.contains(&shown) {
                                verdicts.findings.push(shown);
                            }
                        }
                    }
                    verdicts.lenses.insert(record.name, outcome);
                }
                VerdictSource::Gate => {
                    verdicts.gates.insert(record.name, outcome);
                }
                VerdictSource::Check => {
                    verdicts.checks.insert(record.name, outcome);
                }
            }
        }
        Ok(verdicts)
    }

    /// Whether a lens refuted the head, a gate blocked it or a required check failed.
    pub(super) fn refuted(&self) -> bool {
        self.lenses.values().any(|outcome| outcome == "refuted")
            || self
                .gates
                .values()
                .any(|outcome| outcome != "passed" && outcome != "warned")
            || !self.checks.is_empty()
    }

    /// `correctness upheld, runs upheld, security upheld; gates passed`, or `None`
    /// when the head was never verified.
    pub(super) fn line(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if !self.lenses.is_empty() {
            parts.push(joined(self.lenses.iter()));
        }
        if !self.gates.is_empty() {
            let mut failing = self
                .gates
                .iter()
                .filter(|(_, outcome)| outcome.as_str() != "passed")
                .peekable();
            parts.push(if failing.peek().is_none() {
                "gates passed".to_owned()
            } else {
                format!("gates: {}", joined(failing))
            });
        }
        if !self.checks.is_empty() {
            parts.push(format!("checks: {}", joined(self.checks.iter())));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The refuting lenses' findings, each once: `path:line message`.
    pub(super) fn findings(&self) -> &[String] {
        &self.findings
    }
}

/// `name outcome, name outcome`.
fn joined<'a>(outcomes: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    outcomes
        .map(|(name, outcome)| format!("{name} {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}
