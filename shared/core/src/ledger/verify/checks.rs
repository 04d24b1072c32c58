//! The checks of one block against its stored predecessor: layout and canonical header,
//! position, chain, leaf range (checked arithmetic: a header number never overflows silently),
//! record count, records and identities, root and frontier, checkpoint and signature.
//!
//! Each check looks at one block and its stored predecessor only, so one tampering shows up as
//! one failure where it happened instead of a cascade. A check that cannot be judged because a
//! check it depends on already failed for the same block is skipped, never passed silently: the
//! block is already reported.
//!
//! A block is judged from its own bytes and a [`Pred`], the summary of its stored predecessor, so
//! that verification can stream: the predecessor's bytes need not be held.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::super::block::{BlockError, BlockHeader, BlockView, DecodedHeader, GENESIS_PREV};
use super::super::checkpoint::Checkpoint;
use super::super::keys::TrustedKeys;
use super::super::merkle::{Frontier, Hash, leaf_hash};
use super::super::record::CustodyRecord;
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
    /// The position a block not at its place says it is at; its `position` failure is reported
    /// once the ledger has passed, naming a copy when the block there has the same bytes.
    pub claims: Option<u64>,
    pub leaves: Vec<Hash>,
    pub ids: Vec<(Option<u64>, String)>,
    /// The frontier recomputed from the predecessor's stored frontier and these leaves.
    pub computed: Option<Frontier>,
    /// Whether root/frontier were judged from the predecessor's stored frontier.
    pub judged_root: bool,
    /// The label of the trusted key that signed the block's checkpoint.
    pub signed_by: Option<String>,
    /// The digest of the block's bytes ([`content_digest`]), when it parsed.
    pub digest: Option<Hash>,
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

/// What a block's stored predecessor (the block at `position - 1`) says, as far as the checks of
/// the next block need it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pred<'a> {
    /// No block was read at `position - 1` (missing, refused or not a readable object).
    Absent,
    /// A block was read there, but it does not parse or says it is another block.
    Unusable,
    /// The block in place there: its hash, tree size and stored frontier.
    InPlace {
        hash: &'a Hash,
        tree_size: u64,
        frontier: &'a [Hash],
    },
}

impl<'a> Pred<'a> {
    /// The predecessor a block read at `position` has when `prev` is the block read just before
    /// it, at `prev_position`.
    pub fn of(position: u64, prev: Option<(u64, &'a Result<Parsed, BlockError>)>) -> Pred<'a> {
        match prev {
            Some((at, parsed)) if position.checked_sub(1) == Some(at) => match parsed {
                Ok(p) if p.header.index == at => Pred::InPlace {
                    hash: &p.hash,
                    tree_size: p.header.tree_size,
                    frontier: &p.decoded.frontier,
                },
                _ => Pred::Unusable,
            },
            _ => Pred::Absent,
        }
    }
}

/// The origin and keys every block is judged against.
pub(super) struct Judge<'a> {
    pub origin: &'a str,
    pub trusted: &'a TrustedKeys,
}

pub(super) fn check_block(
    judge: &Judge<'_>,
    position: u64,
    bytes: &Bytes,
    parsed: &Result<Parsed, BlockError>,
    pred: Pred<'_>,
) -> BlockResult {
    let mut r = BlockResult::default();
    let p = match parsed {
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
        r.claims = Some(h.index);
        return r;
    }
    r.in_place = true;

    r.leaves = leaves_of(p, bytes);
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
        match pred {
            Pred::InPlace {
                hash,
                tree_size,
                frontier,
            } => {
                if p.decoded.prev != *hash {
                    r.fail(
                        LedgerCheck::Chain,
                        position,
                        None,
                        format!(
                            "prev {} is not the hash {} of block {}",
                            h.prev,
                            hex::encode(hash),
                            position - 1
                        ),
                    );
                }
                if h.first_leaf != tree_size {
                    range_ok = false;
                    r.fail(
                        LedgerCheck::LeafRange,
                        position,
                        None,
                        format!(
                            "starts at leaf {}, block {} ended at tree size {}",
                            h.first_leaf,
                            position - 1,
                            tree_size
                        ),
                    );
                }
                Frontier::from_parts(tree_size, frontier.to_vec())
            }
            Pred::Absent | Pred::Unusable => {
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
        } else if position > 0 && !matches!(pred, Pred::Absent) {
            r.notices.push(format!(
                "block {position}: root not checked: block {} has no usable frontier",
                position - 1
            ));
        }
    }

    match Checkpoint::parse(&bytes[p.note.clone()]) {
        Err(e) => r.fail(LedgerCheck::Checkpoint, position, None, e.to_string()),
        Ok(cp) => {
            if cp.origin != judge.origin {
                r.fail(
                    LedgerCheck::Checkpoint,
                    position,
                    None,
                    format!(
                        "origin {:?}, expected {:?} (the origin the auditor named)",
                        cp.origin, judge.origin
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
            match cp.verify(judge.trusted) {
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
/// again from the frontier recomputed for its predecessor (`prev_computed`, after that block's own
/// re-judging; `prev_frontier_failed` whether its stored frontier failed then) so the fault is reported once, where it is.
pub(super) fn rejudge_after_bad_frontier(
    r: &mut BlockResult,
    position: u64,
    p: &Parsed,
    prev_frontier_failed: bool,
    prev_computed: Option<Frontier>,
) {
    if !prev_frontier_failed || !r.judged_root {
        return;
    }
    let Some(mut frontier) = prev_computed else {
        return;
    };
    for leaf in &r.leaves {
        frontier.push(*leaf);
    }
    judge_root(r, position, p, &frontier);
    r.computed = Some(frontier);
}

/// A digest of a parsed block's bytes, from parts already hashed: its header hash, its leaf
/// hashes and its note. The parts determine the bytes (header line, records, blank line, note),
/// so two blocks have the same digest exactly when they have the same bytes (up to SHA-256). It
/// stands in for the bytes of blocks already dropped: a block replayed at another position, and a
/// block read twice (the exact duplicate check) that must not have changed in between.
pub(super) fn content_digest(p: &Parsed, bytes: &[u8], leaves: &[Hash]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(p.hash);
    h.update((leaves.len() as u64).to_be_bytes());
    for leaf in leaves {
        h.update(leaf);
    }
    h.update(Sha256::digest(&bytes[p.note.clone()]));
    h.finalize().into()
}

/// The leaf hashes of a parsed block.
pub(super) fn leaves_of(p: &Parsed, bytes: &[u8]) -> Vec<Hash> {
    p.records
        .iter()
        .map(|range| leaf_hash(&bytes[range.clone()]))
        .collect()
}
