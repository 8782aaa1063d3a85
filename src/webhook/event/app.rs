//! `installation`, `installation_repositories` and `ping`: the App's own lifecycle.

use serde::Deserialize;

use super::{Account, InstallationRef, RepoRef, Repository, Sender};
use crate::types::InstallationId;

/// An `installation` delivery: the App was installed on or removed from an account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct InstallationEvent {
    /// Installed or removed.
    pub action: InstallationAction,
    /// The installation.
    pub installation: Installation,
    /// The repositories it covers, when GitHub lists them.
    pub repositories: Option<Vec<RepoRef>>,
    /// Who installed or removed it.
    pub sender: Sender,
}

/// The `installation` actions Flotilla handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationAction {
    /// The App was installed: start tracking the installation.
    Created,
    /// The App was uninstalled: stop all work under it.
    Deleted,
}

/// The full `installation` object of installation events.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Installation {
    /// The installation id.
    pub id: InstallationId,
    /// The user or organization the App is installed on.
    pub account: Account,
}

/// An `installation_repositories` delivery: repositories joined or left an installation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct InstallationRepositoriesEvent {
    /// Added or removed.
    pub action: InstallationRepositoriesAction,
    /// The installation.
    pub installation: Installation,
    /// Repositories now covered.
    #[serde(default)]
    pub repositories_added: Vec<RepoRef>,
    /// Repositories no longer covered: their work stops.
    #[serde(default)]
    pub repositories_removed: Vec<RepoRef>,
    /// Who changed the selection.
    pub sender: Sender,
}

/// The `installation_repositories` actions Flotilla handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationRepositoriesAction {
    /// Repositories were added.
    Added,
    /// Repositories were removed.
    Removed,
}

/// A `ping` delivery, sent when the hook is created: acknowledged and logged.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PingEvent {
    /// GitHub's random aphorism.
    pub zen: String,
    /// The hook's id, to match it with the App's settings.
    pub hook_id: u64,
    /// The repository, for a repository hook.
    pub repository: Option<Repository>,
    /// Who created the hook, when given.
    pub sender: Option<Sender>,
    /// The installation, when given.
    pub installation: Option<InstallationRef>,
}
