//! Starting and stopping runs from issue events: the trigger label (from someone with
//! write access, on an issue, with a valid configuration) starts one; closing the
//! issue cancels it.

use anyhow::Context;

use super::FleetHandlers;
use super::text;
use crate::config::{CONFIG_PATH, ConfigError, RepoConfig, default_trigger_label};
use crate::github::InstallationClient;
use crate::store::{NewRun, RunRecord, StartRun};
use crate::types::{DeliveryId, InstallationId, IssueNumber, Login, RepoName};
use crate::untrusted::sanitize;
use crate::webhook::event::{AccountKind, IssuesEvent, Repository};

/// The label that makes one task of an issue whatever its body says.
pub const SINGLE_TASK_LABEL: &str = "flotilla:single";

/// A repository's configuration as read from its default branch: the file's text
/// (empty when there is none) and what it means.
pub(crate) struct LoadedConfig {
    pub(crate) text: String,
    pub(crate) config: Result<RepoConfig, ConfigError>,
}

/// Reads `.github/flotilla.yml` from the default branch.
pub(crate) async fn load_config(
    client: &InstallationClient,
    repo: &RepoName,
    default_branch: &str,
) -> anyhow::Result<LoadedConfig> {
    let bytes = client
        .file_contents(repo, CONFIG_PATH, default_branch)
        .await?;
    Ok(LoadedConfig {
        text: bytes
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        config: RepoConfig::load(bytes.as_deref()),
    })
}

/// The issue as a run starts from it, before sanitizing: from the label event, or read
/// anew for a replan.
pub(crate) struct IssueSnapshot<'a> {
    pub(crate) number: IssueNumber,
    pub(crate) title: &'a str,
    pub(crate) body: &'a str,
    /// Whether the issue carries [`SINGLE_TASK_LABEL`].
    pub(crate) force_single: bool,
}

/// The run to start for `issue` in `repository`: the text sanitized, the configuration
/// text it was read under kept with it.
pub(crate) fn new_run(
    repository: &Repository,
    installation: InstallationId,
    issue: IssueSnapshot<'_>,
    config_text: String,
    config: &RepoConfig,
    requested_by: &Login,
) -> NewRun {
    let repo = &repository.full_name;
    NewRun {
        repo: repo.clone(),
        issue: issue.number,
        installation,
        clone_url: repository
            .clone_url
            .clone()
            .unwrap_or_else(|| format!("https://github.com/{repo}.git")),
        default_branch: repository.default_branch.clone(),
        title: sanitize(issue.title),
        body: sanitize(issue.body),
        force_single: issue.force_single,
        config: config_text,
        requested_by: requested_by.clone(),
        max_parallel: config.max_parallel_tasks,
    }
}

/// The configuration a run works with: the text it was started with, which was valid
/// then (the repository's file may have changed since).
pub(crate) fn run_config(run: &RunRecord) -> anyhow::Result<RepoConfig> {
    RepoConfig::load(Some(run.spec.config.as_bytes()))
        .context("the run's configuration no longer parses")
}

/// The trigger label an invalid file seems to ask for (a plain `trigger_label:` line),
/// so the problem is reported where the maintainer labelled, and only there.
fn intended_trigger_label(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("trigger_label:"))
        .map(|value| {
            value
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_owned()
        })
        .filter(|label| !label.is_empty())
        .unwrap_or_else(default_trigger_label)
}

impl FleetHandlers {
    /// `issues.labeled`: maybe start a run.
    pub(super) async fn on_issue_labeled(
        &self,
        delivery: &DeliveryId,
        event: &IssuesEvent,
        label: &str,
    ) -> anyhow::Result<()> {
        if event.issue.is_pull_request {
            tracing::info!("label on a pull request: never starts a run");
            return Ok(());
        }
        if event.sender.kind == AccountKind::Bot {
            tracing::info!(sender = %event.sender.login, "label added by a bot: never starts a run");
            return Ok(());
        }
        let client = self.client_of(event.installation.as_ref()).await?;
        let repo = &event.repository.full_name;
        let issue = event.issue.number;
        let loaded = load_config(&client, repo, &event.repository.default_branch).await?;
        let config = match loaded.config {
            Ok(config) => config,
            Err(error) => {
                if label == intended_trigger_label(&loaded.text) {
                    tracing::warn!(%error, "invalid repository configuration; no run");
                    self.post_once(
                        &client,
                        repo,
                        issue,
                        &format!("invalid-config delivery={delivery}"),
                        &text::invalid_config(&error),
                    )
                    .await?;
                }
                return Ok(());
            }
        };
        if label != config.trigger_label {
            return Ok(());
        }
        if !self
            .may_command(
                &client,
                repo,
                issue,
                delivery,
                &event.sender.login,
                "start Flotilla",
            )
            .await?
        {
            return Ok(());
        }
        let run = new_run(
            &event.repository,
            client.id(),
            IssueSnapshot {
                number: issue,
                title: &event.issue.title,
                body: event.issue.body.as_deref().unwrap_or(""),
                force_single: event
                    .issue
                    .labels
                    .iter()
                    .any(|l| l.name == SINGLE_TASK_LABEL),
            },
            loaded.text,
            &config,
            &event.sender.login,
        );
        match self.store.start_run(&run).await? {
            StartRun::Started(id) => {
                tracing::info!(run = %id, "run started");
                self.fleet.wake_agents();
            }
            StartRun::AlreadyLive => tracing::info!("the issue already has a live run"),
        }
        Ok(())
    }

    /// `issues.closed`: the issue's live run is cancelled (its pull requests stay).
    pub(super) async fn on_issue_closed(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> anyhow::Result<()> {
        let Some(run) = self.store.latest_run(repo, issue).await? else {
            return Ok(());
        };
        if !run.state.is_live() {
            return Ok(());
        }
        let cancelled = self.store.cancel_run(run.id).await?;
        tracing::info!(run = %run.id, tasks = cancelled.len(), "issue closed: run cancelled");
        self.progress(run.id).await
    }

    /// Whether `who` has write access; if not, they get one polite comment (once per
    /// delivery) and `false`.
    pub(super) async fn may_command(
        &self,
        client: &InstallationClient,
        repo: &RepoName,
        issue: IssueNumber,
        delivery: &DeliveryId,
        who: &Login,
        what: &str,
    ) -> anyhow::Result<bool> {
        let permission = client.collaborator_permission(repo, who).await?;
        if permission.can_command() {
            return Ok(true);
        }
        tracing::info!(%who, ?permission, "refused: no write access");
        self.post_once(
            client,
            repo,
            issue,
            &format!("refused delivery={delivery}"),
            &text::not_allowed(who, what),
        )
        .await?;
        Ok(false)
    }
}
