//! The runs page: every run the viewer may read, newest first, with its state, tasks
//! merged of total, cost and age; filtered by repository and state.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::format::age;
use super::{DashboardState, PageError, may_read};
use crate::links::paths;
use crate::store::{RunFilter, RunState};
use crate::types::RepoName;
use crate::web::auth::Viewer;

/// Runs shown on one page.
const PAGE_SIZE: i64 = 100;

/// The filter's query parameters (`?repo=owner/name&state=active`); empty means all.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    state: String,
}

/// One option of a filter's list.
struct Choice {
    value: String,
    selected: bool,
}

impl Choice {
    fn list(values: impl IntoIterator<Item = String>, chosen: &str) -> Vec<Self> {
        values
            .into_iter()
            .map(|value| Self {
                selected: value == chosen,
                value,
            })
            .collect()
    }
}

struct RunRow {
    href: String,
    id: i64,
    repo: String,
    issue: u64,
    title: String,
    state: String,
    merged: i64,
    tasks: i64,
    cost: String,
    age: String,
}

#[derive(Template)]
#[template(path = "dashboard/runs.html")]
struct RunsPage {
    viewer: String,
    csrf: String,
    repos: Vec<Choice>,
    states: Vec<Choice>,
    filtered: bool,
    runs: Vec<RunRow>,
}

/// `GET /runs`.
pub(super) async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, PageError> {
    let mut readable = Vec::new();
    for repo in state.store.repos_with_runs().await? {
        if may_read(&state, &viewer, &repo).await? {
            readable.push(repo);
        }
    }
    let wanted_repo = (!filter.repo.is_empty()).then(|| RepoName(filter.repo.clone()));
    let wanted_state: Option<RunState> = match filter.state.as_str() {
        "" => None,
        other => Some(other.parse().map_err(|_| PageError::NotFound)?),
    };
    let mut runs = Vec::new();
    let now = state.store.now();
    let repos: Vec<&RepoName> = match &wanted_repo {
        Some(repo) => readable.iter().filter(|r| *r == repo).collect(),
        None => readable.iter().collect(),
    };
    for repo in repos {
        let found = state
            .store
            .run_summaries(
                &RunFilter {
                    repo: Some(repo.clone()),
                    state: wanted_state,
                },
                PAGE_SIZE,
            )
            .await?;
        runs.extend(found);
    }
    runs.sort_by_key(|s| std::cmp::Reverse(s.run.id.0));
    runs.truncate(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX));
    let page = RunsPage {
        viewer: viewer.login.clone(),
        csrf: viewer.csrf_token().0,
        repos: Choice::list(readable.iter().map(|r| r.0.clone()), &filter.repo),
        states: Choice::list(
            [
                RunState::Planning,
                RunState::Active,
                RunState::Settled,
                RunState::Cancelled,
            ]
            .map(|s| s.as_str().to_owned()),
            &filter.state,
        ),
        filtered: !filter.repo.is_empty() || !filter.state.is_empty(),
        runs: runs
            .into_iter()
            .map(|s| RunRow {
                href: paths::run(s.run.id),
                id: s.run.id.0,
                repo: s.run.spec.repo.0.clone(),
                issue: s.run.spec.issue.0,
                title: s.run.spec.title.clone(),
                state: s.run.state.as_str().to_owned(),
                merged: s.merged,
                tasks: s.tasks,
                cost: s.cost.to_string(),
                age: age(s.run.created_at, now),
            })
            .collect(),
    };
    Ok(Html(page.render()?))
}
