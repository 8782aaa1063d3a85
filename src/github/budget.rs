//! The budget of GitHub writes an installation may spend, as the client sees it: ask
//! before every content-creating request, and report a secondary rate limit so that
//! every process holds its writes until GitHub's `retry-after`.
//!
//! The client knows only the [`WriteBudget`] trait; the store keeps the budget in the
//! database (`store/write_budget.rs`) so that every process sharing it spends from one
//! bucket. A client built without a budget (tests, one-shot commands) writes unpaced.
//! This module decides nothing about storage and never sleeps: `request.rs` waits.

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::types::InstallationId;

/// How fast one installation may write: a token bucket holding at most `burst` writes,
/// refilled at `per_hour` writes an hour.
///
/// In any span of time `t`, a bucket grants at most `burst + per_hour × t / 1 h`
/// writes. GitHub's secondary limits allow about 80 content-creating requests a minute
/// and 500 an hour, so the defaults (a burst of 60, 420 an hour) grant at most 67 in
/// any minute and 480 in any hour: the minute stays 13 writes clear of the limit and
/// the hour 20, room for the calls that go around the budget (minting installation
/// tokens, redelivering webhooks as the App). A bucket is the fairest shape for a fleet
/// that idles, then lands a batch: the burst lets a handful of tasks open, review and
/// merge at once, and the refill holds the hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRate {
    /// Writes that may go at once after a quiet spell: the bucket's capacity.
    pub burst: u32,
    /// Writes an hour over the long run: the bucket's refill rate.
    pub per_hour: u32,
}

impl Default for WriteRate {
    fn default() -> Self {
        Self {
            burst: 60,
            per_hour: 420,
        }
    }
}

impl WriteRate {
    /// The most writes this rate grants within any 60 seconds: the number to hold
    /// against GitHub's 80 a minute.
    pub fn most_per_minute(&self) -> u32 {
        self.burst.saturating_add(self.per_hour / 60)
    }

    /// The refill in tokens per millisecond, as the store computes with it.
    pub fn refill_per_ms(&self) -> f64 {
        f64::from(self.per_hour) / 3_600_000.0
    }
}

/// The budget's answer to "may this installation write now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Yes: one write was taken from the budget.
    Granted,
    /// Not yet: ask again after this long (the bucket refills, or a pause ends).
    Wait(Duration),
}

/// A write budget shared by every process: one bucket and one pause per installation.
pub trait WriteBudget: Send + Sync + 'static {
    /// Takes one write for `installation` at `rate` when one is left and its writes are
    /// not paused; otherwise says how long until one may be.
    fn take(
        &self,
        installation: InstallationId,
        rate: WriteRate,
    ) -> BoxFuture<'_, anyhow::Result<Grant>>;

    /// Holds every write of `installation` for `wait` from now (GitHub answered with a
    /// secondary rate limit); a longer pause already recorded stands.
    fn pause(
        &self,
        installation: InstallationId,
        rate: WriteRate,
        wait: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>>;
}
