//! Check runs and commit statuses: publishing `flotilla/verify` (the merge gate) and
//! reading what CI says about a head.

use serde::{Deserialize, Serialize};

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;
use crate::types::{AppId, CommitSha, RepoName};
pub use crate::types::{CheckConclusion, CheckStatus};

/// A check run's id, to update the run we created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckRunId(pub u64);

/// Severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationLevel {
    /// Informational.
    Notice,
    /// Should be looked at.
    Warning,
    /// Must be fixed.
    Failure,
}

/// A finding pinned to lines of a file (at most 50 per request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// File path in the repository.
    pub path: String,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Severity.
    pub annotation_level: AnnotationLevel,
    /// The finding.
    pub message: String,
    /// Short title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A check run's report (summary and text ≤ 65,535 characters each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckOutput {
    /// Title.
    pub title: String,
    /// Markdown summary.
    pub summary: String,
    /// Markdown details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Annotations; further ones can be appended by updates.
    pub annotations: Vec<Annotation>,
}

/// A button on a check run's page; a click comes back as `check_run.requested_action`
/// with the `identifier`. GitHub takes at most three per run and refuses longer texts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckRunAction {
    /// Button text, at most 20 characters.
    pub label: String,
    /// Tooltip, at most 40 characters.
    pub description: String,
    /// What the click delivery carries back, at most 20 characters.
    pub identifier: String,
}

impl CheckRunAction {
    /// GitHub's limits: how many buttons a run may have, and each text's length.
    const MAX_PER_RUN: usize = 3;
    const MAX_LABEL: usize = 20;
    const MAX_DESCRIPTION: usize = 40;
    const MAX_IDENTIFIER: usize = 20;

    /// Refuses what GitHub would answer with a 422, naming the field, before sending.
    fn check_all(actions: &[CheckRunAction]) -> Result<(), GithubError> {
        if actions.len() > Self::MAX_PER_RUN {
            return Err(GithubError::InvalidInput {
                message: format!(
                    "a check run takes at most {} actions, not {}",
                    Self::MAX_PER_RUN,
                    actions.len()
                ),
            });
        }
        for action in actions {
            for (field, value, max) in [
                ("label", &action.label, Self::MAX_LABEL),
                ("description", &action.description, Self::MAX_DESCRIPTION),
                ("identifier", &action.identifier, Self::MAX_IDENTIFIER),
            ] {
                if value.chars().count() > max {
                    return Err(GithubError::InvalidInput {
                        message: format!(
                            "check run action {field} `{value}` is longer than {max} characters"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A check run to create on a head: who it is, and the report it starts with.
#[derive(Clone, Debug, Serialize)]
pub struct NewCheckRun {
    /// Check name, e.g. `flotilla/verify`.
    pub name: String,
    /// The commit it reports on.
    pub head_sha: CommitSha,
    /// Link to details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// Our own key for the run (task and attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Status, conclusion, output and buttons, sent beside the rest as GitHub takes
    /// them (none of its buttons is the usual case).
    #[serde(flatten)]
    pub report: CheckRunUpdate,
}

/// What creating and updating a check run both send: its status, conclusion, report and
/// buttons. On an update `None` leaves a field as it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckRunUpdate {
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    /// Conclusion (with `Completed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    /// Report; its annotations are appended to earlier ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
    /// Buttons (at most three) replacing the run's current ones; empty leaves them as
    /// they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<CheckRunAction>,
}

/// A check run on a head, as CI or we reported it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "CheckRunWire")]
pub struct CheckRun {
    /// Its id.
    pub id: CheckRunId,
    /// Check name.
    pub name: String,
    /// The commit.
    pub head_sha: CommitSha,
    /// Status.
    pub status: CheckStatus,
    /// Conclusion once completed.
    pub conclusion: Option<CheckConclusion>,
    /// The App that reported it, to tell our own runs from look-alikes.
    pub app_id: Option<AppId>,
    /// That App's slug, for required checks bound to an App by name (`ci@github-actions`).
    pub app_slug: Option<String>,
}

/// The state of a commit status or of all of them combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitState {
    /// Passed.
    Success,
    /// Still running (or no statuses at all).
    Pending,
    /// Failed.
    Failure,
    /// Errored.
    Error,
}

/// One commit status (the pre-checks API some CI still uses).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CommitStatus {
    /// The status's name.
    pub context: String,
    /// Its state.
    pub state: CommitState,
}

/// Every commit status on a ref, and their combination.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CombinedStatus {
    /// Combined state.
    pub state: CommitState,
    /// Individual statuses (latest per context).
    #[serde(default)]
    pub statuses: Vec<CommitStatus>,
}

#[derive(Deserialize)]
struct AppWire {
    id: AppId,
    slug: Option<String>,
}

#[derive(Deserialize)]
struct CheckRunWire {
    id: CheckRunId,
    name: String,
    head_sha: CommitSha,
    status: CheckStatus,
    conclusion: Option<CheckConclusion>,
    app: Option<AppWire>,
}

impl From<CheckRunWire> for CheckRun {
    fn from(wire: CheckRunWire) -> Self {
        Self {
            id: wire.id,
            name: wire.name,
            head_sha: wire.head_sha,
            status: wire.status,
            conclusion: wire.conclusion,
            app_id: wire.app.as_ref().map(|a| a.id),
            app_slug: wire.app.and_then(|a| a.slug),
        }
    }
}

#[derive(Deserialize)]
struct CheckRunList {
    check_runs: Vec<CheckRun>,
}

impl InstallationClient {
    /// Creates a check run (only Apps can). Not retried on 5xx. Actions beyond GitHub's
    /// limits are refused here, as [`GithubError::InvalidInput`].
    pub async fn create_check_run(
        &self,
        repo: &RepoName,
        run: &NewCheckRun,
    ) -> Result<CheckRunId, GithubError> {
        CheckRunAction::check_all(&run.report.actions)?;
        let request = ApiRequest::on_repo(Route::CreateCheckRun, repo, &[])?.json(run)?;
        Ok(self.send(request).await?.json::<CheckRun>()?.id)
    }

    /// Updates a check run we created; actions are checked as in
    /// [`InstallationClient::create_check_run`].
    pub async fn update_check_run(
        &self,
        repo: &RepoName,
        id: CheckRunId,
        update: &CheckRunUpdate,
    ) -> Result<(), GithubError> {
        CheckRunAction::check_all(&update.actions)?;
        let request =
            ApiRequest::on_repo(Route::UpdateCheckRun, repo, &[&id.0.to_string()])?.json(update)?;
        self.send(request).await.map(drop)
    }

    /// Check runs on a ref (first 100, latest per name), to see what CI says.
    pub async fn list_check_runs(
        &self,
        repo: &RepoName,
        git_ref: &str,
    ) -> Result<Vec<CheckRun>, GithubError> {
        let request = ApiRequest::on_repo(Route::ListCheckRunsForRef, repo, &[git_ref])?
            .query(&[("filter", "latest"), ("per_page", "100")]);
        let list: CheckRunList = self.send(request).await?.json()?;
        Ok(list.check_runs)
    }

    /// The combined commit status of a ref.
    pub async fn combined_status(
        &self,
        repo: &RepoName,
        git_ref: &str,
    ) -> Result<CombinedStatus, GithubError> {
        let request = ApiRequest::on_repo(Route::CombinedStatusForRef, repo, &[git_ref])?
            .query(&[("per_page", "100")]);
        self.send(request).await?.json()
    }
}
