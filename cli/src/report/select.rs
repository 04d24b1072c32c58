//! The records a report covers: every record the subject's filter matches (every block read,
//! as `custody query --exhaustive` does), plus the `attested` records of the conversations
//! those name. An attestation states what a whole conversation folder contained and names no
//! matter, so a matter's report would otherwise leave out the attestations of its own
//! conversations.

use std::collections::BTreeSet;

use custody_core::ledger::{EventKind, Ledger, LedgerError};
use custody_core::query::{Match, RecordFilter};

/// The records about the subject, in ledger order.
pub async fn records_about(
    ledger: &Ledger,
    filter: &RecordFilter,
) -> Result<Vec<Match>, LedgerError> {
    let mut found = Vec::new();
    let mut attested = Vec::new();
    ledger
        .for_each_record(|entry| {
            let Ok(record) = entry.record else { return };
            let matched = filter.matches(&record);
            if matched || record.event == EventKind::Attested {
                let m = Match {
                    block: entry.block,
                    leaf_index: entry.leaf_index,
                    record,
                };
                if matched {
                    found.push(m);
                } else {
                    attested.push(m);
                }
            }
        })
        .await?;
    let conversations: BTreeSet<String> = found
        .iter()
        .filter_map(|m| m.record.why.conversation_id.clone())
        .collect();
    found.extend(attested.into_iter().filter(|m| {
        m.record
            .why
            .conversation_id
            .as_ref()
            .is_some_and(|c| conversations.contains(c))
    }));
    found.sort_by_key(|m| m.leaf_index);
    Ok(found)
}
