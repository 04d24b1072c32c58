//! Bringing the index up to the ledger's newest block: [`catch_up`] indexes every block after
//! the ones the index covers ([`coverage`](super::coverage), itself checked against the blocks),
//! [`rebuild`] every block from 0 (creating what is missing and comparing what exists: the
//! repair for deleted postings). Both then move the hint `query/covered.json` forward.

use bytes::Bytes;
use serde::Serialize;

use crate::ledger::Ledger;
use crate::store::PutRequest;

use super::coverage::{MarkerCheck, check_marker, coverage};
use super::error::QueryIndexError;
use super::keys::IndexKeys;
use super::marker::CoveredHint;
use super::write::{IndexedBlock, index_block};

/// A block whose index could not be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockFailure {
    pub block: u64,
    pub message: String,
}

/// What [`catch_up`] or [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatchUp {
    /// The newest block of the ledger.
    pub head: Option<u64>,
    pub covered_before: Option<u64>,
    /// Blocks `0..=covered` are indexed now.
    pub covered: Option<u64>,
    pub indexed: Vec<IndexedBlock>,
    /// Blocks whose marker already held.
    pub already: u64,
    pub failed: Vec<BlockFailure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Index every block after the newest one the index covers.
pub async fn catch_up(ledger: &Ledger) -> Result<CatchUp, QueryIndexError> {
    run(ledger, false).await
}

/// Index every block from 0, whatever the markers say.
pub async fn rebuild(ledger: &Ledger) -> Result<CatchUp, QueryIndexError> {
    run(ledger, true).await
}

async fn run(ledger: &Ledger, from_zero: bool) -> Result<CatchUp, QueryIndexError> {
    let store = ledger.store().as_ref();
    let layout = ledger.layout();
    let head = ledger.head_index().await?;
    let before = coverage(store, layout, head).await?;
    let mut report = CatchUp {
        head,
        covered_before: before.covered,
        covered: if from_zero { None } else { before.covered },
        indexed: Vec::new(),
        already: 0,
        failed: Vec::new(),
        notes: before.notes,
    };
    let Some(head) = head else {
        return Ok(report);
    };
    let from = match (from_zero, before.covered) {
        (false, Some(c)) => c + 1,
        _ => 0,
    };
    let mut contiguous = true;
    for block in from..=head {
        let done = if from_zero {
            false
        } else {
            match check_marker(store, layout, block).await? {
                MarkerCheck::Holds(_) => true,
                MarkerCheck::Missing => false,
                MarkerCheck::Wrong(why) => {
                    report.failed.push(BlockFailure {
                        block,
                        message: why,
                    });
                    contiguous = false;
                    continue;
                }
            }
        };
        if done {
            report.already += 1;
        } else {
            let outcome = match ledger.read_block(block).await {
                Ok(bytes) => index_block(store, layout, &bytes).await,
                Err(e) => Err(e.into()),
            };
            match outcome {
                Ok(indexed) if indexed.block == block => report.indexed.push(indexed),
                Ok(indexed) => {
                    report.failed.push(BlockFailure {
                        block,
                        message: format!(
                            "the block stored as {block} says it is block {}",
                            indexed.block
                        ),
                    });
                    contiguous = false;
                    continue;
                }
                Err(e) => {
                    report.failed.push(BlockFailure {
                        block,
                        message: e.to_string(),
                    });
                    contiguous = false;
                    continue;
                }
            }
        }
        if contiguous {
            report.covered = Some(block);
        }
    }
    if report.covered.is_some() && report.covered != before.covered {
        let keys = IndexKeys::new(layout);
        let hint = CoveredHint {
            block: report.covered.unwrap_or_default(),
        };
        let body = Bytes::from(serde_json::to_vec(&hint).expect("hints serialize"));
        if let Err(e) = ledger
            .store()
            .put(PutRequest::new(keys.covered_hint(), body))
            .await
        {
            // Only a hint: the next reader probes the markers instead.
            tracing::warn!(error = %e, "could not write {}", keys.covered_hint());
            report
                .notes
                .push(format!("could not write {}: {e}", keys.covered_hint()));
        }
    }
    Ok(report)
}
