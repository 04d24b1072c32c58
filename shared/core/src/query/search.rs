//! Answering a [`RecordFilter`] from the query index, re-checking every answer against the
//! block it cites.
//!
//! 1. Find the newest block (`head.json` hint, probed) and how far the index reaches
//!    ([`coverage`], checked against the blocks): blocks `0..=W` are indexed.
//! 2. Each indexable condition of the filter names one or more field values (a conversation; the
//!    folder of a key; the days of a time range). Their postings are listed (one listing per
//!    value) and the condition whose postings are smallest is used: a listing gives each
//!    object's size, so the choice costs no read.
//! 3. Its postings of blocks `0..=W` are read, and every entry they cite is read back from the
//!    block with ranged reads (entries close together in one read, the block's header with
//!    them): the bytes must be one whole line, a custody record whose `id` is its identity, that
//!    holds the posting's value, at a leaf inside the block's range. A posting or entry that does
//!    not hold is reported in [`IndexedQuery::rejected`] and ignored. The whole filter is then
//!    applied to the records.
//! 4. Blocks `W+1..=head` are read whole and scanned.
//!
//! Without an indexable condition, or with no block indexed, the whole ledger is scanned
//! ([`super::find`]). What this cannot detect, and how to get the exact answer: `docs/query.md`.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use chrono::Duration;
use futures::{StreamExt, future, stream};
use serde::Serialize;

use crate::ledger::{BlockView, CustodyRecord, Ledger};
use crate::store::{ObjectSummary, StoreErrorKind, StoreRead};

use super::index::field::{Field, folder_of_key, folder_of_prefix};
use super::index::header::{HEADER_READ, parse_header, read_range};
use super::index::posting::{Entry, Postings};
use super::index::{IndexKeys, QueryIndexError, coverage};
use super::{Match, RecordFilter, find};

use self::cited::{BlockAnswer, check_block};

#[path = "cited.rs"]
mod cited;

/// A time range spanning more days than this does not use the day index.
const MAX_DAYS: i64 = 366;
/// Concurrent reads.
const CONCURRENCY: usize = 16;

/// A posting, or one entry of it, that did not hold against the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedPosting {
    /// The postings object's key.
    pub posting: String,
    pub block: Option<u64>,
    pub leaf: Option<u64>,
    pub reason: String,
}

/// How a query was answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueryPlan {
    /// The newest block.
    pub head: Option<u64>,
    /// Blocks `0..=covered` were answered from the index.
    pub covered: Option<u64>,
    /// The condition whose postings were used (`conversation=c-1`), when the index was used.
    pub index: Option<String>,
    pub postings_read: u64,
    /// Record lines read back from blocks and checked.
    pub records_checked: u64,
    /// Blocks read whole and scanned (newer than the index covers, or all of them).
    pub blocks_scanned: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The answer of [`find_indexed`].
#[derive(Debug, Clone, Serialize)]
pub struct IndexedQuery {
    /// Every matching record, in ledger order.
    pub matches: Vec<Match>,
    /// Postings that did not hold against the blocks (ignored).
    pub rejected: Vec<RejectedPosting>,
    pub plan: QueryPlan,
}

/// One indexable condition: the record must hold one of these values.
struct Condition {
    label: String,
    values: Vec<(Field, String)>,
}

fn conditions(filter: &RecordFilter, notes: &mut Vec<String>) -> Vec<Condition> {
    let mut all = Vec::new();
    let mut one = |label: String, field: Field, value: String| {
        all.push(Condition {
            label,
            values: vec![(field, value)],
        })
    };
    if let Some(c) = &filter.conversation {
        one(format!("conversation={c}"), Field::Conversation, c.clone());
    }
    if let Some(r) = &filter.recording {
        one(format!("recording={r}"), Field::Recording, r.clone());
    }
    if let Some(k) = &filter.key {
        let folder = folder_of_key(k);
        one(format!("folder={folder}"), Field::Folder, folder);
    }
    if let Some(p) = &filter.key_prefix {
        match folder_of_prefix(p) {
            Some(folder) => one(format!("folder={folder}"), Field::Folder, folder),
            None => notes.push(format!(
                "key prefix {p:?} names no folder (no '/'): not answered from the index"
            )),
        }
    }
    if let Some(m) = &filter.matter {
        one(format!("matter={m}"), Field::Matter, m.clone());
    }
    if let Some(e) = &filter.event {
        one(
            format!("event={}", e.as_str()),
            Field::Event,
            e.as_str().to_string(),
        );
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since < until
    {
        let first = since.date_naive();
        let last = (until - Duration::milliseconds(1)).date_naive();
        let days = (last - first).num_days() + 1;
        if days <= MAX_DAYS {
            let values = first
                .iter_days()
                .take(days as usize)
                .map(|d| (Field::Day, d.format("%Y-%m-%d").to_string()))
                .collect();
            all.push(Condition {
                label: format!("day={first}..{last}"),
                values,
            });
        } else {
            notes.push(format!(
                "the time range spans {days} days: the day index is used up to {MAX_DAYS}"
            ));
        }
    }
    all
}

/// A posting listed for the chosen condition.
struct Listed {
    field: Field,
    value: String,
    block: u64,
    key: String,
}

/// One entry to check, with the posting citing it.
#[derive(Clone)]
struct Cited {
    entry: Entry,
    posting: String,
    field: Field,
    value: String,
}

/// Every record matching `filter`, answered from the query index where it covers the ledger and
/// by scanning the blocks after it; every answer re-checked against its block.
pub async fn find_indexed(
    ledger: &Ledger,
    filter: &RecordFilter,
) -> Result<IndexedQuery, QueryIndexError> {
    let store: &dyn StoreRead = ledger.store().as_ref();
    let layout = ledger.layout();
    let head = ledger.head_index().await?;
    let cover = coverage(store, layout, head).await?;
    let mut plan = QueryPlan {
        head,
        covered: cover.covered,
        notes: cover.notes,
        ..QueryPlan::default()
    };
    let candidates = conditions(filter, &mut plan.notes);
    let (Some(head), Some(covered), false) = (head, cover.covered, candidates.is_empty()) else {
        if head.is_some() && cover.covered.is_none() {
            plan.notes
                .push("no block is indexed (custody index builds the index)".to_string());
        }
        if candidates.is_empty() {
            plan.notes
                .push("no condition of the filter is indexed: every block scanned".to_string());
        }
        let matches = find(ledger, filter).await?;
        plan.covered = None;
        plan.blocks_scanned = head.map_or(0, |h| h + 1);
        return Ok(IndexedQuery {
            matches,
            rejected: Vec::new(),
            plan,
        });
    };

    let (mut matches, rejected) =
        answer_from_index(ledger, filter, candidates, covered, &mut plan).await?;

    // Blocks after the index: scanned.
    let tail: Vec<u64> = (covered + 1..=head).collect();
    plan.blocks_scanned = tail.len() as u64;
    let scanned: Vec<_> = stream::iter(tail)
        .map(|block| async move { (block, ledger.read_block(block).await) })
        .buffered(CONCURRENCY / 2)
        .collect()
        .await;
    for (block, bytes) in scanned {
        let bytes = bytes?;
        scan_block(ledger, block, &bytes, filter, &mut matches)?;
    }
    matches.sort_by_key(|m| (m.leaf_index, m.block));
    Ok(IndexedQuery {
        matches,
        rejected,
        plan,
    })
}

/// Every record of blocks `0..=covered` matching `filter`, answered from the index alone (blocks
/// newer than `covered` are the caller's): for callers that look up many filters against one
/// reach of the index, such as a run looking for earlier versions of the objects it hashes.
/// `None` when no condition of the filter is indexed.
pub async fn find_covered(
    ledger: &Ledger,
    filter: &RecordFilter,
    covered: u64,
) -> Result<Option<IndexedQuery>, QueryIndexError> {
    let mut plan = QueryPlan {
        covered: Some(covered),
        ..QueryPlan::default()
    };
    let candidates = conditions(filter, &mut plan.notes);
    if candidates.is_empty() {
        return Ok(None);
    }
    let (mut matches, rejected) =
        answer_from_index(ledger, filter, candidates, covered, &mut plan).await?;
    matches.sort_by_key(|m| (m.leaf_index, m.block));
    Ok(Some(IndexedQuery {
        matches,
        rejected,
        plan,
    }))
}

/// Steps 2 and 3: the smallest condition's postings of blocks `0..=covered`, read and every
/// entry they cite checked against its block.
async fn answer_from_index(
    ledger: &Ledger,
    filter: &RecordFilter,
    candidates: Vec<Condition>,
    covered: u64,
    plan: &mut QueryPlan,
) -> Result<(Vec<Match>, Vec<RejectedPosting>), QueryIndexError> {
    let store: &dyn StoreRead = ledger.store().as_ref();
    let keys = IndexKeys::new(ledger.layout());
    // Choose the condition with the smallest postings.
    let mut best: Option<(u64, String, Vec<Listed>)> = None;
    for condition in candidates {
        let mut listed = Vec::new();
        let mut size = 0u64;
        for (field, value) in &condition.values {
            let objects: Vec<ObjectSummary> =
                store.list(&keys.postings_prefix(*field, value)).await?;
            for object in objects {
                match keys.posting_block(&object.key) {
                    Some(block) if block <= covered => {
                        size += object.size;
                        listed.push(Listed {
                            field: *field,
                            value: value.clone(),
                            block,
                            key: object.key,
                        });
                    }
                    _ => {}
                }
            }
        }
        if best.as_ref().is_none_or(|(s, _, _)| size < *s) {
            best = Some((size, condition.label, listed));
        }
    }
    let (_, label, listed) = best.expect("at least one condition");
    plan.index = Some(label);

    // Read the postings.
    let mut rejected = Vec::new();
    let read: Vec<_> = stream::iter(listed)
        .map(|l| async move {
            let bytes = store.get_bytes(&l.key, None).await;
            (l, bytes)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut by_block: BTreeMap<u64, Vec<Cited>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (l, bytes) in read {
        let bytes = match bytes {
            Ok(bytes) => bytes,
            // Listed, then gone: as if never listed.
            Err(e) if e.kind == StoreErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        plan.postings_read += 1;
        match Postings::parse(&l.key, &bytes, l.field, &l.value, l.block) {
            Ok(postings) => {
                for entry in postings.entries {
                    if seen.insert((l.block, entry.offset, entry.length)) {
                        by_block.entry(l.block).or_default().push(Cited {
                            entry,
                            posting: l.key.clone(),
                            field: l.field,
                            value: l.value.clone(),
                        });
                    }
                }
            }
            Err(e) => rejected.push(RejectedPosting {
                posting: l.key.clone(),
                block: Some(l.block),
                leaf: None,
                reason: e.to_string(),
            }),
        }
    }

    // Read the cited lines back from the blocks and check them.
    let checked: Vec<Result<BlockAnswer, QueryIndexError>> = stream::iter(by_block)
        .map(|(block, cited)| check_block(store, ledger, block, cited, filter))
        .buffered(CONCURRENCY / 2)
        .collect()
        .await;
    let mut matches = Vec::new();
    for answer in checked {
        let answer = answer?;
        plan.records_checked += answer.checked;
        matches.extend(answer.matches);
        rejected.extend(answer.rejected);
    }

    Ok((matches, rejected))
}

fn scan_block(
    ledger: &Ledger,
    block: u64,
    bytes: &[u8],
    filter: &RecordFilter,
    matches: &mut Vec<Match>,
) -> Result<(), QueryIndexError> {
    let key = ledger.layout().block(block);
    let view = BlockView::parse(bytes).map_err(|e| QueryIndexError::Block {
        block: key.clone(),
        message: e.to_string(),
    })?;
    for (i, line) in view.records.iter().enumerate() {
        let leaf_index = view.leaf_index(i).ok_or_else(|| QueryIndexError::Block {
            block: key.clone(),
            message: format!("record {i}: leaf index beyond 64 bits"),
        })?;
        if let Ok(record) = serde_json::from_slice::<CustodyRecord>(line)
            && filter.matches(&record)
        {
            matches.push(Match {
                block,
                leaf_index,
                record,
            });
        }
    }
    Ok(())
}
