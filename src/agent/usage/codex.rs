//! Usage in `codex exec --json` events.
//!
//! Codex reports usage once per turn, in `{"type": "turn.completed", "usage":
//! {"input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens",
//! "reasoning_output_tokens"}}`. The figures are the thread's running total (Codex
//! 0.171.0 fills them from its total token usage, not the last turn's), so each event
//! replaces what was read before instead of adding to it. As in OpenAI's API,
//! `input_tokens` includes the cached and cache-written input and `output_tokens`
//! includes reasoning, so uncached input is what remains after the other two and
//! reasoning is not added again. The events name no model: the reader is given the
//! model the adapter asked for (`""` when it asked for none).

use serde::Deserialize;

use super::{Tokens, Usage};

/// The running usage of one Codex run.
#[derive(Debug)]
pub struct CodexUsage {
    model: String,
    usage: Usage,
}

/// One `turn.completed` event, as far as usage goes.
#[derive(Deserialize)]
struct TurnCompleted {
    #[serde(rename = "type")]
    kind: String,
    usage: EventUsage,
}

/// The `usage` object of a `turn.completed` event.
#[derive(Deserialize)]
struct EventUsage {
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
    output_tokens: u64,
}

impl CodexUsage {
    /// A reader for a run of `model` (`""` when the CLI chose it).
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            usage: Usage::default(),
        }
    }

    /// Takes one stdout line; returns whether the usage changed.
    pub fn line(&mut self, line: &str) -> bool {
        let Ok(event) = serde_json::from_str::<TurnCompleted>(line) else {
            return false;
        };
        if event.kind != "turn.completed" {
            return false;
        }
        let usage = event.usage;
        let tokens = Tokens {
            input: usage
                .input_tokens
                .saturating_sub(usage.cached_input_tokens)
                .saturating_sub(usage.cache_write_input_tokens),
            output: usage.output_tokens,
            cache_read: usage.cached_input_tokens,
            cache_write: usage.cache_write_input_tokens,
        };
        let before = self.usage.by_model.insert(self.model.clone(), tokens);
        before != Some(tokens)
    }

    /// The usage read so far.
    pub fn usage(&self) -> Usage {
        self.usage.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(reader: &CodexUsage) -> Tokens {
        reader.usage().tokens()
    }

    #[test]
    fn cached_input_is_counted_once_as_cache_read() {
        let mut reader = CodexUsage::new("gpt-5-codex");
        assert!(reader.line(
            r#"{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":80,"cache_write_input_tokens":0,"output_tokens":14,"reasoning_output_tokens":4}}"#
        ));
        assert_eq!(
            tokens(&reader),
            Tokens {
                input: 220,
                output: 14,
                cache_read: 80,
                cache_write: 0
            }
        );
        assert_eq!(
            reader.usage().by_model.keys().collect::<Vec<_>>(),
            ["gpt-5-codex"]
        );
    }

    #[test]
    fn a_later_turn_replaces_the_running_total() {
        let mut reader = CodexUsage::new("");
        let turn = |input: u64| {
            format!(
                r#"{{"type":"turn.completed","usage":{{"input_tokens":{input},"cached_input_tokens":10,"output_tokens":5}}}}"#
            )
        };
        assert!(reader.line(&turn(100)));
        assert!(reader.line(&turn(250)));
        assert!(!reader.line(&turn(250)));
        assert_eq!(tokens(&reader).input, 240);
    }

    #[test]
    fn other_events_and_noise_change_nothing() {
        let mut reader = CodexUsage::new("");
        for line in [
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"{\"type\":\"turn.completed\"}"}}"#,
            r#"{"type":"turn.failed","error":{"message":"boom"}}"#,
            "not json",
        ] {
            assert!(!reader.line(line));
        }
        assert!(reader.usage().is_empty());
    }
}
