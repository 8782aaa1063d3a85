//! Typed webhook events: turning a verified delivery body into a [`WebhookEvent`].
//!
//! This module owns the shape of every payload Flotilla reacts to, with only the
//! fields Flotilla reads, so the rest of the program matches on enums instead of
//! poking at JSON. It decides which event/action pairs are handled and says why the
//! others are ignored. It must not verify signatures, store anything or act on an
//! event: it is a pure function from `(X-GitHub-Event, body)` to a value.

mod app;
mod checks;
mod common;
mod envelope;
mod issues;
mod merge_group;
mod pulls;

use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{DeserializeOwned, IgnoredAny, IntoDeserializer};
use serde::{Deserialize, Deserializer};

use crate::types::InstallationId;

pub use app::{
    Installation, InstallationAction, InstallationEvent, InstallationRepositoriesAction,
    InstallationRepositoriesEvent, PingEvent,
};
pub use checks::{
    CheckConclusion, CheckRun, CheckRunAction, CheckRunEvent, CheckStatus, CheckSuite,
    CheckSuiteAction, CheckSuiteEvent, CheckSuiteRef, StatusEvent, StatusState,
};
pub use common::{
    Account, AccountKind, AppRef, InstallationRef, Label, PrRef, RepoRef, Repository, Sender,
};
pub use envelope::DeliveryEnvelope;
pub use issues::{
    Comment, Issue, IssueCommentAction, IssueCommentEvent, IssueState, IssuesAction, IssuesEvent,
};
pub use merge_group::{MergeGroup, MergeGroupAction, MergeGroupDestroyReason, MergeGroupEvent};
pub use pulls::{
    AutoMergeState, GitRef, PrState, PullRequest, PullRequestAction, PullRequestEvent,
    PullRequestReviewAction, PullRequestReviewEvent, Review, ReviewState,
};

/// Every webhook Flotilla handles, one variant per `X-GitHub-Event` value, so the
/// dispatcher is one exhaustive `match`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `issues`: the trigger label and changes to an issue under Flotilla's care.
    Issues(IssuesEvent),
    /// `issue_comment`: `/flotilla` commands, on issues and on PR conversations.
    IssueComment(IssueCommentEvent),
    /// `pull_request`: the lifecycle of the PRs Flotilla opened.
    PullRequest(PullRequestEvent),
    /// `pull_request_review`: human reviews that may gate a merge.
    PullRequestReview(PullRequestReviewEvent),
    /// `check_suite`: a push asks the App to verify a head.
    CheckSuite(CheckSuiteEvent),
    /// `check_run`: re-runs, button clicks and the repository's CI results.
    CheckRun(CheckRunEvent),
    /// `status`: commit statuses from CI systems that do not use checks.
    Status(StatusEvent),
    /// `merge_group`: the merge queue asks the required checks to run on a group.
    MergeGroup(MergeGroupEvent),
    /// `installation`: the App was installed or removed.
    Installation(InstallationEvent),
    /// `installation_repositories`: repositories joined or left an installation.
    InstallationRepositories(InstallationRepositoriesEvent),
    /// `ping`: GitHub checks the hook works when it is created.
    Ping(PingEvent),
}

impl WebhookEvent {
    /// The `X-GitHub-Event` name, for logs, spans and the delivery row.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Issues(_) => "issues",
            Self::IssueComment(_) => "issue_comment",
            Self::PullRequest(_) => "pull_request",
            Self::PullRequestReview(_) => "pull_request_review",
            Self::CheckSuite(_) => "check_suite",
            Self::CheckRun(_) => "check_run",
            Self::Status(_) => "status",
            Self::MergeGroup(_) => "merge_group",
            Self::Installation(_) => "installation",
            Self::InstallationRepositories(_) => "installation_repositories",
            Self::Ping(_) => "ping",
        }
    }

    /// Who caused the event; `None` only for a ping that carries no sender.
    pub fn sender(&self) -> Option<&Sender> {
        self.origin().sender
    }

    /// The repository the event is about; `None` for installation-level events.
    pub fn repository(&self) -> Option<&Repository> {
        self.origin().repository
    }

    /// The installation whose token must be used to act on this event.
    pub fn installation_id(&self) -> Option<InstallationId> {
        self.origin().installation
    }

    /// Who, where and as which installation, as each event carries them: one list of
    /// which payload has what.
    fn origin(&self) -> Origin<'_> {
        match self {
            Self::Issues(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::IssueComment(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::PullRequest(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::PullRequestReview(e) => {
                Origin::of_repo(&e.sender, &e.repository, &e.installation)
            }
            Self::CheckSuite(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::CheckRun(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::Status(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::MergeGroup(e) => Origin::of_repo(&e.sender, &e.repository, &e.installation),
            Self::Installation(e) => Origin::of_installation(&e.sender, &e.installation),
            Self::InstallationRepositories(e) => {
                Origin::of_installation(&e.sender, &e.installation)
            }
            Self::Ping(e) => Origin {
                sender: e.sender.as_ref(),
                repository: e.repository.as_ref(),
                installation: e.installation.as_ref().map(|i| i.id),
            },
        }
    }

    /// Whether Flotilla itself caused this event, so it does not react to its own
    /// comments, pushes and check runs. Only an exact `<slug>[bot]` login with sender
    /// type `Bot` counts: a user may register a login ending in `[bot]`.
    pub fn is_from_app(&self, app_slug: &str) -> bool {
        self.sender().is_some_and(|s| {
            s.kind == AccountKind::Bot && s.login.0.strip_suffix("[bot]") == Some(app_slug)
        })
    }

    /// Whether this is a pull request closing as merged or moving to a new head. A
    /// merge Flotilla caused (auto-merge it enabled) and a head it caused (its
    /// `update-branch`, which GitHub carries out later) arrive as its own events but must
    /// still be recorded, so these kinds of own event are read — they only record state
    /// (a head Flotilla pushed itself is already recorded, so its event changes nothing).
    pub fn is_state_notice(&self) -> bool {
        matches!(self, Self::PullRequest(e)
            if e.action == PullRequestAction::Synchronize
                || (e.action == PullRequestAction::Closed && e.pull_request.merged == Some(true)))
    }
}

/// The parts of an event that say who caused it, where, and as which installation.
struct Origin<'a> {
    sender: Option<&'a Sender>,
    repository: Option<&'a Repository>,
    installation: Option<InstallationId>,
}

impl<'a> Origin<'a> {
    /// A repository event's: all three present (the installation when GitHub sends it).
    fn of_repo(
        sender: &'a Sender,
        repository: &'a Repository,
        installation: &Option<InstallationRef>,
    ) -> Self {
        Self {
            sender: Some(sender),
            repository: Some(repository),
            installation: installation.as_ref().map(|i| i.id),
        }
    }

    /// An installation event's: no repository, the installation always.
    fn of_installation(sender: &'a Sender, installation: &Installation) -> Self {
        Self {
            sender: Some(sender),
            repository: None,
            installation: Some(installation.id),
        }
    }
}

/// The outcome of parsing a delivery that is well-formed: either an event Flotilla
/// handles, or a reason to acknowledge and drop it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per delivery and moved straight into a match; a box would only add an allocation"
)]
pub enum Parsed {
    /// A handled event, ready for the dispatcher.
    Event(WebhookEvent),
    /// A valid delivery Flotilla does not act on (logged, not an error).
    Ignored(IgnoreReason),
}

/// Why a delivery was acknowledged without being handled, for the log line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    /// The App is subscribed to more events than Flotilla handles, or GitHub added one.
    #[error("unknown event `{event}`")]
    UnknownEvent {
        /// The `X-GitHub-Event` header value.
        event: String,
    },
    /// A handled event with an action Flotilla does not react to (e.g. `issues.assigned`).
    #[error("unhandled action `{action}` of `{event}`")]
    UnhandledAction {
        /// The event name.
        event: String,
        /// The payload's `action`.
        action: String,
    },
}

/// Why a delivery of a handled event could not be typed. The caller stores the body
/// anyway and logs this; the path lets a human find the field that broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventParseError {
    /// The body is not a JSON document at all.
    #[error("body is not JSON: {message}")]
    InvalidJson {
        /// serde_json's description, with its line and column.
        message: String,
    },
    /// The body is JSON but not the shape GitHub documents for this event/action.
    #[error("{path}: {message}")]
    Schema {
        /// Dotted path to the offending field, e.g. `issue.number`.
        path: String,
        /// What was wrong with it, e.g. ``missing field `number` ``.
        message: String,
    },
}

/// Types a delivery: `event` is the `X-GitHub-Event` header, `body` the verified raw
/// body. An unknown event is ignored without reading the body; for a known one the
/// `action` is read first, so an unhandled action is ignored without being held to
/// any schema, and only then is the event's own struct deserialized.
pub fn parse(event: &str, body: &[u8]) -> Result<Parsed, EventParseError> {
    use WebhookEvent as E;
    match event {
        "issues" => with_action(event, body, issues::parse_issues, E::Issues),
        "issue_comment" => with_action(
            event,
            body,
            handled::<IssueCommentAction, _>,
            E::IssueComment,
        ),
        "pull_request" => with_action(event, body, pulls::parse_pull_request, E::PullRequest),
        "pull_request_review" => with_action(
            event,
            body,
            handled::<PullRequestReviewAction, _>,
            E::PullRequestReview,
        ),
        "check_suite" => with_action(event, body, handled::<CheckSuiteAction, _>, E::CheckSuite),
        "check_run" => with_action(event, body, checks::parse_check_run, E::CheckRun),
        "status" => deserialize(body).map(|e| Parsed::Event(E::Status(e))),
        "merge_group" => with_action(event, body, merge_group::parse_merge_group, E::MergeGroup),
        "installation" => with_action(
            event,
            body,
            handled::<InstallationAction, _>,
            E::Installation,
        ),
        "installation_repositories" => with_action(
            event,
            body,
            handled::<InstallationRepositoriesAction, _>,
            E::InstallationRepositories,
        ),
        "ping" => deserialize(body).map(|e| Parsed::Event(E::Ping(e))),
        other => Ok(Parsed::Ignored(IgnoreReason::UnknownEvent {
            event: other.to_owned(),
        })),
    }
}

/// The only field read before deciding whether a delivery is handled.
#[derive(Deserialize)]
struct Head {
    /// Required for every handled event that has actions.
    action: String,
}

/// Reads the body's `action`, then types it with `typed` (which returns `Ok(None)`
/// for an action it does not handle) and wraps it as a [`WebhookEvent`].
fn with_action<T>(
    event: &str,
    body: &[u8],
    typed: fn(&str, &[u8]) -> Result<Option<T>, EventParseError>,
    wrap: fn(T) -> WebhookEvent,
) -> Result<Parsed, EventParseError> {
    let Head { action } = deserialize(body)?;
    Ok(match typed(&action, body)? {
        Some(value) => Parsed::Event(wrap(value)),
        None => Parsed::Ignored(IgnoreReason::UnhandledAction {
            event: event.to_owned(),
            action,
        }),
    })
}

/// Types an event whose actions carry no data of their own: its action enum `A` is
/// read straight from the body's `action`. `Ok(None)` when `A` lacks the action.
fn handled<A: DeserializeOwned, T: DeserializeOwned>(
    action: &str,
    body: &[u8],
) -> Result<Option<T>, EventParseError> {
    typed(action, body, |_: A, event| event)
}

/// Types an event whose action is one of the action-kind enum `K` (`Ok(None)` when it
/// is not): the body is read as `W`, and `build` makes the event of the kind and `W`
/// (the data an action carries lives beside the payload, not in `action`).
fn typed<K: DeserializeOwned, W: DeserializeOwned, T>(
    action: &str,
    body: &[u8],
    build: impl FnOnce(K, W) -> T,
) -> Result<Option<T>, EventParseError> {
    let Some(kind) = action_kind::<K>(action) else {
        return Ok(None);
    };
    deserialize(body).map(|wire| Some(build(kind, wire)))
}

/// Reads an action string into one of the private action-kind enums (unit variants,
/// `snake_case`); `None` when the action is not one Flotilla handles.
fn action_kind<K: DeserializeOwned>(action: &str) -> Option<K> {
    let de: StrDeserializer<'_, ValueError> = action.into_deserializer();
    K::deserialize(de).ok()
}

/// Deserializes `body` as `T`, naming the JSON path of the first mismatch.
fn deserialize<T: DeserializeOwned>(body: &[u8]) -> Result<T, EventParseError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(schema_error)?;
    // Trailing bytes are a syntax error, so the path is never used.
    de.end().map_err(|e| schema_error_at(String::new(), e))?;
    Ok(value)
}

/// Converts a path-tracking error into [`EventParseError`].
fn schema_error(error: serde_path_to_error::Error<serde_json::Error>) -> EventParseError {
    let path = error.path().to_string();
    schema_error_at(path, error.into_inner())
}

/// Classifies a serde_json error found at `path`: syntax means the body is not JSON,
/// anything else is a schema mismatch. A missing field is reported by serde at its
/// parent object, so the field's name is appended to the path.
fn schema_error_at(path: String, error: serde_json::Error) -> EventParseError {
    if !error.is_data() {
        return EventParseError::InvalidJson {
            message: error.to_string(),
        };
    }
    let full = error.to_string();
    let location = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&location).unwrap_or(&full).to_owned();
    let parent = if path == "." { "" } else { path.as_str() };
    let path = match missing_field(&message) {
        Some(field) if parent.is_empty() => field.to_owned(),
        Some(field) => format!("{parent}.{field}"),
        None if parent.is_empty() => ".".to_owned(),
        None => parent.to_owned(),
    };
    EventParseError::Schema { path, message }
}

/// The field name in serde's ``missing field `x` `` message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// Deserializes a JSON key that may be absent or `null` as `false`, and any other
/// value as `true` (GitHub marks PR-backed issues with a `pull_request` object).
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    Ok(Option::<IgnoredAny>::deserialize(de)?.is_some())
}
