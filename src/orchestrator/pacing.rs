//! How often Flotilla writes to GitHub what people watch but nothing gates on — the plan
//! comment and a check run's "in progress" state — and how long it trusts what it read
//! of a base branch's requirements. GitHub's secondary rate limit allows an App about 80
//! content-creating requests a minute and 500 an hour across all its installations, so
//! each such write is paid for by fewer merges; reads count against 5,000 an hour.
//!
//! The plan comment is edited at most once per `plan_edit_interval` per run: a change
//! inside the interval schedules one edit at its end, which renders the state of that
//! moment (the changes in between are coalesced), and an edit that would write the same
//! text is skipped. A run that ended, a comment not posted yet and a process that stops
//! write at once, so the final state is always on GitHub. The pacing is per process and
//! in memory: a crash loses at most one waiting edit, which the next change writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::RunId;

/// The pacing of calls to GitHub; part of [`super::FleetConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GithubPacing {
    /// At most one plan-comment edit per run in this interval (the final state is
    /// written at once when the run ends).
    pub plan_edit_interval: Duration,
    /// A verification that ends within this time creates its check run once, completed;
    /// one that runs longer shows it in progress first (two writes).
    pub check_in_progress_after: Duration,
    /// How long a base branch's required checks, as read (rulesets and readable
    /// protection), are reused by later landings. GitHub enforces them on every merge
    /// whatever Flotilla read, so a change is at worst noticed this much later.
    pub branch_rules_ttl: Duration,
}

impl Default for GithubPacing {
    /// One plan edit per run every 30 s (two a minute, so 40 runs at once stay within
    /// the secondary limit); check runs in progress after 10 s, which no-op and scripted
    /// reviewers never reach and real agent reviewers always do; branch rules reused
    /// for a minute.
    fn default() -> Self {
        Self {
            plan_edit_interval: Duration::from_secs(30),
            check_in_progress_after: Duration::from_secs(10),
            branch_rules_ttl: Duration::from_secs(60),
        }
    }
}

/// When a paced plan edit may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EditSlot {
    /// Now: the interval since the last edit has passed.
    Now,
    /// At this instant; the caller schedules the edit.
    Later(Instant),
    /// An edit is already scheduled; it will carry this change too.
    Scheduled,
}

/// What this process last wrote to each run's plan comment, and when.
#[derive(Debug, Default)]
pub(crate) struct PlanEdits {
    runs: Mutex<HashMap<RunId, RunEdits>>,
}

#[derive(Debug, Default)]
struct RunEdits {
    last_edit: Option<Instant>,
    last_body: Option<String>,
    flush_at: Option<Instant>,
}

impl PlanEdits {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, RunEdits>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `body` is exactly what this process last wrote for the run.
    pub(crate) fn unchanged(&self, run: RunId, body: &str) -> bool {
        self.runs()
            .get(&run)
            .and_then(|r| r.last_body.as_deref())
            .is_some_and(|last| last == body)
    }

    /// When an edit asked for at `now` may be sent.
    pub(crate) fn slot(&self, run: RunId, now: Instant, interval: Duration) -> EditSlot {
        let mut runs = self.runs();
        let edits = runs.entry(run).or_default();
        if edits.flush_at.is_some() {
            return EditSlot::Scheduled;
        }
        match edits.last_edit {
            Some(last) if now < last + interval => {
                let at = last + interval;
                edits.flush_at = Some(at);
                EditSlot::Later(at)
            }
            _ => EditSlot::Now,
        }
    }

    /// Records an edit (or the first post) of `body` at `now`.
    pub(crate) fn written(&self, run: RunId, body: String, now: Instant) {
        let mut runs = self.runs();
        let edits = runs.entry(run).or_default();
        edits.last_edit = Some(now);
        edits.last_body = Some(body);
    }

    /// Takes the scheduled edit of a run: true when one was still waiting (not yet
    /// written by a flush at shutdown).
    pub(crate) fn take_scheduled(&self, run: RunId) -> bool {
        self.runs()
            .get_mut(&run)
            .and_then(|r| r.flush_at.take())
            .is_some()
    }

    /// The runs with an edit waiting for its slot.
    pub(crate) fn waiting(&self) -> Vec<RunId> {
        self.runs()
            .iter()
            .filter(|(_, r)| r.flush_at.is_some())
            .map(|(run, _)| *run)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_inside_the_interval_wait_for_one_slot_at_its_end() {
        let edits = PlanEdits::default();
        let run = RunId(1);
        let start = Instant::now();
        let interval = Duration::from_secs(30);
        assert_eq!(edits.slot(run, start, interval), EditSlot::Now);
        edits.written(run, "first".into(), start);
        let soon = start + Duration::from_secs(1);
        assert_eq!(
            edits.slot(run, soon, interval),
            EditSlot::Later(start + interval)
        );
        assert_eq!(edits.slot(run, soon, interval), EditSlot::Scheduled);
        assert_eq!(edits.waiting(), vec![run]);
        assert!(edits.take_scheduled(run));
        assert!(!edits.take_scheduled(run), "taken once");
        assert!(edits.unchanged(run, "first"));
        assert!(!edits.unchanged(run, "second"));
        let later = start + interval;
        assert_eq!(edits.slot(run, later, interval), EditSlot::Now);
    }
}
