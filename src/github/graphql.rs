//! The GraphQL-only operations: draft → ready, auto-merge on and off, and the merge state that
//! decides between auto-merge, a REST merge and waiting.
//!
//! Documents live in `routes.rs`; this module builds variables, reads `data` and turns
//! `errors` into [`GithubError`] variants.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::app::InstallationClient;
use super::error::GithubError;
use super::pulls::MergeMethod;
use super::routes::{
    DISABLE_AUTO_MERGE, ENABLE_AUTO_MERGE, MARK_READY_FOR_REVIEW, PULL_MERGE_STATE,
};
use super::split_repo;
use crate::types::{CommitSha, PrNumber, RepoName};

/// Answers to `enablePullRequestAutoMerge` that mean "merge it yourself": the PR can
/// already merge, or the branch has no protection to wait for.
const AUTO_MERGE_UNAVAILABLE: &[&str] = &[
    "clean status",
    "unstable status",
    "protected branch rules not configured",
    "auto merge is not allowed",
];

/// A pull request's `state` in GraphQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PullState {
    /// Open (draft or not).
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// GitHub's view of whether a PR can merge now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MergeStateStatus {
    /// Conflicts with the base.
    Dirty,
    /// Not computed yet.
    Unknown,
    /// Protection not satisfied.
    Blocked,
    /// Behind the base (strict protection).
    Behind,
    /// A draft.
    Draft,
    /// Mergeable with failing non-required checks.
    Unstable,
    /// Mergeable, pre-receive hooks exist.
    HasHooks,
    /// Mergeable.
    Clean,
    /// A value GitHub adds later.
    #[serde(other)]
    Other,
}

/// What the landing step reads before choosing how to merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullMergeState {
    /// GraphQL node id, for the mutations.
    pub node_id: String,
    /// Still a draft.
    pub is_draft: bool,
    /// Open, closed or merged.
    pub state: PullState,
    /// Mergeability.
    pub merge_state_status: MergeStateStatus,
    /// Auto-merge already enabled.
    pub auto_merge_enabled: bool,
    /// Current head.
    pub head_sha: CommitSha,
}

#[derive(Deserialize)]
struct Response<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<ErrorWire>,
}

#[derive(Deserialize)]
struct ErrorWire {
    #[serde(default)]
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct StateData {
    repository: Option<RepositoryWire>,
}

#[derive(Deserialize)]
struct RepositoryWire {
    #[serde(rename = "pullRequest")]
    pull_request: Option<PullWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullWire {
    id: String,
    is_draft: bool,
    state: PullState,
    merge_state_status: MergeStateStatus,
    head_ref_oid: CommitSha,
    auto_merge_request: Option<serde_json::Value>,
}

impl InstallationClient {
    /// Sends a GraphQL document and maps `errors` to variants.
    async fn graphql<T: DeserializeOwned>(
        &self,
        document: &'static str,
        variables: serde_json::Value,
        is_query: bool,
    ) -> Result<T, GithubError> {
        let response: Response<T> = self
            .send_graphql(document, variables, is_query)
            .await?
            .json()?;
        if let Some(first) = response.errors.first() {
            let message = response
                .errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let unresolved = first.message.starts_with("Could not resolve to");
            return Err(match first.kind.as_deref() {
                Some("NOT_FOUND") => GithubError::NotFound { message },
                _ if unresolved => GithubError::NotFound { message },
                Some("FORBIDDEN") => GithubError::Forbidden { message },
                _ => GithubError::Graphql { message },
            });
        }
        response.data.ok_or_else(|| GithubError::Graphql {
            message: "answer has neither data nor errors".to_owned(),
        })
    }

    /// Sends a mutation whose only variable is the PR's node id, ignoring its answer.
    async fn mutate_pull(
        &self,
        document: &'static str,
        pr_node_id: &str,
    ) -> Result<(), GithubError> {
        self.graphql::<serde_json::Value>(document, json!({ "pullRequestId": pr_node_id }), false)
            .await
            .map(drop)
    }

    /// Turns a draft PR into one ready for review (REST cannot).
    pub async fn mark_ready_for_review(&self, pr_node_id: &str) -> Result<(), GithubError> {
        self.mutate_pull(MARK_READY_FOR_REVIEW, pr_node_id).await
    }

    /// Enables auto-merge, guarded by the head we verified. When GitHub answers that the
    /// PR can merge now (or cannot wait for protection), returns
    /// [`GithubError::AutoMergeUnavailable`]: merge through REST instead.
    pub async fn enable_auto_merge(
        &self,
        pr_node_id: &str,
        method: MergeMethod,
        expected_head: &CommitSha,
    ) -> Result<(), GithubError> {
        let merge_method = match method {
            MergeMethod::Merge => "MERGE",
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Rebase => "REBASE",
        };
        let variables = json!({
            "pullRequestId": pr_node_id,
            "mergeMethod": merge_method,
            "expectedHeadOid": expected_head,
        });
        match self
            .graphql::<serde_json::Value>(ENABLE_AUTO_MERGE, variables, false)
            .await
        {
            Ok(_) => Ok(()),
            Err(GithubError::Graphql { message }) if auto_merge_unavailable(&message) => {
                Err(GithubError::AutoMergeUnavailable { message })
            }
            Err(e) => Err(e),
        }
    }

    /// Disables auto-merge (a no-op when it is not enabled): called whenever a head
    /// Flotilla did not verify appears, so GitHub cannot merge it on an earlier request.
    pub async fn disable_auto_merge(&self, pr_node_id: &str) -> Result<(), GithubError> {
        self.mutate_pull(DISABLE_AUTO_MERGE, pr_node_id).await
    }

    /// Draft flag, state, merge state, auto-merge and head of a PR, in one query.
    pub async fn pull_merge_state(
        &self,
        repo: &RepoName,
        pr: PrNumber,
    ) -> Result<PullMergeState, GithubError> {
        let (owner, name) = split_repo(repo)?;
        let variables = json!({ "owner": owner, "name": name, "number": pr.0 });
        let data: StateData = self.graphql(PULL_MERGE_STATE, variables, true).await?;
        let pull = data
            .repository
            .and_then(|r| r.pull_request)
            .ok_or_else(|| GithubError::NotFound {
                message: format!("pull request {repo}#{pr}"),
            })?;
        Ok(PullMergeState {
            node_id: pull.id,
            is_draft: pull.is_draft,
            state: pull.state,
            merge_state_status: pull.merge_state_status,
            auto_merge_enabled: pull.auto_merge_request.is_some_and(|r| !r.is_null()),
            head_sha: pull.head_ref_oid,
        })
    }
}

/// True when an error message says auto-merge cannot be enabled on this PR as it is.
fn auto_merge_unavailable(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    AUTO_MERGE_UNAVAILABLE
        .iter()
        .any(|needle| lower.contains(needle))
}
