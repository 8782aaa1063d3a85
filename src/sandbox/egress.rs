//! The egress proxy: the only way out of a sandbox's network namespace.
//!
//! A sandboxed agent has loopback only. Its HTTP clients talk to the forwarder
//! ([`super::forward`]) inside the sandbox, which relays each connection to this proxy's
//! Unix socket, bind-mounted into the sandbox. This module owns where those connections
//! may go: a `CONNECT host:port` tunnel or an absolute-form `http://` request reaches its
//! target only when the target is on the policy's allow list and matches nothing on its
//! never-allowed list (GitHub's hosts, so no configuration can let an agent talk to GitHub
//! behind Flotilla's back). Anything else is answered `403` and recorded, so the attempt's
//! outcome can say what the agent tried to reach.
//!
//! Threat stopped: an untrusted agent exfiltrating the repository or its prompt, or
//! reaching GitHub, the host's own services or the internet at large. Targets are matched
//! by name and port exactly as listed and are never followed elsewhere: a forwarded
//! request's `Host` header is replaced by its target. HTTP is parsed by hyper, never here.
//!
//! Known limits: a listed name is resolved by the host's resolver when connecting, so a
//! name whose DNS answer changes (DNS rebinding) reaches wherever it points at that
//! moment; and what travels inside a tunnel is not inspected (TLS to a listed front can
//! name another site behind the same front). Allow only names you trust.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod policy;
#[cfg(test)]
mod tests;

pub use policy::{EgressConfigError, EgressPolicy, HostPattern, HostPort, Refusal, github_hosts};

/// The proxy's socket file in an attempt's private directory (and so, inside the
/// sandbox, under `/run/flotilla`).
pub const SOCKET_NAME: &str = "egress.sock";

/// Hosts no repository configuration may list: GitHub's, whatever the API URL.
const GITHUB_PATTERNS: [&str; 3] = ["github.com", "*.github.com", "*.githubusercontent.com"];

/// Checks one `network.allow` entry of a repository's configuration: `host:port`, and
/// not one of GitHub's hosts. `Err` says what is wrong, for the config error.
pub fn check_allow_entry(entry: &str) -> Result<(), String> {
    let target: HostPort = entry
        .parse()
        .map_err(|error: EgressConfigError| error.to_string())?;
    let github = GITHUB_PATTERNS
        .iter()
        .filter_map(|pattern| pattern.parse::<HostPattern>().ok())
        .find(|pattern| pattern.matches(&target));
    match github {
        Some(pattern) => Err(format!(
            "`{entry}` is one of GitHub's hosts ({pattern}); agents never reach GitHub"
        )),
        None => Ok(()),
    }
}

impl EgressPolicy {
    /// The policy of one agent: its `network.allow` entries, with GitHub's hosts and
    /// the configured GitHub API's host never allowed.
    pub fn from_config(allow: &[String], github_api_url: &str) -> Result<Self, String> {
        let allow = allow
            .iter()
            .map(|entry| {
                entry
                    .parse::<HostPort>()
                    .map_err(|error| format!("`{entry}`: {error}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let never = github_hosts(github_api_url).map_err(|error| error.to_string())?;
        Ok(Self::new(allow, never))
    }
}

/// How many distinct allowed targets and refusals a proxy keeps for the report.
const KEPT_DECISIONS: usize = 100;
/// Longest target text kept in a record or a log line.
const KEPT_TARGET_CHARS: usize = 200;
/// How long connecting to an allowed target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's head (and may idle between requests).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Headers that describe one hop, not the message: never passed on.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// One connection the proxy refused: what the agent named and why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedConnection {
    /// The target as the agent named it (`host:port`, or the request line's target).
    pub target: String,
    /// Why it was refused.
    pub reason: String,
}

/// A running egress proxy on a Unix socket. Dropping it stops accepting, closes every
/// live tunnel and forwarded request, and removes the socket file.
///
/// Must be started inside a Tokio runtime.
pub struct EgressProxy {
    socket_path: PathBuf,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
    /// Held only to be dropped: its receivers end every connection task.
    _stop: watch::Sender<()>,
}

impl fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressProxy")
            .field("socket_path", &self.socket_path)
            .finish_non_exhaustive()
    }
}

impl EgressProxy {
    /// Listens on a new Unix socket at `socket_path` (which must not exist) and serves
    /// every connection under `policy` until the proxy is dropped.
    ///
    /// The socket is made reachable by any user (0666): it is reachable only where it is
    /// bind-mounted, and the agent may run under another uid inside its sandbox.
    pub fn start(socket_path: &Path, policy: EgressPolicy) -> io::Result<Self> {
        let listener = UnixListener::bind(socket_path)?;
        if let Err(error) =
            std::fs::set_permissions(socket_path, std::fs::Permissions::from_mode(0o666))
        {
            // The listener is dropped with this function; its file must go with it.
            let _ = std::fs::remove_file(socket_path);
            return Err(error);
        }
        let (stop, stopped) = watch::channel(());
        let shared = Arc::new(Shared {
            policy,
            journal: Mutex::new(Journal::default()),
            stopped,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(socket = %socket_path.display(), "egress proxy listening");
        Ok(Self {
            socket_path: socket_path.to_owned(),
            shared,
            accept,
            _stop: stop,
        })
    }

    /// The Unix socket the proxy listens on, to bind-mount into a sandbox.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The distinct targets connections were allowed to, first ones first (at most 100).
    pub fn allowed(&self) -> Vec<String> {
        self.shared.journal().allowed.clone()
    }

    /// The distinct refusals, first ones first (at most 100), for the attempt's outcome.
    pub fn refused(&self) -> Vec<RefusedConnection> {
        self.shared.journal().refused.clone()
    }

    /// Stops the proxy now; the same as dropping it, spelled out where that reads better.
    pub fn shutdown(self) {}
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.accept.abort();
        match std::fs::remove_file(&self.socket_path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                socket = %self.socket_path.display(),
                %error,
                "egress proxy: removing the socket failed"
            ),
        }
    }
}

/// What every connection of one proxy shares.
struct Shared {
    policy: EgressPolicy,
    journal: Mutex<Journal>,
    /// Ends (with an error) when the proxy is dropped.
    stopped: watch::Receiver<()>,
}

/// The decisions kept for the report: distinct entries, first ones first, capped.
#[derive(Default)]
struct Journal {
    allowed: Vec<String>,
    refused: Vec<RefusedConnection>,
}

/// The body of every response the proxy sends.
type ProxyBody = BoxBody<Bytes, hyper::Error>;

impl Shared {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Logs and keeps an allowed target.
    fn allow(&self, target: &HostPort, via: &'static str) {
        tracing::info!(target = %target, via, "egress allowed");
        let target = target.to_string();
        let mut journal = self.journal();
        if journal.allowed.len() < KEPT_DECISIONS && !journal.allowed.contains(&target) {
            journal.allowed.push(target);
        }
    }

    /// Logs and keeps a refusal, and builds the `403` answering it.
    fn refuse(&self, target: &str, reason: String) -> Response<ProxyBody> {
        let target = clip(target);
        tracing::warn!(target = %target, reason = %reason, "egress refused");
        let body = format!("flotilla egress proxy: refused {target}: {reason}\n");
        let refusal = RefusedConnection { target, reason };
        let mut journal = self.journal();
        if journal.refused.len() < KEPT_DECISIONS && !journal.refused.contains(&refusal) {
            journal.refused.push(refusal);
        }
        text(StatusCode::FORBIDDEN, body)
    }

    /// Checks `target` against the policy and connects to it; a refusal or a failed
    /// connection comes back as the answer to send instead.
    async fn reach(
        &self,
        target: &HostPort,
        via: &'static str,
    ) -> Result<TcpStream, Response<ProxyBody>> {
        if let Err(refusal) = self.policy.check(target) {
            return Err(self.refuse(&target.to_string(), refusal.to_string()));
        }
        self.allow(target, via);
        connect(target)
            .await
            .map_err(|error| bad_gateway(target, &error))
    }

    /// Runs `work` in its own task until it ends or the proxy is dropped.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut stopped = self.stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = work => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => shared.spawn(serve_connection(stream, Arc::clone(&shared))),
            Err(error) => {
                tracing::warn!(%error, "egress proxy: accepting a connection failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// An accepted `CONNECT`, waiting for hyper to hand over the client's connection.
struct Tunnel {
    client: OnUpgrade,
    upstream: TcpStream,
    target: HostPort,
}

impl Tunnel {
    async fn run(self) {
        let client = match self.client.await {
            Ok(client) => client,
            Err(error) => {
                tracing::debug!(target = %self.target, %error, "egress tunnel never opened");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = self.upstream;
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((sent, received)) => {
                tracing::debug!(target = %self.target, sent, received, "egress tunnel closed");
            }
            Err(error) => {
                tracing::debug!(target = %self.target, %error, "egress tunnel broke");
            }
        }
    }
}

/// Serves one client connection; a `CONNECT` on it becomes a tunnel run by this same
/// task once hyper hands the connection over, so dropping the proxy ends it too.
async fn serve_connection(stream: UnixStream, shared: Arc<Shared>) {
    let (tunnels, mut accepted) = mpsc::unbounded_channel::<Tunnel>();
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let tunnels = tunnels.clone();
        async move { Ok::<_, Infallible>(answer(request, &shared, &tunnels).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%error, "egress proxy: client connection ended with an error");
    }
    while let Ok(tunnel) = accepted.try_recv() {
        tunnel.run().await;
    }
}

async fn answer(
    request: Request<Incoming>,
    shared: &Shared,
    tunnels: &mpsc::UnboundedSender<Tunnel>,
) -> Response<ProxyBody> {
    if request.method() == Method::CONNECT {
        open_tunnel(request, shared, tunnels).await
    } else if request.uri().scheme().is_some() {
        forward(request, shared).await
    } else {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("(no Host header)");
        shared.refuse(
            &format!("{host}{}", request.uri()),
            "not a proxy request: it names no target (origin-form)".to_owned(),
        )
    }
}

async fn open_tunnel(
    mut request: Request<Incoming>,
    shared: &Shared,
    tunnels: &mpsc::UnboundedSender<Tunnel>,
) -> Response<ProxyBody> {
    let named = request.uri().to_string();
    let target = match request.uri().authority() {
        Some(authority) if authority.port().is_some() => authority.as_str().parse::<HostPort>(),
        _ => return shared.refuse(&named, "CONNECT needs a host:port target".to_owned()),
    };
    let target = match target {
        Ok(target) => target,
        Err(error) => return shared.refuse(&named, error.to_string()),
    };
    let upstream = match shared.reach(&target, "connect").await {
        Ok(upstream) => upstream,
        Err(answer) => return answer,
    };
    let tunnel = Tunnel {
        client: hyper::upgrade::on(&mut request),
        upstream,
        target,
    };
    // The receiver lives as long as the connection that is asking.
    let _ = tunnels.send(tunnel);
    Response::new(empty())
}

/// Forwards an absolute-form `http://` request to its target in origin form.
async fn forward(mut request: Request<Incoming>, shared: &Shared) -> Response<ProxyBody> {
    let named = request.uri().to_string();
    let target = match http_target(request.uri()) {
        Ok(target) => target,
        Err(reason) => return shared.refuse(&named, reason),
    };
    let upstream = match shared.reach(&target, "http").await {
        Ok(upstream) => upstream,
        Err(answer) => return answer,
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
            Ok(handshake) => handshake,
            Err(error) => return bad_gateway(&target, &error),
        };
    let logged = target.clone();
    shared.spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(target = %logged, %error, "egress upstream connection broke");
        }
    });
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
    strip_hop_by_hop(request.headers_mut());
    let host = if target.port() == 80 {
        target.host_for_url()
    } else {
        target.to_string()
    };
    match HeaderValue::from_str(&host) {
        Ok(host) => {
            request.headers_mut().insert(header::HOST, host);
        }
        Err(error) => return bad_gateway(&target, &error),
    }
    match sender.send_request(request).await {
        Ok(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            response.map(BodyExt::boxed)
        }
        Err(error) => bad_gateway(&target, &error),
    }
}

/// The target of an absolute-form request: `http://` only, port 80 by default.
fn http_target(uri: &Uri) -> Result<HostPort, String> {
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        return Err("only http:// is forwarded; other schemes go through CONNECT".to_owned());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "the request names no host".to_owned())?;
    let target = if authority.port().is_some() {
        authority.as_str().parse::<HostPort>()
    } else {
        format!("{authority}:80").parse::<HostPort>()
    };
    target.map_err(|error| error.to_string())
}

async fn connect(target: &HostPort) -> io::Result<TcpStream> {
    let connecting = TcpStream::connect((target.host(), target.port()));
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(connected) => connected,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {CONNECT_TIMEOUT:?}"),
        )),
    }
}

fn bad_gateway(target: &HostPort, error: &dyn fmt::Display) -> Response<ProxyBody> {
    tracing::warn!(target = %target, %error, "egress target unreachable");
    text(
        StatusCode::BAD_GATEWAY,
        format!("flotilla egress proxy: cannot reach {target}: {error}\n"),
    )
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// The target text kept for a record: at most [`KEPT_TARGET_CHARS`] characters.
fn clip(target: &str) -> String {
    match target.char_indices().nth(KEPT_TARGET_CHARS) {
        Some((end, _)) => format!("{}…", &target[..end]),
        None => target.to_owned(),
    }
}
