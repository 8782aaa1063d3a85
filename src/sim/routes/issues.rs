//! Issue routes: issues and labels (comments are in `comments`). The operations are public so
//! the scenario API (a person acting) and the REST routes (the App acting) share them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::types::{Login, RepoName};

use super::super::error::{ApiError, ApiResult, JsonBody};
use super::super::state::{Issue, World};
use super::super::webhooks::announce;
use super::super::{Sim, json, merge};
use super::{InRepo, NumberPath, Page, RepoPath};

/// Issue routes.
pub fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues",
            get(list_issues).post(create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}",
            get(get_issue).patch(update_issue_route),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            get(list_labels).post(add_labels_route),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels/{name}",
            delete(remove_label_route),
        )
}

/// Announces an `issues` event (or `pull_request` for a pull request's issue side).
async fn announce_issue(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    action: &str,
    label: Option<&str>,
    by: &Login,
) -> ApiResult<()> {
    let is_pull = sim
        .world()
        .repo(repo)
        .and_then(|r| r.issues.get(&number))
        .is_some_and(|i| i.is_pull);
    let mut fields = Map::new();
    if is_pull {
        if let Some(label) = label {
            let world = sim.world();
            let r = world.repo(repo).ok_or_else(ApiError::not_found)?;
            fields.insert("label".into(), json::label(&world, r, label));
        }
        return merge::announce_pull(sim, repo, number, action, by, fields).await;
    }
    let world = sim.world();
    let r = world.repo(repo).ok_or_else(ApiError::not_found)?;
    let issue = r.issues.get(&number).ok_or_else(ApiError::not_found)?;
    fields.insert("issue".into(), json::issue(&world, r, issue));
    if let Some(label) = label {
        fields.insert("label".into(), json::label(&world, r, label));
    }
    announce(&world, sim.outbox(), r, "issues", Some(action), fields, by);
    Ok(())
}

/// Opens an issue as `by`; returns its number.
pub async fn open_issue(
    sim: &Sim,
    repo: &RepoName,
    title: &str,
    body: Option<String>,
    labels: Vec<String>,
    by: &Login,
) -> ApiResult<u64> {
    if title.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "Validation Failed: title is missing",
        ));
    }
    let number = {
        let mut world = sim.world();
        world.user(by);
        let id = world.id();
        let now = world.now();
        let r = world.repos.get_mut(repo).ok_or_else(ApiError::not_found)?;
        let number = r.next_number;
        r.next_number += 1;
        r.issues.insert(
            number,
            Issue {
                id,
                number,
                title: title.to_owned(),
                body,
                user: by.clone(),
                labels,
                open: true,
                state_reason: None,
                created_at: now,
                updated_at: now,
                closed_at: None,
                is_pull: false,
            },
        );
        number
    };
    announce_issue(sim, repo, number, "opened", None, by).await?;
    Ok(number)
}

/// Adds labels as `by`, announcing `labeled` for each new one; returns all labels.
pub async fn add_labels(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    labels: Vec<String>,
    by: &Login,
) -> ApiResult<Vec<String>> {
    let added: Vec<String> = {
        let mut world = sim.world();
        world.user(by);
        let now = world.now();
        let issue = issue_mut(&mut world, repo, number)?;
        let mut added = Vec::new();
        for label in labels {
            if !issue.labels.contains(&label) {
                issue.labels.push(label.clone());
                added.push(label);
            }
        }
        issue.updated_at = now;
        added
    };
    for label in &added {
        announce_issue(sim, repo, number, "labeled", Some(label), by).await?;
    }
    labels_of(sim, repo, number)
}

/// The issue (or a pull request's issue side) `number` of `repo`, to change; 404 when
/// there is none.
fn issue_mut<'w>(world: &'w mut World, repo: &RepoName, number: u64) -> ApiResult<&'w mut Issue> {
    world
        .repos
        .get_mut(repo)
        .and_then(|r| r.issues.get_mut(&number))
        .ok_or_else(ApiError::not_found)
}

/// Removes a label as `by`; 404 when the issue does not carry it.
pub async fn remove_label(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    label: &str,
    by: &Login,
) -> ApiResult<Vec<String>> {
    {
        let mut world = sim.world();
        let issue = issue_mut(&mut world, repo, number)?;
        let before = issue.labels.len();
        issue.labels.retain(|l| l != label);
        if issue.labels.len() == before {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Label does not exist"));
        }
    }
    announce_issue(sim, repo, number, "unlabeled", Some(label), by).await?;
    labels_of(sim, repo, number)
}

fn labels_of(sim: &Sim, repo: &RepoName, number: u64) -> ApiResult<Vec<String>> {
    let world = sim.world();
    let issue = world
        .repo(repo)
        .and_then(|r| r.issues.get(&number))
        .ok_or_else(ApiError::not_found)?;
    Ok(issue.labels.clone())
}

fn labels_json(sim: &Sim, repo: &RepoName, labels: &[String]) -> Value {
    let world = sim.world();
    let Some(r) = world.repo(repo) else {
        return json!([]);
    };
    Value::Array(labels.iter().map(|l| json::label(&world, r, l)).collect())
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    labels: Option<String>,
}

async fn list_issues(
    State(sim): State<Sim>,
    InRepo { name, .. }: InRepo<RepoPath>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let r = world.repo(&name).ok_or_else(ApiError::not_found)?;
    let wanted: Vec<&str> = q
        .labels
        .as_deref()
        .map(|l| l.split(',').collect())
        .unwrap_or_default();
    let state = q.state.as_deref().unwrap_or("open");
    let list: Vec<Value> = r
        .issues
        .values()
        .rev()
        .filter(|i| match state {
            "all" => true,
            "closed" => !i.open,
            _ => i.open,
        })
        .filter(|i| wanted.iter().all(|w| i.labels.iter().any(|l| l == w)))
        .map(|i| json::issue(&world, r, i))
        .collect();
    Ok(Json(Value::Array(page.apply(list))))
}

#[derive(Deserialize)]
struct NewIssue {
    title: String,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

async fn create_issue(
    State(sim): State<Sim>,
    InRepo { name, auth, .. }: InRepo<RepoPath>,
    JsonBody(new): JsonBody<NewIssue>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let number = open_issue(&sim, &name, &new.title, new.body, new.labels, &auth.bot).await?;
    Ok((StatusCode::CREATED, Json(issue_json(&sim, &name, number)?)))
}

fn issue_json(sim: &Sim, name: &RepoName, number: u64) -> ApiResult<Value> {
    let world = sim.world();
    let r = world.repo(name).ok_or_else(ApiError::not_found)?;
    let issue = r.issues.get(&number).ok_or_else(ApiError::not_found)?;
    Ok(json::issue(&world, r, issue))
}

async fn get_issue(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(issue_json(&sim, &name, path.number)?))
}

#[derive(Deserialize)]
struct IssuePatch {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    state_reason: Option<String>,
    labels: Option<Vec<String>>,
}

/// Applies an issue PATCH as `by` (title, body, state, labels) with its events.
pub async fn update_issue(
    sim: &Sim,
    name: &RepoName,
    number: u64,
    patch: serde_json::Value,
    by: &Login,
) -> ApiResult<()> {
    let patch: IssuePatch =
        serde_json::from_value(patch).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut actions = Vec::new();
    {
        let mut world = sim.world();
        let now = world.now();
        let issue = issue_mut(&mut world, name, number)?;
        if patch.title.is_some() || patch.body.is_some() {
            if let Some(title) = patch.title {
                issue.title = title;
            }
            if let Some(body) = patch.body {
                issue.body = Some(body);
            }
            actions.push("edited");
        }
        if let Some(labels) = patch.labels {
            issue.labels = labels;
        }
        match patch.state.as_deref() {
            Some("closed") if issue.open => {
                issue.open = false;
                issue.closed_at = Some(now);
                issue.state_reason =
                    Some(patch.state_reason.unwrap_or_else(|| "completed".to_owned()));
                actions.push("closed");
            }
            Some("open") if !issue.open => {
                issue.open = true;
                issue.closed_at = None;
                issue.state_reason = Some("reopened".to_owned());
                actions.push("reopened");
            }
            Some("open" | "closed") | None => {}
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "Validation Failed: state {other} is not valid"
                )));
            }
        }
        issue.updated_at = now;
    }
    for action in actions {
        announce_issue(sim, name, number, action, None, by).await?;
    }
    Ok(())
}

async fn update_issue_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    update_issue(&sim, &name, path.number, patch, &auth.bot).await?;
    Ok(Json(issue_json(&sim, &name, path.number)?))
}

async fn list_labels(
    State(sim): State<Sim>,
    InRepo { name, path, .. }: InRepo<NumberPath>,
) -> ApiResult<Json<Value>> {
    let labels = labels_of(&sim, &name, path.number)?;
    Ok(Json(labels_json(&sim, &name, &labels)))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelsBody {
    Object { labels: Vec<LabelName> },
    List(Vec<LabelName>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelName {
    Plain(String),
    Named { name: String },
}

async fn add_labels_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<NumberPath>,
    JsonBody(labels): JsonBody<LabelsBody>,
) -> ApiResult<Json<Value>> {
    let labels = match labels {
        LabelsBody::Object { labels } | LabelsBody::List(labels) => labels,
    };
    let labels = labels
        .into_iter()
        .map(|l| match l {
            LabelName::Plain(n) | LabelName::Named { name: n } => n,
        })
        .collect();
    let all = add_labels(&sim, &name, path.number, labels, &auth.bot).await?;
    Ok(Json(labels_json(&sim, &name, &all)))
}

#[derive(Deserialize)]
struct LabelPath {
    number: u64,
    name: String,
}

async fn remove_label_route(
    State(sim): State<Sim>,
    InRepo { name, path, auth }: InRepo<LabelPath>,
) -> ApiResult<Json<Value>> {
    let all = remove_label(&sim, &name, path.number, &path.name, &auth.bot).await?;
    Ok(Json(labels_json(&sim, &name, &all)))
}
