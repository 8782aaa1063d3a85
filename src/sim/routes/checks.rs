//! Checks and statuses: check runs (create, update, get, rerequest, list for a ref),
//! check suites, commit statuses and the combined status.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::types::RepoName;

use super::super::auth::InstallationAuth;
use super::super::check_events::{
    after_completion, announce_run, apply_output, create_run, run_list,
};
use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::{CI_APP_ID, Sim, ci, git, json};
use super::{InRepo, RepoPath, render_found};

/// Check and status routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/check-runs", post(create_check_run))
        .route(
            "/repos/{owner}/{repo}/check-runs/{id}",
            get(get_check_run).patch(update_check_run),
        )
        .route(
            "/repos/{owner}/{repo}/check-runs/{id}/rerequest",
            post(rerequest),
        )
        .route(
            "/repos/{owner}/{repo}/check-suites/{id}",
            get(get_check_suite),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{reference}/check-runs",
            get(runs_for_ref),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{reference}/check-suites",
            get(suites_for_ref),
        )
}

#[derive(Deserialize)]
struct IdPath {
    id: u64,
}

/// The `{reference}` of a `{owner}/{repo}/.../{reference}` path (the repository comes
/// through [`InRepo`](super::InRepo)).
#[derive(Deserialize)]
pub struct RefPath {
    /// Branch, tag or sha.
    pub reference: String,
}

#[derive(Deserialize)]
struct CheckRunBody {
    name: Option<String>,
    head_sha: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    details_url: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    actions: Vec<Value>,
}

const CONCLUSIONS: [&str; 8] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

/// Applies the mutable fields of a create/update body to run `id`; returns whether the
/// run became completed.
fn apply(sim: &Sim, name: &RepoName, id: u64, body: &CheckRunBody) -> ApiResult<bool> {
    if body.actions.len() > 3 {
        return Err(ApiError::unprocessable(
            "Only 3 actions are allowed per request",
        ));
    }
    if let Some(c) = &body.conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        return Err(ApiError::unprocessable(format!(
            "Validation Failed: conclusion {c} is not included in the list"
        )));
    }
    if let Some(s) = &body.status {
        if ![
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ]
        .contains(&s.as_str())
        {
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: status {s} is not included in the list"
            )));
        }
        if s == "completed" && body.conclusion.is_none() {
            return Err(ApiError::unprocessable(
                "Validation Failed: conclusion is required when status is completed",
            ));
        }
    }
    let mut world = sim.world();
    let now = world.now();
    let run = world
        .repos
        .get_mut(name)
        .and_then(|r| r.check_runs.iter_mut().find(|c| c.id == id))
        .ok_or_else(ApiError::not_found)?;
    apply_output(run, &body.output).map_err(ApiError::unprocessable)?;
    let was_completed = run.status == "completed";
    if let Some(name) = &body.name {
        run.name = name.clone();
    }
    if let Some(url) = &body.details_url {
        run.details_url = Some(url.clone());
    }
    if let Some(ext) = &body.external_id {
        run.external_id = Some(ext.clone());
    }
    if let Some(status) = &body.status {
        run.status = status.clone();
    }
    if let Some(conclusion) = &body.conclusion {
        run.conclusion = Some(conclusion.clone());
        run.status = "completed".to_owned();
        run.completed_at = Some(now);
    } else if run.status != "completed" {
        run.conclusion = None;
    }
    Ok(!was_completed && run.status == "completed")
}

async fn create_check_run(
    State(sim): State<Sim>,
    InRepo { name, auth, .. }: InRepo<RepoPath>,
    JsonBody(body): JsonBody<CheckRunBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (Some(run_name), Some(head_sha)) = (body.name.clone(), body.head_sha.clone()) else {
        return Err(ApiError::unprocessable(
            "Validation Failed: name and head_sha are required",
        ));
    };
    let sha = git::rev_parse(&sim.repo_path(&name), &head_sha)
        .await
        .filter(|s| s == &head_sha)
        .ok_or_else(|| ApiError::unprocessable(format!("No commit found for SHA: {head_sha}")))?;
    let outcome = {
        let mut world = sim.world();
        let id = create_run(&mut world, &name, auth.app_id, &run_name, &sha)
            .ok_or_else(ApiError::not_found)?;
        drop(world);
        match apply(&sim, &name, id, &body) {
            Ok(done) => Ok((id, done)),
            Err(err) => {
                let mut world = sim.world();
                if let Some(r) = world.repos.get_mut(&name) {
                    r.check_runs.retain(|c| c.id != id);
                }
                Err(err)
            }
        }
    };
    let (id, done) = outcome?;
    finish_change(&sim, &name, id, &auth, Some("created"), done);
    Ok((StatusCode::CREATED, Json(run_json(&sim, &name, id)?)))
}

/// Announces what changed and wakes auto-merge.
fn finish_change(
    sim: &Sim,
    name: &RepoName,
    id: u64,
    auth: &InstallationAuth,
    action: Option<&str>,
    done: bool,
) {
    let mut world = sim.world();
    if let Some(action) = action {
        announce_run(&world, sim.outbox(), name, id, action, &auth.bot);
    }
    if done {
        announce_run(&world, sim.outbox(), name, id, "completed", &auth.bot);
        after_completion(&mut world, sim.outbox(), name, id, &auth.bot);
    }
    drop(world);
    sim.kick_auto_merge();
}

fn run_json(sim: &Sim, name: &RepoName, id: u64) -> ApiResult<Value> {
    render_found(
        sim,
        name,
        |r| r.check_runs.iter().find(|c| c.id == id),
        json::check_run,
    )
}

async fn update_check_run(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<IdPath>,
    JsonBody(body): JsonBody<CheckRunBody>,
) -> ApiResult<Json<Value>> {
    let owner = {
        let world = sim.world();
        world
            .repo(&name)
            .and_then(|r| r.check_runs.iter().find(|c| c.id == path.id))
            .map(|c| c.app_id)
            .ok_or_else(ApiError::not_found)?
    };
    if owner != auth.app_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Invalid app_id `{}` - check run can only be modified by the GitHub App that created it.",
                auth.app_id
            ),
        ));
    }
    let done = apply(&sim, &name, path.id, &body)?;
    finish_change(&sim, &name, path.id, &auth, None, done);
    Ok(Json(run_json(&sim, &name, path.id)?))
}

async fn get_check_run(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<IdPath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(run_json(&sim, &name, path.id)?))
}

/// Someone asks to re-run check run `id`: its App hears `check_run.rerequested`; the
/// simulated CI re-runs its own.
pub fn rerequest_run(
    sim: &Sim,
    name: &RepoName,
    id: u64,
    by: &crate::types::Login,
) -> ApiResult<()> {
    let app = {
        let world = sim.world();
        let run = world
            .repo(name)
            .and_then(|r| r.check_runs.iter().find(|c| c.id == id))
            .ok_or_else(ApiError::not_found)?;
        if run.status != "completed" {
            return Err(ApiError::unprocessable(
                "This check run is not rerequestable",
            ));
        }
        if run.app_id != CI_APP_ID {
            announce_run(&world, sim.outbox(), name, id, "rerequested", by);
        }
        run.app_id
    };
    if app == CI_APP_ID {
        ci::rerun(sim, name, id);
    }
    Ok(())
}

/// Someone clicks one of a check run's action buttons: its App hears
/// `check_run.requested_action` with the button's `identifier`.
pub fn request_action(
    sim: &Sim,
    name: &RepoName,
    id: u64,
    identifier: &str,
    by: &crate::types::Login,
) -> ApiResult<()> {
    let world = sim.world();
    let r = world.repo(name).ok_or_else(ApiError::not_found)?;
    let run = r
        .check_runs
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    let mut value = json::check_run(&world, r, run);
    if let Some(suite) = r.check_suites.iter().find(|s| s.id == run.suite_id) {
        value["check_suite"] = json::check_suite(&world, r, suite);
    }
    let mut fields = serde_json::Map::new();
    fields.insert("check_run".into(), value);
    fields.insert("requested_action".into(), json!({"identifier": identifier}));
    super::super::webhooks::announce(
        &world,
        sim.outbox(),
        r,
        "check_run",
        Some("requested_action"),
        fields,
        by,
    );
    Ok(())
}

async fn rerequest(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<IdPath>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    rerequest_run(&sim, &name, path.id, &auth.bot)?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn get_check_suite(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<IdPath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(render_found(
        &sim,
        &name,
        |r| r.check_suites.iter().find(|s| s.id == path.id),
        json::check_suite,
    )?))
}

/// Resolves a ref or sha to a commit id, or 422 as GitHub answers.
pub async fn resolve(sim: &Sim, name: &RepoName, reference: &str) -> ApiResult<String> {
    git::rev_parse(&sim.repo_path(name), reference)
        .await
        .ok_or_else(|| ApiError::unprocessable(format!("No commit found for SHA: {reference}")))
}

/// A request about one commit, `{owner}/{repo}/commits/{reference}/...`: the repository
/// as [`InRepo`] checks it, the reference [`resolve`]d to its sha.
pub struct AtCommit {
    /// `owner/name`, as the path spells it.
    pub name: RepoName,
    /// The commit the path's reference names.
    pub sha: String,
}

impl FromRequestParts<Sim> for AtCommit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        let InRepo { name, path, .. } = InRepo::<RefPath>::from_request_parts(parts, sim).await?;
        let sha = resolve(sim, &name, &path.reference).await?;
        Ok(Self { name, sha })
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    check_name: Option<String>,
    app_id: Option<u64>,
    filter: Option<String>,
}

async fn runs_for_ref(
    State(sim): State<Sim>,
    AtCommit { name, sha }: AtCommit,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let mut runs: Vec<_> = r
        .check_runs
        .iter()
        .rev()
        .filter(|c| c.head_sha.0 == sha)
        .filter(|c| q.check_name.as_deref().is_none_or(|n| n == c.name))
        .filter(|c| q.app_id.is_none_or(|a| a == c.app_id.0))
        .collect();
    if q.filter.as_deref() != Some("all") {
        let mut seen = std::collections::HashSet::new();
        runs.retain(|c| seen.insert((c.app_id, c.name.clone())));
    }
    Ok(Json(run_list(&world, &name, &runs)))
}

async fn suites_for_ref(
    State(sim): State<Sim>,
    AtCommit { name, sha }: AtCommit,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let suites: Vec<Value> = r
        .check_suites
        .iter()
        .filter(|s| s.head_sha.0 == sha)
        .map(|s| json::check_suite(&world, r, s))
        .collect();
    Ok(Json(
        json!({"total_count": suites.len(), "check_suites": suites}),
    ))
}
