//! Step 3 of an indexed query ([`super`]): the entries the postings cite, read back from their
//! block with coalesced ranged reads (the header with them) and each checked: one whole line, a
//! custody record whose `id` is its identity, holding the posting's value, at a leaf inside the
//! block's range. What does not hold is a [`RejectedPosting`], never an answer.

use super::*;

/// Ranges of one block closer than this are read together.
const COALESCE_GAP: u64 = 16 * 1024;
/// No single coalesced read spans more than this.
const MAX_READ_SPAN: u64 = 4 * 1024 * 1024;

pub(super) struct BlockAnswer {
    pub(super) matches: Vec<Match>,
    pub(super) rejected: Vec<RejectedPosting>,
    pub(super) checked: u64,
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

pub(super) async fn check_block(
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
