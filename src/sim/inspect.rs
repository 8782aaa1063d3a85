//! Readers of the simulated GitHub's state, for assertions: comments, labels, pull
//! requests, check runs, reviews, files and commits, the calls Flotilla made and the
//! deliveries sent. Tests call these on the `SimHandle` (which derefs to `Sim`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;

use crate::types::{CommitSha, PrNumber, RepoName};

use super::calls::CallCounts;
use super::state::{CheckRun, Repo};
use super::views::{CommentView, DeliveryView, PullRequestView, ReviewView};
use super::{Sim, git};

impl Sim {
    /// Comments on an issue or pull request, oldest first.
    pub fn issue_comments(&self, repo: &RepoName, issue: u64) -> Vec<CommentView> {
        self.read_repo(repo, |r| {
            r.comments
                .iter()
                .filter(|c| c.issue == issue)
                .map(|c| CommentView {
                    id: c.id,
                    user: c.user.clone(),
                    body: c.body.clone(),
                })
                .collect()
        })
    }

    /// Labels of an issue or pull request.
    pub fn issue_labels(&self, repo: &RepoName, issue: u64) -> Vec<String> {
        self.world()
            .repo(repo)
            .and_then(|r| r.issues.get(&issue))
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    /// A pull request's state.
    pub fn pull(&self, repo: &RepoName, pr: PrNumber) -> Option<PullRequestView> {
        self.pulls(repo).into_iter().find(|p| p.number == pr)
    }

    /// Every pull request of `repo`.
    pub fn pulls(&self, repo: &RepoName) -> Vec<PullRequestView> {
        self.read_repo(repo, |r| {
            r.pulls
                .values()
                .filter_map(|p| {
                    let issue = r.issues.get(&p.number)?;
                    Some(PullRequestView {
                        number: PrNumber(p.number),
                        title: issue.title.clone(),
                        user: issue.user.clone(),
                        state: if issue.open { "open" } else { "closed" }.to_owned(),
                        draft: p.draft,
                        merged: p.merged,
                        head_ref: p.head_ref.clone(),
                        head_sha: p.head_sha.clone(),
                        base_ref: p.base_ref.clone(),
                        auto_merge: p.auto_merge.is_some(),
                        merge_commit_sha: p.merge_commit_sha.clone(),
                        labels: issue.labels.clone(),
                    })
                })
                .collect()
        })
    }

    /// Check runs on a commit, oldest first.
    pub fn check_runs(&self, repo: &RepoName, sha: &CommitSha) -> Vec<CheckRun> {
        self.all_check_runs(repo)
            .into_iter()
            .filter(|c| &c.head_sha == sha)
            .collect()
    }

    /// Every check run in the repository, on whatever commit, oldest first.
    pub fn all_check_runs(&self, repo: &RepoName) -> Vec<CheckRun> {
        self.read_repo(repo, |r| r.check_runs.clone())
    }

    /// Reviews of a pull request, oldest first.
    pub fn reviews(&self, repo: &RepoName, pr: PrNumber) -> Vec<ReviewView> {
        self.read_repo(repo, |r| {
            r.reviews
                .iter()
                .filter(|x| x.pull == pr.0)
                .map(|x| ReviewView {
                    id: x.id,
                    user: x.user.clone(),
                    state: x.state.clone(),
                    body: x.body.clone(),
                    comments: r
                        .review_comments
                        .iter()
                        .filter(|c| c.review_id == x.id)
                        .map(|c| (c.path.clone(), c.line, c.body.clone()))
                        .collect(),
                })
                .collect()
        })
    }

    /// What `read` finds in `repo`; nothing (the default) when there is no such
    /// repository.
    fn read_repo<T: Default>(&self, repo: &RepoName, read: impl FnOnce(&Repo) -> T) -> T {
        self.world().repo(repo).map(read).unwrap_or_default()
    }

    /// API calls per `METHOD /route/template`.
    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.world().faults.calls.clone()
    }

    /// API calls by route with GraphQL calls told apart by operation, to count the
    /// reads and content-creating writes a client made.
    pub fn call_counts(&self) -> CallCounts {
        let world = self.world();
        CallCounts::new(&world.faults.calls, &world.faults.graphql)
    }

    /// Every webhook delivery attempt, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryView> {
        self.world()
            .deliveries
            .iter()
            .map(|d| DeliveryView {
                id: d.id,
                guid: d.guid.clone(),
                event: d.event.clone(),
                action: d.action.clone(),
                status_code: d.status_code,
                success: d.succeeded(),
                redelivery: d.redelivery,
                payload: d.payload.clone(),
            })
            .collect()
    }

    /// The tip of a branch.
    pub async fn branch_sha(&self, repo: &RepoName, branch: &str) -> Option<CommitSha> {
        git::branch_sha(&self.repo_path(repo), branch)
            .await
            .map(CommitSha)
    }

    /// A file's text at a revision.
    pub async fn file_at(&self, repo: &RepoName, rev: &str, path: &str) -> Option<String> {
        let bytes = git::read_file(&self.repo_path(repo), rev, path).await?;
        String::from_utf8(bytes).ok()
    }

    /// Parent ids of a commit (to tell merge commits from squashes).
    pub async fn commit_parents(&self, repo: &RepoName, rev: &str) -> Vec<CommitSha> {
        git::commit_info(&self.repo_path(repo), rev)
            .await
            .map(|c| c.parents.into_iter().map(CommitSha).collect())
            .unwrap_or_default()
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Sim) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(anyhow!("timed out after {timeout:?} waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
