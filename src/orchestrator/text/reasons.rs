//! Why a task or a verdict ended as it did: the short reasons stored with it and quoted
//! in the plan comment, the hand-over comment, a check run and the next attempt's
//! prompt.

use crate::github::CheckConclusion;
use crate::review::GateResult;
use crate::types::PrNumber;

/// A required check run that ended without satisfying the requirement.
pub(crate) fn check_concluded(conclusion: Option<CheckConclusion>) -> String {
    let word = conclusion
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "without a conclusion".to_owned());
    format!("check run concluded {word}")
}

/// A required commit status that is failing.
pub(crate) fn status_failing() -> String {
    "commit status is failing".to_owned()
}

/// What the next attempt is told when required checks failed on its head: each check
/// by name, with why.
pub(crate) fn required_checks_failed(failures: &[(String, String)]) -> String {
    let named: Vec<String> = failures
        .iter()
        .map(|(name, summary)| format!("`{name}` ({summary})"))
        .collect();
    format!(
        "required checks failed on the previous change: {}. Make them pass on the same \
         branch.",
        named.join(", ")
    )
}

/// When Flotilla saw that a pull request conflicts with its base.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ConflictSeen<'a> {
    /// GitHub's merge state says so before any merge was tried.
    Before,
    /// GitHub refused the merge, with this message.
    MergeRefused(&'a str),
    /// Updating the branch failed after another task merged, with this message.
    AfterAnotherMerged(&'a str),
}

/// A pull request that conflicts with its base branch.
pub(crate) fn conflicts(pr: PrNumber, base: &str, seen: ConflictSeen) -> String {
    match seen {
        ConflictSeen::Before => format!("#{pr} conflicts with `{base}`"),
        ConflictSeen::MergeRefused(message) => {
            format!("#{pr} conflicts with `{base}`; GitHub refused the merge: {message}")
        }
        ConflictSeen::AfterAnotherMerged(message) => {
            format!("#{pr} conflicts with `{base}` after another task merged: {message}")
        }
    }
}

/// A reviewer a budget stopped before it answered.
pub(crate) fn reviewer_stopped(lens: &str, budget: &str) -> String {
    format!("the {lens} reviewer was stopped at {budget}")
}

/// A reviewer that crashed, hung or was killed: refuted by Flotilla.
pub(crate) fn reviewer_failed(lens: &str, why: &str) -> String {
    format!("the {lens} reviewer {why}; counted as refuted")
}

/// A reviewer whose output holds no answer its CLI's format allows.
pub(crate) fn answer_unreadable(lens: &str, error: &str) -> String {
    format!("the {lens} reviewer's answer could not be read ({error}); counted as refuted")
}

/// A reviewer whose answer is not a valid verdict.
pub(crate) fn answer_invalid(lens: &str, error: &str) -> String {
    format!("the {lens} reviewer's answer is not a valid verdict ({error}); counted as refuted")
}

/// The build gate of a repository that configures no command.
pub(crate) fn no_build_commands() -> String {
    "no build or test command is configured (`verify.commands`)".to_owned()
}

/// The build gate when `command` failed, and why.
pub(crate) fn build_command_failed(command: &str, why: &str) -> String {
    format!("`{command}` {why}")
}

/// The build gate when every command succeeded.
pub(crate) fn build_succeeded(commands: &[String]) -> String {
    let named: Vec<String> = commands.iter().map(|c| format!("`{c}`")).collect();
    format!(
        "{} command(s) succeeded: {}",
        commands.len(),
        named.join(", ")
    )
}

/// A gate that hands the task to a person, and what it found.
pub(crate) fn gate_needs_person(gate: &GateResult) -> String {
    format!("{}: {}", gate.gate.as_str(), gate.summary)
}

/// A head Flotilla could not verify after every try of its job.
pub(crate) fn could_not_verify(error: &anyhow::Error) -> String {
    format!("Flotilla could not verify this head: {error:#}")
}
