//! The real coding-agent CLIs, at the versions pinned in `tests/agent-clis`, run by
//! Flotilla in its sandbox against the scripted model server (`flotilla::sim::model`):
//! their flags, their tools editing files, their answers, their failures and the usage
//! they report, end to end. One module per CLI.

mod claude;
mod codex;
