//! How the store's own types are read from their columns, so that a record derives
//! `sqlx::FromRow` instead of being copied field by field out of a mirror row struct: a
//! state as its name in `TEXT`, a structured value as JSON in `TEXT` (both backends keep
//! JSON as text, which sqlx's own `Json` does not read on PostgreSQL), and an optional
//! unsigned number from a nullable integer.

use serde::de::DeserializeOwned;

use super::deliveries::DeliveryOutcome;
use super::jobs::{JobKind, JobState};
use super::runs::RunState;
use super::steps::{StepKind, StepOutcome};
use super::tasks::{PendingProposal, TaskState};
use super::verdicts::{VerdictOutcome, VerdictSource};
use crate::cost::BudgetConfig;
use crate::types::stored_as;

/// Reads each listed type from its name in a `TEXT` column, with its `FromStr`.
macro_rules! named_in_text {
    ($($ty:ty),+) => {$(
        stored_as!([] $ty, String, |name: String| name.parse::<$ty>());
    )+};
}

named_in_text!(
    JobKind,
    JobState,
    DeliveryOutcome,
    RunState,
    TaskState,
    StepKind,
    StepOutcome,
    VerdictSource,
    VerdictOutcome
);

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
