//! Faults as data, API call counts and rate-limit headers.
//!
//! A test arms a fault ("the next 2 calls to `POST /repos/{owner}/{repo}/pulls` answer
//! 502") and the one middleware here applies it; no route knows faults exist. The same
//! middleware counts calls per route and stamps GitHub's `x-ratelimit-*` headers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{InstallationId, RepoName};

use super::Sim;
use super::auth::installation_of;
use super::calls::graphql_body_is_write;
use super::error::ApiError;

/// GitHub's primary limit for an installation.
const RATE_LIMIT: u64 = 5000;

/// What an armed fault does to a matching call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FaultKind {
    /// Answer 500 Internal Server Error.
    ServerError,
    /// Answer 502 Bad Gateway.
    BadGateway,
    /// Do the call, then answer 502 Bad Gateway anyway: GitHub's proxy gave up while
    /// the write went through, so an error answer does not prove nothing was created.
    BadGatewayAfterWrite,
    /// Answer GitHub's secondary-rate-limit 403 with `retry-after`.
    SecondaryRateLimit {
        /// Seconds in `retry-after`.
        retry_after: u64,
    },
    /// Answer the primary-rate-limit 403: `x-ratelimit-remaining: 0` until the reset.
    RateLimitExhausted,
    /// Answer the 403 GitHub gives an App that lacks the permission a route needs
    /// (e.g. `administration: write` for branch protection).
    MissingPermission,
    /// Serve the call normally after a delay.
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
}

/// A fault armed for the next `times` calls matching `method` and `route`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method; `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Either a route template as the simulator declares it
    /// (`/repos/{owner}/{repo}/pulls/{number}/merge`) or a concrete path.
    pub route: String,
    /// How many calls it still affects.
    pub times: u32,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// What the next push to a repository meets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PushFault {
    /// The push is declined by a pre-receive hook with this message.
    Reject {
        /// The hook's message.
        message: String,
    },
    /// Someone else moves the pushed branch first, so the push is rejected as stale.
    Conflict,
}

/// Armed faults and call accounting.
#[derive(Default)]
pub struct Faults {
    /// Armed API faults, first match wins.
    pub armed: Vec<Fault>,
    /// Armed push faults by repository.
    pub push: HashMap<RepoName, PushFault>,
    /// Calls per `METHOD /route/template`.
    pub calls: BTreeMap<String, u64>,
    /// GraphQL calls per operation kind and root fields (`calls` counts them all under
    /// `POST /graphql`).
    pub graphql: BTreeMap<String, u64>,
    /// Start of the current rate-limit window.
    window_start: Option<DateTime<Utc>>,
    /// Calls in the current window.
    used: u64,
    /// Random trouble on every call, when armed.
    chaos: Option<Chaos>,
    /// Every content-creating call (REST methods but GET and HEAD, GraphQL mutations)
    /// as it arrived, for checking a client's pace against GitHub's per-minute limits.
    pub writes: Vec<WriteCall>,
}

/// One content-creating call as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteCall {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The installation whose token it carried; `None` for the App's JWT (minting
    /// tokens, redelivering webhooks) and for people's tokens.
    pub installation: Option<InstallationId>,
}

/// GitHub having a bad day: each API call fails, with probability `percent`%, with a
/// 502 or a secondary rate limit (half each), drawn from a seeded generator so a
/// failing run can be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chaos {
    /// Chance of a fault per call, in percent.
    pub percent: u8,
    /// The generator's state (xorshift64; never zero).
    pub seed: u64,
}

impl Chaos {
    /// The next fault to answer with, if this call draws one.
    fn draw(&mut self) -> Option<FaultKind> {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let roll = self.seed % 200;
        let percent = u64::from(self.percent);
        if roll < percent {
            Some(FaultKind::BadGateway)
        } else if roll >= 100 && roll < 100 + percent {
            Some(FaultKind::SecondaryRateLimit { retry_after: 1 })
        } else {
            None
        }
    }
}

impl Faults {
    /// Records a call to `key` and returns the fault that applies to it, if any.
    fn on_call(&mut self, method: &str, template: &str, path: &str) -> Option<FaultKind> {
        *self
            .calls
            .entry(format!("{method} {template}"))
            .or_default() += 1;
        let index = self.armed.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && (f.route == template || f.route == path)
        });
        let Some(index) = index else {
            return self.chaos.as_mut().and_then(Chaos::draw);
        };
        let fault = &mut self.armed[index];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.armed.remove(index);
        }
        Some(kind)
    }

    /// Arms (or with `None` disarms) random trouble on every call.
    pub fn set_chaos(&mut self, chaos: Option<Chaos>) {
        self.chaos = chaos.map(|chaos| Chaos {
            seed: chaos.seed.max(1),
            ..chaos
        });
    }

    /// The most content-creating calls that arrived within any `window`, counting
    /// only those `filter` keeps.
    pub fn most_writes_within(
        &self,
        window: chrono::Duration,
        filter: impl Fn(&WriteCall) -> bool,
    ) -> usize {
        let mut times: Vec<DateTime<Utc>> = self
            .writes
            .iter()
            .filter(|call| filter(call))
            .map(|call| call.at)
            .collect();
        times.sort_unstable();
        let mut start = 0;
        let mut most = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= window {
                start += 1;
            }
            most = most.max(end + 1 - start);
        }
        most
    }

    /// Counts one call against the hourly budget; returns (used, reset epoch seconds).
    fn spend(&mut self, now: DateTime<Utc>) -> (u64, i64) {
        let start = match self.window_start {
            Some(start) if now - start < chrono::Duration::hours(1) => start,
            _ => {
                self.used = 0;
                self.window_start = Some(now);
                now
            }
        };
        self.used += 1;
        (self.used, (start + chrono::Duration::hours(1)).timestamp())
    }
}

/// A route template in github.com's layout, whichever layout the call came in: GitHub
/// Enterprise Server's `/api/v3/…` and `/api/graphql` are the same routes, counted and
/// faulted as such.
fn github_com_template(template: &str) -> String {
    if template == "/api/graphql" {
        return "/graphql".to_owned();
    }
    template
        .strip_prefix(crate::sim::ENTERPRISE_REST_PREFIX)
        .unwrap_or(template)
        .to_owned()
}

/// Whether a call creates content as GitHub's secondary limit counts it: every REST
/// method but GET and HEAD, and GraphQL mutations (a GraphQL body is read here, and
/// put back for the route).
async fn classify_write(request: Request, method: &str, template: &str) -> (Request, bool) {
    if method == "GET" || method == "HEAD" {
        return (request, false);
    }
    if template != "/graphql" {
        return (request, true);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let is_write = graphql_body_is_write(&bytes);
    (Request::from_parts(parts, Body::from(bytes)), is_write)
}

/// Route middleware: counts the call, applies an armed fault, adds rate-limit headers.
pub async fn layer(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| github_com_template(m.as_str()))
        .unwrap_or_else(|| path.clone());
    let (request, is_write) = classify_write(request, &method, &template).await;
    let resource = if template == "/graphql" {
        "graphql"
    } else {
        "core"
    };
    let (fault, used, reset) = {
        let mut world = sim.world();
        let now = world.now();
        let fault = world.faults.on_call(&method, &template, &path);
        if is_write {
            let installation = installation_of(&world, request.headers());
            world.faults.writes.push(WriteCall {
                at: now,
                installation,
            });
        }
        let (used, reset) = world.faults.spend(now);
        (fault, used, reset)
    };
    let exhausted = fault == Some(FaultKind::RateLimitExhausted);
    let mut response = match fault {
        Some(FaultKind::ServerError) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error").into_response()
        }
        Some(FaultKind::BadGateway) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "Server Error").into_response()
        }
        Some(FaultKind::BadGatewayAfterWrite) => {
            next.run(request).await;
            ApiError::new(StatusCode::BAD_GATEWAY, "Server Error").into_response()
        }
        Some(FaultKind::SecondaryRateLimit { retry_after }) => ApiError::new(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        )
        .with_header("retry-after", retry_after.to_string())
        .into_response(),
        Some(FaultKind::RateLimitExhausted) => ApiError::new(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
        )
        .into_response(),
        Some(FaultKind::MissingPermission) => {
            ApiError::new(StatusCode::FORBIDDEN, "Resource not accessible by integration")
                .into_response()
        }
        Some(FaultKind::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    let remaining = if exhausted {
        0
    } else {
        RATE_LIMIT.saturating_sub(used)
    };
    for (name, value) in [
        ("x-ratelimit-limit", RATE_LIMIT.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-resource", resource.to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
