//! Links from GitHub to the dashboard: the absolute URLs of its pages, built in one place
//! so that what Flotilla writes on GitHub (check runs' `details_url`, the plan comment's
//! "Dashboard" link) and the paths the dashboard serves cannot drift apart.
//!
//! It only builds URLs: whether a viewer may open them is the dashboard's business.
//! [`paths`] are the pages' paths, which the dashboard's router and its pages' own links
//! use too.

use crate::store::RunId;
use crate::types::CommitSha;

/// The dashboard's paths, relative to its root.
pub mod paths {
    use crate::store::RunId;
    use crate::types::CommitSha;

    /// Every run the viewer may see.
    pub const RUNS: &str = "/runs";
    /// The queue.
    pub const QUEUE: &str = "/queue";

    /// A run's page.
    pub fn run(run: RunId) -> String {
        format!("/runs/{run}")
    }

    /// A worker attempt's page.
    pub fn attempt(run: RunId, position: i64, attempt: u32) -> String {
        format!("/runs/{run}/tasks/{position}/attempts/{attempt}")
    }

    /// The page of a task head's verification.
    pub fn verification(run: RunId, position: i64, head: &CommitSha) -> String {
        format!("/runs/{run}/tasks/{position}/verifications/{head}")
    }
}

/// The dashboard's public root, and the page of each thing Flotilla reports on GitHub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardLinks {
    base: String,
}

impl DashboardLinks {
    /// Links under `base`, the dashboard's public URL (`FLOTILLA_PUBLIC_URL`); a
    /// trailing slash is dropped.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// A run: its plan, tasks and timeline.
    pub fn run(&self, run: RunId) -> String {
        format!("{}{}", self.base, paths::run(run))
    }

    /// One attempt (1-based `n`) of the task at `position` in a run.
    pub fn attempt(&self, run: RunId, position: i64, n: u32) -> String {
        format!("{}{}", self.base, paths::attempt(run, position, n))
    }

    /// The verification of one head of the task at `position` in a run: what
    /// `flotilla/verify` on that head links to.
    pub fn verification(&self, run: RunId, position: i64, head: &CommitSha) -> String {
        format!("{}{}", self.base, paths::verification(run, position, head))
    }

    /// The job queue, agents and merge locks of the whole fleet.
    pub fn queue(&self) -> String {
        format!("{}{}", self.base, paths::QUEUE)
    }
}

#[cfg(test)]
mod tests {
    use super::DashboardLinks;
    use crate::store::RunId;
    use crate::types::CommitSha;

    #[test]
    fn every_page_hangs_off_the_public_url() {
        let links = DashboardLinks::new("https://flotilla.example/");
        let sha = CommitSha("0123abc".to_owned());
        assert_eq!(links.run(RunId(4)), "https://flotilla.example/runs/4");
        assert_eq!(
            links.attempt(RunId(4), 2, 3),
            "https://flotilla.example/runs/4/tasks/2/attempts/3"
        );
        assert_eq!(
            links.verification(RunId(4), 2, &sha),
            "https://flotilla.example/runs/4/tasks/2/verifications/0123abc"
        );
        assert_eq!(links.queue(), "https://flotilla.example/queue");
    }
}
