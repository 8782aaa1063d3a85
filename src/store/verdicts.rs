//! Verdicts: what each lens, gate and required check said about one head commit of a
//! task, with the change it judged (its patch-id) and, for a lens verdict carried over
//! a base update, the head the lens ran on.

use super::columns::named_in_text;
use super::tasks::TaskId;
use super::{Store, storable, with_pool};
use crate::types::CommitSha;

/// Which part of verification a verdict comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictSource {
    /// A reviewer lens.
    Lens,
    /// A deterministic gate.
    Gate,
    /// A required check (CI) read from GitHub.
    Check,
}

named_in_text! {
    /// The name stored in the `kind` column (and used as a metric label).
    VerdictSource as "verdict kind" {
        Lens => "lens",
        Gate => "gate",
        Check => "check",
    }
}

/// One verdict to record.
#[derive(Clone, Debug)]
pub struct NewVerdict {
    /// Lens, gate or check.
    pub source: VerdictSource,
    /// Its name (`security`, `secrets`, `ci`).
    pub name: String,
    /// How it came out.
    pub outcome: VerdictOutcome,
    /// One line for people.
    pub summary: String,
    /// The full result as JSON.
    pub detail: serde_json::Value,
    /// Transcript tail or command output.
    pub output: Option<String>,
    /// The patch-id of the change the verification judged (`merge-base(base,
    /// head)..head`); none when it is not known (a required check read from GitHub).
    pub patch_id: Option<PatchId>,
    /// A lens verdict carried over from an earlier head of the same change: that head,
    /// the one the lens was run on. None when the lens ran on this head.
    pub carried_from: Option<CommitSha>,
}

/// The `git patch-id` of a change (whitespace kept): two heads with the same one
/// carry the same change, whatever base each sits on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PatchId(pub String);

impl std::fmt::Display for PatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a lens, gate or required check came out on a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictOutcome {
    /// A lens tried to refute the change and could not.
    Upheld,
    /// A lens refuted the change (or gave no usable answer).
    Refuted,
    /// A gate passed.
    Passed,
    /// A gate found something worth a look that does not block.
    Warned,
    /// A gate or a required check failed.
    Failed,
    /// A gate found something no retry can fix: a person must look.
    NeedsHuman,
}

named_in_text! {
    /// The stored and displayed name.
    VerdictOutcome as "verdict outcome" {
        Upheld => "upheld",
        Refuted => "refuted",
        Passed => "passed",
        Warned => "warned",
        Failed => "failed",
        NeedsHuman => "needs_human",
    }
}

impl VerdictOutcome {
    /// Whether it lets the change merge: upheld, passed, or a warning.
    pub fn holds(self) -> bool {
        matches!(self, Self::Upheld | Self::Passed | Self::Warned)
    }
}

/// A verdict as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VerdictRecord {
    /// Lens, gate or check.
    pub kind: VerdictSource,
    /// Its name.
    pub name: String,
    /// How it came out.
    pub outcome: VerdictOutcome,
    /// One line for people.
    pub summary: String,
    /// The full result, as JSON text.
    pub detail: String,
    /// The PR review posted for it (lenses only).
    pub review_id: Option<i64>,
    /// The patch-id of the change judged, when recorded.
    pub patch_id: Option<String>,
    /// For a lens verdict carried over from an earlier head: that head.
    pub carried_from: Option<String>,
    /// The reviewer's transcript tail or the command's output, until retention drops it.
    pub output: Option<String>,
}

impl VerdictRecord {
    /// The head the lens was run on, when this verdict was carried over to another.
    pub fn carried_from(&self) -> Option<CommitSha> {
        self.carried_from.clone().map(CommitSha)
    }

    /// Whether this verdict judged the change with patch-id `patch`.
    pub fn judged(&self, patch: &PatchId) -> bool {
        self.patch_id.as_deref() == Some(patch.0.as_str())
    }

    /// Whether this lens, gate or check lets the change merge: upheld, passed, or a
    /// warning.
    pub fn holds(&self) -> bool {
        self.outcome.holds()
    }
}

impl Store {
    /// Records (or, when re-verified, replaces) one verdict on a task's head, with the
    /// change it judged and, for a carried lens verdict, the head it was given on. A
    /// review already posted for it is kept.
    pub async fn record_verdict(
        &self,
        task: TaskId,
        head: &CommitSha,
        verdict: &NewVerdict,
    ) -> anyhow::Result<()> {
        let now = self.now();
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO verdicts (task_id, head_sha, kind, name, outcome, summary, detail, \
                 output, patch_id, carried_from, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                 ON CONFLICT (task_id, head_sha, kind, name) DO UPDATE SET \
                 outcome = excluded.outcome, summary = excluded.summary, \
                 detail = excluded.detail, output = excluded.output, \
                 patch_id = excluded.patch_id, carried_from = excluded.carried_from, \
                 updated_at = excluded.updated_at",
            )
            .bind(task.0)
            .bind(head.0.as_str())
            .bind(verdict.source.as_str())
            .bind(verdict.name.as_str())
            .bind(verdict.outcome.as_str())
            .bind(storable(&verdict.summary))
            .bind(storable(&verdict.detail.to_string()).into_owned())
            .bind(verdict.output.as_deref().map(storable))
            .bind(verdict.patch_id.as_ref().map(|p| p.0.as_str()))
            .bind(verdict.carried_from.as_ref().map(|h| h.0.as_str()))
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every verdict recorded on a task's head, lenses first, then gates and checks.
    pub async fn verdicts(
        &self,
        task: TaskId,
        head: &CommitSha,
    ) -> anyhow::Result<Vec<VerdictRecord>> {
        let verdicts = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, VerdictRecord>(
                "SELECT kind, name, outcome, summary, detail, review_id, patch_id, carried_from, \
                 output FROM verdicts \
                 WHERE task_id = $1 AND head_sha = $2 ORDER BY kind DESC, name",
            )
            .bind(task.0)
            .bind(head.0.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(verdicts)
    }

    /// Remembers the review posted for a lens on a head, so re-verifying the same head
    /// does not post it twice.
    pub async fn set_review_id(
        &self,
        task: TaskId,
        head: &CommitSha,
        lens: &str,
        review: u64,
    ) -> anyhow::Result<()> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE verdicts SET review_id = $1 WHERE task_id = $2 AND head_sha = $3 \
                 AND kind = 'lens' AND name = $4",
            )
            .bind(i64::try_from(review)?)
            .bind(task.0)
            .bind(head.0.as_str())
            .bind(lens)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
