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

/// Ranges of one block closer than this are read together.
const COALESCE_GAP: u64 = 16 * 1024;
/// No single coalesced read spans more than this.
const MAX_READ_SPAN: u64 = 4 * 1024 * 1024;
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
    let keys = IndexKeys::new(layout);
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

struct BlockAnswer {
    matches: Vec<Match>,
    rejected: Vec<RejectedPosting>,
    checked: u64,
}

/// A ranged read: `first..=last` of the block, and the entries it serves.
struct Span {
    first: u64,
    last: u64,
    cited: Vec<Cited>,
}

/// Group the cited lines (each read with the newline before and after it) into few reads; the
/// first read starts at 0 and holds the header.
fn spans(mut cited: Vec<Cited>) -> Vec<Span> {
    cited.sort_by_key(|c| c.entry.offset);
    let mut spans = vec![Span {
        first: 0,
        last: HEADER_READ - 1,
        cited: Vec::new(),
    }];
    for c in cited {
        let first = c.entry.offset.saturating_sub(1);
        let last = c.entry.offset.saturating_add(c.entry.length);
        let current = spans.last_mut().expect("one span at least");
        if first <= current.last.saturating_add(COALESCE_GAP)
            && last.saturating_sub(current.first) <= MAX_READ_SPAN
        {
            current.last = current.last.max(last);
            current.cited.push(c);
        } else {
            spans.push(Span {
                first,
                last,
                cited: vec![c],
            });
        }
    }
    spans
}

async fn read_span(
    store: &dyn StoreRead,
    key: &str,
    first: u64,
    last: u64,
) -> Result<Result<Bytes, String>, QueryIndexError> {
    match read_range(store, key, first, last).await {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(e)
            if matches!(
                e.kind,
                StoreErrorKind::NotFound | StoreErrorKind::InvalidRequest
            ) =>
        {
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn check_block(
    store: &dyn StoreRead,
    ledger: &Ledger,
    block: u64,
    cited: Vec<Cited>,
    filter: &RecordFilter,
) -> Result<BlockAnswer, QueryIndexError> {
    let key = ledger.layout().block(block);
    let mut answer = BlockAnswer {
        matches: Vec::new(),
        rejected: Vec::new(),
        checked: 0,
    };
    let reject = |c: &Cited, reason: String| RejectedPosting {
        posting: c.posting.clone(),
        block: Some(block),
        leaf: Some(c.entry.leaf),
        reason,
    };
    let spans = spans(cited);
    let reads = future::join_all(
        spans
            .iter()
            .map(|s| read_span(store, &key, s.first, s.last)),
    )
    .await;
    let mut pieces: Vec<(Span, Result<Bytes, String>)> = Vec::new();
    for (span, read) in spans.into_iter().zip(reads) {
        match read? {
            Err(why) if span.cited.len() > 1 => {
                // One entry beyond the block spoils a joint read: read each on its own.
                for c in span.cited {
                    let (first, last) = (
                        c.entry.offset.saturating_sub(1),
                        c.entry.offset.saturating_add(c.entry.length),
                    );
                    let read = read_span(store, &key, first, last).await?;
                    pieces.push((
                        Span {
                            first,
                            last,
                            cited: vec![c],
                        },
                        read,
                    ));
                }
                tracing::debug!(%why, "a joint ranged read failed; reading each line");
            }
            read => pieces.push((span, read)),
        }
    }
    let header = match &pieces[0].1 {
        Ok(bytes) => parse_header(&key, bytes).map_err(|e| e.to_string()),
        Err(why) => Err(why.clone()),
    };
    let header = header.and_then(|(h, _)| {
        if h.index == block {
            Ok(h)
        } else {
            Err(format!("{key} says it is block {}", h.index))
        }
    });
    for (span, read) in pieces {
        for c in &span.cited {
            answer.checked += 1;
            let header = match &header {
                Ok(h) => h,
                Err(why) => {
                    answer
                        .rejected
                        .push(reject(c, format!("block {key}: {why}")));
                    continue;
                }
            };
            let bytes = match &read {
                Ok(bytes) => bytes,
                Err(why) => {
                    answer.rejected.push(reject(c, why.clone()));
                    continue;
                }
            };
            match check_entry(c, span.first, bytes, header.first_leaf, header.count) {
                Ok(record) => {
                    if filter.matches(&record) {
                        answer.matches.push(Match {
                            block,
                            leaf_index: c.entry.leaf,
                            record,
                        });
                    }
                }
                Err(why) => answer.rejected.push(reject(c, why)),
            }
        }
    }
    Ok(answer)
}

/// The record an entry cites, from the bytes of a read starting at `first`, when it holds.
fn check_entry(
    c: &Cited,
    first: u64,
    bytes: &[u8],
    first_leaf: u64,
    count: u64,
) -> Result<CustodyRecord, String> {
    let e = c.entry;
    if e.leaf < first_leaf || e.leaf - first_leaf >= count {
        return Err(format!(
            "leaf {} is outside the block's leaves {first_leaf}..{}",
            e.leaf,
            first_leaf.saturating_add(count)
        ));
    }
    if e.offset == 0 || e.length == 0 {
        return Err(format!(
            "offset {} length {} is no record line",
            e.offset, e.length
        ));
    }
    let range = format!("bytes {}..{}", e.offset, e.offset.saturating_add(e.length));
    // The read holds `first..`; the line needs `offset - 1 ..= offset + length`.
    let start = e.offset - 1 - first;
    let end = start.saturating_add(e.length).saturating_add(1);
    if end >= bytes.len() as u64 {
        return Err(format!("{range} are beyond the end of the block"));
    }
    let (start, end) = (start as usize, end as usize);
    if bytes[start] != b'\n' || bytes[end] != b'\n' {
        return Err(format!("{range} are not one whole line of the block"));
    }
    let line = &bytes[start + 1..end];
    let record: CustodyRecord = serde_json::from_slice(line)
        .map_err(|err| format!("the cited line is not a custody record: {err}"))?;
    if !record.identity_is_consistent() {
        return Err(format!(
            "the cited record's id {} is not its identity",
            record.id
        ));
    }
    if !c.field.holds(&record, &c.value) {
        return Err(format!(
            "the cited record does not hold {}={:?}",
            c.field, c.value
        ));
    }
    Ok(record)
}
