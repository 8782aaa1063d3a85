//! The forwarder that runs inside a sandbox: TCP on loopback in, the egress proxy's Unix
//! socket out, and the agent as its child.
//!
//! In its own network namespace an agent has loopback only, while ordinary clients need a
//! TCP proxy address (`HTTPS_PROXY=http://127.0.0.1:3128`). This module owns that address:
//! it binds it before the agent starts, so the agent never races it, relays every
//! connection byte for byte to a fresh connection on the bind-mounted proxy socket, runs
//! the agent with the forwarder's own stdin, stdout and stderr, and exits as the agent
//! exits.
//!
//! It is no security boundary and must not become one: every decision is taken by the
//! proxy outside the sandbox ([`super::egress`]), so an agent that kills or bypasses the
//! forwarder only loses its own network. It uses the standard library only (no async
//! runtime: it starts in milliseconds) and never writes to stdout, which is the agent's.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::thread;
use std::time::Duration;

/// Exit code when the forwarder itself cannot start (its address is taken, no threads).
const FORWARDER_FAILED: u8 = 125;
/// Exit code when the program cannot be started, as shells use.
const CANNOT_START: u8 = 127;
/// Pause after a failed `accept` (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Listens on `listen`, relays each connection to the Unix socket `socket`, and runs
/// `program` with `args` to its end.
///
/// Returns the program's exit code, 128 + n when signal n killed it, 127 when it could
/// not be started and 125 when the forwarder could not listen. Failures are one line on
/// stderr; success prints nothing.
pub fn run(
    listen: SocketAddr,
    socket: PathBuf,
    program: OsString,
    args: Vec<OsString>,
) -> ExitCode {
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("flotilla sandbox-forward: cannot listen on {listen}: {error}");
            return ExitCode::from(FORWARDER_FAILED);
        }
    };
    let accepting = thread::Builder::new()
        .name("forward-accept".to_owned())
        .spawn(move || accept(&listener, &socket));
    if let Err(error) = accepting {
        eprintln!("flotilla sandbox-forward: cannot start accepting: {error}");
        return ExitCode::from(FORWARDER_FAILED);
    }
    match Command::new(&program).args(&args).status() {
        Ok(status) => ExitCode::from(exit_code(status)),
        Err(error) => {
            eprintln!(
                "flotilla sandbox-forward: cannot start {}: {error}",
                program.to_string_lossy()
            );
            ExitCode::from(CANNOT_START)
        }
    }
}

/// The exit code a shell would report for the program: its own, or 128 + the signal.
fn exit_code(status: ExitStatus) -> u8 {
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal));
    code.and_then(|code| u8::try_from(code).ok())
        .unwrap_or(u8::MAX)
}

/// Accepts connections for as long as the process lives, one relay thread each.
fn accept(listener: &TcpListener, socket: &Path) {
    loop {
        match listener.accept() {
            Ok((client, _)) => {
                let socket = socket.to_owned();
                // Without a thread the client (moved into the closure) is dropped: it
                // sees its connection close, as when the proxy is unreachable.
                let _ = thread::Builder::new()
                    .name("forward-relay".to_owned())
                    .spawn(move || relay(client, &socket));
            }
            Err(_) => thread::sleep(ACCEPT_BACKOFF),
        }
    }
}

/// Relays one client connection to a new connection on the proxy's socket, both ways,
/// until both directions have ended.
fn relay(client: TcpStream, socket: &Path) {
    let proxy = match UnixStream::connect(socket) {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!(
                "flotilla sandbox-forward: cannot reach the egress proxy at {}: {error}",
                socket.display()
            );
            return;
        }
    };
    let (Ok(client_reader), Ok(proxy_writer)) = (client.try_clone(), proxy.try_clone()) else {
        return;
    };
    let outbound = thread::Builder::new()
        .name("forward-out".to_owned())
        .spawn(move || pump(client_reader, proxy_writer));
    pump(proxy, client);
    if let Ok(outbound) = outbound {
        let _ = outbound.join();
    }
}

/// A connected socket whose halves can be closed on their own.
trait Socket: Read + Write {
    fn close(&self, how: Shutdown);
}

impl Socket for TcpStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Socket for UnixStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

/// Copies `from` into `to` until `from` ends, then passes the end on (closes the writing
/// half of `to`); on an error both sockets are closed so the other direction ends too.
fn pump(mut from: impl Socket, mut to: impl Socket) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => to.close(Shutdown::Write),
        Err(_) => {
            to.close(Shutdown::Both);
            from.close(Shutdown::Both);
        }
    }
}
