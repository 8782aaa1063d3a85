//! Flotilla's integration tests, one binary: each module is a family of scenarios run
//! against the real router, store and workers.

mod agent;
mod budget;
mod carry;
mod cli;
mod conformance;
mod dashboard_login;
mod demo;
mod doctor;
mod fleet;
mod github_client;
mod github_writes;
mod hostile;
mod intake;
mod land;
mod manifest;
mod observability;
mod plan;
mod protect;
mod queue;
mod real_cli;
mod redact;
mod repo_config;
mod restart;
mod retention;
mod review;
mod sandbox;
mod sandbox_egress;
mod settings;
mod sim_octocrab;
mod sim_rules;
mod sim_world;
mod support;
mod verify;
mod webhook_events;
mod workspace;
