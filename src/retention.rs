//! Retention for operators: `flotilla prune --older-than 30d` once, and the same prune
//! once a day inside `flotilla serve` (`--retention`), so delivery bodies, finished jobs
//! and old verdict outputs do not pile up forever. What is forgotten, and what never
//! is, is the store's decision ([`Store::prune`]).

use std::time::Duration;

use crate::clock::duration_ms;
use crate::store::{Pruned, Store};

/// How often `serve` prunes.
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Forgets what finished longer than `age` ago.
pub async fn prune_older_than(store: &Store, age: Duration) -> anyhow::Result<Pruned> {
    let now = chrono::Utc::now().timestamp_millis();
    store.prune(now.saturating_sub(duration_ms(age))).await
}

/// Prunes now and then once a day for as long as the process runs; a failed prune is
/// logged and tried again the next day.
pub fn spawn_daily(store: Store, age: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            match prune_older_than(&store, age).await {
                Ok(pruned) => tracing::info!(?pruned, ?age, "retention: pruned"),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "retention: prune failed")
                }
            }
        }
    })
}
