//! The scripted conversations a model server plays: which conversation a request
//! belongs to, which turn of it to answer, and the token usage each answer reports.
//!
//! The script is API-neutral (a turn says "write this file", not "call `Write`"); each
//! API module maps it onto the tools the request offers. The server stays stateless
//! about conversations: a request belongs to the first conversation whose `match` text
//! is in its first user message, and its step is the number of assistant turns already
//! in the request. Only fault counts are state ("answer 529 twice, then go on").

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A whole script: the conversations the server knows, and what it answers otherwise.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Conversations, tried in order; the first whose `match` fits wins.
    #[serde(default)]
    pub conversations: Vec<Conversation>,
    /// What a request that matches no conversation gets (a CLI's side requests for
    /// titles or quota checks): a short text with this usage.
    #[serde(default)]
    pub unmatched: Unmatched,
}

/// One scripted conversation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// A name for logs and the request record.
    pub name: String,
    /// Text the conversation's first user message contains.
    #[serde(rename = "match")]
    pub matches: String,
    /// The turns, in order. Faults answer before the next non-fault turn and do not
    /// count as assistant turns.
    pub turns: Vec<Turn>,
}

/// One scripted answer, or a fault before one.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// What the model does.
    #[serde(flatten)]
    pub action: Action,
    /// The usage this answer reports (faults report none).
    #[serde(default)]
    pub usage: ScriptUsage,
}

/// What one turn of the model does, independent of the API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Writes a whole file (a path relative to the agent's working directory).
    Write {
        /// Relative path.
        path: String,
        /// The file's new content.
        content: String,
    },
    /// Replaces text in a file.
    Edit {
        /// Relative path.
        path: String,
        /// Text to find (exactly once).
        old: String,
        /// Its replacement.
        new: String,
    },
    /// Runs a shell command.
    Run(String),
    /// Ends the conversation with a final text message.
    Say(String),
    /// Ends the conversation with a final message made of this text, a line break and
    /// what the last tool call printed: a model answering from the evidence its own
    /// command produced (a reviewer relaying a check's verdict), which a fixed `say`
    /// cannot do when the answer depends on the tree it ran in.
    Relay(String),
    /// Answers with an HTTP fault instead of a turn.
    Fault(FaultSpec),
}

/// An HTTP fault and how often to answer with it.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Which fault.
    pub kind: FaultKind,
    /// How many requests get it before the conversation goes on; absent = always.
    #[serde(default)]
    pub times: Option<u32>,
}

/// The faults a model API answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 500 `api_error`.
    ServerError,
    /// HTTP 429 `rate_limit_error` with `retry-after`.
    RateLimited,
    /// HTTP 529 `overloaded_error` (Anthropic's).
    Overloaded,
}

impl FaultKind {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            FaultKind::ServerError => 500,
            FaultKind::RateLimited => 429,
            FaultKind::Overloaded => 529,
        }
    }

    /// The error `type` in the API's error body.
    pub fn error_type(self) -> &'static str {
        match self {
            FaultKind::ServerError => "api_error",
            FaultKind::RateLimited => "rate_limit_error",
            FaultKind::Overloaded => "overloaded_error",
        }
    }
}

/// The answer to an unmatched request.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unmatched {
    /// The text.
    #[serde(default = "default_unmatched_text")]
    pub text: String,
    /// Its usage.
    #[serde(default = "default_unmatched_usage")]
    pub usage: ScriptUsage,
}

impl Default for Unmatched {
    fn default() -> Self {
        Self {
            text: default_unmatched_text(),
            usage: default_unmatched_usage(),
        }
    }
}

fn default_unmatched_text() -> String {
    "OK".to_owned()
}

fn default_unmatched_usage() -> ScriptUsage {
    ScriptUsage {
        input: 12,
        output: 3,
        cache_read: 0,
        cache_write: 0,
    }
}

/// Tokens one answer reports, in the four kinds both APIs distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptUsage {
    /// Input tokens not read from the cache.
    #[serde(default)]
    pub input: u64,
    /// Output tokens.
    #[serde(default)]
    pub output: u64,
    /// Input tokens read from the cache.
    #[serde(default)]
    pub cache_read: u64,
    /// Input tokens written to the cache.
    #[serde(default)]
    pub cache_write: u64,
}

impl Default for ScriptUsage {
    /// A plausible small turn, so a script need not spell usage out.
    fn default() -> Self {
        Self {
            input: 1200,
            output: 80,
            cache_read: 3000,
            cache_write: 400,
        }
    }
}

impl ScriptUsage {
    /// No tokens.
    pub const ZERO: ScriptUsage = ScriptUsage {
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
    };
}

impl std::ops::AddAssign for ScriptUsage {
    fn add_assign(&mut self, other: Self) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

impl Script {
    /// Reads a YAML script file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading model script {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("parsing model script {}", path.display()))
    }

    /// Parses a YAML script.
    pub fn from_yaml(text: &str) -> anyhow::Result<Self> {
        Ok(serde_saphyr::from_str(text)?)
    }
}

/// Where a request is in the script, and what to answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A scripted turn of conversation `conversation` at assistant step `step`.
    Turn {
        /// The conversation's name.
        conversation: String,
        /// Assistant turns already in the request.
        step: usize,
        /// What to do.
        action: Action,
        /// Usage to report.
        usage: ScriptUsage,
    },
    /// A fault instead of the turn.
    Fault {
        /// The conversation's name.
        conversation: String,
        /// Assistant turns already in the request.
        step: usize,
        /// Which fault.
        kind: FaultKind,
    },
    /// No conversation matched, or the conversation ran out of turns: a short text.
    Generic {
        /// The conversation's name when one matched.
        conversation: Option<String>,
        /// The text.
        text: String,
        /// Usage to report.
        usage: ScriptUsage,
    },
}

/// Plays a script: resolves requests to replies, counting faults already answered.
#[derive(Debug)]
pub struct Player {
    script: Script,
    /// Faults answered per (conversation index, turn index).
    faults: Mutex<HashMap<(usize, usize), u32>>,
}

impl Player {
    /// A player at the start of every fault count.
    pub fn new(script: Script) -> Self {
        Self {
            script,
            faults: Mutex::new(HashMap::new()),
        }
    }

    /// The reply to a request whose first user message is `first_user` and that
    /// already holds `step` assistant turns.
    pub fn reply(&self, first_user: &str, step: usize) -> Reply {
        let found = self
            .script
            .conversations
            .iter()
            .enumerate()
            .find(|(_, c)| first_user.contains(&c.matches));
        let Some((index, conversation)) = found else {
            return Reply::Generic {
                conversation: None,
                text: self.script.unmatched.text.clone(),
                usage: self.script.unmatched.usage,
            };
        };
        let mut answered = 0;
        for (turn_index, turn) in conversation.turns.iter().enumerate() {
            if let Action::Fault(fault) = &turn.action {
                if answered == step && self.take_fault(index, turn_index, fault) {
                    return Reply::Fault {
                        conversation: conversation.name.clone(),
                        step,
                        kind: fault.kind,
                    };
                }
                continue;
            }
            if answered == step {
                return Reply::Turn {
                    conversation: conversation.name.clone(),
                    step,
                    action: turn.action.clone(),
                    usage: turn.usage,
                };
            }
            answered += 1;
        }
        Reply::Generic {
            conversation: Some(conversation.name.clone()),
            text: self.script.unmatched.text.clone(),
            usage: self.script.unmatched.usage,
        }
    }

    /// Whether this fault still answers (and counts it).
    fn take_fault(&self, conversation: usize, turn: usize, fault: &FaultSpec) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let count = faults.entry((conversation, turn)).or_insert(0);
        match fault.times {
            Some(times) if *count >= times => false,
            _ => {
                *count += 1;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
conversations:
  - name: worker
    match: "Add a greeting"
    turns:
      - fault: { kind: overloaded, times: 2 }
      - write: { path: hello.txt, content: "hi\n" }
        usage: { input: 10, output: 2 }
      - say: "Done."
"#;

    #[test]
    fn a_fault_answers_its_count_then_the_turn_behind_it() {
        let player = Player::new(Script::from_yaml(SCRIPT).unwrap());
        for _ in 0..2 {
            assert!(matches!(
                player.reply("please Add a greeting", 0),
                Reply::Fault {
                    kind: FaultKind::Overloaded,
                    ..
                }
            ));
        }
        let Reply::Turn { action, usage, .. } = player.reply("please Add a greeting", 0) else {
            panic!("expected the write turn");
        };
        assert!(matches!(action, Action::Write { ref path, .. } if path == "hello.txt"));
        assert_eq!(usage.input, 10);
        assert!(matches!(
            player.reply("please Add a greeting", 1),
            Reply::Turn {
                action: Action::Say(_),
                ..
            }
        ));
    }

    #[test]
    fn requests_outside_every_conversation_get_the_generic_answer() {
        let player = Player::new(Script::from_yaml(SCRIPT).unwrap());
        assert!(matches!(
            player.reply("Write a title for this session", 0),
            Reply::Generic {
                conversation: None,
                ..
            }
        ));
        assert!(matches!(
            player.reply("Add a greeting", 5),
            Reply::Generic {
                conversation: Some(_),
                ..
            }
        ));
    }
}
