//! Secret settings as container platforms hand them over: in the variable itself, or in
//! a file its `_FILE` variant names (Docker and Kubernetes mount secrets as files), and
//! the App's private key as a path or as the PEM itself. A file a secret came from is
//! hidden from every agent's sandbox, like the key file.

use std::path::PathBuf;

use crate::github::AppCredentials;
use crate::types::AppId;

use super::SettingsError;

/// A secret setting's value and the file it was read from, if any.
pub struct SecretValue {
    /// The secret.
    pub value: String,
    /// The `_FILE` it came from, which no agent may see.
    pub file: Option<PathBuf>,
}

/// A setting given one of its two ways: in its flag or variable, or in the file its
/// `_FILE` variant names.
enum Given {
    /// The flag's or variable's value.
    Inline(String),
    /// The `_FILE` variant's path.
    File(PathBuf),
}

impl Given {
    /// Which way the setting `env` was given; `None` when neither, an error when both
    /// (clap refuses that first).
    fn of(
        env: &'static str,
        inline: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<Self>, SettingsError> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(SettingsError::Invalid {
                env,
                reason: format!("set either {env} or {env}_FILE, not both"),
            }),
            (Some(value), None) => Ok(Some(Self::Inline(value))),
            (None, Some(path)) => Ok(Some(Self::File(path))),
            (None, None) => Ok(None),
        }
    }
}

/// The value of the setting `env`: `inline` (its flag or variable), or the content of
/// the file `file` names (its `_FILE` variant) without the one trailing newline files
/// end with. `None` when neither is set; both set is an error (clap refuses it first).
pub fn read_secret(
    env: &'static str,
    inline: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<SecretValue>, SettingsError> {
    let path = match Given::of(env, inline, file)? {
        None => return Ok(None),
        Some(Given::Inline(value)) => return Ok(Some(SecretValue { value, file: None })),
        Some(Given::File(path)) => path,
    };
    let text = std::fs::read_to_string(&path).map_err(|error| SettingsError::Invalid {
        env,
        reason: format!("{env}_FILE {}: {error}", path.display()),
    })?;
    let value = text
        .strip_suffix('\n')
        .map(|v| v.strip_suffix('\r').unwrap_or(v))
        .unwrap_or(&text)
        .to_owned();
    Ok(Some(SecretValue {
        value,
        file: Some(path),
    }))
}

/// An App's private key as the settings give it.
pub enum KeySource {
    /// The PEM itself, in the variable.
    Inline(String),
    /// A PEM file.
    File(PathBuf),
}

impl KeySource {
    /// `given` is `FLOTILLA_PRIVATE_KEY` (a PEM when it starts with `-----BEGIN`, else a
    /// path) and `file` its `_FILE` variant; `None` when neither is set.
    pub fn from_settings(
        env: &'static str,
        given: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<Self>, SettingsError> {
        Ok(Given::of(env, given, file)?.map(|given| match given {
            Given::Inline(pem) if pem.trim_start().starts_with("-----BEGIN") => Self::Inline(pem),
            Given::Inline(path) => Self::File(PathBuf::from(path)),
            Given::File(file) => Self::File(file),
        }))
    }

    /// The file the key is in, which no agent may see; `None` for an inline key.
    pub fn file(&self) -> Option<&PathBuf> {
        match self {
            Self::Inline(_) => None,
            Self::File(path) => Some(path),
        }
    }

    /// Loads the key for `app_id`; a failure names the setting and, for a file, the
    /// file (never the key).
    pub fn load(&self, env: &'static str, app_id: AppId) -> Result<AppCredentials, SettingsError> {
        let loaded = match self {
            Self::Inline(pem) => AppCredentials::from_pem(app_id, pem),
            Self::File(path) => AppCredentials::from_pem_file(app_id, path),
        };
        loaded.map_err(|error| SettingsError::Invalid {
            env,
            reason: error.to_string(),
        })
    }
}
