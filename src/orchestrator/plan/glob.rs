//! Whether two path globs may name the same file, so tasks that would edit the same
//! files are not run side by side.
//!
//! Globs follow the usual shell/gitignore shape: `*` and `?` stay within one path
//! segment, `**` crosses segments, `[a-z]`/`[!x]` classes and `{a,b}` alternatives. The
//! answer errs towards "overlap": a false overlap costs parallelism, a missed one costs a
//! merge conflict.

/// Most brace alternatives a pattern expands to; past that the rest is taken literally.
const MAX_ALTERNATIVES: usize = 64;

/// Characters that start a wildcard.
const WILDCARDS: [char; 4] = ['*', '?', '[', '{'];

/// The path to name when `a` and `b` overlap (the more specific of the two), or `None`.
pub(super) fn overlap<'p>(a: &'p str, b: &'p str) -> Option<&'p str> {
    let (na, nb) = (normalize(a), normalize(b));
    if na.is_empty() || nb.is_empty() {
        return None;
    }
    if na == nb {
        return Some(a);
    }
    if is_under(na, nb) {
        return Some(b);
    }
    if is_under(nb, na) {
        return Some(a);
    }
    match (has_wildcard(na), has_wildcard(nb)) {
        (false, false) => None,
        (true, false) => literal_meets_glob(nb, na).then_some(b),
        (false, true) => literal_meets_glob(na, nb).then_some(a),
        (true, true) => {
            let (pa, pb) = (literal_prefix(na), literal_prefix(nb));
            if pb.starts_with(pa) {
                Some(b)
            } else if pa.starts_with(pb) {
                Some(a)
            } else {
                None
            }
        }
    }
}

/// The path without surrounding whitespace and a leading `./`.
fn normalize(path: &str) -> &str {
    let path = path.trim();
    path.strip_prefix("./").unwrap_or(path)
}

/// Whether `inner` lies below the directory `dir` (`dir` or `dir/` is a prefix up to a `/`).
fn is_under(dir: &str, inner: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    !dir.is_empty()
        && inner
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// Whether the glob matches the literal path, or (for a path that reads as a directory:
/// a trailing `/` or no extension) something inside it.
fn literal_meets_glob(literal: &str, glob: &str) -> bool {
    let literal_dir = literal.trim_end_matches('/');
    let reads_as_dir = literal.ends_with('/')
        || !literal_dir
            .rsplit('/')
            .next()
            .is_some_and(|segment| segment.contains('.'));
    let inside = format!("{literal_dir}/");
    expand_braces(glob).iter().any(|alternative| {
        let tokens = tokenize(alternative);
        matches(&tokens, literal_dir, false) || (reads_as_dir && matches(&tokens, &inside, true))
    })
}

/// Whether the path contains a wildcard character.
fn has_wildcard(path: &str) -> bool {
    path.contains(WILDCARDS)
}

/// The part of the glob before its first wildcard.
fn literal_prefix(glob: &str) -> &str {
    glob.find(WILDCARDS).map_or(glob, |at| &glob[..at])
}

/// One element of a brace-free glob.
#[derive(Debug)]
enum Token {
    Char(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters without `/`.
    Star,
    /// `**` not followed by `/`: anything.
    GlobStar,
    /// `**/`: nothing, or anything ending in `/` (zero or more whole segments).
    Segments,
    /// `[...]`: one character other than `/` in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The brace-free alternatives of a glob (`{a,b}.rs` → `a.rs`, `b.rs`).
fn expand_braces(glob: &str) -> Vec<String> {
    let mut done = Vec::new();
    let mut pending = vec![glob.to_owned()];
    while let Some(pattern) = pending.pop() {
        match innermost_braces(&pattern) {
            Some((open, close)) if done.len() + pending.len() < MAX_ALTERNATIVES => {
                for choice in pattern[open + 1..close].split(',') {
                    pending.push(format!(
                        "{}{choice}{}",
                        &pattern[..open],
                        &pattern[close + 1..]
                    ));
                }
            }
            _ => done.push(pattern),
        }
    }
    done
}

/// Byte offsets of a `{`…`}` pair with no brace inside.
fn innermost_braces(pattern: &str) -> Option<(usize, usize)> {
    let mut open = None;
    for (at, c) in pattern.char_indices() {
        match c {
            '{' => open = Some(at),
            '}' => {
                if let Some(start) = open {
                    return Some((start, at));
                }
            }
            _ => {}
        }
    }
    None
}

/// The tokens of a brace-free glob; a `[` without its `]` is a plain character.
fn tokenize(glob: &str) -> Vec<Token> {
    let chars: Vec<char> = glob.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += chars[i..].iter().take_while(|c| **c == '*').count();
                if chars.get(i) == Some(&'/') {
                    tokens.push(Token::Segments);
                    i += 1;
                } else {
                    tokens.push(Token::GlobStar);
                }
            }
            '*' => {
                tokens.push(Token::Star);
                i += 1;
            }
            '?' => {
                tokens.push(Token::One);
                i += 1;
            }
            '[' => match class(&chars[i + 1..]) {
                Some((token, used)) => {
                    tokens.push(token);
                    i += 1 + used;
                }
                None => {
                    tokens.push(Token::Char('['));
                    i += 1;
                }
            },
            c => {
                tokens.push(Token::Char(c));
                i += 1;
            }
        }
    }
    tokens
}

/// A character class from the text after `[`, and how many characters it used
/// (including the closing `]`).
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let negated = matches!(chars.first(), Some('!' | '^'));
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

/// Whether `tokens` match all of `text` or, with `prefix`, whether `text` is the start of
/// something they match. Dynamic programming over (token, position): linear in both,
/// whatever the pattern, since patterns come from untrusted text.
fn matches(tokens: &[Token], text: &str, prefix: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (t_len, n) = (tokens.len(), text.len());
    let width = n + 1;
    // ok[t * width + i]: tokens[t..] match text[i..] (or can extend it, with `prefix`).
    let mut ok = vec![false; (t_len + 1) * width];
    // slash_ahead[i] for the current token: some j >= i has text[j] == '/' and
    // tokens[t + 1..] match text[j + 1..].
    let mut slash_ahead = vec![false; width];
    ok[t_len * width + n] = true;
    for t in (0..t_len).rev() {
        let next = (t + 1) * width;
        let here = t * width;
        slash_ahead[n] = false;
        for i in (0..n).rev() {
            slash_ahead[i] = (text[i] == '/' && ok[next + i + 1]) || slash_ahead[i + 1];
        }
        ok[here + n] = prefix
            || (matches!(tokens[t], Token::Star | Token::GlobStar | Token::Segments)
                && ok[next + n]);
        for i in (0..n).rev() {
            let c = text[i];
            ok[here + i] = match &tokens[t] {
                Token::Char(expected) => c == *expected && ok[next + i + 1],
                Token::One => c != '/' && ok[next + i + 1],
                Token::Class { negated, ranges } => {
                    let inside = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
                    c != '/' && inside != *negated && ok[next + i + 1]
                }
                Token::Star => ok[next + i] || (c != '/' && ok[here + i + 1]),
                Token::GlobStar => ok[next + i] || ok[here + i + 1],
                Token::Segments => ok[next + i] || slash_ahead[i],
            };
        }
    }
    ok[0]
}
