//! Flotilla's integration tests, one binary: each module is a family of scenarios run
//! against the real router, store and workers.

mod cli;
mod github_client;
mod intake;
mod manifest;
mod queue;
mod support;
mod webhook_events;
