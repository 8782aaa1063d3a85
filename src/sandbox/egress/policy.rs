//! What a sandbox may reach: targets, never-allowed patterns and the policy joining them.
//!
//! This module owns the spelling of targets. Every host is normalized once, when it is
//! read (lower case, no trailing dot, canonical IPv6, no user info, path or port hidden
//! in it), so that deciding is comparing strings and no second spelling of a
//! never-allowed host (`GitHub.com.`) slips past its pattern.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// What went wrong reading an egress setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressConfigError {
    /// A target (`host:port`) or host pattern that cannot be read.
    #[error("`{input}` is not a valid egress target: {problem}")]
    Target {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A GitHub API URL whose host and port cannot be read.
    #[error("`{url}` is not a GitHub API URL: {problem}")]
    ApiUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A network target an agent may name: a host (DNS name or IP address) and a port.
///
/// Hosts are kept normalized (lower case, no trailing dot, IPv6 in canonical form) so
/// that comparing two targets is comparing strings; the fields are private so that no
/// target escapes that normalization.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl EgressConfigError {
    /// The error for the target or pattern `input`, given what is wrong with it.
    fn target(input: String) -> impl Fn(&'static str) -> Self {
        move |problem| Self::Target {
            input: input.clone(),
            problem,
        }
    }
}

impl HostPort {
    /// A target from a host (IPv6 in brackets or not) and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, EgressConfigError> {
        let problem = EgressConfigError::target(format!("{host}:{port}"));
        if port == 0 {
            return Err(problem("the port must be 1-65535"));
        }
        let unbracketed = host.parse::<Ipv6Addr>().map(|ip| format!("[{ip}]"));
        let host = normalize_host(unbracketed.as_deref().unwrap_or(host)).map_err(problem)?;
        Ok(Self { host, port })
    }

    /// The host, normalized; an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as a URL or `Host` header writes it: IPv6 addresses in brackets.
    pub(super) fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl FromStr for HostPort {
    type Err = EgressConfigError;

    /// Reads `host:port`, `[v6]:port` or `1.2.3.4:port`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let problem = EgressConfigError::target(input.to_owned());
        let (host, port) = input
            .rsplit_once(':')
            .filter(|_| !input.ends_with(']'))
            .ok_or_else(|| problem("expected host:port, such as api.anthropic.com:443"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| problem("the port must be a number from 1 to 65535"))?;
        let host = normalize_host(host).map_err(problem)?;
        Ok(Self { host, port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_for_url(), self.port)
    }
}

/// A host, a family of hosts or a target that a policy never allows, whatever its allow
/// list says: the never-allowed list exists so a configuration mistake cannot open GitHub.
///
/// Read from text: `*.github.com` (every subdomain, not the domain itself), `github.com`
/// (the host on any port) or `host:port` (that target only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern(Pattern);

/// The kinds of [`HostPattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// This host, on any port.
    Host(String),
    /// Every subdomain of this domain.
    Subdomains(String),
    /// This host on this port.
    Target(HostPort),
}

impl HostPattern {
    /// Whether the pattern covers the target.
    pub fn matches(&self, target: &HostPort) -> bool {
        match &self.0 {
            Pattern::Host(host) => target.host == *host,
            Pattern::Subdomains(domain) => target
                .host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            Pattern::Target(exact) => target == exact,
        }
    }
}

impl FromStr for HostPattern {
    type Err = EgressConfigError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let problem = EgressConfigError::target(input.to_owned());
        if let Some(domain) = input.strip_prefix("*.") {
            return Ok(Self(Pattern::Subdomains(
                normalize_host(domain).map_err(problem)?,
            )));
        }
        let bare_host = !input.contains(':') || (input.starts_with('[') && input.ends_with(']'));
        if bare_host {
            Ok(Self(Pattern::Host(normalize_host(input).map_err(problem)?)))
        } else {
            Ok(Self(Pattern::Target(input.parse()?)))
        }
    }
}

impl From<HostPort> for HostPattern {
    fn from(target: HostPort) -> Self {
        Self(Pattern::Target(target))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Pattern::Host(host) if host.contains(':') => write!(f, "[{host}]"),
            Pattern::Host(host) => f.write_str(host),
            Pattern::Subdomains(domain) => write!(f, "*.{domain}"),
            Pattern::Target(target) => target.fmt(f),
        }
    }
}

/// Where a sandbox's connections may go: exactly the listed targets, minus anything a
/// never-allowed pattern covers.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    allow: Vec<HostPort>,
    never: Vec<HostPattern>,
}

/// Why a policy refuses a target.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The target matches a never-allowed pattern (it may also be on the allow list).
    #[error("never allowed (matches {0})")]
    Never(HostPattern),
    /// The target is not on the allow list.
    #[error("not on the allow list")]
    NotAllowed,
}

impl EgressPolicy {
    /// A policy allowing `allow` except what `never` covers (usually [`github_hosts`]).
    pub fn new(allow: Vec<HostPort>, never: Vec<HostPattern>) -> Self {
        Self { allow, never }
    }

    /// Whether a connection to `target` may be made, and if not why.
    pub fn check(&self, target: &HostPort) -> Result<(), Refusal> {
        if let Some(pattern) = self.never.iter().find(|pattern| pattern.matches(target)) {
            return Err(Refusal::Never(pattern.clone()));
        }
        if self.allow.contains(target) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }
}

/// GitHub's hosts, and the host and port of the GitHub API Flotilla is configured with
/// (GitHub Enterprise Server, or the simulator): the never-allowed list for sandboxes.
pub fn github_hosts(api_url: &str) -> Result<Vec<HostPattern>, EgressConfigError> {
    let problem = |problem: String| EgressConfigError::ApiUrl {
        url: api_url.to_owned(),
        problem,
    };
    let url = reqwest::Url::parse(api_url).map_err(|error| problem(error.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| problem("it names no host".to_owned()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| problem("it names no port and its scheme has no default".to_owned()))?;
    let configured = HostPort::new(host, port).map_err(|error| problem(error.to_string()))?;
    let mut never = super::GITHUB_PATTERNS
        .map(|pattern| pattern.parse::<HostPattern>())
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    never.push(configured.into());
    Ok(never)
}

/// Lower case, without a trailing dot; IPv6 addresses in brackets, canonical and kept
/// without their brackets. Letters, digits, `-`, `_` and `.` only: no user info, path
/// or port can hide in a host.
fn normalize_host(host: &str) -> Result<String, &'static str> {
    if let Some(inner) = host.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
            .map(|ip| ip.to_string())
            .ok_or("a host in brackets must be an IPv6 address");
    }
    if host.contains(':') {
        return Err("an IPv6 address goes in brackets, such as [::1]:443");
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return Err("the host is empty");
    }
    if host.len() > 253 {
        return Err("the host is longer than 253 characters");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("a host holds only letters, digits, '-', '_' and '.'");
    }
    if host.split('.').any(str::is_empty) {
        return Err("a host has no empty labels");
    }
    Ok(host)
}
