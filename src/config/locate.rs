//! Finding where the key or list item a validation error is about is written, from the
//! YAML parser's own spans.
//!
//! The parser locates syntax and schema errors itself; rules checked after parsing
//! (`max_parallel_tasks` ≤ `max_tasks`, say) only know the field's path. For such an
//! error this module has serde-saphyr read the file into a tree of [`Spanned`] keys and
//! values and takes the path's position from it, so block and flow style
//! (`worker: {time_limit: 5m}`, `pass_env: [A, B]`), quoted keys, anchors, aliases and
//! `<<` merges are located as the parser saw them. A key or item reached through an
//! alias or a merge is located where it is used (the alias), not where the anchor
//! defines it. When the path is not written (a default applies), the error has no line.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, NonFiniteFloatPolicy, Spanned};

use super::ConfigError;

/// An error about the key at `path` (`["worker", "time_limit"]`), located at that key.
pub(super) fn error_at(text: &str, path: &[&str], message: String) -> ConfigError {
    let tree = parse_tree(text);
    let key = tree
        .as_ref()
        .and_then(|root| entry(root, path))
        .map(|(key, _)| key);
    located(key.map(|key| &key.referenced), message)
}

/// An error about item `index` of the list at `path` (`["worker", "pass_env"]`),
/// located at that item, or at the list's key when the item cannot be found.
pub(super) fn item_error_at(
    text: &str,
    path: &[&str],
    index: usize,
    message: String,
) -> ConfigError {
    let tree = parse_tree(text);
    let Some((key, value)) = tree.as_ref().and_then(|root| entry(root, path)) else {
        return located(None, message);
    };
    let item = match &value.value {
        Node::Sequence(items) => items.get(index),
        _ => None,
    };
    located(
        Some(item.map_or(&key.referenced, |item| &item.referenced)),
        message,
    )
}

/// Whether the text holds nothing but blank lines, comments and document markers.
pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// The 1-based line holding byte `offset`.
pub(super) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// One YAML node as the parser read it; only its shape and the spans of its keys and
/// children are kept, never scalar values.
enum Node {
    /// A block or flow mapping, merged keys included, in the order the parser gave them.
    Mapping(Vec<(Spanned<String>, Spanned<Node>)>),
    /// A block or flow sequence.
    Sequence(Vec<Spanned<Node>>),
    /// Any scalar, null included.
    Scalar,
}

/// The file as a tree of spanned nodes; `None` when it cannot be read as one (a
/// mapping key that is not a scalar, say), in which case errors go without a line.
fn parse_tree(text: &str) -> Option<Spanned<Node>> {
    let options = serde_saphyr::options! {
        non_finite_float_policy: NonFiniteFloatPolicy::AsString,
    };
    serde_saphyr::from_str_with_options(text, options).ok()
}

/// The key and value of the entry at `path`, each key looked up in the mapping under
/// the previous one.
fn entry<'a>(
    root: &'a Spanned<Node>,
    path: &[&str],
) -> Option<&'a (Spanned<String>, Spanned<Node>)> {
    let (last, parents) = path.split_last()?;
    let mut node = root;
    for key in parents {
        node = &child(node, key)?.1;
    }
    child(node, last)
}

/// The entry `key` of `node`, when `node` is a mapping that has it.
fn child<'a>(node: &'a Spanned<Node>, key: &str) -> Option<&'a (Spanned<String>, Spanned<Node>)> {
    match &node.value {
        Node::Mapping(entries) => entries.iter().find(|(name, _)| name.value == key),
        _ => None,
    }
}

/// A [`ConfigError`] at `location`, with neither line nor column when it is unknown.
fn located(location: Option<&Location>, message: String) -> ConfigError {
    let position = location
        .filter(|location| location.line() > 0)
        .map(|location| (location.line() as usize, location.column() as usize));
    ConfigError {
        line: position.map(|(line, _)| line),
        column: position.map(|(_, column)| column),
        message,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Reads any YAML node into a [`Node`].
struct NodeVisitor;

/// The visits of every kind of scalar: a scalar is a leaf, whatever its type (serde
/// forwards the narrower numbers, chars and owned strings to these).
macro_rules! visit_scalars {
    ($($visit:ident($($value:ty)?)),* $(,)?) => {
        $(
            fn $visit<E>(self $(, _: $value)?) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        )*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML node")
    }

    visit_scalars!(
        visit_bool(bool),
        visit_i64(i64),
        visit_i128(i128),
        visit_u64(u64),
        visit_u128(u128),
        visit_f64(f64),
        visit_str(&str),
        visit_bytes(&[u8]),
        visit_unit(),
        visit_none(),
    );

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Mapping(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line and column of the error `error_at` gives for `path` in `text`.
    fn key_at(text: &str, path: &[&str]) -> (Option<usize>, Option<usize>) {
        let error = error_at(text, path, String::new());
        (error.line, error.column)
    }

    /// Line and column of the error `item_error_at` gives for item `index` at `path`.
    fn item_at(text: &str, path: &[&str], index: usize) -> (Option<usize>, Option<usize>) {
        let error = item_error_at(text, path, index, String::new());
        (error.line, error.column)
    }

    #[test]
    fn keys_are_located_in_block_and_flow_mappings() {
        let text = "# settings\nmax_tasks: 2\nworker:\n  adapter: codex\nplanner: {model: x, time_limit: 5m}\n";
        assert_eq!(key_at(text, &["max_tasks"]), (Some(2), Some(1)));
        assert_eq!(key_at(text, &["worker", "adapter"]), (Some(4), Some(3)));
        assert_eq!(
            key_at(text, &["planner", "time_limit"]),
            (Some(5), Some(21))
        );
    }

    #[test]
    fn quoted_keys_and_multi_line_flow_mappings_are_located() {
        let text = "\"worker\": {\n  'model': x,\n  pass_env: [A]}\n";
        assert_eq!(key_at(text, &["worker", "model"]), (Some(2), Some(3)));
        assert_eq!(key_at(text, &["worker", "pass_env"]), (Some(3), Some(3)));
    }

    #[test]
    fn list_items_are_located_in_block_and_flow_lists() {
        let text = "worker:\n  pass_env:\n    - A\n    - B\nplanner:\n  pass_env: [A,\n    B]\n";
        assert_eq!(
            item_at(text, &["worker", "pass_env"], 1),
            (Some(4), Some(7))
        );
        assert_eq!(
            item_at(text, &["planner", "pass_env"], 0),
            (Some(6), Some(14))
        );
        assert_eq!(
            item_at(text, &["planner", "pass_env"], 1),
            (Some(7), Some(5))
        );
        assert_eq!(
            item_at(text, &["planner", "pass_env"], 5),
            (Some(6), Some(3)),
            "a missing item falls back to the list's key"
        );
    }

    #[test]
    fn values_reached_through_an_alias_or_a_merge_are_located_where_used() {
        let text = "worker: &agent\n  adapter: codex\n  pass_env: [A]\nplanner: *agent\nreviewers:\n  runs:\n    <<: *agent\n    model: x\n";
        assert_eq!(key_at(text, &["worker", "adapter"]), (Some(2), Some(3)));
        assert_eq!(key_at(text, &["planner", "adapter"]), (Some(4), Some(10)));
        assert_eq!(
            item_at(text, &["planner", "pass_env"], 0),
            (Some(4), Some(10))
        );
        assert_eq!(
            key_at(text, &["reviewers", "runs", "adapter"]),
            (Some(7), Some(9))
        );
        assert_eq!(
            key_at(text, &["reviewers", "runs", "model"]),
            (Some(8), Some(5))
        );
    }

    #[test]
    fn paths_that_are_not_written_have_no_position() {
        let text = "worker:\n  adapter: codex\nmodel: .nan\n";
        assert_eq!(key_at(text, &["planner", "adapter"]), (None, None));
        assert_eq!(key_at(text, &["worker", "adapter", "x"]), (None, None));
        assert_eq!(key_at(text, &[]), (None, None));
        assert_eq!(key_at(text, &["model"]), (Some(3), Some(1)));
        assert_eq!(key_at("worker: [unclosed\n", &["worker"]), (None, None));
    }

    #[test]
    fn blank_files_and_byte_offsets() {
        assert!(is_blank("# only\n---\n\n...\n"));
        assert!(!is_blank("max_tasks: 2\n"));
        assert_eq!(line_of_offset(b"a\nb\nc", 4), 3);
        assert_eq!(line_of_offset(b"a\n", 99), 2);
    }
}
