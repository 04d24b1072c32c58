//! Proofs from tiles (<https://c2sp.org/tlog-tiles>, "Merkle Tree"): an RFC 6962 inclusion or
//! consistency proof for a tree of `n` leaves costs one read per tile level for the tree's right
//! edge and one per level for the path to the leaf (or old tree): O(log n) reads of at most
//! 8 KiB, whatever the ledger's size.
//!
//! The proof is made by `tlog_tiles::prove_record` / `prove_tree` over a
//! `tlog_tiles::TileHashReader`, which authenticates the tiles of the tree's right edge against
//! the root the caller trusts (from a signed checkpoint); every other tile read is checked here
//! against its parent tile (`unauthenticated`: tlog_tiles 0.2 skips some). The tiles are derived
//! data anybody with write access could alter: an altered tile is [`TilesError::Inconsistent`],
//! never a proof, and the caller still checks the proof against its checkpoint. The
//! tlog_tiles readers are synchronous, the store is not: a first pass records which tiles the
//! proof needs, they are fetched concurrently, and a second pass makes the proof from them.
//!
//! A tree of `n` leaves needs tiles as they were at size `n`; the store keeps the tiles of every
//! published block boundary, and the tile of the newest published size (full or wider partial)
//! holds every narrower one as its prefix, so that one is read and cut to width (the tlog-tiles
//! client rule), which works for any `n` up to the published size.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use tlog_tiles::{HASH_SIZE, Tile, TileHashReader, stored_hash_index};

use crate::store::StoreRead;

use super::super::checkpoint::Checkpoint;
use super::super::layout::Layout;
use super::super::merkle::Hash;
use super::coords::{TILE_HEIGHT, TILE_WIDTH, tile_at_size};
use super::error::TilesError;
use super::objects::{fetch, fetch_hash_tile};

/// A proof made from tiles, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileProof {
    /// The RFC 6962 proof, bottom-up (as `tlog_tiles::check_record` / `check_tree` take it).
    pub proof: Vec<Hash>,
    /// Store GETs made for it.
    pub reads: u64,
    /// Bytes those GETs returned.
    pub bytes: u64,
    /// The tiles read, in the order they were fetched.
    pub keys: Vec<String>,
}

/// The tiles of one ledger, for reading.
pub struct TileLog<'a> {
    store: &'a dyn StoreRead,
    layout: &'a Layout,
    published: u64,
}

impl<'a> TileLog<'a> {
    /// The tiles under `layout`, published up to tree size `published` (the size of a checkpoint
    /// whose tiles are known to be complete).
    pub fn new(store: &'a dyn StoreRead, layout: &'a Layout, published: u64) -> Self {
        TileLog {
            store,
            layout,
            published,
        }
    }

    /// The tiles up to the size the `checkpoint` object names (one GET). That object is
    /// overwritten and so not trusted: its size only picks which tiles to read, and every tile is
    /// authenticated against the root the caller trusts. Returns the checkpoint read, unverified.
    pub async fn open(
        store: &'a dyn StoreRead,
        layout: &'a Layout,
    ) -> Result<(Self, Checkpoint), TilesError> {
        let key = layout.checkpoint();
        let note = fetch(store, &key, super::super::MAX_NOTE_BYTES as u64).await?;
        let checkpoint = Checkpoint::parse(&note).map_err(|e| TilesError::Malformed {
            key,
            message: e.to_string(),
        })?;
        Ok((TileLog::new(store, layout, checkpoint.size), checkpoint))
    }

    pub fn published(&self) -> u64 {
        self.published
    }

    /// The proof that leaf `leaf` is in the tree of `tree_size` leaves whose root is `root`.
    pub async fn inclusion_proof(
        &self,
        leaf: u64,
        tree_size: u64,
        root: &Hash,
    ) -> Result<TileProof, TilesError> {
        self.prove(tree_size, root, |r| {
            tlog_tiles::prove_record(tree_size, leaf, r)
        })
        .await
    }

    /// The proof that the tree of `old_size` leaves is a prefix of the tree of `tree_size`
    /// leaves whose root is `root`.
    pub async fn consistency_proof(
        &self,
        old_size: u64,
        tree_size: u64,
        root: &Hash,
    ) -> Result<TileProof, TilesError> {
        self.prove(tree_size, root, |r| {
            tlog_tiles::prove_tree(tree_size, old_size, r)
        })
        .await
    }

    /// The first leaf of `leaves` (leaf indexes `first..`) whose hash is not the leaf hash the
    /// tree of `tree_size` leaves with `root` holds at that index: the first record of a block
    /// that was altered after its root was signed. Each leaf is checked by an inclusion proof
    /// from tiles authenticated against `root` (the tiles a block's proofs need are mostly the
    /// same, so they are read once). `None`: every leaf is the one the tree holds.
    pub async fn first_differing_leaf(
        &self,
        first: u64,
        leaves: &[Hash],
        tree_size: u64,
        root: &Hash,
    ) -> Result<Option<u64>, TilesError> {
        let mut fetched = HashMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let index = first
                .checked_add(i as u64)
                .filter(|&n| n < tree_size)
                .ok_or_else(|| {
                    TilesError::Proof(format!(
                        "leaf {first}+{i} is not in the tree of {tree_size}"
                    ))
                })?;
            let proof = self
                .prove_with(&mut fetched, tree_size, root, |r| {
                    tlog_tiles::prove_record(tree_size, index, r)
                })
                .await?;
            if !crate::ledger::merkle::check_inclusion(&proof.proof, tree_size, root, index, leaf) {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    async fn prove(
        &self,
        tree_size: u64,
        root: &Hash,
        prove: impl Fn(&TileHashReader<'_>) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error>,
    ) -> Result<TileProof, TilesError> {
        self.prove_with(&mut HashMap::new(), tree_size, root, prove)
            .await
    }

    /// [`Self::prove`] with the tiles `fetched` before (and those it reads added to them).
    async fn prove_with(
        &self,
        fetched: &mut HashMap<Tile, Bytes>,
        tree_size: u64,
        root: &Hash,
        prove: impl Fn(&TileHashReader<'_>) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error>,
    ) -> Result<TileProof, TilesError> {
        if tree_size > self.published {
            return Err(TilesError::NotPublished {
                tree_size,
                published: self.published,
            });
        }
        let mut cost = TileProof {
            proof: Vec::new(),
            reads: 0,
            bytes: 0,
            keys: Vec::new(),
        };
        // Two passes: the first finds the tiles, the second proves. A third would mean
        // tlog_tiles asked for tiles it did not name the first time.
        for _ in 0..3 {
            let reader = Prefetched {
                fetched,
                missing: RefCell::new(Vec::new()),
            };
            let outcome = prove(&TileHashReader::new(
                tree_size,
                tlog_tiles::Hash(*root),
                &reader,
            ));
            let missing = reader.missing.into_inner();
            match outcome {
                Ok(proof) => {
                    if let Some(tile) = unauthenticated(fetched, tree_size) {
                        return Err(TilesError::Inconsistent {
                            tree_size,
                            keys: self.layout.tile(&tile),
                        });
                    }
                    cost.proof = proof.into_iter().map(|h| h.0).collect();
                    return Ok(cost);
                }
                Err(_) if !missing.is_empty() => {
                    let reads = missing.iter().map(|tile| async move {
                        let (key, read, bytes) = self.read_tile(tile).await?;
                        Ok::<_, TilesError>((*tile, key, read, bytes))
                    });
                    for (tile, key, read, bytes) in futures::future::try_join_all(reads).await? {
                        cost.reads += 1;
                        cost.bytes += read;
                        cost.keys.push(key);
                        fetched.insert(tile, bytes);
                    }
                }
                Err(tlog_tiles::Error::InconsistentTile) => {
                    return Err(TilesError::Inconsistent {
                        tree_size,
                        keys: cost.keys.join(", "),
                    });
                }
                Err(e) => return Err(TilesError::Proof(e.to_string())),
            }
        }
        Err(TilesError::Proof(
            "tlog_tiles kept asking for tiles it did not name before".to_string(),
        ))
    }

    /// Tile `tile` (of a tree no larger than the published one): the published tile at that
    /// place, cut to `tile`'s width; with its key and the bytes read.
    async fn read_tile(&self, tile: &Tile) -> Result<(String, u64, Bytes), TilesError> {
        let stored = tile_at_size(tile.level(), tile.level_index(), self.published, false)
            .filter(|s| s.width() >= tile.width())
            .ok_or_else(|| TilesError::NotPublished {
                tree_size: (tile.level_index() + 1) << (u32::from(tile.level()) * 8),
                published: self.published,
            })?;
        let key = self.layout.tile(&stored);
        let bytes = fetch_hash_tile(self.store, &key, &stored).await?;
        let width = tile.width() as usize * HASH_SIZE;
        Ok((key, bytes.len() as u64, bytes.slice(..width)))
    }
}

/// A full tile whose hash is not the one its parent tile holds for it, if any.
///
/// `TileHashReader` authenticates the right-edge tiles of the tree against its root (they are
/// the partial ones: a full tile holds no right-edge node), but in tlog_tiles 0.2 its loop over
/// the other tiles starts at the number of right-edge *hashes* rather than right-edge *tiles*,
/// so a full tile can be used unauthenticated (a test alters a level-0 tile and got a proof).
/// Every full tile read is therefore checked here against its parent, which was read too; by
/// induction from the right edge, every tile a proof used is then authenticated.
fn unauthenticated(fetched: &HashMap<Tile, Bytes>, tree_size: u64) -> Option<Tile> {
    fetched
        .iter()
        .filter(|(tile, _)| u64::from(tile.width()) == TILE_WIDTH)
        .find(|(tile, data)| {
            let Some(parent) = tile.parent(1, tree_size) else {
                return true;
            };
            let Some(parent_data) = fetched.get(&parent) else {
                return true;
            };
            let index = stored_hash_index(parent.level() * TILE_HEIGHT, tile.level_index());
            parent
                .hash_at_index(parent_data, index)
                .map_or(true, |h| h != Tile::subtree_hash(data))
        })
        .map(|(tile, _)| *tile)
}

/// The tiles fetched so far, as a `tlog_tiles::TileReader`; the tiles it lacks are noted.
struct Prefetched<'a> {
    fetched: &'a HashMap<Tile, Bytes>,
    missing: RefCell<Vec<Tile>>,
}

impl tlog_tiles::TileReader for Prefetched<'_> {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        let mut out = Vec::with_capacity(tiles.len());
        for tile in tiles {
            match self.fetched.get(tile) {
                Some(bytes) => out.push(bytes.to_vec()),
                None => self.missing.borrow_mut().push(*tile),
            }
        }
        if self.missing.borrow().is_empty() {
            Ok(out)
        } else {
            Err(tlog_tiles::Error::IndexesNotInTree)
        }
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}
