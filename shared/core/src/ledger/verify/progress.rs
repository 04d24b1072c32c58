//! How far a verification is, for a progress display: counters the verifier raises as it goes
//! (blocks and bytes listed, then checked window by window) and a display reads when it likes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared counters of one verification ([`crate::ledger::Ledger::verify_with_progress`]).
#[derive(Debug, Default)]
pub struct VerifyProgress {
    blocks_total: AtomicU64,
    bytes_total: AtomicU64,
    blocks_done: AtomicU64,
    bytes_done: AtomicU64,
}

/// One reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySnapshot {
    pub blocks_total: u64,
    pub bytes_total: u64,
    pub blocks_done: u64,
    pub bytes_done: u64,
}

impl VerifyProgress {
    pub(crate) fn listed(&self, blocks: u64, bytes: u64) {
        self.blocks_total.store(blocks, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn checked(&self, blocks: u64, bytes: u64) {
        self.blocks_done.fetch_add(blocks, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> VerifySnapshot {
        VerifySnapshot {
            blocks_total: self.blocks_total.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            blocks_done: self.blocks_done.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
        }
    }
}
