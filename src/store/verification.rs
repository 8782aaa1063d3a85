//! Verification and landing in the store: the verdicts of each lens and gate per head
//! commit (with the change they judged, and where a lens verdict was carried over from),
//! the task transitions past `proposed`, and the per-repository merge lock.
//!
//! Every transition names the head commit it is about and only applies while the task
//! still has that head: a push that happened meanwhile makes an old verdict or an old
//! landing decision a no-op instead of a wrong merge.

use std::time::Duration;

use super::jobs::{JobKind, JobState, NewJob, insert_job};
use super::tasks::{TASK_COLUMNS, TaskId, TaskRecord, TaskRow, TaskState};
use super::{Store, storable, with_pool};
use crate::clock::duration_ms;
use crate::types::{CommitSha, RepoName};

/// Makes the run of task `$2` active again if it had settled: one of its tasks is
/// moving once more.
const REOPEN_RUN: &str = "UPDATE runs SET state = 'active', updated_at = $1 \
    WHERE state = 'settled' AND id = (SELECT run_id FROM tasks WHERE id = $2)";

/// Attempts a verification or landing job gets for failures of Flotilla's own steps
/// (fetch, GitHub); a reviewer's failure is a verdict, not a job failure.
const REVIEW_JOB_MAX_ATTEMPTS: i64 = 5;

/// The payload of `verify_task` and `land_task` jobs: a task and the head they are
/// about.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct HeadJob {
    /// The task.
    pub task_id: TaskId,
    /// The head commit the job was queued for.
    pub head_sha: CommitSha,
}

impl NewJob {
    /// Verifies `head` of a task; `reason` tells apart several verifications of one
    /// head (a proposal, a re-verify request by delivery id, a new base).
    pub fn verify_task(task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self::head_job(JobKind::VerifyTask, "verify", task, head, reason)
    }

    /// Tries to land `head` of a task; `reason` tells apart several tries (the
    /// verification that upheld it, a CI result by delivery id, a dependency merged).
    pub fn land_task(task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self::head_job(JobKind::LandTask, "land", task, head, reason)
    }

    /// A job of `kind` about `head` of a task, keyed `<task>:<step>:<head>:<reason>`.
    fn head_job(kind: JobKind, step: &str, task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self {
            kind,
            key: format!("{task}:{step}:{head}:{reason}"),
            payload: serde_json::json!(HeadJob {
                task_id: task,
                head_sha: head.clone(),
            }),
            max_attempts: REVIEW_JOB_MAX_ATTEMPTS,
        }
    }
}

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

impl VerdictSource {
    /// The name stored in the `kind` column (and used as a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lens => "lens",
            Self::Gate => "gate",
            Self::Check => "check",
        }
    }
}

impl std::fmt::Display for VerdictSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VerdictSource {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value {
            "lens" => Self::Lens,
            "gate" => Self::Gate,
            "check" => Self::Check,
            other => anyhow::bail!("unknown verdict kind {other:?}"),
        })
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

impl VerdictOutcome {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upheld => "upheld",
            Self::Refuted => "refuted",
            Self::Passed => "passed",
            Self::Warned => "warned",
            Self::Failed => "failed",
            Self::NeedsHuman => "needs_human",
        }
    }

    /// Whether it lets the change merge: upheld, passed, or a warning.
    pub fn holds(self) -> bool {
        matches!(self, Self::Upheld | Self::Passed | Self::Warned)
    }
}

impl std::fmt::Display for VerdictOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VerdictOutcome {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value {
            "upheld" => Self::Upheld,
            "refuted" => Self::Refuted,
            "passed" => Self::Passed,
            "warned" => Self::Warned,
            "failed" => Self::Failed,
            "needs_human" => Self::NeedsHuman,
            other => anyhow::bail!("unknown verdict outcome {other:?}"),
        })
    }
}

/// A verdict as stored.
#[derive(Clone, Debug)]
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

/// A `verdicts` row as the database returns it, before its values are typed.
#[derive(sqlx::FromRow)]
struct VerdictRow {
    kind: String,
    name: String,
    outcome: String,
    summary: String,
    detail: String,
    review_id: Option<i64>,
    patch_id: Option<String>,
    carried_from: Option<String>,
    output: Option<String>,
}

impl TryFrom<VerdictRow> for VerdictRecord {
    type Error = anyhow::Error;

    fn try_from(row: VerdictRow) -> anyhow::Result<Self> {
        Ok(Self {
            kind: row.kind.parse()?,
            name: row.name,
            outcome: row.outcome.parse()?,
            summary: row.summary,
            detail: row.detail,
            review_id: row.review_id,
            patch_id: row.patch_id,
            carried_from: row.carried_from,
            output: row.output,
        })
    }
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

/// How a verification ended, as recorded.
#[derive(Clone, Debug)]
pub enum VerifyEnd {
    /// Every gate and lens holds.
    Verified,
    /// Something refuted the head; `feedback` goes into the worker's next prompt.
    Refuted {
        /// The findings and failing output.
        feedback: String,
    },
    /// No retry can fix it (a protected path): a person must look.
    NeedsHuman {
        /// Why.
        reason: String,
    },
}

impl Store {
    /// The tasks (of any run in `repo`) whose recorded head is `sha`.
    pub async fn tasks_by_head(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> anyhow::Result<Vec<TaskRecord>> {
        let rows = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, TaskRow>(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id \
                 WHERE r.repo = $1 AND t.head_sha = $2 ORDER BY t.id"
            ))
            .bind(repo.0.as_str())
            .bind(sha.0.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(TaskRecord::try_from).collect()
    }

    /// The verification job of `head` a worker holds or will take (running wins over
    /// queued), or `None`: reconciliation leaves a `flotilla/verify` shown in progress
    /// alone while a job works on it, and verifies again when none will.
    pub async fn verification_in_hand(
        &self,
        id: TaskId,
        head: &CommitSha,
    ) -> anyhow::Result<Option<JobState>> {
        let pattern = format!("{id}:verify:{head}:%");
        let states: Vec<String> = with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT state FROM jobs WHERE kind = $1 AND idempotency_key LIKE $2 \
                 AND state IN ('queued', 'running')",
            )
            .bind(JobKind::VerifyTask.as_str())
            .bind(pattern.as_str())
            .fetch_all(pool)
            .await?
        });
        let states = states
            .iter()
            .map(|s| s.parse())
            .collect::<anyhow::Result<Vec<JobState>>>()?;
        Ok(states
            .iter()
            .copied()
            .find(|s| *s == JobState::Running)
            .or(states.first().copied()))
    }

    /// Marks the verification of `head` as started; `false` when the task moved on
    /// (another head, cancelled, merged) and the job has nothing to do.
    pub async fn begin_verify(&self, id: TaskId, head: &CommitSha) -> anyhow::Result<bool> {
        let now = self.now();
        let from = TaskState::moving_from(
            &[TaskState::Proposed, TaskState::Verifying],
            &[TaskState::Verifying],
        )?;
        let changed = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE tasks SET state = 'verifying', updated_at = $1 WHERE id = $2 \
                 AND head_sha = $3 AND state IN ({from})"
            ))
            .bind(now)
            .bind(id.0)
            .bind(head.0.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Records how verifying `head` ended. Verified queues the landing job in the same
    /// transaction; refuted goes back to a worker while attempts are left and needs a
    /// person after the last one. Returns the new state, or `None` when the task no
    /// longer has that head or is no longer verifying.
    pub async fn finish_verify(
        &self,
        id: TaskId,
        head: &CommitSha,
        end: &VerifyEnd,
    ) -> anyhow::Result<Option<TaskState>> {
        let now = self.now();
        let (state_sql, to, reason) = match end {
            VerifyEnd::Verified => ("'verified'", &[TaskState::Verified][..], None),
            VerifyEnd::Refuted { feedback } => (
                "CASE WHEN attempts < max_attempts THEN 'refuted' ELSE 'needs_human' END",
                &[TaskState::Refuted, TaskState::NeedsHuman][..],
                Some(feedback.as_str()),
            ),
            VerifyEnd::NeedsHuman { reason } => (
                "'needs_human'",
                &[TaskState::NeedsHuman][..],
                Some(reason.as_str()),
            ),
        };
        let from = TaskState::moving_from(&[TaskState::Verifying], to)?;
        let state = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let state: Option<String> = sqlx::query_scalar(&format!(
                "UPDATE tasks SET state = {state_sql}, last_reason = COALESCE($1, last_reason), \
                 updated_at = $2 WHERE id = $3 AND head_sha = $4 AND state IN ({from}) \
                 RETURNING state"
            ))
            .bind(reason.map(storable))
            .bind(now)
            .bind(id.0)
            .bind(head.0.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if state.as_deref() == Some("verified") {
                let job = NewJob::land_task(id, head, "verified");
                insert_job!(&mut *tx, job, now).await?;
            }
            tx.commit().await?;
            state
        });
        state.map(|s| s.parse()).transpose()
    }

    /// Records a new head for a task whose pull request is in review (a push by a
    /// person, a base brought up to date, a head that moved during a merge) and queues
    /// its verification; a settled run is active again. `false` when the task already
    /// had that head or is not in review.
    pub async fn new_head(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let in_review = TaskState::moving_from(
            &[
                TaskState::Proposed,
                TaskState::Verifying,
                TaskState::Refuted,
                TaskState::Verified,
                TaskState::Ready,
                TaskState::Merging,
                TaskState::NeedsHuman,
            ],
            &[TaskState::Proposed],
        )?;
        self.queue_verification(
            id,
            head,
            reason,
            &format!(
                "UPDATE tasks SET head_sha = $1, state = 'proposed', updated_at = $2 \
                 WHERE id = $3 AND (head_sha IS NULL OR head_sha <> $1) \
                 AND state IN ({in_review})"
            ),
        )
        .await
    }

    /// Verifies a task's current head again (a person asked for it); a settled run is
    /// active again. `false` when the task has no pull request in a state that can be
    /// verified.
    pub async fn reverify(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let verifiable = TaskState::moving_from(
            &[
                TaskState::Proposed,
                TaskState::Verifying,
                TaskState::Refuted,
                TaskState::Verified,
                TaskState::Ready,
                TaskState::NeedsHuman,
            ],
            &[TaskState::Proposed],
        )?;
        self.queue_verification(
            id,
            head,
            reason,
            &format!(
                "UPDATE tasks SET state = 'proposed', updated_at = $2 WHERE id = $3 \
                 AND head_sha = $1 AND state IN ({verifiable})"
            ),
        )
        .await
    }

    /// Runs `update` (binding `$1` head, `$2` now, `$3` task) and, when it changed the
    /// task, queues the verification of `head` and reopens a settled run — all in one
    /// transaction.
    async fn queue_verification(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
        update: &str,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let changed = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(update)
                .bind(head.0.as_str())
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 1 {
                let job = NewJob::verify_task(id, head, reason);
                insert_job!(&mut *tx, job, now).await?;
                sqlx::query(REOPEN_RUN)
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            changed
        });
        Ok(changed == 1)
    }

    /// Moves a task with head `head` from one of `from` to `to`, recording `reason`
    /// when given. `false` when it was not in one of those states with that head.
    pub async fn move_task(
        &self,
        id: TaskId,
        head: &CommitSha,
        from: &[TaskState],
        to: TaskState,
        reason: Option<&str>,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let from_list = TaskState::moving_from(from, &[to])?;
        let changed = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE tasks SET state = $1, last_reason = COALESCE($2, last_reason), \
                 updated_at = $3 WHERE id = $4 AND head_sha = $5 AND state IN ({from_list})"
            ))
            .bind(to.as_str())
            .bind(reason.map(storable))
            .bind(now)
            .bind(id.0)
            .bind(head.0.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Records that a task's pull request merged, making `merged` on the base.
    pub async fn mark_merged(&self, id: TaskId, merged: &CommitSha) -> anyhow::Result<bool> {
        let now = self.now();
        let mergeable = TaskState::moving_from(
            &TaskState::predecessors(TaskState::Merged),
            &[TaskState::Merged],
        )?;
        let changed = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE tasks SET state = 'merged', merged_sha = $1, last_reason = NULL, \
                 landing = NULL, updated_at = $2 WHERE id = $3 AND state IN ({mergeable})"
            ))
            .bind(merged.0.as_str())
            .bind(now)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

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
        let rows = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, VerdictRow>(
                "SELECT kind, name, outcome, summary, detail, review_id, patch_id, carried_from, \
                 output FROM verdicts \
                 WHERE task_id = $1 AND head_sha = $2 ORDER BY kind DESC, name",
            )
            .bind(task.0)
            .bind(head.0.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(VerdictRecord::try_from).collect()
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

    /// Takes the merge lock of `repo` for `holder` until `lease` runs out; `false` when
    /// another holder has it. Taking a lock one already holds renews it.
    pub async fn try_lock_merges(
        &self,
        repo: &RepoName,
        holder: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let expires = now.saturating_add(duration_ms(lease));
        let taken = with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO merge_locks (repo, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (repo) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE merge_locks.expires_at <= $4 OR merge_locks.holder = excluded.holder",
            )
            .bind(repo.0.as_str())
            .bind(holder)
            .bind(expires)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Gives the merge lock of `repo` back, if `holder` still has it.
    pub async fn unlock_merges(&self, repo: &RepoName, holder: &str) -> anyhow::Result<()> {
        with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM merge_locks WHERE repo = $1 AND holder = $2")
                .bind(repo.0.as_str())
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
