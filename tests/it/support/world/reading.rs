//! What a scenario reads of the App's output on GitHub — its comments, reviews and check
//! runs — and what [`TestWorld::teardown`] finds the scenario never read.
//!
//! Every reader here remembers what it returned, so that teardown can fail a test in
//! which the App said something and nobody looked: a comment, a review that does not
//! uphold the change, or a check run that did not pass.

use std::collections::HashSet;

use flotilla::sim::{CheckRun, ReviewView};
use flotilla::types::{CommitSha, IssueNumber, Login, PrNumber};

use super::{REVIEWER_APP_ID, REVIEWER_APP_SLUG, TestWorld, WORLD_APP_ID};
use crate::support::wait_for;

/// The ids of the App's comments, the reviews and the check runs a scenario has read.
#[derive(Default)]
pub(super) struct Read {
    comments: HashSet<u64>,
    reviews: HashSet<u64>,
    check_runs: HashSet<u64>,
}

/// Conclusions of a check run that say nothing went wrong.
const CLEAN_CONCLUSIONS: [&str; 3] = ["success", "skipped", "neutral"];

/// Whether a review upholds the change: an approval, or a comment in which the lens
/// "tried and could not refute" (Flotilla's own App comments rather than approves).
fn upholds(review: &ReviewView) -> bool {
    review.state == "APPROVED"
        || (review.state == "COMMENTED" && review.body.contains("tried and could not refute"))
}

impl TestWorld {
    /// Whether `login` is Flotilla's: its own App's bot or its separate reviewer App's.
    pub(super) fn is_flotillas(&self, login: &Login) -> bool {
        *login == self.bot() || login.0 == format!("{REVIEWER_APP_SLUG}[bot]")
    }

    /// The App's comments on an issue or pull request; reading them is what
    /// [`TestWorld::teardown`] checks.
    pub fn bot_comments(&self, issue: IssueNumber) -> Vec<String> {
        let bot = self.bot();
        let comments: Vec<_> = self
            .sim
            .issue_comments(&self.repo, issue.0)
            .into_iter()
            .filter(|c| c.user == bot)
            .collect();
        let mut read = self.read.lock().expect("read");
        comments
            .into_iter()
            .map(|c| {
                read.comments.insert(c.id);
                c.body
            })
            .collect()
    }

    /// Every review of a pull request, people's and Flotilla's, oldest first; reading
    /// them is what [`TestWorld::teardown`] checks.
    pub fn reviews(&self, pr: PrNumber) -> Vec<ReviewView> {
        let reviews = self.sim.reviews(&self.repo, pr);
        let mut read = self.read.lock().expect("read");
        read.reviews.extend(reviews.iter().map(|r| r.id));
        reviews
    }

    /// Every check run on a commit, the repository's CI's and Flotilla's, oldest first;
    /// reading them is what [`TestWorld::teardown`] checks.
    pub fn check_runs(&self, head: &CommitSha) -> Vec<CheckRun> {
        let runs = self.sim.check_runs(&self.repo, head);
        let mut read = self.read.lock().expect("read");
        read.check_runs.extend(runs.iter().map(|r| r.id));
        runs
    }

    /// Flotilla's newest check run `name` on `head` (of its own App, not CI's), read.
    pub fn flotilla_check(&self, head: &CommitSha, name: &str) -> Option<CheckRun> {
        self.check_runs(head)
            .into_iter()
            .filter(|c| c.name == name && c.app_id == WORLD_APP_ID)
            .max_by_key(|c| c.id)
    }

    /// Waits until the App's comments on `issue` are as many as `expected`, then
    /// asserts each contains its text, in order, and returns them: a scenario's whole
    /// conversation, read and checked.
    pub async fn bot_comments_are(&self, issue: IssueNumber, expected: &[&str]) -> Vec<String> {
        let comments = wait_for(
            &format!("{} App comment(s) on #{issue}", expected.len()),
            || async {
                let comments = self.bot_comments(issue);
                (comments.len() >= expected.len()).then_some(comments)
            },
        )
        .await;
        assert_eq!(
            comments.len(),
            expected.len(),
            "the App's comments on #{issue}: {comments:#?}"
        );
        for (comment, needle) in comments.iter().zip(expected) {
            assert!(
                comment.contains(needle),
                "expected a comment on #{issue} saying {needle:?}, found:\n{comment}\n\nall: {comments:#?}"
            );
        }
        comments
    }

    /// Waits until the App has posted a comment on `issue` containing `needle`, and
    /// returns every App comment on it.
    pub async fn bot_comment_with(&self, issue: IssueNumber, needle: &str) -> Vec<String> {
        wait_for(
            &format!("a comment on #{issue} saying {needle:?}"),
            || async {
                let comments = self.bot_comments(issue);
                comments
                    .iter()
                    .any(|c| c.contains(needle))
                    .then_some(comments)
            },
        )
        .await
    }

    /// The reading half of [`TestWorld::teardown`], whose comment gives the rule:
    /// fails on a comment, a review that does not uphold, or a check run that did not
    /// pass, which no reader returned.
    pub(super) fn assert_nothing_unread(&self) {
        let read = self.read.lock().expect("read");
        let mut threads: Vec<u64> = self
            .issues
            .lock()
            .expect("issues")
            .iter()
            .map(|i| i.0)
            .collect();
        let pulls = self.sim.pulls(&self.repo);
        threads.extend(pulls.iter().map(|p| p.number.0));
        for thread in threads {
            for comment in self.sim.issue_comments(&self.repo, thread) {
                assert!(
                    comment.user != self.bot() || read.comments.contains(&comment.id),
                    "the App commented on #{thread} and the test never read it:\n{}",
                    comment.body
                );
            }
        }
        for pull in &pulls {
            for review in self.sim.reviews(&self.repo, pull.number) {
                assert!(
                    !self.is_flotillas(&review.user)
                        || upholds(&review)
                        || read.reviews.contains(&review.id),
                    "{} reviewed #{} ({}) and the test never read it:\n{}",
                    review.user,
                    pull.number,
                    review.state,
                    review.body
                );
            }
        }
        for run in self.sim.all_check_runs(&self.repo) {
            let conclusion = run.conclusion.as_deref().unwrap_or_default();
            assert!(
                ![WORLD_APP_ID, REVIEWER_APP_ID].contains(&run.app_id)
                    || run.status != "completed"
                    || CLEAN_CONCLUSIONS.contains(&conclusion)
                    || read.check_runs.contains(&run.id),
                "check run {} on {} concluded {conclusion} and the test never read it: {}\n{}",
                run.name,
                run.head_sha,
                run.title.unwrap_or_default(),
                run.summary.unwrap_or_default()
            );
        }
    }
}
