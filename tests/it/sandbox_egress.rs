//! The egress proxy and the in-sandbox forwarder, as a hostile agent meets them: the real
//! `flotilla sandbox-forward` binary runs `curl` (the agent) with its proxy on a loopback
//! port, relayed to the proxy's Unix socket. Allowed targets answer; everything else is
//! refused with a 403 that the proxy records, and the refused servers never see a byte.
//! Every address is on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;
use flotilla::sandbox::egress::{
    EgressPolicy, EgressProxy, HostPattern, HostPort, RefusedConnection, github_hosts,
};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one forwarded program may run.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A loopback HTTP server that answers every request with what it received, and counts.
struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            counted.fetch_add(1, Ordering::SeqCst);
            let header = |name: &str| {
                headers.get(name).map_or("none".to_owned(), |v| {
                    String::from_utf8_lossy(v.as_bytes()).into()
                })
            };
            let answer = format!(
                "{method} {uri} host={} proxy-authorization={}",
                header("host"),
                header("proxy-authorization")
            );
            async move { answer }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, hits }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A proxy on a socket in a fresh directory, allowing `allow` and never `never`.
fn proxy(allow: &[String], never: Vec<HostPattern>) -> (TempDir, EgressProxy) {
    let dir = TempDir::new().expect("temporary directory");
    let allow = allow
        .iter()
        .map(|t| t.parse::<HostPort>().expect("target"))
        .collect();
    let proxy = EgressProxy::start(
        &dir.path().join("egress.sock"),
        EgressPolicy::new(allow, never),
    )
    .expect("proxy starts");
    (dir, proxy)
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The agent side: `flotilla sandbox-forward` on a free loopback port, relaying to
/// `socket` and running `program` with `http_proxy` and `HTTPS_PROXY` pointing at it.
struct Sandbox {
    listen: SocketAddr,
    socket: PathBuf,
}

impl Sandbox {
    fn new(socket: &Path) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
            socket: socket.to_owned(),
        }
    }

    fn proxy_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    async fn run(&self, program: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
        command
            .arg("sandbox-forward")
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--socket")
            .arg(&self.socket)
            .arg("--")
            .args(program)
            .kill_on_drop(true);
        for name in [
            "no_proxy",
            "NO_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "https_proxy",
        ] {
            command.env_remove(name);
        }
        for name in ["http_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            command.env(name, self.proxy_url());
        }
        tokio::time::timeout(RUN_LIMIT, command.output())
            .await
            .expect("the forwarded program ends")
            .expect("flotilla runs")
    }

    /// `curl` tunnelling with `CONNECT` through the forwarder to `url`.
    async fn curl_tunnel(&self, url: &str, extra: &[&str]) -> Output {
        let proxy = self.proxy_url();
        let mut program = vec!["curl", "-sS", "--proxytunnel", "-x", &proxy];
        program.extend_from_slice(extra);
        program.push(url);
        self.run(&program).await
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn refusal(target: &str, reason: &str) -> RefusedConnection {
    RefusedConnection {
        target: target.to_owned(),
        reason: reason.to_owned(),
    }
}

#[tokio::test]
async fn connect_to_an_allowed_target_tunnels_through_the_socket() {
    let upstream = Upstream::start().await;
    let (_dir, proxy) = proxy(
        &[upstream.target()],
        github_hosts("https://api.github.com").expect("url"),
    );
    let sandbox = Sandbox::new(proxy.socket_path());

    let output = sandbox
        .curl_tunnel(&format!("http://{}/hello?x=1", upstream.target()), &[])
        .await;

    assert!(output.status.success(), "curl failed: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "GET /hello?x=1 host={} proxy-authorization=none",
            upstream.target()
        ),
        "the agent's stdout holds the answer and nothing from the forwarder"
    );
    assert_eq!(upstream.hits(), 1);
    assert_eq!(proxy.allowed(), [upstream.target()]);
    assert_eq!(proxy.refused(), []);
}

#[tokio::test]
async fn connect_to_a_port_not_allowed_is_refused_and_recorded() {
    let allowed = Upstream::start().await;
    let other = Upstream::start().await;
    let (_dir, proxy) = proxy(&[allowed.target()], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    let output = sandbox
        .curl_tunnel(
            &format!("http://{}/exfiltrate", other.target()),
            &["-o", "/dev/null", "-w", "%{http_connect}"],
        )
        .await;

    assert!(!output.status.success(), "the tunnel must fail");
    assert_eq!(stdout(&output), "403");
    assert_eq!(other.hits(), 0, "the refused server saw nothing");
    assert_eq!(
        proxy.refused(),
        [refusal(&other.target(), "not on the allow list")]
    );
    assert_eq!(proxy.allowed(), Vec::<String>::new());
}

#[tokio::test]
async fn github_is_refused_even_when_the_allow_list_names_it() {
    // The simulator stands in for a GitHub Enterprise Server at a configured API URL.
    let simulated_api = Upstream::start().await;
    let never = github_hosts(&format!("http://{}/api/v3", simulated_api.target())).expect("url");
    let (_dir, proxy) = proxy(
        &["api.github.com:443".to_owned(), simulated_api.target()],
        never,
    );
    let sandbox = Sandbox::new(proxy.socket_path());

    let to_github = sandbox
        .curl_tunnel(
            "https://api.github.com/repos/acme/widgets",
            &["-o", "/dev/null", "-w", "%{http_connect}"],
        )
        .await;
    let to_api = sandbox
        .curl_tunnel(
            &format!("http://{}/api/v3/user", simulated_api.target()),
            &["-o", "/dev/null", "-w", "%{http_connect}"],
        )
        .await;

    assert_eq!(stdout(&to_github), "403", "{}", stderr(&to_github));
    assert_eq!(stdout(&to_api), "403", "{}", stderr(&to_api));
    assert_eq!(simulated_api.hits(), 0);
    assert_eq!(
        proxy.refused(),
        [
            refusal("api.github.com:443", "never allowed (matches *.github.com)"),
            refusal(
                &simulated_api.target(),
                &format!("never allowed (matches {})", simulated_api.target())
            ),
        ]
    );
    assert_eq!(proxy.allowed(), Vec::<String>::new());
}

#[tokio::test]
async fn plain_http_through_http_proxy_reaches_an_allowed_server_and_no_other_host() {
    let upstream = Upstream::start().await;
    let (_dir, proxy) = proxy(&[upstream.target()], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    // curl reads `http_proxy` from the environment; the agent also tries to name another
    // virtual host and to pass credentials meant for the proxy on to the server.
    let output = sandbox
        .run(&[
            "curl",
            "-sS",
            "-H",
            "Host: api.github.com",
            "-H",
            "Proxy-Authorization: Basic c2VjcmV0",
            &format!("http://{}/v1/messages?stream=false", upstream.target()),
        ])
        .await;

    assert!(output.status.success(), "curl failed: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "GET /v1/messages?stream=false host={} proxy-authorization=none",
            upstream.target()
        ),
        "origin form, Host replaced by the target, proxy credentials dropped"
    );
    assert_eq!(proxy.allowed(), [upstream.target()]);
    assert_eq!(proxy.refused(), []);
}

#[tokio::test]
async fn plain_http_to_a_server_not_allowed_is_refused_with_a_reason() {
    let allowed = Upstream::start().await;
    let other = Upstream::start().await;
    let (_dir, proxy) = proxy(&[allowed.target()], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    let output = sandbox
        .run(&[
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            &format!("http://{}/upload", other.target()),
        ])
        .await;

    assert_eq!(
        stdout(&output),
        format!(
            "flotilla egress proxy: refused {}: not on the allow list\n\n403",
            other.target()
        )
    );
    assert_eq!(other.hits(), 0);
    assert_eq!(
        proxy.refused(),
        [refusal(&other.target(), "not on the allow list")]
    );
}

#[tokio::test]
async fn a_request_that_names_no_target_is_refused() {
    let (_dir, proxy) = proxy(&[], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    // Straight at the forwarder, as if it were a server: origin form, no target.
    let url = format!("{}/steal", sandbox.proxy_url());
    let output = sandbox
        .run(&[
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
        .await;

    assert_eq!(stdout(&output), "403", "{}", stderr(&output));
    assert_eq!(
        proxy.refused(),
        [refusal(
            &format!("{}/steal", sandbox.listen),
            "not a proxy request: it names no target (origin-form)"
        )]
    );
}

#[tokio::test]
async fn the_forwarder_exits_as_its_program_exits() {
    let (_dir, proxy) = proxy(&[], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    let exited = sandbox.run(&["sh", "-c", "exit 7"]).await;
    assert_eq!(exited.status.code(), Some(7));
    assert!(exited.stdout.is_empty() && exited.stderr.is_empty());

    let succeeded = sandbox.run(&["sh", "-c", "echo agent output"]).await;
    assert_eq!(succeeded.status.code(), Some(0));
    assert_eq!(stdout(&succeeded), "agent output\n");
    assert!(succeeded.stderr.is_empty(), "{}", stderr(&succeeded));

    let killed = sandbox.run(&["sh", "-c", "kill -KILL $$"]).await;
    assert_eq!(killed.status.code(), Some(128 + 9));
    let terminated = sandbox.run(&["sh", "-c", "kill -TERM $$"]).await;
    assert_eq!(terminated.status.code(), Some(128 + 15));
}

#[tokio::test]
async fn a_program_that_cannot_start_exits_127_with_one_line() {
    let (_dir, proxy) = proxy(&[], Vec::new());
    let sandbox = Sandbox::new(proxy.socket_path());

    let output = sandbox.run(&["/nonexistent/agent", "--flag"]).await;

    assert_eq!(output.status.code(), Some(127));
    assert!(output.stdout.is_empty());
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot start /nonexistent/agent"),
        "{stderr}"
    );
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_tunnels_and_removes_its_socket() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo_port = echo.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    let target = format!("127.0.0.1:{echo_port}");
    let (_dir, proxy) = proxy(std::slice::from_ref(&target), Vec::new());
    let socket = proxy.socket_path().to_owned();

    // A client speaking to the socket directly, as the forwarder relays it.
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .expect("proxy socket");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection.with_upgrades());
    let request = http::Request::builder()
        .method(Method::CONNECT)
        .uri(target.as_str())
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender
        .send_request(request)
        .await
        .expect("CONNECT answered");
    assert_eq!(response.status(), 200);
    let mut tunnel = TokioIo::new(hyper::upgrade::on(response).await.expect("upgraded"));
    tunnel.write_all(b"ping").await.expect("write");
    let mut echoed = [0u8; 4];
    tunnel.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(&echoed, b"ping");

    drop(proxy);

    assert!(!socket.exists(), "the socket file is removed");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tunnel.read_to_end(&mut rest))
        .await
        .expect("the live tunnel is closed");
    assert!(
        closed.is_err() || rest.is_empty(),
        "nothing more comes through: {closed:?} {rest:?}"
    );
    assert!(tokio::net::UnixStream::connect(&socket).await.is_err());
}
