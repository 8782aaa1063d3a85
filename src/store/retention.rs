//! Retention: what the store may forget once it is old. A delivery keeps its row and
//! outcome (the id still deduplicates a redelivery) but loses its body; finished jobs
//! go; a verdict of a run that is no longer active loses its output (the reviewer's
//! transcript tail or a command's output) but keeps its decision and summary; a step of
//! such a run loses its prompt and transcript but keeps its times and outcome (the
//! timeline stays). Nothing of an active run is touched.

use super::{Backend, Store, with_pool};
use crate::clock::Millis;

/// What one prune forgot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Delivery bodies emptied.
    pub delivery_bodies: u64,
    /// Finished (done or dead) jobs deleted.
    pub jobs: u64,
    /// Verdict outputs dropped.
    pub verdict_outputs: u64,
    /// Step prompts and transcripts dropped.
    pub step_texts: u64,
}

impl Store {
    /// Forgets what was finished before `before` (Unix milliseconds), as the module
    /// says; then gives SQLite's freed pages back to the file system (PostgreSQL's
    /// autovacuum does that itself).
    pub async fn prune(&self, before: Millis) -> anyhow::Result<Pruned> {
        let pruned = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let delivery_bodies = sqlx::query(
                "UPDATE deliveries SET body = $1 WHERE received_at < $2 \
                 AND outcome <> 'pending' AND length(body) > 0",
            )
            .bind(Vec::<u8>::new())
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let jobs = sqlx::query(
                "DELETE FROM jobs WHERE state IN ('done', 'dead') AND finished_at < $1",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let verdict_outputs = sqlx::query(
                "UPDATE verdicts SET output = NULL WHERE output IS NOT NULL \
                 AND updated_at < $1 AND task_id IN (SELECT t.id FROM tasks t \
                 JOIN runs r ON r.id = t.run_id WHERE r.state IN ('settled', 'cancelled'))",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let step_texts = sqlx::query(
                "UPDATE steps SET prompt = NULL, transcript = NULL \
                 WHERE (prompt IS NOT NULL OR transcript IS NOT NULL) AND finished_at < $1 \
                 AND run_id IN (SELECT id FROM runs WHERE state IN ('settled', 'cancelled'))",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Pruned {
                delivery_bodies,
                jobs,
                verdict_outputs,
                step_texts,
            }
        });
        if let Backend::Sqlite(pools) = &self.backend {
            sqlx::query("VACUUM").execute(&pools.writer).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pools.writer)
                .await?;
        }
        Ok(pruned)
    }
}
