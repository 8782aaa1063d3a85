//! Webhooks out: every state change GitHub would announce is queued here (in order,
//! under the state lock) and POSTed by one background task, signed, with GitHub's
//! headers. Each attempt is recorded for `GET /app/hook/deliveries` and redelivery.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::types::Login;
use crate::webhook::signature::sign;

use super::Sim;
use super::json;
use super::state::{Delivery, Repo, WebhookTarget, World};

/// GitHub gives a receiver 10 s to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook to send.
#[derive(Clone)]
pub struct Outgoing {
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// `action`, if the event has one.
    pub action: Option<String>,
    /// Installation concerned.
    pub installation_id: Option<u64>,
    /// Repository concerned.
    pub repository_id: Option<u64>,
    /// The payload.
    pub payload: Value,
    /// Where to send it.
    pub target: WebhookTarget,
    /// Whether this is a redelivery.
    pub redelivery: bool,
}

/// The sending half kept in the state, so events queue in the order they happen.
pub type Outbox = mpsc::UnboundedSender<Outgoing>;

/// Queues `event` about `repo` for every App installed on its owner (each with a
/// webhook), adding `action`, `repository`, `installation` and `sender` to `fields`.
pub fn announce(
    world: &World,
    outbox: &Outbox,
    repo: &Repo,
    event: &str,
    action: Option<&str>,
    fields: Map<String, Value>,
    sender: &Login,
) {
    let Some((owner, _)) = repo.name.split() else {
        return;
    };
    for installation in world
        .installations
        .values()
        .filter(|i| i.account.0 == owner)
    {
        let Some(target) = world
            .apps
            .get(&installation.app_id)
            .and_then(|a| a.webhook.clone())
            .filter(|w| w.active)
        else {
            continue;
        };
        let mut payload = Map::new();
        if let Some(action) = action {
            payload.insert("action".into(), json!(action));
        }
        payload.extend(fields.clone());
        payload.insert("repository".into(), json::repo(world, repo));
        payload.insert("sender".into(), json::user(world, sender));
        payload.insert(
            "installation".into(),
            json::installation_ref(installation.id.0),
        );
        let _ = outbox.send(Outgoing {
            guid: uuid::Uuid::new_v4().to_string(),
            event: event.to_owned(),
            action: action.map(str::to_owned),
            installation_id: Some(installation.id.0),
            repository_id: Some(repo.id),
            payload: Value::Object(payload),
            target,
            redelivery: false,
        });
    }
}

/// Sends queued webhooks one at a time, in order, recording every attempt.
pub async fn deliver_forever(sim: Sim, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let client = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .unwrap_or_default();
    while let Some(out) = rx.recv().await {
        let body = serde_json::to_vec(&out.payload).unwrap_or_default();
        let mut request = client
            .post(&out.target.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/sim")
            .header("x-github-event", &out.event)
            .header("x-github-delivery", &out.guid)
            .header("x-github-hook-id", out.target.hook_id.to_string())
            .header("x-github-hook-installation-target-type", "app");
        if let Some(id) = out.installation_id {
            request = request.header("x-github-hook-installation-target-id", id.to_string());
        }
        if let Some(secret) = &out.target.secret {
            request = request.header("x-hub-signature-256", sign(secret, &body));
        }
        let started = Instant::now();
        let (status_code, status) = match request.body(body).send().await {
            Ok(response) => {
                let code = response.status();
                let text = if code.is_success() {
                    "OK".to_owned()
                } else {
                    format!("Invalid HTTP Response: {}", code.as_u16())
                };
                (code.as_u16(), text)
            }
            Err(err) if err.is_timeout() => (0, "timed out".to_owned()),
            Err(err) => (0, format!("failed to connect to host: {err}")),
        };
        let duration = started.elapsed().as_secs_f64();
        tracing::debug!(event = %out.event, guid = %out.guid, status_code, "webhook delivered");
        let mut world = sim.world();
        let id = world.id();
        let delivered_at = world.now();
        world.deliveries.push(Delivery {
            id,
            guid: out.guid,
            event: out.event,
            action: out.action,
            installation_id: out.installation_id.map(crate::types::InstallationId),
            repository_id: out.repository_id,
            payload: out.payload,
            delivered_at,
            duration,
            status_code,
            status,
            redelivery: out.redelivery,
        });
    }
}

/// The `/app/hook/deliveries` list item of a delivery.
pub fn delivery_summary(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": json::time(d.delivered_at),
        "redelivery": d.redelivery,
        "duration": d.duration,
        "status": d.status,
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": d.installation_id.map(|i| i.0),
        "repository_id": d.repository_id,
        "throttled_at": null,
    })
}

/// Queues a redelivery of attempt `id` (same GUID); false when unknown.
pub fn redeliver(world: &World, outbox: &Outbox, id: u64) -> bool {
    let Some(d) = world.deliveries.iter().find(|d| d.id == id) else {
        return false;
    };
    let target = d
        .installation_id
        .and_then(|i| world.app_of(i))
        .and_then(|a| a.webhook.clone());
    let Some(target) = target else { return false };
    outbox
        .send(Outgoing {
            guid: d.guid.clone(),
            event: d.event.clone(),
            action: d.action.clone(),
            installation_id: d.installation_id.map(|i| i.0),
            repository_id: d.repository_id,
            payload: d.payload.clone(),
            target,
            redelivery: true,
        })
        .is_ok()
}
