//! Identifier newtypes shared by every module (and by the GitHub simulator), and the
//! wire enums the REST client and the webhook events both read.
//!
//! They exist so a delivery id cannot be passed where a repository name is expected,
//! and so the conversions to and from the wire live in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Lets sqlx read `$ty` from a column it reads as `$stored`, converted by `$read` (which
/// may fail: a negative id, an unknown state name, malformed JSON). Each backend reads
/// `$stored` its own way; the conversion is written once for both. `[…]` holds the type's
/// generic parameters, if any.
macro_rules! stored_as {
    ([$($generics:tt)*] $ty:ty, $stored:ty, $read:expr) => {
        impl<DB: sqlx::Database, $($generics)*> sqlx::Type<DB> for $ty
        where
            $stored: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <$stored as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <$stored as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database, $($generics)*> sqlx::Decode<'r, DB> for $ty
        where
            $stored: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let stored = <$stored as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(($read)(stored)?)
            }
        }
    };
}
pub(crate) use stored_as;

/// Declares a string-backed identifier newtype.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

/// Declares an integer-backed identifier newtype.
macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        // A signed 64-bit integer column (`INTEGER`, `BIGINT`) holds every GitHub id.
        stored_as!([] $name, i64, |n| u64::try_from(n).map(Self));
    };
}

string_id!(
    /// The `X-GitHub-Delivery` GUID: the idempotency key of a webhook delivery.
    DeliveryId
);
string_id!(
    /// A repository's `owner/name`, as GitHub's `full_name`.
    RepoName
);
string_id!(
    /// A commit's full hexadecimal object id.
    CommitSha
);
string_id!(
    /// A GitHub login, of a user or of a bot (`<slug>[bot]`).
    Login
);
impl CommitSha {
    /// The first `digits` hex digits, as people read a commit (the whole id when it is
    /// shorter).
    pub fn abbreviated(&self, digits: usize) -> &str {
        self.0.get(..digits).unwrap_or(&self.0)
    }
}

number_id!(
    /// A GitHub App's numeric id (the JWT `iss`).
    AppId
);
number_id!(
    /// An installation of the App on an account.
    InstallationId
);
number_id!(
    /// An issue's number within its repository.
    IssueNumber
);
number_id!(
    /// A pull request's number within its repository.
    PrNumber
);

impl RepoName {
    /// Splits `owner/name`; `None` when the value has no slash.
    pub fn split(&self) -> Option<(&str, &str)> {
        self.0.split_once('/')
    }
}

/// Where a check run or suite is in its life, as GitHub's API and webhooks both say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Waiting to start.
    Queued,
    /// Running.
    InProgress,
    /// Done; a conclusion is set.
    Completed,
    /// `requested`, `waiting`, `pending` or a status GitHub adds later.
    #[serde(other)]
    Other,
}

/// How a completed check run or suite ended: what the merge gate branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Neither passed nor failed; GitHub treats it as passing.
    Neutral,
    /// Cancelled before it finished.
    Cancelled,
    /// Not run.
    Skipped,
    /// Ran out of time.
    TimedOut,
    /// Needs someone to act (e.g. click a button) before it can pass.
    ActionRequired,
    /// GitHub gave up waiting for it (superseded).
    Stale,
    /// The workflow could not start.
    StartupFailure,
    /// A conclusion GitHub adds later.
    #[serde(other)]
    Other,
}

impl CheckConclusion {
    /// Whether a required check with this conclusion lets a pull request merge, as
    /// branch protection counts it (success, neutral and skipped do).
    pub fn satisfies_requirement(self) -> bool {
        matches!(self, Self::Success | Self::Neutral | Self::Skipped)
    }
}

/// Whether an issue is still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// A state GitHub adds later.
    #[serde(other)]
    Other,
}

/// A user's access to a repository, in GitHub's four `permission` levels (maintain counts
/// as write, triage as read): what the client reads and the simulator grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// No access (or not a collaborator at all).
    None,
    /// Read or triage: may not command Flotilla.
    Read,
    /// Write or maintain: may dispatch agents and give commands.
    Write,
    /// Admin.
    Admin,
}

impl Permission {
    /// GitHub's `permission` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}
