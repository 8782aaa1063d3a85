//! Validates a planner agent's answer and orders its tasks.
//!
//! The answer is untrusted output of a model: it is checked strictly against
//! [`super::PLANNER_ANSWER_FORMAT`], every rejection names the offending field, and a
//! valid plan comes back ordered so that dependencies point backwards.

use serde_json::{Map, Value};

use super::{TaskDraft, one_line, title_line};

/// Fields a task of the answer may have.
const TASK_FIELDS: [&str; 5] = ["id", "title", "instructions", "paths", "depends_on"];

/// Why a planner's answer was not used, naming where in the answer the problem is.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {reason}")]
pub(super) struct Rejection {
    at: String,
    reason: String,
}

impl Rejection {
    fn new(at: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            reason: reason.into(),
        }
    }
}

/// A task as the planner wrote it, dependencies still by id.
struct Parsed {
    id: String,
    draft: TaskDraft,
    depends_on: Vec<String>,
}

/// The tasks of a valid answer, topologically ordered (keeping the planner's order where
/// dependencies allow), or the first reason the answer is invalid.
pub(super) fn validate(answer: &Value, max_tasks: usize) -> Result<Vec<TaskDraft>, Rejection> {
    let root = answer
        .as_object()
        .ok_or_else(|| Rejection::new("answer", "expected a JSON object"))?;
    if let Some(unknown) = root.keys().find(|k| *k != "tasks") {
        return Err(Rejection::new(
            unknown.as_str(),
            "unknown field (allowed: tasks)",
        ));
    }
    let tasks = root
        .get("tasks")
        .ok_or_else(|| Rejection::new("tasks", "missing"))?
        .as_array()
        .ok_or_else(|| Rejection::new("tasks", "expected an array"))?;
    if tasks.is_empty() {
        return Err(Rejection::new("tasks", "no tasks"));
    }
    if tasks.len() > max_tasks {
        return Err(Rejection::new(
            "tasks",
            format!("{} tasks, more than the limit of {max_tasks}", tasks.len()),
        ));
    }
    let parsed = tasks
        .iter()
        .enumerate()
        .map(|(index, task)| parse_task(index, task))
        .collect::<Result<Vec<_>, _>>()?;
    let deps = resolve_ids(&parsed)?;
    let order = topological_order(&parsed, &deps)?;
    let position: Vec<usize> = {
        let mut position = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            position[old] = new;
        }
        position
    };
    let mut drafts: Vec<Option<TaskDraft>> = parsed.into_iter().map(|p| Some(p.draft)).collect();
    Ok(order
        .iter()
        .map(|&old| {
            let mut draft = drafts[old].take().expect("the order places each task once");
            let mut depends_on: Vec<usize> = deps[old].iter().map(|&d| position[d]).collect();
            depends_on.sort_unstable();
            draft.depends_on = depends_on;
            draft
        })
        .collect())
}

/// One task of the answer, checked field by field.
fn parse_task(index: usize, task: &Value) -> Result<Parsed, Rejection> {
    let at = format!("tasks[{index}]");
    let fields = task
        .as_object()
        .ok_or_else(|| Rejection::new(&at, "expected an object"))?;
    if let Some(unknown) = fields.keys().find(|k| !TASK_FIELDS.contains(&k.as_str())) {
        return Err(Rejection::new(
            format!("{at}.{unknown}"),
            format!("unknown field (allowed: {})", TASK_FIELDS.join(", ")),
        ));
    }
    let id = match fields.get("id") {
        None => (index + 1).to_string(),
        Some(value) => {
            let id = string(value, &at, "id")?.trim().to_owned();
            if id.is_empty() {
                return Err(Rejection::new(format!("{at}.id"), "empty"));
            }
            id
        }
    };
    let title = match fields.get("title") {
        None => return Err(Rejection::new(format!("{at}.title"), "missing")),
        Some(value) => string(value, &at, "title")?,
    };
    if title.trim().is_empty() {
        return Err(Rejection::new(format!("{at}.title"), "empty"));
    }
    let instructions = match fields.get("instructions") {
        None => return Err(Rejection::new(format!("{at}.instructions"), "missing")),
        Some(value) => string(value, &at, "instructions")?.to_owned(),
    };
    let paths = strings(fields, &at, "paths")?;
    if let Some(i) = paths.iter().position(|p| p.trim().is_empty()) {
        return Err(Rejection::new(format!("{at}.paths[{i}]"), "empty path"));
    }
    let mut depends_on = Vec::new();
    for dep in strings(fields, &at, "depends_on")? {
        let dep = dep.trim().to_owned();
        if !depends_on.contains(&dep) {
            depends_on.push(dep);
        }
    }
    let mut unique_paths: Vec<String> = Vec::new();
    for path in paths {
        let path = path.trim().to_owned();
        if !unique_paths.contains(&path) {
            unique_paths.push(path);
        }
    }
    Ok(Parsed {
        id,
        draft: TaskDraft {
            title: title_line(title),
            instructions,
            paths: unique_paths,
            depends_on: Vec::new(),
        },
        depends_on,
    })
}

/// A field that must be a string.
fn string<'v>(value: &'v Value, at: &str, name: &str) -> Result<&'v str, Rejection> {
    value
        .as_str()
        .ok_or_else(|| Rejection::new(format!("{at}.{name}"), "expected a string"))
}

/// An optional field that must be an array of strings; absent means empty.
fn strings(fields: &Map<String, Value>, at: &str, name: &str) -> Result<Vec<String>, Rejection> {
    let Some(value) = fields.get(name) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| Rejection::new(format!("{at}.{name}"), "expected an array of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Rejection::new(format!("{at}.{name}[{i}]"), "expected a string"))
        })
        .collect()
}

/// Each task's dependencies as indices, after checking ids are unique and known.
fn resolve_ids(parsed: &[Parsed]) -> Result<Vec<Vec<usize>>, Rejection> {
    for (index, task) in parsed.iter().enumerate() {
        if let Some(first) = parsed[..index].iter().position(|t| t.id == task.id) {
            return Err(Rejection::new(
                format!("tasks[{index}].id"),
                format!("duplicate task id {:?} (also tasks[{first}])", task.id),
            ));
        }
    }
    parsed
        .iter()
        .enumerate()
        .map(|(index, task)| {
            task.depends_on
                .iter()
                .map(|dep| {
                    if *dep == task.id {
                        return Err(Rejection::new(
                            format!("tasks[{index}].depends_on"),
                            format!("task {:?} depends on itself", task.id),
                        ));
                    }
                    parsed.iter().position(|t| t.id == *dep).ok_or_else(|| {
                        Rejection::new(
                            format!("tasks[{index}].depends_on"),
                            format!("unknown task id {:?}", one_line(dep)),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// A stable topological order: at each step, the earliest task whose dependencies are
/// all placed. Fails naming a cycle when there is one.
fn topological_order(parsed: &[Parsed], deps: &[Vec<usize>]) -> Result<Vec<usize>, Rejection> {
    let n = deps.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(cycle(parsed, deps, &placed)),
        }
    }
    Ok(order)
}

/// The rejection naming one cycle among the tasks that could not be placed.
fn cycle(parsed: &[Parsed], deps: &[Vec<usize>], placed: &[bool]) -> Rejection {
    // Every unplaced task has an unplaced dependency, so walking them must repeat.
    let mut walk: Vec<usize> = Vec::new();
    let mut current = placed.iter().position(|p| !p).unwrap_or(0);
    while !walk.contains(&current) {
        walk.push(current);
        current = deps[current]
            .iter()
            .copied()
            .find(|&d| !placed[d])
            .unwrap_or(current);
    }
    let start = walk.iter().position(|&i| i == current).unwrap_or(0);
    let mut ids: Vec<String> = walk[start..]
        .iter()
        .map(|&i| format!("{:?}", parsed[i].id))
        .collect();
    ids.push(format!("{:?}", parsed[current].id));
    Rejection::new(
        format!("tasks[{}].depends_on", walk[start]),
        format!("dependency cycle {}", ids.join(" -> ")),
    )
}
