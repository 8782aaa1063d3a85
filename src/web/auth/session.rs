//! Server-side sessions: the browser holds only a random id in an `HttpOnly` cookie;
//! the login, the user's token and the CSRF token stay in this process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use secrecy::SecretString;

use super::SESSION_COOKIE;

/// How long a login attempt (the OAuth `state`) stays valid.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// The most login attempts kept at once: anyone may start one, so the oldest give way.
const MAX_PENDING: usize = 10_000;

/// One logged-in browser.
#[derive(Clone, Debug)]
pub(super) struct Session {
    pub login: String,
    pub token: SecretString,
    pub csrf: String,
    expires: Instant,
}

/// A login started at `/login` and not yet back at `/oauth/callback`.
#[derive(Debug)]
struct Pending {
    next: String,
    expires: Instant,
}

/// The sessions and pending logins of this process.
#[derive(Debug)]
pub(super) struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// 256 bits from the OS random source, hex-encoded.
pub(super) fn random_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session and returns its id (the cookie value).
    pub fn create(&self, login: String, token: SecretString) -> String {
        let id = random_token();
        let now = Instant::now();
        let session = Session {
            login,
            token,
            csrf: random_token(),
            expires: now + self.ttl,
        };
        let mut live = self.live.lock().expect("sessions lock");
        live.retain(|_, s| s.expires > now);
        live.insert(id.clone(), session);
        id
    }

    /// The live session `id` names.
    pub fn get(&self, id: &str) -> Option<Session> {
        let live = self.live.lock().expect("sessions lock");
        live.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    /// Ends the session `id`.
    pub fn remove(&self, id: &str) {
        self.live.lock().expect("sessions lock").remove(id);
    }

    /// Records a login attempt; returns its `state`.
    pub fn begin(&self, next: String) -> String {
        let state = random_token();
        let now = Instant::now();
        let mut pending = self.pending.lock().expect("sessions lock");
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(state, _)| state.clone());
            if let Some(oldest) = oldest {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            state.clone(),
            Pending {
                next,
                expires: now + PENDING_TTL,
            },
        );
        state
    }

    /// Consumes a login attempt: the page to return to, or `None` when `state` is
    /// unknown, used or expired.
    pub fn finish(&self, state: &str) -> Option<String> {
        let mut pending = self.pending.lock().expect("sessions lock");
        pending
            .remove(state)
            .filter(|p| p.expires > Instant::now())
            .map(|p| p.next)
    }
}

/// The session id from the request's `Cookie` headers.
pub(super) fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that stores `id` (or, with `None`, clears the cookie).
pub(super) fn set_cookie(id: Option<&str>, secure: bool, ttl: Duration) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            ttl.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}
