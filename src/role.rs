//! What one Flotilla process does when several share a database: take webhooks, run
//! jobs, or both (`flotilla serve --role`).

/// The part a `flotilla serve` process plays. Every role serves `/healthz`, `/readyz`
/// and `/metrics`; the database is the only thing the processes share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Takes webhooks and runs jobs: a single process doing everything.
    #[default]
    All,
    /// Takes webhooks (`POST /webhook`) and runs the missed-delivery recovery loop;
    /// runs no job.
    Web,
    /// Runs jobs (events, agents, verification, landing); does not bind `/webhook`.
    Worker,
}

impl Role {
    /// Whether this process serves `POST /webhook` and redelivers missed deliveries.
    pub fn takes_webhooks(self) -> bool {
        matches!(self, Self::All | Self::Web)
    }

    /// Whether this process claims and runs jobs.
    pub fn runs_jobs(self) -> bool {
        matches!(self, Self::All | Self::Worker)
    }
}
