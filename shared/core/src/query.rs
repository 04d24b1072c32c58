//! What auditors ask of the ledger: every record about a conversation, a matter, a key (or key
//! prefix) or a recording, optionally of one event kind and within a time range. Used by
//! `custody query` and the auditor function.
//!
//! Two ways to answer, with the same result on an intact ledger and an intact index:
//!
//! - [`find`] reads every block (the exact answer, linear in the ledger);
//! - [`find_indexed`] reads the query index beside the ledger ([`index`]: postings per field
//!   value, written create-only per block) and re-checks every record it cites against the block
//!   itself; blocks newer than the index covers are scanned. What the index cannot detect (a
//!   deleted posting hides a record until a scan) is in `docs/query.md`.
//!
//! The same records are also laid out as JSON lines partitioned by day ([`rows`]) for Athena
//! (or DuckDB) over ledgers beyond one machine.

pub mod index;
pub mod rows;
pub mod search;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ledger::{CustodyRecord, EventKind, Ledger, LedgerError};

pub use index::{
    CatchUp, Coverage, Field, IndexKeys, IndexedBlock, QueryIndexError, catch_up, coverage,
    index_block, rebuild,
};
pub use search::{IndexedQuery, QueryPlan, RejectedPosting, find_covered, find_indexed};

/// Conditions a record must all meet; an empty filter matches every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    pub conversation: Option<String>,
    /// A record matches when the matter is one of the `+`-joined matters it names.
    pub matter: Option<String>,
    /// The object key, exactly.
    pub key: Option<String>,
    /// The object key starts with this.
    pub key_prefix: Option<String>,
    pub recording: Option<String>,
    /// The Genesys export job the record names (not indexed: answered by scanning).
    pub export_job: Option<String>,
    pub event: Option<EventKind>,
    /// The record's `at` is at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// The record's `at` is before this instant.
    pub until: Option<DateTime<Utc>>,
}

impl RecordFilter {
    pub fn matches(&self, record: &CustodyRecord) -> bool {
        let same = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        same(&self.conversation, &record.why.conversation_id)
            && same(&self.recording, &record.why.recording_id)
            && same(&self.export_job, &record.why.export_job)
            && self.key.as_ref().is_none_or(|k| &record.what.key == k)
            && self
                .key_prefix
                .as_ref()
                .is_none_or(|p| record.what.key.starts_with(p.as_str()))
            && self.event.is_none_or(|e| record.event == e)
            && self.matter.as_ref().is_none_or(|m| {
                record
                    .why
                    .matter
                    .as_deref()
                    .is_some_and(|have| have.split('+').any(|x| x == m))
            })
            && self.within_time(record)
    }

    fn within_time(&self, record: &CustodyRecord) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Ok(at) = DateTime::parse_from_rfc3339(&record.at) else {
            return false;
        };
        let at = at.with_timezone(&Utc);
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }

    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        self == &RecordFilter::default()
    }
}

/// One record that matched, with its place in the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub block: u64,
    pub leaf_index: u64,
    pub record: CustodyRecord,
}

/// Every record that matches, in ledger order. Records that do not parse are reported by
/// `custody verify`, not here.
pub async fn find(ledger: &Ledger, filter: &RecordFilter) -> Result<Vec<Match>, LedgerError> {
    let mut found = Vec::new();
    ledger
        .for_each_record(|entry| {
            if let Ok(record) = entry.record
                && filter.matches(&record)
            {
                found.push(Match {
                    block: entry.block,
                    leaf_index: entry.leaf_index,
                    record,
                });
            }
        })
        .await?;
    Ok(found)
}

/// An event kind that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an event kind (observed, hold_applied, hashed, verified, missing, resolved, \
     unreferenced, mismatch, failed, superseded, hold_released, attested)"
)]
pub struct UnknownEvent(pub String);

/// Parse an event kind as written in records (`hold_applied`) or with dashes (`hold-applied`).
pub fn parse_event(text: &str) -> Result<EventKind, UnknownEvent> {
    serde_json::from_value(serde_json::Value::String(text.replace('-', "_")))
        .map_err(|_| UnknownEvent(text.to_string()))
}

#[cfg(test)]
mod tests;
