//! Webhook intake benchmark: signed `issues.labeled` deliveries over real HTTP from
//! concurrent senders to a running Flotilla (router, group commit, workers), on SQLite
//! and on PostgreSQL.
//!
//! Reports durable deliveries per second and p50/p99 acknowledgement latency, each
//! against a baseline run in the same process: the same requests with a wrong signature
//! (HTTP + HMAC, refused before the store), so the ratio is the price of durability.
//! Also the cost of verifying a signature over 10 KB against plain SHA-256.
//!
//! `cargo bench --bench intake` — knobs: `BENCH_DELIVERIES` (20000), `BENCH_SENDERS`
//! (64), `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`; set it
//! empty to skip PostgreSQL).

#[path = "support/load.rs"]
mod load;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use flotilla::clock::SystemClock;
use flotilla::orchestrator::worker::WorkerConfig;
use flotilla::server::{self, ServerConfig};
use flotilla::store::Store;
use flotilla::webhook::signature::{WebhookSecrets, sign};

use load::{Load, send_all};

const SECRET: &str = "bench-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let load = Load {
        deliveries: env_usize("BENCH_DELIVERIES", 20_000),
        senders: env_usize("BENCH_SENDERS", 64),
    };
    signature_cost();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::TempDir::new()?;
        let sqlite = Store::connect(&Store::default_url(dir.path())).await?;
        intake("SQLite", sqlite, &load).await?;
        let pg_url = std::env::var("BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        if pg_url.is_empty() {
            println!("PostgreSQL: skipped (BENCH_POSTGRES_URL is empty)");
        } else {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            match Store::connect_with(&pg_url, Some(&schema), Arc::new(SystemClock)).await {
                Ok(store) => intake("PostgreSQL", store, &load).await?,
                Err(error) => println!("PostgreSQL: skipped ({error:#})"),
            }
        }
        anyhow::Ok(())
    })
}

fn signature_cost() {
    let body = vec![b'x'; 10 * 1024];
    let header = sign(SECRET, &body);
    let secrets = WebhookSecrets::from_comma_separated(SECRET).expect("secret");
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(Sha256::digest(black_box(&body)));
    }
    let baseline = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        secrets
            .verify(Some(header.as_bytes()), black_box(&body))
            .expect("valid");
    }
    let verify = started.elapsed() / rounds;
    println!(
        "signature verification, 10 KB body: {:.2} µs per delivery; plain SHA-256 of the same body {:.2} µs (ratio {:.2})",
        verify.as_secs_f64() * 1e6,
        baseline.as_secs_f64() * 1e6,
        verify.as_secs_f64() / baseline.as_secs_f64()
    );
}

async fn intake(name: &str, store: Store, load: &Load) -> anyhow::Result<()> {
    let running = server::start(ServerConfig {
        metrics_token: None,
        role: flotilla::role::Role::All,
        auth: None,
        listen: "127.0.0.1:0".parse()?,
        secrets: WebhookSecrets::from_comma_separated(SECRET).expect("secret"),
        store: store.clone(),
        app_slug: "flotilla-bench".to_owned(),
        workers: WorkerConfig::default(),
        fleet: None,
    })
    .await?;
    let url = [format!("{}/webhook", running.url())];
    let body: Arc<Vec<u8>> = Arc::new(std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/webhooks/issues.labeled.json"
    ))?);
    let good = sign(SECRET, &body);
    let bad = sign("wrong-secret", &body);

    let warmup = Load {
        deliveries: 1_000,
        senders: load.senders,
    };
    send_all(&url, &body, &bad, &warmup, "warmup-refused").await?;
    let refused = send_all(&url, &body, &bad, load, "refused").await?;
    send_all(&url, &body, &good, &warmup, "warmup").await?;
    let before = store.count_deliveries().await?;
    let durable = send_all(&url, &body, &good, load, "durable").await?;
    let stored = store.count_deliveries().await? - before;

    println!(
        "{name}: {} deliveries from {} concurrent senders",
        load.deliveries, load.senders
    );
    println!(
        "  durable (stored + job enqueued, then 202): {:>8.0} deliveries/s  p50 {:>6.2} ms  p99 {:>6.2} ms  statuses {:?}  rows stored {stored}",
        durable.per_second, durable.p50_ms, durable.p99_ms, durable.statuses
    );
    println!(
        "  baseline (wrong signature, 401, no store): {:>8.0} requests/s    p50 {:>6.2} ms  p99 {:>6.2} ms  statuses {:?}",
        refused.per_second, refused.p50_ms, refused.p99_ms, refused.statuses
    );
    println!(
        "  durable / baseline: throughput {:.2}, p99 latency {:.2}",
        durable.per_second / refused.per_second,
        durable.p99_ms / refused.p99_ms
    );
    running.shutdown().await?;
    store.close().await;
    Ok(())
}
