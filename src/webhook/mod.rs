//! Webhook intake: verifying, typing and storing what GitHub sends.
//!
//! Owns the path from HTTP request to stored delivery; it never acts on an event
//! (that is the orchestrator's job, through the queue).

pub mod event;
pub mod extractor;
pub mod recorder;
pub mod recovery;
pub mod route;
pub mod signature;
