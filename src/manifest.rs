//! The GitHub App manifest (`app-manifest.yml`), parsed strictly and printed as JSON.
//!
//! The file is compiled into the binary so `flotilla manifest` needs nothing at run time.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The manifest as committed in the repository.
pub const MANIFEST_YAML: &str = include_str!("../app-manifest.yml");

/// GitHub's manifest fields that Flotilla sets; unknown keys are an error.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppManifest {
    /// The App's display name.
    pub name: String,
    /// The App's homepage.
    pub url: String,
    /// Shown on the App's page.
    pub description: String,
    /// Whether other accounts may install it.
    pub public: bool,
    /// Where GitHub sends webhooks.
    pub hook_attributes: HookAttributes,
    /// Where GitHub sends the browser after registration, with `?code=`.
    pub redirect_url: String,
    /// Where GitHub may send the browser back after a user signs in with the App (the
    /// dashboard's GitHub login lands on `/oauth/callback`).
    pub callback_urls: Vec<String>,
    /// Whether installing the App also asks the installer to authorize it; Flotilla asks
    /// people to sign in only when they open the dashboard.
    pub request_oauth_on_install: bool,
    /// Permission name → `read` or `write`.
    pub default_permissions: BTreeMap<String, Access>,
    /// Webhook events the App subscribes to.
    pub default_events: Vec<String>,
}

/// The webhook endpoint of the App.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HookAttributes {
    /// The URL of Flotilla's `POST /webhook`.
    pub url: String,
    /// Whether GitHub delivers at all.
    pub active: bool,
}

/// A permission level in a manifest.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read-only.
    Read,
    /// Read and write.
    Write,
}

impl AppManifest {
    /// Parses the committed manifest.
    pub fn committed() -> anyhow::Result<Self> {
        serde_saphyr::from_str(MANIFEST_YAML).context("app-manifest.yml is invalid")
    }

    /// Points the webhook, redirect and OAuth callback URLs at where this Flotilla is reachable.
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        self.hook_attributes.url = format!("{base}/webhook");
        self.redirect_url = format!("{base}/setup");
        self.callback_urls = vec![format!("{base}/oauth/callback")];
        self
    }

    /// The JSON body GitHub's manifest flow expects.
    pub fn to_json(&self) -> anyhow::Result<String> {
        serde_json::to_string_pretty(self).context("serializing the App manifest")
    }
}
