//! Branch protection and rulesets on the simulated repositories: the required checks
//! (bound to an App or not), the classic protection settings and the rulesets that
//! apply to a branch by pattern.

use super::Repo;
use crate::types::AppId;

/// A required check: a context, optionally bound to one App.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredCheck {
    /// Check run name or status context.
    pub context: String,
    /// Only a check run from this App satisfies it.
    pub app_id: Option<AppId>,
}

/// Branch protection of one branch.
#[derive(Clone, Debug, Default)]
pub struct Protection {
    /// Required checks; `None` when the section is off.
    pub required_checks: Option<Vec<RequiredCheck>>,
    /// Require the head to contain the base tip.
    pub strict: bool,
    /// Required approving reviews; `None` when off.
    pub required_approvals: Option<u32>,
    /// Apply to admins too.
    pub enforce_admins: bool,
}

/// A repository ruleset targeting branches, with its `required_status_checks` rule (the
/// only rule the simulator enforces). Rulesets are read with `metadata: read`, unlike
/// classic protection.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    /// Ruleset id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Branches it targets: names, `fnmatch`-style `*` patterns, `~DEFAULT_BRANCH` or
    /// `~ALL` (GitHub's `conditions.ref_name.include`, without `refs/heads/`).
    pub branches: Vec<String>,
    /// Required checks; `integration_id` is the App id.
    pub required_checks: Vec<RequiredCheck>,
    /// `strict_required_status_checks_policy`.
    pub strict: bool,
}

impl Ruleset {
    /// Whether the ruleset targets `branch` of `repo`.
    pub fn applies_to(&self, branch: &str, repo: &Repo) -> bool {
        self.branches.iter().any(|pattern| match pattern.as_str() {
            "~ALL" => true,
            "~DEFAULT_BRANCH" => branch == repo.default_branch,
            pattern => glob_match(pattern.trim_start_matches("refs/heads/"), branch),
        })
    }
}

/// `*` matches any run of characters but `/`; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}
