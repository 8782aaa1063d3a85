//! The GitHub client: the only way Flotilla talks to GitHub.
//!
//! Every REST and GraphQL call goes through `request.rs` (one retry policy, one error
//! mapping) over octocrab's raw transport; typed calls live in `issues`, `pulls`,
//! `checks`, `repos`, `protection` and `graphql` as methods on [`InstallationClient`],
//! with their own request and response structs so no octocrab model type leaks out.
//! The base URL is injectable, so tests run this real code against a fake GitHub over
//! real HTTP.

mod app;
mod budget;
mod checks;
mod error;
mod graphql;
mod hooks;
mod issues;
mod protection;
mod pulls;
mod repos;
mod request;
pub mod routes;

pub use app::{
    AppCredentials, AppInfo, AppJwtClaims, GithubApp, GithubSettings, InstallationClient, KeyError,
};
pub use budget::{Grant, WriteBudget, WriteRate};
pub use checks::{
    Annotation, AnnotationLevel, CheckConclusion, CheckOutput, CheckRun, CheckRunAction,
    CheckRunId, CheckRunUpdate, CheckStatus, CombinedStatus, CommitState, CommitStatus,
    NewCheckRun,
};
pub use error::GithubError;
pub use graphql::{MergeStateStatus, PullMergeState, PullState};
pub use hooks::HookDelivery;
pub use issues::{CommentId, Issue, IssueComment, IssueState};
pub use protection::{
    Actors, BranchProtection, BranchRules, OtherProtection, RequiredCheck, RequiredReviews,
};
pub use pulls::{
    MergeMethod, MergeOutcome, NewPull, NewReview, PullRequest, PullUpdate, Review, ReviewComment,
    ReviewEvent, ReviewId, ReviewSide,
};
pub use repos::{Permission, RepoInfo};
pub use request::RetryPolicy;
pub use routes::Route;

use crate::types::RepoName;

/// Splits `owner/name`, refusing anything else before a request is built.
fn split_repo(repo: &RepoName) -> Result<(&str, &str), GithubError> {
    repo.split()
        .filter(|(owner, name)| !owner.is_empty() && !name.is_empty())
        .ok_or_else(|| GithubError::InvalidInput {
            message: format!("repository `{repo}` is not of the form owner/name"),
        })
}
