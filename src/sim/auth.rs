//! Who is calling: App JWTs (RS256, verified with the App's public key) and installation
//! access tokens (minted here, expiring after an hour of simulated time).
//!
//! Routes take `AppAuth`, `InstallationAuth`, `UserAuth` (a person's `ghu_…` token from
//! the OAuth flow) or `Caller` (either of the last two) as an extractor, so an
//! unauthenticated request never reaches a handler.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::types::{AppId, InstallationId, Login};

use super::Sim;
use super::error::ApiError;
use super::state::{Token, World};

/// GitHub's ceiling on a JWT's lifetime.
const MAX_JWT_LIFETIME_SECS: i64 = 600;
/// Clock drift GitHub tolerates.
const DRIFT_SECS: i64 = 60;

/// A request authenticated as a GitHub App (JWT).
pub struct AppAuth(pub AppId);

/// A request authenticated with an installation token: it acts as the App's bot.
#[derive(Clone)]
pub struct InstallationAuth {
    /// The installation.
    pub installation: InstallationId,
    /// Its App.
    pub app_id: AppId,
    /// The bot account the App acts as.
    pub bot: Login,
}

/// A request authenticated with a user-to-server token: it acts as a person, through
/// an App (so it sees only what both the person and the App's installations may).
#[derive(Clone, Debug)]
pub struct UserAuth {
    /// The person.
    pub login: Login,
    /// The App whose OAuth flow minted the token.
    pub app_id: AppId,
}

/// Either kind of token that reads repositories.
pub enum Caller {
    /// The App's bot.
    Installation(InstallationAuth),
    /// A person, through the App.
    User(UserAuth),
}

/// GitHub's 401 for a request that carries no token.
fn requires_authentication() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Requires authentication")
}

/// Extracts the credential from `Authorization: Bearer …` or `token …`.
fn credential(parts: &Parts) -> Option<String> {
    header_credential(&parts.headers)
}

/// The credential in a request's headers.
fn header_credential(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        Some(rest.trim().to_owned())
    } else {
        None
    }
}

impl FromRequestParts<Sim> for AppAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        let jwt = credential(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )
        })?;
        let world = sim.world();
        verify_jwt(&world, &jwt).map(AppAuth)
    }
}

impl FromRequestParts<Sim> for InstallationAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        let token = credential(parts).ok_or_else(requires_authentication)?;
        let world = sim.world();
        installation_for_token(&world, &token).ok_or_else(ApiError::bad_credentials)
    }
}

impl FromRequestParts<Sim> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        let token = credential(parts).ok_or_else(requires_authentication)?;
        let world = sim.world();
        world
            .oauth
            .user_tokens
            .get(&token)
            .cloned()
            .ok_or_else(ApiError::bad_credentials)
    }
}

impl FromRequestParts<Sim> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, ApiError> {
        match InstallationAuth::from_request_parts(parts, sim).await {
            Ok(installation) => Ok(Self::Installation(installation)),
            Err(_) => UserAuth::from_request_parts(parts, sim)
                .await
                .map(Self::User),
        }
    }
}

/// The installation a request acts as, when it carries a live installation token
/// (`None` for App JWTs, people's tokens and anonymous calls).
pub fn installation_of(world: &World, headers: &axum::http::HeaderMap) -> Option<InstallationId> {
    let token = header_credential(headers)?;
    installation_for_token(world, &token).map(|auth| auth.installation)
}

/// Resolves a live installation token (also used by git's basic auth).
pub fn installation_for_token(world: &World, token: &str) -> Option<InstallationAuth> {
    let record = world.tokens.get(token)?;
    if record.expires_at <= world.now() {
        return None;
    }
    let app = world.app_of(record.installation)?;
    Some(InstallationAuth {
        installation: record.installation,
        app_id: app.id,
        bot: app.bot.clone(),
    })
}

/// Verifies an App JWT against every registered App's key: signature, `iss` (the App
/// whose key verified it — two Apps may share a key), `iat`, `exp`.
pub fn verify_jwt(world: &World, jwt: &str) -> Result<AppId, ApiError> {
    let undecodable = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let issuer = |claims: &Value| match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let verified: Vec<(AppId, Value)> = world
        .apps
        .values()
        .filter_map(|app| {
            let key = app.public_key.as_ref()?;
            jsonwebtoken::decode::<Value>(jwt, key, &validation)
                .ok()
                .map(|data| (app.id, data.claims))
        })
        .collect();
    if verified.is_empty() {
        return Err(undecodable());
    }
    let (app_id, claims) = verified
        .into_iter()
        .find(|(app, claims)| issuer(claims) == Some(app.0))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Issuer' claim ('iss') must be an Integer",
            )
        })?;
    let now = world.now().timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64);
    let iat = claims.get("iat").and_then(Value::as_i64);
    match (iat, exp) {
        (Some(iat), Some(exp)) => {
            if iat > now + DRIFT_SECS {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "'Issued at' claim ('iat') must be an Integer representing a time in the past",
                ));
            }
            if exp <= now {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
                ));
            }
            if exp > now + MAX_JWT_LIFETIME_SECS + DRIFT_SECS / 2
                || exp - iat > MAX_JWT_LIFETIME_SECS + DRIFT_SECS
            {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "'Expiration time' claim ('exp') is too far in the future",
                ));
            }
            Ok(app_id)
        }
        _ => Err(undecodable()),
    }
}

/// Mints a `ghs_…` installation token of variable length, valid `ttl` of simulated time.
pub fn mint_token(
    world: &mut World,
    installation: InstallationId,
    ttl: chrono::Duration,
) -> (String, DateTime<Utc>) {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    let extra = usize::from(uuid::Uuid::new_v4().as_bytes()[0]) % 28;
    let token = format!("ghs_{}{}", &a, &b[..4 + extra]);
    let expires_at = world.now() + ttl;
    world.tokens.insert(
        token.clone(),
        Token {
            installation,
            expires_at,
        },
    );
    (token, expires_at)
}
