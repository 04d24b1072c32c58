//! Verification as a stream of blocks (`docs/ledger.md`, "Verification": memory). The blocks come
//! in ledger order, a window at a time; each window is parsed and checked in parallel, every
//! block against its stored predecessor (in the window, or the [`Link`] kept from the window
//! before), then folded in order into what outlives the blocks, and dropped:
//!
//! - per block read, its position and a digest of its bytes (O(blocks), 41 bytes each);
//! - per record of a block in place, its identity prefix and block ([`super::prefixes`], 8
//!   bytes);
//! - the frontier of the ledger up to a pinned checkpoint's size ([`super::pinned`]);
//! - the failures, notices, signers and newest checkpoint of the report.
//!
//! After the last window, the blocks holding identity prefixes that collide are read again for
//! the exact duplicate check ([`super::duplicates`]); then the report is settled. The checks and
//! their verdicts are those of [`super::checks`], block by block, whatever the window.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rayon::prelude::*;

use super::super::block::BlockError;
use super::super::checkpoint::Checkpoint;
use super::super::keys::TrustedKeys;
use super::super::merkle::{Frontier, Hash};
use super::super::record::CustodyRecord;
use super::checks::{
    BlockResult, Judge, Parsed, Pred, check_block, content_digest, gaps, leaves_of, parse_block,
    rejudge_after_bad_frontier,
};
use super::duplicates::ExactDuplicates;
use super::pinned::{PrefixTree, check_pinned};
use super::prefixes::{PREFIX_BYTES, PrefixSet};
use super::report::{Failure, LedgerCheck, Trust, VerifyReport};
use super::root_leaf::{MAX_LEADS, RootLead, name_altered_leaf};

/// Most blocks in one window.
pub(super) const WINDOW_BLOCKS: usize = 256;
/// Listed bytes of one window (at least one block, whatever its size).
pub(super) const WINDOW_BYTES: u64 = 8 << 20;

/// How many of the next blocks, of these sizes, make one window.
pub(super) fn window_len(sizes: impl IntoIterator<Item = u64>) -> usize {
    let mut bytes = 0u64;
    let mut n = 0usize;
    for size in sizes {
        if n == WINDOW_BLOCKS || (n > 0 && bytes.saturating_add(size) > WINDOW_BYTES) {
            break;
        }
        bytes = bytes.saturating_add(size);
        n += 1;
    }
    n
}

/// What verification is checked against, owned so that windows can be checked off the async
/// runtime.
pub(super) struct Start {
    pub location: String,
    pub origin: String,
    pub trusted: TrustedKeys,
    pub trust: Trust,
    pub pinned: Option<Checkpoint>,
    /// Identity prefix width in bytes ([`PREFIX_BYTES`] but in tests).
    pub prefix_bytes: u32,
    /// How many blocks will be read at most (the listing's length): the prefix set gives their
    /// ordinals the bits they need.
    pub blocks: u64,
}

impl Start {
    pub fn new(
        location: String,
        origin: String,
        trusted: TrustedKeys,
        trust: Trust,
        pinned: Option<Checkpoint>,
        blocks: u64,
    ) -> Start {
        Start {
            location,
            origin,
            trusted,
            trust,
            pinned,
            prefix_bytes: PREFIX_BYTES,
            blocks,
        }
    }
}

/// The block read last, as the next block's checks need it.
struct Link {
    position: u64,
    /// Hash, tree size and stored frontier when the block parsed and is in place.
    in_place: Option<(Hash, u64, Vec<Hash>)>,
    /// Whether its stored frontier failed (after its own re-judging), and the frontier
    /// recomputed for it: the next block is judged again from that one.
    frontier_failed: bool,
    computed: Option<Frontier>,
}

impl Link {
    fn pred(&self, position: u64) -> Pred<'_> {
        if position.checked_sub(1) != Some(self.position) {
            return Pred::Absent;
        }
        match &self.in_place {
            Some((hash, tree_size, frontier)) => Pred::InPlace {
                hash,
                tree_size: *tree_size,
                frontier,
            },
            None => Pred::Unusable,
        }
    }
}

/// The newest block in place so far.
struct Newest {
    tree_size: u64,
    root: String,
    /// Its checkpoint note, when a trusted key verified its signature.
    checkpoint: Option<String>,
}

/// A block stored at a position other than the one it names.
struct Misplaced {
    position: u64,
    claims: u64,
    digest: Hash,
}

/// Counts of the duplicate check's work, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DuplicateStats {
    /// Identity prefixes kept (one per custody record of a block in place).
    pub prefixes: u64,
    /// Bytes the prefix set took.
    pub prefix_bytes: u64,
    /// Prefixes two records or more share.
    pub colliding_prefixes: u64,
    /// Blocks read a second time to compare full identities.
    pub blocks_reread: u64,
}

/// Verification in progress; see the module documentation.
pub(super) struct StreamVerifier {
    origin: String,
    trusted: TrustedKeys,
    pinned: Option<Checkpoint>,
    report: VerifyReport,
    /// Failures found reading the store; a failure naming a block counts its position present.
    found: Vec<Failure>,
    /// Failures of the checks, block by block.
    failures: Vec<Failure>,
    notices: Vec<String>,
    /// Position and content digest of every block read, by ordinal (the order read).
    positions: Vec<u64>,
    digests: Vec<Option<Hash>>,
    misplaced: Vec<Misplaced>,
    link: Option<Link>,
    signers: HashMap<String, u64>,
    newest: Option<Newest>,
    prefixes: Option<PrefixSet>,
    exact: Option<ExactDuplicates>,
    last_reread: Option<usize>,
    tree: PrefixTree,
    stats: DuplicateStats,
    /// Wall-clock time per phase, summed over windows.
    timings: Vec<(&'static str, Duration)>,
    /// Blocks whose altered leaf the tiles may name (`root_leaf`).
    root_leads: Vec<RootLead>,
}

impl StreamVerifier {
    pub fn new(start: Start) -> StreamVerifier {
        let report = VerifyReport {
            location: start.location,
            origin: start.origin.clone(),
            trusted_keys: start.trusted.labels(),
            trust: start.trust,
            pinned_size: start.pinned.as_ref().map(|p| p.size),
            ..Default::default()
        };
        StreamVerifier {
            origin: start.origin,
            trusted: start.trusted,
            tree: PrefixTree::new(start.pinned.as_ref().map_or(0, |p| p.size)),
            pinned: start.pinned,
            report,
            found: Vec::new(),
            failures: Vec::new(),
            notices: Vec::new(),
            positions: Vec::new(),
            digests: Vec::new(),
            misplaced: Vec::new(),
            link: None,
            signers: HashMap::new(),
            newest: None,
            prefixes: Some(PrefixSet::new(start.prefix_bytes, start.blocks)),
            exact: None,
            last_reread: None,
            stats: DuplicateStats::default(),
            timings: Vec::new(),
            root_leads: Vec::new(),
        }
    }

    /// A failure found reading the store (a stray key, an overwritten version, a block above the
    /// cap, a key that is not a readable object).
    pub fn found(&mut self, failure: Failure) {
        self.found.push(failure);
    }

    fn time(&mut self, phase: &'static str, since: Instant) -> Instant {
        let now = Instant::now();
        match self.timings.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, d)) => *d += now - since,
            None => self.timings.push((phase, now - since)),
        }
        now
    }

    /// The next blocks read, in increasing position after every block pushed before; checked,
    /// folded into the report, and dropped.
    pub fn push_window(&mut self, window: Vec<(u64, Bytes)>) {
        let t = Instant::now();
        let parsed: Vec<Result<Parsed, BlockError>> =
            window.par_iter().map(|(_, b)| parse_block(b)).collect();
        let judge = Judge {
            origin: &self.origin,
            trusted: &self.trusted,
        };
        let link = self.link.as_ref();
        let results: Vec<BlockResult> = (0..window.len())
            .into_par_iter()
            .map(|i| {
                let (position, bytes) = &window[i];
                let pred = match i {
                    0 => link.map_or(Pred::Absent, |l| l.pred(*position)),
                    _ => Pred::of(*position, Some((window[i - 1].0, &parsed[i - 1]))),
                };
                let mut r = check_block(&judge, *position, bytes, &parsed[i], pred);
                // The digest of a block in place comes from its leaves; the leaves of one
                // elsewhere (rare: a replayed or misplaced block) are hashed for it.
                if let Ok(p) = &parsed[i] {
                    r.digest = Some(match r.claims {
                        Some(_) => content_digest(p, bytes, &leaves_of(p, bytes)),
                        None => content_digest(p, bytes, &r.leaves),
                    });
                }
                r
            })
            .collect();
        let t = self.time("parse and check blocks, records and signatures", t);
        for ((position, bytes), (parsed, r)) in window.iter().zip(parsed.iter().zip(results)) {
            self.fold(*position, bytes, parsed, r);
        }
        self.time("re-judge, prefixes, totals", t);
    }

    /// One checked block, in ledger order.
    fn fold(
        &mut self,
        position: u64,
        bytes: &Bytes,
        parsed: &Result<Parsed, BlockError>,
        mut r: BlockResult,
    ) {
        let ordinal = self.positions.len();
        self.positions.push(position);
        self.digests.push(r.digest);
        self.report.blocks += 1;
        if let (Some(link), Ok(p)) = (&self.link, parsed)
            && link.position.checked_add(1) == Some(position)
        {
            let computed = link.computed.clone().filter(|_| link.frontier_failed);
            rejudge_after_bad_frontier(&mut r, position, p, link.frontier_failed, computed);
        }
        self.report.records += r.leaves.len() as u64;
        if let Some(s) = &r.signed_by {
            *self.signers.entry(s.clone()).or_default() += 1;
        }
        if let (Some(claims), Some(digest)) = (r.claims, r.digest) {
            self.misplaced.push(Misplaced {
                position,
                claims,
                digest,
            });
        }
        if r.in_place
            && let Ok(p) = parsed
        {
            self.newest = Some(Newest {
                tree_size: p.header.tree_size,
                root: p.header.root.clone(),
                checkpoint: r
                    .signed_by
                    .as_ref()
                    .and_then(|_| std::str::from_utf8(&bytes[p.note.clone()]).ok())
                    .map(str::to_string),
            });
            self.tree.push(&r.leaves);
            if let Some(set) = &mut self.prefixes
                && r.ids
                    .iter()
                    .try_for_each(|(_, id)| set.insert(id, ordinal as u64))
                    .is_err()
            {
                // More blocks than listed (not from a listing): every block is compared in full.
                self.prefixes = None;
            }
        }
        if let (Some(_), Ok(p)) = (&r.signed_by, parsed)
            && r.failures.iter().any(|f| f.check == LedgerCheck::Root)
            && self.root_leads.len() < MAX_LEADS
        {
            self.root_leads.push(RootLead {
                position,
                first_leaf: p.header.first_leaf,
                tree_size: p.header.tree_size,
                root: p.decoded.root,
                leaves: r.leaves.clone(),
            });
        }
        let in_place = match (r.in_place, parsed) {
            (true, Ok(p)) => Some((p.hash, p.header.tree_size, p.decoded.frontier.clone())),
            _ => None,
        };
        self.link = Some(Link {
            position,
            in_place,
            frontier_failed: r.failures.iter().any(|f| f.check == LedgerCheck::Frontier),
            computed: r.computed.take(),
        });
        self.failures.append(&mut r.failures);
        self.notices.append(&mut r.notices);
    }

    /// After the last window: the positions of the blocks to read again (in ledger order, each
    /// once) for the exact duplicate check, because they hold identity prefixes that collide.
    pub fn duplicate_rereads(&mut self) -> Vec<u64> {
        let t = Instant::now();
        let Some(set) = self.prefixes.take() else {
            // No prefix set (more blocks than it was sized for): every block is compared.
            self.exact = Some(ExactDuplicates::everything());
            self.stats.blocks_reread = self.positions.len() as u64;
            return self.positions.clone();
        };
        self.stats.prefixes = set.len() as u64;
        self.stats.prefix_bytes = set.bytes() as u64;
        let bits = set.prefix_bits();
        let collisions = set.collisions();
        self.time("duplicates: prefix collisions", t);
        if collisions.is_empty() {
            return Vec::new();
        }
        self.stats.colliding_prefixes = collisions.prefixes.len() as u64;
        self.stats.blocks_reread = collisions.blocks.len() as u64;
        let positions = collisions
            .blocks
            .iter()
            .map(|&o| self.positions[o as usize])
            .collect();
        self.exact = Some(ExactDuplicates::new(bits, collisions.prefixes));
        positions
    }

    /// One block of [`StreamVerifier::duplicate_rereads`], read again, in the order given. A
    /// block whose bytes are not the ones verified was written twice: `overwritten`.
    pub fn reread(&mut self, position: u64, bytes: &Bytes) {
        let t = Instant::now();
        let Some(exact) = &mut self.exact else {
            return;
        };
        let after = self.last_reread.map_or(0, |o| o + 1);
        let Some(ordinal) = self.positions[after..]
            .binary_search(&position)
            .ok()
            .map(|o| o + after)
        else {
            return;
        };
        self.last_reread = Some(ordinal);
        if self.digests[ordinal].is_none() {
            // It did not parse: it holds no identity.
            return;
        }
        let changed = || Failure {
            check: LedgerCheck::Overwritten,
            block: Some(position),
            leaf: None,
            message: format!(
                "block {position} changed between two reads during verification: it was \
                 written more than once"
            ),
        };
        let Ok(p) = parse_block(bytes) else {
            self.failures.push(changed());
            return;
        };
        let leaves = leaves_of(&p, bytes);
        if self.digests[ordinal] != Some(content_digest(&p, bytes, &leaves)) {
            self.failures.push(changed());
            return;
        }
        if p.header.index != position {
            return;
        }
        let ids = p.records.iter().enumerate().filter_map(|(k, range)| {
            let leaf = p.header.first_leaf.checked_add(k as u64);
            serde_json::from_slice::<CustodyRecord>(&bytes[range.clone()])
                .ok()
                .map(|rec| (leaf, rec.id))
        });
        exact.visit(position, ids);
        self.time("duplicates: exact comparison", t);
    }

    /// The blocks whose altered leaf the tiles may name.
    pub fn take_root_leads(&mut self) -> Vec<RootLead> {
        std::mem::take(&mut self.root_leads)
    }

    /// What the tiles said of the `[root]` failure of block `position`.
    pub fn root_located(&mut self, position: u64, located: Result<Option<u64>, String>) {
        name_altered_leaf(&mut self.failures, position, located);
    }

    /// The report, once every block (and every block to read again) has passed, with the time
    /// each phase took and what the duplicate check did.
    pub fn finish(mut self) -> (VerifyReport, Vec<(&'static str, Duration)>, DuplicateStats) {
        let t = Instant::now();
        let mut report = std::mem::take(&mut self.report);
        report.failures.append(&mut self.found);
        let present: BTreeSet<u64> = self
            .positions
            .iter()
            .copied()
            .chain(report.failures.iter().filter_map(|f| f.block))
            .collect();
        report
            .failures
            .extend(gaps(&present.into_iter().collect::<Vec<_>>()));
        if let Some(exact) = self.exact.take() {
            report.failures.extend(exact.failures);
        }
        for m in &self.misplaced {
            let copy = self
                .positions
                .binary_search(&m.claims)
                .ok()
                .filter(|&o| self.digests[o] == Some(m.digest))
                .map(|_| format!(": a copy of block {}", m.claims))
                .unwrap_or_default();
            self.failures.push(Failure::at(
                LedgerCheck::Position,
                Some(m.position),
                format!(
                    "the block stored as block {} says it is block {}{copy}",
                    m.position, m.claims
                ),
            ));
        }
        let mut signed_by: Vec<(String, u64)> = self.signers.drain().collect();
        signed_by.sort();
        report.signed_by = signed_by;
        if let Some(newest) = self.newest.take() {
            report.tree_size = newest.tree_size;
            report.root = Some(newest.root);
            report.latest_checkpoint = newest.checkpoint;
        }
        if let Some(pinned) = &self.pinned {
            check_pinned(&self.origin, &self.trusted, pinned, &self.tree, &mut report);
        }
        report.failures.append(&mut self.failures);
        report.notices.append(&mut self.notices);
        report.failures.sort_by_key(|f| (f.block, f.leaf, f.check));
        report.settle();
        self.time("gaps, pinned consistency, totals", t);
        (report, self.timings, self.stats)
    }
}
