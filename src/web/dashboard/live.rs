//! Live pages: `GET /runs/{run}/events` is a Server-Sent Events stream that sends
//! `changed` whenever what the run page shows changes, and ends once the run is over.
//! It watches the database, so a page served by a `web` process follows work done by
//! `worker` processes elsewhere.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;

use super::{DashboardState, PageError, visible_run};
use crate::store::{RunId, RunVersion};
use crate::web::auth::Viewer;

/// Where the stream is.
struct Watch {
    state: DashboardState,
    run: RunId,
    seen: RunVersion,
    over: bool,
}

/// `GET /runs/{run}/events`.
pub(super) async fn events(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path(run): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let (run, _) = visible_run(&state, &viewer, RunId(run)).await?;
    let seen = state.store.run_version(run.id).await?;
    let watch = Watch {
        state,
        run: run.id,
        seen,
        over: !run.state.is_live(),
    };
    let changes = stream::unfold(watch, |mut watch| async move {
        if watch.over {
            return None;
        }
        loop {
            tokio::time::sleep(watch.state.live_every).await;
            let version = match watch.state.store.run_version(watch.run).await {
                Ok(version) => version,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "live page: store unavailable");
                    continue;
                }
            };
            if version == watch.seen {
                continue;
            }
            watch.seen = version;
            watch.over = match watch.state.store.run(watch.run).await {
                Ok(Some(run)) => !run.state.is_live(),
                Ok(None) => true,
                Err(_) => false,
            };
            return Some((Ok(Event::default().event("changed").data("")), watch));
        }
    });
    Ok(Sse::new(changes).keep_alive(KeepAlive::default()))
}
