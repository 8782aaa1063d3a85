//! The pull request review a lens posts: its verdict, its findings as inline comments
//! where the diff allows and listed otherwise, and the hidden marker that finds it again.

use std::fmt::Write;

use super::findings::{badge, decision_mark, decision_word, items};
use super::markdown::{code, count, escape, escape_line, fit, marker_word, quote};
use crate::github::{ReviewComment, ReviewSide};
use crate::review::diff::Diff;
use crate::review::{Decision, Verdict, lens_check};
use crate::types::CommitSha;

/// A lens's review of one head commit, ready to post as a PR review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewDraft {
    /// The review's body, starting with [`review_marker`].
    pub body: String,
    /// Findings on lines of the diff, as inline comments.
    pub comments: Vec<ReviewComment>,
}

/// The hidden first line of a lens's review, so a review already posted for this lens
/// and head is found instead of posted twice.
pub fn review_marker(lens: &str, sha: &str) -> String {
    format!(
        "<!-- flotilla:review lens={} sha={} -->",
        marker_word(lens),
        marker_word(sha)
    )
}

/// A lens's verdict as a PR review: findings on commentable lines of the diff become
/// inline comments (at most `inline_cap`), every other finding is listed in the body.
pub fn review(
    lens: &str,
    sha: &CommitSha,
    verdict: &Verdict,
    diff: &Diff,
    inline_cap: usize,
) -> ReviewDraft {
    let mut comments = Vec::new();
    let mut listed = Vec::new();
    for finding in &verdict.findings {
        match (&finding.path, finding.line) {
            (Some(path), Some(line))
                if comments.len() < inline_cap && diff.commentable(path, line) =>
            {
                comments.push(ReviewComment {
                    path: path.clone(),
                    line,
                    side: ReviewSide::Right,
                    body: fit(format!(
                        "{} · {}\n\n{}",
                        badge(finding.severity),
                        escape_line(&lens_check(lens)),
                        escape(&finding.message, false)
                    )),
                });
            }
            _ => listed.push(finding),
        }
    }
    let mut body = review_marker(lens, &sha.0);
    let _ = write!(
        body,
        "\n### {} {}: {}\n\n",
        decision_mark(verdict.decision),
        escape_line(&lens_check(lens)),
        decision_word(verdict.decision)
    );
    let _ = writeln!(
        body,
        "The {} reviewer {} commit {}.\n",
        escape_line(lens),
        match verdict.decision {
            Decision::Upheld => "tried and could not refute",
            Decision::Refuted => "refuted",
        },
        code(&sha.0)
    );
    let _ = writeln!(body, "{}\n", quote(&verdict.summary));
    if !comments.is_empty() {
        let _ = writeln!(
            body,
            "{} on lines of the diff {}.\n",
            count(comments.len(), "finding", "findings"),
            if comments.len() == 1 {
                "is an inline comment"
            } else {
                "are inline comments"
            }
        );
    }
    if !listed.is_empty() {
        let heading = if comments.is_empty() {
            "Findings"
        } else {
            "Other findings"
        };
        let _ = writeln!(body, "#### {heading}\n\n{}", items(listed));
    }
    ReviewDraft {
        body: fit(body.trim_end().to_owned()),
        comments,
    }
}
