//! Steps: what ran for a run and when — the planner, each worker attempt, each build
//! gate and each reviewer lens — with how it ended and, redacted by the caller and
//! capped here, the prompt the agent got and its transcript. The dashboard's timeline
//! and attempt pages read them; nothing decides anything from them.
//!
//! Transcripts live in the database rather than in a process's data dir: a `web`
//! process shows what a `worker` on another machine recorded (nothing on disk is
//! shared between processes).

use std::fmt;

use super::columns::{NullableInt, named_in_text};
use super::runs::RunId;
use super::tasks::TaskId;
use super::{Store, storable, with_pool};
use crate::clock::Millis;
use crate::types::CommitSha;

/// Bytes of a transcript kept per step: its end, where the outcome is.
pub const TRANSCRIPT_CAP: usize = 256 * 1024;
/// Bytes of a prompt kept per step: its start, where the task is.
pub const PROMPT_CAP: usize = 64 * 1024;

/// A step's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct StepId(pub i64);

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a step was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    /// The planner agent deciding the tasks.
    Plan,
    /// One worker attempt at a task.
    Work,
    /// The build gate: the configured build and test commands on a head.
    Build,
    /// One reviewer lens trying to refute a head.
    Review,
}

named_in_text! {
    /// The stored and displayed name.
    StepKind as "step kind" {
        Plan => "plan",
        Work => "work",
        Build => "build",
        Review => "review",
    }
}

/// How a step ended, in the three colours a timeline needs; the words are in the
/// step's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// It did its job: work proposed, build passed, the lens upheld the change.
    Succeeded,
    /// It did not: the attempt failed, the build failed, the lens refuted.
    Failed,
    /// It never finished: its process died or a newer try of the same step began.
    Interrupted,
}

named_in_text! {
    /// The stored and displayed name.
    StepOutcome as "step outcome" {
        Succeeded => "succeeded",
        Failed => "failed",
        Interrupted => "interrupted",
    }
}

/// A step that begins now.
#[derive(Clone, Debug)]
pub struct NewStep {
    /// The run it works for.
    pub run: RunId,
    /// The task, for everything but the planner.
    pub task: Option<TaskId>,
    /// What it is.
    pub kind: StepKind,
    /// A reviewer's lens.
    pub lens: Option<String>,
    /// A worker's attempt number.
    pub attempt: Option<u32>,
    /// The head a build or reviewer judges.
    pub head: Option<CommitSha>,
    /// The prompt the agent gets, redacted by the caller (none for a build).
    pub prompt: Option<String>,
}

/// How a step ended.
#[derive(Clone, Debug)]
pub struct StepEnd {
    /// Succeeded or failed.
    pub outcome: StepOutcome,
    /// Why, in words: the attempt's reason, the lens's verdict.
    pub reason: String,
    /// Its output, redacted by the caller.
    pub transcript: String,
}

/// A step as stored. The list queries leave `prompt` and `transcript` out; [`Store::step`]
/// reads them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StepRecord {
    /// Row id.
    pub id: StepId,
    /// The run.
    pub run_id: RunId,
    /// The task, if any.
    pub task_id: Option<TaskId>,
    /// What it was.
    pub kind: StepKind,
    /// A reviewer's lens.
    pub lens: Option<String>,
    /// A worker's attempt number.
    #[sqlx(try_from = "NullableInt")]
    pub attempt: Option<u32>,
    /// The head judged.
    #[sqlx(rename = "head_sha")]
    pub head: Option<CommitSha>,
    /// When it began.
    pub started_at: Millis,
    /// When it ended; none while it runs.
    pub finished_at: Option<Millis>,
    /// How it ended; none while it runs.
    pub outcome: Option<StepOutcome>,
    /// Why, in words.
    pub reason: Option<String>,
    /// The prompt, when read with [`Store::step`].
    pub prompt: Option<String>,
    /// The transcript, when read with [`Store::step`].
    pub transcript: Option<String>,
}

/// The columns of a listed step: everything but the large texts.
const LISTED: &str = "id, run_id, task_id, kind, lens, attempt, head_sha, started_at, \
    finished_at, outcome, reason, NULL AS prompt, NULL AS transcript";

/// The last `cap` bytes of `text`, cut at a character boundary.
fn last_bytes(text: &str, cap: usize) -> &str {
    let mut start = text.len().saturating_sub(cap);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The first `cap` bytes of `text`, cut at a character boundary.
fn first_bytes(text: &str, cap: usize) -> &str {
    let mut end = cap.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Store {
    /// Records that a step begins now. A step of the same kind for the same task,
    /// attempt, lens and head that is still open was cut short (its process died and
    /// the job is being tried again): it is closed as interrupted.
    pub async fn start_step(&self, step: &NewStep) -> anyhow::Result<StepId> {
        let now = self.now();
        let attempt = step.attempt.map(i64::from);
        let head = step.head.as_ref().map(|h| h.0.as_str());
        let prompt = step
            .prompt
            .as_deref()
            .map(|p| storable(first_bytes(p, PROMPT_CAP)).into_owned());
        let id = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE steps SET finished_at = $1, outcome = 'interrupted', \
                 reason = 'cut short: its process stopped before it ended' \
                 WHERE finished_at IS NULL AND run_id = $2 AND task_id IS NOT DISTINCT FROM $3 \
                 AND kind = $4 AND lens IS NOT DISTINCT FROM $5 \
                 AND attempt IS NOT DISTINCT FROM $6 AND head_sha IS NOT DISTINCT FROM $7",
            )
            .bind(now)
            .bind(step.run.0)
            .bind(step.task.map(|t| t.0))
            .bind(step.kind.as_str())
            .bind(step.lens.as_deref())
            .bind(attempt)
            .bind(head)
            .execute(&mut *tx)
            .await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO steps (run_id, task_id, kind, lens, attempt, head_sha, started_at, \
                 prompt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(step.run.0)
            .bind(step.task.map(|t| t.0))
            .bind(step.kind.as_str())
            .bind(step.lens.as_deref())
            .bind(attempt)
            .bind(head)
            .bind(now)
            .bind(prompt.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        Ok(StepId(id))
    }

    /// Records how a step ended; its transcript keeps the last [`TRANSCRIPT_CAP`] bytes.
    /// A step already ended (closed as interrupted by a newer try) is left as it is.
    pub async fn finish_step(&self, id: StepId, end: &StepEnd) -> anyhow::Result<()> {
        let now = self.now();
        let transcript = storable(last_bytes(&end.transcript, TRANSCRIPT_CAP)).into_owned();
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE steps SET finished_at = $1, outcome = $2, reason = $3, transcript = $4 \
                 WHERE id = $5 AND finished_at IS NULL",
            )
            .bind(now)
            .bind(end.outcome.as_str())
            .bind(storable(&end.reason).as_ref())
            .bind(transcript.as_str())
            .bind(id.0)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A run's steps in the order they began, without their texts.
    pub async fn steps_of_run(&self, run: RunId) -> anyhow::Result<Vec<StepRecord>> {
        let steps = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, StepRecord>(&format!(
                "SELECT {LISTED} FROM steps WHERE run_id = $1 ORDER BY started_at, id"
            ))
            .bind(run.0)
            .fetch_all(pool)
            .await?
        });
        Ok(steps)
    }

    /// One step with its prompt and transcript.
    pub async fn step(&self, id: StepId) -> anyhow::Result<Option<StepRecord>> {
        let step = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, StepRecord>(
                "SELECT id, run_id, task_id, kind, lens, attempt, head_sha, started_at, \
                 finished_at, outcome, reason, prompt, transcript FROM steps WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await?
        });
        Ok(step)
    }

    /// Steps running now, across every run: the agents and builds at work.
    pub async fn open_steps(&self) -> anyhow::Result<Vec<StepRecord>> {
        let steps = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, StepRecord>(&format!(
                "SELECT {LISTED} FROM steps WHERE finished_at IS NULL ORDER BY started_at, id"
            ))
            .fetch_all(pool)
            .await?
        });
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_cut_at_character_boundaries() {
        let text = "ééé";
        assert_eq!(last_bytes(text, 3), "é");
        assert_eq!(first_bytes(text, 3), "é");
        assert_eq!(last_bytes(text, 100), text);
        assert_eq!(first_bytes(text, 0), "");
    }
}
