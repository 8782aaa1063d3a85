//! What a client cost GitHub, as GitHub's rate limits count it: every API call by route,
//! and among them the content-creating ones ("writes": REST `POST`, `PATCH`, `PUT`,
//! `DELETE`, and GraphQL mutations), which GitHub's secondary limit caps at about 80 a
//! minute and 500 an hour. A GraphQL call is told apart by its operation, so a query
//! sent with `POST /graphql` is the read it is.
//!
//! The counts come from the one middleware that sees every API call (`faults`) and from
//! the GraphQL route, which alone knows what a document asked for.

use std::collections::BTreeMap;
use std::fmt::Write;

use graphql_parser::query::{Definition, OperationDefinition};
use serde::Serialize;

/// The key under which the middleware counts every GraphQL call.
const GRAPHQL_ROUTE: &str = "POST /graphql";

/// API calls by route: REST calls as `METHOD /route/template`, GraphQL calls as
/// `GRAPHQL query <root fields>` or `GRAPHQL mutation <root fields>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Calls per route key.
    pub by_route: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Merges the middleware's per-route counts with the GraphQL operations the GraphQL
    /// route recorded; GraphQL calls it could not read (a document that did not parse)
    /// stay under `POST /graphql`, counted as writes.
    pub(super) fn new(rest: &BTreeMap<String, u64>, graphql: &BTreeMap<String, u64>) -> Self {
        let mut by_route = rest.clone();
        let graphql_calls = by_route.remove(GRAPHQL_ROUTE).unwrap_or(0);
        let read: u64 = graphql.values().sum();
        if graphql_calls > read {
            by_route.insert(GRAPHQL_ROUTE.to_owned(), graphql_calls - read);
        }
        for (operation, count) in graphql {
            *by_route.entry(operation.clone()).or_default() += count;
        }
        Self { by_route }
    }

    /// The calls made after `earlier` was taken.
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        let by_route = self
            .by_route
            .iter()
            .filter_map(|(route, count)| {
                let before = earlier.by_route.get(route).copied().unwrap_or(0);
                (*count > before).then(|| (route.clone(), count - before))
            })
            .collect();
        CallCounts { by_route }
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        self.by_route.values().sum()
    }

    /// The content-creating calls.
    pub fn writes(&self) -> u64 {
        self.by_route
            .iter()
            .filter(|(route, _)| is_write(route))
            .map(|(_, count)| count)
            .sum()
    }

    /// One line per route, writes first, most frequent first: `  12 W POST /repos/…`.
    pub fn breakdown(&self) -> String {
        let mut rows: Vec<(&String, &u64)> = self.by_route.iter().collect();
        rows.sort_by_key(|(route, count)| (!is_write(route), std::cmp::Reverse(**count)));
        let mut out = String::new();
        for (route, count) in rows {
            let kind = if is_write(route) { 'W' } else { 'R' };
            let _ = writeln!(out, "{count:>5} {kind} {route}");
        }
        out
    }
}

/// Whether a route key counts as content-creating.
pub fn is_write(route: &str) -> bool {
    if let Some(operation) = route.strip_prefix("GRAPHQL ") {
        return !operation.starts_with("query");
    }
    !(route.starts_with("GET ") || route.starts_with("HEAD "))
}

/// Whether the body of a `POST /graphql` asks for a mutation (a write). A body that
/// cannot be read as a GraphQL request counts as one, as [`CallCounts`] counts it.
pub(super) fn graphql_body_is_write(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Body {
        query: String,
        #[serde(rename = "operationName", default)]
        operation_name: Option<String>,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return true;
    };
    let Ok(document) = graphql_parser::parse_query::<String>(&body.query) else {
        return true;
    };
    let mut operations = document.definitions.iter().filter_map(|d| match d {
        Definition::Operation(op) => Some(op),
        Definition::Fragment(_) => None,
    });
    let operation = match &body.operation_name {
        Some(name) => operations.find(|op| match op {
            OperationDefinition::Query(q) => q.name.as_deref() == Some(name),
            OperationDefinition::Mutation(m) => m.name.as_deref() == Some(name),
            OperationDefinition::Subscription(s) => s.name.as_deref() == Some(name),
            OperationDefinition::SelectionSet(_) => false,
        }),
        None => operations.next(),
    };
    !matches!(
        operation,
        Some(OperationDefinition::Query(_) | OperationDefinition::SelectionSet(_))
    )
}

/// The key of one GraphQL call: its operation kind and its root fields.
pub(super) fn graphql_key(is_mutation: bool, root_fields: &[&str]) -> String {
    let kind = if is_mutation { "mutation" } else { "query" };
    format!("GRAPHQL {kind} {}", root_fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_queries_are_reads_and_mutations_writes() {
        let rest = BTreeMap::from([
            ("POST /graphql".to_owned(), 3),
            ("GET /repos/{owner}/{repo}".to_owned(), 2),
            (
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}".to_owned(),
                1,
            ),
        ]);
        let graphql = BTreeMap::from([
            (graphql_key(false, &["repository"]), 1),
            (graphql_key(true, &["enablePullRequestAutoMerge"]), 1),
        ]);
        let counts = CallCounts::new(&rest, &graphql);
        assert_eq!(counts.total(), 6);
        assert_eq!(
            counts.writes(),
            3,
            "the mutation, the PATCH and the unreadable document: {counts:?}"
        );
        assert!(!graphql_body_is_write(
            br#"{"query": "query Q { repository(owner: \"o\", name: \"r\") { id } }"}"#
        ));
        assert!(graphql_body_is_write(
            br#"{"query": "mutation { enablePullRequestAutoMerge(input: {}) { clientMutationId } }"}"#
        ));
        assert!(graphql_body_is_write(b"not json"));
        let later = CallCounts::new(
            &BTreeMap::from([("GET /repos/{owner}/{repo}".to_owned(), 5)]),
            &BTreeMap::new(),
        );
        assert_eq!(later.since(&counts).by_route.len(), 1);
        assert_eq!(later.since(&counts).total(), 3);
    }
}
