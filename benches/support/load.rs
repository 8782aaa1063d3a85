//! Load for the intake benchmarks: signed (or wrongly signed) `issues.labeled`
//! deliveries over real HTTP from concurrent senders, spread over one or more Flotilla
//! `/webhook` URLs, measured as throughput and acknowledgement latency. Shared by
//! `benches/intake.rs` and `benches/processes.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How much to send, and from how many senders at once.
pub struct Load {
    /// Deliveries in all.
    pub deliveries: usize,
    /// Concurrent senders.
    pub senders: usize,
}

/// What a load measured.
pub struct Measured {
    /// Deliveries acknowledged per second.
    pub per_second: f64,
    /// Median acknowledgement latency.
    pub p50_ms: f64,
    /// 99th percentile acknowledgement latency.
    pub p99_ms: f64,
    /// HTTP statuses seen, with their counts (0: no answer).
    pub statuses: Vec<(u16, usize)>,
}

/// Sends `load` deliveries of `body` signed with `signature`, sender `n` to
/// `urls[n % urls.len()]`; delivery ids carry `tag` so runs never collide.
pub async fn send_all(
    urls: &[String],
    body: &Arc<Vec<u8>>,
    signature: &str,
    load: &Load,
    tag: &str,
) -> anyhow::Result<Measured> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.senders)
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..load.senders)
        .map(|sender| {
            let (client, next, body) = (client.clone(), Arc::clone(&next), Arc::clone(body));
            let (url, signature, tag, total) = (
                urls[sender % urls.len()].clone(),
                signature.to_owned(),
                tag.to_owned(),
                load.deliveries,
            );
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).expect("histogram");
                let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
                let run = uuid::Uuid::new_v4().simple().to_string();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("x-github-event", "issues")
                        .header("x-github-delivery", format!("{tag}-{run}-{n}"))
                        .header("x-hub-signature-256", &signature)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    latencies.record(micros.max(1)).expect("in range");
                    *statuses.entry(status).or_default() += 1;
                }
                (latencies, statuses)
            })
        })
        .collect();
    let mut latencies = Histogram::<u64>::new(3)?;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for sender in senders {
        let (h, s) = sender.await?;
        latencies.add(h)?;
        for (status, count) in s {
            *statuses.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Measured {
        per_second: load.deliveries as f64 / elapsed,
        p50_ms: latencies.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: latencies.value_at_quantile(0.99) as f64 / 1000.0,
        statuses: statuses.into_iter().collect(),
    })
}
