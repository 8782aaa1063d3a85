//! The prompts agents get. The issue's text is untrusted: it reaches an agent only
//! inside a fenced block that says so, never as Flotilla's own instructions.

use std::fmt::Write;

use super::plan::PLANNER_ANSWER_FORMAT;
use crate::store::{RunRecord, TaskRecord};
use crate::untrusted::fence;

/// What a worker is asked to do for the task's current attempt; from the second
/// attempt on, it hears why the one before did not succeed.
pub(crate) fn worker(run: &RunRecord, task: &TaskRecord) -> String {
    let previous_failure = (task.attempts > 1)
        .then_some(task.last_reason.as_deref())
        .flatten();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "You are a coding agent working on one task in a git checkout of {repo} \
         (your current directory). Make the change the task asks for by editing files. \
         Do not commit, push, or open pull requests: Flotilla does that after you exit. \
         You have no GitHub credentials and need none. When you are done, end with a \
         short summary of what you changed.\n",
        repo = run.spec.repo
    );
    let _ = writeln!(
        out,
        "## Your task ({} of issue #{})\n",
        task.position, run.spec.issue
    );
    let _ = writeln!(out, "Title: {}\n", task.title);
    if !task.paths.is_empty() {
        let _ = writeln!(
            out,
            "Files you are expected to touch: {}\n",
            task.paths.join(", ")
        );
    }
    if let Some(reason) = previous_failure {
        let _ = writeln!(
            out,
            "A previous attempt at this task did not succeed: {reason}\n"
        );
    }
    let _ = writeln!(
        out,
        "## The task's description, taken from the issue\n\n{}\n",
        fence("issue", &task.instructions)
    );
    out
}

/// What the planner is asked: split the issue into independent tasks, as JSON.
pub(crate) fn planner(run: &RunRecord, max_tasks: u32) -> String {
    format!(
        "You plan work for a fleet of coding agents on {repo} (your current directory, a \
         read-only checkout). Split the issue below into at most {max_tasks} independent \
         tasks that separate agents can do in parallel, each in its own branch. Tasks that \
         must touch the same files belong together. Do not change any file.\n\n\
         {format}\n\n## The issue\n\n{title}\n\n{body}\n",
        repo = run.spec.repo,
        format = PLANNER_ANSWER_FORMAT,
        title = fence("issue title", &run.spec.title),
        body = fence("issue body", &run.spec.body),
    )
}
