//! The secrets gate's scan: added lines that look like credentials.
//!
//! An agent that pastes a token into a change leaks it the moment the branch is pushed,
//! so a match fails the gate. Known token shapes are matched by pattern; a generic
//! `password = "…"` assignment only counts when its value is long and random enough to
//! be a real credential, so placeholders and references to secret stores pass. Messages
//! name the kind of credential and never repeat more than its first characters.
//! [`locate`] finds the same credentials in any text, for the redaction of what Flotilla
//! publishes (`crate::redact`).

use std::sync::LazyLock;

use regex::Regex;

use super::diff::Diff;
use super::{Finding, Severity};

/// Shortest value of a generic assignment that can be a credential.
const MIN_GENERIC_LEN: usize = 20;

/// Least Shannon entropy (bits per character) of a generic value that can be a
/// credential: random keys are above it, words and placeholders below.
const MIN_GENERIC_ENTROPY: f64 = 3.5;

/// How many leading characters of a match a message may show.
const SHOWN_CHARS: usize = 4;

/// A credential with a recognisable shape.
struct Kind {
    /// What the message calls it.
    name: &'static str,
    /// Its shape.
    pattern: Regex,
    /// Whether the message may show the start of the match (a PEM header is no secret,
    /// and its first characters say nothing).
    show_start: bool,
}

/// Compiles one of this module's fixed patterns.
fn pattern(source: &str) -> Regex {
    Regex::new(source).expect("the built-in secret patterns are valid")
}

/// The recognisable credential shapes, checked on every added line.
static KINDS: LazyLock<Vec<Kind>> = LazyLock::new(|| {
    let kind = |name, source: &str, show_start| Kind {
        name,
        pattern: pattern(source),
        show_start,
    };
    vec![
        kind(
            "private key",
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----",
            false,
        ),
        kind("AWS access key id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", true),
        kind("GitHub token", r"gh[pousr]_[A-Za-z0-9]{30,}", true),
        kind("GitHub token", r"github_pat_[A-Za-z0-9_]{30,}", true),
        kind("Slack token", r"xox[abprs]-[0-9]+-[A-Za-z0-9-]{10,}", true),
        kind("Google API key", r"AIza[0-9A-Za-z_\-]{35}", true),
        kind("Stripe secret key", r"[sr]k_live_[0-9A-Za-z]{10,}", true),
    ]
});

/// `name = value` / `"name": "value"` where the name says it holds a credential. The
/// value is captured quoted (`dq`, `sq`) or bare (`bare`).
static GENERIC: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r#"(?i)(?P<name>[A-Za-z0-9_.-]*(?:client_secret|private_key|access_key|api_key|apikey|secret|token|passwd|password)(?:[_-]?(?:key|value))?)["']?\s*(?::=|=>|=|:)\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'`,;(){}\[\]<>]+))"#,
    )
});

/// A credential found in a text: where it is and what it looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Its byte range in the text.
    pub range: std::ops::Range<usize>,
    /// What kind of credential it looks like (`GitHub token`, `private key`, …).
    pub kind: &'static str,
}

/// Pattern of a whole PEM private key block (to its end line, or the end of the text),
/// so redaction removes the key and not only its header.
static PRIVATE_KEY_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)",
    )
});

/// Every credential in `text` the gate would report on an added line: known shapes
/// (a private key with its whole block), and the values of credential-named
/// assignments that look random. Ranges may overlap.
pub fn locate(text: &str) -> Vec<Located> {
    let mut found: Vec<Located> = PRIVATE_KEY_BLOCK
        .find_iter(text)
        .map(|m| Located {
            range: m.range(),
            kind: "private key",
        })
        .collect();
    for kind in KINDS.iter().filter(|kind| kind.name != "private key") {
        found.extend(kind.pattern.find_iter(text).map(|m| Located {
            range: m.range(),
            kind: kind.name,
        }));
    }
    for caps in GENERIC.captures_iter(text) {
        let value = caps
            .name("dq")
            .or_else(|| caps.name("sq"))
            .or_else(|| caps.name("bare"));
        if let Some(value) = value.filter(|v| looks_random(v.as_str())) {
            found.push(Located {
                range: value.range(),
                kind: "credential",
            });
        }
    }
    found
}

/// Every added line that looks like it holds a credential, one finding per line and
/// kind. A line matching a known shape is not also reported as a generic assignment.
pub fn scan(diff: &Diff) -> Vec<Finding> {
    let mut findings = Vec::new();
    for file in &diff.files {
        for added in &file.added {
            let finding = |message: String| Finding {
                path: Some(file.path.clone()),
                line: Some(added.line),
                severity: Severity::Critical,
                message,
            };
            let before = findings.len();
            let mut reported: Vec<&str> = Vec::new();
            for kind in KINDS.iter() {
                if reported.contains(&kind.name) {
                    continue;
                }
                if let Some(found) = kind.pattern.find(&added.text) {
                    reported.push(kind.name);
                    let shown = if kind.show_start {
                        format!(" (`{}`)", redact(found.as_str()))
                    } else {
                        String::new()
                    };
                    findings.push(finding(format!(
                        "an added line holds what looks like a {}{shown}; remove it and \
                         revoke the credential, since the pushed branch already exposed it",
                        kind.name
                    )));
                }
            }
            if findings.len() == before
                && let Some((name, value)) = generic_assignment(&added.text)
            {
                findings.push(finding(format!(
                    "an added line assigns what looks like a real credential to `{name}` \
                     (`{}`); remove it and revoke the credential, since the pushed branch \
                     already exposed it",
                    redact(value)
                )));
            }
        }
    }
    findings
}

/// The first credential-named assignment on the line whose value is long and random
/// enough to be a real credential: its name and value.
fn generic_assignment(text: &str) -> Option<(&str, &str)> {
    GENERIC.captures_iter(text).find_map(|caps| {
        let name = caps.name("name")?.as_str();
        let value = caps
            .name("dq")
            .or_else(|| caps.name("sq"))
            .or_else(|| caps.name("bare"))?
            .as_str();
        looks_random(value).then_some((name, value))
    })
}

/// Parts of a value that mark it as a reference to a secret kept elsewhere (a
/// variable, a template, an environment lookup), not the secret itself.
const REFERENCES: [&str; 11] = [
    "${",
    "{{",
    "$(",
    "%(",
    "<%",
    "process.env",
    "os.environ",
    "getenv",
    "secrets.",
    "env.",
    "ENV[",
];

/// Whether a value is long enough, references no variable or template, and has the
/// entropy of a generated secret.
fn looks_random(value: &str) -> bool {
    value.chars().count() >= MIN_GENERIC_LEN
        && !value.starts_with('$')
        && !REFERENCES.iter().any(|r| value.contains(r))
        && entropy(value) >= MIN_GENERIC_ENTROPY
}

/// Shannon entropy of the value's characters, in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0u32;
    for c in value.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
        total += 1;
    }
    let total = f64::from(total);
    counts
        .values()
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum()
}

/// The first few characters of a secret and an ellipsis: enough to find it, not to use
/// it.
fn redact(secret: &str) -> String {
    let start: String = secret.chars().take(SHOWN_CHARS).collect();
    format!("{start}…")
}
