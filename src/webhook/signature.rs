//! `X-Hub-Signature-256`: signing a body and verifying a signature in constant time.
//!
//! Used by the intake (verify) and by the GitHub simulator and tests (sign). It owns no
//! I/O and knows nothing about HTTP.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::redact::{KnownSecrets, SecretKind};

type HmacSha256 = Hmac<Sha256>;

/// The prefix GitHub puts before the hex digest.
const PREFIX: &str = "sha256=";

/// Why a signature header was not accepted; every variant becomes a 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The request carried no `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// The digest matches none of the configured secrets.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// The webhook secrets Flotilla accepts; several at once while a secret is rotated.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl WebhookSecrets {
    /// Parses the comma-separated `FLOTILLA_WEBHOOK_SECRET` value; empty entries are
    /// dropped. `None` when no secret remains.
    pub fn from_comma_separated(value: &str) -> Option<Self> {
        let secrets: Vec<SecretString> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// Adds every secret to `known`, so no text Flotilla publishes can repeat one.
    pub fn register(&self, known: &KnownSecrets) {
        for secret in &self.0 {
            known.add(SecretKind::WebhookSecret, secret.expose_secret());
        }
    }

    /// Checks `header` (the raw `X-Hub-Signature-256` value) against `body` with every
    /// secret, comparing digests in constant time.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_digest = header
            .strip_prefix(PREFIX.as_bytes())
            .ok_or(SignatureError::Malformed)?;
        let mut expected = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| SignatureError::Malformed)?;
        let matched = self.0.iter().any(|secret| {
            let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets([{} redacted])", self.0.len())
    }
}

/// Computes the `X-Hub-Signature-256` header value GitHub would send for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published test vector.
    const VECTOR_SECRET: &str = "It's a Secret to Everybody";
    const VECTOR_BODY: &[u8] = b"Hello, World!";
    const VECTOR_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_published_test_vector_signs_and_verifies() {
        assert_eq!(sign(VECTOR_SECRET, VECTOR_BODY), VECTOR_SIGNATURE);
        let secrets = WebhookSecrets::from_comma_separated(VECTOR_SECRET).unwrap();
        assert_eq!(
            secrets.verify(Some(VECTOR_SIGNATURE.as_bytes()), VECTOR_BODY),
            Ok(())
        );
    }

    #[test]
    fn a_rotated_secret_list_accepts_either_secret() {
        let secrets = WebhookSecrets::from_comma_separated("old-secret, new-secret").unwrap();
        for secret in ["old-secret", "new-secret"] {
            let header = sign(secret, b"{}");
            assert_eq!(secrets.verify(Some(header.as_bytes()), b"{}"), Ok(()));
        }
        let header = sign("other", b"{}");
        assert_eq!(
            secrets.verify(Some(header.as_bytes()), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        let secrets = WebhookSecrets::from_comma_separated("s").unwrap();
        assert_eq!(secrets.verify(None, b"{}"), Err(SignatureError::Missing));
        for bad in ["sha1=abcd", "sha256=zz", "sha256=abcd", ""] {
            assert_eq!(
                secrets.verify(Some(bad.as_bytes()), b"{}"),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_empty_secret_list_is_rejected() {
        assert!(WebhookSecrets::from_comma_separated(" , ").is_none());
        assert!(
            format!("{:?}", WebhookSecrets::from_comma_separated("s").unwrap())
                .contains("redacted")
        );
    }
}
