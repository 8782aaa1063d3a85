//! The missed-event recovery cursor: the newest webhook delivery attempt recovery has
//! read, kept across restarts so a new process reads only attempts it has not seen.

use super::{Store, with_pool};

impl Store {
    /// The newest delivery attempt id recovery has read, or `None` before its first
    /// pass on this database.
    pub async fn recovery_cursor(&self) -> anyhow::Result<Option<u64>> {
        let newest: Option<i64> = with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT newest_attempt FROM recovery_cursor WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        newest
            .map(|id| u64::try_from(id).map_err(|_| anyhow::anyhow!("negative attempt id {id}")))
            .transpose()
    }

    /// Moves the cursor to `newest` unless it already stands at a newer attempt (two
    /// processes sharing a database may both run recovery).
    pub async fn advance_recovery_cursor(&self, newest: u64) -> anyhow::Result<()> {
        let newest = i64::try_from(newest)?;
        let now = self.now();
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO recovery_cursor (id, newest_attempt, updated_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, \
                 newest_attempt = CASE WHEN excluded.newest_attempt > recovery_cursor.newest_attempt \
                 THEN excluded.newest_attempt ELSE recovery_cursor.newest_attempt END",
            )
            .bind(newest)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
