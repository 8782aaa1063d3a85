//! How the store's own types are read from their columns, so that a record derives
//! `sqlx::FromRow` instead of being copied field by field out of a mirror row struct: a
//! state as its name in `TEXT`, a structured value as JSON in `TEXT` (both backends keep
//! JSON as text, which sqlx's own `Json` does not read on PostgreSQL), and an optional
//! unsigned number from a nullable integer. A state's names are written once, in its
//! `named_in_text!` table, which both writes and reads them.

use serde::de::DeserializeOwned;

use super::tasks::PendingProposal;
use crate::cost::BudgetConfig;
use crate::types::stored_as;

/// Gives a state enum its stored names, each written once: `ALL` (every value, in the
/// order listed), `as_str` (what statements bind, with the given doc), `Display`,
/// `FromStr` (refusing any other name as an unknown `$what`) and reading it from its
/// name in a `TEXT` column.
macro_rules! named_in_text {
    (
        $(#[$doc:meta])*
        $ty:ident as $what:literal { $($variant:ident => $name:literal,)+ }
    ) => {
        impl $ty {
            /// Every value, in the order of its names (reports list each one, zeros
            /// included).
            pub const ALL: [Self; [$($name),+].len()] = [$(Self::$variant),+];

            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = anyhow::Error;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|known| known.as_str() == value)
                    .ok_or_else(|| anyhow::anyhow!(concat!("unknown ", $what, " {:?}"), value))
            }
        }

        $crate::types::stored_as!([] $ty, String, |name: String| name.parse::<$ty>());
    };
}
pub(super) use named_in_text;

stored_as!([] PendingProposal, String, |json: String| {
    serde_json::from_str::<PendingProposal>(&json)
});
stored_as!([] BudgetConfig, String, |json: String| {
    serde_json::from_str::<BudgetConfig>(&json)
});

/// A JSON list in a `TEXT` column; a `Vec<T>` field reads it with
/// `#[sqlx(try_from = "JsonList<T>")]`.
pub(super) struct JsonList<T>(Vec<T>);

stored_as!([T: DeserializeOwned] JsonList<T>, String, |json: String| {
    serde_json::from_str(&json).map(JsonList)
});

impl<T> From<JsonList<T>> for Vec<T> {
    fn from(list: JsonList<T>) -> Self {
        list.0
    }
}

/// A nullable integer column; an optional unsigned field (`Option<u32>`, `Option<u64>`)
/// reads it with `#[sqlx(try_from = "NullableInt")]`, failing on a negative number.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub(super) struct NullableInt(Option<i64>);

impl<T: TryFrom<i64>> TryFrom<NullableInt> for Option<T> {
    type Error = T::Error;

    fn try_from(value: NullableInt) -> Result<Self, T::Error> {
        value.0.map(T::try_from).transpose()
    }
}
