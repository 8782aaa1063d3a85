//! `POST /graphql` for the operations Flotilla uses: `markPullRequestReadyForReview`,
//! `enablePullRequestAutoMerge`, `disablePullRequestAutoMerge`, and reading a pull
//! request through `repository(owner, name) { pullRequest(number) { … } }` or
//! `node(id)`. Documents are parsed with `graphql-parser`; the answer is projected onto
//! the selection set, so unknown fields are errors as on GitHub.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use graphql_parser::query::{
    Definition, Field, OperationDefinition, Selection, SelectionSet, Value as GqlValue,
};
use serde_json::{Map, Value, json};

use crate::types::{Login, RepoName};

use super::auth::InstallationAuth;
use super::calls;
use super::error::{ApiResult, JsonBody};
use super::merge::{self, MergeState};
use super::routes::pulls::mark_ready;
use super::state::{AutoMerge, MergeMethod};
use super::{Sim, json as shapes};

/// The GraphQL route.
pub fn router() -> Router<Sim> {
    Router::new().route("/graphql", post(graphql))
}

/// The GraphQL route where GitHub Enterprise Server has it (`/api/graphql`, beside its
/// REST root `/api/v3`).
pub fn enterprise_router() -> Router<Sim> {
    Router::new().route("/api/graphql", post(graphql))
}

/// A GraphQL error (answered with HTTP 200 and `errors`, as GitHub does).
struct GqlError {
    message: String,
    /// The document itself is wrong (parse or validation): GitHub then answers
    /// `errors` alone, without `data`. Otherwise the failing field resolves to `null`.
    invalid: bool,
}

impl GqlError {
    /// An error while resolving a field.
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            invalid: false,
        }
    }

    /// An error in the document (unknown field, parse error).
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            invalid: true,
        }
    }

    /// A selected field the object `on` (`type 'Repository'`, `the payload`) does not have.
    fn no_field(field: &str, on: &str) -> Self {
        Self::invalid(format!("Field '{field}' doesn't exist on {on}"))
    }

    /// GitHub's error `type`.
    fn kind(&self) -> &'static str {
        if self.message.starts_with("Could not resolve") {
            "NOT_FOUND"
        } else {
            "UNPROCESSABLE"
        }
    }
}

type GqlResult<T> = Result<T, GqlError>;

async fn graphql(
    State(sim): State<Sim>,
    auth: InstallationAuth,
    JsonBody(request): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let operation_name = request
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Json(
        match execute(&sim, &auth, &query, &variables, operation_name.as_deref()).await {
            Ok((data, errors)) if errors.is_empty() => json!({"data": data}),
            Ok((data, errors)) => json!({"data": data, "errors": errors}),
            // The document could not run at all: no `data` (GraphQL spec, as GitHub).
            Err(err) => json!({"errors": [{"type": err.kind(), "message": err.message}]}),
        },
    ))
}

/// The `errors` entry of a root field that failed (its value in `data` is `null`).
fn field_error(field: &Field<'_, String>, key: &str, err: &GqlError) -> Value {
    json!({
        "type": err.kind(),
        "path": [key],
        "locations": [{"line": field.position.line, "column": field.position.column}],
        "message": err.message,
    })
}

/// Runs a document: `data` and the errors of root fields that failed (their value is
/// `null`), or an error about the document itself.
async fn execute(
    sim: &Sim,
    auth: &InstallationAuth,
    query: &str,
    vars: &Value,
    name: Option<&str>,
) -> GqlResult<(Value, Vec<Value>)> {
    let doc = graphql_parser::parse_query::<String>(query)
        .map_err(|e| GqlError::invalid(format!("Parse error: {e}")))?;
    let operations: Vec<&OperationDefinition<String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(op) => Some(op),
            Definition::Fragment(_) => None,
        })
        .collect();
    let op = match name {
        Some(n) => operations.iter().find(|op| op_name(op) == Some(n)).copied(),
        None => operations.first().copied(),
    }
    .ok_or_else(|| GqlError::invalid("No operation found in the document"))?;
    let (is_mutation, selection) = match op {
        OperationDefinition::Query(q) => (false, &q.selection_set),
        OperationDefinition::SelectionSet(s) => (false, s),
        OperationDefinition::Mutation(m) => (true, &m.selection_set),
        OperationDefinition::Subscription(_) => {
            return Err(GqlError::invalid("Subscriptions are not supported"));
        }
    };
    let roots: Vec<&str> = fields(selection)
        .into_iter()
        .map(|f| f.name.as_str())
        .collect();
    *sim.world()
        .faults
        .graphql
        .entry(calls::graphql_key(is_mutation, &roots))
        .or_default() += 1;
    let mut data = Map::new();
    let mut errors = Vec::new();
    for field in fields(selection) {
        let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
        match resolve_root(sim, auth, is_mutation, field, vars).await {
            Ok(value) => {
                data.insert(key, value);
            }
            Err(err) if err.invalid => return Err(err),
            Err(err) => {
                errors.push(field_error(field, &key, &err));
                data.insert(key, Value::Null);
            }
        }
    }
    Ok((Value::Object(data), errors))
}

/// Resolves one root field of a query or mutation.
async fn resolve_root(
    sim: &Sim,
    auth: &InstallationAuth,
    is_mutation: bool,
    field: &Field<'_, String>,
    vars: &Value,
) -> GqlResult<Value> {
    let args = arguments(field, vars);
    Ok(match (is_mutation, field.name.as_str()) {
        (true, "markPullRequestReadyForReview") => {
            let (repo, number) = pull_from_input(sim, auth, &args)?;
            mark_ready(sim, &repo, number, &auth.bot)
                .await
                .map_err(|e| GqlError::new(e.message))?;
            payload(sim, &repo, number, field).await?
        }
        (true, "enablePullRequestAutoMerge") => {
            let (repo, number) = pull_from_input(sim, auth, &args)?;
            enable_auto_merge(sim, &repo, number, &args, &auth.bot).await?;
            payload(sim, &repo, number, field).await?
        }
        (true, "disablePullRequestAutoMerge") => {
            let (repo, number) = pull_from_input(sim, auth, &args)?;
            let was_enabled = sim
                .world()
                .repos
                .get_mut(&repo)
                .and_then(|r| r.pulls.get_mut(&number))
                .and_then(|p| p.auto_merge.take())
                .is_some();
            if was_enabled {
                merge::announce_pull(sim, &repo, number, "auto_merge_disabled", &auth.bot, {
                    let mut extra = Map::new();
                    extra.insert("reason".into(), json!("Auto-merge disabled by request"));
                    extra
                })
                .await
                .map_err(|e| GqlError::new(e.message))?;
            }
            payload(sim, &repo, number, field).await?
        }
        (false, "repository") => repository(sim, auth, &args, field, vars).await?,
        (false, "node") => {
            let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
            let (repo, number) = pull_by_node(sim, auth, id)?;
            project(
                &pull_object(sim, &repo, number).await?,
                &field.selection_set,
                "PullRequest",
            )?
        }
        (_, other) => {
            let root = if is_mutation {
                "type 'Mutation'"
            } else {
                "type 'Query'"
            };
            return Err(GqlError::no_field(other, root));
        }
    })
}

fn op_name<'a>(op: &'a OperationDefinition<String>) -> Option<&'a str> {
    match op {
        OperationDefinition::Query(q) => q.name.as_deref(),
        OperationDefinition::Mutation(m) => m.name.as_deref(),
        OperationDefinition::Subscription(s) => s.name.as_deref(),
        OperationDefinition::SelectionSet(_) => None,
    }
}

/// The fields of a selection set, with inline fragments (`... on PullRequest { … }`)
/// flattened in; named fragments are not supported.
fn fields<'a, 'b>(set: &'b SelectionSet<'a, String>) -> Vec<&'b Field<'a, String>> {
    let mut out = Vec::new();
    for item in &set.items {
        match item {
            Selection::Field(f) => out.push(f),
            Selection::InlineFragment(fragment) => out.extend(fields(&fragment.selection_set)),
            Selection::FragmentSpread(_) => {}
        }
    }
    out
}

/// A field's arguments as JSON, with variables substituted.
fn arguments(field: &Field<'_, String>, vars: &Value) -> Map<String, Value> {
    field
        .arguments
        .iter()
        .map(|(k, v)| (k.clone(), to_json(v, vars)))
        .collect()
}

fn to_json(value: &GqlValue<String>, vars: &Value) -> Value {
    match value {
        GqlValue::Variable(name) => vars.get(name).cloned().unwrap_or(Value::Null),
        GqlValue::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        GqlValue::Float(f) => json!(f),
        GqlValue::String(s) | GqlValue::Enum(s) => Value::String(s.clone()),
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::Null => Value::Null,
        GqlValue::List(list) => Value::Array(list.iter().map(|v| to_json(v, vars)).collect()),
        GqlValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(v, vars)))
                .collect(),
        ),
    }
}

/// Resolves `input.pullRequestId`.
fn pull_from_input(
    sim: &Sim,
    auth: &InstallationAuth,
    args: &Map<String, Value>,
) -> GqlResult<(RepoName, u64)> {
    let id = args
        .get("input")
        .and_then(|i| i.get("pullRequestId"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    pull_by_node(sim, auth, id)
}

fn pull_by_node(sim: &Sim, auth: &InstallationAuth, id: &str) -> GqlResult<(RepoName, u64)> {
    let missing = || {
        GqlError::new(format!(
            "Could not resolve to a node with the global id of '{id}'"
        ))
    };
    let (repo_id, number) = shapes::decode_pull_node_id(id).ok_or_else(missing)?;
    let world = sim.world();
    let account = world
        .installations
        .get(&auth.installation)
        .map(|i| i.account.clone())
        .ok_or_else(missing)?;
    let repo = world
        .repos
        .values()
        .find(|r| r.id == repo_id && r.name.split().is_some_and(|(o, _)| o == account.0))
        .ok_or_else(missing)?;
    repo.pulls.get(&number).ok_or_else(missing)?;
    Ok((repo.name.clone(), number))
}

async fn enable_auto_merge(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    args: &Map<String, Value>,
    by: &Login,
) -> GqlResult<()> {
    let input = args.get("input").cloned().unwrap_or(Value::Null);
    let method = match input.get("mergeMethod").and_then(Value::as_str) {
        None => MergeMethod::Merge,
        Some(m) => MergeMethod::parse(m).ok_or_else(|| {
            GqlError::invalid(format!("Argument 'mergeMethod' has an invalid value ({m})"))
        })?,
    };
    let allowed = sim.world().repo(repo).is_some_and(|r| r.allow_auto_merge);
    if !allowed {
        return Err(GqlError::new(
            "Auto merge is not allowed for this repository".to_owned(),
        ));
    }
    let (snap, _, state) = merge::evaluate(sim, repo, number)
        .await
        .map_err(|e| GqlError::new(e.message))?;
    if let Some(expected) = input.get("expectedHeadOid").and_then(Value::as_str)
        && expected != snap.head_sha
    {
        return Err(GqlError::new(format!(
            "Expected head oid {expected} does not match the pull request's head {}",
            snap.head_sha
        )));
    }
    match state {
        // GitHub prefixes the reason with "Pull request" (field reports).
        MergeState::Clean => {
            return Err(GqlError::new(
                "Pull request Pull request is in clean status",
            ));
        }
        MergeState::Unstable => {
            return Err(GqlError::new(
                "Pull request Pull request is in unstable status",
            ));
        }
        MergeState::Draft => {
            return Err(GqlError::new("Pull request is in draft state".to_owned()));
        }
        MergeState::Unknown => return Err(GqlError::new("Pull request is closed".to_owned())),
        MergeState::Blocked(_) | MergeState::Behind | MergeState::Dirty => {}
    }
    if let Some(p) = sim
        .world()
        .repos
        .get_mut(repo)
        .and_then(|r| r.pulls.get_mut(&number))
    {
        p.auto_merge = Some(AutoMerge {
            enabled_by: by.clone(),
            method,
        });
    }
    merge::announce_pull(sim, repo, number, "auto_merge_enabled", by, Map::new())
        .await
        .map_err(|e| GqlError::new(e.message))?;
    sim.kick_auto_merge();
    Ok(())
}

/// A mutation payload: `{ pullRequest { … }, clientMutationId }`.
async fn payload(
    sim: &Sim,
    repo: &RepoName,
    number: u64,
    field: &Field<'_, String>,
) -> GqlResult<Value> {
    let pull = pull_object(sim, repo, number).await?;
    let mut out = Map::new();
    for f in fields(&field.selection_set) {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        let value = match f.name.as_str() {
            "pullRequest" => project(&pull, &f.selection_set, "PullRequest")?,
            "clientMutationId" | "actor" => Value::Null,
            "__typename" => json!("Payload"),
            other => return Err(GqlError::no_field(other, "the payload")),
        };
        out.insert(key, value);
    }
    Ok(Value::Object(out))
}

async fn repository(
    sim: &Sim,
    auth: &InstallationAuth,
    args: &Map<String, Value>,
    field: &Field<'_, String>,
    vars: &Value,
) -> GqlResult<Value> {
    let owner = args
        .get("owner")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
    let repo = super::routes::repo_for(sim, auth, owner, name).map_err(|_| {
        GqlError::new(format!(
            "Could not resolve to a Repository with the name '{owner}/{name}'."
        ))
    })?;
    let mut out = Map::new();
    for f in fields(&field.selection_set) {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        let value = match f.name.as_str() {
            "pullRequest" => {
                let number = arguments(f, vars)
                    .get("number")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let exists = sim
                    .world()
                    .repo(&repo)
                    .is_some_and(|r| r.pulls.contains_key(&number));
                if !exists {
                    return Err(GqlError::new(format!(
                        "Could not resolve to a PullRequest with the number of {number}."
                    )));
                }
                project(
                    &pull_object(sim, &repo, number).await?,
                    &f.selection_set,
                    "PullRequest",
                )?
            }
            "id" => json!(
                sim.world()
                    .repo(&repo)
                    .map(|r| shapes::node_id("R", &r.id.to_string()))
            ),
            "nameWithOwner" => json!(repo.0),
            "autoMergeAllowed" => {
                json!(sim.world().repo(&repo).is_some_and(|r| r.allow_auto_merge))
            }
            "__typename" => json!("Repository"),
            other => return Err(GqlError::no_field(other, "type 'Repository'")),
        };
        out.insert(key, value);
    }
    Ok(Value::Object(out))
}

/// Every PullRequest field the simulator knows.
async fn pull_object(sim: &Sim, repo: &RepoName, number: u64) -> GqlResult<Value> {
    let (snap, view, state) = merge::evaluate(sim, repo, number)
        .await
        .map_err(|e| GqlError::new(e.message))?;
    let world = sim.world();
    let r = world
        .repo(repo)
        .ok_or_else(|| GqlError::new("repository vanished".to_owned()))?;
    let pull = r
        .pulls
        .get(&number)
        .ok_or_else(|| GqlError::new("pull request vanished".to_owned()))?;
    let auto = pull.auto_merge.as_ref().map(|a| {
        json!({
            "enabledAt": shapes::time(world.now()),
            "mergeMethod": a.method.as_str().to_ascii_uppercase(),
            "enabledBy": {"login": a.enabled_by.0},
        })
    });
    Ok(json!({
        "id": shapes::pull_node_id(r, number),
        "number": number,
        "title": snap.title,
        "url": format!("{}/{}/pull/{number}", world.base_url, repo),
        "isDraft": snap.draft,
        "state": if pull.merged { "MERGED" } else if snap.open { "OPEN" } else { "CLOSED" },
        "merged": pull.merged,
        "mergeable": match view.mergeable { Some(true) => "MERGEABLE", Some(false) => "CONFLICTING", None => "UNKNOWN" },
        "mergeStateStatus": state.graphql(),
        "autoMergeRequest": auto,
        "headRefOid": snap.head_sha,
        "headRefName": snap.head_ref,
        "baseRefName": snap.base_ref,
        "baseRefOid": view.base_sha,
        "author": {"login": snap.author.0},
    }))
}

/// Keeps only the selected fields (recursively); unknown fields are errors.
fn project(object: &Value, set: &SelectionSet<String>, type_name: &str) -> GqlResult<Value> {
    if object.is_null() {
        return Ok(Value::Null);
    }
    let mut out = Map::new();
    for f in fields(set) {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        if f.name == "__typename" {
            out.insert(key, json!(type_name));
            continue;
        }
        let value = object
            .get(&f.name)
            .ok_or_else(|| GqlError::no_field(&f.name, &format!("type '{type_name}'")))?;
        let value = if f.selection_set.items.is_empty() {
            value.clone()
        } else {
            project(value, &f.selection_set, &f.name)?
        };
        out.insert(key, value);
    }
    Ok(Value::Object(out))
}
