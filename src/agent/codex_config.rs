//! Codex CLI settings from an agent's `codex:` section, passed to `codex exec` as
//! `-c key=value` overrides: how a maintainer points Codex at a model provider (its
//! `base_url`, the variable holding its key) without a `config.toml` in the agent's
//! home, which is a fresh, private directory on every attempt.
//!
//! This module owns the section's shape, its rendering into Codex's override syntax
//! (a dotted key, `=`, a TOML value) and the keys Flotilla sets itself and so refuses.
//! It does not know which keys Codex accepts: `codex exec --strict-config` rejects an
//! unknown one when the agent starts.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Keys `codex exec` gets from Flotilla's adapter, which a repository may not override:
/// what the model is (`model:`), how Codex's own sandbox and approvals behave (Flotilla's
/// sandbox confines it instead) and the switches that keep it from phoning home.
pub const SET_BY_FLOTILLA: &[&str] = &[
    "model",
    "sandbox_mode",
    "approval_policy",
    "analytics.enabled",
    "features.plugins",
];

/// One value of the `codex:` section, as TOML can write it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CodexValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A string.
    Text(String),
    /// An array.
    List(Vec<CodexValue>),
    /// A table: nested keys (`model_providers: {sim: {base_url: ...}}`).
    Table(BTreeMap<String, CodexValue>),
}

/// The `codex:` section of an agent: Codex config keys and their values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct CodexConfig(pub BTreeMap<String, CodexValue>);

impl CodexConfig {
    /// Whether the section is empty (or absent).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One `key=value` override per leaf, tables flattened into dotted keys, in key
    /// order: the arguments that follow each `-c`.
    pub fn overrides(&self) -> Vec<String> {
        self.leaves()
            .into_iter()
            .map(|(key, value)| format!("{key}={}", toml_value(value)))
            .collect()
    }

    /// Checks every key: dotted segments of letters, digits, `_` and `-` (what Codex's
    /// override syntax can name), none set by Flotilla. `Err` says which and why.
    pub fn check(&self) -> Result<(), String> {
        for (key, _) in self.leaves() {
            let bare = |segment: &str| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            if !key.split('.').all(bare) {
                return Err(format!(
                    "`{key}` is not a Codex config key: use letters, digits, `_` and `-` between dots"
                ));
            }
            if SET_BY_FLOTILLA.contains(&key.as_str()) {
                return Err(format!(
                    "`{key}` is set by Flotilla's Codex adapter and cannot be overridden"
                ));
            }
        }
        Ok(())
    }

    /// Every non-table value with its full dotted key.
    fn leaves(&self) -> Vec<(String, &CodexValue)> {
        let mut leaves = Vec::new();
        let mut pending: Vec<(String, &CodexValue)> =
            self.0.iter().map(|(k, v)| (k.clone(), v)).rev().collect();
        while let Some((key, value)) = pending.pop() {
            match value {
                CodexValue::Table(table) => pending.extend(
                    table
                        .iter()
                        .rev()
                        .map(|(inner, value)| (format!("{key}.{inner}"), value)),
                ),
                leaf => leaves.push((key, leaf)),
            }
        }
        leaves
    }
}

/// `value` written as a TOML value (tables inside arrays as inline tables).
fn toml_value(value: &CodexValue) -> String {
    match value {
        CodexValue::Bool(b) => b.to_string(),
        CodexValue::Integer(n) => n.to_string(),
        CodexValue::Text(text) => toml_string(text),
        CodexValue::List(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        CodexValue::Table(table) => format!(
            "{{{}}}",
            table
                .iter()
                .map(|(key, value)| format!("{} = {}", toml_string(key), toml_value(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, CodexValue)]) -> CodexConfig {
        CodexConfig(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn text(value: &str) -> CodexValue {
        CodexValue::Text(value.to_owned())
    }

    #[test]
    fn nested_tables_become_dotted_overrides_with_toml_values() {
        let provider = CodexValue::Table(BTreeMap::from([
            ("base_url".to_owned(), text("http://127.0.0.1:9/v1")),
            ("request_max_retries".to_owned(), CodexValue::Integer(1)),
        ]));
        let config = config(&[
            ("model_provider", text("sim")),
            (
                "model_providers",
                CodexValue::Table(BTreeMap::from([("sim".to_owned(), provider)])),
            ),
            (
                "notify",
                CodexValue::List(vec![text("a\"b"), CodexValue::Bool(false)]),
            ),
        ]);
        assert_eq!(
            config.overrides(),
            [
                r#"model_provider="sim""#,
                r#"model_providers.sim.base_url="http://127.0.0.1:9/v1""#,
                "model_providers.sim.request_max_retries=1",
                r#"notify=["a\"b", false]"#,
            ]
        );
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn keys_flotilla_sets_or_codex_cannot_name_are_refused() {
        let analytics = CodexValue::Table(BTreeMap::from([(
            "enabled".to_owned(),
            CodexValue::Bool(true),
        )]));
        let refused = config(&[("analytics", analytics)]).check().unwrap_err();
        assert!(refused.contains("analytics.enabled"), "{refused}");
        let refused = config(&[("sandbox_mode", text("workspace-write"))])
            .check()
            .unwrap_err();
        assert!(refused.contains("set by Flotilla"), "{refused}");
        let refused = config(&[("a b", CodexValue::Bool(true))])
            .check()
            .unwrap_err();
        assert!(refused.contains("not a Codex config key"), "{refused}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(toml_string("a\u{1}\\"), r#""a\u0001\\""#);
    }
}
