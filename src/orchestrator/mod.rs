//! The orchestrator: deterministic handlers for jobs taken from the queue.
//!
//! It talks to the world only through the store (and, as the fleet grows, the GitHub
//! client and the workspace/agent modules). Each delivery job parses its stored payload
//! into a typed event and hands it to [`dispatcher::dispatch`].

pub mod dispatcher;
pub mod worker;

use anyhow::Context;
use serde::Deserialize;
use tracing::Instrument;

use crate::store::{ClaimedJob, DeliveryOutcome, JobKind, Store};
use crate::types::DeliveryId;
use crate::webhook::event::{self, Parsed};
use worker::JobHandler;

/// Shared context of every handler.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    store: Store,
    app_slug: String,
}

/// The payload of a `process_delivery` job.
#[derive(Debug, Deserialize)]
struct DeliveryJob {
    delivery_id: DeliveryId,
}

impl Orchestrator {
    /// A context over the store, recognising the App's own bot by `app_slug`.
    pub fn new(store: Store, app_slug: String) -> Self {
        Self { store, app_slug }
    }

    /// Parses a stored delivery and dispatches it. A payload that cannot be understood
    /// is not an error of the job: the delivery is kept, marked failed with the reason,
    /// and never retried (the same bytes would fail the same way).
    async fn process_delivery(&self, id: &DeliveryId) -> anyhow::Result<()> {
        let delivery = self
            .store
            .delivery(id)
            .await?
            .with_context(|| format!("delivery {id} is not stored"))?;
        let span = tracing::info_span!(
            "delivery",
            delivery = %delivery.id,
            event = %delivery.event,
            repo = delivery.repository.as_ref().map(|r| r.0.as_str()).unwrap_or(""),
            installation = delivery.installation.map(|i| i.0).unwrap_or(0),
        );
        async {
            let (outcome, detail) = match event::parse(&delivery.event, &delivery.body) {
                Err(error) => {
                    tracing::warn!(%error, "delivery payload rejected");
                    (DeliveryOutcome::Failed, Some(error.to_string()))
                }
                Ok(Parsed::Ignored(reason)) => {
                    tracing::info!(%reason, "delivery ignored");
                    (DeliveryOutcome::Ignored, Some(reason.to_string()))
                }
                Ok(Parsed::Event(event)) if event.is_from_app(&self.app_slug) => {
                    tracing::debug!("delivery caused by Flotilla itself; ignored");
                    (
                        DeliveryOutcome::Ignored,
                        Some(format!("sent by the App's own bot {}[bot]", self.app_slug)),
                    )
                }
                Ok(Parsed::Event(event)) => {
                    dispatcher::dispatch(&event).await?;
                    (DeliveryOutcome::Processed, None)
                }
            };
            self.store
                .set_delivery_outcome(&delivery.id, outcome, detail.as_deref())
                .await
        }
        .instrument(span)
        .await
    }
}

impl JobHandler for Orchestrator {
    async fn run(&self, job: ClaimedJob) -> anyhow::Result<()> {
        match job.kind {
            JobKind::ProcessDelivery => {
                let payload: DeliveryJob =
                    serde_json::from_value(job.payload).context("process_delivery job payload")?;
                self.process_delivery(&payload.delivery_id).await
            }
        }
    }
}
