//! The admin HTTP API under `/_sim/...` (JSON, no auth: the simulator listens on
//! loopback): the scenario controls for scripts and the demo. Each route calls the same
//! `Sim` method a Rust test would.
//!
//! - `POST /_sim/repos/{o}/{r}/issues {title, body, user}` → `{number}`
//! - `POST /_sim/repos/{o}/{r}/issues/{n}/labels {label, user}`
//! - `GET|POST /_sim/repos/{o}/{r}/issues/{n}/comments` (`POST {body, user}`)
//! - `GET /_sim/repos/{o}/{r}/pulls`
//! - `POST /_sim/repos/{o}/{r}/pulls/{n}/approve {user}`, `…/merge {user, method}`
//! - `POST /_sim/repos/{o}/{r}/push {branch, files: {path: content}, message, user}`
//! - `POST /_sim/repos/{o}/{r}/push-fault {"kind": "reject", "message"} | {"kind": "conflict"}`
//! - `PUT /_sim/repos/{o}/{r}/branches/{b}/protection` (GitHub's protection body)
//! - `GET /_sim/repos/{o}/{r}/commits/{sha}/check-runs`
//! - `POST /_sim/repos/{o}/{r}/check-runs/{id}/rerequest {user}`
//! - `POST /_sim/faults {method, route, times, kind: server_error | bad_gateway |
//!   secondary_rate_limit (retry_after) | rate_limit_exhausted | latency (millis)}`
//! - `POST /_sim/clock {advance_secs}`, `POST /_sim/installations/{id}/token` → `{token}`
//! - `GET /_sim/calls` (per `METHOD /route`), `GET /_sim/call-counts` (`{by_route, total,
//!   writes}`, GraphQL told apart by operation), `GET /_sim/deliveries`

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::types::{CommitSha, InstallationId, Login, PrNumber, RepoName};

use super::Sim;
use super::faults::{Fault, PushFault};
use super::routes::protection::parse_protection;
use super::routes::{BranchPath, NumberPath, RepoPath};
use super::state::MergeMethod;

/// Admin routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/_sim/faults", post(fault))
        .route("/_sim/clock", post(clock))
        .route("/_sim/calls", get(calls))
        .route("/_sim/call-counts", get(call_counts))
        .route("/_sim/deliveries", get(deliveries))
        .route("/_sim/installations/{id}/token", post(token))
        .route("/_sim/repos/{owner}/{repo}/issues", post(open_issue))
        .route(
            "/_sim/repos/{owner}/{repo}/issues/{number}/labels",
            post(label),
        )
        .route(
            "/_sim/repos/{owner}/{repo}/issues/{number}/comments",
            get(comments).post(comment),
        )
        .route("/_sim/repos/{owner}/{repo}/pulls", get(pulls))
        .route(
            "/_sim/repos/{owner}/{repo}/pulls/{number}/approve",
            post(approve),
        )
        .route(
            "/_sim/repos/{owner}/{repo}/pulls/{number}/merge",
            post(merge),
        )
        .route("/_sim/repos/{owner}/{repo}/push", post(push))
        .route("/_sim/repos/{owner}/{repo}/push-fault", post(push_fault))
        .route(
            "/_sim/repos/{owner}/{repo}/branches/{branch}/protection",
            put(protection),
        )
        .route(
            "/_sim/repos/{owner}/{repo}/commits/{sha}/check-runs",
            get(check_runs),
        )
        .route(
            "/_sim/repos/{owner}/{repo}/check-runs/{id}/rerequest",
            post(rerequest),
        )
}

/// An admin error: 422 with the reason.
fn fail(err: impl std::fmt::Display) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"message": err.to_string()})),
    )
        .into_response()
}

fn done(value: Value) -> Response {
    Json(value).into_response()
}

fn respond(result: anyhow::Result<Value>) -> Response {
    result.map(done).unwrap_or_else(fail)
}

/// The repository an admin path names (`/_sim/repos/{owner}/{repo}/…`) and the rest of
/// its parameters `P`. No token and no check: the scenario's `Sim` method answers for a
/// repository that does not exist.
struct Named<P> {
    /// `owner/name`, as the path spells it.
    name: RepoName,
    /// The path's other parameters (a number, branch, sha or id).
    path: P,
}

impl<P: DeserializeOwned + Send> FromRequestParts<Sim> for Named<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, Response> {
        let Path(repo) = Path::<RepoPath>::from_request_parts(parts, sim)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<P>::from_request_parts(parts, sim)
            .await
            .map_err(IntoResponse::into_response)?;
        let name = RepoName(format!("{}/{}", repo.owner, repo.repo));
        Ok(Self { name, path })
    }
}

async fn fault(State(sim): State<Sim>, Json(fault): Json<Fault>) -> Response {
    sim.inject_fault(fault);
    done(json!({}))
}

#[derive(Deserialize)]
struct Clock {
    advance_secs: u64,
}

async fn clock(State(sim): State<Sim>, Json(c): Json<Clock>) -> Response {
    sim.advance_clock(Duration::from_secs(c.advance_secs));
    done(json!({}))
}

async fn calls(State(sim): State<Sim>) -> Json<BTreeMap<String, u64>> {
    Json(sim.api_calls())
}

async fn call_counts(State(sim): State<Sim>) -> Response {
    let counts = sim.call_counts();
    done(json!({
        "by_route": counts.by_route,
        "total": counts.total(),
        "writes": counts.writes(),
    }))
}

async fn deliveries(State(sim): State<Sim>) -> Response {
    done(serde_json::to_value(sim.deliveries()).unwrap_or_default())
}

async fn token(State(sim): State<Sim>, Path(id): Path<u64>) -> Response {
    done(json!({"token": sim.installation_token(InstallationId(id))}))
}

#[derive(Deserialize)]
struct NewIssue {
    title: String,
    #[serde(default)]
    body: String,
    user: String,
}

async fn open_issue(
    State(sim): State<Sim>,
    Named { name, .. }: Named<RepoPath>,
    Json(b): Json<NewIssue>,
) -> Response {
    respond(
        sim.open_issue(&name, &b.title, &b.body, &Login(b.user))
            .await
            .map(|n| json!({"number": n.0})),
    )
}

#[derive(Deserialize)]
struct LabelBody {
    label: String,
    user: String,
}

async fn label(
    State(sim): State<Sim>,
    Named { name, path }: Named<NumberPath>,
    Json(b): Json<LabelBody>,
) -> Response {
    respond(
        sim.label_issue(&name, path.number, &b.label, &Login(b.user))
            .await
            .map(|()| json!({})),
    )
}

#[derive(Deserialize)]
struct CommentBody {
    body: String,
    user: String,
}

async fn comment(
    State(sim): State<Sim>,
    Named { name, path }: Named<NumberPath>,
    Json(b): Json<CommentBody>,
) -> Response {
    respond(
        sim.comment(&name, path.number, &b.body, &Login(b.user))
            .await
            .map(|id| json!({"id": id})),
    )
}

async fn comments(State(sim): State<Sim>, Named { name, path }: Named<NumberPath>) -> Response {
    done(serde_json::to_value(sim.issue_comments(&name, path.number)).unwrap_or_default())
}

async fn pulls(State(sim): State<Sim>, Named { name, .. }: Named<RepoPath>) -> Response {
    done(serde_json::to_value(sim.pulls(&name)).unwrap_or_default())
}

#[derive(Deserialize)]
struct UserBody {
    user: String,
    method: Option<String>,
}

async fn approve(
    State(sim): State<Sim>,
    Named { name, path }: Named<NumberPath>,
    Json(b): Json<UserBody>,
) -> Response {
    respond(
        sim.approve_pr(&name, PrNumber(path.number), &Login(b.user))
            .await
            .map(|id| json!({"id": id})),
    )
}

async fn merge(
    State(sim): State<Sim>,
    Named { name, path }: Named<NumberPath>,
    Json(b): Json<UserBody>,
) -> Response {
    let method = b
        .method
        .as_deref()
        .and_then(MergeMethod::parse)
        .unwrap_or(MergeMethod::Merge);
    respond(
        sim.merge_pr(&name, PrNumber(path.number), method, &Login(b.user))
            .await
            .map(|sha| json!({"sha": sha.0})),
    )
}

#[derive(Deserialize)]
struct PushBody {
    branch: String,
    files: BTreeMap<String, String>,
    message: String,
    user: String,
}

async fn push(
    State(sim): State<Sim>,
    Named { name, .. }: Named<RepoPath>,
    Json(b): Json<PushBody>,
) -> Response {
    let files: Vec<(&str, &str)> = b
        .files
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    respond(
        sim.push_commit(&name, &b.branch, &files, &b.message, &Login(b.user))
            .await
            .map(|sha| json!({"sha": sha.0})),
    )
}

async fn push_fault(
    State(sim): State<Sim>,
    Named { name, .. }: Named<RepoPath>,
    Json(f): Json<PushFault>,
) -> Response {
    sim.inject_push_fault(&name, f);
    done(json!({}))
}

async fn protection(
    State(sim): State<Sim>,
    Named { name, path }: Named<BranchPath>,
    Json(body): Json<Value>,
) -> Response {
    match parse_protection(&body) {
        Ok(rules) => respond(
            sim.set_protection(&name, &path.branch, Some(rules))
                .map(|()| json!({})),
        ),
        Err(err) => fail(err.message),
    }
}

#[derive(Deserialize)]
struct ShaPath {
    sha: String,
}

async fn check_runs(State(sim): State<Sim>, Named { name, path }: Named<ShaPath>) -> Response {
    done(serde_json::to_value(sim.check_runs(&name, &CommitSha(path.sha))).unwrap_or_default())
}

#[derive(Deserialize)]
struct IdPath {
    id: u64,
}

#[derive(Deserialize)]
struct RerequestBody {
    user: String,
}

async fn rerequest(
    State(sim): State<Sim>,
    Named { name, path }: Named<IdPath>,
    Json(b): Json<RerequestBody>,
) -> Response {
    respond(
        sim.rerequest_check_run(&name, path.id, &Login(b.user))
            .map(|()| json!({})),
    )
}
