//! The one path every REST and GraphQL call takes, and the one retry policy.
//!
//! Sends through octocrab's raw `execute` (so status and headers stay visible), sets the
//! REST headers, classifies the answer and decides whether to retry: rate-limit refusals
//! for any method (GitHub did not perform the request), 5xx and transport failures only
//! for idempotent requests. Before every attempt at a write it waits for the
//! installation's shared write budget, and a secondary rate limit pauses that budget for
//! every process. No other module retries, sleeps or inspects a status line.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::budget::{Grant, WriteBudget, WriteRate};
use super::error::{GithubError, error_message};
use super::routes::{Route, query};
use super::split_repo;
use crate::metrics::Metrics;
use crate::types::{InstallationId, RepoName};

/// Where the answers to a client's requests are counted: its metrics, and the
/// installation it acts as (`None` for the App's JWT).
#[derive(Clone, Debug)]
pub(crate) struct Meter {
    /// The server's metrics.
    pub(crate) metrics: Metrics,
    /// The installation, labelling the rate limit GitHub reports.
    pub(crate) installation: Option<InstallationId>,
}

impl Meter {
    /// Counts one answer (or, with `None`, a request that got none) and keeps the
    /// rate limit GitHub reported with it.
    fn observe(&self, route: Route, status: Option<StatusCode>, headers: Option<&HeaderMap>) {
        self.metrics
            .github_request(route, status.map(|s| s.as_u16()));
        if let Some(remaining) = headers
            .and_then(|h| header_str(h, "x-ratelimit-remaining"))
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.metrics
                .rate_limit_remaining(self.installation, remaining);
        }
    }
}

/// The write budget an installation's client spends from before every write.
#[derive(Clone)]
pub(crate) struct WriteGate {
    /// The budget every process shares.
    pub(crate) budget: Arc<dyn WriteBudget>,
    /// How fast the installation may write.
    pub(crate) rate: WriteRate,
    /// The installation whose budget it is.
    pub(crate) installation: InstallationId,
}

impl WriteGate {
    /// Waits until the budget grants one write. A wait that would take the call past the
    /// policy's `max_total_wait` is returned as a rate limit instead, so the job queue
    /// reschedules the job rather than hold a worker. A budget that cannot be read
    /// (the database is down) lets the write go: GitHub's own limit still stands, and
    /// its answer pauses the budget when it is back.
    async fn acquire(&self, policy: &RetryPolicy, meter: &Meter) -> Result<(), Failure> {
        let mut waited = Duration::ZERO;
        loop {
            let wait = match self.budget.take(self.installation, self.rate).await {
                Ok(Grant::Granted) => return Ok(()),
                Ok(Grant::Wait(wait)) => wait,
                Err(error) => {
                    tracing::warn!(
                        installation = self.installation.0,
                        error = %format!("{error:#}"),
                        "the GitHub write budget cannot be read; writing without it",
                    );
                    return Ok(());
                }
            };
            if waited + wait > policy.max_total_wait {
                return Err(Failure {
                    error: GithubError::RateLimited {
                        retry_after: Some(wait),
                        message: "the installation's GitHub write budget is spent".to_owned(),
                    },
                    status: None,
                    retry: Retry::Never,
                });
            }
            meter.metrics.write_budget_wait(self.installation, wait);
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Holds the installation's writes in every process for `wait`.
    async fn pause(&self, wait: Duration) {
        if let Err(error) = self.budget.pause(self.installation, self.rate, wait).await {
            tracing::warn!(
                installation = self.installation.0,
                error = %format!("{error:#}"),
                "cannot record GitHub's secondary rate limit in the write budget",
            );
        }
    }
}

/// The media type GitHub documents for REST requests.
const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version Flotilla is written against.
const API_VERSION: &str = "2022-11-28";
/// A bound on `Link`-header pagination, so a misbehaving server cannot loop us forever.
const MAX_PAGES: usize = 50;

/// How hard to try before giving up: one policy for every call. Tests shrink the
/// durations so nothing sleeps for long.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: usize,
    /// First exponential back-off delay (5xx and transport failures).
    pub min_backoff: Duration,
    /// Longest single exponential back-off delay.
    pub max_backoff: Duration,
    /// Total time one call may spend waiting; a rate limit that resets later than this
    /// is returned as [`GithubError::RateLimited`] so the job queue can reschedule.
    pub max_total_wait: Duration,
    /// Wait after a secondary rate limit that names no time (GitHub says at least 60 s).
    pub secondary_rate_limit_wait: Duration,
    /// Added to `x-ratelimit-reset` to absorb clock drift between us and GitHub.
    pub rate_limit_leeway: Duration,
    /// Randomise back-off delays so a fleet of workers does not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(120),
            secondary_rate_limit_wait: Duration::from_secs(60),
            rate_limit_leeway: Duration::from_secs(1),
            jitter: true,
        }
    }
}

/// One call, described as data: which route, the concrete path and query, the JSON body,
/// and whether repeating it is harmless.
pub(crate) struct ApiRequest {
    route: Route,
    path: String,
    body: Option<serde_json::Value>,
    idempotent: bool,
    /// The installation token for a request to an absolute URL: octocrab authenticates
    /// only paths under its REST root (and `api.github.com`), and GHES's GraphQL
    /// endpoint is not under it.
    bearer: Option<SecretString>,
}

impl ApiRequest {
    /// A request on `route` for the concrete `path` (with query). Idempotency follows the
    /// HTTP method: GET, HEAD, PUT and DELETE may be repeated.
    pub(crate) fn new(route: Route, path: String) -> Self {
        let idempotent = matches!(
            route.method(),
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        Self {
            route,
            path,
            body: None,
            idempotent,
            bearer: None,
        }
    }

    /// A request on `route` with its placeholders filled, in order, by `params`.
    pub(crate) fn to(route: Route, params: &[&str]) -> Self {
        Self::new(route, route.path(params))
    }

    /// A request on a `/repos/{owner}/{repo}/…` route: `repo` fills the owner and the
    /// name, `params` the placeholders after them. A `repo` that is not `owner/name` is
    /// refused before anything is sent.
    pub(crate) fn on_repo(
        route: Route,
        repo: &RepoName,
        params: &[&str],
    ) -> Result<Self, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let mut all = vec![owner, name];
        all.extend_from_slice(params);
        Ok(Self::to(route, &all))
    }

    /// Appends a query string built from `pairs` (values percent-encoded).
    pub(crate) fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.path.push_str(&query(pairs));
        self
    }

    /// Authenticates the request with `token` itself (for an absolute URL).
    pub(crate) fn with_bearer(mut self, token: SecretString) -> Self {
        self.bearer = Some(token);
        self
    }

    /// Attaches a JSON body built by serde.
    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self, GithubError> {
        let value = serde_json::to_value(body).map_err(|e| GithubError::InvalidInput {
            message: format!(
                "cannot serialise the body for {}: {e}",
                self.route.template()
            ),
        })?;
        self.body = Some(value);
        Ok(self)
    }

    /// True for requests that change something on GitHub (every method but GET, and
    /// GraphQL mutations): these are serialised per installation, as GitHub asks, to stay
    /// clear of its secondary rate limits.
    pub(crate) fn is_write(&self) -> bool {
        match self.route {
            Route::Graphql => !self.idempotent,
            route => route.method() != Method::GET,
        }
    }

    /// A GraphQL request to `endpoint` (a path under the REST root, or an absolute URL:
    /// on GHES it is not under it): queries may be repeated, mutations may not.
    pub(crate) fn graphql(
        endpoint: &str,
        document: &'static str,
        variables: serde_json::Value,
        is_query: bool,
    ) -> Self {
        Self {
            route: Route::Graphql,
            path: endpoint.to_owned(),
            body: Some(serde_json::json!({ "query": document, "variables": variables })),
            idempotent: is_query,
            bearer: None,
        }
    }
}

/// A successful answer, body read in full.
pub(crate) struct ApiResponse {
    route: Route,
    headers: HeaderMap,
    body: Bytes,
}

impl ApiResponse {
    /// Decodes the body, naming the JSON path that did not fit.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, GithubError> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| GithubError::Decode {
            route: self.route.template(),
            path: e.path().to_string(),
            source: e.into_inner(),
        })
    }

    /// The path and query of the `rel="next"` page, if GitHub announced one.
    pub(crate) fn next_page(&self) -> Option<String> {
        let link = self.headers.get(header::LINK)?.to_str().ok()?;
        link.split(',')
            .find(|part| part.contains("rel=\"next\""))
            .and_then(|part| {
                let start = part.find('<')? + 1;
                let end = part.find('>')?;
                let uri: http::Uri = part.get(start..end)?.parse().ok()?;
                uri.path_and_query().map(|pq| pq.as_str().to_owned())
            })
    }
}

/// What to do after a failed attempt.
enum Retry {
    /// A real answer (4xx), or a failure not safe to repeat for this request.
    Never,
    /// A 5xx or transport failure: back off exponentially, idempotent requests only.
    Transient,
    /// A rate limit: wait this long, whatever the method.
    RateLimit(Duration),
}

/// A failed attempt with the decision about it.
struct Failure {
    error: GithubError,
    status: Option<StatusCode>,
    retry: Retry,
}

impl Failure {
    /// A request that could not be built: never sent, never retried.
    fn invalid(message: String) -> Self {
        Self {
            error: GithubError::InvalidInput { message },
            status: None,
            retry: Retry::Never,
        }
    }
}

/// What every call goes through: the octocrab client, the one retry policy, where
/// answers are counted and, for an installation's writes, its write budget.
#[derive(Clone, Copy)]
pub(crate) struct Channel<'a> {
    /// The client that authenticates and carries the request.
    pub(crate) crab: &'a Octocrab,
    /// How hard to try.
    pub(crate) policy: &'a RetryPolicy,
    /// Where answers are counted.
    pub(crate) meter: &'a Meter,
    /// The write budget a write waits for; `None` for the App's own calls.
    pub(crate) gate: Option<&'a WriteGate>,
}

/// Sends `request`, retrying as the policy allows; a write waits for the channel's
/// budget before each attempt.
pub(crate) async fn send(
    via: Channel<'_>,
    request: &ApiRequest,
) -> Result<ApiResponse, GithubError> {
    let policy = via.policy;
    let mut schedule = ExponentialBuilder::default()
        .with_min_delay(policy.min_backoff)
        .with_max_delay(policy.max_backoff)
        .with_max_times(policy.max_attempts.saturating_sub(1));
    if policy.jitter {
        schedule = schedule.with_jitter();
    }
    let mut waited = Duration::ZERO;
    (|| attempt(via, request))
        .retry(schedule)
        .when(|failure: &Failure| match failure.retry {
            Retry::Never => false,
            Retry::Transient => request.idempotent,
            Retry::RateLimit(_) => true,
        })
        .adjust(|failure: &Failure, backoff: Option<Duration>| {
            let wait = match failure.retry {
                Retry::RateLimit(wait) => backoff.map(|_| wait),
                _ => backoff,
            }?;
            if waited + wait > policy.max_total_wait {
                return None;
            }
            waited += wait;
            Some(wait)
        })
        .notify(|failure: &Failure, wait: Duration| {
            tracing::warn!(
                method = %request.route.method(),
                route = request.route.template(),
                status = failure.status.map(|s| s.as_u16()),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "retrying GitHub request",
            );
        })
        .await
        .map_err(|failure| failure.error)
}

/// Sends `first` (a GET) and follows `Link: rel="next"` pages, concatenating the arrays.
/// Reads spend no write budget, and their rate limits do not pause it.
pub(crate) async fn get_all<T: DeserializeOwned>(
    via: Channel<'_>,
    first: ApiRequest,
) -> Result<Vec<T>, GithubError> {
    let via = Channel { gate: None, ..via };
    let route = first.route;
    let mut items = Vec::new();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(request) = next.take() {
        let response = send(via, &request).await?;
        items.extend(response.json::<Vec<T>>()?);
        pages += 1;
        if pages < MAX_PAGES {
            next = response
                .next_page()
                .map(|path| ApiRequest::new(route, path));
        }
    }
    Ok(items)
}

/// One HTTP exchange, classified; a write first waits for its budget.
async fn attempt(via: Channel<'_>, request: &ApiRequest) -> Result<ApiResponse, Failure> {
    let Channel {
        crab,
        policy,
        meter,
        gate,
    } = via;
    if let Some(gate) = gate.filter(|_| request.is_write()) {
        gate.acquire(policy, meter).await?;
    }
    let builder = http::Request::builder()
        .method(request.route.method())
        .uri(request.path.as_str());
    let mut http_request = crab
        .build_request(builder, request.body.as_ref())
        .map_err(|e| Failure::invalid(format!("cannot build {}: {e}", request.route.template())))?;
    let headers = http_request.headers_mut();
    headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    headers.insert(
        "x-github-api-version",
        HeaderValue::from_static(API_VERSION),
    );
    if let Some(token) = &request.bearer {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|e| Failure::invalid(format!("unusable installation token: {e}")))?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }

    let response = match crab.execute(http_request).await {
        Ok(response) => response,
        Err(error) => {
            meter.observe(request.route, None, None);
            return Err(transport(error));
        }
    };
    let (parts, body) = response.into_parts();
    let status = parts.status;
    meter.observe(request.route, Some(status), Some(&parts.headers));
    let body = body.collect().await.map_err(transport)?.to_bytes();

    if status.is_success() {
        if request.route == Route::Graphql && graphql_rate_limited(&body) {
            return Err(rate_limited(status, &parts.headers, &body, policy));
        }
        return Ok(ApiResponse {
            route: request.route,
            headers: parts.headers,
            body,
        });
    }
    let message = error_message(&body);
    if is_rate_limited(status, &parts.headers, &message) {
        let failure = rate_limited(status, &parts.headers, &body, policy);
        if let (Some(gate), Retry::RateLimit(wait)) = (gate, &failure.retry)
            && !quota_spent(&parts.headers)
        {
            gate.pause(*wait).await;
        }
        return Err(failure);
    }
    let retry = if status.is_server_error() {
        Retry::Transient
    } else {
        Retry::Never
    };
    Err(Failure {
        error: GithubError::from_status(status, message),
        status: Some(status),
        retry,
    })
}

/// A failure below HTTP (or while octocrab minted a token), retryable when idempotent.
fn transport(error: octocrab::Error) -> Failure {
    let error = GithubError::from_octocrab(error);
    let retry = match &error {
        GithubError::Transport { .. } | GithubError::Server { .. } => Retry::Transient,
        _ => Retry::Never,
    };
    Failure {
        error,
        status: None,
        retry,
    }
}

/// A 403 or 429 is a rate limit when GitHub says so in a header or in its message;
/// otherwise a 403 is a real permission refusal.
fn is_rate_limited(status: StatusCode, headers: &HeaderMap, message: &str) -> bool {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return true;
    }
    status == StatusCode::FORBIDDEN
        && (header_str(headers, "x-ratelimit-remaining") == Some("0")
            || headers.contains_key(header::RETRY_AFTER)
            || message.to_ascii_lowercase().contains("rate limit"))
}

/// Whether a rate-limited answer is the primary limit (the hour's quota is spent, and
/// GitHub says when it resets) rather than a secondary limit, which pauses writes.
fn quota_spent(headers: &HeaderMap) -> bool {
    header_str(headers, "x-ratelimit-remaining") == Some("0")
        && header_str(headers, "x-ratelimit-reset").is_some()
}

/// GraphQL reports its rate limit inside a 200 answer.
fn graphql_rate_limited(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<TypedError>,
    }
    #[derive(serde::Deserialize)]
    struct TypedError {
        #[serde(rename = "type", default)]
        kind: String,
    }
    serde_json::from_slice::<Errors>(body)
        .map(|e| e.errors.iter().any(|e| e.kind == "RATE_LIMITED"))
        .unwrap_or(false)
}

/// The failure for a rate limit, with how long GitHub asked us to wait: until
/// `x-ratelimit-reset` when the quota is spent, else `retry-after`, else the policy's
/// secondary-limit wait.
fn rate_limited(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    policy: &RetryPolicy,
) -> Failure {
    let reset = header_str(headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
    let retry_after = header_str(headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
    let wait = match (
        header_str(headers, "x-ratelimit-remaining"),
        reset,
        retry_after,
    ) {
        (Some("0"), Some(reset), _) => {
            let at = UNIX_EPOCH + Duration::from_secs(reset);
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                + policy.rate_limit_leeway
        }
        (_, _, Some(seconds)) => Duration::from_secs(seconds),
        _ => policy.secondary_rate_limit_wait,
    };
    Failure {
        error: GithubError::RateLimited {
            retry_after: Some(wait),
            message: error_message(body),
        },
        status: Some(status),
        retry: Retry::RateLimit(wait),
    }
}

/// A header's value as text, when present and printable.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
