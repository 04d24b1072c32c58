//! Verification of a whole ledger: every block's layout and canonical header, position, chain
//! link, leaf range, record count, root and frontier recomputed from the leaves, checkpoint and
//! signature; every record's format and identity; no gaps, no duplicate identities, no
//! overwritten versions, and consistency with a checkpoint pinned earlier. The rules are
//! specified in `docs/ledger.md` ("Verification") so that an independent verifier can enforce
//! the same ones.
//!
//! Verification streams: blocks pass a window at a time and are dropped, so its memory does not
//! grow with the ledger's bytes (`docs/ledger.md`, "Verification": memory).
//!
//! - [`report`]: the vocabulary (checks, failures, verdict, trust) and the report;
//! - [`checks`]: the checks of one block against its predecessor;
//! - [`stream`]: blocks in windows, folded into what outlives them;
//! - [`prefixes`]: the compact set of identity prefixes behind the duplicate check;
//! - [`duplicates`]: the exact duplicate check on the records whose prefixes collide;
//! - [`pinned`]: consistency with a pinned checkpoint;
//! - [`store`]: reading a ledger from its store for verification (listing, versions, caps).

mod checks;
mod duplicates;
mod pinned;
mod prefixes;
mod progress;
pub mod report;
mod root_leaf;
mod store;
mod stream;

use std::time::Duration;

use bytes::Bytes;

use super::checkpoint::Checkpoint;
use super::keys::TrustedKeys;
pub use progress::{VerifyProgress, VerifySnapshot};
pub use report::{Failure, LedgerCheck, Trust, Verdict, VerifyReport};
pub use stream::DuplicateStats;
use stream::{Start, StreamVerifier, window_len};

/// What verification is checked against, with the blocks in memory.
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

/// Run every check on blocks in memory: the same streaming verification as
/// [`Ledger::verify`](super::Ledger::verify), in windows over the vector. CPU-bound and parallel
/// over the blocks of a window (rayon).
pub fn verify_blocks(input: VerifyInput<'_>) -> VerifyReport {
    verify_blocks_timed(input).0
}

/// [`verify_blocks`], with the wall-clock time each phase took, in order, for benchmarks.
pub fn verify_blocks_timed(
    input: VerifyInput<'_>,
) -> (VerifyReport, Vec<(&'static str, Duration)>) {
    let (report, timings, _) = verify_in_memory(input, prefixes::PREFIX_BYTES);
    (report, timings)
}

/// [`verify_blocks`] with an identity prefix of `prefix_bytes` bytes (1 to 8), reporting what
/// the duplicate check did as well.
fn verify_in_memory(
    input: VerifyInput<'_>,
    prefix_bytes: u32,
) -> (
    VerifyReport,
    Vec<(&'static str, Duration)>,
    stream::DuplicateStats,
) {
    let mut start = Start::new(
        input.location,
        input.origin.to_string(),
        input.trusted.clone(),
        input.trust,
        input.pinned.cloned(),
        input.blocks.len() as u64,
    );
    start.prefix_bytes = prefix_bytes;
    let mut blocks = input.blocks;
    blocks.sort_by_key(|(p, _)| *p);
    let mut verifier = StreamVerifier::new(start);
    for f in input.found {
        verifier.found(f);
    }
    let mut rest = blocks.as_slice();
    while !rest.is_empty() {
        let n = window_len(rest.iter().map(|(_, b)| b.len() as u64));
        let (window, after) = rest.split_at(n);
        verifier.push_window(window.to_vec());
        rest = after;
    }
    for position in verifier.duplicate_rereads() {
        if let Ok(i) = blocks.binary_search_by_key(&position, |(p, _)| *p) {
            verifier.reread(position, &blocks[i].1);
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
