//! The `time_limit` syntax of `.github/flotilla.yml`: `30m`, `1h30m`, `90s`.
//!
//! This module owns parsing and bounding a limit; it must not know which agent the
//! limit applies to. The grammar is deliberately small and strict: one or more
//! `<digits><unit>` groups, units `h`, `m`, `s`, each unit at most once and in that
//! order, no spaces, no fractions.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The longest time an agent may be given: a day. Longer is almost surely a typo.
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a limit such as `30m` or `1h30m`, rejecting zero and anything over 24 hours.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "`{text}` is not a duration; write digits followed by h, m or s, such as `30m` or `1h30m`"
        )
    };
    let mut total: u64 = 0;
    let mut rest = text;
    let mut allowed_units: &[(char, u64)] = &[('h', 3600), ('m', 60), ('s', 1)];
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let amount: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit = rest[digits..].chars().next().ok_or_else(invalid)?;
        let position = allowed_units
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        let seconds = allowed_units[position].1;
        total = amount
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(invalid)?;
        allowed_units = &allowed_units[position + 1..];
        rest = &rest[digits + unit.len_utf8()..];
    }
    let limit = Duration::from_secs(total);
    if limit.is_zero() {
        Err(format!(
            "`{text}` is zero; an agent needs some time to work"
        ))
    } else if limit > MAX_TIME_LIMIT {
        Err(format!("`{text}` is longer than the maximum of 24h"))
    } else {
        Ok(limit)
    }
}

/// Deserializes a `time_limit` string through [`parse`], so the YAML parser reports the
/// value's own line and column.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}
