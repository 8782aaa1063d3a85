//! The fleet's agent capacity: each process that runs agents announces its number of
//! agent slots (`--max-agents`) and renews the announcement while it lives; the
//! scheduler caps working tasks at the sum over the processes heard from lately. A
//! process that stopped (or was killed) drops out once its announcement is stale.

use std::time::Duration;

use super::{Store, with_pool};
use crate::clock::duration_ms;

impl Store {
    /// Records that `process` runs up to `slots` agents at once, as of now.
    pub async fn announce_agent_slots(&self, process: &str, slots: u32) -> anyhow::Result<()> {
        let now = self.now();
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO agent_capacity (process, slots, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (process) DO UPDATE SET slots = excluded.slots, \
                 seen_at = excluded.seen_at",
            )
            .bind(process)
            .bind(i64::from(slots))
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets `process`'s slots (it is shutting down).
    pub async fn withdraw_agent_slots(&self, process: &str) -> anyhow::Result<()> {
        with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM agent_capacity WHERE process = $1")
                .bind(process)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The agent slots of every process heard from within `fresh`; none when no process
    /// announced any lately.
    pub async fn fleet_agent_slots(&self, fresh: Duration) -> anyhow::Result<Option<u32>> {
        let since = self.now().saturating_sub(duration_ms(fresh));
        let total: Option<i64> = with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT CAST(SUM(slots) AS BIGINT) FROM agent_capacity WHERE seen_at >= $1",
            )
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(total.map(u32::try_from).transpose()?)
    }
}
