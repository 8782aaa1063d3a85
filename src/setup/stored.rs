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

#[cfg(test)]
mod tests {
    use super::StoredApp;

    fn app() -> StoredApp {
        StoredApp {
            id: 7,
            slug: "flotilla".to_owned(),
            name: "Flotilla".to_owned(),
            html_url: "https://github.com/apps/flotilla".to_owned(),
            pem: "-----BEGIN RSA PRIVATE KEY-----\nsecret-key-body\n".to_owned(),
            webhook_secret: "secret-hook".to_owned(),
            client_id: "Iv1.0007".to_owned(),
            client_secret: "secret-client".to_owned(),
        }
    }

    #[test]
    fn its_debug_form_names_the_app_and_none_of_its_secrets() {
        let shown = format!("{:?}", app());
        assert!(shown.contains("flotilla"), "{shown}");
        assert!(!shown.contains("secret-"), "{shown}");
    }

    #[test]
    fn it_is_saved_for_this_user_only_and_read_back() {
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let path = app().save(dir.path()).expect("saved");
        let mode = |p: &std::path::Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("a directory")), 0o700);
        let read = StoredApp::load(dir.path())
            .expect("readable")
            .expect("stored");
        assert_eq!((read.id, read.webhook_secret.as_str()), (7, "secret-hook"));
        assert_eq!(
            read.install_url(),
            "https://github.com/apps/flotilla/installations/new"
        );
    }
}
