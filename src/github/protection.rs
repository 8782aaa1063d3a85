//! Branch protection, the merge gate: reading a branch's rules and writing them back.
//!
//! GitHub's PUT replaces the whole protection, and its GET answer is shaped differently
//! from the PUT body (`{enabled}` objects, user and team objects instead of names). This
//! module owns that translation, so every setting read can be written back unchanged.
//! It also reads the ruleset rules of a branch, which (unlike classic protection) any
//! App can read: only their required status checks are kept.

use serde::{Deserialize, Deserializer, Serialize};

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "ProtectionWire")]
pub struct BranchProtection {
    /// Whether the branch must be up to date before merging.
    pub strict: bool,
    /// Checks that must pass.
    pub required_checks: Vec<RequiredCheck>,
    /// Whether admins are held to the rules too.
    pub enforce_admins: bool,
    /// Required reviews and the settings that come with them; `None` when reviews are
    /// not required.
    pub required_pull_request_reviews: Option<RequiredReviews>,
    /// Every other setting, carried over when Flotilla rewrites the protection.
    pub other: OtherProtection,
}

/// `required_pull_request_reviews`: the settings that exist only while reviews are
/// required, nested as GitHub nests them. GET and PUT spell them alike (but for
/// [`Actors`]), so what is read is written back as it is; settings that are off are
/// left out of the PUT.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredReviews {
    /// Approving reviews a pull request needs.
    #[serde(default)]
    pub required_approving_review_count: u32,
    /// New commits dismiss approvals.
    #[serde(default, skip_serializing_if = "is_off")]
    pub dismiss_stale_reviews: bool,
    /// Code owners must approve.
    #[serde(default, skip_serializing_if = "is_off")]
    pub require_code_owner_reviews: bool,
    /// The last push must be approved by someone else.
    #[serde(default, skip_serializing_if = "is_off")]
    pub require_last_push_approval: bool,
    /// Who may dismiss reviews; `None` when anyone with write access may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dismissal_restrictions: Option<Actors>,
    /// Who may merge without the required reviews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_pull_request_allowances: Option<Actors>,
}

/// Protection settings Flotilla does not act on but must not lose: a PUT that left
/// them out would switch them off. The default is an unprotected branch's. GET answers
/// each flag as an `{enabled}` object, PUT takes the plain value and only the flags
/// that are on are sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherProtection {
    /// Who may push; `None` when anyone with write access may (sent as `null`).
    pub restrictions: Option<Actors>,
    /// Merge commits are refused.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub required_linear_history: bool,
    /// Force pushes are allowed.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub allow_force_pushes: bool,
    /// The branch may be deleted.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub allow_deletions: bool,
    /// Pushes that create matching branches are refused.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub block_creations: bool,
    /// Review conversations must be resolved before merging.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub required_conversation_resolution: bool,
    /// The branch is read-only.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub lock_branch: bool,
    /// Forks may sync a locked branch.
    #[serde(default, deserialize_with = "enabled", skip_serializing_if = "is_off")]
    pub allow_fork_syncing: bool,
}

/// Users, teams and Apps named in a protection rule: read from GET's user, team and
/// App objects, written in PUT as logins and slugs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ActorsWire")]
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
    #[serde(default, deserialize_with = "enabled")]
    enforce_admins: bool,
    required_pull_request_reviews: Option<RequiredReviews>,
    #[serde(flatten)]
    other: OtherProtection,
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

/// Reads GET's `{enabled}` object (or `null`) as the flag: true only for a section
/// that is present and enabled.
fn enabled<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    Ok(Option::<EnabledWire>::deserialize(de)?.is_some_and(|s| s.enabled))
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
        Self {
            strict,
            required_checks,
            enforce_admins: wire.enforce_admins,
            required_pull_request_reviews: wire.required_pull_request_reviews,
            other: wire.other,
        }
    }
}

/// `skip_serializing_if` for settings whose absence means off.
fn is_off(value: &bool) -> bool {
    !*value
}

#[derive(Serialize)]
struct ProtectionBody<'a> {
    required_status_checks: StatusChecksBody<'a>,
    enforce_admins: bool,
    required_pull_request_reviews: Option<&'a RequiredReviews>,
    #[serde(flatten)]
    other: &'a OtherProtection,
}

#[derive(Serialize)]
struct StatusChecksBody<'a> {
    strict: bool,
    checks: &'a [RequiredCheck],
}

impl<'a> From<&'a BranchProtection> for ProtectionBody<'a> {
    fn from(p: &'a BranchProtection) -> Self {
        Self {
            required_status_checks: StatusChecksBody {
                strict: p.strict,
                checks: &p.required_checks,
            },
            enforce_admins: p.enforce_admins,
            required_pull_request_reviews: p.required_pull_request_reviews.as_ref(),
            other: &p.other,
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
        response.json().map(Some)
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
