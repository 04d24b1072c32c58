//! Re-runs skip recorded versions without reading them.
//!
//! An `observed` record's identity is computable from a HEAD alone (event, bucket, key,
//! version, ETag, size: `ledger::identity`), and a run submits an object's `observed` record
//! only when every step of the object finished (`ingest::unit`), in the same submission as the
//! object's other records and its unit's attestation. So once pending submissions are
//! integrated, an `observed` record in the ledger means the object's records are all there.
//!
//! A unit (a conversation folder, a part of a manifest) is skipped as a whole when every object
//! in it is present with its `observed` record in the ledger (a file the export names but the
//! bucket lacks changes nothing): its metadata is not read, nothing is marked or hashed. A unit
//! with a new or changed version, an unreadable object or a refused one is processed whole, so
//! its attestation lists every object with its digest. The look-up is one
//! [`Ledger::locate_many`] per chunk.
//!
//! Skipping assumes the hold policy has not changed since the versions were recorded: a run
//! that must apply a new matter or mechanism to recorded versions turns skipping off
//! (`IngestConfig::skip_recorded`, `custody ingest --revisit`).

use crate::export::{DiscoveryUnit, ObjectState};
use crate::hold::{ObjectOutcome, RunContext};
use crate::ledger::{EventKind, Ledger};

/// The identities of the `observed` records of a unit's objects, when the unit could be
/// skipped if they are all recorded.
fn observed_ids(unit: &DiscoveryUnit, ctx: &RunContext) -> Option<Vec<String>> {
    let discovery = &unit.discovery;
    if !discovery.rejected_entries.is_empty() {
        return None;
    }
    let mut ids = Vec::new();
    for object in &discovery.objects {
        match &object.state {
            ObjectState::Present(_) => {
                let observed = ObjectOutcome::from_discovered(object)
                    .to_records(ctx)
                    .into_iter()
                    .find(|r| r.event == EventKind::Observed)?;
                ids.push(observed.id);
            }
            ObjectState::Missing { .. } => {}
            ObjectState::OutOfScope(_) | ObjectState::Unreadable(_) => return None,
        }
    }
    (!ids.is_empty()).then_some(ids)
}

/// For each unit of a chunk, whether every version in it is already recorded. One look-up for
/// the chunk; when it fails, nothing is skipped.
pub(super) async fn recorded_units(
    ledger: &Ledger,
    units: &[DiscoveryUnit],
    ctx: &RunContext,
) -> Vec<bool> {
    let per_unit: Vec<Option<Vec<String>>> = units.iter().map(|u| observed_ids(u, ctx)).collect();
    let all: Vec<String> = per_unit.iter().flatten().flatten().cloned().collect();
    if all.is_empty() {
        return vec![false; units.len()];
    }
    let found = match ledger.locate_many(&all).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up recorded versions; the chunk is processed");
            return vec![false; units.len()];
        }
    };
    per_unit
        .iter()
        .map(|ids| {
            ids.as_ref()
                .is_some_and(|ids| ids.iter().all(|id| found.contains_key(id)))
        })
        .collect()
}
