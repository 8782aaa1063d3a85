//! Workers that take jobs from the durable queue and run them.
//!
//! Each worker claims one job at a time under a lease, renews the lease while the job
//! runs, and records the outcome. A handler that errors or panics fails the attempt (the
//! queue retries it with backoff, then keeps it as dead); one that failed on a transient
//! GitHub error (5xx, rate limit, no answer) is put back without spending an attempt, so
//! GitHub's bad minutes never cost a task; a worker that dies leaves a lease that
//! expires, and another worker takes the job again. Every run of a job is recorded
//! (its worker, its start, each heartbeat and its end) so that a job running in two
//! places at once would show.
//!
//! Idle workers wait for a wake-up or the poll interval, whichever comes first: the
//! intake wakes them after storing a job, and on PostgreSQL the pool's [`JobListener`]
//! wakes them when any process sharing the database queues a job of their lane; the
//! poll is the fallback for a wake-up that was lost.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::github::GithubError;
use crate::metrics::{JobResult, Metrics};
use crate::store::{ClaimedJob, JobFate, JobLane, JobListener, RetryPolicy, Store};

/// How the pool runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs run at the same time by this process.
    pub workers: usize,
    /// How long a claim holds before another worker may take the job.
    pub lease: Duration,
    /// How often an idle worker looks for jobs when nothing woke it: the fallback for
    /// a wake-up lost (a notification missed while the listener reconnected).
    pub poll_interval: Duration,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
    /// Names this process in lease owners (`<process>/<worker>`).
    pub process_name: String,
    /// Which jobs these workers take.
    pub lane: JobLane,
    /// Where job durations are counted (the server's metrics).
    pub metrics: Metrics,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            process_name: format!("flotilla-{}", uuid::Uuid::new_v4().simple()),
            lane: JobLane::Events,
            metrics: Metrics::default(),
        }
    }
}

/// Runs one claimed job; the orchestrator provides it.
pub trait JobHandler: Send + Sync + 'static {
    /// Does the job's work. An error fails this attempt.
    fn run(&self, job: ClaimedJob) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The running workers.
pub struct WorkerPool {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    liveness: WorkerLiveness,
    /// Wakes the workers for jobs queued by other processes (PostgreSQL only).
    listener: Option<JobListener>,
    /// Keeps this process's agent slots announced to the fleet (the agents' pool only).
    announcer: Option<JoinHandle<()>>,
}

/// How often a process renews the announcement of its agent slots.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// How long an announcement counts: a process not heard from for this long (stopped,
/// killed) no longer adds its slots to the fleet's.
pub const CAPACITY_FRESH: Duration = Duration::from_secs(15);

/// Announces `slots` for `process` every [`ANNOUNCE_EVERY`] until `stopped`, then
/// withdraws them.
async fn announce_capacity(
    store: Store,
    process: String,
    slots: u32,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        if let Err(error) = store.announce_agent_slots(&process, slots).await {
            tracing::warn!(error = %format!("{error:#}"), "could not announce this process's agent slots");
        }
        tokio::select! {
            () = tokio::time::sleep(ANNOUNCE_EVERY) => {}
            _ = stopped.changed() => break,
        }
    }
    if let Err(error) = store.withdraw_agent_slots(&process).await {
        tracing::warn!(error = %format!("{error:#}"), "could not withdraw this process's agent slots");
    }
}

/// Whether a pool's workers are all still looping: what `GET /readyz` asks. A worker
/// holds an [`Alive`] guard for as long as its loop runs, so one that ended (stopped,
/// or killed by a panic outside its job) is no longer counted.
#[derive(Clone, Debug)]
pub struct WorkerLiveness {
    alive: Arc<AtomicUsize>,
    expected: usize,
    lane: JobLane,
}

impl WorkerLiveness {
    /// `Err` with a short reason when fewer workers run than were started.
    pub fn check(&self) -> Result<(), String> {
        let alive = self.alive.load(Ordering::SeqCst);
        if alive == self.expected {
            Ok(())
        } else {
            Err(format!(
                "{alive} of {} {:?} workers running",
                self.expected, self.lane
            ))
        }
    }
}

/// Counted while a worker's loop runs; dropped (uncounted) when it ends in any way.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WorkerPool {
    /// Starts `config.workers` workers on the current runtime.
    pub fn spawn<H: JobHandler>(store: Store, handler: Arc<H>, config: WorkerConfig) -> Self {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let alive = Arc::new(AtomicUsize::new(0));
        let expected = config.workers.max(1);
        let lane = config.lane;
        let listener = store.listen_for_jobs(lane, Arc::clone(&wake));
        let announcer = (lane == JobLane::Agents).then(|| {
            tokio::spawn(announce_capacity(
                store.clone(),
                config.process_name.clone(),
                u32::try_from(expected).unwrap_or(u32::MAX),
                stopped.clone(),
            ))
        });
        let handles = (0..expected)
            .map(|index| {
                let worker = Worker {
                    _alive: Alive::new(&alive),
                    store: store.clone(),
                    handler: Arc::clone(&handler),
                    owner: format!("{}/{:?}-{index}", config.process_name, config.lane),
                    config: config.clone(),
                    wake: Arc::clone(&wake),
                    stopped: stopped.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Self {
            wake,
            stop,
            handles,
            liveness: WorkerLiveness {
                alive,
                expected,
                lane,
            },
            listener,
            announcer,
        }
    }

    /// A handle that tells whether every worker of this pool still runs.
    pub fn liveness(&self) -> WorkerLiveness {
        self.liveness.clone()
    }

    /// A handle that wakes an idle worker: the intake calls it after storing a job.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Stops claiming new jobs and waits for running ones to finish.
    pub async fn shutdown(self) {
        drop(self.listener);
        let _ = self.stop.send(true);
        for handle in self.handles.into_iter().chain(self.announcer) {
            let _ = handle.await;
        }
    }
}

struct Worker<H> {
    _alive: Alive,
    store: Store,
    handler: Arc<H>,
    owner: String,
    config: WorkerConfig,
    wake: Arc<Notify>,
    stopped: watch::Receiver<bool>,
}

impl<H: JobHandler> Worker<H> {
    async fn run(mut self) {
        while !*self.stopped.borrow() {
            match self
                .store
                .claim(&self.owner, self.config.lease, self.config.lane)
                .await
            {
                Ok(Some(job)) => {
                    // More may be waiting: let another idle worker look too.
                    self.wake.notify_one();
                    self.run_job(job).await;
                }
                Ok(None) => self.idle().await,
                Err(error) => {
                    tracing::error!(worker = %self.owner, error = %format!("{error:#}"), "claiming a job failed");
                    self.idle().await;
                }
            }
        }
    }

    async fn idle(&mut self) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(self.config.poll_interval) => {}
            _ = self.stopped.changed() => {}
        }
    }

    async fn run_job(&self, job: ClaimedJob) {
        let span = tracing::info_span!("job", id = job.id, kind = %job.kind, key = %job.key, attempt = job.attempts);
        async {
            let started = std::time::Instant::now();
            let outcome = if job.attempts > job.max_attempts {
                Err(JobFailure::from("the worker running the last attempt vanished (lease expired)".to_owned()))
            } else {
                self.run_with_heartbeat(job.clone()).await
            };
            let elapsed = started.elapsed();
            if let Err(error) = self.store.end_job_run(&job).await {
                tracing::warn!(error = %format!("{error:#}"), "recording the end of the job's run failed");
            }
            let recorded = match outcome {
                Ok(()) => self.store.complete(&job).await.map(|held| {
                    if held {
                        JobResult::Done
                    } else {
                        tracing::warn!("job finished after its lease was taken over");
                        JobResult::LeaseLost
                    }
                }),
                Err(JobFailure { message: error, github_wait }) => match github_wait {
                    Some(at_least) => self.store.postpone(&job, &error, &self.config.retry, at_least).await,
                    None => self.store.fail(&job, &error, &self.config.retry).await,
                }
                    .map(|fate| match fate {
                        JobFate::Retry { at } => {
                            tracing::warn!(%error, retry_at = at, "job failed; will retry");
                            JobResult::Retry
                        }
                        JobFate::Dead => {
                            tracing::error!(%error, "job failed for the last time; kept as dead");
                            JobResult::Dead
                        }
                        JobFate::LeaseLost => {
                            tracing::warn!(%error, "job failed after its lease was taken over");
                            JobResult::LeaseLost
                        }
                    }),
            };
            match recorded {
                Ok(result) => self.config.metrics.job_finished(job.kind, result, elapsed),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "recording the job's outcome failed; its lease will expire");
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Runs the handler in its own task (so a panic is an error, not a dead worker) while
    /// renewing the lease.
    async fn run_with_heartbeat(&self, job: ClaimedJob) -> Result<(), JobFailure> {
        let handler = Arc::clone(&self.handler);
        let leased = job.clone();
        let mut task = tokio::spawn(async move { handler.run(job).await }.in_current_span());
        let renew_every = self.config.lease / 3;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return match joined {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => Err(JobFailure::of(&error)),
                        Err(join_error) if join_error.is_panic() => Err(JobFailure::from("the job's handler panicked".to_owned())),
                        Err(join_error) => Err(JobFailure::from(format!("the job's handler was cancelled: {join_error}"))),
                    };
                }
                () = tokio::time::sleep(renew_every) => {
                    if let Err(error) = self.store.job_run_alive(&leased).await {
                        tracing::warn!(error = %format!("{error:#}"), "recording the job's heartbeat failed");
                    }
                    match self.store.renew_lease(&leased, self.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("the lease was taken over while the job ran"),
                        Err(error) => tracing::warn!(error = %format!("{error:#}"), "renewing the lease failed"),
                    }
                }
            }
        }
    }
}

/// Why a job's handler failed, and whether GitHub's passing state is the cause.
struct JobFailure {
    /// The error with its context, as stored on the job.
    message: String,
    /// `Some` when the cause is a transient GitHub error, holding how long GitHub asked
    /// to wait when it said.
    github_wait: Option<Option<Duration>>,
}

impl JobFailure {
    /// Classifies a handler's error by the GitHub error anywhere in its chain.
    fn of(error: &anyhow::Error) -> Self {
        Self {
            message: format!("{error:#}"),
            github_wait: error
                .chain()
                .find_map(|cause| cause.downcast_ref::<GithubError>())
                .and_then(GithubError::transient),
        }
    }
}

impl From<String> for JobFailure {
    fn from(message: String) -> Self {
        Self {
            message,
            github_wait: None,
        }
    }
}
