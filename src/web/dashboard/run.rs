//! The run page: the plan (which rule decided and why), each task with its state,
//! branch, pull request, attempts, the current head's verdicts and gates, and cost;
//! the timeline picture; and, for people with write access, Retry, Cancel and
//! Re-verify.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;

use super::format::{age, duration, repo_url};
use super::timeline::{self, Bar, BarEnd, BarKind, Row};
use super::{DashboardState, PageError, visible_run};
use crate::clock::Millis;
use crate::cost::Usd;
use crate::links::paths;
use crate::store::{
    RunId, RunRecord, StepKind, StepOutcome, StepRecord, Store, TaskRecord, TaskState,
};
use crate::web::auth::{Access, Viewer};

/// One verdict or gate on a task's current head.
pub struct VerdictView {
    /// `lens`, `gate` or `check`.
    pub kind: String,
    /// The lens, gate or check.
    pub name: String,
    /// upheld, refuted, passed, warned, failed, needs_human.
    pub outcome: String,
    /// Whether it lets the change merge.
    pub holds: bool,
    /// One line for people.
    pub summary: String,
}

/// A worker attempt's link.
pub struct AttemptLink {
    /// Its number.
    pub number: u32,
    /// Its page.
    pub href: String,
    /// How it ended (or "running").
    pub outcome: String,
}

/// A task as the run page shows it.
pub struct TaskView {
    /// Position in the plan.
    pub position: i64,
    /// Title.
    pub title: String,
    /// State name.
    pub state: String,
    /// Branch.
    pub branch: String,
    /// Pull request number and link.
    pub pr: Option<(u64, String)>,
    /// Attempts used and allowed.
    pub attempts: String,
    /// Each attempt's page.
    pub attempt_links: Vec<AttemptLink>,
    /// The current head, short, and its verification page.
    pub head: Option<(String, String)>,
    /// The current head's verdicts and gates.
    pub verdicts: Vec<VerdictView>,
    /// Why the last attempt or verification ended as it did.
    pub last_reason: Option<String>,
    /// What its agents cost.
    pub cost: String,
    /// Retry is offered (failed task, write access).
    pub can_retry: bool,
    /// Re-verify is offered (a head in a verifiable state, write access).
    pub can_reverify: bool,
}

#[derive(Template)]
#[template(path = "dashboard/run.html")]
struct RunPage {
    viewer: String,
    csrf: String,
    run_id: RunId,
    repo: String,
    repo_url: String,
    issue: u64,
    title: String,
    state: String,
    live: bool,
    requested_by: String,
    age: String,
    plan_source: Option<String>,
    plan_decisions: Vec<String>,
    budget_stopped: Option<String>,
    merged: usize,
    total: usize,
    cost: String,
    can_cancel: bool,
    tasks: Vec<TaskView>,
    timeline: String,
}

/// `GET /runs/{run}`.
pub(super) async fn page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path(run): Path<i64>,
) -> Result<Html<String>, PageError> {
    let (run, access) = visible_run(&state, &viewer, RunId(run)).await?;
    let now = state.store.now();
    Ok(Html(
        render(
            &state.store,
            &run,
            access,
            &viewer.login,
            &viewer.csrf_token().0,
            now,
        )
        .await?,
    ))
}

/// Renders a run's page for a viewer with `access`: public so the render benchmark
/// measures exactly what a request does after the access check.
pub async fn render(
    store: &Store,
    run: &RunRecord,
    access: Access,
    viewer: &str,
    csrf: &str,
    now: Millis,
) -> Result<String, PageError> {
    let tasks = store.tasks_of_run(run.id).await?;
    let steps = store.steps_of_run(run.id).await?;
    let spend = store.spend_by_task(run.id).await?;
    let can_write = access == Access::Write;
    let mut views = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let verdicts = match &task.head_sha {
            Some(head) => store.verdicts(task.id, head).await?,
            None => Vec::new(),
        };
        let attempt_links = steps
            .iter()
            .filter(|s| s.task_id == Some(task.id) && s.kind == StepKind::Work)
            .filter_map(|s| {
                let number = s.attempt?;
                Some(AttemptLink {
                    number,
                    href: paths::attempt(run.id, task.position, number),
                    outcome: step_end(s, run).describe().to_owned(),
                })
            })
            .collect();
        views.push(TaskView {
            position: task.position,
            title: task.title.clone(),
            state: task.state.as_str().to_owned(),
            branch: task.branch.clone(),
            pr: task
                .pr
                .map(|pr| (pr.0, format!("{}/pull/{}", repo_url(run), pr.0))),
            attempts: format!("{} of {}", task.attempts, task.max_attempts),
            attempt_links,
            head: task.head_sha.as_ref().map(|head| {
                (
                    head.abbreviated(10).to_owned(),
                    paths::verification(run.id, task.position, head),
                )
            }),
            verdicts: verdicts
                .iter()
                .map(|v| VerdictView {
                    kind: v.kind.as_str().to_owned(),
                    name: v.name.clone(),
                    outcome: v.outcome.as_str().to_owned(),
                    holds: v.holds(),
                    summary: v.summary.clone(),
                })
                .collect(),
            last_reason: task.last_reason.clone(),
            cost: spend
                .get(&task.id)
                .map_or_else(|| Usd::default().to_string(), |s| s.usd.to_string()),
            can_retry: can_write && task.state == TaskState::Failed,
            can_reverify: can_write
                && task.head_sha.is_some()
                && matches!(
                    task.state,
                    TaskState::Proposed
                        | TaskState::Refuted
                        | TaskState::Verified
                        | TaskState::Ready
                        | TaskState::NeedsHuman
                ),
        });
    }
    let total_cost = spend.values().fold(Usd::default(), |sum, s| sum + s.usd);
    let timeline = timeline::render(&timeline_rows(run, &tasks, &steps, now), run.created_at)?;
    let page = RunPage {
        viewer: viewer.to_owned(),
        csrf: csrf.to_owned(),
        run_id: run.id,
        repo: run.spec.repo.0.clone(),
        repo_url: repo_url(run),
        issue: run.spec.issue.0,
        title: run.spec.title.clone(),
        state: run.state.as_str().to_owned(),
        live: run.state.is_live(),
        requested_by: run.spec.requested_by.0.clone(),
        age: age(run.created_at, now),
        plan_source: run.plan_source.clone(),
        plan_decisions: run.plan_decisions.clone(),
        budget_stopped: run.budget_stopped.clone(),
        merged: tasks
            .iter()
            .filter(|t| t.state == TaskState::Merged)
            .count(),
        total: tasks.len(),
        cost: total_cost.to_string(),
        can_cancel: can_write && run.state.is_live(),
        tasks: views,
        timeline,
    };
    Ok(page.render()?)
}

/// How a step's bar ends: a step still open in a run that is over was cut short.
fn step_end(step: &StepRecord, run: &RunRecord) -> BarEnd {
    match step.outcome {
        Some(StepOutcome::Succeeded) => BarEnd::Succeeded,
        Some(StepOutcome::Failed) => BarEnd::Failed,
        Some(StepOutcome::Interrupted) => BarEnd::Interrupted,
        None if run.state.is_live() => BarEnd::Running,
        None => BarEnd::Interrupted,
    }
}

impl BarEnd {
    /// The word for an attempt link.
    fn describe(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "proposed",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The timeline's rows: planning, then one per task with a lane per lens.
fn timeline_rows(
    run: &RunRecord,
    tasks: &[TaskRecord],
    steps: &[StepRecord],
    now: Millis,
) -> Vec<Row> {
    let bar_of = |step: &StepRecord, lane: usize, kind: BarKind, href: Option<String>| {
        let outcome = step_end(step, run);
        let end = step.finished_at.unwrap_or(if outcome == BarEnd::Running {
            now
        } else {
            step.started_at
        });
        let what = match (&step.lens, step.attempt) {
            (Some(lens), _) => format!("{} lens", lens),
            (None, Some(n)) => format!("attempt {n}"),
            (None, None) => step.kind.as_str().to_owned(),
        };
        Bar {
            lane,
            start: step.started_at,
            end,
            kind,
            outcome,
            title: format!(
                "{what}: {} ({})",
                duration(step.started_at, step.finished_at),
                step.reason.as_deref().unwrap_or(outcome.describe())
            ),
            href,
        }
    };
    let mut rows = Vec::with_capacity(tasks.len() + 1);
    let plan_bars: Vec<Bar> = steps
        .iter()
        .filter(|s| s.kind == StepKind::Plan)
        .map(|s| bar_of(s, 0, BarKind::Plan, None))
        .collect();
    if !plan_bars.is_empty() {
        rows.push(Row {
            label: "plan".to_owned(),
            lanes: 1,
            bars: plan_bars,
        });
    }
    let mut by_task: HashMap<_, Vec<&StepRecord>> = HashMap::new();
    for step in steps {
        if let Some(task) = step.task_id {
            by_task.entry(task).or_default().push(step);
        }
    }
    for task in tasks {
        let own = by_task.remove(&task.id).unwrap_or_default();
        let lenses: Vec<&str> = own
            .iter()
            .filter_map(|s| s.lens.as_deref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut bars: Vec<Bar> = own
            .iter()
            .map(|step| match step.kind {
                StepKind::Work => bar_of(
                    step,
                    0,
                    BarKind::Work,
                    step.attempt
                        .map(|n| paths::attempt(run.id, task.position, n)),
                ),
                kind => {
                    let lane = step
                        .lens
                        .as_deref()
                        .and_then(|l| lenses.iter().position(|x| *x == l))
                        .map_or(0, |i| i + 1);
                    let bar_kind = if kind == StepKind::Build {
                        BarKind::Build
                    } else {
                        BarKind::Review
                    };
                    let href = step
                        .head
                        .as_ref()
                        .map(|h| paths::verification(run.id, task.position, h));
                    bar_of(step, lane, bar_kind, href)
                }
            })
            .collect();
        if let Some(land) = landing_bar(task, &own, now) {
            bars.push(land);
        }
        rows.push(Row {
            label: format!("{}. {}", task.position, task.title),
            lanes: 1 + lenses.len(),
            bars,
        });
    }
    rows
}

/// Landing, from the end of the last verification to the merge (or now, while the
/// task waits for checks, a person or the merge lock).
fn landing_bar(task: &TaskRecord, steps: &[&StepRecord], now: Millis) -> Option<Bar> {
    let (end, outcome) = match task.state {
        TaskState::Merged => (task.updated_at, BarEnd::Succeeded),
        TaskState::Verified | TaskState::Ready | TaskState::Merging => (now, BarEnd::Running),
        _ => return None,
    };
    let start = steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Review | StepKind::Build))
        .filter_map(|s| s.finished_at)
        .max()?;
    Some(Bar {
        lane: 0,
        start,
        end: end.max(start),
        kind: BarKind::Land,
        outcome,
        title: format!(
            "landing: {} ({})",
            duration(start, Some(end.max(start))),
            task.state.as_str()
        ),
        href: None,
    })
}
