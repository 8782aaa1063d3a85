//! A small fake of GitHub's REST and GraphQL edge for the client's tests, over real HTTP.
//!
//! It verifies App JWTs with the test public key, mints installation tokens with a
//! configurable lifetime, refuses requests without a live token, answers scripted
//! responses per route and records every request. Faults are data: a test scripts
//! `[502, 200]` and the fake plays them in order (the last answer repeats).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

/// The App id the fake expects as JWT `iss`.
pub const APP_ID: u64 = 4242;

/// Where the throwaway test keys live.
pub fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    delay: Duration,
}

impl Canned {
    /// An answer with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }

    /// A GitHub-style error answer.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, json!({ "message": message }))
    }

    /// GitHub's secondary rate limit: a 403 that says to wait `retry_after` seconds.
    pub fn secondary_rate_limit(retry_after: &str) -> Self {
        Self::error(403, "You have exceeded a secondary rate limit.")
            .header("retry-after", retry_after)
    }

    /// GitHub's primary rate limit: a 403 with no requests left until the `reset` epoch.
    pub fn primary_rate_limit(reset: &str) -> Self {
        Self::error(403, "API rate limit exceeded")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset)
    }

    /// Answers only after `delay`, to let requests overlap.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path without query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// The bearer credential (JWT or installation token).
    pub bearer: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// JSON body (`Null` when empty).
    pub body: Value,
}

/// A verified App JWT's claims.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Claims {
    /// Issued at.
    pub iat: u64,
    /// Expiry.
    pub exp: u64,
    /// App id.
    pub iss: u64,
}

/// A minted installation token.
#[derive(Clone, Debug)]
pub struct Minted {
    /// The token text.
    pub token: String,
    /// For which installation.
    pub installation: u64,
    /// Expiry.
    pub expires_at: SystemTime,
}

struct Inner {
    decoding: DecodingKey,
    token_ttl: Duration,
    minted: Vec<Minted>,
    claims: Vec<Claims>,
    scripts: HashMap<(Method, String), VecDeque<Canned>>,
    requests: Vec<Recorded>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A running fake; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeGithub {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    /// Starts the fake on an ephemeral port.
    pub async fn start() -> Self {
        let pem = std::fs::read(key_path("test-app.pub.pem")).expect("test public key");
        let inner = Inner {
            decoding: DecodingKey::from_rsa_pem(&pem).expect("valid test public key"),
            token_ttl: Duration::from_secs(3600),
            minted: Vec::new(),
            claims: Vec::new(),
            scripts: HashMap::new(),
            requests: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
        };
        let inner = Arc::new(Mutex::new(inner));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, inner }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Sets how long minted installation tokens live.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().token_ttl = ttl;
    }

    /// Scripts the answers to `method path` (path without query), played in order; the
    /// last one repeats.
    pub fn script(&self, method: Method, path: &str, answers: Vec<Canned>) {
        self.lock()
            .scripts
            .insert((method, path.to_owned()), answers.into());
    }

    /// Tokens minted so far.
    pub fn minted(&self) -> Vec<Minted> {
        self.lock().minted.clone()
    }

    /// Claims of every verified App JWT.
    pub fn jwt_claims(&self) -> Vec<Claims> {
        self.lock().claims.clone()
    }

    /// The most scripted requests that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// Scripted-route requests received for `method path`.
    pub fn requests_to(&self, method: Method, path: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (answer, scripted) = decide(&inner, method, &uri, headers, &body);
    tokio::time::sleep(answer.delay).await;
    if scripted {
        lock(&inner).in_flight -= 1;
    }
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(answer.body),
    )
        .into_response();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// Authenticates and records a request, then picks its scripted answer (`true`); auth
/// routes and refusals are answered directly (`false`).
fn decide(
    inner: &Mutex<Inner>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: &[u8],
) -> (Canned, bool) {
    let mut inner = lock(inner);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let path = uri.path().to_owned();

    if path.starts_with("/app") {
        if let Err(message) = verify_jwt(&mut inner, bearer.as_deref()) {
            return (Canned::error(401, &message), false);
        }
        if let Some(id) = path
            .strip_prefix("/app/installations/")
            .and_then(|rest| rest.strip_suffix("/access_tokens"))
        {
            return (mint(&mut inner, id.parse().unwrap_or_default()), false);
        }
    } else if !token_is_live(&inner, bearer.as_deref()) {
        return (Canned::error(401, "Bad credentials"), false);
    }

    inner.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        bearer,
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    let answer = match inner.scripts.get_mut(&(method, path)) {
        Some(queue) if queue.len() > 1 => queue.pop_front(),
        Some(queue) => queue.front().cloned(),
        None => None,
    };
    inner.in_flight += 1;
    inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
    (
        answer.unwrap_or_else(|| Canned::error(404, "Not Found")),
        true,
    )
}

/// Checks an App JWT the way GitHub does: RS256, our `iss`, `iat` in the past,
/// `exp` at most 10 minutes ahead.
fn verify_jwt(inner: &mut Inner, bearer: Option<&str>) -> Result<(), String> {
    let token = bearer.ok_or("missing JWT")?;
    let mut validation = Validation::new(Algorithm::RS256);
    // `iss` is numeric for GitHub Apps; jsonwebtoken only knows string issuers.
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Claims>(token, &inner.decoding, &validation)
        .map_err(|e| format!("invalid JWT: {e}"))?;
    let claims = data.claims;
    let now = unix_now();
    if claims.iss != APP_ID {
        return Err(format!("wrong iss {}", claims.iss));
    }
    if claims.iat > now || claims.exp > now + 600 || claims.exp <= claims.iat {
        return Err(format!("bad JWT times {claims:?} at {now}"));
    }
    inner.claims.push(claims);
    Ok(())
}

fn token_is_live(inner: &Inner, bearer: Option<&str>) -> bool {
    let now = SystemTime::now();
    bearer.is_some_and(|token| {
        inner
            .minted
            .iter()
            .any(|m| m.token == token && m.expires_at > now)
    })
}

fn mint(inner: &mut Inner, installation: u64) -> Canned {
    let token = format!("ghs_fake_{installation}_{}", inner.minted.len() + 1);
    let expires_at = SystemTime::now() + inner.token_ttl;
    inner.minted.push(Minted {
        token: token.clone(),
        installation,
        expires_at,
    });
    let body = json!({
        "token": token,
        "expires_at": rfc3339(expires_at),
        "permissions": { "issues": "write" },
    });
    Canned::json(201, body)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as GitHub writes `expires_at` (with milliseconds so
/// tests can use sub-second lifetimes).
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}
