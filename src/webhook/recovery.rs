//! Missed-event recovery. GitHub never redelivers a webhook by itself: one sent while
//! Flotilla was down, or answered with an error, is lost unless someone asks. So at
//! start and every few minutes Flotilla reads the App's recent delivery attempts
//! (`GET /app/hook/deliveries`, only those newer than the last it read) and asks GitHub
//! to send again each event that no attempt delivered and that the store has no record
//! of. The redelivery arrives as an ordinary webhook with the same GUID, so the intake's
//! deduplication keeps an event from being handled twice.
//!
//! The newest attempt read is kept in the store, so a restart reads only newer ones
//! (but never past one whose redelivery GitHub refused to take: it is asked again).
//! An event asked for again shows up as a newer attempt: delivered, it is skipped; failed
//! again (Flotilla down once more), it is asked for again, by this process once.
//! After each pass the orchestrator reconciles its live runs with GitHub
//! (`orchestrator::reconcile`), for what no redelivery can bring back.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::github::{GithubApp, HookDelivery};
use crate::orchestrator::Orchestrator;
use crate::store::Store;
use crate::types::DeliveryId;

/// How often recovery looks again after the pass at start.
pub const EVERY: Duration = Duration::from_secs(5 * 60);

/// The recovery loop's memory between passes.
pub struct Recovery {
    github: GithubApp,
    store: Store,
    /// Events already asked for again by this process; GitHub lists each redelivery
    /// as a new attempt, which must not trigger another.
    asked: HashSet<String>,
}

impl Recovery {
    /// Recovery for the App `github`, checking events against `store`.
    pub fn new(github: GithubApp, store: Store) -> Self {
        Self {
            github,
            store,
            asked: HashSet::new(),
        }
    }

    /// One pass; returns how many events were asked for again.
    pub async fn pass(&mut self) -> anyhow::Result<usize> {
        let newest_seen = self.store.recovery_cursor().await?;
        let attempts = self.github.hook_deliveries_after(newest_seen).await?;
        let mut by_event: BTreeMap<&str, Vec<&HookDelivery>> = BTreeMap::new();
        for attempt in &attempts {
            by_event.entry(&attempt.guid).or_default().push(attempt);
        }
        let mut asked = 0;
        // The oldest attempt whose redelivery could not be asked for: the cursor stays
        // before it, so the next pass reads it and asks again.
        let mut unasked: Option<u64> = None;
        for (guid, tries) in by_event {
            if tries.iter().any(|t| t.delivered()) || self.asked.contains(guid) {
                continue;
            }
            if self
                .store
                .delivery(&DeliveryId(guid.to_owned()))
                .await?
                .is_some()
            {
                continue;
            }
            let Some(last) = tries.iter().max_by_key(|t| t.id) else {
                continue;
            };
            match self.github.redeliver(last.id).await {
                Ok(()) => {
                    tracing::info!(
                        delivery = guid,
                        event = %last.event,
                        status = last.status_code,
                        "a webhook Flotilla never took: asked GitHub to send it again"
                    );
                    self.asked.insert(guid.to_owned());
                    asked += 1;
                }
                Err(error) => {
                    tracing::warn!(delivery = guid, %error, "asking for a redelivery failed; asking again at the next pass");
                    unasked = Some(unasked.map_or(last.id, |id| id.min(last.id)));
                }
            }
        }
        let read = attempts.iter().map(|a| a.id).max();
        let cursor = match (read, unasked) {
            (Some(newest), Some(unasked)) => Some(newest.min(unasked.saturating_sub(1))),
            (read, _) => read,
        };
        if let Some(cursor) = cursor {
            self.store.advance_recovery_cursor(cursor).await?;
        }
        Ok(asked)
    }

    /// Runs a pass now and then every [`EVERY`] for as long as the process runs, each
    /// followed by `orchestrator`'s reconciliation of its live runs; a failed pass is
    /// logged and tried again at the next.
    pub fn spawn(mut self, orchestrator: Arc<Orchestrator>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(EVERY);
            loop {
                ticks.tick().await;
                if let Err(error) = self.pass().await {
                    tracing::warn!(error = %format!("{error:#}"), "missed-event recovery failed");
                }
                match orchestrator.reconcile().await {
                    Ok(0) => {}
                    Ok(repairs) => tracing::info!(repairs, "reconciled live runs with GitHub"),
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "reconciliation failed");
                    }
                }
            }
        })
    }
}
