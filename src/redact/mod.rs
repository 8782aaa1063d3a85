//! The one layer every text an agent wrote passes through before Flotilla publishes it:
//! pull request bodies, issue and pull request comments, reviews and their inline
//! comments, check-run outputs.
//!
//! Threat: workers, planners, reviewers and the code they run are hostile, and Flotilla
//! reposts their words under the App's name. Unfiltered, that text could publish a
//! credential (Flotilla's own installation token or webhook secret, or one the change
//! exposed), plain or base64/hex encoded to slip past a pattern; notify people
//! (`@name`); close issues when the pull request merges (`Closes #1`); or carry a forged
//! `<!-- flotilla:… -->` marker that makes Flotilla believe it already posted a comment.
//! [`Redactor::text`] replaces every credential with `[redacted: <kind>]`, repeating
//! none of it, and neutralises mentions, closing keywords and comments
//! (`references`). This module only transforms text; callers decide what to publish.

mod encoded;
mod known;
mod references;

pub use known::{KnownSecrets, MIN_KNOWN_LEN, SecretKind};

use std::ops::Range;

use secrecy::{ExposeSecret, SecretString};

use crate::agent::result::strip_ansi;
use crate::review::{Finding, GateResult, Verdict, secrets};
use crate::untrusted::is_invisible;

/// How many times decoded text is searched for further encoded runs (base64 of hex of a
/// token is still found; deeper nesting is not worth the work).
const DECODE_DEPTH: usize = 2;

/// Redacts agent text against the patterns of `review::secrets` and a snapshot of the
/// values Flotilla holds (from [`KnownSecrets::redactor`]).
pub struct Redactor {
    known: Vec<(SecretKind, SecretString)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("known", &self.known.len())
            .finish()
    }
}

impl Redactor {
    fn new(known: Vec<(SecretKind, SecretString)>) -> Self {
        Self { known }
    }

    /// Agent text made safe to publish: terminal escapes and invisible characters
    /// removed (they could split a secret or hide text from readers), credentials
    /// replaced by markers, then mentions, closing keywords and HTML comments
    /// neutralised.
    pub fn text(&self, text: &str) -> String {
        let visible: String = strip_ansi(text)
            .chars()
            .filter(|c| matches!(c, '\n' | '\r' | '\t') || !is_invisible(*c))
            .collect();
        references::neutralise(&self.without_secrets(&visible))
    }

    /// A reviewer's verdict with its summary and findings redacted.
    pub fn verdict(&self, verdict: &Verdict) -> Verdict {
        Verdict {
            decision: verdict.decision,
            summary: self.text(&verdict.summary),
            findings: verdict.findings.iter().map(|f| self.finding(f)).collect(),
        }
    }

    /// A gate's result with its summary, findings and output redacted (the build gate
    /// ran the change's own code, so its output is the agent's text too).
    pub fn gate(&self, result: &GateResult) -> GateResult {
        GateResult {
            gate: result.gate,
            outcome: result.outcome,
            summary: self.text(&result.summary),
            findings: result.findings.iter().map(|f| self.finding(f)).collect(),
            output: result.output.as_deref().map(|o| self.text(o)),
        }
    }

    /// A finding with its message redacted; its place stays, so it can still anchor an
    /// inline comment.
    fn finding(&self, finding: &Finding) -> Finding {
        Finding {
            message: self.text(&finding.message),
            ..finding.clone()
        }
    }

    /// The text with every credential, plain or encoded, replaced by its marker.
    fn without_secrets(&self, text: &str) -> String {
        let mut hits: Vec<(Range<usize>, String)> = self
            .plain_secrets(text)
            .into_iter()
            .map(|(range, kind)| (range, kind.to_owned()))
            .collect();
        for run in encoded::runs(text) {
            if let Some(kind) = run
                .decoded
                .iter()
                .find_map(|decoded| self.first_secret(decoded, DECODE_DEPTH))
            {
                hits.push((run.range, format!("{kind}, {}-encoded", run.encoding)));
            }
        }
        hits.sort_by_key(|(range, _)| (range.start, std::cmp::Reverse(range.end)));
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (range, kind) in hits {
            if range.start < copied {
                copied = copied.max(range.end);
                continue;
            }
            out.push_str(&text[copied..range.start]);
            out.push_str(&format!("[redacted: {kind}]"));
            copied = range.end;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// Known values and pattern matches in the text as it is.
    fn plain_secrets(&self, text: &str) -> Vec<(Range<usize>, &'static str)> {
        let mut hits = Vec::new();
        for (kind, value) in &self.known {
            let value = value.expose_secret();
            hits.extend(
                text.match_indices(value)
                    .map(|(at, _)| (at..at + value.len(), kind.as_str())),
            );
        }
        hits.extend(
            secrets::locate(text)
                .into_iter()
                .map(|found| (found.range, found.kind)),
        );
        hits
    }

    /// What kind of secret the (decoded) text holds, if any, looking `depth` encodings
    /// further down.
    fn first_secret(&self, text: &str, depth: usize) -> Option<&'static str> {
        if let Some((_, kind)) = self.plain_secrets(text).into_iter().next() {
            return Some(kind);
        }
        if depth <= 1 {
            return None;
        }
        encoded::runs(text).into_iter().find_map(|run| {
            run.decoded
                .iter()
                .find_map(|decoded| self.first_secret(decoded, depth - 1))
        })
    }
}

#[cfg(test)]
mod tests;
