//! The landing train: behind a base whose protection wants branches up to date, each
//! merge puts every other verified pull request of the run behind again. Bringing them
//! all up to date at once would cost one `update-branch` and one verification per task
//! per merge (GitHub writes its rate limit counts) and all but one of them would be
//! behind again as soon as the first merged. So one task of a run at a time holds the
//! train while it is brought up to date and lands; another that finds its base behind
//! meanwhile waits, and is woken once the holder merged or left review. And one merge at
//! a time per repository: the merge lock.

use std::time::Duration;

use super::runs::RunId;
use super::tasks::TaskId;
use super::{Store, with_pool};
use crate::clock::duration_ms;
use crate::types::{CommitSha, RepoName};

/// States in which a task that was brought up to date to land still holds the train.
const HOLDING_STATES: &str = "('proposed', 'verifying', 'verified', 'ready', 'merging')";

/// The condition under which a `merge_locks` row is still held at the time bound as
/// the parameter `now` (`$N`): before it expires and, where its landing job is known,
/// while that job runs under a live lease.
pub(super) fn lock_held_at(now: &str) -> String {
    format!(
        "merge_locks.expires_at > {now} AND (merge_locks.job_id IS NULL \
         OR EXISTS (SELECT 1 FROM jobs WHERE jobs.id = merge_locks.job_id \
         AND jobs.state = 'running' AND jobs.lease_expires_at > {now}))"
    )
}

impl Store {
    /// Takes the run's train for `task`, which is about to be brought up to date to
    /// land; `false`, with the task marked as waiting, while another task holds it.
    pub async fn take_landing_train(&self, run: RunId, task: TaskId) -> anyhow::Result<bool> {
        let taken = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let taken = sqlx::query(&format!(
                "UPDATE tasks SET landing = 'updating' WHERE id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM tasks o WHERE o.run_id = $2 AND o.id <> $1 \
                 AND o.landing = 'updating' AND o.state IN {HOLDING_STATES})"
            ))
            .bind(task.0)
            .bind(run.0)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !taken {
                sqlx::query("UPDATE tasks SET landing = 'waiting' WHERE id = $1")
                    .bind(task.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            taken
        });
        Ok(taken)
    }

    /// Once no task of the run holds the train: the tasks that waited for it, released,
    /// with the head to try to land again (those still verified or ready). Empty while
    /// the train is held.
    pub async fn release_waiting_landings(
        &self,
        run: RunId,
    ) -> anyhow::Result<Vec<(TaskId, CommitSha)>> {
        let released: Vec<(i64, Option<String>, String)> = with_pool!(self, write, |pool| {
            sqlx::query_as(&format!(
                "UPDATE tasks SET landing = NULL WHERE run_id = $1 AND landing = 'waiting' \
                 AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.run_id = $1 \
                 AND o.landing = 'updating' AND o.state IN {HOLDING_STATES}) \
                 RETURNING id, head_sha, state"
            ))
            .bind(run.0)
            .fetch_all(pool)
            .await?
        });
        Ok(released
            .into_iter()
            .filter(|(_, _, state)| state == "verified" || state == "ready")
            .filter_map(|(id, head, _)| Some((TaskId(id), CommitSha(head?))))
            .collect())
    }

    /// Takes the merge lock of `repo` for `holder`, the landing job `job`, until `lease`
    /// runs out; `false` when another holder has it. Taking a lock one already holds
    /// renews it. A lock whose job no longer runs under a live lease is free: a worker
    /// killed mid-merge does not hold up the repository's other merges.
    pub async fn try_lock_merges(
        &self,
        repo: &RepoName,
        holder: &str,
        job: i64,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let expires = now.saturating_add(duration_ms(lease));
        let held = lock_held_at("$5");
        let query = format!(
            "INSERT INTO merge_locks (repo, holder, job_id, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repo) DO UPDATE SET holder = excluded.holder, \
             job_id = excluded.job_id, expires_at = excluded.expires_at \
             WHERE merge_locks.holder = excluded.holder OR NOT ({held})"
        );
        let taken = with_pool!(self, write, |pool| {
            sqlx::query(&query)
                .bind(repo.0.as_str())
                .bind(holder)
                .bind(job)
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
