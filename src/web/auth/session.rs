//! Sessions kept by the browser: the login, the user's token, the expiry and the CSRF
//! token travel in one cookie, encrypted and authenticated (AES-256-GCM, axum-extra's
//! private cookies) with a key derived from the App's OAuth client secret
//! (HKDF-SHA256). Every process serving the same App derives the same key, so any of
//! them reads a session another started, and a restart logs nobody out.
//!
//! Threat it stops: a browser (or whoever holds its cookie jar for a moment) reading
//! the GitHub token it carries, forging a session for another login, or stretching its
//! own expiry — any change to the cookie fails authentication and reads as no session.
//! What it does not stop: a cookie copied off a browser stays valid until it expires
//! (logout clears it from that browser only), as with any bearer credential; the
//! session lasts [`super::AuthConfig::session_ttl`] for that reason.
//!
//! A login attempt's OAuth `state` travels the same way in a second, short-lived
//! cookie, bound to the browser that started the attempt and cleared when it is used.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{LOGIN_COOKIE, SESSION_COOKIE};

/// How long a login attempt (the OAuth `state`) stays valid.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// HKDF's `info`: names what the derived key is for, so no other use of the client
/// secret can yield the same key.
const KEY_INFO: &[u8] = b"flotilla dashboard sessions v1";

/// One logged-in browser, as its cookie carries it.
#[derive(Clone, Debug)]
pub(super) struct Session {
    pub login: String,
    pub token: SecretString,
    pub csrf: String,
}

/// The session cookie's plaintext.
#[derive(Serialize, Deserialize)]
struct SessionWire {
    login: String,
    token: String,
    csrf: String,
    /// Milliseconds since the Unix epoch.
    expires: u64,
}

/// The login-attempt cookie's plaintext.
#[derive(Serialize, Deserialize)]
struct PendingWire {
    state: String,
    next: String,
    expires: u64,
}

/// Seals and opens the dashboard's cookies.
#[derive(Clone)]
pub(super) struct SessionCookies {
    key: Key,
    ttl: Duration,
    secure: bool,
}

impl std::fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookies")
            .field("ttl", &self.ttl)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// 256 bits from the OS random source, hex-encoded.
pub(super) fn random_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ttl` from now, in milliseconds since the Unix epoch.
fn after(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// The cookie key every process derives from the same client secret.
fn derive_key(client_secret: &SecretString) -> Key {
    let hkdf = Hkdf::<Sha256>::new(None, client_secret.expose_secret().as_bytes());
    let mut okm = [0u8; 64];
    hkdf.expand(KEY_INFO, &mut okm)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    Key::from(&okm)
}

impl SessionCookies {
    /// Cookies sealed with the key derived from `client_secret`, sessions lasting
    /// `ttl`, `Secure` when the dashboard is served over HTTPS.
    pub fn new(client_secret: &SecretString, ttl: Duration, secure: bool) -> Self {
        Self {
            key: derive_key(client_secret),
            ttl,
            secure,
        }
    }

    fn jar(&self, headers: &HeaderMap) -> PrivateCookieJar {
        PrivateCookieJar::from_headers(headers, self.key.clone())
    }

    /// A cookie with the attributes every dashboard cookie has.
    fn cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(time_from(max_age))
            .build()
    }

    /// The live session the request's cookie carries; `None` when it has none, or one
    /// that was altered, sealed with another key, or has expired.
    pub fn open(&self, headers: &HeaderMap) -> Option<Session> {
        let cookie = self.jar(headers).get(SESSION_COOKIE)?;
        let wire: SessionWire = serde_json::from_str(cookie.value()).ok()?;
        (wire.expires > now_ms()).then(|| Session {
            login: wire.login,
            token: wire.token.into(),
            csrf: wire.csrf,
        })
    }

    /// Starts a session for `login`: the jar that sets its cookie (and clears the
    /// finished login attempt's).
    pub fn start(
        &self,
        headers: &HeaderMap,
        login: String,
        token: &SecretString,
    ) -> PrivateCookieJar {
        let wire = SessionWire {
            login,
            token: token.expose_secret().to_owned(),
            csrf: random_token(),
            expires: after(self.ttl),
        };
        let value = serde_json::to_string(&wire).expect("a session serializes");
        self.jar(headers)
            .remove(self.removal(LOGIN_COOKIE))
            .add(self.cookie(SESSION_COOKIE, value, self.ttl))
    }

    /// Ends the session: the jar that clears its cookie.
    pub fn end(&self, headers: &HeaderMap) -> PrivateCookieJar {
        self.jar(headers).remove(self.removal(SESSION_COOKIE))
    }

    /// Records a login attempt that returns to `next`: its `state`, and the jar that
    /// sets its cookie.
    pub fn begin_login(&self, headers: &HeaderMap, next: String) -> (String, PrivateCookieJar) {
        let state = random_token();
        let wire = PendingWire {
            state: state.clone(),
            next,
            expires: after(PENDING_TTL),
        };
        let value = serde_json::to_string(&wire).expect("a login attempt serializes");
        let jar = self
            .jar(headers)
            .add(self.cookie(LOGIN_COOKIE, value, PENDING_TTL));
        (state, jar)
    }

    /// The page to return to after the login attempt `state`, when this browser
    /// started it less than ten minutes ago; `None` otherwise. The caller clears the
    /// attempt's cookie (starting the session does), so a state works once.
    pub fn finish_login(&self, headers: &HeaderMap, state: &str) -> Option<String> {
        let cookie = self.jar(headers).get(LOGIN_COOKIE)?;
        let wire: PendingWire = serde_json::from_str(cookie.value()).ok()?;
        let matches = bool::from(wire.state.as_bytes().ct_eq(state.as_bytes()));
        (matches && wire.expires > now_ms()).then_some(wire.next)
    }

    /// The jar that clears a login attempt's cookie.
    pub fn abandon_login(&self, headers: &HeaderMap) -> PrivateCookieJar {
        self.jar(headers).remove(self.removal(LOGIN_COOKIE))
    }

    /// What removes cookie `name` (its path and attributes must match).
    fn removal(&self, name: &'static str) -> Cookie<'static> {
        Cookie::build((name, ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }
}

/// A `Duration` as the cookie crate's `Max-Age`.
fn time_from(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
