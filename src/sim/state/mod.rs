//! The simulated GitHub's state: plain structs behind one `Mutex`.
//!
//! Nothing here does I/O; git objects live in bare repositories on disk (see `git`),
//! everything else GitHub knows about lives here. Rules (who may merge, what is
//! mergeable) live in the modules that act, not in these structs.

mod protection;

pub use protection::{Protection, RequiredCheck, Ruleset};

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::DecodingKey;
use serde::{Serialize, Serializer};

use crate::types::{AppId, CommitSha, InstallationId, Login, Permission, RepoName};

use super::faults::Faults;

/// Everything the simulator knows, guarded by one mutex in `Sim`.
pub struct World {
    /// Base URL of the simulator (`http://127.0.0.1:port`), for `url`/`html_url` fields.
    pub base_url: String,
    /// Added to the wall clock: lets a test age tokens without sleeping.
    pub clock_offset: Duration,
    /// Source of every numeric id (issues' global ids, comments, check runs…).
    pub next_id: u64,
    /// Registered GitHub Apps (Flotilla's and the CI's).
    pub apps: BTreeMap<AppId, App>,
    /// Installations of Apps on accounts.
    pub installations: BTreeMap<InstallationId, Installation>,
    /// Live and expired installation tokens.
    pub tokens: HashMap<String, Token>,
    /// Users and bot accounts.
    pub users: BTreeMap<Login, User>,
    /// Repositories by `owner/name`.
    pub repos: BTreeMap<RepoName, Repo>,
    /// Every webhook delivery attempt, oldest first.
    pub deliveries: Vec<Delivery>,
    /// Injected faults and API call counts.
    pub faults: Faults,
    /// Apps created from a manifest whose secrets wait for their conversion, by code.
    pub manifest_codes: HashMap<String, super::app_manifests::ManifestCode>,
    /// OAuth clients, codes and user tokens.
    pub oauth: super::oauth::OAuthState,
}

impl World {
    /// An empty GitHub served at `base_url`.
    pub fn new(base_url: String) -> Self {
        Self {
            base_url,
            clock_offset: Duration::zero(),
            next_id: 1000,
            apps: BTreeMap::new(),
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            users: BTreeMap::new(),
            repos: BTreeMap::new(),
            deliveries: Vec::new(),
            faults: Faults::default(),
            manifest_codes: HashMap::new(),
            oauth: Default::default(),
        }
    }

    /// The simulated "now".
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// A fresh numeric id, unique across the simulator.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The user record for `login`, created as a plain user when unknown.
    pub fn user(&mut self, login: &Login) -> User {
        match self.users.get(login) {
            Some(user) => user.clone(),
            None => self.add_user(login, UserKind::User),
        }
    }

    /// Registers the account `login` (a person, a bot or an organization) with a fresh
    /// id, replacing any earlier record.
    pub fn add_user(&mut self, login: &Login, kind: UserKind) -> User {
        let user = User {
            id: self.id(),
            login: login.clone(),
            kind,
        };
        self.users.insert(login.clone(), user.clone());
        user
    }

    /// The App that owns an installation.
    pub fn app_of(&self, installation: InstallationId) -> Option<&App> {
        let inst = self.installations.get(&installation)?;
        self.apps.get(&inst.app_id)
    }

    /// The installation of an App on the account owning `repo`.
    pub fn installation_for(&self, repo: &RepoName) -> Option<&Installation> {
        let owner = repo.split()?.0;
        self.installations.values().find(|i| i.account.0 == owner)
    }

    /// A repository, or 404.
    pub fn repo(&self, name: &RepoName) -> Option<&Repo> {
        self.repos.get(name)
    }
}

/// A GitHub App registration.
pub struct App {
    /// The App id (JWT `iss`).
    pub id: AppId,
    /// URL-safe name; the bot user is `<slug>[bot]`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Owner account.
    pub owner: Login,
    /// Public key that verifies the App's JWTs (`None`: the App never calls the API).
    pub public_key: Option<DecodingKey>,
    /// Where the App's webhooks go, if anywhere.
    pub webhook: Option<WebhookTarget>,
    /// The `[bot]` user acting for the App.
    pub bot: Login,
    /// What the App's installations may do, by permission name (`contents`,
    /// `administration`, `workflows`…): routes and pushes refuse what is not granted.
    pub permissions: BTreeMap<String, Access>,
    /// Where the App's OAuth sign-in may return to (the manifest's `callback_urls`).
    pub callback_urls: Vec<String>,
}

impl App {
    /// Whether the App holds `permission` at `level` or above.
    pub fn may(&self, permission: &str, level: Access) -> bool {
        self.permissions
            .get(permission)
            .is_some_and(|a| *a >= level)
    }
}

/// The level of an App permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

impl Access {
    /// Parses the manifest's spelling (`read`, `write`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// The permissions of Flotilla's App manifest (`app-manifest.yml`): no `administration`,
/// no `workflows`. Seeded and installed Apps start with these.
pub fn manifest_permissions() -> BTreeMap<String, Access> {
    [
        ("contents", Access::Write),
        ("pull_requests", Access::Write),
        ("issues", Access::Write),
        ("checks", Access::Write),
        ("statuses", Access::Read),
        ("metadata", Access::Read),
        ("merge_queues", Access::Read),
    ]
    .into_iter()
    .map(|(name, access)| (name.to_owned(), access))
    .collect()
}

/// An App's webhook configuration.
#[derive(Clone)]
pub struct WebhookTarget {
    /// Delivery URL.
    pub url: String,
    /// HMAC secret; `None` sends unsigned deliveries.
    pub secret: Option<String>,
    /// `X-GitHub-Hook-ID`.
    pub hook_id: u64,
    /// GitHub's "Active" box: an inactive webhook sends nothing and records no
    /// delivery, so events are lost for good (what only reconciliation repairs).
    pub active: bool,
}

/// An installation of an App on an account (all its repositories).
#[derive(Clone)]
pub struct Installation {
    /// Installation id.
    pub id: InstallationId,
    /// The installed App.
    pub app_id: AppId,
    /// The account it is installed on.
    pub account: Login,
}

/// An installation access token.
#[derive(Clone)]
pub struct Token {
    /// Whose token it is.
    pub installation: InstallationId,
    /// After this instant the token answers 401.
    pub expires_at: DateTime<Utc>,
}

/// Whether an account is a person or an App's bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// A person.
    User,
    /// An App's `[bot]` account.
    Bot,
    /// An organization.
    Organization,
}

/// A GitHub account.
#[derive(Clone, Debug)]
pub struct User {
    /// Numeric id.
    pub id: u64,
    /// Login.
    pub login: Login,
    /// Person, bot or organization.
    pub kind: UserKind,
}

/// A repository and everything hanging off it.
pub struct Repo {
    /// Numeric id.
    pub id: u64,
    /// `owner/name`.
    pub name: RepoName,
    /// Default branch name.
    pub default_branch: String,
    /// Repository setting that permits auto-merge.
    pub allow_auto_merge: bool,
    /// Collaborators and their roles (the owner is admin implicitly).
    pub collaborators: BTreeMap<Login, Permission>,
    /// Next issue/PR number (they share one sequence).
    pub next_number: u64,
    /// Issues, including the issue side of every pull request.
    pub issues: BTreeMap<u64, Issue>,
    /// Pull requests by number.
    pub pulls: BTreeMap<u64, Pull>,
    /// Issue and PR conversation comments.
    pub comments: Vec<Comment>,
    /// Pull request reviews.
    pub reviews: Vec<Review>,
    /// Inline review comments.
    pub review_comments: Vec<ReviewComment>,
    /// Check suites.
    pub check_suites: Vec<CheckSuite>,
    /// Check runs.
    pub check_runs: Vec<CheckRun>,
    /// Commit statuses.
    pub statuses: Vec<Status>,
    /// Branch protection by branch name.
    pub protection: BTreeMap<String, Protection>,
    /// Active repository rulesets.
    pub rulesets: Vec<Ruleset>,
}

impl Repo {
    /// The permission `login` has here.
    pub fn permission(&self, login: &Login) -> Permission {
        if self.name.split().is_some_and(|(owner, _)| owner == login.0) {
            return Permission::Admin;
        }
        self.collaborators
            .get(login)
            .copied()
            .unwrap_or(Permission::None)
    }

    /// The required checks of every ruleset that applies to `branch`, and whether any
    /// of them asks for an up-to-date branch.
    pub fn ruleset_checks(&self, branch: &str) -> (Vec<RequiredCheck>, bool) {
        let mut checks: Vec<RequiredCheck> = Vec::new();
        let mut strict = false;
        for ruleset in self.rulesets.iter().filter(|r| r.applies_to(branch, self)) {
            strict |= ruleset.strict;
            for check in &ruleset.required_checks {
                if !checks.contains(check) {
                    checks.push(check.clone());
                }
            }
        }
        (checks, strict)
    }

    /// The open pull request whose head is `branch`, if any.
    pub fn open_pull_for_head(&self, branch: &str) -> Option<u64> {
        self.pulls
            .values()
            .find(|p| p.head_ref == branch && self.issues.get(&p.number).is_some_and(|i| i.open))
            .map(|p| p.number)
    }
}

/// An issue (or the issue side of a pull request).
#[derive(Clone)]
pub struct Issue {
    /// Global id.
    pub id: u64,
    /// Number within the repository.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// Author.
    pub user: Login,
    /// Label names.
    pub labels: Vec<String>,
    /// Open or closed.
    pub open: bool,
    /// `completed` / `not_planned` when closed.
    pub state_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
    /// Close time.
    pub closed_at: Option<DateTime<Utc>>,
    /// True when this number is a pull request.
    pub is_pull: bool,
}

/// Merge methods GitHub offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMethod {
    /// A merge commit.
    Merge,
    /// One squashed commit.
    Squash,
    /// The head's commits replayed on the base.
    Rebase,
}

impl MergeMethod {
    /// Parses REST (`merge`) and GraphQL (`MERGE`) spellings.
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "merge" => Some(Self::Merge),
            "squash" => Some(Self::Squash),
            "rebase" => Some(Self::Rebase),
            _ => None,
        }
    }

    /// GitHub's lowercase spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Squash => "squash",
            Self::Rebase => "rebase",
        }
    }
}

/// An auto-merge request on a pull request.
#[derive(Clone, Debug)]
pub struct AutoMerge {
    /// Who enabled it (merges are done as them).
    pub enabled_by: Login,
    /// How to merge.
    pub method: MergeMethod,
}

/// The pull-request side of an issue number.
#[derive(Clone)]
pub struct Pull {
    /// Global id.
    pub id: u64,
    /// Number (shared with its issue).
    pub number: u64,
    /// Head branch.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: CommitSha,
    /// Base branch.
    pub base_ref: String,
    /// Draft flag.
    pub draft: bool,
    /// Merged?
    pub merged: bool,
    /// When merged.
    pub merged_at: Option<DateTime<Utc>>,
    /// Who merged.
    pub merged_by: Option<Login>,
    /// The merge, squash or last rebased commit.
    pub merge_commit_sha: Option<CommitSha>,
    /// Pending auto-merge.
    pub auto_merge: Option<AutoMerge>,
}

/// A conversation comment.
#[derive(Clone)]
pub struct Comment {
    /// Id.
    pub id: u64,
    /// Issue or PR number.
    pub issue: u64,
    /// Author.
    pub user: Login,
    /// Body.
    pub body: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last edit.
    pub updated_at: DateTime<Utc>,
}

/// A submitted review.
#[derive(Clone)]
pub struct Review {
    /// Id.
    pub id: u64,
    /// Pull request number.
    pub pull: u64,
    /// Reviewer.
    pub user: Login,
    /// `APPROVED`, `CHANGES_REQUESTED` or `COMMENTED`.
    pub state: String,
    /// Body.
    pub body: String,
    /// Reviewed commit.
    pub commit_id: CommitSha,
    /// Submission time.
    pub submitted_at: DateTime<Utc>,
}

/// An inline comment of a review.
#[derive(Clone)]
pub struct ReviewComment {
    /// Id.
    pub id: u64,
    /// Review it belongs to.
    pub review_id: u64,
    /// Pull request number.
    pub pull: u64,
    /// Author.
    pub user: Login,
    /// File path.
    pub path: String,
    /// Line in the file on `side`.
    pub line: u64,
    /// `RIGHT` (new) or `LEFT` (old).
    pub side: String,
    /// Body.
    pub body: String,
    /// Commit commented on.
    pub commit_id: CommitSha,
}

/// A check suite: one App's checks for one commit.
#[derive(Clone)]
pub struct CheckSuite {
    /// Id.
    pub id: u64,
    /// Owning App.
    pub app_id: AppId,
    /// Commit.
    pub head_sha: CommitSha,
    /// Branch pushed, if known.
    pub head_branch: Option<String>,
    /// Set once `check_suite.completed` was announced.
    pub completed_announced: bool,
}

/// A check run. Tests read it as it is; the admin API's JSON leaves out what only
/// GitHub's own JSON shows (suite, external id, times) and counts the annotations.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRun {
    /// Id.
    pub id: u64,
    /// Suite it belongs to.
    #[serde(skip)]
    pub suite_id: u64,
    /// App that created it.
    pub app_id: AppId,
    /// Name (the context branch protection requires).
    pub name: String,
    /// Commit.
    pub head_sha: CommitSha,
    /// `queued`, `in_progress`, `completed`.
    pub status: String,
    /// Conclusion once completed.
    pub conclusion: Option<String>,
    /// Integrator's id.
    #[serde(skip)]
    pub external_id: Option<String>,
    /// Link to details.
    pub details_url: Option<String>,
    /// Start time.
    #[serde(skip)]
    pub started_at: DateTime<Utc>,
    /// Completion time.
    #[serde(skip)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Output title.
    pub title: Option<String>,
    /// Output summary.
    pub summary: Option<String>,
    /// Output text.
    pub text: Option<String>,
    /// Annotations received so far.
    #[serde(serialize_with = "serialize_count")]
    pub annotations: Vec<serde_json::Value>,
}

/// Writes how many `items` there are rather than the items.
fn serialize_count<S: Serializer>(items: &[serde_json::Value], out: S) -> Result<S::Ok, S::Error> {
    out.serialize_u64(items.len() as u64)
}

/// A commit status.
#[derive(Clone)]
pub struct Status {
    /// Id.
    pub id: u64,
    /// Commit.
    pub sha: CommitSha,
    /// Context.
    pub context: String,
    /// `error`, `failure`, `pending`, `success`.
    pub state: String,
    /// Description.
    pub description: Option<String>,
    /// Link.
    pub target_url: Option<String>,
    /// Who set it.
    pub creator: Login,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One webhook delivery attempt.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Attempt id (`/app/hook/deliveries/{id}`).
    pub id: u64,
    /// `X-GitHub-Delivery`, kept across redeliveries.
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// Payload `action`.
    pub action: Option<String>,
    /// Installation the event is about.
    pub installation_id: Option<InstallationId>,
    /// Repository the event is about.
    pub repository_id: Option<u64>,
    /// Raw payload sent.
    pub payload: serde_json::Value,
    /// When it was sent.
    pub delivered_at: DateTime<Utc>,
    /// Seconds the receiver took.
    pub duration: f64,
    /// HTTP status (0 when the connection failed).
    pub status_code: u16,
    /// `OK` or the failure reason.
    pub status: String,
    /// Whether this attempt was a redelivery.
    pub redelivery: bool,
}

impl Delivery {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}
