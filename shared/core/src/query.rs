//! What auditors ask of the ledger: every record about a conversation, a matter, a key or a
//! recording, optionally of one event kind. Used by `custody query` and the auditor function.

use serde::Serialize;

use crate::ledger::{CustodyRecord, EventKind, Ledger, LedgerError};

/// Conditions a record must all meet; an empty filter matches every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    pub conversation: Option<String>,
    /// A record matches when the matter is one of the `+`-joined matters it names.
    pub matter: Option<String>,
    pub key: Option<String>,
    pub recording: Option<String>,
    pub event: Option<EventKind>,
}

impl RecordFilter {
    pub fn matches(&self, record: &CustodyRecord) -> bool {
        let same = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        same(&self.conversation, &record.why.conversation_id)
            && same(&self.recording, &record.why.recording_id)
            && self.key.as_ref().is_none_or(|k| &record.what.key == k)
            && self.event.is_none_or(|e| record.event == e)
            && self.matter.as_ref().is_none_or(|m| {
                record
                    .why
                    .matter
                    .as_deref()
                    .is_some_and(|have| have.split('+').any(|x| x == m))
            })
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
