//! The queue page: jobs by kind and state, the agents running now, each repository's
//! merge lock holder, and dead jobs with their error. Counts cover every job; the
//! lists show only jobs, agents and locks of repositories the viewer may read.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::format::{age, duration};
use super::{DashboardState, PageError, may_read};
use crate::clock::Millis;
use crate::links::paths;
use crate::store::{JobKind, JobState, RunId};
use crate::types::RepoName;
use crate::web::auth::Viewer;

/// Running and dead jobs listed, at most.
const LISTED: i64 = 50;

struct CountRow {
    kind: &'static str,
    counts: Vec<i64>,
}

struct JobView {
    id: i64,
    kind: &'static str,
    repo: String,
    run_href: Option<String>,
    attempts: String,
    lease_owner: String,
    error: String,
    when: String,
}

struct AgentView {
    what: String,
    repo: String,
    run_href: String,
    running_for: String,
}

struct LockView {
    repo: String,
    holder: String,
}

#[derive(Template)]
#[template(path = "dashboard/queue.html")]
struct QueuePage {
    viewer: String,
    csrf: String,
    states: Vec<&'static str>,
    counts: Vec<CountRow>,
    agents: Vec<AgentView>,
    running: Vec<JobView>,
    dead: Vec<JobView>,
    locks: Vec<LockView>,
    hidden: usize,
}

/// `GET /queue`.
pub(super) async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
) -> Result<Html<String>, PageError> {
    let store = &state.store;
    let now = store.now();
    let states = JobState::ALL;
    let all = store.job_counts().await?;
    let counts = JobKind::ALL
        .iter()
        .map(|kind| CountRow {
            kind: kind.as_str(),
            counts: states
                .iter()
                .map(|s| {
                    all.iter()
                        .find(|(k, st, _)| k == kind && st == s)
                        .map_or(0, |(_, _, n)| *n)
                })
                .collect(),
        })
        .collect();
    let (running, hidden_running) = visible_jobs(&state, &viewer, JobState::Running, now).await?;
    let (dead, hidden_dead) = visible_jobs(&state, &viewer, JobState::Dead, now).await?;
    let mut runs: HashMap<RunId, RepoName> = HashMap::new();
    let mut agents = Vec::new();
    for step in store.open_steps().await? {
        let repo = match runs.get(&step.run_id) {
            Some(repo) => repo.clone(),
            None => {
                let Some(run) = store.run(step.run_id).await? else {
                    continue;
                };
                if !run.state.is_live() {
                    continue;
                }
                runs.insert(run.id, run.spec.repo.clone());
                run.spec.repo
            }
        };
        if !may_read(&state, &viewer, &repo).await? {
            continue;
        }
        let what = match (&step.lens, step.attempt) {
            (Some(lens), _) => format!("reviewer, {lens} lens"),
            (None, Some(n)) => format!("worker, attempt {n}"),
            (None, None) => step.kind.as_str().to_owned(),
        };
        agents.push(AgentView {
            what,
            repo: repo.0,
            run_href: paths::run(step.run_id),
            running_for: duration(step.started_at, Some(now)),
        });
    }
    let mut locks = Vec::new();
    for lock in store.merge_locks().await? {
        if may_read(&state, &viewer, &lock.repo).await? {
            locks.push(LockView {
                repo: lock.repo.0,
                holder: lock.holder,
            });
        }
    }
    let page = QueuePage {
        viewer: viewer.login.clone(),
        csrf: viewer.csrf_token().0,
        states: states.iter().map(|s| s.as_str()).collect(),
        counts,
        agents,
        running,
        dead,
        locks,
        hidden: hidden_running + hidden_dead,
    };
    Ok(Html(page.render()?))
}

/// The jobs in `job_state` (the newest [`LISTED`]) of repositories the viewer may
/// read, and how many were left out (another repository's, or of no repository).
async fn visible_jobs(
    state: &DashboardState,
    viewer: &Viewer,
    job_state: JobState,
    now: Millis,
) -> anyhow::Result<(Vec<JobView>, usize)> {
    let jobs = state.store.jobs_in_state(job_state, LISTED).await?;
    let mut shown = Vec::with_capacity(jobs.len());
    let mut hidden = 0;
    for job in jobs {
        let readable = match &job.repo {
            Some(repo) => may_read(state, viewer, repo).await?,
            None => false,
        };
        if !readable {
            hidden += 1;
            continue;
        }
        shown.push(JobView {
            id: job.id,
            kind: job.kind.as_str(),
            repo: job.repo.map(|r| r.0).unwrap_or_default(),
            run_href: job.run.map(paths::run),
            attempts: format!("{} of {}", job.attempts, job.max_attempts),
            lease_owner: job.lease_owner.unwrap_or_default(),
            error: job.last_error.unwrap_or_default(),
            when: age(job.finished_at.unwrap_or(job.created_at), now),
        });
    }
    Ok((shown, hidden))
}
