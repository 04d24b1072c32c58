//! The checks of one block against its stored predecessor: layout and canonical header,
//! position, chain, leaf range (checked arithmetic: a header number never overflows silently),
//! record count, records and identities, root and frontier, checkpoint and signature.
//!
//! Each check looks at one block and its stored predecessor only, so one tampering shows up as
//! one failure where it happened instead of a cascade. A check that cannot be judged because a
//! check it depends on already failed for the same block is skipped, never passed silently: the
//! block is already reported.

use std::collections::HashMap;
use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::super::block::{BlockError, BlockHeader, BlockView, DecodedHeader, GENESIS_PREV};
use super::super::checkpoint::Checkpoint;
use super::super::merkle::{Frontier, Hash, leaf_hash};
use super::super::record::CustodyRecord;
use super::VerifyInput;
use super::report::{Failure, LedgerCheck};

/// A block's header and where its parts lie in its bytes.
pub(super) struct Parsed {
    pub header: BlockHeader,
    pub decoded: DecodedHeader,
    pub hash: Hash,
    pub records: Vec<Range<usize>>,
    pub note: Range<usize>,
}

pub(super) fn parse_block(bytes: &Bytes) -> Result<Parsed, BlockError> {
    let view = BlockView::parse(bytes)?;
    let base = bytes.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    Ok(Parsed {
        hash: view.hash(),
        records: view.records.iter().map(|r| range(r)).collect(),
        note: range(view.note),
        header: view.header,
        decoded: view.decoded,
    })
}

#[derive(Default)]
pub(super) struct BlockResult {
    pub failures: Vec<Failure>,
    pub notices: Vec<String>,
    /// Counts toward duplicates and the tree: the block is at its position.
    pub in_place: bool,
    pub leaves: Vec<Hash>,
    pub ids: Vec<(Option<u64>, String)>,
    /// The frontier recomputed from the predecessor's stored frontier and these leaves.
    pub computed: Option<Frontier>,
    /// Whether root/frontier were judged from the predecessor's stored frontier.
    pub judged_root: bool,
    /// The label of the trusted key that signed the block's checkpoint.
    pub signed_by: Option<String>,
}

impl BlockResult {
    fn fail(&mut self, check: LedgerCheck, block: u64, leaf: Option<u64>, message: String) {
        self.failures.push(Failure {
            check,
            block: Some(block),
            leaf,
            message,
        });
    }
}

/// Missing positions among `present` (sorted), each run of them reported once.
pub(super) fn gaps(present: &[u64]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut expected = 0u64;
    for &p in present {
        if p > expected {
            let message = if p - expected == 1 {
                format!("block {expected} is missing")
            } else {
                format!("blocks {expected} to {} are missing", p - 1)
            };
            out.push(Failure::at(LedgerCheck::Gap, Some(expected), message));
        }
        expected = p.saturating_add(1);
    }
    out
}

pub(super) fn check_block(
    input: &VerifyInput<'_>,
    parsed: &[Result<Parsed, BlockError>],
    by_position: &HashMap<u64, usize>,
    i: usize,
) -> BlockResult {
    let (position, bytes) = &input.blocks[i];
    let position = *position;
    let mut r = BlockResult::default();
    let p = match &parsed[i] {
        Ok(p) => p,
        Err(e) => {
            let check = match e {
                BlockError::TooLarge { .. } => LedgerCheck::BlockSize,
                _ => LedgerCheck::Parse,
            };
            r.fail(check, position, None, e.to_string());
            return r;
        }
    };
    let h = &p.header;
    if h.index != position {
        let replay = by_position
            .get(&h.index)
            .filter(|&&j| input.blocks[j].1 == *bytes)
            .map(|_| format!(": a copy of block {}", h.index))
            .unwrap_or_default();
        r.fail(
            LedgerCheck::Position,
            position,
            None,
            format!(
                "the block stored as block {position} says it is block {}{replay}",
                h.index
            ),
        );
        return r;
    }
    r.in_place = true;

    r.leaves = p
        .records
        .iter()
        .map(|range| leaf_hash(&bytes[range.clone()]))
        .collect();
    for (k, range) in p.records.iter().enumerate() {
        let leaf = h.first_leaf.checked_add(k as u64);
        match serde_json::from_slice::<CustodyRecord>(&bytes[range.clone()]) {
            Ok(rec) => {
                if !rec.identity_is_consistent() {
                    r.fail(
                        LedgerCheck::Identity,
                        position,
                        leaf,
                        format!("id {} is not the identity of the record's fields", rec.id),
                    );
                }
                r.ids.push((leaf, rec.id));
            }
            Err(e) => r.fail(
                LedgerCheck::RecordFormat,
                position,
                leaf,
                format!("not a custody record: {e}"),
            ),
        }
    }

    let count_ok = p.records.len() as u64 == h.count;
    if !count_ok {
        r.fail(
            LedgerCheck::RecordCount,
            position,
            None,
            format!(
                "the header says {} records, the block holds {}",
                h.count,
                p.records.len()
            ),
        );
    }
    let mut range_ok = h.first_leaf.checked_add(h.count) == Some(h.tree_size);
    if !range_ok {
        let sum = h
            .first_leaf
            .checked_add(h.count)
            .map_or_else(|| "more than 2^64 - 1".to_string(), |s| s.to_string());
        r.fail(
            LedgerCheck::LeafRange,
            position,
            None,
            format!(
                "tree size {} is not first leaf {} + count {} = {sum}",
                h.tree_size, h.first_leaf, h.count
            ),
        );
    }

    // The predecessor: its hash, tree size and frontier as stored.
    let base: Option<Frontier> = if position == 0 {
        if p.decoded.prev != GENESIS_PREV {
            r.fail(
                LedgerCheck::Chain,
                position,
                None,
                "block 0 must name no predecessor (prev of 64 zeros)".into(),
            );
        }
        if h.first_leaf != 0 {
            range_ok = false;
            r.fail(
                LedgerCheck::LeafRange,
                position,
                None,
                format!("block 0 starts at leaf {} instead of 0", h.first_leaf),
            );
        }
        Some(Frontier::empty())
    } else {
        match by_position.get(&(position - 1)).map(|&j| &parsed[j]) {
            Some(Ok(prev)) if prev.header.index == position - 1 => {
                if p.decoded.prev != prev.hash {
                    r.fail(
                        LedgerCheck::Chain,
                        position,
                        None,
                        format!(
                            "prev {} is not the hash {} of block {}",
                            h.prev,
                            hex::encode(prev.hash),
                            position - 1
                        ),
                    );
                }
                if h.first_leaf != prev.header.tree_size {
                    range_ok = false;
                    r.fail(
                        LedgerCheck::LeafRange,
                        position,
                        None,
                        format!(
                            "starts at leaf {}, block {} ended at tree size {}",
                            h.first_leaf,
                            position - 1,
                            prev.header.tree_size
                        ),
                    );
                }
                Frontier::from_parts(prev.header.tree_size, prev.decoded.frontier.clone())
            }
            _ => {
                r.notices.push(format!(
                    "block {position}: chain, leaf range and root not checked: block {} is missing or unreadable",
                    position - 1
                ));
                None
            }
        }
    };

    // `range_ok` means base size + count = tree size fits in 64 bits, so pushing cannot overflow.
    if count_ok && range_ok {
        if let Some(mut frontier) = base {
            for leaf in &r.leaves {
                frontier.push(*leaf);
            }
            judge_root(&mut r, position, p, &frontier);
            r.computed = Some(frontier);
            r.judged_root = true;
        } else if position > 0 && by_position.contains_key(&(position - 1)) {
            r.notices.push(format!(
                "block {position}: root not checked: block {} has no usable frontier",
                position - 1
            ));
        }
    }

    match Checkpoint::parse(&bytes[p.note.clone()]) {
        Err(e) => r.fail(LedgerCheck::Checkpoint, position, None, e.to_string()),
        Ok(cp) => {
            if cp.origin != input.origin {
                r.fail(
                    LedgerCheck::Checkpoint,
                    position,
                    None,
                    format!(
                        "origin {:?}, expected {:?} (the origin the auditor named)",
                        cp.origin, input.origin
                    ),
                );
            } else if cp.size != h.tree_size || cp.root != p.decoded.root {
                r.fail(
                    LedgerCheck::Checkpoint,
                    position,
                    None,
                    format!(
                        "the checkpoint says size {} root {}, the header size {} root {}",
                        cp.size,
                        BASE64.encode(cp.root),
                        h.tree_size,
                        h.root
                    ),
                );
            }
            match cp.verify(input.trusted) {
                Ok(label) => r.signed_by = Some(label),
                Err(e) => r.fail(LedgerCheck::Signature, position, None, e.to_string()),
            }
        }
    }
    r
}

pub(super) fn judge_root(r: &mut BlockResult, position: u64, p: &Parsed, computed: &Frontier) {
    r.failures
        .retain(|f| !matches!(f.check, LedgerCheck::Root | LedgerCheck::Frontier));
    if computed.root() != p.decoded.root {
        r.fail(
            LedgerCheck::Root,
            position,
            None,
            format!(
                "the leaves hash to root {}, the block says {}",
                BASE64.encode(computed.root()),
                p.header.root
            ),
        );
    }
    // A wrong root already explains a different frontier; the frontier check is for a
    // frontier that is wrong on its own, which would mislead the next block's root.
    else if computed.hashes() != p.decoded.frontier.as_slice() {
        r.fail(
            LedgerCheck::Frontier,
            position,
            None,
            "the stored frontier is not the frontier of the tree after this block".into(),
        );
    }
}

/// When a block's stored frontier is wrong, the next block was judged from a wrong base: judge it
/// again from the recomputed frontier so the fault is reported once, where it is.
pub(super) fn rejudge_after_bad_frontiers(
    input: &VerifyInput<'_>,
    parsed: &[Result<Parsed, BlockError>],
    by_position: &HashMap<u64, usize>,
    results: &mut [BlockResult],
) {
    for i in 0..results.len() {
        let position = input.blocks[i].0;
        let Some(&prev) = position.checked_sub(1).and_then(|q| by_position.get(&q)) else {
            continue;
        };
        let prev_bad = results[prev]
            .failures
            .iter()
            .any(|f| f.check == LedgerCheck::Frontier);
        if !prev_bad || !results[i].judged_root {
            continue;
        }
        let (Some(mut frontier), Ok(p)) = (results[prev].computed.clone(), &parsed[i]) else {
            continue;
        };
        for leaf in &results[i].leaves {
            frontier.push(*leaf);
        }
        judge_root(&mut results[i], position, p, &frontier);
        results[i].computed = Some(frontier);
    }
}
