//! How times, durations and GitHub links read on the dashboard's pages.

use crate::clock::Millis;
use crate::store::RunRecord;

use super::timeline::short_duration;

/// "12s ago", "3m ago", "2h05m ago".
pub fn age(then: Millis, now: Millis) -> String {
    format!("{} ago", short_duration((now - then).max(0)))
}

/// A step's or run's length, or "running" while it has no end.
pub fn duration(start: Millis, end: Option<Millis>) -> String {
    match end {
        Some(end) => short_duration((end - start).max(0)),
        None => "running".to_owned(),
    }
}

/// The repository's web page (its clone URL without `.git`), on GitHub, GHES or the
/// simulator alike.
pub fn repo_url(run: &RunRecord) -> String {
    run.spec
        .clone_url
        .strip_suffix(".git")
        .unwrap_or(&run.spec.clone_url)
        .to_owned()
}
