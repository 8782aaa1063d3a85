//! Flotilla: a GitHub App that turns a labelled issue into a fleet of coding agents,
//! each on its own branch, whose changes land only when gates, reviewers and CI hold.
//!
//! Data flows one way: `webhook` (verified intake) → `store` (deliveries and the durable
//! job queue) → `orchestrator` (handlers) → `github` (the only way to talk to GitHub).
//! `server` assembles them; `sim` is a stand-alone GitHub simulator for tests and demos.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod commonmark;
pub mod config;
pub mod cost;
pub mod demo;
pub mod doctor;
pub mod escape;
pub mod github;
mod inherit;
pub mod launch;
pub mod links;
pub mod manifest;
pub mod metrics;
pub mod orchestrator;
pub mod protect;
pub mod redact;
pub mod retention;
pub mod review;
pub mod role;
pub mod sandbox;
pub mod server;
pub mod settings;
pub mod setup;
pub mod sim;
pub mod store;
pub mod types;
pub mod untrusted;
pub mod web;
pub mod webhook;
pub mod workspace;
