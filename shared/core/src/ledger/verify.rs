//! Verification of a whole ledger: every block's signature, chain link, leaf range, record count,
//! root and frontier recomputed from the leaves, checkpoint, every record's format and identity,
//! no gaps, no duplicate identities, and consistency with a checkpoint pinned earlier.
//!
//! Each check looks at one block and its stored predecessor only, so one tampering shows up as
//! one failure where it happened instead of a cascade. A check that cannot be judged because a
//! check it depends on already failed for the same block is skipped, never passed silently: the
//! block is already reported.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use rayon::prelude::*;
use serde::Serialize;

use super::batch;
use super::block::{BlockHeader, BlockView, DecodedHeader, GENESIS_PREV};
use super::checkpoint::{Checkpoint, DeferredSignature, DeferredVerdict, SignatureFailure};
use super::keys::TrustedKeys;
use super::merkle::{Frontier, Hash, PartialTree, check_consistency, leaf_hash};
use super::record::CustodyRecord;

/// The checks, in the words the report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// An object under `blocks/` that is not a block key.
    Listing,
    /// Block positions are contiguous from 0.
    Gap,
    /// The block file has the block layout and a readable header.
    Parse,
    /// The block at position N says it is block N (an old block copied forward fails here).
    Position,
    /// `prev` is the hash of the previous block's header.
    Chain,
    /// `first_leaf` is the previous tree size and `tree_size = first_leaf + count`.
    LeafRange,
    /// The block holds as many records as its header says.
    RecordCount,
    /// The root recomputed from the previous frontier and this block's leaves is the stored root.
    Root,
    /// The stored frontier is the recomputed one.
    Frontier,
    /// The checkpoint note is a checkpoint of this ledger's origin, size and root.
    Checkpoint,
    /// The checkpoint is signed by a trusted key named after the origin.
    Signature,
    /// The record is a custody record.
    RecordFormat,
    /// The record's id is the identity of its fields.
    Identity,
    /// No identity appears twice in the ledger.
    Duplicate,
    /// The pinned checkpoint is a signed checkpoint of this ledger.
    Pinned,
    /// The ledger extends the pinned checkpoint (no truncation, no fork).
    Consistency,
}

impl Check {
    pub fn name(&self) -> &'static str {
        match self {
            Check::Listing => "listing",
            Check::Gap => "gap",
            Check::Parse => "parse",
            Check::Position => "position",
            Check::Chain => "chain",
            Check::LeafRange => "leaf_range",
            Check::RecordCount => "record_count",
            Check::Root => "root",
            Check::Frontier => "frontier",
            Check::Checkpoint => "checkpoint",
            Check::Signature => "signature",
            Check::RecordFormat => "record_format",
            Check::Identity => "identity",
            Check::Duplicate => "duplicate",
            Check::Pinned => "pinned",
            Check::Consistency => "consistency",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One failed check, where it failed, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub check: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf: Option<u64>,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.check)?;
        if let Some(b) = self.block {
            write!(f, " block {b}")?;
        }
        if let Some(l) = self.leaf {
            write!(f, " leaf {l}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub location: String,
    pub origin: String,
    pub blocks: u64,
    pub records: u64,
    /// Tree size and root of the newest block that is in its place.
    pub tree_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The newest signed checkpoint, to pin for the next verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint: Option<String>,
    pub trusted_keys: Vec<String>,
    pub trust: String,
    /// Keys that signed blocks, with the number of blocks each signed.
    pub signed_by: Vec<(String, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_size: Option<u64>,
    pub failures: Vec<Failure>,
    pub notices: Vec<String>,
    /// Set when verification could not run at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl VerifyReport {
    pub fn could_not_run(location: String, origin: String, error: String) -> Self {
        VerifyReport {
            location,
            origin,
            error: Some(error),
            ..Default::default()
        }
    }

    pub fn is_intact(&self) -> bool {
        self.error.is_none() && self.failures.is_empty()
    }

    /// 0 intact, 1 evidence of tampering or mismatch, 2 could not run.
    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() {
            2
        } else if !self.failures.is_empty() {
            1
        } else {
            0
        }
    }

    /// The distinct checks that failed.
    pub fn failed_checks(&self) -> Vec<Check> {
        let mut checks: Vec<Check> = self.failures.iter().map(|f| f.check).collect();
        checks.sort();
        checks.dedup();
        checks
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ledger   {}", self.location)?;
        writeln!(f, "origin   {}", self.origin)?;
        if let Some(e) = &self.error {
            return writeln!(f, "COULD NOT VERIFY: {e}");
        }
        writeln!(
            f,
            "blocks   {}   records {}   tree size {}",
            self.blocks, self.records, self.tree_size
        )?;
        if let Some(r) = &self.root {
            writeln!(f, "root     {r}")?;
        }
        writeln!(
            f,
            "trust    {}: {}",
            self.trust,
            self.trusted_keys.join(", ")
        )?;
        for (k, n) in &self.signed_by {
            writeln!(f, "signer   {k} signed {n} block(s)")?;
        }
        if let Some(p) = self.pinned_size {
            writeln!(f, "pinned   checkpoint of size {p}")?;
        }
        for n in &self.notices {
            writeln!(f, "note     {n}")?;
        }
        if self.failures.is_empty() {
            writeln!(f, "INTACT: every check passed")
        } else {
            writeln!(f, "TAMPERED or DAMAGED: {} failure(s)", self.failures.len())?;
            for failure in &self.failures {
                writeln!(f, "  {failure}")?;
            }
            Ok(())
        }
    }
}

/// What verification is checked against.
pub struct VerifyInput<'a> {
    pub location: String,
    pub origin: &'a str,
    pub trusted: &'a TrustedKeys,
    pub trust: String,
    pub pinned: Option<&'a Checkpoint>,
    /// Listed keys under `blocks/` that are not block keys.
    pub strays: Vec<String>,
    /// Blocks by position (the index their key names), in increasing order.
    pub blocks: Vec<(u64, Bytes)>,
}

struct Parsed {
    header: BlockHeader,
    decoded: DecodedHeader,
    hash: Hash,
    records: Vec<Range<usize>>,
    note: Range<usize>,
}

fn parse_block(bytes: &Bytes) -> Result<Parsed, String> {
    let view = BlockView::parse(bytes)?;
    let decoded = view.decoded()?;
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
        decoded,
    })
}

#[derive(Default)]
struct BlockResult {
    failures: Vec<Failure>,
    notices: Vec<String>,
    /// Counts toward duplicates and the tree: the block is at its position.
    in_place: bool,
    leaves: Vec<Hash>,
    ids: Vec<(u64, String)>,
    /// The frontier recomputed from the predecessor's stored frontier and these leaves.
    computed: Option<Frontier>,
    /// Whether root/frontier were judged from the predecessor's stored frontier.
    judged_root: bool,
    signed_by: Option<String>,
    /// The checkpoint whose Ed25519 checks are left to [`settle_signatures`].
    pending_signature: Option<(Checkpoint, DeferredVerdict)>,
}

impl BlockResult {
    fn judge_signature(&mut self, block: u64, verdict: Result<String, SignatureFailure>) {
        match verdict {
            Ok(label) => self.signed_by = Some(label),
            Err(e) => self.fail(Check::Signature, block, None, e.0),
        }
    }

    fn fail(&mut self, check: Check, block: u64, leaf: Option<u64>, message: String) {
        self.failures.push(Failure {
            check,
            block: Some(block),
            leaf,
            message,
        });
    }
}

/// Run every check. CPU-bound and parallel over blocks (rayon).
pub fn verify_blocks(input: VerifyInput<'_>) -> VerifyReport {
    verify_blocks_timed(input).0
}

/// [`verify_blocks`], with the wall-clock time each phase took, in order, for benchmarks.
pub fn verify_blocks_timed(
    input: VerifyInput<'_>,
) -> (VerifyReport, Vec<(&'static str, Duration)>) {
    let mut phases = Phases::default();
    let mut report = VerifyReport {
        location: input.location.clone(),
        origin: input.origin.to_string(),
        blocks: input.blocks.len() as u64,
        trusted_keys: input.trusted.labels(),
        trust: input.trust.clone(),
        pinned_size: input.pinned.map(|p| p.size),
        ..Default::default()
    };
    for key in &input.strays {
        report.failures.push(Failure {
            check: Check::Listing,
            block: None,
            leaf: None,
            message: format!("{key} is under blocks/ but is not a block key"),
        });
    }
    report.failures.extend(gaps(&input.blocks));

    let parsed: Vec<Result<Parsed, String>> = input
        .blocks
        .par_iter()
        .map(|(_, b)| parse_block(b))
        .collect();
    phases.end("parse blocks");
    let by_position: HashMap<u64, usize> = input
        .blocks
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (*p, i))
        .collect();

    let mut results: Vec<BlockResult> = (0..input.blocks.len())
        .into_par_iter()
        .map(|i| check_block(&input, &parsed, &by_position, i))
        .collect();
    phases.end("check blocks and records");
    settle_signatures(&input, &mut results);
    phases.end("signatures");

    rejudge_after_bad_frontiers(&input, &parsed, &by_position, &mut results);

    // Duplicates, tree size, signers: sequential and cheap.
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut signers: HashMap<String, u64> = HashMap::new();
    let mut newest_in_place: Option<usize> = None;
    for (i, r) in results.iter().enumerate() {
        report.records += r.leaves.len() as u64;
        if let Some(s) = &r.signed_by {
            *signers.entry(s.clone()).or_default() += 1;
        }
        if !r.in_place {
            continue;
        }
        newest_in_place = Some(i);
        for (leaf, id) in &r.ids {
            if let Some(first) = seen.insert(id.as_str(), *leaf) {
                seen.insert(id.as_str(), first);
                report.failures.push(Failure {
                    check: Check::Duplicate,
                    block: Some(input.blocks[i].0),
                    leaf: Some(*leaf),
                    message: format!("identity {id} is already at leaf {first}"),
                });
            }
        }
    }
    let mut signed_by: Vec<(String, u64)> = signers.into_iter().collect();
    signed_by.sort();
    report.signed_by = signed_by;
    if let Some(i) = newest_in_place
        && let Ok(p) = &parsed[i]
    {
        report.tree_size = p.header.tree_size;
        report.root = Some(p.header.root.clone());
        report.latest_checkpoint = std::str::from_utf8(&input.blocks[i].1[p.note.clone()])
            .ok()
            .map(str::to_string);
    }

    phases.end("re-judge, duplicates, totals");

    if let Some(pinned) = input.pinned {
        check_pinned(&input, pinned, &results, &mut report);
        phases.end("pinned consistency");
    }

    for r in results {
        report.failures.extend(r.failures);
        report.notices.extend(r.notices);
    }
    report.failures.sort_by_key(|f| (f.block, f.leaf, f.check));
    (report, phases.done)
}

/// Wall-clock time per phase.
struct Phases {
    since: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            since: Instant::now(),
            done: Vec::new(),
        }
    }
}

impl Phases {
    fn end(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.done.push((phase, now - self.since));
        self.since = now;
    }
}

/// Judge every checkpoint signature left pending by [`check_block`]: all of them go through
/// Ed25519 batch verification, and the checkpoints a batch could not confirm are verified one
/// at a time, which gives the verdict (and the failure message) that names the block.
fn settle_signatures(input: &VerifyInput<'_>, results: &mut [BlockResult]) {
    let checks: Vec<(usize, &DeferredSignature)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.pending_signature.as_ref().map(|(_, v)| (i, v)))
        .flat_map(|(i, v)| v.checks.iter().map(move |c| (i, c)))
        .collect();
    let only_checks: Vec<&DeferredSignature> = checks.iter().map(|(_, c)| *c).collect();
    let confirmed = batch::confirm(input.trusted, &only_checks);
    let mut unconfirmed = vec![false; results.len()];
    for ((i, _), ok) in checks.iter().zip(confirmed) {
        if !ok {
            unconfirmed[*i] = true;
        }
    }
    results
        .par_iter_mut()
        .zip(unconfirmed)
        .enumerate()
        .for_each(|(i, (r, one_by_one))| {
            if let Some((cp, verdict)) = r.pending_signature.take() {
                let position = input.blocks[i].0;
                if one_by_one {
                    r.judge_signature(position, cp.verify(input.trusted));
                } else {
                    r.judge_signature(position, verdict.if_valid);
                }
            }
        });
}

fn gaps(blocks: &[(u64, Bytes)]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut expected = 0u64;
    for (p, _) in blocks {
        if *p > expected {
            let message = if *p - expected == 1 {
                format!("block {expected} is missing")
            } else {
                format!("blocks {expected} to {} are missing", p - 1)
            };
            out.push(Failure {
                check: Check::Gap,
                block: Some(expected),
                leaf: None,
                message,
            });
        }
        expected = p + 1;
    }
    out
}

fn check_block(
    input: &VerifyInput<'_>,
    parsed: &[Result<Parsed, String>],
    by_position: &HashMap<u64, usize>,
    i: usize,
) -> BlockResult {
    let (position, bytes) = &input.blocks[i];
    let position = *position;
    let mut r = BlockResult::default();
    let p = match &parsed[i] {
        Ok(p) => p,
        Err(e) => {
            r.fail(Check::Parse, position, None, e.clone());
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
            Check::Position,
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

    let first = h.first_leaf;
    r.leaves = p
        .records
        .iter()
        .map(|range| leaf_hash(&bytes[range.clone()]))
        .collect();
    for (k, range) in p.records.iter().enumerate() {
        let leaf = first + k as u64;
        match serde_json::from_slice::<CustodyRecord>(&bytes[range.clone()]) {
            Ok(rec) => {
                if !rec.identity_is_consistent() {
                    r.fail(
                        Check::Identity,
                        position,
                        Some(leaf),
                        format!(
                            "id {} is not the identity of the record's bucket, key, version, event and source",
                            rec.id
                        ),
                    );
                }
                r.ids.push((leaf, rec.id));
            }
            Err(e) => r.fail(
                Check::RecordFormat,
                position,
                Some(leaf),
                format!("not a custody record: {e}"),
            ),
        }
    }

    let count_ok = p.records.len() as u64 == h.count;
    if !count_ok {
        r.fail(
            Check::RecordCount,
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
        r.fail(
            Check::LeafRange,
            position,
            None,
            format!(
                "tree size {} is not first leaf {} + count {}",
                h.tree_size, h.first_leaf, h.count
            ),
        );
    }

    // The predecessor: its hash, tree size and frontier as stored.
    let base: Option<Frontier> = if position == 0 {
        if p.decoded.prev != GENESIS_PREV {
            r.fail(
                Check::Chain,
                position,
                None,
                "block 0 must name no predecessor (prev of 64 zeros)".into(),
            );
        }
        if h.first_leaf != 0 {
            range_ok = false;
            r.fail(
                Check::LeafRange,
                position,
                None,
                format!("block 0 starts at leaf {} instead of 0", h.first_leaf),
            );
        }
        Some(Frontier::empty())
    } else {
        match by_position.get(&(position - 1)).map(|&j| (&parsed[j], j)) {
            Some((Ok(prev), _)) if prev.header.index == position - 1 => {
                if p.decoded.prev != prev.hash {
                    r.fail(
                        Check::Chain,
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
                        Check::LeafRange,
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
        Err(e) => r.fail(Check::Checkpoint, position, None, e),
        Ok(cp) => {
            if cp.origin != input.origin {
                r.fail(
                    Check::Checkpoint,
                    position,
                    None,
                    format!("origin {:?}, expected {:?}", cp.origin, input.origin),
                );
            } else if cp.size != h.tree_size || cp.root != p.decoded.root {
                r.fail(
                    Check::Checkpoint,
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
            let verdict = cp.verify_deferred(input.trusted);
            if verdict.checks.is_empty() {
                r.judge_signature(position, verdict.if_valid);
            } else {
                r.pending_signature = Some((cp, verdict));
            }
        }
    }
    r
}

fn judge_root(r: &mut BlockResult, position: u64, p: &Parsed, computed: &Frontier) {
    r.failures
        .retain(|f| !matches!(f.check, Check::Root | Check::Frontier));
    if computed.root() != p.decoded.root {
        r.fail(
            Check::Root,
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
            Check::Frontier,
            position,
            None,
            "the stored frontier is not the frontier of the tree after this block".into(),
        );
    }
}

/// When a block's stored frontier is wrong, the next block was judged from a wrong base: judge it
/// again from the recomputed frontier so the fault is reported once, where it is.
fn rejudge_after_bad_frontiers(
    input: &VerifyInput<'_>,
    parsed: &[Result<Parsed, String>],
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
            .any(|f| f.check == Check::Frontier);
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

fn check_pinned(
    input: &VerifyInput<'_>,
    pinned: &Checkpoint,
    results: &[BlockResult],
    report: &mut VerifyReport,
) {
    fn fail(report: &mut VerifyReport, check: Check, message: String) {
        report.failures.push(Failure {
            check,
            block: None,
            leaf: None,
            message,
        })
    }
    if pinned.origin != input.origin {
        fail(
            report,
            Check::Pinned,
            format!(
                "the pinned checkpoint is for origin {:?}, this ledger is {:?}",
                pinned.origin, input.origin
            ),
        );
        return;
    }
    if let Err(e) = pinned.verify(input.trusted) {
        fail(
            report,
            Check::Pinned,
            format!("the pinned checkpoint: {}", e.0),
        );
        return;
    }
    if report.failures.iter().any(|f| f.check == Check::Gap) {
        report
            .notices
            .push("consistency with the pinned checkpoint not checked: blocks are missing".into());
        return;
    }
    let leaves: Vec<Hash> = results
        .iter()
        .filter(|r| r.in_place)
        .flat_map(|r| r.leaves.iter().copied())
        .collect();
    let size = leaves.len() as u64;
    if pinned.size > size {
        fail(
            report,
            Check::Consistency,
            format!(
                "truncated: the pinned checkpoint covers {} records, the ledger holds {size}",
                pinned.size
            ),
        );
        return;
    }
    if pinned.size == 0 {
        return;
    }
    let empty = Frontier::empty();
    let tree = PartialTree {
        base: &empty,
        leaves: &leaves,
    };
    let proof = tree
        .consistency_proof(pinned.size)
        .expect("all leaves are at hand");
    let root = tree.subtree(0, size).expect("all leaves are at hand");
    if !check_consistency(&proof, pinned.size, &pinned.root, size, &root) {
        let old = tree
            .subtree(0, pinned.size)
            .expect("all leaves are at hand");
        fail(
            report,
            Check::Consistency,
            format!(
                "forked: the ledger's first {} records hash to {}, the pinned checkpoint says {}",
                pinned.size,
                BASE64.encode(old),
                BASE64.encode(pinned.root)
            ),
        );
    }
}

impl super::engine::Ledger {
    /// Verify the whole ledger (see [`verify_blocks`]) against the trusted keys: the configured
    /// ones, or else the published ones. Store errors make a report that could not run.
    pub async fn verify(&self, pinned: Option<&Checkpoint>) -> VerifyReport {
        let location = self.location();
        let origin = self.config().origin.clone();
        let (trusted, trust) = match self.trusted_keys().await {
            Ok(t) => t,
            Err(e) => return VerifyReport::could_not_run(location, origin, e.to_string()),
        };
        let listed = match self.list_blocks().await {
            Ok(l) => l,
            Err(e) => return VerifyReport::could_not_run(location, origin, e.to_string()),
        };
        let (blocks, strays) = listed;
        let blocks = match self.fetch_blocks(&blocks).await {
            Ok(b) => b,
            Err(e) => return VerifyReport::could_not_run(location, origin, e.to_string()),
        };
        let pinned = pinned.cloned();
        let task = tokio::task::spawn_blocking(move || {
            verify_blocks(VerifyInput {
                location,
                origin: &origin,
                trusted: &trusted,
                trust,
                pinned: pinned.as_ref(),
                strays,
                blocks,
            })
        });
        match task.await {
            Ok(report) => report,
            Err(e) => VerifyReport::could_not_run(
                self.location(),
                self.config().origin.clone(),
                format!("verification task failed: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::block::{Tip, build_block};
    use crate::ledger::keys::Signer;

    const ORIGIN: &str = "custody.test/ledger";

    /// A ledger of `n` blocks of one record each (a minimal custody record line).
    fn ledger(signer: &Signer, n: usize) -> Vec<(u64, Bytes)> {
        let mut tip = Tip::genesis();
        (0..n)
            .map(|i| {
                let line = format!(r#"{{"n":{i}}}"#).into_bytes();
                let block = build_block(&tip, &[line], ORIGIN, signer, "t").unwrap();
                tip = block.tip_after;
                (block.header.index, Bytes::from(block.bytes))
            })
            .collect()
    }

    fn verify(signer: &Signer, blocks: Vec<(u64, Bytes)>) -> VerifyReport {
        let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
        verify_blocks(VerifyInput {
            location: "memory".into(),
            origin: ORIGIN,
            trusted: &trusted,
            trust: "test".into(),
            pinned: None,
            strays: Vec::new(),
            blocks,
        })
    }

    #[test]
    fn a_bad_signature_by_the_trusted_key_is_named_at_its_block_among_many() {
        let signer = Signer::generate(ORIGIN).unwrap();
        let mut blocks = ledger(&signer, 3 * batch::BATCH_SIZE);
        let report = verify(&signer, blocks.clone());
        assert_eq!(report.failed_checks(), vec![Check::RecordFormat]);
        assert_eq!(report.signed_by.len(), 1);
        assert_eq!(report.signed_by[0].1, blocks.len() as u64);

        // Flip one bit of the signature of block 70: the key id still names the trusted key.
        let bad = 70;
        let mut bytes = blocks[bad].1.to_vec();
        let sig_char = bytes.len() - 20; // mid-signature: a base64 character of its 92
        bytes[sig_char] = if bytes[sig_char] == b'A' { b'B' } else { b'A' };
        blocks[bad].1 = Bytes::from(bytes);
        let report = verify(&signer, blocks);
        let signature: Vec<&Failure> = report
            .failures
            .iter()
            .filter(|f| f.check == Check::Signature)
            .collect();
        assert_eq!(signature.len(), 1, "{report}");
        assert_eq!(signature[0].block, Some(bad as u64));
        assert!(
            signature[0].message.contains("invalid signature"),
            "{report}"
        );
    }

    #[test]
    fn the_deferred_verdict_is_the_verdict_when_the_checks_hold() {
        let signer = Signer::generate(ORIGIN).unwrap();
        let foreign = Signer::generate(ORIGIN).unwrap();
        let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
        for by in [&signer, &foreign] {
            let cp = Checkpoint::sign(ORIGIN, 3, [7; 32], by).unwrap();
            let deferred = cp.verify_deferred(&trusted);
            assert_eq!(deferred.if_valid, cp.verify(&trusted));
            assert_eq!(
                deferred.checks.len(),
                usize::from(std::ptr::eq(by, &signer))
            );
        }
    }
}
