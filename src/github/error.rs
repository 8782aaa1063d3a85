//! The errors the GitHub client returns, shaped so a caller can branch on them.
//!
//! Owns the mapping from an HTTP status (and GitHub's `message`) to a variant. It must
//! not decide whether to retry: that is `request.rs`'s single policy.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

/// Everything that can go wrong talking to GitHub, one variant per decision a caller
/// makes (retry later, give up, fall back to another call, tell a human).
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// 404: the thing does not exist, or the installation cannot see it.
    #[error("not found: {message}")]
    NotFound {
        /// GitHub's `message`.
        message: String,
    },
    /// 401: the JWT or installation token was refused.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// GitHub's `message`.
        message: String,
    },
    /// 403 that is not a rate limit: the App lacks a permission.
    #[error("forbidden: {message}")]
    Forbidden {
        /// GitHub's `message`.
        message: String,
    },
    /// A rate limit outlasted the retry budget; `retry_after` is when GitHub said to come back.
    #[error("rate limited by GitHub (retry after {retry_after:?}): {message}")]
    RateLimited {
        /// How long GitHub asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// GitHub's `message`.
        message: String,
    },
    /// 422: GitHub refused the request's content (a moved head on update-branch, a
    /// review comment outside the diff, ...).
    #[error("validation failed: {message}")]
    Validation {
        /// GitHub's `message` followed by the details in its `errors` list.
        message: String,
    },
    /// 409: a conflict, e.g. a merge whose `sha` guard no longer matches the head.
    #[error("conflict: {message}")]
    Conflict {
        /// GitHub's `message`.
        message: String,
    },
    /// 405: the pull request cannot be merged as it stands.
    #[error("not mergeable: {message}")]
    NotMergeable {
        /// GitHub's `message`.
        message: String,
    },
    /// GraphQL refused to enable auto-merge because the PR can merge now (or the branch
    /// has no protection): the caller should merge through REST instead.
    #[error("auto-merge unavailable: {message}")]
    AutoMergeUnavailable {
        /// GitHub's error message.
        message: String,
    },
    /// 5xx, after the retry budget (or at once for a request that is not idempotent).
    #[error("GitHub server error {status}: {message}")]
    Server {
        /// The HTTP status code.
        status: u16,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// Any other 4xx, kept with its status so nothing is silently reclassified.
    #[error("unexpected status {status} from GitHub: {message}")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// A GraphQL answer with `errors` that match no other variant.
    #[error("GraphQL error: {message}")]
    Graphql {
        /// The messages of every error, joined.
        message: String,
    },
    /// The request never got an HTTP answer (connection, TLS, timeout, token minting).
    #[error("transport error: {message}")]
    Transport {
        /// A description of the failure.
        message: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A 2xx answer whose body did not have the shape we rely on.
    #[error("cannot decode the answer to {route} at `{path}`: {source}")]
    Decode {
        /// The route template that answered.
        route: &'static str,
        /// Where in the JSON body decoding failed.
        path: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The caller handed us something we cannot turn into a request.
    #[error("invalid request: {message}")]
    InvalidInput {
        /// What was wrong.
        message: String,
    },
}

/// The body GitHub sends with a REST error.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// GitHub's `message` (plus, for 422, its `errors` details), or the start of the body
/// when it is not GitHub's JSON error shape.
pub(crate) fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) if parsed.errors.is_empty() => parsed.message,
        Ok(parsed) => {
            let details: Vec<String> = parsed
                .errors
                .iter()
                .map(
                    |e| match e.as_str().or_else(|| e.get("message")?.as_str()) {
                        Some(m) => m.to_owned(),
                        None => e.to_string(),
                    },
                )
                .collect();
            format!("{} ({})", parsed.message, details.join("; "))
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

impl GithubError {
    /// Whether the failure is GitHub's passing state rather than an answer about the
    /// request (a 5xx, a rate limit, no answer at all): the same call later may succeed,
    /// so the job that made it waits and tries again without spending an attempt.
    /// Returns how long GitHub asked to wait, when it said.
    pub fn transient(&self) -> Option<Option<Duration>> {
        match self {
            Self::Server { .. } | Self::Transport { .. } => Some(None),
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Maps a non-success status to its variant. Rate limits are classified before this
    /// is called, so a 403 or 429 here is a plain refusal.
    pub(crate) fn from_status(status: StatusCode, message: String) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized { message },
            403 => Self::Forbidden { message },
            404 => Self::NotFound { message },
            405 => Self::NotMergeable { message },
            409 => Self::Conflict { message },
            422 => Self::Validation { message },
            429 => Self::RateLimited {
                retry_after: None,
                message,
            },
            code if status.is_server_error() => Self::Server {
                status: code,
                message,
            },
            code => Self::UnexpectedStatus {
                status: code,
                message,
            },
        }
    }

    /// Maps an error raised inside octocrab (token minting, transport) to ours, so no
    /// octocrab type reaches a caller.
    pub(crate) fn from_octocrab(error: octocrab::Error) -> Self {
        match error {
            // octocrab's own calls (minting an installation token) keep no headers, so
            // a secondary rate limit is told by its message, as `request.rs` also does.
            octocrab::Error::GitHub { source, .. }
                if source.status_code == StatusCode::FORBIDDEN
                    && source.message.to_ascii_lowercase().contains("rate limit") =>
            {
                Self::RateLimited {
                    retry_after: None,
                    message: source.message.clone(),
                }
            }
            octocrab::Error::GitHub { source, .. } => {
                Self::from_status(source.status_code, source.message.clone())
            }
            other => Self::Transport {
                message: other.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// True when the error is an HTTP 404, the answer a caller often treats as "absent".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
