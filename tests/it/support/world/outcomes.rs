//! How a dispatched issue ends, checked the way most scenarios need it: the run's one
//! task ended in a given state, every task merged, the task was handed to a person, or
//! it stopped short of landing to wait for a person's approval; and what a maintainer
//! sees on a pull request that verification kept out.
//!
//! Dozens of scenarios dispatch a one-item issue, wait for the run to end and take its
//! first task; these endings say so in one line, and check more than those copies did
//! (that there was one task).

use flotilla::orchestrator::NEEDS_HUMAN_LABEL;
use flotilla::sim::{CheckRun, ReviewView};
use flotilla::store::{RunRecord, TaskRecord, TaskState};
use flotilla::types::{CommitSha, IssueNumber, PrNumber};

use super::TestWorld;

/// The review lenses a change is judged by, as the default configuration names them.
pub const LENSES: [&str; 3] = ["correctness", "security", "runs"];

/// Every gate verification puts a change through.
pub const GATES: [&str; 6] = [
    "build",
    "protected_paths",
    "scope",
    "tests",
    "secrets",
    "diff_size",
];

/// How Flotilla's comment that a spent budget stopped a run begins.
const BUDGET_STOP: &str = "Flotilla stopped starting agents";

impl TestWorld {
    /// Dispatches an issue (`title`, `body`) and waits until its run has ended: the
    /// opening of every scenario that looks at a whole run's outcome.
    pub async fn dispatch_until_run_ends(
        &self,
        title: &str,
        body: &str,
    ) -> (IssueNumber, RunRecord, Vec<TaskRecord>) {
        let issue = self.dispatch(title, body).await;
        let (run, tasks) = self.run_ends(issue).await;
        (issue, run, tasks)
    }

    /// Waits for Flotilla's comment on `issue` that a spent budget stopped its run, and
    /// returns it (for the figures it gives).
    pub async fn budget_stop_notice(&self, issue: IssueNumber) -> String {
        self.bot_comment_with(issue, BUDGET_STOP)
            .await
            .into_iter()
            .find(|c| c.contains(BUDGET_STOP))
            .expect("the stop notice")
    }

    /// Asserts Flotilla said on `issue` exactly once that a spent budget stopped its run.
    pub fn budget_stop_said_once(&self, issue: IssueNumber) {
        let stops = self
            .bot_comments(issue)
            .iter()
            .filter(|c| c.contains(BUDGET_STOP))
            .count();
        assert_eq!(stops, 1, "the stop was said once");
    }

    /// Waits until the issue's newest run has ended, asserts it had exactly one task
    /// and that task ended in `state`, and returns it.
    pub async fn sole_task_ends(&self, issue: IssueNumber, state: TaskState) -> TaskRecord {
        let (_, mut tasks) = self.run_ends(issue).await;
        assert_eq!(tasks.len(), 1, "one task for #{issue}: {tasks:?}");
        let task = tasks.remove(0);
        assert_eq!(task.state, state, "{task:?}");
        task
    }

    /// Waits until the issue's newest run has ended, asserts every one of its tasks
    /// merged, and returns them.
    pub async fn every_task_merges(&self, issue: IssueNumber) -> Vec<TaskRecord> {
        let (_, tasks) = self.run_ends(issue).await;
        assert!(
            tasks.iter().all(|t| t.state == TaskState::Merged),
            "every task of #{issue} merged: {tasks:?}"
        );
        tasks
    }

    /// Asserts a task ended needing a person: its PR labelled, unmerged, still a draft
    /// when `draft` says so (a conflict may be found after the PR was marked ready),
    /// with one evidence comment (which is returned, read).
    pub async fn handed_to_a_person(&self, task: &TaskRecord, draft: Option<bool>) -> String {
        assert_eq!(task.state, TaskState::NeedsHuman, "{task:?}");
        let pr = task.pr.expect("a PR");
        let view = self.sim.pull(&self.repo, pr).expect("the task's PR");
        assert!(!view.merged, "never merged: {view:?}");
        if let Some(draft) = draft {
            assert_eq!(view.draft, draft, "{view:?}");
        }
        assert!(
            view.labels.iter().any(|l| l == NEEDS_HUMAN_LABEL),
            "{view:?}"
        );
        let comments = self
            .bot_comment_with(IssueNumber(pr.0), "needs a person")
            .await;
        assert_eq!(comments.len(), 1, "one evidence comment: {comments:?}");
        comments[0].clone()
    }

    /// Waits until the issue's newest run has ended with its one task handed to a
    /// person on a draft PR that never merged; returns the task and the evidence
    /// comment on its PR.
    pub async fn sole_task_needs_a_person(&self, issue: IssueNumber) -> (TaskRecord, String) {
        let task = self.sole_task_ends(issue, TaskState::NeedsHuman).await;
        let evidence = self.handed_to_a_person(&task, Some(true)).await;
        (task, evidence)
    }

    /// With `landing.require_human_approval` configured, dispatches `title` asking to
    /// add `file` and waits until its one task is verified and ready, its pull request
    /// open and waiting for a person: the starting point of every scenario in which a
    /// person acts on a pull request Flotilla would otherwise land.
    pub async fn task_awaits_approval(&self, title: &str, file: &str) -> (IssueNumber, TaskRecord) {
        self.set_repo_config(&self.scripted_config("landing:\n  require_human_approval: true\n"))
            .await;
        let issue = self.dispatch(title, &format!("- [ ] Add `{file}`\n")).await;
        let task = self.task_reaches(issue, TaskState::Ready).await;
        (issue, task)
    }

    /// Asserts Flotilla's newest `flotilla/verify` on `head` failed, its title saying the
    /// change is blocked because of `because` (e.g. "protected_paths needs a person",
    /// "correctness refuted"), and returns it.
    pub fn verify_blocked(&self, head: &CommitSha, because: &str) -> CheckRun {
        let verify = self
            .flotilla_check(head, "flotilla/verify")
            .unwrap_or_else(|| panic!("no flotilla/verify on {head}"));
        assert_eq!(verify.conclusion.as_deref(), Some("failure"), "{verify:?}");
        let title = verify.title.clone().unwrap_or_default();
        assert!(
            title.starts_with("Blocked: ") && title.contains(because),
            "flotilla/verify on {head} blocked because {because:?}: {title}"
        );
        verify
    }

    /// Asserts a review by Flotilla on `pr` says the lens `lens` refuted the change
    /// (a comment of Flotilla's App, or a change request of its reviewer App), and
    /// returns the newest such review.
    pub fn lens_refuted(&self, pr: PrNumber, lens: &str) -> ReviewView {
        let reviews = self.reviews(pr);
        let heading = format!("flotilla/{lens}: Refuted");
        reviews
            .iter()
            .rev()
            .find(|r| {
                self.is_flotillas(&r.user) && r.state != "APPROVED" && r.body.contains(&heading)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no review of #{pr} saying {heading:?}: {reviews:#?}"))
    }
}
