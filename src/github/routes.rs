//! Every REST route and GraphQL document the client uses, in one list.
//!
//! A conformance test walks [`Route::ALL`] and [`graphql_documents`] to check them
//! against GitHub's published descriptions; no other module may spell a path or a
//! GraphQL document itself.

use http::Method;

/// One GitHub REST endpoint the client calls. Placeholders use the parameter names of
/// GitHub's OpenAPI description so a conformance test can compare templates directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The App itself (JWT auth).
    GetApp,
    /// Which installation of the App covers a repository (JWT auth).
    GetRepoInstallation,
    /// The App's recent webhook deliveries, newest first, cursor-paged (JWT auth).
    ListHookDeliveries,
    /// Asks GitHub to send a delivery again (JWT auth).
    RedeliverHook,
    /// Minting an installation token; octocrab sends this one itself.
    CreateInstallationToken,
    /// Exchanging a manifest flow's code for the new App's credentials (no auth); the
    /// setup page sends it.
    CreateAppFromManifest,
    /// Who may command Flotilla.
    CollaboratorPermission,
    /// The issue Flotilla works on.
    GetIssue,
    /// Closing an issue.
    UpdateIssue,
    /// Reading back Flotilla's own comments.
    ListIssueComments,
    /// Posting a plan, a status or a refusal.
    CreateIssueComment,
    /// Editing a status comment in place.
    UpdateIssueComment,
    /// Marking issue progress with labels.
    AddLabels,
    /// Removing a progress label.
    RemoveLabel,
    /// Reading `.github/flotilla.yml` and other files at a ref.
    GetContents,
    /// Default branch and `allow_auto_merge`.
    GetRepository,
    /// Whether a task's branch still exists (reconciliation after downtime).
    GetRef,
    /// Opening a task's draft PR.
    CreatePull,
    /// Finding an existing PR for a task branch.
    ListPulls,
    /// Re-reading a PR before acting on it.
    GetPull,
    /// Retitling a PR or rewriting its body.
    UpdatePull,
    /// Posting reviewer findings with inline comments.
    CreateReview,
    /// Reading back the reviews on a PR (ours and the humans').
    ListReviews,
    /// Merging with a head-sha guard.
    MergePull,
    /// Bringing a PR's branch up to date with its base.
    UpdatePullBranch,
    /// Publishing `flotilla/verify`.
    CreateCheckRun,
    /// Completing or annotating `flotilla/verify`.
    UpdateCheckRun,
    /// Reading CI results on a head.
    ListCheckRunsForRef,
    /// Reading legacy commit statuses on a head.
    CombinedStatusForRef,
    /// Checking that the merge gate is configured.
    GetBranchProtection,
    /// Configuring the merge gate.
    PutBranchProtection,
    /// Ruleset rules of a branch (readable with `metadata: read`, unlike protection).
    GetBranchRules,
    /// The GraphQL endpoint (documents below).
    Graphql,
}

impl Route {
    /// Every route, for conformance tests and documentation.
    pub const ALL: &'static [Route] = &[
        Route::GetApp,
        Route::GetRepoInstallation,
        Route::ListHookDeliveries,
        Route::RedeliverHook,
        Route::CreateInstallationToken,
        Route::CreateAppFromManifest,
        Route::CollaboratorPermission,
        Route::GetIssue,
        Route::UpdateIssue,
        Route::ListIssueComments,
        Route::CreateIssueComment,
        Route::UpdateIssueComment,
        Route::AddLabels,
        Route::RemoveLabel,
        Route::GetContents,
        Route::GetRepository,
        Route::GetRef,
        Route::CreatePull,
        Route::ListPulls,
        Route::GetPull,
        Route::UpdatePull,
        Route::CreateReview,
        Route::ListReviews,
        Route::MergePull,
        Route::UpdatePullBranch,
        Route::CreateCheckRun,
        Route::UpdateCheckRun,
        Route::ListCheckRunsForRef,
        Route::CombinedStatusForRef,
        Route::GetBranchProtection,
        Route::PutBranchProtection,
        Route::GetBranchRules,
        Route::Graphql,
    ];

    /// The HTTP method and path template, exactly as GitHub's OpenAPI spells them.
    pub const fn spec(self) -> (Method, &'static str) {
        match self {
            Route::GetApp => (Method::GET, "/app"),
            Route::CreateAppFromManifest => (Method::POST, "/app-manifests/{code}/conversions"),
            Route::ListHookDeliveries => (Method::GET, "/app/hook/deliveries"),
            Route::RedeliverHook => (Method::POST, "/app/hook/deliveries/{delivery_id}/attempts"),
            Route::GetRepoInstallation => (Method::GET, "/repos/{owner}/{repo}/installation"),
            Route::CreateInstallationToken => (
                Method::POST,
                "/app/installations/{installation_id}/access_tokens",
            ),
            Route::CollaboratorPermission => (
                Method::GET,
                "/repos/{owner}/{repo}/collaborators/{username}/permission",
            ),
            Route::GetIssue => (Method::GET, "/repos/{owner}/{repo}/issues/{issue_number}"),
            Route::UpdateIssue => (Method::PATCH, "/repos/{owner}/{repo}/issues/{issue_number}"),
            Route::ListIssueComments => (
                Method::GET,
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            ),
            Route::CreateIssueComment => (
                Method::POST,
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            ),
            Route::UpdateIssueComment => (
                Method::PATCH,
                "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            ),
            Route::AddLabels => (
                Method::POST,
                "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            ),
            Route::RemoveLabel => (
                Method::DELETE,
                "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
            ),
            Route::GetContents => (Method::GET, "/repos/{owner}/{repo}/contents/{path}"),
            Route::GetRef => (Method::GET, "/repos/{owner}/{repo}/git/ref/{ref}"),
            Route::GetRepository => (Method::GET, "/repos/{owner}/{repo}"),
            Route::CreatePull => (Method::POST, "/repos/{owner}/{repo}/pulls"),
            Route::ListPulls => (Method::GET, "/repos/{owner}/{repo}/pulls"),
            Route::GetPull => (Method::GET, "/repos/{owner}/{repo}/pulls/{pull_number}"),
            Route::UpdatePull => (Method::PATCH, "/repos/{owner}/{repo}/pulls/{pull_number}"),
            Route::CreateReview => (
                Method::POST,
                "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            ),
            Route::ListReviews => (
                Method::GET,
                "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            ),
            Route::MergePull => (
                Method::PUT,
                "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            ),
            Route::UpdatePullBranch => (
                Method::PUT,
                "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch",
            ),
            Route::CreateCheckRun => (Method::POST, "/repos/{owner}/{repo}/check-runs"),
            Route::UpdateCheckRun => (
                Method::PATCH,
                "/repos/{owner}/{repo}/check-runs/{check_run_id}",
            ),
            Route::ListCheckRunsForRef => (
                Method::GET,
                "/repos/{owner}/{repo}/commits/{ref}/check-runs",
            ),
            Route::CombinedStatusForRef => {
                (Method::GET, "/repos/{owner}/{repo}/commits/{ref}/status")
            }
            Route::GetBranchProtection => (
                Method::GET,
                "/repos/{owner}/{repo}/branches/{branch}/protection",
            ),
            Route::PutBranchProtection => (
                Method::PUT,
                "/repos/{owner}/{repo}/branches/{branch}/protection",
            ),
            Route::GetBranchRules => (Method::GET, "/repos/{owner}/{repo}/rules/branches/{branch}"),
            Route::Graphql => (Method::POST, "/graphql"),
        }
    }

    /// The HTTP method.
    pub fn method(self) -> Method {
        self.spec().0
    }

    /// The path template, for logs and conformance checks.
    pub fn template(self) -> &'static str {
        self.spec().1
    }

    /// Fills the template's placeholders, in order, with percent-encoded `params`. The
    /// `{path}` and `{ref}` placeholders keep their slashes (a file in a tree, a
    /// fully qualified reference such as `heads/flotilla/task-1`).
    pub(crate) fn path(self, params: &[&str]) -> String {
        let template = self.template();
        let mut out = String::with_capacity(template.len() + 32);
        let mut params = params.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let value = params.next().copied();
            debug_assert!(value.is_some(), "missing {{{name}}} for {template}");
            encode_into(
                &mut out,
                value.unwrap_or_default(),
                matches!(name, "path" | "ref"),
            );
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        debug_assert!(
            params.next().is_none(),
            "too many parameters for {template}"
        );
        out
    }
}

/// Percent-encodes one path segment (or a file path when `keep_slash`).
fn encode_into(out: &mut String, value: &str, keep_slash: bool) {
    for byte in value.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Builds a query string from pairs, percent-encoding each value.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        encode_into(&mut out, value, false);
    }
    out
}

/// `markPullRequestReadyForReview`: draft → ready exists only in GraphQL.
pub const MARK_READY_FOR_REVIEW: &str = "mutation MarkReady($pullRequestId: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $pullRequestId}) {
    pullRequest { isDraft }
  }
}";

/// `enablePullRequestAutoMerge` with a head guard.
pub const ENABLE_AUTO_MERGE: &str = "mutation EnableAutoMerge($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) {
    pullRequest { autoMergeRequest { enabledAt } }
  }
}";

/// `disablePullRequestAutoMerge`: a head Flotilla did not verify must not merge by a
/// request made for an earlier one.
pub const DISABLE_AUTO_MERGE: &str = "mutation DisableAutoMerge($pullRequestId: ID!) {
  disablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId}) {
    pullRequest { autoMergeRequest { enabledAt } }
  }
}";

/// What decides between auto-merge, a REST merge and waiting.
pub const PULL_MERGE_STATE: &str =
    "query PullMergeState($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      id
      isDraft
      state
      mergeStateStatus
      headRefOid
      autoMergeRequest { enabledAt }
    }
  }
}";

/// Every GraphQL document with its operation name, for conformance tests.
pub fn graphql_documents() -> &'static [(&'static str, &'static str)] {
    &[
        ("MarkReady", MARK_READY_FOR_REVIEW),
        ("EnableAutoMerge", ENABLE_AUTO_MERGE),
        ("DisableAutoMerge", DISABLE_AUTO_MERGE),
        ("PullMergeState", PULL_MERGE_STATE),
    ]
}
