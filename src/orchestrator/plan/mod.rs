//! Planning: turns a labelled issue into the tasks a fleet of workers will run.
//!
//! It owns the rules that decide the shape of a run (a forced single task, the issue's
//! own task list, a planner agent's answer, or one task for the whole issue) and the
//! resolution of tasks that would touch the same files. It is pure: it never runs the
//! planner, reads a repository or talks to GitHub; the orchestrator hands it sanitized
//! text and the planner's answer, and stores what comes back.

mod checklist;
mod glob;
mod overlap;
mod planner;
mod slug;

pub use checklist::has_checklist;
pub use slug::slug;

/// Longest task title, in characters: titles go into PR titles, check names and comments.
const MAX_TITLE_CHARS: usize = 200;

/// One task of a plan, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDraft {
    /// One line, trimmed, at most 200 characters: what the task is called everywhere.
    pub title: String,
    /// What the worker should do (markdown).
    pub instructions: String,
    /// Globs the task expects to touch; empty means unknown.
    pub paths: Vec<String>,
    /// Indices into the same `Vec<TaskDraft>`, all smaller than the task's own index.
    pub depends_on: Vec<usize>,
}

/// Which rule produced the plan, so the plan comment can say why the run looks as it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanSource {
    /// The issue's own task list: one task per unchecked item.
    Checklist,
    /// A planner agent's answer, validated.
    Planner,
    /// One task for the whole issue, because nothing better was available.
    Single,
    /// One task for the whole issue, because the `flotilla:single` label asked for it.
    ForcedSingle,
}

/// What planning decided, with a human-readable line per decision for the plan comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The rule that produced the tasks.
    pub source: PlanSource,
    /// The tasks, ordered so that every dependency comes before its dependents.
    pub tasks: Vec<TaskDraft>,
    /// Why the plan looks as it does, one sentence per decision.
    pub decisions: Vec<String>,
}

/// Inputs of planning; all text is already sanitized.
pub struct PlanInput<'a> {
    /// The issue title.
    pub title: &'a str,
    /// The issue body.
    pub body: &'a str,
    /// Whether the issue carries the `flotilla:single` label.
    pub force_single: bool,
    /// The most tasks a run may have.
    pub max_tasks: u32,
    /// None when no planner is configured; `Some(Err(reason))` when it ran and failed
    /// (crash, timeout, unparsable answer); `Some(Ok(json))` its JSON answer.
    pub planner_answer: Option<Result<serde_json::Value, String>>,
}

/// The shape a planner must answer with, for the planner's prompt. It matches what
/// [`plan`] accepts, field for field.
pub const PLANNER_ANSWER_FORMAT: &str = r#"Answer with one JSON object and nothing else:
{"tasks": [{"id": "a", "title": "...", "instructions": "...", "paths": ["src/x.rs", "docs/**"], "depends_on": ["b"]}]}
- "tasks": 1 to the allowed number of tasks, in the order you would run them.
- "id": a string unique within the plan (optional; defaults to the task's position "1", "2", ...).
- "title": one non-empty line. "instructions": what the worker must do, in markdown.
- "paths" (optional): the files or globs the task will change. Tasks whose paths overlap are merged unless one depends on the other.
- "depends_on" (optional): ids of tasks that must land first; no self-dependencies, no cycles.
No other fields are allowed."#;

/// Decides the tasks of a run. Never fails: whatever goes wrong falls back to one task
/// for the whole issue, with a decision line saying why.
pub fn plan(input: PlanInput<'_>) -> Plan {
    let max_tasks = usize::try_from(input.max_tasks)
        .unwrap_or(usize::MAX)
        .max(1);
    if input.force_single {
        return single(
            &input,
            PlanSource::ForcedSingle,
            "label flotilla:single: one task".to_owned(),
        );
    }
    let items = checklist::unchecked_items(input.body);
    if !items.is_empty() {
        let mut decisions = Vec::new();
        let total = items.len();
        let tasks: Vec<TaskDraft> = items
            .into_iter()
            .take(max_tasks)
            .map(|item| checklist_task(&input, item))
            .collect();
        decisions.push(format!("task list in the issue: {}", count(tasks.len())));
        if total > tasks.len() {
            let left = total - tasks.len();
            decisions.push(format!(
                "{left} more unchecked {} left out (the limit is {max_tasks} tasks); {} can be planned with a later run",
                if left == 1 { "item was" } else { "items were" },
                if left == 1 { "it" } else { "they" },
            ));
        }
        return resolved(PlanSource::Checklist, tasks, decisions);
    }
    match &input.planner_answer {
        None => single(
            &input,
            PlanSource::Single,
            "no task list and no planner: one task".to_owned(),
        ),
        Some(Err(reason)) => single(
            &input,
            PlanSource::Single,
            format!("the planner failed: {}; one task", one_line(reason)),
        ),
        Some(Ok(answer)) => match planner::validate(answer, max_tasks) {
            Ok(tasks) => {
                let decisions = vec![format!("the planner's plan: {}", count(tasks.len()))];
                resolved(PlanSource::Planner, tasks, decisions)
            }
            Err(rejection) => single(
                &input,
                PlanSource::Single,
                format!("the planner's plan was rejected: {rejection}; one task"),
            ),
        },
    }
}

/// A plan whose tasks went through overlap resolution.
fn resolved(source: PlanSource, tasks: Vec<TaskDraft>, mut decisions: Vec<String>) -> Plan {
    let tasks = overlap::resolve(tasks, &mut decisions);
    Plan {
        source,
        tasks,
        decisions,
    }
}

/// One task for the whole issue.
fn single(input: &PlanInput<'_>, source: PlanSource, decision: String) -> Plan {
    Plan {
        source,
        tasks: vec![TaskDraft {
            title: title_line(input.title),
            instructions: input.body.to_owned(),
            paths: Vec::new(),
            depends_on: Vec::new(),
        }],
        decisions: vec![decision],
    }
}

/// The task for one unchecked item, carrying the whole issue as context.
fn checklist_task(input: &PlanInput<'_>, item: checklist::Item) -> TaskDraft {
    let instructions = format!(
        "{}\n\nPart of issue: {}\n\n{}",
        item.text,
        one_line(input.title),
        input.body
    );
    TaskDraft {
        title: title_line(&item.title),
        instructions,
        paths: item.paths,
        depends_on: Vec::new(),
    }
}

/// "1 task" / "3 tasks".
fn count(n: usize) -> String {
    if n == 1 {
        "1 task".to_owned()
    } else {
        format!("{n} tasks")
    }
}

/// Text squeezed onto one line: runs of whitespace (newlines included) become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A task title: one line, trimmed, cut to [`MAX_TITLE_CHARS`]; "Untitled task" if empty.
fn title_line(text: &str) -> String {
    let line = one_line(text);
    if line.is_empty() {
        return "Untitled task".to_owned();
    }
    truncate_chars(&line, MAX_TITLE_CHARS)
}

/// The first `max` characters of `text`, trailing whitespace removed.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].trim_end().to_owned(),
        None => text.to_owned(),
    }
}
