//! Webhook deliveries: recorded before GitHub gets its answer, kept whatever happens.
//!
//! [`Store::record_deliveries`] writes a batch of deliveries and their processing jobs in
//! one transaction (group commit): each delivery is stored in the same transaction that
//! enqueues its job, and the commit's cost is shared by every delivery in the batch.

use std::collections::HashSet;

use bytes::Bytes;

use super::columns::named_in_text;
use super::jobs::{INSERT_JOB_COLUMNS, NewJob};
use super::{Store, with_pool};
use crate::clock::Millis;
use crate::types::{DeliveryId, InstallationId, RepoName};

/// A delivery as received, before it is stored.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// `X-GitHub-Delivery`.
    pub id: DeliveryId,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, when it has one.
    pub action: Option<String>,
    /// The payload's `installation.id`.
    pub installation: Option<InstallationId>,
    /// The payload's `repository.full_name`.
    pub repository: Option<RepoName>,
    /// The raw body, exactly as signed.
    pub body: Bytes,
}

/// Whether a delivery was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordResult {
    /// Stored, and its processing job enqueued.
    Stored,
    /// A delivery with this id was already stored (a redelivery): nothing was written.
    Duplicate,
}

/// What processing made of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Not processed yet.
    Pending,
    /// Dispatched to the orchestrator.
    Processed,
    /// Deliberately not acted on (unknown event, Flotilla's own event, …).
    Ignored,
    /// The payload could not be understood; the error is kept.
    Failed,
}

named_in_text! {
    /// The name stored in the `outcome` column (and used as a metric label).
    DeliveryOutcome as "delivery outcome" {
        Pending => "pending",
        Processed => "processed",
        Ignored => "ignored",
        Failed => "failed",
    }
}

/// A stored delivery.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// `X-GitHub-Delivery`.
    pub id: DeliveryId,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`.
    pub action: Option<String>,
    /// The payload's `installation.id`.
    #[sqlx(rename = "installation_id")]
    pub installation: Option<InstallationId>,
    /// The payload's `repository.full_name`.
    pub repository: Option<RepoName>,
    /// The raw body.
    pub body: Vec<u8>,
    /// When it arrived, Unix milliseconds.
    pub received_at: Millis,
    /// What processing made of it.
    pub outcome: DeliveryOutcome,
    /// Why it was ignored or failed.
    pub outcome_detail: Option<String>,
}

impl Store {
    /// Stores a batch of deliveries, each with its processing job, in one transaction.
    /// Returns one result per delivery, in order.
    pub async fn record_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> anyhow::Result<Vec<RecordResult>> {
        let now = self.now();
        let installations = batch
            .iter()
            .map(|d| d.installation.map(|id| i64::try_from(id.0)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let inserted: Vec<String> = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let mut deliveries = sqlx::QueryBuilder::new(
                "INSERT INTO deliveries \
                 (id, event, action, installation_id, repository, body, received_at) ",
            );
            deliveries.push_values(
                batch.iter().zip(&installations),
                |mut row, (d, installation)| {
                    row.push_bind(d.id.0.as_str())
                        .push_bind(d.event.as_str())
                        .push_bind(d.action.as_deref())
                        .push_bind(*installation)
                        .push_bind(d.repository.as_ref().map(|r| r.0.as_str()))
                        .push_bind(d.body.as_ref())
                        .push_bind(now);
                },
            );
            deliveries.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let inserted: Vec<String> = deliveries.build_query_scalar().fetch_all(&mut *tx).await?;
            if !inserted.is_empty() {
                let jobs: Vec<NewJob> = inserted
                    .iter()
                    .map(|id| NewJob::process_delivery(&DeliveryId(id.clone())))
                    .collect();
                let mut insert = sqlx::QueryBuilder::new(INSERT_JOB_COLUMNS);
                insert.push_values(&jobs, |mut row, job| {
                    row.push_bind(job.kind.as_str())
                        .push_bind(job.key.as_str())
                        .push_bind(job.payload.to_string())
                        .push_bind(job.max_attempts)
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.push(" ON CONFLICT (idempotency_key) DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            inserted
        });
        // A guid sent twice within one batch was inserted once: only its first
        // occurrence counts as stored.
        let mut fresh: HashSet<String> = inserted.into_iter().collect();
        Ok(batch
            .iter()
            .map(|d| {
                if fresh.remove(&d.id.0) {
                    RecordResult::Stored
                } else {
                    RecordResult::Duplicate
                }
            })
            .collect())
    }

    /// Reads a stored delivery.
    pub async fn delivery(&self, id: &DeliveryId) -> anyhow::Result<Option<DeliveryRecord>> {
        let record = with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT id, event, action, installation_id, repository, body, received_at, \
                 outcome, outcome_detail FROM deliveries WHERE id = $1",
            )
            .bind(id.0.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(record)
    }

    /// Records what processing made of a delivery.
    pub async fn set_delivery_outcome(
        &self,
        id: &DeliveryId,
        outcome: DeliveryOutcome,
        detail: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = self.now();
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE deliveries SET outcome = $1, outcome_detail = $2, processed_at = $3 \
                 WHERE id = $4",
            )
            .bind(outcome.as_str())
            .bind(detail)
            .bind(now)
            .bind(id.0.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Counts stored deliveries; the benchmark and tests read it.
    pub async fn count_deliveries(&self) -> anyhow::Result<i64> {
        self.count_rows("deliveries").await
    }
}
