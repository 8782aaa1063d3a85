//! Prometheus metrics: the one registry, every metric's name and help, and the typed
//! functions call sites record through.
//!
//! A [`Metrics`] is owned by one running server (tests run many in one process, each
//! with its own counts) and handed to the parts that record: the intake's delivery
//! handler, the job workers, verification and landing, the GitHub client and the spend
//! recorder. Counters and histograms count what this process did since it started; the
//! queue's depth and wait, dead jobs and agent slots are read from the store at scrape time
//! ([`Metrics::render`]), so they are true across processes sharing one database. This
//! module never decides anything: it only counts.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::agent::Role;
use crate::cost::Spend;
use crate::github::Route;
use crate::store::{AttemptEnd, DeliveryOutcome, JobKind, JobState, NewVerdict, Store};
use crate::types::InstallationId;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `flotilla_deliveries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: &'static str,
}

/// Labels of `flotilla_job_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    result: &'static str,
}

/// How one job attempt ended, as the duration histogram labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobResult {
    /// The handler succeeded and the job is done.
    Done,
    /// The attempt failed; the job will be tried again.
    Retry,
    /// The attempt failed for the last time; the job is dead.
    Dead,
    /// The attempt ended after another worker had taken the job over.
    LeaseLost,
}

impl JobResult {
    /// The label value.
    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// Labels of `flotilla_jobs`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    kind: &'static str,
    lane: &'static str,
    state: &'static str,
}

/// Labels of `flotilla_job_queue_wait_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
    lane: &'static str,
}

/// Labels of `flotilla_task_attempts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    outcome: &'static str,
}

/// Labels of `flotilla_verdicts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    source: &'static str,
    name: String,
    outcome: &'static str,
}

/// Labels of `flotilla_github_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GithubLabels {
    method: String,
    route: &'static str,
    status: String,
}

/// Labels of `flotilla_github_rate_limit_remaining` and the write budget's waits.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstallationLabels {
    installation: String,
}

/// Labels of `flotilla_agent_tokens_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    role: &'static str,
    kind: &'static str,
}

/// Labels of `flotilla_agent_spend_usd_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

/// A histogram family whose histograms share one set of buckets.
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Job durations from 10 ms to about 80 min (agents run for minutes).
fn job_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

/// Registers `metric` as `name` with its help text and gives it back: the registry
/// keeps one handle for rendering, [`Inner`] the other for recording.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

struct Inner {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    job_duration: HistogramFamily<JobLabels>,
    jobs: Family<QueueLabels, Gauge>,
    queue_wait: Family<KindLabels, Gauge<f64, AtomicU64>>,
    dead_jobs: Gauge,
    agent_slots_in_use: Gauge,
    attempts: Family<AttemptLabels, Counter>,
    verdicts: Family<VerdictLabels, Counter>,
    merges: Counter,
    github_requests: Family<GithubLabels, Counter>,
    rate_limit_remaining: Family<InstallationLabels, Gauge>,
    write_budget_waits: Family<InstallationLabels, Counter>,
    write_budget_wait_seconds: Family<InstallationLabels, Counter<f64, AtomicU64>>,
    agent_tokens: Family<TokenLabels, Counter>,
    agent_spend_usd: Family<RoleLabels, Counter<f64, AtomicU64>>,
}

/// The metrics of one Flotilla process; clones share the same counts.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every Flotilla metric registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let r = &mut registry;
        Self(Arc::new(Inner {
            deliveries: registered(
                r,
                "flotilla_deliveries",
                "Webhook deliveries handled, by event and outcome (processed, ignored, failed)",
                Default::default(),
            ),
            job_duration: registered(
                r,
                "flotilla_job_duration_seconds",
                "How long job attempts ran, by kind and result",
                HistogramFamily::new_with_constructor(job_histogram),
            ),
            jobs: registered(
                r,
                "flotilla_jobs",
                "Jobs in the queue by kind and state, read from the store at scrape time",
                Default::default(),
            ),
            queue_wait: registered(
                r,
                "flotilla_job_queue_wait_seconds",
                "How long the longest-waiting runnable job of each kind has waited for a worker \
                 (0 when none waits), read from the store at scrape time",
                Default::default(),
            ),
            dead_jobs: registered(
                r,
                "flotilla_dead_jobs",
                "Jobs that failed their last attempt and wait for a person",
                Default::default(),
            ),
            agent_slots_in_use: registered(
                r,
                "flotilla_agent_slots_in_use",
                "Tasks an agent is working on now (each holds one agent slot)",
                Default::default(),
            ),
            attempts: registered(
                r,
                "flotilla_task_attempts",
                "Worker attempts recorded, by outcome (proposed, failed, stopped by a budget)",
                Default::default(),
            ),
            verdicts: registered(
                r,
                "flotilla_verdicts",
                "Verdicts recorded, by source (lens, gate, check), name and outcome",
                Default::default(),
            ),
            merges: registered(
                r,
                "flotilla_merges",
                "Task pull requests Flotilla merged",
                Default::default(),
            ),
            github_requests: registered(
                r,
                "flotilla_github_requests",
                "HTTP requests sent to GitHub (each retry counts), by method, route template and status",
                Default::default(),
            ),
            rate_limit_remaining: registered(
                r,
                "flotilla_github_rate_limit_remaining",
                "x-ratelimit-remaining of the last GitHub answer, per installation (`app` for the App's JWT)",
                Default::default(),
            ),
            write_budget_waits: registered(
                r,
                "flotilla_github_write_budget_waits",
                "Times a GitHub write waited for its installation's write budget (shared by every \
                 process on the database), per installation",
                Default::default(),
            ),
            write_budget_wait_seconds: registered(
                r,
                "flotilla_github_write_budget_wait_seconds",
                "Seconds GitHub writes spent waiting for their installation's write budget, per \
                 installation",
                Default::default(),
            ),
            agent_tokens: registered(
                r,
                "flotilla_agent_tokens",
                "Tokens agents used, by role and kind (input, output, cache_read, cache_write)",
                Default::default(),
            ),
            agent_spend_usd: registered(
                r,
                "flotilla_agent_spend_usd",
                "Dollars agents spent, by role",
                Default::default(),
            ),
            registry,
        }))
    }

    /// A delivery was handled and its outcome stored.
    pub fn delivery_handled(&self, event: &str, outcome: DeliveryOutcome) {
        self.0
            .deliveries
            .get_or_create(&DeliveryLabels {
                event: event.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A job attempt ended after `elapsed`.
    pub fn job_finished(&self, kind: JobKind, result: JobResult, elapsed: Duration) {
        self.0
            .job_duration
            .get_or_create(&JobLabels {
                kind: kind.as_str(),
                result: result.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A task's attempt ended and was recorded.
    pub fn attempt_finished(&self, end: &AttemptEnd) {
        let outcome = match end {
            AttemptEnd::Proposed { .. } => "proposed",
            AttemptEnd::Failed { .. } => "failed",
            AttemptEnd::Stopped { .. } => "stopped",
        };
        self.0
            .attempts
            .get_or_create(&AttemptLabels { outcome })
            .inc();
    }

    /// A verdict was recorded on a task's head.
    pub fn verdict_recorded(&self, verdict: &NewVerdict) {
        self.0
            .verdicts
            .get_or_create(&VerdictLabels {
                source: verdict.source.as_str(),
                name: verdict.name.clone(),
                outcome: verdict.outcome.as_str(),
            })
            .inc();
    }

    /// Flotilla merged a task's pull request.
    pub fn task_merged(&self) {
        self.0.merges.inc();
    }

    /// GitHub answered a request on `route` with `status`, or (`None`) did not answer.
    pub fn github_request(&self, route: Route, status: Option<u16>) {
        self.0
            .github_requests
            .get_or_create(&GithubLabels {
                method: route.method().to_string(),
                route: route.template(),
                status: status.map_or_else(|| "transport_error".to_owned(), |s| s.to_string()),
            })
            .inc();
    }

    /// GitHub reported the requests left in the current window for an installation
    /// (`None`: the App itself, authenticated with its JWT).
    pub fn rate_limit_remaining(&self, installation: Option<InstallationId>, remaining: i64) {
        self.0
            .rate_limit_remaining
            .get_or_create(&InstallationLabels {
                installation: installation.map_or_else(|| "app".to_owned(), |i| i.0.to_string()),
            })
            .set(remaining);
    }

    /// A GitHub write of `installation` waits `wait` for the shared write budget.
    pub fn write_budget_wait(&self, installation: InstallationId, wait: Duration) {
        let labels = InstallationLabels {
            installation: installation.0.to_string(),
        };
        self.0.write_budget_waits.get_or_create(&labels).inc();
        self.0
            .write_budget_wait_seconds
            .get_or_create(&labels)
            .inc_by(wait.as_secs_f64());
    }

    /// An agent run's usage was recorded.
    pub fn agent_spent(&self, role: Role, spend: &Spend) {
        let tokens = &spend.tokens;
        for (kind, count) in [
            ("input", tokens.input),
            ("output", tokens.output),
            ("cache_read", tokens.cache_read),
            ("cache_write", tokens.cache_write),
        ] {
            self.0
                .agent_tokens
                .get_or_create(&TokenLabels {
                    role: role.as_str(),
                    kind,
                })
                .inc_by(count);
        }
        // Micro-dollars are exact in an f64 far beyond any plausible spend.
        let usd = spend.usd.micros() as f64 / 1_000_000.0;
        self.0
            .agent_spend_usd
            .get_or_create(&RoleLabels {
                role: role.as_str(),
            })
            .inc_by(usd);
    }

    /// Reads the queue's depth and wait, dead jobs and agent slots from `store`, then
    /// encodes every metric in the Prometheus text format.
    pub async fn render(&self, store: &Store) -> anyhow::Result<String> {
        let counts = store.job_counts().await?;
        let waits = store.queued_job_waits().await?;
        for kind in JobKind::ALL {
            let lane = kind.lane().as_str();
            let waited = waits
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(Duration::ZERO, |(_, waited)| *waited);
            self.0
                .queue_wait
                .get_or_create(&KindLabels {
                    kind: kind.as_str(),
                    lane,
                })
                .set(waited.as_secs_f64());
            for state in JobState::ALL {
                let count = counts
                    .iter()
                    .find(|(k, s, _)| *k == kind && *s == state)
                    .map_or(0, |(_, _, n)| *n);
                self.0
                    .jobs
                    .get_or_create(&QueueLabels {
                        kind: kind.as_str(),
                        lane,
                        state: state.as_str(),
                    })
                    .set(count);
            }
        }
        let dead = counts
            .iter()
            .filter(|(_, state, _)| *state == JobState::Dead)
            .map(|(_, _, n)| n)
            .sum();
        self.0.dead_jobs.set(dead);
        let working = store.working_task_ids().await?.len();
        self.0
            .agent_slots_in_use
            .set(i64::try_from(working).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)?;
        Ok(text)
    }
}
