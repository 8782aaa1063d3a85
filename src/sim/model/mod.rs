//! A scripted model server: the model APIs coding-agent CLIs call, answered from a
//! script instead of a model, so tests and the demo run the real CLIs with no API key.
//!
//! It serves on loopback in-process (`ModelServer::start`), answers each request from
//! its [`script`] (tool calls, final messages, HTTP faults), reports the token usage
//! the script gives, and records every request with that usage so a test can compare
//! what a CLI reported against what the server said. One module per API:
//! [`anthropic`] (Claude Code) and [`responses`] (Codex). Like the GitHub simulator it
//! knows nothing of Flotilla.

mod anthropic;
mod responses;
pub mod script;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use script::{Action, FaultKind, FaultSpec, Reply, Script, ScriptUsage, Turn};

/// Which API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Anthropic's Messages API (`POST /v1/messages`).
    AnthropicMessages,
    /// Anthropic's `POST /v1/messages/count_tokens`.
    AnthropicCountTokens,
    /// OpenAI's Responses API (`POST /v1/responses`).
    OpenAiResponses,
    /// A route the server does not serve (answered 404, recorded to learn about it).
    Unknown,
}

/// One request the server answered.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The API.
    pub api: Api,
    /// `METHOD /path?query`.
    pub target: String,
    /// The model the request asked for.
    pub model: Option<String>,
    /// Whether it asked for a stream.
    pub stream: bool,
    /// The conversation it matched, if any.
    pub conversation: Option<String>,
    /// Assistant turns already in the request.
    pub step: usize,
    /// The HTTP status answered.
    pub status: u16,
    /// The usage the answer reported (none for faults and non-model routes).
    pub usage: Option<ScriptUsage>,
}

/// State shared by every route.
#[derive(Debug)]
struct Shared {
    player: script::Player,
    record: Mutex<Vec<RecordedRequest>>,
}

/// A model request as every API sees it, before the script answers it.
struct Asked {
    api: Api,
    target: String,
    model: String,
    stream: bool,
    /// The first user message's text, which picks the conversation.
    first_user: String,
    /// Assistant turns already in the request.
    step: usize,
}

impl Asked {
    /// A request to `api` at `uri`: the model it asks for (`default_model` when it
    /// names none) and whether it asks for a stream, read the same way from both APIs'
    /// request bodies.
    fn new(
        api: Api,
        uri: &Uri,
        request: &Value,
        default_model: &str,
        first_user: String,
        step: usize,
    ) -> Self {
        Self {
            api,
            target: format!("POST {uri}"),
            model: request
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(default_model)
                .to_owned(),
            stream: request.get("stream").and_then(Value::as_bool) == Some(true),
            first_user,
            step,
        }
    }
}

/// Whether the request offers the tool `name`: both APIs list a request's tools by name.
fn offers_tool(request: &Value, name: &str) -> bool {
    request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
}

/// A streamed answer: the server-sent events both APIs answer `stream: true` with.
fn event_stream(events: String) -> Response {
    let mut response = Response::new(Body::from(events));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

/// An API's error answer for a fault: its status, the API's own error `body`, and
/// `retry-after` on a rate limit.
fn fault_response(kind: FaultKind, body: Value) -> Response {
    let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    if kind == FaultKind::RateLimited {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// What the script says to a request, for the API module to put in its own format.
enum Said {
    /// A scripted turn: a tool call or a final message.
    Act(Action),
    /// A plain text (no conversation matched, or it ran out of turns).
    Text(String),
}

impl Shared {
    /// Plays the script for `asked` and records the request with what it answered:
    /// what to say and the usage to report, or `Err` with the fault to answer instead.
    fn play(&self, asked: &Asked) -> Result<(Said, ScriptUsage), FaultKind> {
        let mut record = RecordedRequest {
            api: asked.api,
            target: asked.target.clone(),
            model: Some(asked.model.clone()),
            stream: asked.stream,
            conversation: None,
            step: asked.step,
            status: 200,
            usage: None,
        };
        let answer = match self.player.reply(&asked.first_user, asked.step) {
            Reply::Fault {
                conversation, kind, ..
            } => {
                record.conversation = Some(conversation);
                record.status = kind.status();
                Err(kind)
            }
            Reply::Turn {
                conversation,
                action,
                usage,
                ..
            } => {
                record.conversation = Some(conversation);
                record.usage = Some(usage);
                Ok((Said::Act(action), usage))
            }
            Reply::Generic {
                conversation,
                text,
                usage,
            } => {
                record.conversation = conversation;
                record.usage = Some(usage);
                Ok((Said::Text(text), usage))
            }
        };
        self.record(record);
        answer
    }

    fn record(&self, request: RecordedRequest) {
        tracing::debug!(?request, "model server answered");
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
    }
}

/// Entry point: starts a model server.
pub struct ModelServer;

impl ModelServer {
    /// Binds 127.0.0.1 on a random port and serves `script` until the handle drops.
    pub async fn start(script: Script) -> anyhow::Result<ModelServerHandle> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the model server")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            player: script::Player::new(script),
            record: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/messages", post(anthropic::messages))
            .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
            .route("/v1/responses", post(responses::responses))
            .fallback(unknown)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "model server stopped");
            }
        });
        Ok(ModelServerHandle {
            addr,
            shared,
            shutdown: Some(tx),
            server: Some(server),
        })
    }
}

/// A running model server.
pub struct ModelServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl ModelServerHandle {
    /// `http://127.0.0.1:port`: the base URL a CLI is pointed at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address (what a sandbox's egress allow-list names).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The usage the server reported, summed over every answered request.
    pub fn reported_usage(&self) -> ScriptUsage {
        let mut sum = ScriptUsage::ZERO;
        for usage in self.requests().iter().filter_map(|r| r.usage) {
            sum += usage;
        }
        sum
    }

    /// Stops serving.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for ModelServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Any route not served: 404, recorded so a test sees what a CLI asked for.
async fn unknown(State(shared): State<Arc<Shared>>, request: Request) -> StatusCode {
    shared.record(RecordedRequest {
        api: Api::Unknown,
        target: format!("{} {}", request.method(), request.uri()),
        model: None,
        stream: false,
        conversation: None,
        step: 0,
        status: 404,
        usage: None,
    });
    StatusCode::NOT_FOUND
}
