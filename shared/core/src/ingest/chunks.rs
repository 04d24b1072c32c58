//! The streaming core of a run: discovery units arrive from a bounded queue, are gathered into
//! chunks (up to [`CHUNK_OBJECTS`] objects or [`CHUNK_WAIT`] of discovery), and each chunk is
//! looked up (what is already recorded), processed (units side by side, objects within each
//! side by side) and submitted to the ledger as one submission. Memory holds the queue, the
//! chunk in flight and the bounded report; a crash loses at most the chunk in flight.
//!
//! A unit's records always go into one submission (its attestation after them), never split
//! across two, which is what lets a re-run skip it by its `observed` records (`ingest::skip`).

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use tokio::sync::mpsc;

use super::report::{IngestReport, ObjectLine, RunError, SHOWN, ShownFinding};
use super::skip::recorded_units;
use super::unit::{RunEnv, UnitDone, process_unit};
use crate::export::{DiscoveryUnit, ObjectState};
use crate::hold::Finding;

/// Objects one chunk gathers at most before it is processed and submitted.
pub const CHUNK_OBJECTS: usize = 2_000;

/// How long a chunk waits for more units before it is processed anyway.
pub const CHUNK_WAIT: Duration = Duration::from_secs(3);

/// Units processed side by side within a chunk.
const UNITS_IN_FLIGHT: usize = 8;

/// Why the loop stopped early.
pub(super) enum Stop {
    /// A mistake about the run (no such bucket, bad credentials) in a unit.
    Run(RunError),
    /// A submission could not be made: later chunks would only mark objects unrecorded.
    Ledger(crate::ledger::LedgerError),
}

/// Gather, look up, process and submit chunks until discovery ends (or the run must stop).
pub(super) async fn run_chunks(
    env: &RunEnv<'_>,
    mut units: mpsc::Receiver<DiscoveryUnit>,
    report: &mut IngestReport,
) -> Option<Stop> {
    loop {
        let first = units.recv().await?;
        let started = Instant::now();
        let mut objects = first.discovery.objects.len();
        let mut chunk = vec![first];
        let mut closed = false;
        while objects < env.config.chunk_objects.max(1) {
            let left = env.config.chunk_wait.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, units.recv()).await {
                Ok(Some(unit)) => {
                    objects += unit.discovery.objects.len();
                    chunk.push(unit);
                }
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let bytes = chunk
            .iter()
            .flat_map(|u| &u.discovery.objects)
            .filter_map(|o| o.head().map(|h| h.size))
            .sum();
        env.progress.discovered(objects, bytes);
        if let Some(error) = run_error_in(&chunk) {
            return Some(Stop::Run(error));
        }
        if let Some(stop) = run_chunk(env, chunk, report).await {
            return Some(stop);
        }
        if closed {
            return None;
        }
    }
}

/// A store error about the run itself (no such bucket, bad credentials) in any unit.
fn run_error_in(chunk: &[DiscoveryUnit]) -> Option<RunError> {
    chunk
        .iter()
        .flat_map(|u| &u.discovery.objects)
        .find_map(|o| match &o.state {
            ObjectState::Unreadable(e) if RunError::concerns_the_run(e) => {
                Some(RunError::Store(e.clone()))
            }
            _ => None,
        })
}

async fn run_chunk(
    env: &RunEnv<'_>,
    chunk: Vec<DiscoveryUnit>,
    report: &mut IngestReport,
) -> Option<Stop> {
    let recorded = if env.config.skip_recorded {
        recorded_units(env.ledger, &chunk, env.ctx).await
    } else {
        vec![false; chunk.len()]
    };
    let mut work = Vec::new();
    for (unit, recorded) in chunk.into_iter().zip(recorded) {
        if recorded {
            let heads: Vec<u64> = unit
                .discovery
                .objects
                .iter()
                .filter_map(|o| o.head().map(|h| h.size))
                .collect();
            let present = heads.len();
            report.skipped += present;
            env.progress.skipped(present, heads.iter().sum());
        } else {
            work.push(unit);
        }
    }
    let done: Vec<UnitDone> = stream::iter(work)
        .map(|unit| Box::pin(process_unit(env, unit)))
        .buffered(UNITS_IN_FLIGHT)
        .collect()
        .await;
    let mut records = Vec::new();
    for unit in done {
        tally(report, &unit);
        records.extend(unit.records);
    }
    if records.is_empty() {
        return None;
    }
    match env.ledger.submit(&records).await {
        Ok(submission) => {
            env.progress.submitted(submission.ids.len());
            report.records_total += submission.ids.len();
            let room = SHOWN.saturating_sub(report.records.len());
            report.records.extend(records.into_iter().take(room));
            if let Ok(account) = report.ledger.as_mut() {
                account.submitted += submission.ids.len();
                account.submissions.push(submission.key);
                account.rejected.extend(submission.rejected);
            }
            None
        }
        Err(e) => Some(Stop::Ledger(e)),
    }
}

/// Count one processed unit into the report (keeping only the first [`SHOWN`] of each list).
fn tally(report: &mut IngestReport, unit: &UnitDone) {
    for (outcome, digest) in unit.hold.outcomes.iter().zip(&unit.digests) {
        report.objects += 1;
        report.held += usize::from(outcome.held);
        let hashed = match digest {
            Some(Ok(d)) => {
                report.hashed += 1;
                report.bytes_hashed += d.size;
                Some((d.sha256_hex.clone(), d.size))
            }
            _ => None,
        };
        let observed = &outcome.observed;
        if outcome
            .findings
            .iter()
            .any(|f| !matches!(f, Finding::Retry { .. }))
        {
            report.objects_with_findings += 1;
        }
        for finding in &outcome.findings {
            *report.findings.entry(finding.kind()).or_default() += 1;
            let shown = ShownFinding {
                key: observed.key.clone(),
                version_id: observed.version_id.clone(),
                finding: finding.clone(),
            };
            if matches!(finding, Finding::Retry { .. }) {
                report.retries_total += 1;
                if report.retry_findings.len() < SHOWN {
                    report.retry_findings.push(shown.clone());
                }
            }
            if report.shown_findings.len() < SHOWN {
                report.shown_findings.push(shown);
            } else {
                report.findings_not_shown += 1;
            }
        }
        if report.shown_objects.len() < SHOWN {
            report.shown_objects.push(ObjectLine {
                key: observed.key.clone(),
                version_id: observed.version_id.clone(),
                held: outcome.held,
                matters: outcome.matters.clone(),
                steps: outcome.steps.clone(),
                new_version_id: outcome.new_version_id.clone(),
                sha256: hashed,
                findings: outcome.findings.clone(),
            });
        }
    }
    if !unit.hold.rejected_entries.is_empty() {
        *report.findings.entry("rejected_entry").or_default() += unit.hold.rejected_entries.len();
        report
            .rejected_entries
            .extend(unit.hold.rejected_entries.iter().map(ToString::to_string));
    }
}
