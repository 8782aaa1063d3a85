//! Branch protection, the merge gate: reading a branch's rules and writing them back.
//!
//! GitHub's PUT replaces the whole protection, and its GET answer is shaped differently
//! from the PUT body (`{enabled}` objects, user and team objects instead of names). This
//! module owns that translation, so every setting read can be written back unchanged.
//! It also reads the ruleset rules of a branch, which (unlike classic protection) any
//! App can read: only their required status checks are kept.

use serde::{Deserialize, Serialize};

use super::app::InstallationClient;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;
use crate::types::{AppId, Login, RepoName};

/// A required check bound, where possible, to the App that must report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheck {
    /// Check name, e.g. `flotilla/verify`.
    pub context: String,
    /// The App that must report it; `None` for any source.
    pub app_id: Option<AppId>,
}

/// A branch's protection: the parts that make up Flotilla's merge gate, and the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BranchProtection {
    /// Whether the branch must be up to date before merging.
    pub strict: bool,
    /// Checks that must pass.
    pub required_checks: Vec<RequiredCheck>,
    /// Whether admins are held to the rules too.
    pub enforce_admins: bool,
    /// Required approving reviews; `None` when reviews are not required.
    pub required_approving_review_count: Option<u32>,
    /// Every other setting, carried over when Flotilla rewrites the protection.
    pub other: OtherProtection,
}

/// Protection settings Flotilla does not act on but must not lose: a PUT that left
/// them out would switch them off. The default is an unprotected branch's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherProtection {
    /// New commits dismiss approvals (only with required reviews).
    pub dismiss_stale_reviews: bool,
    /// Code owners must approve (only with required reviews).
    pub require_code_owner_reviews: bool,
    /// The last push must be approved by someone else (only with required reviews).
    pub require_last_push_approval: bool,
    /// Who may dismiss reviews; `None` when anyone with write access may.
    pub dismissal_restrictions: Option<Actors>,
    /// Who may merge without the required reviews.
    pub bypass_pull_request_allowances: Option<Actors>,
    /// Who may push; `None` when anyone with write access may.
    pub restrictions: Option<Actors>,
    /// Merge commits are refused.
    pub required_linear_history: bool,
    /// Force pushes are allowed.
    pub allow_force_pushes: bool,
    /// The branch may be deleted.
    pub allow_deletions: bool,
    /// Pushes that create matching branches are refused.
    pub block_creations: bool,
    /// Review conversations must be resolved before merging.
    pub required_conversation_resolution: bool,
    /// The branch is read-only.
    pub lock_branch: bool,
    /// Forks may sync a locked branch.
    pub allow_fork_syncing: bool,
}

/// Users, teams and Apps named in a protection rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actors {
    /// User logins.
    pub users: Vec<Login>,
    /// Team slugs.
    pub teams: Vec<String>,
    /// App slugs.
    pub apps: Vec<String>,
}

#[derive(Deserialize)]
struct ProtectionWire {
    required_status_checks: Option<StatusChecksWire>,
    enforce_admins: Option<EnabledWire>,
    required_pull_request_reviews: Option<ReviewsWire>,
    restrictions: Option<ActorsWire>,
    required_linear_history: Option<EnabledWire>,
    allow_force_pushes: Option<EnabledWire>,
    allow_deletions: Option<EnabledWire>,
    block_creations: Option<EnabledWire>,
    required_conversation_resolution: Option<EnabledWire>,
    lock_branch: Option<EnabledWire>,
    allow_fork_syncing: Option<EnabledWire>,
}

#[derive(Deserialize)]
struct StatusChecksWire {
    strict: Option<bool>,
    #[serde(default)]
    contexts: Vec<String>,
    #[serde(default)]
    checks: Vec<RequiredCheck>,
}

#[derive(Deserialize)]
struct EnabledWire {
    #[serde(default)]
    enabled: bool,
}

/// True only for a section that is present and enabled.
fn enabled(section: Option<EnabledWire>) -> bool {
    section.is_some_and(|s| s.enabled)
}

#[derive(Deserialize)]
struct ReviewsWire {
    #[serde(default)]
    required_approving_review_count: u32,
    #[serde(default)]
    dismiss_stale_reviews: bool,
    #[serde(default)]
    require_code_owner_reviews: bool,
    #[serde(default)]
    require_last_push_approval: bool,
    dismissal_restrictions: Option<ActorsWire>,
    bypass_pull_request_allowances: Option<ActorsWire>,
}

#[derive(Deserialize)]
struct LoginWire {
    login: Login,
}

#[derive(Deserialize)]
struct SlugWire {
    slug: Option<String>,
}

#[derive(Deserialize)]
struct ActorsWire {
    #[serde(default)]
    users: Vec<LoginWire>,
    #[serde(default)]
    teams: Vec<SlugWire>,
    #[serde(default)]
    apps: Vec<SlugWire>,
}

impl From<ActorsWire> for Actors {
    fn from(wire: ActorsWire) -> Self {
        Self {
            users: wire.users.into_iter().map(|u| u.login).collect(),
            teams: wire.teams.into_iter().filter_map(|t| t.slug).collect(),
            apps: wire.apps.into_iter().filter_map(|a| a.slug).collect(),
        }
    }
}

impl From<ProtectionWire> for BranchProtection {
    fn from(wire: ProtectionWire) -> Self {
        let (strict, required_checks) = match wire.required_status_checks {
            Some(section) => {
                let mut checks = section.checks;
                for context in section.contexts {
                    if !checks.iter().any(|c| c.context == context) {
                        checks.push(RequiredCheck {
                            context,
                            app_id: None,
                        });
                    }
                }
                (section.strict.unwrap_or(false), checks)
            }
            None => (false, Vec::new()),
        };
        let reviews = wire.required_pull_request_reviews;
        let flag = |f: fn(&ReviewsWire) -> bool| reviews.as_ref().is_some_and(f);
        let mut other = OtherProtection {
            dismiss_stale_reviews: flag(|r| r.dismiss_stale_reviews),
            require_code_owner_reviews: flag(|r| r.require_code_owner_reviews),
            require_last_push_approval: flag(|r| r.require_last_push_approval),
            dismissal_restrictions: None,
            bypass_pull_request_allowances: None,
            restrictions: wire.restrictions.map(Actors::from),
            required_linear_history: enabled(wire.required_linear_history),
            allow_force_pushes: enabled(wire.allow_force_pushes),
            allow_deletions: enabled(wire.allow_deletions),
            block_creations: enabled(wire.block_creations),
            required_conversation_resolution: enabled(wire.required_conversation_resolution),
            lock_branch: enabled(wire.lock_branch),
            allow_fork_syncing: enabled(wire.allow_fork_syncing),
        };
        let required_approving_review_count = reviews.map(|r| {
            other.dismissal_restrictions = r.dismissal_restrictions.map(Actors::from);
            other.bypass_pull_request_allowances =
                r.bypass_pull_request_allowances.map(Actors::from);
            r.required_approving_review_count
        });
        Self {
            strict,
            required_checks,
            enforce_admins: enabled(wire.enforce_admins),
            required_approving_review_count,
            other,
        }
    }
}

/// `skip_serializing_if` for settings whose absence means off.
fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Serialize)]
struct ProtectionBody<'a> {
    required_status_checks: StatusChecksBody<'a>,
    enforce_admins: bool,
    required_pull_request_reviews: Option<ReviewsBody<'a>>,
    restrictions: Option<ActorsBody<'a>>,
    #[serde(skip_serializing_if = "is_false")]
    required_linear_history: bool,
    #[serde(skip_serializing_if = "is_false")]
    allow_force_pushes: bool,
    #[serde(skip_serializing_if = "is_false")]
    allow_deletions: bool,
    #[serde(skip_serializing_if = "is_false")]
    block_creations: bool,
    #[serde(skip_serializing_if = "is_false")]
    required_conversation_resolution: bool,
    #[serde(skip_serializing_if = "is_false")]
    lock_branch: bool,
    #[serde(skip_serializing_if = "is_false")]
    allow_fork_syncing: bool,
}

#[derive(Serialize)]
struct StatusChecksBody<'a> {
    strict: bool,
    checks: &'a [RequiredCheck],
}

#[derive(Serialize)]
struct ReviewsBody<'a> {
    required_approving_review_count: u32,
    #[serde(skip_serializing_if = "is_false")]
    dismiss_stale_reviews: bool,
    #[serde(skip_serializing_if = "is_false")]
    require_code_owner_reviews: bool,
    #[serde(skip_serializing_if = "is_false")]
    require_last_push_approval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dismissal_restrictions: Option<ActorsBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bypass_pull_request_allowances: Option<ActorsBody<'a>>,
}

#[derive(Serialize)]
struct ActorsBody<'a> {
    users: &'a [Login],
    teams: &'a [String],
    apps: &'a [String],
}

impl<'a> From<&'a Actors> for ActorsBody<'a> {
    fn from(actors: &'a Actors) -> Self {
        Self {
            users: &actors.users,
            teams: &actors.teams,
            apps: &actors.apps,
        }
    }
}

impl<'a> From<&'a BranchProtection> for ProtectionBody<'a> {
    fn from(p: &'a BranchProtection) -> Self {
        let o = &p.other;
        Self {
            required_status_checks: StatusChecksBody {
                strict: p.strict,
                checks: &p.required_checks,
            },
            enforce_admins: p.enforce_admins,
            required_pull_request_reviews: p.required_approving_review_count.map(|count| {
                ReviewsBody {
                    required_approving_review_count: count,
                    dismiss_stale_reviews: o.dismiss_stale_reviews,
                    require_code_owner_reviews: o.require_code_owner_reviews,
                    require_last_push_approval: o.require_last_push_approval,
                    dismissal_restrictions: o.dismissal_restrictions.as_ref().map(Into::into),
                    bypass_pull_request_allowances: o
                        .bypass_pull_request_allowances
                        .as_ref()
                        .map(Into::into),
                }
            }),
            restrictions: o.restrictions.as_ref().map(Into::into),
            required_linear_history: o.required_linear_history,
            allow_force_pushes: o.allow_force_pushes,
            allow_deletions: o.allow_deletions,
            block_creations: o.block_creations,
            required_conversation_resolution: o.required_conversation_resolution,
            lock_branch: o.lock_branch,
            allow_fork_syncing: o.allow_fork_syncing,
        }
    }
}

/// What the active rulesets say a branch requires before merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BranchRules {
    /// Checks required by a `required_status_checks` rule (`integration_id` as `app_id`).
    pub required_checks: Vec<RequiredCheck>,
    /// Some rule requires the branch to be up to date.
    pub strict: bool,
}

/// One rule; every field of [`StatusChecksRuleWire`] has a default, so the parameters
/// of other rule types read too and are then ignored by their `type`.
#[derive(Deserialize)]
struct RuleWire {
    #[serde(rename = "type")]
    kind: String,
    parameters: Option<StatusChecksRuleWire>,
}

#[derive(Deserialize)]
struct StatusChecksRuleWire {
    #[serde(default)]
    strict_required_status_checks_policy: bool,
    #[serde(default)]
    required_status_checks: Vec<RuleCheckWire>,
}

#[derive(Deserialize)]
struct RuleCheckWire {
    context: String,
    integration_id: Option<AppId>,
}

impl InstallationClient {
    /// The ruleset rules in force on `branch` (repository and organization rulesets;
    /// needs only `metadata: read`). Classic protection is not included.
    pub async fn get_branch_rules(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<BranchRules, GithubError> {
        let request = ApiRequest::on_repo(Route::GetBranchRules, repo, &[branch])?
            .query(&[("per_page", "100")]);
        let rules: Vec<RuleWire> = self.get_all(request).await?;
        let mut out = BranchRules::default();
        for rule in rules {
            if rule.kind != "required_status_checks" {
                continue;
            }
            let Some(parameters) = rule.parameters else {
                continue;
            };
            out.strict |= parameters.strict_required_status_checks_policy;
            for check in parameters.required_status_checks {
                let check = RequiredCheck {
                    context: check.context,
                    app_id: check.integration_id,
                };
                if !out.required_checks.contains(&check) {
                    out.required_checks.push(check);
                }
            }
        }
        Ok(out)
    }

    /// The branch's protection, or `None` when it has none (404).
    pub async fn get_branch_protection(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<BranchProtection>, GithubError> {
        let request = ApiRequest::on_repo(Route::GetBranchProtection, repo, &[branch])?;
        let Some(response) = self.send_if_found(request).await? else {
            return Ok(None);
        };
        Ok(Some(response.json::<ProtectionWire>()?.into()))
    }

    /// Replaces the branch's protection (needs `administration: write`; without it,
    /// [`GithubError::Forbidden`]). Sends `checks` without `contexts` (GitHub rejects
    /// some requests carrying both), all four required top-level keys (`restrictions`
    /// null when unset) and the optional settings that are on.
    pub async fn put_branch_protection(
        &self,
        repo: &RepoName,
        branch: &str,
        protection: &BranchProtection,
    ) -> Result<(), GithubError> {
        let request = ApiRequest::on_repo(Route::PutBranchProtection, repo, &[branch])?
            .json(&ProtectionBody::from(protection))?;
        self.send(request).await.map(drop)
    }
}
