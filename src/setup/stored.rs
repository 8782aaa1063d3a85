//! The App's credentials as the setup page received them from GitHub, kept in the data
//! dir (`<data_dir>/app/app.json`, mode 0600 in a 0700 directory) so the next start
//! needs no settings. The file holds the private key, the webhook secret and the OAuth
//! client secret: nothing here ever logs or prints them.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::github::AppCredentials;
use crate::settings::GivenApp;
use crate::types::AppId;
use crate::webhook::signature::WebhookSecrets;

/// The App GitHub created from the manifest: what `POST /app-manifests/{code}/conversions`
/// answered and Flotilla needs later.
#[derive(Clone, Deserialize, Serialize)]
pub struct StoredApp {
    /// The App id.
    pub id: u64,
    /// The App's slug (its bot is `<slug>[bot]`).
    pub slug: String,
    /// The App's display name.
    pub name: String,
    /// The App's page on GitHub; `<html_url>/installations/new` installs it.
    pub html_url: String,
    /// The App's private key, PEM.
    pub pem: String,
    /// The secret GitHub signs the App's webhooks with.
    pub webhook_secret: String,
    /// The App's OAuth client id (for signing people in).
    pub client_id: String,
    /// The App's OAuth client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for StoredApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("html_url", &self.html_url)
            .finish_non_exhaustive()
    }
}

impl StoredApp {
    /// Where the credentials are kept under `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("app").join("app.json")
    }

    /// The credentials stored under `data_dir`; `None` when none are.
    pub fn load(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not the App's stored credentials", path.display()))
    }

    /// Writes the credentials under `data_dir`, readable by this user only. The file is
    /// written beside its final name and renamed, so a crash leaves the old one or the
    /// new one, never half of one.
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<PathBuf> {
        let path = Self::path(data_dir);
        let dir = path
            .parent()
            .context("the credentials' path has a parent")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let partial = dir.join(format!(".app.json.{}", uuid::Uuid::new_v4().simple()));
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)?;
            file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(error).with_context(|| format!("writing {}", path.display()));
        }
        Ok(path)
    }

    /// The identity `flotilla serve` runs with: the key parsed, the webhook secret.
    pub fn to_given(&self) -> anyhow::Result<GivenApp> {
        let credentials = AppCredentials::from_pem(AppId(self.id), &self.pem)
            .context("the stored App's private key does not parse")?;
        let secrets = WebhookSecrets::from_comma_separated(&self.webhook_secret)
            .context("the stored App has no webhook secret")?;
        Ok(GivenApp {
            credentials,
            secrets,
        })
    }

    /// The page where an account installs the App.
    pub fn install_url(&self) -> String {
        format!("{}/installations/new", self.html_url.trim_end_matches('/'))
    }
}
