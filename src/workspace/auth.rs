//! The installation token as git sees it: a per-command `http.extraHeader`, never a
//! config entry, a file, an environment variable or a log line.

use std::fmt;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// Credentials for one git command against GitHub. Exists so the token has exactly one
/// way into git — [`GitAuth::args`] — and its `Debug` cannot print it.
#[derive(Clone)]
pub struct GitAuth {
    token: SecretString,
}

impl GitAuth {
    /// Wraps an installation token (as minted by the GitHub client).
    pub fn new(token: SecretString) -> Self {
        Self { token }
    }

    /// The `-c` arguments that authenticate one git invocation: the basic-auth header
    /// for `x-access-token`, and an empty credential helper so no helper configured on
    /// the machine is asked for, or told about, the credentials.
    pub(crate) fn args(&self) -> [String; 4] {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("x-access-token:{}", self.token.expose_secret()));
        [
            "-c".to_owned(),
            format!("http.extraHeader=Authorization: Basic {basic}"),
            "-c".to_owned(),
            "credential.helper=".to_owned(),
        ]
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth")
            .field("token", &"[redacted]")
            .finish()
    }
}
