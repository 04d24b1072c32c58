//! Late arrivals: a file the export names that was recorded `missing` (its metadata was handled
//! before it landed) and is present now. The run that finds it present marks, hashes and records
//! it as usual, and also appends one `resolved` record naming the `missing` record it resolves,
//! so that the ledger's account of the object is complete: missing at one time, present since.
//!
//! The `missing` record is found by its identity, which the object and the matters determine
//! (`ledger::identity`: event `missing`, bucket, key, no version, the matters), so finding it
//! costs one index lookup per present object and never a scan.

use crate::export::FileRole;
use crate::hold::{Finding, ObjectOutcome, RunContext};
use crate::ledger::{
    CustodyRecord, EventKind, How, Ledger, LedgerError, Outcome, What, Why, fact_identity,
};

/// The `resolved` records for the present objects of `outcomes` that the ledger holds as
/// `missing`.
pub async fn resolutions(
    ledger: &Ledger,
    outcomes: &[ObjectOutcome],
    ctx: &RunContext,
) -> Result<Vec<CustodyRecord>, LedgerError> {
    let mut records = Vec::new();
    for outcome in outcomes {
        let observed = &outcome.observed;
        let present = observed.size.is_some()
            && !outcome
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Missing { .. }));
        if !present
            || observed
                .role
                .is_some_and(|r| matches!(r, FileRole::RecordingMetadata | FileRole::CallMetadata))
        {
            continue;
        }
        let mut matters = vec![None];
        if !outcome.matters.is_empty() {
            matters.insert(0, Some(outcome.matters.join("+")));
        }
        for matter in matters {
            let id = missing_identity(&observed.bucket, &observed.key, matter.clone());
            let Some(placed) = ledger.locate(&id).await? else {
                continue;
            };
            let what = What {
                bucket: observed.bucket.clone(),
                key: observed.key.clone(),
                version_id: observed.version_id.clone(),
                size: observed.size,
                etag: observed.etag.clone(),
                ..Default::default()
            };
            let why = Why {
                matter,
                ..outcome.why(ctx)
            };
            let detail = format!(
                "resolves missing record {id} (block {}, leaf {}): the file arrived after the metadata naming it",
                placed.block, placed.leaf_index
            );
            records.push(ctx.record(
                EventKind::Resolved,
                what,
                why,
                ctx.how.clone(),
                Outcome {
                    detail: Some(detail),
                    error: None,
                },
            ));
            break;
        }
    }
    Ok(records)
}

/// The identity a `missing` record of `key` for `matter` has (schema 2).
fn missing_identity(bucket: &str, key: &str, matter: Option<String>) -> String {
    let probe = CustodyRecord::new(
        EventKind::Missing,
        chrono::Utc::now(),
        Default::default(),
        What {
            bucket: bucket.to_string(),
            key: key.to_string(),
            ..Default::default()
        },
        Default::default(),
        Why {
            matter,
            ..Default::default()
        },
        How::default(),
        Outcome::default(),
    );
    fact_identity(&probe)
}
