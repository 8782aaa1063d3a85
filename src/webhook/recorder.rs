//! Group commit for incoming deliveries.
//!
//! Intake handlers hand their delivery to one writer task and wait for its answer; the
//! writer takes whatever has queued up (up to a batch limit) and stores it in one
//! transaction. Under load, one commit (one fsync) serves many deliveries; when idle, a
//! batch is a single delivery and nothing waits for a timer.

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use crate::store::{NewDelivery, RecordResult, Store};

/// Most deliveries stored in one transaction.
const MAX_BATCH: usize = 256;

/// Queue depth before handlers wait for room (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;

type Request = (NewDelivery, oneshot::Sender<Result<RecordResult, String>>);

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct DeliveryRecorder {
    sender: mpsc::Sender<Request>,
}

impl DeliveryRecorder {
    /// Starts the writer task on the current runtime. It ends when every handle is gone.
    pub fn spawn(store: Store, on_stored: impl Fn() + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_batches(store, receiver, on_stored));
        Self { sender }
    }

    /// Stores a delivery and its processing job; returns once the transaction committed.
    pub async fn record(&self, delivery: NewDelivery) -> anyhow::Result<RecordResult> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((delivery, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the delivery writer has stopped"))?;
        answer
            .await
            .context("the delivery writer dropped the request")?
            .map_err(anyhow::Error::msg)
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Request>, on_stored: impl Fn()) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deliveries: Vec<NewDelivery> = batch.iter().map(|(d, _)| d.clone()).collect();
        match store.record_deliveries(&deliveries).await {
            Ok(results) => {
                let stored = results.contains(&RecordResult::Stored);
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    // The handler may have gone (client hung up); the delivery is stored anyway.
                    let _ = reply.send(Ok(result));
                }
                if stored {
                    on_stored();
                }
            }
            Err(batch_error) => {
                // One bad delivery must not fail its neighbours: store them one by one.
                tracing::warn!(error = %format!("{batch_error:#}"), size = batch.len(),
                    "group commit failed; storing the batch one delivery at a time");
                for (delivery, reply) in batch.drain(..) {
                    let result = store
                        .record_deliveries(std::slice::from_ref(&delivery))
                        .await
                        .map(|mut r| r.pop().unwrap_or(RecordResult::Duplicate))
                        .map_err(|e| format!("{e:#}"));
                    if result == Ok(RecordResult::Stored) {
                        on_stored();
                    }
                    let _ = reply.send(result);
                }
            }
        }
    }
}
