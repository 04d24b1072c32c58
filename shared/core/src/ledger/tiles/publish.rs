//! Publishing one block's tiles (<https://c2sp.org/tlog-tiles>): the entry bundles and hash
//! tiles that the block changes, create-only, the last tile of each level (and the last bundle)
//! after all the others, then the `checkpoint` object.
//!
//! Only the predecessor's right-edge partial tiles are read (one entry bundle and one hash tile
//! per level the block changes, at most), never older blocks. Everything read is checked before
//! use: each entry of the predecessor's bundle must hash to the leaf hash of its level-0 tile, and
//! the new tiles must reproduce every node of the block's stored frontier that lies in a level the
//! block changes, which every hash read from the predecessor feeds into. A predecessor tile that
//! is not this ledger's therefore stops the publication ([`TilesError::Frontier`]) rather than
//! spreading into the new tiles.
//!
//! Which tiles a block changes is `tlog_tiles::Tile::new_tiles(8, first_leaf, tree_size)`; their
//! contents are built here level by level, the hash of a full tile being
//! `tlog_tiles::Tile::subtree_hash` of it.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use tlog_tiles::{HASH_SIZE, Tile, stored_hash_index};

use crate::store::{PutRequest, StoreWrite};

use super::super::block::{BlockView, tip_of};
use super::super::layout::Layout;
use super::super::merkle::leaf_hash;
use super::bundle::{MAX_ENTRY_BYTES, decode_bundle, encode_bundle};
use super::coords::{
    TILE_HEIGHT, TILE_WIDTH, entry_bundle, hash_tile, last_tiles, level_width, partial_tile_at_size,
};
use super::error::TilesError;
use super::objects::{Written, exists, fetch, fetch_hash_tile, max_tile_bytes, put_create_only};

/// Concurrent tile writes of one block.
const WRITE_CONCURRENCY: usize = 16;

/// What publishing one block's tiles did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilesPublished {
    pub block: u64,
    /// The tree size the tiles (and the `checkpoint` object) now cover.
    pub tree_size: u64,
    /// Tiles and entry bundles created by this call.
    pub created: u64,
    /// Tiles and entry bundles found already stored with the same bytes (a re-run).
    pub unchanged: u64,
    /// Objects read (GET or HEAD): the predecessor's right-edge tiles, and any tile found
    /// already stored.
    pub reads: u64,
}

/// The tiles of one block, built in memory before anything is written.
pub(super) struct BlockTiles {
    /// Every new tile (hash tiles and entry bundles) and its bytes, in write order: entry
    /// bundles, then hash tiles level by level.
    pub tiles: BTreeMap<(bool, u8, u64), (Tile, Vec<u8>)>,
    pub reads: u64,
}

/// Publish the tiles of `block`, whose predecessor's tiles are already published, then point
/// `checkpoint` at the block's signed checkpoint note. Idempotent: a re-run (after a crash at
/// any point) finds the tiles it wrote, identical, and writes the rest; a tile stored with other
/// bytes is an error naming its key. When the predecessor's tiles are incomplete (its
/// publication failed, or the ledger predates its tiles) this is [`TilesError::NotCaughtUp`]
/// and nothing is written: run [`catch_up`](super::catch_up) instead, which publishes every
/// block behind in order.
pub async fn publish_block(
    store: &dyn StoreWrite,
    layout: &Layout,
    block: &BlockView<'_>,
) -> Result<TilesPublished, TilesError> {
    let built = build_tiles(store, layout, block).await?;
    let mut reads = built.reads;
    // The last tile of each level goes after all the others: they exist once it does, which is
    // what "complete" means to the next publication and to catch-up.
    let last: Vec<Tile> = last_tiles(block.header.tree_size);
    let (finals, others): (Vec<_>, Vec<_>) = built
        .tiles
        .into_values()
        .map(|(tile, bytes)| (tile, layout.tile(&tile), Bytes::from(bytes)))
        .partition(|(tile, _, _)| last.contains(tile));
    let mut created = 0;
    let mut written = 0;
    for phase in [others, finals] {
        let outcomes: Vec<(Written, u64)> = stream::iter(phase)
            .map(|(_, key, body)| async move {
                let mut reads = 0;
                let written = put_create_only(store, &key, body, &mut reads).await?;
                Ok::<_, TilesError>((written, reads))
            })
            .buffered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        created += outcomes
            .iter()
            .filter(|(w, _)| *w == Written::Created)
            .count() as u64;
        written += outcomes.len() as u64;
        reads += outcomes.iter().map(|(_, r)| r).sum::<u64>();
    }

    // Last, once every tile it covers exists: the checkpoint, overwritten.
    put_checkpoint(store, layout, block.note).await?;
    Ok(TilesPublished {
        block: block.header.index,
        tree_size: block.header.tree_size,
        created,
        unchanged: written - created,
        reads,
    })
}

/// Overwrite the `checkpoint` object with a block's signed checkpoint note.
pub(super) async fn put_checkpoint(
    store: &dyn StoreWrite,
    layout: &Layout,
    note: &[u8],
) -> Result<(), TilesError> {
    let key = layout.checkpoint();
    let mut request = PutRequest::new(&key, Bytes::copy_from_slice(note));
    request.content_type = Some("text/plain; charset=utf-8".to_string());
    store
        .put(request)
        .await
        .map_err(|e| TilesError::store(&key, e))?;
    Ok(())
}

/// Build (without writing) the tiles `block` changes, reading the predecessor's right-edge tiles.
pub(super) async fn build_tiles(
    store: &dyn StoreWrite,
    layout: &Layout,
    block: &BlockView<'_>,
) -> Result<BlockTiles, TilesError> {
    let index = block.header.index;
    tip_of(block).map_err(|e| TilesError::Block {
        index,
        message: e.to_string(),
    })?;
    let old = block.header.first_leaf;
    let new = block.header.tree_size;
    if let Some((k, line)) = block
        .records
        .iter()
        .enumerate()
        .find(|(_, l)| l.len() > MAX_ENTRY_BYTES)
    {
        return Err(TilesError::EntryTooLarge {
            leaf: old + k as u64,
            len: line.len(),
        });
    }
    let mut reads = 0u64;
    let mut read_keys = Vec::new();

    // Level 0: the entries and leaf hashes from the start of the predecessor's right-edge tile.
    let (prefix_bundle, prefix_hashes) = match partial_tile_at_size(0, old, false) {
        None => (Bytes::new(), Bytes::new()),
        Some(tile) => {
            let bundle_tile = entry_bundle(tile.level_index(), tile.width());
            let bundle_key = layout.tile(&bundle_tile);
            let hashes_key = layout.tile(&tile);
            let (bundle, hashes) = futures::try_join!(
                fetch(store, &bundle_key, max_tile_bytes(&bundle_tile)),
                fetch_hash_tile(store, &hashes_key, &tile),
            )
            .map_err(|e| not_caught_up(e, old))?;
            reads += 2;
            read_keys.push(hashes_key);
            read_keys.push(bundle_key);
            (bundle, hashes)
        }
    };
    let width = prefix_hashes.len() / HASH_SIZE;
    let bundle_key = read_keys.last().cloned().unwrap_or_default();
    let mut entries = decode_bundle(&bundle_key, &prefix_bundle, width)?;
    if let Some(k) = entries
        .iter()
        .zip(prefix_hashes.chunks(HASH_SIZE))
        .position(|(entry, hash)| leaf_hash(entry) != hash)
    {
        return Err(TilesError::Malformed {
            key: bundle_key,
            message: format!(
                "entry {k} does not hash to its leaf hash in {}",
                read_keys[0]
            ),
        });
    }
    entries.extend(block.records.iter().copied());

    let mut tiles = BTreeMap::new();
    let first = level_width(1, old) * TILE_WIDTH;
    for (j, chunk) in entries.chunks(TILE_WIDTH as usize).enumerate() {
        let n = first / TILE_WIDTH + j as u64;
        let tile = entry_bundle(n, chunk.len() as u32);
        let bytes = encode_bundle(n * TILE_WIDTH, chunk)?;
        tiles.insert((false, 0, n), (tile, bytes));
    }

    let mut level = 0u8;
    let mut hashes = prefix_hashes.to_vec();
    hashes.extend(block.records.iter().flat_map(|r| leaf_hash(r)));
    loop {
        let first = level_width(level + 1, old);
        let mut parents = Vec::new();
        for (j, chunk) in hashes.chunks(TILE_WIDTH as usize * HASH_SIZE).enumerate() {
            let n = first + j as u64;
            let width = (chunk.len() / HASH_SIZE) as u32;
            if u64::from(width) == TILE_WIDTH {
                parents.extend(Tile::subtree_hash(chunk).0);
            }
            tiles.insert(
                (true, level, n),
                (hash_tile(level, n, width), chunk.to_vec()),
            );
        }
        let up = level + 1;
        if level_width(up, old) == level_width(up, new) {
            break;
        }
        hashes = match partial_tile_at_size(up, old, false) {
            None => Vec::new(),
            Some(tile) => {
                let key = layout.tile(&tile);
                let bytes = fetch_hash_tile(store, &key, &tile)
                    .await
                    .map_err(|e| not_caught_up(e, old))?;
                reads += 1;
                read_keys.push(key);
                bytes.to_vec()
            }
        };
        hashes.extend(parents);
        level = up;
    }

    let expected: HashSet<Tile> = Tile::new_tiles(TILE_HEIGHT, old, new).into_iter().collect();
    let built: HashSet<Tile> = tiles
        .values()
        .filter(|(t, _)| !t.is_data())
        .map(|(t, _)| *t)
        .collect();
    if built != expected {
        return Err(TilesError::Block {
            index,
            message: format!(
                "internal: built tiles {built:?}, tlog_tiles names {expected:?} for sizes {old} to {new}"
            ),
        });
    }
    check_frontier(block, &tiles, &read_keys)?;
    reads += check_predecessor_complete(store, layout, old, &read_keys).await?;
    Ok(BlockTiles { tiles, reads })
}

/// The predecessor's publication must be complete: the last tile of every level (and the last
/// entry bundle) of tree size `old` exists. Those not read above are checked with a HEAD each, so
/// that a block is never published over a predecessor whose publication stopped half-way (its
/// missing tiles would never be written: a later block does not rewrite a level it leaves alone).
async fn check_predecessor_complete(
    store: &dyn StoreWrite,
    layout: &Layout,
    old: u64,
    read_keys: &[String],
) -> Result<u64, TilesError> {
    let mut heads = 0;
    for tile in last_tiles(old) {
        let key = layout.tile(&tile);
        if read_keys.contains(&key) {
            continue;
        }
        heads += 1;
        if !exists(store, &key).await? {
            return Err(TilesError::NotCaughtUp {
                key,
                tree_size: old,
            });
        }
    }
    Ok(heads)
}

fn not_caught_up(e: TilesError, tree_size: u64) -> TilesError {
    match e {
        TilesError::Missing { key } => TilesError::NotCaughtUp { key, tree_size },
        e => e,
    }
}

/// Every node of the block's stored frontier that lies in a tile level the block changes must be
/// the hash the new tiles give it.
fn check_frontier(
    block: &BlockView<'_>,
    tiles: &BTreeMap<(bool, u8, u64), (Tile, Vec<u8>)>,
    read_keys: &[String],
) -> Result<(), TilesError> {
    let size = block.header.tree_size;
    let mismatch = || TilesError::Frontier {
        block: block.header.index,
        tree_size: size,
        keys: if read_keys.is_empty() {
            "none".to_string()
        } else {
            read_keys.join(", ")
        },
    };
    let mut start = 0u64;
    let bits = (0..64u8).rev().filter(|b| size >> b & 1 == 1);
    for (bit, stored) in bits.zip(&block.decoded.frontier) {
        let index = stored_hash_index(bit, start >> bit);
        let holder = Tile::from_index(TILE_HEIGHT, index);
        if let Some((tile, data)) = tiles.get(&(true, holder.level(), holder.level_index())) {
            let hash = tile.hash_at_index(data, index).map_err(|_| mismatch())?;
            if hash.0 != *stored {
                return Err(mismatch());
            }
        }
        start += 1u64 << bit;
    }
    Ok(())
}
