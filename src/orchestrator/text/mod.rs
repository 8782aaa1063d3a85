//! Every text Flotilla writes on GitHub, in one place so the bot speaks with one voice
//! and a wording change is one reviewed diff: the run's comments on its issue (`plan`),
//! answers to people (`replies`), what it says about one task (`task`) and why it ended
//! as it did (`reasons`), the reviews its
//! lenses post (`review`) and the check runs it concludes (`checks`). Every message is
//! pinned by an inline snapshot (`snapshots`).
//!
//! Text Flotilla did not write is escaped by one set of rules (`markdown`). A message
//! that quotes agent text (a summary, a transcript, a reviewer's words, task titles a
//! planner wrote) takes a [`Redactor`](crate::redact::Redactor) and passes through it
//! whole, so none of them can be built unredacted. This module only builds text;
//! posting it is the orchestrator's job.

mod checks;
mod findings;
mod markdown;
mod plan;
pub(crate) mod reasons;
mod replies;
mod review;
#[cfg(test)]
mod snapshots;
mod task;

pub use checks::{
    CheckReport, SpentOn, check_interrupted, gates_output, lens_output, merge_group_report,
    stopped_by_budget, verification_report, verify_output,
};
pub(crate) use markdown::{one_line, tail};
pub(crate) use plan::{RunSpend, all_merged, caught_up, marker, plan, plan_marker, status};
pub(crate) use replies::{
    Outcome, budget_report, budget_stopped, command_reply, dashboard_reply, invalid_config,
    not_allowed, unknown_command,
};
pub use review::{ReviewDraft, review, review_marker};
pub(crate) use task::{
    branch_deleted_reason, needs_human, pull_body, pull_closed_reason, refutation_feedback,
    task_failed,
};
