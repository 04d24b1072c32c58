//! The identity set: what the integrator knows about every record already in the ledger, so that
//! a record whose identity a block holds is never appended again (`docs/ledger.md`, "Submissions
//! and the integrator"), at no store request per record.
//!
//! In memory it keeps, per leaf, the first 8 bytes of the record's identity and the leaf index
//! (16 bytes a record), the first leaf of every block, and the tip it covers. A prefix is only a
//! candidate: before a record is called *present*, the block holding the candidate leaf is read
//! and the record there must carry exactly that identity (the exact fallback: two identities
//! sharing a prefix are told apart; a record is never dropped because of a collision).
//!
//! The set is saved as a signed snapshot ([`snapshot`]) so that the next process does not re-read
//! the ledger; blocks written after the snapshot are read and chained onto it (`prev`,
//! `first_leaf`, the root recomputed from the frontier), so a stale snapshot costs reads, never a
//! duplicate.

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, stream};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::{ByteRange, StoreErrorKind};

use super::super::block::{BlockView, Tip, header_hash, tip_of};
use super::super::error::LedgerError;
use super::super::merkle::leaf_hash;
use super::{Ledger, Placed};

mod snapshot;

pub use snapshot::SNAPSHOT_FORMAT;

/// Bytes read from the start of the tip block to check its header line (a header with the
/// largest frontier, 64 hashes, is about 3.5 KiB).
const HEADER_READ: u64 = 8 << 10;

/// The in-memory identity set, covering every block up to `tip`.
#[derive(Debug, Clone)]
pub(crate) struct IdentitySet {
    tip: Tip,
    /// First leaf of block `i`, for every block up to the tip.
    first_leaves: Vec<u64>,
    /// (prefix, leaf), sorted.
    base: Vec<(u64, u64)>,
    /// Entries added since `base` was last merged.
    recent: HashMap<u64, u64>,
    /// Entries of `recent` whose prefix was already taken there (rare).
    recent_collisions: Vec<(u64, u64)>,
    /// The block the stored snapshot covers (`None`: no usable snapshot).
    saved_block: Option<u64>,
    saved_size: u64,
}

/// How the identity set was obtained, for the append's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityLoad {
    /// Blocks read because no snapshot covered them.
    pub blocks_read: u64,
    /// Why a stored snapshot was not believed (it was then rebuilt from the blocks).
    pub snapshot_refused: Option<String>,
}

/// The 8-byte prefix of an identity: its first 16 hex digits, or (for an id that is not hex,
/// which only a damaged or foreign record carries) the first 8 bytes of its SHA-256.
pub(crate) fn prefix_of(id: &str) -> u64 {
    match id.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()) {
        Some(p) if id.bytes().take(16).all(|b| b.is_ascii_hexdigit()) => p,
        _ => {
            let digest = Sha256::digest(id.as_bytes());
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// The id field of a stored record line.
pub(crate) fn record_id(line: &[u8]) -> Result<String, serde_json::Error> {
    serde_json::from_slice::<IdOnly<'_>>(line).map(|r| r.id.into_owned())
}

impl IdentitySet {
    pub(crate) fn empty() -> IdentitySet {
        IdentitySet {
            tip: Tip::genesis(),
            first_leaves: Vec::new(),
            base: Vec::new(),
            recent: HashMap::new(),
            recent_collisions: Vec::new(),
            saved_block: None,
            saved_size: 0,
        }
    }

    pub(crate) fn tip(&self) -> &Tip {
        &self.tip
    }

    pub(crate) fn tree_size(&self) -> u64 {
        self.tip.tree_size()
    }

    /// Leaves that may hold `id` (same prefix); confirm before believing.
    fn candidates(&self, id: &str) -> Vec<u64> {
        let p = prefix_of(id);
        let lo = self.base.partition_point(|(q, _)| *q < p);
        let mut out: Vec<u64> = self.base[lo..]
            .iter()
            .take_while(|(q, _)| *q == p)
            .map(|(_, l)| *l)
            .collect();
        out.extend(self.recent.get(&p));
        out.extend(
            self.recent_collisions
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, l)| *l),
        );
        out
    }

    pub(super) fn insert(&mut self, id: &str, leaf: u64) {
        let p = prefix_of(id);
        if let Some(taken) = self.recent.insert(p, leaf) {
            self.recent_collisions.push((p, taken));
        }
        if self.recent.len() > (1 << 16) && self.recent.len() > self.base.len() / 8 {
            self.merge();
        }
    }

    fn merge(&mut self) {
        self.base.extend(self.recent.drain());
        self.base.append(&mut self.recent_collisions);
        self.base.sort_unstable();
    }

    /// The block holding `leaf`.
    fn block_of(&self, leaf: u64) -> Option<u64> {
        if leaf >= self.tree_size() {
            return None;
        }
        let after = self.first_leaves.partition_point(|f| *f <= leaf);
        after.checked_sub(1).map(|b| b as u64)
    }

    /// Chain block `view` (read from `key`) onto the tip and add its identities. Refuses a block
    /// that does not follow the tip: a writer never appends over a ledger it cannot chain.
    pub(crate) fn apply(&mut self, key: &str, view: &BlockView<'_>) -> Result<(), LedgerError> {
        let damaged = |message: String| LedgerError::Damaged {
            key: key.to_string(),
            message,
        };
        let h = &view.header;
        if h.index != self.tip.next_index() {
            return Err(damaged(format!(
                "says it is block {}, expected block {}",
                h.index,
                self.tip.next_index()
            )));
        }
        if view.decoded.prev != self.tip.hash {
            return Err(damaged(format!(
                "does not chain onto block {:?}: its prev is not that block's hash",
                self.tip.index
            )));
        }
        if h.first_leaf != self.tree_size() {
            return Err(damaged(format!(
                "starts at leaf {}, the ledger before it ends at {}",
                h.first_leaf,
                self.tree_size()
            )));
        }
        let tip = tip_of(view).map_err(|e| damaged(e.to_string()))?;
        let mut frontier = self.tip.frontier.clone();
        for line in &view.records {
            frontier.push(leaf_hash(line));
        }
        if frontier.root() != view.decoded.root {
            return Err(damaged(
                "its records do not hash to its root over the ledger before it".into(),
            ));
        }
        let mut ids = Vec::with_capacity(view.records.len());
        for (k, line) in view.records.iter().enumerate() {
            ids.push(record_id(line).map_err(|e| damaged(format!("record {k}: {e}")))?);
        }
        for (k, id) in ids.iter().enumerate() {
            self.insert(id, h.first_leaf + k as u64);
        }
        self.first_leaves.push(h.first_leaf);
        self.tip = tip;
        Ok(())
    }

    /// Add a block this process just wrote (its records, from `first_leaf` on).
    pub(crate) fn apply_written(&mut self, ids: &[String], first_leaf: u64, tip_after: Tip) {
        for (k, id) in ids.iter().enumerate() {
            self.insert(id, first_leaf + k as u64);
        }
        self.first_leaves.push(first_leaf);
        self.tip = tip_after;
    }

    pub(crate) fn blocks_since_saved(&self) -> u64 {
        let covered = self.saved_block.map_or(0, |b| b + 1);
        self.first_leaves.len() as u64 - covered.min(self.first_leaves.len() as u64)
    }

    pub(crate) fn records_since_saved(&self) -> u64 {
        self.tree_size().saturating_sub(self.saved_size)
    }

    /// The snapshot body (merges the recent entries first).
    fn body(&mut self) -> Vec<u8> {
        self.merge();
        let mut out = Vec::with_capacity(16 + 8 * self.first_leaves.len() + 16 * self.base.len());
        out.extend_from_slice(&(self.first_leaves.len() as u64).to_be_bytes());
        for f in &self.first_leaves {
            out.extend_from_slice(&f.to_be_bytes());
        }
        out.extend_from_slice(&(self.base.len() as u64).to_be_bytes());
        for (p, l) in &self.base {
            out.extend_from_slice(&p.to_be_bytes());
            out.extend_from_slice(&l.to_be_bytes());
        }
        out
    }
}

impl Ledger {
    /// The identity set covering every block: the snapshot (when believable) and the blocks
    /// after it.
    pub(crate) async fn load_identities(&self) -> Result<(IdentitySet, IdentityLoad), LedgerError> {
        let mut load = IdentityLoad::default();
        let mut set = match self.read_snapshot().await? {
            Some(Ok(set)) => set,
            Some(Err(reason)) => {
                tracing::warn!(snapshot = %self.layout.identity_snapshot(), %reason,
                    "identity snapshot refused: rebuilding from the blocks");
                load.snapshot_refused = Some(reason);
                IdentitySet::empty()
            }
            None => IdentitySet::empty(),
        };
        load.blocks_read = self.catch_up(&mut set).await?;
        Ok((set, load))
    }

    /// Check that the block the set's tip stands on is still the block it was: one ranged read
    /// of its header line (ETags are not enough: a folder edited in place keeps its recorded
    /// ETag). A writer never chains onto a block replaced after it was written or read.
    async fn check_tip(&self, set: &IdentitySet) -> Result<(), LedgerError> {
        let Some(index) = set.tip.index else {
            return Ok(());
        };
        let key = self.layout.block(index);
        let damaged = |message: &str| LedgerError::Damaged {
            key: key.clone(),
            message: message.to_string(),
        };
        let range = ByteRange {
            first: 0,
            last: HEADER_READ - 1,
        };
        let head = match self.store.get(&key, None, Some(range)).await {
            Ok(body) => body.collect().await?,
            Err(e) if e.kind == StoreErrorKind::NotFound => {
                return Err(damaged("missing, while this writer chained onto it"));
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = match head.iter().position(|&b| b == b'\n') {
            Some(_) => head,
            None => self.read_block(index).await?,
        };
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        if header_hash(&bytes[..end]) != set.tip.hash {
            return Err(damaged(
                "replaced after this writer wrote or read it: its header is not the one the \
                 ledger chains onto",
            ));
        }
        Ok(())
    }

    /// Read and chain every block after the set's tip. Returns the number of blocks read.
    pub(crate) async fn catch_up(&self, set: &mut IdentitySet) -> Result<u64, LedgerError> {
        self.check_tip(set).await?;
        let Some(head) = self.head_index().await? else {
            return if set.tip.index.is_some() {
                Err(LedgerError::Damaged {
                    key: self.layout.block(0),
                    message: "missing, while the identity snapshot covers blocks".into(),
                })
            } else {
                Ok(0)
            };
        };
        let from = set.tip.next_index();
        if from > head {
            return Ok(0);
        }
        let reads = (from..=head).map(|index| async move {
            let bytes = self.read_block(index).await.map_err(|e| match e {
                LedgerError::Store(s) if s.kind == StoreErrorKind::NotFound => {
                    LedgerError::Damaged {
                        key: self.layout.block(index),
                        message: format!("missing, while block {head} exists (a gap)"),
                    }
                }
                other => other,
            })?;
            Ok::<_, LedgerError>((index, bytes))
        });
        let mut fetched = stream::iter(reads).buffered(self.config.concurrency.clamp(1, 8));
        let mut read = 0;
        while let Some(item) = fetched.next().await {
            let (index, bytes) = item?;
            let key = self.layout.block(index);
            let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
                key: key.clone(),
                message: e.to_string(),
            })?;
            set.apply(&key, &view)?;
            read += 1;
        }
        Ok(read)
    }

    /// Where `id` is, among the set's candidates, confirmed by reading the blocks they name:
    /// the candidates are grouped by block, and each block is read and parsed once per call.
    pub(crate) async fn confirm(
        &self,
        set: &IdentitySet,
        ids: &[String],
    ) -> Result<HashMap<String, Placed>, LedgerError> {
        let mut by_block: BTreeMap<u64, Vec<(u64, usize)>> = BTreeMap::new();
        for (n, id) in ids.iter().enumerate() {
            for leaf in set.candidates(id) {
                if let Some(block) = set.block_of(leaf) {
                    by_block.entry(block).or_default().push((leaf, n));
                }
            }
        }
        let mut found = HashMap::new();
        for (block, candidates) in by_block {
            let bytes = self.read_block(block).await?;
            let view = BlockView::parse(&bytes).map_err(|e| LedgerError::Damaged {
                key: self.layout.block(block),
                message: e.to_string(),
            })?;
            for (leaf, n) in candidates {
                let id = &ids[n];
                if found.contains_key(id) {
                    continue;
                }
                let holds = leaf
                    .checked_sub(view.header.first_leaf)
                    .and_then(|at| view.records.get(at as usize))
                    .and_then(|line| record_id(line).ok())
                    .is_some_and(|have| &have == id);
                if holds {
                    found.insert(
                        id.clone(),
                        Placed {
                            id: id.clone(),
                            block,
                            leaf_index: leaf,
                        },
                    );
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_hex_ids_are_their_first_eight_bytes() {
        let id = format!("0123456789abcdef{}", "0".repeat(48));
        assert_eq!(prefix_of(&id), 0x0123_4567_89ab_cdef);
        // A non-hex id still gets a stable prefix.
        assert_eq!(prefix_of("not hex at all"), prefix_of("not hex at all"));
    }

    #[test]
    fn colliding_prefixes_keep_every_candidate() {
        let mut set = IdentitySet::empty();
        let a = format!("00000000000000aa{}", "1".repeat(48));
        let b = format!("00000000000000aa{}", "2".repeat(48));
        set.insert(&a, 3);
        set.insert(&b, 7);
        let mut c = set.candidates(&a);
        c.sort();
        assert_eq!(c, vec![3, 7]);
        set.merge();
        let mut c = set.candidates(&b);
        c.sort();
        assert_eq!(c, vec![3, 7]);
        assert!(set.candidates(&format!("ff{}", "0".repeat(62))).is_empty());
    }
}
