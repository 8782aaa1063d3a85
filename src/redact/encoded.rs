//! Runs of base64 or hex in a text and what they decode to, so a credential encoded to
//! slip past a pattern is still found.
//!
//! A run is decoded at every alignment (an encoded secret may sit inside a longer
//! encoded blob), with either base64 alphabet, and the decoded bytes are read as text
//! whatever they hold. Nothing here judges the decoded text: `super` scans it.

use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::Regex;

/// Shortest base64 run worth decoding: 12 characters hold 8 bytes, the shortest known
/// value (`known::MIN_KNOWN_LEN`).
const MIN_BASE64: usize = 12;

/// Shortest hex run worth decoding: 8 bytes.
const MIN_HEX: usize = 16;

/// A run of either base64 alphabet, with optional padding.
static BASE64_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"[A-Za-z0-9+/_-]{{{MIN_BASE64},}}={{0,2}}"))
        .expect("the base64 run pattern is valid")
});

/// A run of hex digits.
static HEX_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"[0-9A-Fa-f]{{{MIN_HEX},}}")).expect("the hex run pattern is valid")
});

/// Standard base64 that ignores padding and stray trailing bits (a run cut anywhere).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// An encoded run found in a text.
pub(super) struct Run {
    /// Its byte range in the text.
    pub(super) range: Range<usize>,
    /// `base64` or `hex`.
    pub(super) encoding: &'static str,
    /// What it decodes to at each alignment, read as text.
    pub(super) decoded: Vec<String>,
}

/// Every base64 and hex run of `text` long enough to hide a secret, decoded.
pub(super) fn runs(text: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = BASE64_RUN
        .find_iter(text)
        .map(|m| Run {
            range: m.range(),
            encoding: "base64",
            decoded: base64_decodings(m.as_str()),
        })
        .collect();
    runs.extend(HEX_RUN.find_iter(text).map(|m| Run {
        range: m.range(),
        encoding: "hex",
        decoded: hex_decodings(m.as_str()),
    }));
    runs
}

/// The run decoded from each of its first four characters (one of them is aligned
/// with the encoding of any secret inside it).
fn base64_decodings(run: &str) -> Vec<String> {
    let standard: String = run
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    (0..4)
        .filter_map(|start| {
            let rest = standard.get(start..)?;
            // A last group of one character holds no whole byte; two or three do.
            let usable = rest.len() - usize::from(rest.len() % 4 == 1);
            let bytes = LENIENT.decode(&rest[..usable]).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// The run decoded from its first and its second digit.
fn hex_decodings(run: &str) -> Vec<String> {
    (0..2)
        .filter_map(|start| {
            let rest = run.get(start..)?;
            let whole = rest.len() - rest.len() % 2;
            let bytes = hex::decode(&rest[..whole]).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}
