//! The values Flotilla itself holds that must never appear in what it publishes: the
//! webhook secrets and every installation token it minted.
//!
//! Pattern matching cannot know these (a webhook secret has no shape), so the server
//! seeds the registry with the webhook secrets and the GitHub client adds each
//! installation token it hands out; the redaction layer reads a snapshot of both.

use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};

use super::Redactor;

/// Values shorter than this are never registered: redacting every `password` or `12345`
/// in an agent's text would hide more than it protects.
pub const MIN_KNOWN_LEN: usize = 8;

/// How many installation tokens are remembered; the oldest go first (a token lives an
/// hour, so these cover days of renewals). Webhook secrets are always kept.
const MAX_TOKENS: usize = 256;

/// What a known value is, for the redaction marker that replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A secret GitHub signs webhooks with.
    WebhookSecret,
    /// An installation access token minted by the App.
    InstallationToken,
}

impl SecretKind {
    /// The name the marker shows: `[redacted: webhook secret]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebhookSecret => "webhook secret",
            Self::InstallationToken => "installation token",
        }
    }
}

/// The registry of known values, shared by clones: the server, the GitHub client and
/// the fleet hold the same one.
#[derive(Clone, Default)]
pub struct KnownSecrets {
    values: Arc<RwLock<Vec<(SecretKind, SecretString)>>>,
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecrets")
            .field("count", &self.read().len())
            .finish()
    }
}

impl KnownSecrets {
    /// Remembers a value Flotilla holds, unless it is shorter than [`MIN_KNOWN_LEN`] or
    /// already known.
    pub fn add(&self, kind: SecretKind, value: &str) {
        if value.chars().count() < MIN_KNOWN_LEN {
            return;
        }
        if self.read().iter().any(|(_, v)| v.expose_secret() == value) {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if values.iter().any(|(_, v)| v.expose_secret() == value) {
            return;
        }
        let tokens = values
            .iter()
            .filter(|(k, _)| *k == SecretKind::InstallationToken)
            .count();
        if kind == SecretKind::InstallationToken
            && tokens >= MAX_TOKENS
            && let Some(oldest) = values
                .iter()
                .position(|(k, _)| *k == SecretKind::InstallationToken)
        {
            values.remove(oldest);
        }
        values.push((kind, SecretString::from(value.to_owned())));
    }

    /// A redactor over the values known now.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.read().clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(SecretKind, SecretString)>> {
        self.values.read().unwrap_or_else(|e| e.into_inner())
    }
}
