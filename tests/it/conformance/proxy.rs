//! The recording reverse proxy between Flotilla's client and the simulator, and the
//! webhook sink: every exchange kept (method, path, headers that matter, bodies,
//! status) and written out even when the test panics.

use super::*;

/// One request and its answer, as seen between the client and the simulator.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Exchange {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) request_body: Value,
    pub(super) status: u16,
    pub(super) response_body: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) graphql: Option<Value>,
    /// The request headers GitHub has rules about; `authorization` keeps only its scheme.
    pub(super) request_headers: Value,
}

/// Request headers worth checking against GitHub's rules (it refuses requests without a
/// `User-Agent`, reads the API version and media type from headers).
pub(super) const RECORDED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "user-agent",
    "x-github-api-version",
    "authorization",
];

/// The recorded request headers; a credential never leaves the proxy, only its scheme.
pub(super) fn recorded_headers(headers: &http::HeaderMap) -> Value {
    let mut out = serde_json::Map::new();
    for name in RECORDED_HEADERS {
        let Some(value) = headers.get(*name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let value = if *name == "authorization" {
            value
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            value.to_owned()
        };
        out.insert((*name).to_owned(), Value::String(value));
    }
    Value::Object(out)
}

/// A reverse proxy in front of the simulator that keeps every exchange.
pub(super) struct Recorder {
    pub(super) upstream: String,
    pub(super) http: reqwest::Client,
    pub(super) exchanges: Mutex<Vec<Exchange>>,
}

/// Writes whatever was recorded when the scenario fails half-way, so the failure can be
/// read next to the exchanges that led to it.
pub(super) struct WriteOnPanic(pub(super) Arc<Recorder>);

impl Drop for WriteOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let out = write_exchanges(&self.0.exchanges());
            eprintln!("exchanges so far written to {}", out.display());
        }
    }
}

impl Recorder {
    pub(super) fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Headers that describe one hop, not the message: never forwarded.
pub(super) fn hop_by_hop(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
    )
}

/// Parses a body as JSON; an empty body is `null`, anything else that is not JSON is
/// kept as a string (the validator then reports it).
pub(super) fn json_or_null(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

pub(super) async fn forward(State(recorder): State<Arc<Recorder>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let Ok(request_bytes) = to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body").into_response();
    };
    let mut upstream = recorder
        .http
        .request(parts.method.clone(), format!("{}{path}", recorder.upstream))
        .body(request_bytes.clone());
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(response_bytes) = answer.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "unreadable answer").into_response();
    };
    let request_body = json_or_null(&request_bytes);
    let is_graphql = parts.uri.path() == "/graphql";
    recorder
        .exchanges
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Exchange {
            method: parts.method.to_string(),
            path,
            graphql: is_graphql.then(|| request_body.clone()),
            request_body,
            status: status.as_u16(),
            response_body: json_or_null(&response_bytes),
            request_headers: recorded_headers(&parts.headers),
        });
    let mut response = Response::new(Body::from(response_bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// Starts the proxy on a free loopback port; returns its base URL.
pub(super) async fn start_proxy(recorder: Arc<Recorder>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy binds");
    let addr = listener.local_addr().expect("proxy address");
    let app = axum::Router::new().fallback(forward).with_state(recorder);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("proxy serves");
    });
    format!("http://{addr}")
}

/// A webhook receiver that accepts everything: the simulator only moves pull-request
/// heads on push for an App with a webhook configured (see the report on
/// `World::installation_for`), and webhooks are not what this test checks.
pub(super) async fn start_webhook_sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("sink binds");
    let addr = listener.local_addr().expect("sink address");
    let app = axum::Router::new().fallback(|| async { StatusCode::ACCEPTED });
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("sink serves");
    });
    format!("http://{addr}/webhook")
}
