//! The GitHub write budget in the database: one token bucket and one pause per
//! installation, shared by every process on this database (see `github/budget.rs` for
//! the numbers and why).
//!
//! A write is granted by one statement that refills the bucket by the time elapsed
//! since it was last refilled (capped at its capacity) and takes a token only when a
//! whole one is left and no pause holds; the row lock of that upsert serialises
//! processes, so no two of them can spend the same token. The bucket is only written
//! when a write is granted: a refused ask changes nothing, and the refill it would
//! have recorded is recomputed by the next ask.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Store, with_pool};
use crate::clock::{Millis, duration_ms};
use crate::github::{Grant, WriteBudget, WriteRate};
use crate::types::InstallationId;

/// Milliseconds since the bucket was last refilled, never negative (another process's
/// clock may run ahead of ours). `$3` is now.
const ELAPSED: &str = "(CASE WHEN $3 > github_write_budget.refilled_at \
     THEN $3 - github_write_budget.refilled_at ELSE 0 END)";

/// A whole token, less what floating-point refill arithmetic may lose (a thousand
/// milliseconds at a thousandth of a token each must make one).
const WHOLE: f64 = 1.0 - 1e-9;

/// The grant: `$1` installation, `$2` capacity, `$3` now, `$4` refill per millisecond.
/// Returns a row only when a write was granted.
fn take_sql() -> String {
    let refilled = format!("(github_write_budget.tokens + {ELAPSED} * $4)");
    format!(
        "INSERT INTO github_write_budget (installation, tokens, refilled_at, paused_until) \
         VALUES ($1, $2 - 1, $3, 0) \
         ON CONFLICT (installation) DO UPDATE SET \
           tokens = (CASE WHEN {refilled} > $2 THEN $2 ELSE {refilled} END) - 1, \
           refilled_at = (CASE WHEN $3 > github_write_budget.refilled_at \
             THEN $3 ELSE github_write_budget.refilled_at END) \
         WHERE github_write_budget.paused_until <= $3 AND {refilled} >= {WHOLE} \
         RETURNING tokens"
    )
}

/// A bucket as stored, read after a refused grant to say how long to wait.
#[derive(sqlx::FromRow)]
struct BucketRow {
    tokens: f64,
    refilled_at: Millis,
    paused_until: Millis,
}

impl BucketRow {
    /// How long from `now` until a write may be granted: the pause's end, or when the
    /// refill makes a whole token, whichever is later; at least a millisecond.
    fn wait(&self, now: Millis, rate: WriteRate) -> Duration {
        let paused = self.paused_until.saturating_sub(now).max(0);
        let elapsed = now.saturating_sub(self.refilled_at).max(0);
        let refill = rate.refill_per_ms();
        let tokens = self.tokens + elapsed as f64 * refill;
        let missing = WHOLE - tokens;
        let refilling = if missing <= 0.0 {
            0
        } else if refill > 0.0 {
            // At most an hour's worth of milliseconds: far inside an i64.
            (missing / refill).ceil().min(3_600_000.0) as Millis
        } else {
            3_600_000
        };
        let wait = paused.max(refilling).max(1);
        Duration::from_millis(u64::try_from(wait).unwrap_or(1))
    }
}

impl Store {
    /// Takes one GitHub write for `installation` from the shared bucket, or says how long
    /// to wait for one.
    pub async fn take_github_write(
        &self,
        installation: InstallationId,
        rate: WriteRate,
    ) -> anyhow::Result<Grant> {
        let now = self.now();
        let id = i64::try_from(installation.0)?;
        let capacity = f64::from(rate.burst.max(1));
        let sql = take_sql();
        let granted = with_pool!(self, write, |pool| {
            sqlx::query_scalar::<_, f64>(&sql)
                .bind(id)
                .bind(capacity)
                .bind(now)
                .bind(rate.refill_per_ms())
                .fetch_optional(pool)
                .await?
        });
        if granted.is_some() {
            return Ok(Grant::Granted);
        }
        let row: Option<BucketRow> = with_pool!(self, write, |pool| {
            sqlx::query_as(
                "SELECT tokens, refilled_at, paused_until FROM github_write_budget \
                 WHERE installation = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(Grant::Wait(row.map_or(Duration::from_millis(1), |row| {
            row.wait(now, rate)
        })))
    }

    /// Holds every GitHub write of `installation` for `wait` from now, unless a longer
    /// pause is already recorded.
    pub async fn pause_github_writes(
        &self,
        installation: InstallationId,
        rate: WriteRate,
        wait: Duration,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let until = now.saturating_add(duration_ms(wait));
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO github_write_budget (installation, tokens, refilled_at, paused_until) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (installation) DO UPDATE SET paused_until = \
                   CASE WHEN github_write_budget.paused_until > $4 \
                   THEN github_write_budget.paused_until ELSE $4 END",
            )
            .bind(i64::try_from(installation.0)?)
            .bind(f64::from(rate.burst.max(1)))
            .bind(now)
            .bind(until)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

impl WriteBudget for Store {
    fn take(
        &self,
        installation: InstallationId,
        rate: WriteRate,
    ) -> BoxFuture<'_, anyhow::Result<Grant>> {
        Box::pin(self.take_github_write(installation, rate))
    }

    fn pause(
        &self,
        installation: InstallationId,
        rate: WriteRate,
        wait: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(self.pause_github_writes(installation, rate, wait))
    }
}
