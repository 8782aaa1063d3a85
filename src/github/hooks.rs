//! The App's webhook deliveries as GitHub keeps them (`GET /app/hook/deliveries`, JWT
//! auth): what missed-event recovery reads to find deliveries Flotilla never got, and
//! the redelivery it asks for.

use serde::Deserialize;

use super::app::GithubApp;
use super::error::GithubError;
use super::request::ApiRequest;
use super::routes::Route;

/// One delivery attempt GitHub made. A redelivery is another attempt with the same
/// `guid`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct HookDelivery {
    /// The attempt's id (what a redelivery names); newer attempts have larger ids.
    pub id: u64,
    /// `X-GitHub-Delivery`: the same for every attempt of one event.
    pub guid: String,
    /// The receiver's HTTP status (0 when it could not be reached).
    pub status_code: u16,
    /// The event name.
    pub event: String,
    /// Its action, when it has one.
    pub action: Option<String>,
    /// When GitHub sent it (RFC 3339).
    pub delivered_at: String,
}

impl HookDelivery {
    /// Whether the receiver took it (answered 2xx).
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// Pages read at most in one listing: 100 attempts a page.
const MAX_PAGES: usize = 30;

impl GithubApp {
    /// The App's delivery attempts newer than attempt `after` (all GitHub still keeps
    /// when `None`, up to 3,000), newest first.
    pub async fn hook_deliveries_after(
        &self,
        after: Option<u64>,
    ) -> Result<Vec<HookDelivery>, GithubError> {
        let mut found = Vec::new();
        let mut next =
            Some(ApiRequest::to(Route::ListHookDeliveries, &[]).query(&[("per_page", "100")]));
        let mut pages = 0;
        while let Some(request) = next.take() {
            let response = self.send_as_app(&request).await?;
            let page: Vec<HookDelivery> = response.json()?;
            let reached_known = after.is_some_and(|a| page.iter().any(|d| d.id <= a));
            found.extend(page.into_iter().filter(|d| after.is_none_or(|a| d.id > a)));
            pages += 1;
            if !reached_known && pages < MAX_PAGES {
                next = response
                    .next_page()
                    .map(|path| ApiRequest::new(Route::ListHookDeliveries, path));
            }
        }
        Ok(found)
    }

    /// Asks GitHub to send delivery attempt `id` again (a new attempt, same GUID).
    pub async fn redeliver(&self, id: u64) -> Result<(), GithubError> {
        self.send_as_app(&ApiRequest::to(Route::RedeliverHook, &[&id.to_string()]))
            .await?;
        Ok(())
    }
}
