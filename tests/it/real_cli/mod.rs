//! The real coding-agent CLIs, at their pinned versions (`tests/agent-clis/`), run in
//! the fleet's sandbox against the scripted model server (`flotilla::sim::model`).

mod claude;
