//! Verification of a whole ledger: every block's layout and canonical header, position, chain
//! link, leaf range, record count, root and frontier recomputed from the leaves, checkpoint and
//! signature; every record's format and identity; no gaps, no duplicate identities, no
//! overwritten versions, and consistency with a checkpoint pinned earlier. The rules are
//! specified in `docs/ledger.md` ("Verification") so that an independent verifier can enforce
//! the same ones.
//!
//! - [`report`]: the vocabulary (checks, failures, verdict, trust) and the report;
//! - [`checks`]: the checks of one block against its predecessor;
//! - [`pinned`]: consistency with a pinned checkpoint;
//! - [`store`]: reading a ledger from its store for verification (listing, versions, caps).

mod checks;
mod pinned;
pub mod report;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rayon::prelude::*;

use super::checkpoint::Checkpoint;
use super::keys::TrustedKeys;
use checks::{BlockResult, Parsed, check_block, gaps, parse_block, rejudge_after_bad_frontiers};
pub use report::{Failure, LedgerCheck, Trust, Verdict, VerifyReport};

/// What verification is checked against.
pub struct VerifyInput<'a> {
    pub location: String,
    /// The origin the auditor named (`--origin`, or the one name of the keys given): every
    /// checkpoint must name it.
    pub origin: &'a str,
    pub trusted: &'a TrustedKeys,
    pub trust: Trust,
    pub pinned: Option<&'a Checkpoint>,
    /// Failures found while reading the store (stray keys under `blocks/`, non-regular objects
    /// named like blocks, blocks above the size cap, overwritten versions). A failure naming a
    /// block counts that position as present for the gap check.
    pub found: Vec<Failure>,
    /// Blocks by position (the index their key names), in increasing order.
    pub blocks: Vec<(u64, Bytes)>,
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
        trust: input.trust,
        pinned_size: input.pinned.map(|p| p.size),
        ..Default::default()
    };
    report.failures.extend(input.found.iter().cloned());
    let present: BTreeSet<u64> = input
        .blocks
        .iter()
        .map(|(p, _)| *p)
        .chain(input.found.iter().filter_map(|f| f.block))
        .collect();
    report
        .failures
        .extend(gaps(&present.into_iter().collect::<Vec<_>>()));

    let parsed: Vec<Result<Parsed, _>> = input
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
    phases.end("check blocks, records and signatures");

    rejudge_after_bad_frontiers(&input, &parsed, &by_position, &mut results);

    // Duplicates, tree size, signers: sequential and cheap.
    let mut seen: HashMap<&str, Option<u64>> = HashMap::new();
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
                let at =
                    first.map_or_else(|| "an earlier leaf".to_string(), |l| format!("leaf {l}"));
                report.failures.push(Failure {
                    check: LedgerCheck::Duplicate,
                    block: Some(input.blocks[i].0),
                    leaf: *leaf,
                    message: format!("identity {id} is already at {at}"),
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
        // Only a checkpoint whose signature a trusted key verified may be pinned.
        if results[i].signed_by.is_some() {
            report.latest_checkpoint = std::str::from_utf8(&input.blocks[i].1[p.note.clone()])
                .ok()
                .map(str::to_string);
        }
    }
    phases.end("re-judge, duplicates, totals");

    if let Some(pinned) = input.pinned {
        pinned::check_pinned(&input, pinned, &results, &mut report);
        phases.end("pinned consistency");
    }

    for r in results {
        report.failures.extend(r.failures);
        report.notices.extend(r.notices);
    }
    report.failures.sort_by_key(|f| (f.block, f.leaf, f.check));
    report.settle();
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

#[cfg(test)]
mod tests;
