//! Catching the tiles up with the blocks: publish the tiles of every block after the newest one
//! already covered, in order.
//!
//! Which block is covered comes from the `checkpoint` object, which is overwritten and so never
//! believed as it stands: it must parse, name the ledger's origin, and its size and root must be
//! those of a block (found by galloping back from the head and bisecting, O(log gap) header
//! reads), and that block's last tiles must exist (publication writes the checkpoint last). When it is not believed (absent, edited, another ledger's), or the tiles
//! it vouches for turn out incomplete, the newest block whose tiles are complete is found by
//! bisection over the blocks: complete means the last tile of every level and the last entry
//! bundle of its tree size exist ([`super::last_tiles`]), which holds for a prefix of the
//! blocks because every publication checks its predecessor's first. Either way the cost is
//! O(log blocks) small reads plus the blocks published; no block before the start is read.

use bytes::Bytes;

use crate::store::ByteRange;

use super::super::block::{BlockHeader, BlockView};
use super::super::checkpoint::{Checkpoint, MAX_NOTE_BYTES};
use super::super::log::{Head, Ledger};
use super::super::merkle::Hash;
use super::coords::last_tiles;
use super::error::TilesError;
use super::objects::{exists, fetch};
use super::publish::{publish_block, put_checkpoint};

/// A header line is under 4 KiB (nine fields, at most 64 frontier hashes); this much of a block
/// is read to get it.
const HEADER_READ: u64 = 8 << 10;

/// How catch-up found the newest block whose tiles were complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoveredBy {
    /// The ledger has no blocks.
    Empty,
    /// The `checkpoint` object, checked against the blocks.
    Checkpoint,
    /// Bisection over the blocks, checking which have their tiles.
    Probing,
}

/// What [`catch_up`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtUp {
    pub covered_by: CoveredBy,
    /// Why the `checkpoint` object was not believed, when it was not.
    pub checkpoint_refused: Option<String>,
    /// First and last block whose tiles this call published; `None` when none was behind.
    pub blocks: Option<(u64, u64)>,
    /// Tiles created, and found already stored with the same bytes.
    pub created: u64,
    pub unchanged: u64,
    /// Store requests made to find where to start (the checkpoint, block headers, HEADs).
    pub probes: u64,
    /// The tree size the tiles cover now.
    pub tree_size: u64,
}

/// Publish the tiles of every block after the newest one whose tiles are complete.
pub async fn catch_up(ledger: &Ledger) -> Result<CaughtUp, TilesError> {
    let mut outcome = CaughtUp {
        covered_by: CoveredBy::Empty,
        checkpoint_refused: None,
        blocks: None,
        created: 0,
        unchanged: 0,
        probes: 0,
        tree_size: 0,
    };
    let Some(head) = ledger.head().await? else {
        return Ok(outcome);
    };
    let head_view = BlockView::parse(&head.bytes).map_err(|e| TilesError::Block {
        index: head.index,
        message: e.to_string(),
    })?;
    let mut finder = Finder {
        ledger,
        head_index: head.index,
        head_size: head_view.header.tree_size,
        head_root: head_view.decoded.root,
        probes: 0,
    };
    let start = match finder.by_checkpoint().await? {
        Ok(covered) => {
            outcome.covered_by = CoveredBy::Checkpoint;
            covered + 1
        }
        Err(reason) => {
            outcome.covered_by = CoveredBy::Probing;
            outcome.checkpoint_refused = Some(reason);
            finder.probe().await?
        }
    };
    let mut published = publish_range(ledger, start, &head, &mut outcome).await;
    if outcome.covered_by == CoveredBy::Checkpoint
        && let Err(
            e @ (TilesError::NotCaughtUp { .. }
            | TilesError::Frontier { .. }
            | TilesError::Malformed { .. }),
        ) = &published
    {
        outcome.covered_by = CoveredBy::Probing;
        outcome.checkpoint_refused = Some(format!("the tiles it vouches for are not: {e}"));
        let start = finder.probe().await?;
        published = publish_range(ledger, start, &head, &mut outcome).await;
    }
    published?;
    if outcome.checkpoint_refused.is_some() && outcome.blocks.is_none() {
        // Nothing was behind, but the checkpoint was not the head's: put the head's back.
        put_checkpoint(ledger.store().as_ref(), ledger.layout(), head_view.note).await?;
    }
    outcome.probes = finder.probes;
    outcome.tree_size = finder.head_size;
    Ok(outcome)
}

/// Publish blocks `start..=head` in order, checking each follows its predecessor.
async fn publish_range(
    ledger: &Ledger,
    start: u64,
    head: &Head,
    outcome: &mut CaughtUp,
) -> Result<(), TilesError> {
    let mut prev_size = None;
    for index in start..=head.index {
        let bytes = if index == head.index {
            head.bytes.clone()
        } else {
            ledger.read_block(index).await?
        };
        let view = BlockView::parse(&bytes).map_err(|e| TilesError::Block {
            index,
            message: e.to_string(),
        })?;
        if view.header.index != index {
            return Err(TilesError::Block {
                index,
                message: format!("says it is block {}", view.header.index),
            });
        }
        if let Some(size) = prev_size
            && view.header.first_leaf != size
        {
            return Err(TilesError::Block {
                index,
                message: format!(
                    "first leaf {} is not block {}'s tree size {size}",
                    view.header.first_leaf,
                    index - 1
                ),
            });
        }
        prev_size = Some(view.header.tree_size);
        let done = publish_block(ledger.store().as_ref(), ledger.layout(), &view).await?;
        outcome.created += done.created;
        outcome.unchanged += done.unchanged;
        outcome.blocks = Some((outcome.blocks.map_or(index, |(first, _)| first), index));
    }
    Ok(())
}

struct Finder<'a> {
    ledger: &'a Ledger,
    head_index: u64,
    head_size: u64,
    head_root: Hash,
    probes: u64,
}

impl Finder<'_> {
    /// The block the `checkpoint` object names, or why it is not believed.
    async fn by_checkpoint(&mut self) -> Result<Result<u64, String>, TilesError> {
        let key = self.ledger.layout().checkpoint();
        self.probes += 1;
        let store = self.ledger.store().as_ref();
        let note = match fetch(store, &key, MAX_NOTE_BYTES as u64).await {
            Ok(note) => note,
            Err(TilesError::Missing { .. }) => return Ok(Err(format!("{key} does not exist"))),
            Err(e @ TilesError::Malformed { .. }) => return Ok(Err(e.to_string())),
            Err(e) => return Err(e),
        };
        let checkpoint = match Checkpoint::parse(&note) {
            Ok(c) => c,
            Err(e) => return Ok(Err(format!("{key} is not a checkpoint: {e}"))),
        };
        let origin = &self.ledger.config().origin;
        if &checkpoint.origin != origin {
            return Ok(Err(format!(
                "{key} names origin {:?}, the ledger's is {origin:?}",
                checkpoint.origin
            )));
        }
        Ok(match self.locate(checkpoint.size).await? {
            Some((index, root)) if root == checkpoint.root => {
                if self.complete(checkpoint.size).await? {
                    Ok(index)
                } else {
                    Err(format!(
                        "{key} names block {index}, whose tiles are incomplete"
                    ))
                }
            }
            Some((index, _)) => Err(format!(
                "{key} has another root than block {index}, which ends at its size {}",
                checkpoint.size
            )),
            None => Err(format!("no block ends at {key}'s size {}", checkpoint.size)),
        })
    }

    /// The block whose tree size is `size`, with its root: gallop back from the head, bisect.
    async fn locate(&mut self, size: u64) -> Result<Option<(u64, Hash)>, TilesError> {
        if size >= self.head_size {
            return Ok((size == self.head_size).then_some((self.head_index, self.head_root)));
        }
        // Invariant: block `hi` ends above `size`.
        let mut hi = self.head_index;
        let mut step = 1u64;
        let (mut lo, mut lo_header) = loop {
            let Some(lo) = hi.checked_sub(step) else {
                if hi == 0 {
                    return Ok(None);
                }
                let header = self.header(0).await?;
                if header.0.tree_size > size {
                    return Ok(None);
                }
                break (0, header);
            };
            let header = self.header(lo).await?;
            if header.0.tree_size <= size {
                break (lo, header);
            }
            hi = lo;
            step = step.saturating_mul(2);
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let header = self.header(mid).await?;
            if header.0.tree_size <= size {
                (lo, lo_header) = (mid, header);
            } else {
                hi = mid;
            }
        }
        Ok((lo_header.0.tree_size == size).then_some((lo, lo_header.1)))
    }

    /// The first block whose tiles are not complete (the head's index + 1 when all are).
    async fn probe(&mut self) -> Result<u64, TilesError> {
        if self.complete(self.head_size).await? {
            return Ok(self.head_index + 1);
        }
        let size0 = self.header(0).await?.0.tree_size;
        if !self.complete(size0).await? {
            return Ok(0);
        }
        // Invariant: block `lo` complete, block `hi` not.
        let (mut lo, mut hi) = (0, self.head_index);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let size = self.header(mid).await?.0.tree_size;
            if self.complete(size).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(hi)
    }

    /// Whether the last tiles of a tree of `size` leaves exist.
    async fn complete(&mut self, size: u64) -> Result<bool, TilesError> {
        for tile in last_tiles(size) {
            self.probes += 1;
            let key = self.ledger.layout().tile(&tile);
            if !exists(self.ledger.store().as_ref(), &key).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Block `index`'s header and root, from a ranged read of its start.
    async fn header(&mut self, index: u64) -> Result<(BlockHeader, Hash), TilesError> {
        self.probes += 1;
        let key = self.ledger.layout().block(index);
        let range = ByteRange {
            first: 0,
            last: HEADER_READ - 1,
        };
        let store = self.ledger.store();
        let start: Bytes = store
            .get(&key, None, Some(range))
            .await
            .map_err(|e| TilesError::store(&key, e))?
            .collect()
            .await
            .map_err(|e| TilesError::store(&key, e))?;
        let bad = |message: String| TilesError::Block { index, message };
        let end = start
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad(format!("no header line in its first {HEADER_READ} bytes")))?;
        let (header, decoded) =
            BlockHeader::parse(&start[..end]).map_err(|e| bad(e.to_string()))?;
        if header.index != index {
            return Err(bad(format!("says it is block {}", header.index)));
        }
        Ok((header, decoded.root))
    }
}
