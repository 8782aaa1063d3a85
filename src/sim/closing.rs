//! GitHub's closing keywords: a pull request merged into the default branch closes the
//! issues its body names with `close`, `closes`, `closed`, `fix`, `fixes`, `fixed`,
//! `resolve`, `resolves` or `resolved` (any case, optional colon) followed by `#N`,
//! `owner/repo#N` or the issue's URL. References inside code are not read, as on GitHub.

use std::sync::LazyLock;

use regex::Regex;

use crate::types::RepoName;

/// A keyword and the reference after it.
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?[ \t]+(?:(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#(?P<n>[0-9]+)|https?://[^/\s]+/(?P<url_repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/issues/(?P<url_n>[0-9]+))\b",
    )
    .expect("the closing keyword pattern is valid")
});

/// Backtick code spans on one line.
static CODE_SPAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`[^`\n]*`").expect("the code span pattern is valid"));

/// The numbers of the issues of `repo` that `body` closes.
pub fn closed_issues(body: &str, repo: &RepoName) -> Vec<u64> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            prose.push_str(&CODE_SPAN.replace_all(line, ""));
            prose.push('\n');
        }
    }
    let mut numbers: Vec<u64> = CLOSING
        .captures_iter(&prose)
        .filter_map(|caps| {
            let named = caps.name("repo").or_else(|| caps.name("url_repo"));
            if named.is_some_and(|r| !r.as_str().eq_ignore_ascii_case(&repo.0)) {
                return None;
            }
            caps.name("n")
                .or_else(|| caps.name("url_n"))?
                .as_str()
                .parse()
                .ok()
        })
        .collect();
    numbers.dedup();
    numbers
}

#[cfg(test)]
mod tests {
    use super::closed_issues;
    use crate::types::RepoName;

    #[test]
    fn keywords_close_references_of_this_repository_outside_code() {
        let repo = RepoName("acme/widgets".to_owned());
        let body = "Closes #1, fixes: #2\nResolved acme/widgets#3 and fixes other/repo#4\n\
                    closed https://github.com/acme/widgets/issues/5\n`fixes #6`\n```\nfixes #7\n```\n\
                    Part of #8; closes #\u{200B}9; closes\u{200B} #10";

        assert_eq!(closed_issues(body, &repo), vec![1, 2, 3, 5]);
    }
}
