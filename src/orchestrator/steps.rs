//! How a handler closes the dashboard's record of a step: its reason and transcript go
//! through the redaction layer first, like everything else Flotilla shows.

use crate::redact::Redactor;
use crate::store::{StepEnd, StepOutcome};

/// A step's end with `reason` and `transcript` redacted.
pub(super) fn redacted_end(
    outcome: StepOutcome,
    reason: &str,
    transcript: &str,
    redactor: &Redactor,
) -> StepEnd {
    StepEnd {
        outcome,
        reason: redactor.text(reason),
        transcript: redactor.text(transcript),
    }
}
