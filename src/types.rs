//! Identifier newtypes shared by every module (and by the GitHub simulator).
//!
//! They exist so a delivery id cannot be passed where a repository name is expected,
//! and so the conversions to and from the wire live in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a string-backed identifier newtype.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
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
