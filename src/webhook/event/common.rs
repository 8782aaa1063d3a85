//! Objects that appear in many payloads: who acted, where, under which installation.

use serde::Deserialize;

use crate::types::{AppId, InstallationId, Login, PrNumber, RepoName};

/// The account that caused an event (or wrote a comment): Flotilla needs its type to
/// tell its own bot apart from a user, and its login to check permissions.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Sender {
    /// `octocat`, or `<slug>[bot]` for an App.
    pub login: Login,
    /// GitHub's `type`: a login alone does not prove an account is a bot.
    #[serde(rename = "type")]
    pub kind: AccountKind,
    /// The account's numeric id, stable across renames.
    pub id: u64,
}

/// GitHub's account `type`; Flotilla only branches on `Bot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum AccountKind {
    /// A person.
    User,
    /// A GitHub App acting as itself.
    Bot,
    /// An organization account.
    Organization,
    /// Any type GitHub adds later (`Mannequin`, …).
    #[serde(other)]
    Other,
}

/// An account referred to only by login (issue author, repository owner, …).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// The account's login.
    pub login: Login,
}

/// The repository an event is about: enough to address the API and clone it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Repository {
    /// Numeric id, stable across renames and transfers.
    pub id: u64,
    /// `name` without the owner.
    pub name: String,
    /// `owner/name`.
    pub full_name: RepoName,
    /// The owning user or organization.
    pub owner: Account,
    /// Where `.github/flotilla.yml` is read from and PRs are based.
    pub default_branch: String,
    /// The HTTPS URL Flotilla's mirror fetches from and pushes to.
    #[serde(default)]
    pub clone_url: Option<String>,
}

/// A repository as listed in installation events, which carry only its name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RepoRef {
    /// `owner/name`.
    pub full_name: RepoName,
}

/// The `installation` object of an App delivery: which token to act with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct InstallationRef {
    /// The installation id, for minting an installation token.
    pub id: InstallationId,
    /// GraphQL id; absent in some older payloads.
    pub node_id: Option<String>,
}

/// A label, referred to by name (the trigger label is configured by name).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Label {
    /// The label's name, e.g. `flotilla`.
    pub name: String,
}

/// The App that owns a check suite or run, so Flotilla recognises its own checks.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AppRef {
    /// The App's id.
    pub id: AppId,
}

/// A pull request referred to by number (in check suites and runs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PrRef {
    /// The pull request's number.
    pub number: PrNumber,
}
