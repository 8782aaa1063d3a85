//! The attempt page (a worker attempt: the prompt as the agent got it, its transcript,
//! how and why it ended, how long it took, tokens and cost) and the verification page
//! (each lens's verdict, findings, output and transcript, and each gate's output).
//! Everything shown went through the same redaction as what Flotilla publishes.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use serde::Deserialize;

use super::format::duration;
use super::{DashboardState, PageError, visible_run};
use crate::cost::Spend;
use crate::links::paths;
use crate::review::{Finding, Gate};
use crate::store::{RunId, StepKind, StepRecord, TaskRecord, VerdictSource};
use crate::types::CommitSha;
use crate::web::auth::Viewer;

/// Tokens and cost of an agent run, as shown.
struct SpendView {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    cost: String,
}

impl From<Spend> for SpendView {
    fn from(spend: Spend) -> Self {
        Self {
            input: spend.tokens.input,
            output: spend.tokens.output,
            cache_read: spend.tokens.cache_read,
            cache_write: spend.tokens.cache_write,
            cost: spend.usd.to_string(),
        }
    }
}

/// A step's common facts.
struct StepView {
    outcome: String,
    reason: String,
    started: String,
    duration: String,
    prompt: Option<String>,
    transcript: Option<String>,
}

impl StepView {
    fn new(step: &StepRecord) -> Self {
        Self {
            outcome: step.outcome.map_or("running", |o| o.as_str()).to_owned(),
            reason: step.reason.clone().unwrap_or_default(),
            started: chrono::DateTime::from_timestamp_millis(step.started_at)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            duration: duration(step.started_at, step.finished_at),
            prompt: step.prompt.clone(),
            transcript: step.transcript.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/attempt.html")]
struct AttemptPage {
    viewer: String,
    csrf: String,
    task: TaskHeading,
    attempt: u32,
    step: StepView,
    spend: SpendView,
}

/// `GET /runs/{run}/tasks/{position}/attempts/{attempt}`.
pub(super) async fn attempt_page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path((run, position, attempt)): Path<(i64, i64, u32)>,
) -> Result<Html<String>, PageError> {
    let (task, heading, steps) = task_page(&state, &viewer, RunId(run), position).await?;
    let listed = steps
        .into_iter()
        .rfind(|s| s.kind == StepKind::Work && s.attempt == Some(attempt))
        .ok_or(PageError::NotFound)?;
    let step = state
        .store
        .step(listed.id)
        .await?
        .ok_or(PageError::NotFound)?;
    let spend = state.store.spend_of_attempt(task.id, attempt).await?;
    let page = AttemptPage {
        viewer: viewer.login.clone(),
        csrf: viewer.csrf_token().0,
        task: heading,
        attempt,
        step: StepView::new(&step),
        spend: spend.into(),
    };
    Ok(Html(page.render()?))
}

/// The findings stored in a verdict's or gate's detail.
#[derive(Default, Deserialize)]
struct Detail {
    #[serde(default)]
    findings: Vec<Finding>,
}

/// One finding, as shown.
struct FindingView {
    place: String,
    severity: &'static str,
    message: String,
}

/// One lens or gate on the verification page.
struct JudgeView {
    kind: String,
    name: String,
    outcome: String,
    summary: String,
    carried_from: Option<String>,
    findings: Vec<FindingView>,
    output: Option<String>,
    step: Option<StepView>,
    spend: Option<SpendView>,
}

#[derive(Template)]
#[template(path = "dashboard/verification.html")]
struct VerificationPage {
    viewer: String,
    csrf: String,
    task: TaskHeading,
    head: String,
    short_head: String,
    judges: Vec<JudgeView>,
}

/// `GET /runs/{run}/tasks/{position}/verifications/{head}`.
pub(super) async fn verification_page(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path((run, position, head)): Path<(i64, i64, String)>,
) -> Result<Html<String>, PageError> {
    let (task, heading, steps) = task_page(&state, &viewer, RunId(run), position).await?;
    let head = CommitSha(head);
    let verdicts = state.store.verdicts(task.id, &head).await?;
    let steps: Vec<StepRecord> = steps
        .into_iter()
        .filter(|s| s.head.as_ref() == Some(&head))
        .collect();
    if verdicts.is_empty() && steps.is_empty() {
        return Err(PageError::NotFound);
    }
    let mut judges = Vec::with_capacity(verdicts.len());
    for verdict in verdicts {
        let wanted = match verdict.kind {
            VerdictSource::Lens => Some((StepKind::Review, Some(verdict.name.as_str()))),
            VerdictSource::Gate if verdict.name == Gate::Build.as_str() => {
                Some((StepKind::Build, None))
            }
            VerdictSource::Gate | VerdictSource::Check => None,
        };
        let listed = wanted.and_then(|(kind, lens)| {
            steps
                .iter()
                .rfind(|s| s.kind == kind && s.lens.as_deref() == lens)
        });
        let step = match listed {
            Some(listed) => state.store.step(listed.id).await?,
            None => None,
        };
        let spend = if verdict.kind == VerdictSource::Lens && verdict.carried_from.is_none() {
            Some(
                state
                    .store
                    .spend_of_lens(task.id, &head, &verdict.name)
                    .await?
                    .into(),
            )
        } else {
            None
        };
        let detail: Detail = serde_json::from_str(&verdict.detail).unwrap_or_default();
        judges.push(JudgeView {
            findings: detail
                .findings
                .into_iter()
                .map(|f| FindingView {
                    place: match (f.path, f.line) {
                        (Some(path), Some(line)) => format!("{path}:{line}"),
                        (Some(path), None) => path,
                        _ => String::new(),
                    },
                    severity: f.severity.as_str(),
                    message: f.message,
                })
                .collect(),
            kind: verdict.kind.as_str().to_owned(),
            name: verdict.name,
            outcome: verdict.outcome.as_str().to_owned(),
            summary: verdict.summary,
            carried_from: verdict.carried_from,
            output: verdict.output,
            step: step.as_ref().map(StepView::new),
            spend,
        });
    }
    let page = VerificationPage {
        viewer: viewer.login.clone(),
        csrf: viewer.csrf_token().0,
        task: heading,
        short_head: head.abbreviated(10).to_owned(),
        head: head.0,
        judges,
    };
    Ok(Html(page.render()?))
}

/// What both task pages show above their content: the run and the task.
struct TaskHeading {
    run_href: String,
    run_id: RunId,
    position: i64,
    title: String,
}

/// The task at `position` in a run the viewer may see, its heading, and its steps
/// (both task pages pick theirs from these).
async fn task_page(
    state: &DashboardState,
    viewer: &Viewer,
    run: RunId,
    position: i64,
) -> Result<(TaskRecord, TaskHeading, Vec<StepRecord>), PageError> {
    let (run, _) = visible_run(state, viewer, run).await?;
    let task = state
        .store
        .tasks_of_run(run.id)
        .await?
        .into_iter()
        .find(|t| t.position == position)
        .ok_or(PageError::NotFound)?;
    let steps = state
        .store
        .steps_of_run(run.id)
        .await?
        .into_iter()
        .filter(|s| s.task_id == Some(task.id))
        .collect();
    let heading = TaskHeading {
        run_href: paths::run(run.id),
        run_id: run.id,
        position,
        title: task.title.clone(),
    };
    Ok((task, heading, steps))
}
